#include "tv_test.h"
#include "tv_audit.h"

static tv_audit_record rec(int64_t seq)
{
    tv_audit_record r = { seq, 1700000000000LL + seq, "session_accepted", "user:7", "admitted Ana", "v_1",
                          "127.0.0.1", "{\"patient\":\"p1\"}" };
    return r;
}

static void every_field_counts(void **s)
{
    (void)s;
    uint8_t prev[32] = { 0 }, h[32], h2[32];
    tv_audit_record r = rec(1);
    assert_int_equal(tv_audit_hash(&r, prev, h), 0);
    assert_int_equal(tv_audit_hash(&r, prev, h2), 0);
    assert_memory_equal(h, h2, 32);   /* deterministic */
    /* Each field, the sequence, the time and the previous hash change it. */
    tv_audit_record v;
    const char *alt = "other";
    for (int f = 0; f < 9; f++) {
        v = r;
        uint8_t p2[32] = { 0 };
        switch (f) {
        case 0: v.seq = 2; break;
        case 1: v.ts_ms++; break;
        case 2: v.type = "session_denied"; break;
        case 3: v.requester = alt; break;
        case 4: v.message = alt; break;
        case 5: v.room = alt; break;
        case 6: v.ip = alt; break;
        case 7: v.extra = alt; break;
        case 8: p2[31] = 1; break;
        }
        assert_int_equal(tv_audit_hash(&v, f == 8 ? p2 : prev, h2), 0);
        if (memcmp(h, h2, 32) == 0)
            fail_msg("field %d does not affect the hash", f);
    }
    /* Length prefixes: moving a boundary between two fields changes the hash. */
    v = r;
    v.message = "ab";
    v.room = "c";
    tv_audit_hash(&v, prev, h);
    v.message = "a";
    v.room = "bc";
    tv_audit_hash(&v, prev, h2);
    assert_memory_not_equal(h, h2, 32);
    /* NULL and "" hash alike (an absent field). */
    v = r;
    v.extra = NULL;
    tv_audit_hash(&v, prev, h);
    v.extra = "";
    tv_audit_hash(&v, prev, h2);
    assert_memory_equal(h, h2, 32);
}

static void bad_records_refused(void **s)
{
    (void)s;
    uint8_t prev[32] = { 0 }, h[32];
    tv_audit_record r = rec(1);
    r.type = "made_up";
    assert_int_equal(tv_audit_hash(&r, prev, h), TV_ERR_INVALID);
    r = rec(0);
    assert_int_equal(tv_audit_hash(&r, prev, h), TV_ERR_INVALID);
    r = rec(1);
    r.message = "bad \xff utf8";
    assert_int_equal(tv_audit_hash(&r, prev, h), TV_ERR_INVALID);
    assert_true(tv_audit_type_valid("sas_mismatch"));
    assert_true(tv_audit_type_valid("turn_credential_issued"));
    assert_true(tv_audit_type_valid("sso_unlinked"));
    assert_false(tv_audit_type_valid("LOGIN_SUCCESS"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_field_counts),
        cmocka_unit_test(bad_records_refused),
    };
    return TV_RUN(tests);
}
