/* The audit log: append-only in the database, and every kind of tampering that gets past that
 * (a changed field, a deleted, inserted or reordered record) found by the chain, at the right record. */
#include "tv_server_test.h"

#include "tv_auditlog.h"

static char db[128], key[128];

static int fresh(tv_store *st)
{
    static int n;
    char err[200];
    snprintf(db, sizeof db, "%s/audit-%d.db", tv_test_dir, ++n);
    if (tv_store_open(st, db, key, err, sizeof err) != 0)
        return -1;
    for (int i = 1; i <= 100; i++) {
        char msg[64];
        snprintf(msg, sizeof msg, "event %d", i);
        tv_audit_record r = { 0, 1700000000000LL + i, i % 2 ? "login_success" : "session_ended", "user:1", msg,
                              "v_9", "127.0.0.1", "" };
        int64_t seq;
        if (tv_auditlog_append(st, &r, &seq) != 0 || seq != i)
            return -1;
    }
    return 0;
}

static int setup(void **s)
{
    (void)s;
    if (tv_test_dir_make("audit") != 0)
        return -1;
    snprintf(key, sizeof key, "%s/master.key", tv_test_dir);
    return 0;
}

static int64_t verify(tv_store *st, int64_t *count)
{
    int64_t bad = -1;
    assert_int_equal(tv_auditlog_verify(st, count, &bad), 0);
    return bad;
}

static void intact_chain_verifies(void **s)
{
    (void)s;
    tv_store st;
    int64_t n;
    assert_int_equal(fresh(&st), 0);
    assert_int_equal(verify(&st, &n), 0);
    assert_int_equal(n, 100);
    /* The database refuses changes and deletions outright. */
    assert_int_not_equal(sqlite3_exec(st.db, "UPDATE audit SET message = 'x' WHERE seq = 5", NULL, NULL, NULL), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(st.db, "DELETE FROM audit WHERE seq = 5", NULL, NULL, NULL), SQLITE_OK);
    /* Unknown event types are not written. */
    tv_audit_record r = { 0, 1, "made_up", "", "", "", "", "" };
    assert_int_equal(tv_auditlog_append(&st, &r, NULL), TV_ERR_INVALID);
    assert_int_equal(verify(&st, &n), 0);
    assert_int_equal(n, 100);
    tv_store_close(&st);
}

/* Someone with the database file drops the triggers and edits it directly. */
static void tampering_is_found_where_it_happened(void **s)
{
    (void)s;
    static const struct { const char *sql; int64_t bad; } attacks[] = {
        { "UPDATE audit SET message = 'nothing happened' WHERE seq = 50", 50 },
        { "UPDATE audit SET ts_ms = ts_ms + 1 WHERE seq = 77", 77 },
        { "UPDATE audit SET requester = 'user:2' WHERE seq = 1", 1 },
        { "DELETE FROM audit WHERE seq = 30", 31 },
        { "DELETE FROM audit WHERE seq = 100", 0 },   /* the last one: only the count shows it, see below */
        { "UPDATE audit SET seq = seq + 1000 WHERE seq = 60", 61 },
        { "INSERT INTO audit (seq, ts_ms, type, hash) VALUES (101, 1, 'logout', zeroblob(32))", 101 },
    };
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        tv_store st;
        int64_t n;
        assert_int_equal(fresh(&st), 0);
        assert_int_equal(sqlite3_exec(st.db, "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(st.db, attacks[i].sql, NULL, NULL, NULL), SQLITE_OK);
        int64_t bad = verify(&st, &n);
        if (bad != attacks[i].bad)
            fail_msg("%s: first bad %lld, want %lld", attacks[i].sql, (long long)bad, (long long)attacks[i].bad);
        if (attacks[i].bad == 0)
            assert_int_equal(n, 99);   /* a cut tail is a shorter log: callers compare with the count they published */
        tv_store_close(&st);
    }
}

/* Records cut from the end leave an intact chain: only the anchor, kept apart, shows it. */
static void cut_or_rewritten_tail_is_found_by_the_anchor(void **s)
{
    (void)s;
    tv_store st;
    int64_t n, cut;
    int anchored;
    assert_int_equal(fresh(&st), 0);
    assert_int_equal(tv_auditlog_anchor_check(&st, &anchored, &cut), 0);
    assert_int_equal(anchored, 1);
    assert_int_equal(cut, 0);
    assert_int_equal(sqlite3_exec(st.db, "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq > 97;", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(verify(&st, &n), 0);   /* the chain alone cannot tell */
    assert_int_equal(n, 97);
    assert_int_equal(tv_auditlog_anchor_check(&st, &anchored, &cut), 0);
    assert_int_equal(cut, 100);
    /* a tail written again with other content (by someone who cannot reach the anchor) */
    char anchor[sizeof st.audit_anchor];
    memcpy(anchor, st.audit_anchor, sizeof anchor);
    st.audit_anchor[0] = '\0';
    for (int i = 0; i < 3; i++) {
        tv_audit_record r = { 0, 1700000000999LL, "login_success", "user:2", "forged", "", "", "" };
        assert_int_equal(tv_auditlog_append(&st, &r, NULL), 0);
    }
    memcpy(st.audit_anchor, anchor, sizeof anchor);
    assert_int_equal(verify(&st, &n), 0);
    assert_int_equal(n, 100);
    assert_int_equal(tv_auditlog_anchor_check(&st, &anchored, &cut), 0);
    assert_int_equal(cut, 100);
    tv_store_close(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(intact_chain_verifies),
        cmocka_unit_test(tampering_is_found_where_it_happened),
        cmocka_unit_test(cut_or_rewritten_tail_is_found_by_the_anchor),
    };
    return cmocka_run_group_tests(tests, setup, tv_test_dir_remove);
}
