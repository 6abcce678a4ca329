#include "tv_test.h"
#include "tv_totp.h"

static const uint8_t seed20[] = "12345678901234567890";
static const uint8_t seed32[] = "12345678901234567890123456789012";
static const uint8_t seed64[] = "1234567890123456789012345678901234567890123456789012345678901234";

static void hotp_rfc4226_vectors(void **s)
{
    (void)s;
    static const uint32_t expect[10] = { 755224, 287082, 359152, 969429, 338314,
                                         254676, 287922, 162583, 399871, 520489 };
    for (uint64_t c = 0; c < 10; c++) {
        uint32_t code = 0;
        assert_int_equal(tv_hotp(seed20, 20, TV_OTP_SHA1, 6, c, &code), 0);
        assert_int_equal(code, expect[c]);
    }
}

static void totp_rfc6238_vectors(void **s)
{
    (void)s;
    static const struct { uint64_t t; uint64_t step; const char *sha1, *sha256, *sha512; } v[] = {
        { 59, 1, "94287082", "46119246", "90693936" },
        { 1111111109, 0x23523EC, "07081804", "68084774", "25091201" },
        { 1111111111, 0x23523ED, "14050471", "67062674", "99943326" },
        { 1234567890, 0x273EF07, "89005924", "91819424", "93441116" },
        { 2000000000, 0x3F940AA, "69279037", "90698825", "38618901" },
        { 20000000000ULL, 0x27BC86AA, "65353130", "77737706", "47863826" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        const char *want[3] = { v[i].sha1, v[i].sha256, v[i].sha512 };
        const uint8_t *keys[3] = { seed20, seed32, seed64 };
        const size_t lens[3] = { 20, 32, 64 };
        for (int a = 0; a < 3; a++) {
            tv_totp_params p = { (tv_otp_alg)a, 8, 30 };
            uint32_t code;
            char txt[9];
            uint64_t step;
            assert_int_equal(tv_totp_step(&p, v[i].t, &step), 0);
            assert_int_equal(step, v[i].step);
            assert_int_equal(tv_totp(keys[a], lens[a], &p, v[i].t, &code), 0);
            assert_int_equal(tv_otp_format(code, 8, txt, sizeof txt), 0);
            assert_string_equal(txt, want[a]);
            /* and the verifier accepts exactly that code at that time */
            uint64_t matched = 0;
            assert_int_equal(tv_totp_verify(keys[a], lens[a], &p, v[i].t, want[a], 8, TV_TOTP_NO_STEP, &matched), 0);
            assert_int_equal(matched, v[i].step);
        }
    }
}

static void format_pads_and_checks(void **s)
{
    (void)s;
    char buf[9];
    assert_int_equal(tv_otp_format(42, 6, buf, sizeof buf), 0);
    assert_string_equal(buf, "000042");
    assert_int_equal(tv_otp_format(1000000, 6, buf, sizeof buf), TV_ERR_INVALID);
    assert_int_equal(tv_otp_format(1, 6, buf, 6), TV_ERR_NOSPACE);
    assert_int_equal(tv_otp_format(1, 5, buf, sizeof buf), TV_ERR_INVALID);
}

static void code_at(const tv_totp_params *p, uint64_t t, char out[9])
{
    uint32_t c;
    assert_int_equal(tv_totp(seed20, 20, p, t, &c), 0);
    assert_int_equal(tv_otp_format(c, p->digits, out, 9), 0);
}

static void verify_window_is_one_step(void **s)
{
    (void)s;
    tv_totp_params p;
    tv_totp_params_default(&p);
    const uint64_t now = 1700000000;   /* step 56666666, 20 s into it */
    char code[9];
    uint64_t m;
    for (int d = -3; d <= 3; d++) {
        code_at(&p, now + (uint64_t)(int64_t)(d * 30), code);
        int rc = tv_totp_verify(seed20, 20, &p, now, code, 6, TV_TOTP_NO_STEP, &m);
        if (d >= -1 && d <= 1) {
            assert_int_equal(rc, 0);
            assert_int_equal(m, now / 30 + (uint64_t)(int64_t)d);
        } else {
            assert_int_equal(rc, TV_ERR_OTP_MISMATCH);
        }
    }
}

static void verify_refuses_replay(void **s)
{
    (void)s;
    tv_totp_params p;
    tv_totp_params_default(&p);
    const uint64_t now = 1700000000;
    char code[9], next[9];
    uint64_t m = 0, m2 = 0;
    code_at(&p, now, code);
    assert_int_equal(tv_totp_verify(seed20, 20, &p, now, code, 6, TV_TOTP_NO_STEP, &m), 0);
    /* The same code again, even a second later in the same step: refused. */
    assert_int_equal(tv_totp_verify(seed20, 20, &p, now + 1, code, 6, m, &m2), TV_ERR_OTP_REPLAY);
    /* An older code still inside the window: refused too (at or before the last step). */
    char old[9];
    code_at(&p, now - 30, old);
    assert_int_equal(tv_totp_verify(seed20, 20, &p, now, old, 6, m, &m2), TV_ERR_OTP_REPLAY);
    /* The next step's code is fine. */
    code_at(&p, now + 30, next);
    assert_int_equal(tv_totp_verify(seed20, 20, &p, now + 30, next, 6, m, &m2), 0);
    assert_int_equal(m2, m + 1);
}

static void verify_rejects_bad_input(void **s)
{
    (void)s;
    tv_totp_params p;
    tv_totp_params_default(&p);
    uint64_t m;
    const uint64_t now = 1700000000;
    char code[9];
    code_at(&p, now, code);
    assert_int_equal(tv_totp_verify(seed20, 20, &p, now, code, 5, TV_TOTP_NO_STEP, &m), TV_ERR_OTP_FORMAT);
    assert_int_equal(tv_totp_verify(seed20, 20, &p, now, "12345a", 6, TV_TOTP_NO_STEP, &m), TV_ERR_OTP_FORMAT);
    assert_int_equal(tv_totp_verify(seed20, 20, &p, now, " 12345", 6, TV_TOTP_NO_STEP, &m), TV_ERR_OTP_FORMAT);
    assert_int_equal(tv_totp_verify(seed20, 20, &p, now, "1234567", 7, TV_TOTP_NO_STEP, &m), TV_ERR_OTP_FORMAT);
    assert_int_equal(tv_totp_verify(seed20, 20, &p, now, NULL, 6, TV_TOTP_NO_STEP, &m), TV_ERR_OTP_FORMAT);
    /* Right code, wrong key. */
    static const uint8_t other[20] = { 1 };
    assert_int_equal(tv_totp_verify(other, 20, &p, now, code, 6, TV_TOTP_NO_STEP, &m), TV_ERR_OTP_MISMATCH);
    tv_totp_params bad = p;
    bad.digits = 9;
    assert_int_equal(tv_totp_verify(seed20, 20, &bad, now, "123456789", 9, TV_TOTP_NO_STEP, &m), TV_ERR_INVALID);
    bad = p;
    bad.period = 0;
    assert_int_equal(tv_totp_params_check(&bad), TV_ERR_INVALID);
    bad = p;
    bad.alg = (tv_otp_alg)7;
    assert_int_equal(tv_totp_params_check(&bad), TV_ERR_INVALID);
    uint32_t c;
    assert_int_equal(tv_hotp(seed20, 0, TV_OTP_SHA1, 6, 0, &c), TV_ERR_INVALID);
    assert_int_equal(tv_hotp(seed20, 20, TV_OTP_SHA1, 5, 0, &c), TV_ERR_INVALID);
}

static void verify_at_epoch_start(void **s)
{
    (void)s;
    tv_totp_params p;
    tv_totp_params_default(&p);
    char code[9];
    uint64_t m;
    code_at(&p, 0, code);
    assert_int_equal(tv_totp_verify(seed20, 20, &p, 5, code, 6, TV_TOTP_NO_STEP, &m), 0);
    assert_int_equal(m, 0);
}

static void secret_generation(void **s)
{
    (void)s;
    uint8_t a[TV_TOTP_SECRET_BYTES], b[TV_TOTP_SECRET_BYTES], zero[TV_TOTP_SECRET_BYTES] = { 0 };
    assert_int_equal(tv_totp_secret_generate(a, sizeof a), 0);
    assert_int_equal(tv_totp_secret_generate(b, sizeof b), 0);
    assert_memory_not_equal(a, b, sizeof a);
    assert_memory_not_equal(a, zero, sizeof a);
    assert_int_equal(tv_totp_secret_generate(a, 19), TV_ERR_INVALID);   /* under 160 bits */
}

static void uri_exact(void **s)
{
    (void)s;
    tv_totp_params p;
    tv_totp_params_default(&p);
    char uri[512];
    size_t n;
    const char *issuer = "televisit", *acct = "dr.alice@example.org";
    assert_int_equal(tv_totp_uri(&p, issuer, strlen(issuer), acct, strlen(acct), seed20, 20,
                                 uri, sizeof uri, &n), 0);
    assert_string_equal(uri, "otpauth://totp/televisit:dr.alice%40example.org?secret="
                             "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=televisit&algorithm=SHA1&digits=6&period=30");
    assert_int_equal(n, strlen(uri));

    tv_totp_params q = { TV_OTP_SHA256, 8, 60 };
    const char *iss2 = "Clinique Saint-\xc3\x89loi";
    assert_int_equal(tv_totp_uri(&q, iss2, strlen(iss2), acct, strlen(acct), seed20, 20, uri, sizeof uri, &n), 0);
    assert_string_equal(uri, "otpauth://totp/Clinique%20Saint-%C3%89loi:dr.alice%40example.org?secret="
                             "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Clinique%20Saint-%C3%89loi"
                             "&algorithm=SHA256&digits=8&period=60");
}

static void uri_rejects_bad_labels(void **s)
{
    (void)s;
    tv_totp_params p;
    tv_totp_params_default(&p);
    char uri[512];
    const char *acct = "a@example.org";
    assert_int_equal(tv_totp_uri(&p, "a:b", 3, acct, strlen(acct), seed20, 20, uri, sizeof uri, NULL), TV_ERR_INVALID);
    assert_int_equal(tv_totp_uri(&p, "ok", 2, "x:y", 3, seed20, 20, uri, sizeof uri, NULL), TV_ERR_INVALID);
    assert_int_equal(tv_totp_uri(&p, "ok\n", 3, acct, strlen(acct), seed20, 20, uri, sizeof uri, NULL), TV_ERR_INVALID);
    assert_int_equal(tv_totp_uri(&p, "\xc3", 1, acct, strlen(acct), seed20, 20, uri, sizeof uri, NULL), TV_ERR_UTF8);
    assert_int_equal(tv_totp_uri(&p, "", 0, acct, strlen(acct), seed20, 20, uri, sizeof uri, NULL), TV_ERR_INVALID);
    assert_int_equal(tv_totp_uri(&p, "ok", 2, acct, strlen(acct), seed20, 10, uri, sizeof uri, NULL), TV_ERR_INVALID);
    char small[40];
    assert_int_equal(tv_totp_uri(&p, "ok", 2, acct, strlen(acct), seed20, 20, small, sizeof small, NULL), TV_ERR_NOSPACE);
    char longname[TV_TOTP_ISSUER_MAX + 2];
    memset(longname, 'a', sizeof longname);
    assert_int_equal(tv_totp_uri(&p, longname, sizeof longname, acct, strlen(acct), seed20, 20, uri, sizeof uri, NULL),
                     TV_ERR_TOO_LONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hotp_rfc4226_vectors),
        cmocka_unit_test(totp_rfc6238_vectors),
        cmocka_unit_test(format_pads_and_checks),
        cmocka_unit_test(verify_window_is_one_step),
        cmocka_unit_test(verify_refuses_replay),
        cmocka_unit_test(verify_rejects_bad_input),
        cmocka_unit_test(verify_at_epoch_start),
        cmocka_unit_test(secret_generation),
        cmocka_unit_test(uri_exact),
        cmocka_unit_test(uri_rejects_bad_labels),
    };
    return TV_RUN(tests);
}
