/* The audit log: append-only in the database, and every kind of tampering that gets past that
 * (a changed field, a deleted, inserted or reordered record) found by the chain, at the right record. */
#include "tv_server_test.h"

#include <pthread.h>
#include <time.h>

#include "tv_auditlog.h"
#include "tv_file.h"

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

/* ---- the anchor under appends from several connections ----
 * Each test here has a directory of its own (database, key, and so the anchor beside the key). */

static void own_dir(const char *name, char *d, size_t ds, char *k, size_t ks)
{
    char dir[160];
    snprintf(dir, sizeof dir, "%s/%s", tv_test_dir, name);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(d, ds, "%s/t.db", dir);
    snprintf(k, ks, "%s/master.key", dir);
}

static void open_store(tv_store *st, const char *d, const char *k)
{
    char err[200];
    if (tv_store_open(st, d, k, err, sizeof err) != 0)
        fail_msg("%s", err);
}

static void append(tv_store *st, const char *who)
{
    tv_audit_record r = { 0, 1700000000000LL, "login_success", who, "signed in", "", "127.0.0.1", "" };
    assert_int_equal(tv_auditlog_append(st, &r, NULL), 0);
}

/* The anchor must name the log's last record, with its hash. */
static void anchor_is_on_the_last_record(tv_store *st)
{
    FILE *f = fopen(st->audit_anchor, "r");
    assert_non_null(f);
    char line[200] = "", hex[80] = "";
    long long seq = 0;
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_int_equal(sscanf(line, "televisit-audit-anchor v1 %lld %79s", &seq, hex), 2);
    int64_t last = tv_test_int64(st->db, "SELECT max(seq) FROM audit");
    if (seq != last)
        fail_msg("the anchor names record %lld, the log ends at %lld", seq, (long long)last);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(st->db, "SELECT lower(hex(hash)) FROM audit WHERE seq = ?", -1, &q, NULL), SQLITE_OK);
    sqlite3_bind_int64(q, 1, seq);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), hex);
    sqlite3_finalize(q);
    int anchored;
    int64_t cut;
    assert_int_equal(tv_auditlog_anchor_check(st, &anchored, &cut), 0);
    assert_int_equal(anchored, 1);
    assert_int_equal(cut, 0);
}

/* One writer's anchor write held back (a thread descheduled between its commit and its anchor
 * write): the write waits until the other connection's append has returned, or a second at most.
 * The anchor is written through tv_file_replace, which this test wraps (-Wl,--wrap, CMakeLists). */
int __real_tv_file_replace(const char *path, const void *data, size_t len, mode_t mode);
static pthread_mutex_t hold_mx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cv = PTHREAD_COND_INITIALIZER;
static pthread_t held_thread;
static int hold_armed, held, other_done;

int __wrap_tv_file_replace(const char *path, const void *data, size_t len, mode_t mode)
{
    pthread_mutex_lock(&hold_mx);
    if (hold_armed && pthread_equal(pthread_self(), held_thread) && strstr(path, "audit.anchor")) {
        hold_armed = 0;
        held = 1;
        pthread_cond_broadcast(&hold_cv);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        while (!other_done && pthread_cond_timedwait(&hold_cv, &hold_mx, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&hold_mx);
    return __real_tv_file_replace(path, data, len, mode);
}

static void *other_append(void *arg)
{
    pthread_mutex_lock(&hold_mx);
    while (!held)
        pthread_cond_wait(&hold_cv, &hold_mx);
    pthread_mutex_unlock(&hold_mx);
    append(arg, "user:2");   /* commits after the held one, and returns (or waits) */
    pthread_mutex_lock(&hold_mx);
    other_done = 1;
    pthread_cond_broadcast(&hold_cv);
    pthread_mutex_unlock(&hold_mx);
    return NULL;
}

/* Connection A commits record 2 and is held before its anchor write; connection B commits record 3
 * meanwhile. A's late write must not put record 2 back over record 3. */
static void a_late_anchor_write_does_not_go_back(void **s)
{
    (void)s;
    char d[200], k[200];
    own_dir("late", d, sizeof d, k, sizeof k);
    tv_store a, b;
    open_store(&a, d, k);
    open_store(&b, d, k);
    append(&a, "user:0");
    pthread_t t;
    held_thread = pthread_self();
    held = other_done = 0;
    hold_armed = 1;
    assert_int_equal(pthread_create(&t, NULL, other_append, &b), 0);
    append(&a, "user:1");
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(held, 1);   /* the hold did happen */
    assert_int_equal(tv_test_int64(a.db, "SELECT max(seq) FROM audit"), 3);
    anchor_is_on_the_last_record(&a);
    tv_store_close(&a);
    tv_store_close(&b);
}

#define RACERS 2
#define RACE_APPENDS 150
static void *racer(void *arg)
{
    for (int i = 0; i < RACE_APPENDS; i++)
        append(arg, "user:7");
    return NULL;
}

/* Two connections appending as fast as they can, each from its own thread (as the API's workers
 * do): afterwards the chain is whole and the anchor names the last record. */
static void concurrent_appends_leave_the_anchor_on_the_last_record(void **s)
{
    (void)s;
    char d[200], k[200];
    own_dir("race", d, sizeof d, k, sizeof k);
    tv_store st[RACERS];
    pthread_t t[RACERS];
    for (int i = 0; i < RACERS; i++)
        open_store(&st[i], d, k);
    for (int i = 0; i < RACERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, racer, &st[i]), 0);
    for (int i = 0; i < RACERS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    int64_t n;
    assert_int_equal(verify(&st[0], &n), 0);
    assert_int_equal(n, RACERS * RACE_APPENDS);
    anchor_is_on_the_last_record(&st[0]);
    for (int i = 0; i < RACERS; i++)
        tv_store_close(&st[i]);
}

/* A missing anchor is a finding once the log has a record; before that there is nothing to anchor. */
static void missing_anchor_fails_unless_the_log_is_empty(void **s)
{
    (void)s;
    char d[200], k[200];
    own_dir("missing", d, sizeof d, k, sizeof k);
    tv_store st;
    open_store(&st, d, k);
    int anchored = -1;
    int64_t cut = -1;
    assert_int_equal(access(st.audit_anchor, F_OK), -1);
    assert_int_equal(tv_auditlog_anchor_check(&st, &anchored, &cut), 0);   /* empty log, no anchor: fine */
    assert_int_equal(anchored, 0);
    assert_int_equal(cut, 0);
    for (int i = 0; i < 3; i++)
        append(&st, "user:1");
    anchor_is_on_the_last_record(&st);
    assert_int_equal(unlink(st.audit_anchor), 0);   /* deleted: the chain alone still verifies */
    int64_t n;
    assert_int_equal(verify(&st, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(tv_auditlog_anchor_check(&st, &anchored, &cut), TV_ERR_NOT_FOUND);
    assert_int_equal(anchored, 0);
    /* written again (as a restore does), it verifies */
    assert_int_equal(tv_auditlog_anchor_write(&st), 0);
    anchor_is_on_the_last_record(&st);
    tv_store_close(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(intact_chain_verifies),
        cmocka_unit_test(tampering_is_found_where_it_happened),
        cmocka_unit_test(cut_or_rewritten_tail_is_found_by_the_anchor),
        cmocka_unit_test(a_late_anchor_write_does_not_go_back),
        cmocka_unit_test(concurrent_appends_leave_the_anchor_on_the_last_record),
        cmocka_unit_test(missing_anchor_fails_unless_the_log_is_empty),
    };
    return cmocka_run_group_tests(tests, setup, tv_test_dir_remove);
}
