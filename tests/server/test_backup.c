/* Backups: made while the database is open and being written, restored elsewhere with every record
 * and an intact audit chain; a damaged, cut, or foreign-key backup restores nothing, and neither
 * does a restore beside the log a crashed database left. */
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

/* ---- restoring where a crashed database left its log ---- */

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    unsigned char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void spill(const char *path, const unsigned char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void same_file(const char *path, const unsigned char *data, size_t len)
{
    size_t n;
    unsigned char *now = slurp(path, &n);
    assert_int_equal(n, len);
    assert_memory_equal(now, data, len);
    free(now);
}

/* The restore's opening of the file in its place is where a log that came meanwhile is read: this
 * test can put one there just before it (-Wl,--wrap=tv_store_open, CMakeLists). */
int __real_tv_store_open(tv_store *st, const char *db_path, const char *key_path, char *err, size_t err_size);
static char plant_at[256];
static const unsigned char *plant;
static size_t plant_len;

int __wrap_tv_store_open(tv_store *st, const char *db_path, const char *key_path, char *err, size_t err_size)
{
    if (plant_at[0] && strcmp(db_path, plant_at) == 0) {
        char wal[300];
        snprintf(wal, sizeof wal, "%s-wal", db_path);
        spill(wal, plant, plant_len);
        plant_at[0] = '\0';
    }
    return __real_tv_store_open(st, db_path, key_path, err, err_size);
}

static void add_users(tv_store *st, int from, int to)
{
    assert_int_equal(sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    for (int i = from; i <= to; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "INSERT INTO users (email, pw_hash, created_ms) VALUES ('c%d@example.org', "
                                  "'$argon2id$v=19$m=65536,t=2,p=1$%064d', %d)", i, i, i);
        assert_int_equal(sqlite3_exec(st->db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    assert_int_equal(sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
}

static void add_audit(tv_store *st, int n)
{
    for (int i = 0; i < n; i++) {
        tv_audit_record r = { 0, 1700000000000LL + i, "login_success", "user:1", "ok", "", "127.0.0.1", "" };
        assert_int_equal(tv_auditlog_append(st, &r, NULL), 0);
    }
}

/* A server ran on DIR/televisit.db and was killed: the file and its -wal, whose committed frames hold
 * what was written after the backup, are left. The operator moves the file aside (not the -wal) and
 * restores the backup into its place. The crashed database's log must not be replayed over the
 * restored file: not undoing the restore, not leaving a malformed file reported as restored. */
static void restore_beside_a_crashed_databases_log(void **s)
{
    (void)s;
    char dir[160], bk_dir[160], target[200], wal[220], shm[220], journal[220], aside[220], aside_wal[240], err[512],
        bk[512];
    snprintf(dir, sizeof dir, "%s/crash", tv_test_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(bk_dir, sizeof bk_dir, "%s/crash-backups", tv_test_dir);   /* backup names go by the second */
    assert_int_equal(mkdir(bk_dir, 0700), 0);
    snprintf(target, sizeof target, "%s/televisit.db", dir);
    snprintf(wal, sizeof wal, "%s-wal", target);
    snprintf(shm, sizeof shm, "%s-shm", target);
    snprintf(journal, sizeof journal, "%s-journal", target);
    snprintf(aside, sizeof aside, "%s.crashed", target);
    snprintf(aside_wal, sizeof aside_wal, "%s-wal", aside);

    tv_store st;
    assert_int_equal(tv_store_open(&st, target, key, err, sizeof err), 0);
    add_users(&st, 1, 300);
    add_audit(&st, 20);
    assert_int_equal(tv_backup_write(&st, bk_dir, bk, sizeof bk, err, sizeof err), 0);
    tv_store_close(&st);

    /* the server again, writing after the backup with no checkpoint yet: all of it in the -wal */
    assert_int_equal(tv_store_open(&st, target, key, err, sizeof err), 0);
    sqlite3_wal_autocheckpoint(st.db, 0);
    add_users(&st, 301, 900);
    assert_int_equal(sqlite3_exec(st.db, "DELETE FROM users WHERE id <= 150", NULL, NULL, NULL), SQLITE_OK);
    add_audit(&st, 15);
    size_t wal_len;
    unsigned char *crash_wal = slurp(wal, &wal_len);   /* what kill -9 would leave: every commit is in it */
    assert_true(wal_len > 32 + 24 + 4096);
    tv_store_close(&st);   /* (checkpoints this copy; the crash's -wal is put back below) */
    assert_int_equal(rename(target, aside), 0);
    unlink(shm);
    spill(wal, crash_wal, wal_len);

    /* refused, the -wal named, nothing in place, the -wal as it was */
    assert_int_equal(tv_backup_restore(bk, key, target, err, sizeof err), TV_ERR_INVALID);
    assert_non_null(strstr(err, wal));
    assert_non_null(strstr(err, "replay"));
    assert_non_null(strstr(err, "nothing was restored"));
    assert_int_equal(access(target, F_OK), -1);
    same_file(wal, crash_wal, wal_len);
    char tmp[240];
    snprintf(tmp, sizeof tmp, "%s.restoring", target);
    assert_int_equal(access(tmp, F_OK), -1);

    /* its index alone, or a rollback journal, the same */
    assert_int_equal(rename(wal, aside_wal), 0);   /* the -wal goes with its database, as the message says */
    spill(shm, (const unsigned char *)"", 0);
    assert_int_equal(tv_backup_restore(bk, key, target, err, sizeof err), TV_ERR_INVALID);
    assert_non_null(strstr(err, shm));
    assert_int_equal(access(target, F_OK), -1);
    assert_int_equal(unlink(shm), 0);
    spill(journal, crash_wal, 512);
    assert_int_equal(tv_backup_restore(bk, key, target, err, sizeof err), TV_ERR_INVALID);
    assert_non_null(strstr(err, journal));
    assert_int_equal(unlink(journal), 0);

    /* with them gone: restored, the backup's content and no more, checked, anchored */
    assert_int_equal(tv_backup_restore(bk, key, target, err, sizeof err), 0);
    assert_int_equal(access(wal, F_OK), -1);
    assert_int_equal(tv_store_open(&st, target, key, err, sizeof err), 0);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM users"), 300);
    assert_int_equal(tv_test_int64(st.db, "PRAGMA quick_check = 1") , 0);   /* "ok" reads as 0 */
    int64_t n, bad;
    int anchored;
    assert_int_equal(tv_auditlog_verify(&st, &n, &bad), 0);
    assert_int_equal(bad, 0);
    assert_int_equal(n, 20);
    assert_int_equal(tv_auditlog_anchor_check(&st, &anchored, &bad), 0);
    assert_int_equal(anchored, 1);
    assert_int_equal(bad, 0);
    tv_store_close(&st);

    /* The crash's -wal appears only after the checks, as the restore opens the file in its place
     * (a televisitd started on this directory meanwhile could do it): the restore is not reported,
     * the file is not left in place, and the -wal is left as it came. */
    assert_int_equal(unlink(target), 0);
    snprintf(plant_at, sizeof plant_at, "%s", target);
    plant = crash_wal;
    plant_len = wal_len;
    assert_int_not_equal(tv_backup_restore(bk, key, target, err, sizeof err), 0);
    assert_int_equal(plant_at[0], '\0');   /* it was put there */
    assert_non_null(strstr(err, "nothing was restored"));
    assert_int_equal(access(target, F_OK), -1);
    same_file(wal, crash_wal, wal_len);
    free(crash_wal);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backup_and_restore),
        cmocka_unit_test(restore_beside_a_crashed_databases_log),
    };
    return cmocka_run_group_tests(tests, setup, tv_test_dir_remove);
}
