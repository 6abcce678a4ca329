/* Backups: made while the database is open and being written, restored elsewhere with every record
 * and an intact audit chain; a damaged, cut, or foreign-key backup restores nothing. */
#include "tv_server_test.h"

#include "tv_auditlog.h"
#include "tv_backup.h"

static char db[128], key[128], out_dir[128];

static int setup(void **s)
{
    (void)s;
    if (tv_test_dir_make("backup") != 0)
        return -1;
    snprintf(db, sizeof db, "%s/televisit.db", tv_test_dir);
    snprintf(key, sizeof key, "%s/master.key", tv_test_dir);
    snprintf(out_dir, sizeof out_dir, "%s/backups", tv_test_dir);
    return mkdir(out_dir, 0700);
}

static void corrupt_copy(const char *from, const char *to, long at, long cut)
{
    FILE *f = fopen(from, "rb");
    static unsigned char buf[1 << 22];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (at >= 0)
        buf[at] ^= 0x01;
    if (cut > 0)
        n -= (size_t)cut;
    f = fopen(to, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
}

static void backup_and_restore(void **s)
{
    (void)s;
    tv_store st;
    char err[256], path[512], restored[256];
    assert_int_equal(tv_store_open(&st, db, key, err, sizeof err), 0);
    assert_int_equal(sqlite3_exec(st.db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    for (int i = 1; i <= 2000; i++) {   /* enough pages for several backup chunks */
        char sql[256];
        snprintf(sql, sizeof sql, "INSERT INTO users (email, pw_hash, created_ms) VALUES ('u%d@example.org', "
                                  "'$argon2id$v=19$m=65536,t=2,p=1$%064d', %d)", i, i, i);
        assert_int_equal(sqlite3_exec(st.db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    assert_int_equal(sqlite3_exec(st.db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    for (int i = 0; i < 50; i++) {
        tv_audit_record r = { 0, 1700000000000LL + i, "login_success", "user:1", "ok", "", "127.0.0.1", "" };
        assert_int_equal(tv_auditlog_append(&st, &r, NULL), 0);
    }
    /* Online: the store stays open (a running server) while the backup is taken. */
    assert_int_equal(tv_backup_write(&st, out_dir, path, sizeof path, err, sizeof err), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* Written after the backup: not in it. */
    tv_audit_record later = { 0, 1800000000000LL, "logout", "user:1", "", "", "", "" };
    assert_int_equal(tv_auditlog_append(&st, &later, NULL), 0);
    tv_store_close(&st);

    /* Nothing readable in the backup file. */
    FILE *f = fopen(path, "rb");
    static char raw[1 << 22];
    size_t rn = fread(raw, 1, sizeof raw, f);
    fclose(f);
    assert_null(memmem(raw, rn, "u1999@example.org", 17));
    assert_null(memmem(raw, rn, "SQLite format", 13));

    snprintf(restored, sizeof restored, "%s/restored.db", tv_test_dir);
    assert_int_equal(tv_backup_restore(path, key, restored, err, sizeof err), 0);
    assert_int_equal(tv_store_open(&st, restored, key, err, sizeof err), 0);
    assert_int_equal(tv_test_int64(st.db, "SELECT COUNT(*) FROM users"), 2000);
    assert_int_equal(tv_test_int64(st.db, "SELECT COUNT(*) FROM users WHERE email = 'u1234@example.org'"), 1);
    int64_t n, bad;
    assert_int_equal(tv_auditlog_verify(&st, &n, &bad), 0);
    assert_int_equal(bad, 0);
    assert_int_equal(n, 50);
    tv_store_close(&st);

    /* Never over an existing database. */
    assert_int_equal(tv_backup_restore(path, key, restored, err, sizeof err), TV_ERR_INVALID);
    assert_non_null(strstr(err, "never overwrites"));

    /* A changed byte (in the header, in a middle chunk), a cut, another master key: nothing restored. */
    char bad_path[256], target[256], other_key[256];
    const long spots[][2] = { { 10, 0 }, { (long)rn / 2, 0 }, { -1, 100 }, { -1, 17 } };
    for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
        snprintf(bad_path, sizeof bad_path, "%s/bad-%zu.tvbackup", tv_test_dir, i);
        snprintf(target, sizeof target, "%s/target-%zu.db", tv_test_dir, i);
        corrupt_copy(path, bad_path, spots[i][0], spots[i][1]);
        assert_int_equal(tv_backup_restore(bad_path, key, target, err, sizeof err), TV_ERR_INVALID);
        assert_int_not_equal(access(target, F_OK), 0);
    }
    snprintf(other_key, sizeof other_key, "%s/other.key", tv_test_dir);
    int created;
    uint8_t k[32];
    assert_int_equal(tv_keyfile_load(other_key, k, &created, err, sizeof err), 0);
    snprintf(target, sizeof target, "%s/target-key.db", tv_test_dir);
    assert_int_equal(tv_backup_restore(path, other_key, target, err, sizeof err), TV_ERR_INVALID);
    assert_non_null(strstr(err, "another master key"));
    snprintf(other_key, sizeof other_key, "%s/missing.key", tv_test_dir);
    assert_int_equal(tv_backup_restore(path, other_key, target, err, sizeof err), TV_ERR_INVALID);
    assert_int_not_equal(access(other_key, F_OK), 0);   /* no key is made up on the way */
    assert_non_null(strstr(err, "no master key there"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backup_and_restore),
    };
    return cmocka_run_group_tests(tests, setup, tv_test_dir_remove);
}
