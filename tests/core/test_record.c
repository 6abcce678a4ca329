#define _GNU_SOURCE   /* memmem */
#include "tv_test.h"
#include "tv_record.h"

static const uint8_t master[32] = "master key for the record tests";

static void seal_open_and_attacks(void **s)
{
    (void)s;
    uint8_t k[32], k2[32], rec[128], out[128];
    char id[64], other[64];
    size_t n, m, il, ol;
    assert_int_equal(tv_record_subkey(master, TV_RECORD_TOTP_SECRET, k), 0);
    assert_int_equal(tv_record_subkey(master, TV_RECORD_CHAT, k2), 0);
    assert_memory_not_equal(k, k2, 32);   /* one key per purpose */
    assert_int_equal(tv_record_identity("users", "totp_secret", 42, id, sizeof id, &il), 0);
    assert_string_equal(id, "users/totp_secret/42");
    assert_int_equal(tv_record_identity("users", "totp_secret", 43, other, sizeof other, &ol), 0);

    const char *secret = "JBSWY3DPEHPK3PXP";
    assert_int_equal(tv_record_seal(k, id, il, (const uint8_t *)secret, 16, rec, sizeof rec, &n), 0);
    assert_int_equal(n, 16 + TV_RECORD_OVERHEAD);
    assert_null(memmem(rec, n, secret, 16));
    assert_int_equal(tv_record_open(k, id, il, rec, n, out, sizeof out, &m), 0);
    assert_int_equal(m, 16);
    assert_memory_equal(out, secret, 16);
    /* Two seals of the same value differ (fresh nonce). */
    uint8_t rec2[128];
    size_t n2;
    tv_record_seal(k, id, il, (const uint8_t *)secret, 16, rec2, sizeof rec2, &n2);
    assert_memory_not_equal(rec, rec2, n);

    /* Moved to another row, opened with another purpose's key, or altered anywhere: refused. */
    assert_int_equal(tv_record_open(k, other, ol, rec, n, out, sizeof out, &m), TV_ERR_RECORD_AUTH);
    assert_int_equal(tv_record_open(k2, id, il, rec, n, out, sizeof out, &m), TV_ERR_RECORD_AUTH);
    for (size_t i = 1; i < n; i++) {
        uint8_t bad[128];
        memcpy(bad, rec, n);
        bad[i] ^= 0x20;
        assert_int_equal(tv_record_open(k, id, il, bad, n, out, sizeof out, &m), TV_ERR_RECORD_AUTH);
    }
    rec[0] = 2;   /* an unknown version */
    assert_int_equal(tv_record_open(k, id, il, rec, n, out, sizeof out, &m), TV_ERR_ENCODING);
    assert_int_equal(tv_record_open(k, id, il, rec, TV_RECORD_OVERHEAD - 1, out, sizeof out, &m), TV_ERR_ENCODING);
    assert_int_equal(tv_record_seal(k, id, il, (const uint8_t *)secret, 16, rec, 20, &n), TV_ERR_NOSPACE);
}

static void identities(void **s)
{
    (void)s;
    char id[32];
    assert_int_equal(tv_record_identity("a/b", "c", 1, id, sizeof id, NULL), TV_ERR_INVALID);
    assert_int_equal(tv_record_identity("", "c", 1, id, sizeof id, NULL), TV_ERR_INVALID);
    assert_int_equal(tv_record_identity("users", "a_rather_long_column_name", 123456789, id, sizeof id, NULL), TV_ERR_NOSPACE);
    assert_int_equal(tv_record_identity("t", "c", -5, id, sizeof id, NULL), 0);
    assert_string_equal(id, "t/c/-5");
    uint8_t k[32];
    assert_int_equal(tv_record_subkey(master, 0, k), TV_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seal_open_and_attacks),
        cmocka_unit_test(identities),
    };
    return TV_RUN(tests);
}
