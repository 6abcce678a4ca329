#define _POSIX_C_SOURCE 200809L
#include "tv_backup.h"
#include "tv_auditlog.h"
#include "tv_err.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536
static const unsigned char magic[6] = { 'T', 'V', 'B', 'K', 0, 1 };   /* "TVBK", format 1 */

static int fail(char *err, size_t n, const char *what, const char *detail)
{
    if (err && n)
        snprintf(err, n, "%s: %s", what, detail);
    return TV_ERR_INVALID;
}

static int backup_key(const uint8_t master[TV_RECORD_KEYBYTES], uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES])
{
    return tv_record_subkey(master, TV_RECORD_BACKUP, key);
}

/* The snapshot: SQLite's online backup of the live database into a private temporary file. */
static int snapshot(tv_store *st, const char *tmp_path, char *err, size_t err_size)
{
    sqlite3 *dst;
    int fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return fail(err, err_size, tmp_path, strerror(errno));
    close(fd);
    if (sqlite3_open(tmp_path, &dst) != SQLITE_OK) {
        sqlite3_close(dst);
        return fail(err, err_size, tmp_path, "cannot open");
    }
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", st->db, "main");
    int rc = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;   /* all pages at once: one consistent read */
    if (b)
        sqlite3_backup_finish(b);
    if (rc == SQLITE_DONE)
        rc = sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
    sqlite3_close(dst);
    return rc == SQLITE_OK ? 0 : fail(err, err_size, "backup", "the snapshot failed");
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int tv_backup_write(tv_store *st, const char *dir, char *out_path, size_t out_size, char *err, size_t err_size)
{
    char tmp[4096], stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    if ((size_t)snprintf(out_path, out_size, "%s/televisit-%s.tvbackup", dir, stamp) >= out_size ||
        (size_t)snprintf(tmp, sizeof tmp, "%s/.snapshot-%s.db", dir, stamp) >= sizeof tmp)
        return fail(err, err_size, dir, "path too long");
    int rc = snapshot(st, tmp, err, err_size);
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    FILE *in = fopen(tmp, "rb");
    int fd = open(out_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES], hdr[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
    static uint8_t buf[CHUNK], ct[CHUNK + crypto_secretstream_xchacha20poly1305_ABYTES];
    crypto_secretstream_xchacha20poly1305_state s;
    rc = in && fd >= 0 && backup_key(st->master, key) == 0 ? 0 : TV_ERR_INVALID;
    if (rc == 0) {
        crypto_secretstream_xchacha20poly1305_init_push(&s, hdr, key);
        rc = write_all(fd, magic, sizeof magic) || write_all(fd, hdr, sizeof hdr) ? TV_ERR_INVALID : 0;
    }
    while (rc == 0) {
        size_t n = fread(buf, 1, sizeof buf, in);
        int last = feof(in);
        if (ferror(in)) {
            rc = TV_ERR_INVALID;
            break;
        }
        unsigned long long clen;
        crypto_secretstream_xchacha20poly1305_push(&s, ct, &clen, buf, n, magic, sizeof magic,
                                                   last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
        if (write_all(fd, ct, (size_t)clen) != 0)
            rc = TV_ERR_INVALID;
        if (last)
            break;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = TV_ERR_INVALID;
    if (in)
        fclose(in);
    if (fd >= 0)
        close(fd);
    /* The clear snapshot is overwritten before it goes. */
    FILE *wipe = fopen(tmp, "r+b");
    if (wipe) {
        struct stat sb;
        if (fstat(fileno(wipe), &sb) == 0) {
            memset(buf, 0, sizeof buf);
            for (off_t off = 0; off < sb.st_size; off += (off_t)sizeof buf)
                fwrite(buf, 1, sizeof buf, wipe);
            fflush(wipe);
            fsync(fileno(wipe));
        }
        fclose(wipe);
    }
    unlink(tmp);
    sodium_memzero(key, sizeof key);
    sodium_memzero(buf, sizeof buf);
    sodium_memzero(&s, sizeof s);
    if (rc != 0) {
        unlink(out_path);
        return fail(err, err_size, out_path, "cannot write the backup");
    }
    return 0;
}

/* What SQLite reads beside a database file when it opens it: the write-ahead log, its shared-memory
 * index, a rollback journal. Those of the database that was in this place before (a crash leaves its
 * -wal and -shm) are not the restored file's: opened beside it, SQLite would replay that database's
 * committed transactions over the restored pages, undoing the restore or leaving a malformed file. */
static const char *const sidecars[] = { "-wal", "-shm", "-journal" };

/* The first sidecar of path that is there (as anything, a dangling link included), named in found. */
static int sidecar_present(const char *path, char *found, size_t n)
{
    struct stat sb;
    for (size_t i = 0; i < sizeof sidecars / sizeof sidecars[0]; i++) {
        snprintf(found, n, "%s%s", path, sidecars[i]);
        if (lstat(found, &sb) == 0 || errno != ENOENT)
            return 1;
    }
    found[0] = '\0';
    return 0;
}

/* Refused rather than moved aside: a -wal holds the last committed transactions of the database it
 * belongs to, which may be needed to recover that database (SQLite finds it only under its own name,
 * beside that file), and only the operator knows where that file went. Deleting it could lose them. */
static int refuse_sidecar(char *err, size_t n, const char *found)
{
    return fail(err, n, found,
                "left by the database that was in this place (a crash leaves it); SQLite would replay it over the "
                "restored copy. Move it away together with that database's file (or delete it if that database is "
                "not needed), then restore again; nothing was restored");
}

/* After a failed check in place: the empty log and the index its own opening made go; a log with
 * frames in it is not the restore's (it appeared meanwhile) and stays as it was found, with its index. */
static void drop_own_sidecars(const char *db_path)
{
    char p[4200];
    struct stat sb;
    snprintf(p, sizeof p, "%s-wal", db_path);
    if (lstat(p, &sb) == 0 && !(S_ISREG(sb.st_mode) && sb.st_size == 0))
        return;
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", db_path);
    unlink(p);
}

typedef struct checked { int64_t count; uint8_t last[TV_AUDIT_HASHBYTES]; } checked;

/* An opened store: SQLite's integrity check, then the audit chain; its length and last hash in c. */
static int check_store(tv_store *st, checked *c, const char *what, char *err, size_t n)
{
    sqlite3_stmt *q = NULL;
    int ok = sqlite3_prepare_v2(st->db, "PRAGMA integrity_check", -1, &q, NULL) == SQLITE_OK &&
             sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0) &&
             strcmp((const char *)sqlite3_column_text(q, 0), "ok") == 0;
    sqlite3_finalize(q);
    if (!ok)
        return fail(err, n, what, "fails SQLite's integrity check; nothing was restored");
    int64_t bad;
    if (tv_auditlog_verify(st, &c->count, &bad) != 0 || bad != 0)
        return fail(err, n, what, "its audit chain is broken; nothing was restored");
    memset(c->last, 0, sizeof c->last);
    q = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1", -1, &q, NULL) != SQLITE_OK)
        ok = 0;
    else if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_bytes(q, 0) == TV_AUDIT_HASHBYTES)
        memcpy(c->last, sqlite3_column_blob(q, 0), TV_AUDIT_HASHBYTES);
    sqlite3_finalize(q);
    return ok ? 0 : fail(err, n, what, "cannot read its audit log; nothing was restored");
}

/* The file in its place, opened as the server opens it (tv_store_open: WAL, FULL, the migrations)
 * and checked again: SQLite's integrity check, the audit chain, and the same log as in the copy
 * checked before (a log replayed over it shows there when it does not make the file malformed). Only
 * then does the anchor move to its log. On failure the file is removed again, closed without a
 * checkpoint, so that a log which appeared beside it meanwhile is neither merged nor touched. */
static int check_in_place(const char *db_path, const char *key_path, const checked *want, char *err, size_t n)
{
    char side[4200], e2[256];
    if (sidecar_present(db_path, side, sizeof side)) {
        unlink(db_path);
        return refuse_sidecar(err, n, side);
    }
    tv_store st;
    checked got;
    int rc;
    if (tv_store_open(&st, db_path, key_path, e2, sizeof e2) != 0) {
        rc = fail(err, n, "restored database, in its place", e2);
    } else {
        sqlite3_db_config(st.db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
        rc = check_store(&st, &got, "restored database, in its place", err, n);
        if (rc == 0 && (got.count != want->count || sodium_memcmp(got.last, want->last, sizeof got.last) != 0))
            rc = fail(err, n, "restored database, in its place",
                      "its audit log is not the one checked in the copy (another database's log was replayed over it: "
                      "is a televisitd running on this data directory?); nothing was restored");
        /* the restored log is older than the anchor: the anchor follows it (restoring is the
         * operator's deliberate act, and is announced on the console) */
        if (rc == 0 && tv_auditlog_anchor_write(&st) != 0)
            rc = fail(err, n, st.audit_anchor, "cannot write the audit anchor; nothing was restored");
        if (rc == 0)
            sqlite3_db_config(st.db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, (int *)NULL);
        tv_store_close(&st);
    }
    if (rc != 0) {
        unlink(db_path);
        drop_own_sidecars(db_path);
    }
    return rc;
}

/* Into db_path, never over a file there: a hard link fails when the name exists (rename would
 * replace it). Where hard links are not supported, rename after a last look. */
static int put_in_place(const char *tmp, const char *db_path, char *err, size_t n)
{
    if (link(tmp, db_path) == 0) {
        unlink(tmp);
        return 0;
    }
    if (errno == EEXIST || access(db_path, F_OK) == 0)
        return fail(err, n, db_path, "exists; move it aside first (restore never overwrites)");
    return rename(tmp, db_path) == 0 ? 0 : fail(err, n, db_path, strerror(errno));
}

int tv_backup_restore(const char *backup_path, const char *key_path, const char *db_path, char *err, size_t err_size)
{
    char side[4200];
    if (access(db_path, F_OK) == 0)
        return fail(err, err_size, db_path, "exists; move it aside first (restore never overwrites)");
    if (sidecar_present(db_path, side, sizeof side))
        return refuse_sidecar(err, err_size, side);
    /* asked before loading, which would create a key file where there is none */
    if (access(key_path, F_OK) != 0)
        return fail(err, err_size, key_path, "no master key there: a backup cannot be read without the one that made it");
    uint8_t master[TV_RECORD_KEYBYTES], key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
    int created = 0;
    int rc = tv_keyfile_load(key_path, master, &created, err, err_size);
    if (rc != 0)
        return rc;
    if (created) {   /* it went between the two calls: the new one cannot read the backup either */
        sodium_memzero(master, sizeof master);
        unlink(key_path);
        return fail(err, err_size, key_path, "no master key there: a backup cannot be read without the one that made it");
    }
    backup_key(master, key);
    sodium_memzero(master, sizeof master);

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.restoring", db_path);
    FILE *in = fopen(backup_path, "rb");
    int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    uint8_t m[sizeof magic], hdr[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
    static uint8_t ct[CHUNK + crypto_secretstream_xchacha20poly1305_ABYTES], pt[CHUNK];
    crypto_secretstream_xchacha20poly1305_state s;
    rc = 0;
    if (in == NULL || out < 0)
        rc = fail(err, err_size, in ? tmp : backup_path, strerror(errno));
    else if (fread(m, 1, sizeof m, in) != sizeof m || memcmp(m, magic, sizeof m) != 0 ||
             fread(hdr, 1, sizeof hdr, in) != sizeof hdr ||
             crypto_secretstream_xchacha20poly1305_init_pull(&s, hdr, key) != 0)
        rc = fail(err, err_size, backup_path, "not a televisit backup");
    if (out >= 0)   /* the name is ours now: sidecars under it are an interrupted restore's, not to replay */
        for (size_t i = 0; i < sizeof sidecars / sizeof sidecars[0]; i++) {
            snprintf(side, sizeof side, "%s%s", tmp, sidecars[i]);
            unlink(side);
        }
    int final = 0;
    while (rc == 0 && !final) {
        size_t n = fread(ct, 1, sizeof ct, in);
        unsigned long long plen;
        unsigned char tag;
        if (n == 0 || crypto_secretstream_xchacha20poly1305_pull(&s, pt, &plen, &tag, ct, n, magic, sizeof magic) != 0) {
            rc = fail(err, err_size, backup_path, "damaged, cut short, or made with another master key");
            break;
        }
        final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
        if (write_all(out, pt, (size_t)plen) != 0)
            rc = fail(err, err_size, tmp, "cannot write");
    }
    if (rc == 0 && fgetc(in) != EOF)
        rc = fail(err, err_size, backup_path, "data after the end of the backup");
    if (rc == 0 && fsync(out) != 0)
        rc = fail(err, err_size, tmp, "cannot sync");
    if (in)
        fclose(in);
    if (out >= 0)
        close(out);
    sodium_memzero(key, sizeof key);
    sodium_memzero(pt, sizeof pt);

    /* The copy must be a sound database with an intact audit chain before it takes the place. */
    checked want;
    if (rc == 0) {
        tv_store st;
        char e2[256];
        if (tv_store_open(&st, tmp, key_path, e2, sizeof e2) != 0) {
            rc = fail(err, err_size, "restored copy", e2);
        } else {
            rc = check_store(&st, &want, "restored copy", err, err_size);
            tv_store_close(&st);
        }
    }
    /* and nothing of another database's may have come beside its place meanwhile */
    if (rc == 0 && sidecar_present(db_path, side, sizeof side))
        rc = refuse_sidecar(err, err_size, side);
    if (rc == 0 && (rc = put_in_place(tmp, db_path, err, err_size)) == 0)
        rc = check_in_place(db_path, key_path, &want, err, err_size);
    if (rc != 0 && out >= 0) {   /* the temporary copy, if it is still there, and its sidecars */
        unlink(tmp);
        for (size_t i = 0; i < sizeof sidecars / sizeof sidecars[0]; i++) {
            snprintf(side, sizeof side, "%s%s", tmp, sidecars[i]);
            unlink(side);
        }
    }
    return rc;
}
