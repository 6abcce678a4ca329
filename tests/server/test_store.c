/* Storage: WAL and FULL sync, migrations once, the master key file kept apart and private, sealed
 * fields unreadable in the database file, bound to their row, and useless without the key file. */
#include "tv_server_test.h"

#include "tv_store.h"

static char db[128], key[128], key2[128];
static const char secret[] = "JBSWY3DPEHPK3PXPJBSWY3DP";

static int setup(void **s)
{
    (void)s;
    if (tv_test_dir_make("store") != 0)
        return -1;
    snprintf(db, sizeof db, "%s/televisit.db", tv_test_dir);
    snprintf(key, sizeof key, "%s/master.key", tv_test_dir);
    snprintf(key2, sizeof key2, "%s/other.key", tv_test_dir);
    return 0;
}

static int file_contains(const char *path, const void *needle, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    static char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return memmem(buf, len, needle, n) != NULL;
}

static void opens_durable_and_migrated(void **s)
{
    (void)s;
    tv_store st;
    char err[200];
    assert_int_equal(tv_store_open(&st, db, key, err, sizeof err), 0);
    struct stat kst;
    assert_int_equal(stat(key, &kst), 0);
    assert_int_equal(kst.st_mode & 0777, 0600);
    int v;
    assert_int_equal(tv_store_schema_version(&st, &v), 0);
    assert_int_equal(v, tv_store_schema_latest());
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(st.db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    assert_int_equal(tv_test_int64(st.db, "PRAGMA synchronous"), 2);   /* FULL */
    assert_int_equal(tv_test_int64(st.db, "PRAGMA secure_delete"), 1);
    tv_store_close(&st);
    /* Reopening applies nothing twice and keeps the same key. */
    assert_int_equal(tv_store_open(&st, db, key, err, sizeof err), 0);
    assert_int_equal(tv_store_schema_version(&st, &v), 0);
    assert_int_equal(v, tv_store_schema_latest());
    tv_store_close(&st);
}

static void sealed_fields(void **s)
{
    (void)s;
    tv_store st;
    char err[200];
    uint8_t blob[128], out[128];
    size_t n, m;
    assert_int_equal(tv_store_open(&st, db, key, err, sizeof err), 0);
    assert_int_equal(sqlite3_exec(st.db, "INSERT INTO users (id, email, pw_hash, created_ms) VALUES "
                                         "(1, 'a@example.org', 'x', 1), (2, 'b@example.org', 'y', 2)", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(tv_store_seal(&st, TV_RECORD_TOTP_SECRET, "users", "totp_secret", 1,
                                   (const uint8_t *)secret, sizeof secret - 1, blob, sizeof blob, &n), 0);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(st.db, "UPDATE users SET totp_secret = ? WHERE id = 1", -1, &q, NULL), SQLITE_OK);
    sqlite3_bind_blob(q, 1, blob, (int)n, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    tv_store_close(&st);   /* checkpoint: the data is in the main file now */

    /* The database file, its WAL and the key file hold no clear secret; the key is not in the DB. */
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", db);
    assert_false(file_contains(db, secret, sizeof secret - 1));
    assert_false(file_contains(wal, secret, sizeof secret - 1));
    uint8_t master[TV_RECORD_KEYBYTES];
    int created;
    assert_int_equal(tv_keyfile_load(key, master, &created, err, sizeof err), 0);
    assert_int_equal(created, 0);
    assert_false(file_contains(db, master, sizeof master));

    /* Reopened, the field opens for its row, and for no other. */
    assert_int_equal(tv_store_open(&st, db, key, err, sizeof err), 0);
    assert_int_equal(sqlite3_prepare_v2(st.db, "SELECT totp_secret FROM users WHERE id = 1", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    size_t bl = (size_t)sqlite3_column_bytes(q, 0);
    memcpy(blob, sqlite3_column_blob(q, 0), bl);
    sqlite3_finalize(q);
    assert_int_equal(tv_store_open_field(&st, TV_RECORD_TOTP_SECRET, "users", "totp_secret", 1, blob, bl, out, sizeof out, &m), 0);
    assert_memory_equal(out, secret, sizeof secret - 1);
    assert_int_equal(tv_store_open_field(&st, TV_RECORD_TOTP_SECRET, "users", "totp_secret", 2, blob, bl, out, sizeof out, &m),
                     TV_ERR_RECORD_AUTH);
    assert_int_equal(tv_store_open_field(&st, TV_RECORD_CHAT, "users", "totp_secret", 1, blob, bl, out, sizeof out, &m),
                     TV_ERR_RECORD_AUTH);
    tv_store_close(&st);

    /* The database with another key file (a stolen DB without its key): nothing opens. */
    assert_int_equal(tv_store_open(&st, db, key2, err, sizeof err), 0);
    assert_int_equal(tv_store_open_field(&st, TV_RECORD_TOTP_SECRET, "users", "totp_secret", 1, blob, bl, out, sizeof out, &m),
                     TV_ERR_RECORD_AUTH);
    tv_store_close(&st);
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

/* A database at schema 4 (ids without AUTOINCREMENT), where accounts 4 and 5 were deleted: 5 only
 * the audit log still names. Migrated, its users table is rebuilt without any row of another table
 * lost to a cascade, foreign keys hold and are on again, and the next id is above every id ever used,
 * so no new account inherits a deleted one's audit records. */
static void old_database_migrates(void **s)
{
    (void)s;
    char old[160], err[200];
    snprintf(old, sizeof old, "%s/old.db", tv_test_dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(old, &db), SQLITE_OK);
    exec_ok(db, "PRAGMA foreign_keys = ON");
    for (int i = 0; i < 4; i++)
        exec_ok(db, tv_store_migration_sql(i));
    exec_ok(db, "PRAGMA user_version = 4");
    exec_ok(db, "INSERT INTO users (id, email, pw_hash, created_ms, is_admin) VALUES"
                " (1, 'a@example.org', 'x', 1, 1), (2, 'b@example.org', 'y', 2, 0), (3, 'c@example.org', '', 3, 0);"
                "INSERT INTO sessions (hash, user_id, stage, created_ms, last_ms) VALUES (x'01', 2, 'full', 1, 1), (x'02', 3, 'full', 1, 1);"
                "INSERT INTO visits (id, clinician_id, token_hash, created_ms, expires_ms) VALUES ('v1', 2, x'aa', 1, 2);"
                "INSERT INTO chat (visit_id, sender, ts_ms, body) VALUES ('v1', 'patient', 1, x'00');"
                "INSERT INTO recovery_codes (user_id, hash) VALUES (2, x'bb');"
                "INSERT INTO mail_keys (hash, user_id, kind, expires_ms) VALUES (x'cc', 1, 'reset', 9);"
                "INSERT INTO sso_links (issuer, subject, user_id, provider, created_ms) VALUES ('https://idp', 's', 3, 'op', 1);"
                "INSERT INTO audit (ts_ms, type, requester, hash) VALUES (1, 'account_created', 'user:4', x'00'),"
                " (2, 'account_created', 'user:5', x'00'), (3, 'visit_created', 'user:5', x'00'), (4, 'account_deleted', 'user:5', x'00'),"
                " (5, 'session_requested', 'patient:p1', x'00'), (6, 'account_deleted', 'user:4', x'00')");
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    tv_store st;
    assert_int_equal(tv_store_open(&st, old, key, err, sizeof err), 0);
    int v;
    assert_int_equal(tv_store_schema_version(&st, &v), 0);
    assert_int_equal(v, tv_store_schema_latest());
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM sqlite_master WHERE name = 'users' AND sql LIKE '%AUTOINCREMENT%'"), 1);
    /* every row is still there, and the columns kept their values */
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM users"), 3);
    assert_int_equal(tv_test_int64(st.db, "SELECT is_admin FROM users WHERE email = 'a@example.org'"), 1);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM sessions"), 2);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM visits"), 1);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM chat"), 1);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM recovery_codes"), 1);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM mail_keys"), 1);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM sso_links"), 1);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM audit"), 6);
    assert_int_equal(tv_test_int64(st.db, "PRAGMA foreign_keys"), 1);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(st.db, "PRAGMA foreign_key_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(st.db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    /* the next account is 6: above 5, which only the audit log remembers */
    exec_ok(st.db, "INSERT INTO users (email, pw_hash, created_ms) VALUES ('new@example.org', 'z', 4)");
    assert_int_equal(sqlite3_last_insert_rowid(st.db), 6);
    exec_ok(st.db, "DELETE FROM users WHERE id = 6");
    exec_ok(st.db, "INSERT INTO users (email, pw_hash, created_ms) VALUES ('newer@example.org', 'z', 5)");
    assert_int_equal(sqlite3_last_insert_rowid(st.db), 7);
    /* the other tables' foreign keys name the rebuilt table: a deletion still cascades */
    exec_ok(st.db, "DELETE FROM users WHERE id = 2");
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM sessions WHERE user_id = 2"), 0);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM chat"), 0);
    tv_store_close(&st);
    /* reopening migrates nothing again */
    assert_int_equal(tv_store_open(&st, old, key, err, sizeof err), 0);
    exec_ok(st.db, "INSERT INTO users (email, pw_hash, created_ms) VALUES ('last@example.org', 'z', 6)");
    assert_int_equal(sqlite3_last_insert_rowid(st.db), 8);
    tv_store_close(&st);
}

