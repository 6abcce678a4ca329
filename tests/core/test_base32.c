#include "tv_test.h"
#include "tv_base32.h"

static const struct { const char *bin, *padded, *bare; } rfc4648[] = {
    { "", "", "" },
    { "f", "MY======", "MY" },
    { "fo", "MZXQ====", "MZXQ" },
    { "foo", "MZXW6===", "MZXW6" },
    { "foob", "MZXW6YQ=", "MZXW6YQ" },
    { "fooba", "MZXW6YTB", "MZXW6YTB" },
    { "foobar", "MZXW6YTBOI======", "MZXW6YTBOI" },
};

static void encode_rfc4648_vectors(void **s)
{
    (void)s;
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        char out[32];
        size_t n;
        const uint8_t *bin = (const uint8_t *)rfc4648[i].bin;
        size_t len = strlen(rfc4648[i].bin);
        assert_int_equal(tv_base32_encode(bin, len, 1, out, sizeof out, &n), 0);
        assert_string_equal(out, rfc4648[i].padded);
        assert_int_equal(n, strlen(rfc4648[i].padded));
        assert_int_equal(tv_base32_encode(bin, len, 0, out, sizeof out, &n), 0);
        assert_string_equal(out, rfc4648[i].bare);
        assert_int_equal(tv_base32_encoded_size(len, 1), strlen(rfc4648[i].padded) + 1);
        assert_int_equal(tv_base32_encoded_size(len, 0), strlen(rfc4648[i].bare) + 1);
    }
}

static void decode_rfc4648_vectors_any_case_any_padding(void **s)
{
    (void)s;
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        const char *forms[3] = { rfc4648[i].padded, rfc4648[i].bare, NULL };
        char lower[32];
        size_t k;
        for (k = 0; rfc4648[i].padded[k]; k++) {
            char c = rfc4648[i].padded[k];
            lower[k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
        lower[k] = '\0';
        forms[2] = lower;
        for (int f = 0; f < 3; f++) {
            uint8_t out[16];
            size_t n = 99;
            assert_int_equal(tv_base32_decode(forms[f], strlen(forms[f]), out, sizeof out, &n), 0);
            assert_int_equal(n, strlen(rfc4648[i].bin));
            assert_memory_equal(out, rfc4648[i].bin, n);
        }
    }
}

static void decode_rejects_everything_else(void **s)
{
    (void)s;
    static const char *const bad[] = {
        "MY=====",          /* padding that does not complete the group */
        "MY=======",        /* too much padding */
        "M",                /* 1, 3 and 6 leftover characters are impossible */
        "MZX",
        "MZXW6Y",
        "MZ",               /* non-zero trailing bits: a second spelling of "f" */
        "MZXW6YTB1",        /* not in the alphabet */
        "MZXW 6YTB",
        "MZXW6YT8",
        "MZ=XW6YT",         /* padding in the middle */
        "========",
        "MZXW6YTB========", /* a whole group of padding */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t out[16];
        size_t n = 0;
        int rc = tv_base32_decode(bad[i], strlen(bad[i]), out, sizeof out, &n);
        if (rc != TV_ERR_ENCODING)
            fail_msg("\"%s\" gave %d", bad[i], rc);
    }
}

static void sizes_are_checked(void **s)
{
    (void)s;
    char out[8];
    uint8_t bin[2];
    assert_int_equal(tv_base32_encode((const uint8_t *)"foob", 4, 1, out, sizeof out, NULL), TV_ERR_NOSPACE);
    assert_int_equal(tv_base32_decode("MZXW6", 5, bin, sizeof bin, NULL), TV_ERR_NOSPACE);
    assert_int_equal(tv_base32_encode(NULL, 3, 1, out, sizeof out, NULL), TV_ERR_INVALID);
}

static void round_trip_all_lengths(void **s)
{
    (void)s;
    uint8_t bin[64], back[64];
    char txt[128];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (uint8_t)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof bin; len++)
        for (int pad = 0; pad <= 1; pad++) {
            size_t n, m;
            assert_int_equal(tv_base32_encode(bin, len, pad, txt, sizeof txt, &n), 0);
            assert_int_equal(tv_base32_decode(txt, n, back, sizeof back, &m), 0);
            assert_int_equal(m, len);
            assert_memory_equal(bin, back, len);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_rfc4648_vectors),
        cmocka_unit_test(decode_rfc4648_vectors_any_case_any_padding),
        cmocka_unit_test(decode_rejects_everything_else),
        cmocka_unit_test(sizes_are_checked),
        cmocka_unit_test(round_trip_all_lengths),
    };
    return TV_RUN(tests);
}