/* A new database has ids that are never reused either. */
static void new_database_ids(void **s)
{
    (void)s;
    char fresh[160], err[200];
    snprintf(fresh, sizeof fresh, "%s/fresh.db", tv_test_dir);
    tv_store st;
    assert_int_equal(tv_store_open(&st, fresh, key, err, sizeof err), 0);
    exec_ok(st.db, "INSERT INTO users (email, pw_hash, created_ms) VALUES ('a@example.org', 'x', 1), ('b@example.org', 'y', 2);"
                   "DELETE FROM users WHERE id = 2;"
                   "INSERT INTO users (email, pw_hash, created_ms) VALUES ('c@example.org', 'z', 3)");
    assert_int_equal(sqlite3_last_insert_rowid(st.db), 3);
    tv_store_close(&st);
}

static void key_file_refusals(void **s)
{
    (void)s;
    tv_store st;
    char err[200];
    assert_int_equal(chmod(key, 0644), 0);
    assert_int_equal(tv_store_open(&st, db, key, err, sizeof err), TV_ERR_INVALID);
    assert_non_null(strstr(err, "readable by others"));
    assert_null(st.db);
    assert_int_equal(chmod(key, 0600), 0);
    char bad[160];
    snprintf(bad, sizeof bad, "%s/short.key", tv_test_dir);
    FILE *f = fopen(bad, "w");
    fputs("TVMK\x01short", f);
    fclose(f);
    chmod(bad, 0600);
    assert_int_equal(tv_store_open(&st, db, bad, err, sizeof err), TV_ERR_INVALID);
    assert_non_null(strstr(err, "not a televisit master key"));
    /* A database from a newer televisitd is left alone. */
    assert_int_equal(tv_store_open(&st, db, key, err, sizeof err), 0);
    assert_int_equal(sqlite3_exec(st.db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    tv_store_close(&st);
    assert_int_equal(tv_store_open(&st, db, key, err, sizeof err), TV_ERR_INVALID);
    assert_non_null(strstr(err, "newer televisitd"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(opens_durable_and_migrated),
        cmocka_unit_test(sealed_fields),
        cmocka_unit_test(old_database_migrates),
        cmocka_unit_test(new_database_ids),
        cmocka_unit_test(key_file_refusals),
    };
    return cmocka_run_group_tests(tests, setup, tv_test_dir_remove);
}
