#define _DEFAULT_SOURCE   /* flock */
#define _POSIX_C_SOURCE 200809L
#include "tv_auditlog.h"
#include "tv_file.h"
#include "tv_err.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static const char *col_text(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? (const char *)t : "";
}

#define ANCHOR_MAGIC "televisit-audit-anchor v1"

/* The anchor names the last record (its number and hash); an append passes the record it wrote. */
static int anchor_put(tv_store *st, int64_t seq, const uint8_t hash[TV_AUDIT_HASHBYTES])
{
    char hex[2 * TV_AUDIT_HASHBYTES + 1], line[160];
    sodium_bin2hex(hex, sizeof hex, hash, TV_AUDIT_HASHBYTES);
    int n = snprintf(line, sizeof line, ANCHOR_MAGIC " %lld %s\n", (long long)seq, hex);
    return tv_file_replace(st->audit_anchor, line, (size_t)n, 0600);
}

static int last_record(tv_store *st, int64_t *seq, uint8_t hash[TV_AUDIT_HASHBYTES])
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", -1, &q, NULL) != SQLITE_OK)
        return TV_ERR_INVALID;
    int rc = TV_ERR_INVALID, step = sqlite3_step(q);
    if (step == SQLITE_DONE) {
        rc = TV_ERR_NOT_FOUND;   /* no record */
    } else if (step == SQLITE_ROW && sqlite3_column_bytes(q, 1) == TV_AUDIT_HASHBYTES) {
        *seq = sqlite3_column_int64(q, 0);
        memcpy(hash, sqlite3_column_blob(q, 1), TV_AUDIT_HASHBYTES);
        rc = 0;
    }
    sqlite3_finalize(q);
    return rc;
}

/* The anchor's lock: flock on a file beside it, which holds between the threads of one process
 * (each call opens its own descriptor) and between processes (`televisitd user add` or `restore`
 * beside a running server). -1 when it cannot be had; the anchor is then written all the same. */
static int anchor_lock(tv_store *st)
{
    char path[sizeof st->audit_anchor + 8];
    snprintf(path, sizeof path, "%s.lock", st->audit_anchor);
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    while (fd >= 0 && flock(fd, LOCK_EX) != 0) {
        int e = errno;
        if (e != EINTR) {
            close(fd);
            fd = -1;
            errno = e;
        }
    }
    if (fd < 0)
        fprintf(stderr, "televisitd: cannot lock %s (%s); the audit anchor is written without it\n", path, strerror(errno));
    return fd;
}

static void anchor_unlock(int fd)
{
    if (fd >= 0)
        close(fd);   /* and the lock goes with the descriptor */
}

/* After a commit, the anchor is brought up to the log's last committed record. Appends from several
 * connections (the API's worker threads and the event loop each have their own) commit in one order
 * but can reach this point in another: writing the record each one appended would let a late writer
 * put an older record back over a newer one, and the anchor would lag the log. So it is written
 * under the anchor's lock, with the last record read again under it: each write sees every commit
 * made before it, the anchor never moves back, and once the appends have returned it names the
 * last record. It is never written before the record is committed, so a crash can leave it one
 * record behind (the next append brings it up), never ahead of the log. */
static int anchor_follow(tv_store *st, int64_t seq, const uint8_t hash[TV_AUDIT_HASHBYTES])
{
    int lock = anchor_lock(st);
    int64_t last_seq;
    uint8_t last[TV_AUDIT_HASHBYTES];
    int rc = last_record(st, &last_seq, last) == 0 && last_seq >= seq ? anchor_put(st, last_seq, last)
                                                                      : anchor_put(st, seq, hash);
    anchor_unlock(lock);
    sodium_memzero(last, sizeof last);
    return rc;
}

int tv_auditlog_append(tv_store *st, const tv_audit_record *r, int64_t *seq_out)
{
    if (st == NULL || st->db == NULL || r == NULL)
        return TV_ERR_INVALID;
    /* IMMEDIATE: the last hash read and the new row written under one write lock. */
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return TV_ERR_INVALID;
    int rc = TV_ERR_INVALID;
    uint8_t prev[TV_AUDIT_HASHBYTES] = { 0 }, hash[TV_AUDIT_HASHBYTES];
    int64_t seq = 1;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", -1, &q, NULL) == SQLITE_OK) {
        int step = sqlite3_step(q);
        if (step == SQLITE_ROW && sqlite3_column_bytes(q, 1) == TV_AUDIT_HASHBYTES) {
            seq = sqlite3_column_int64(q, 0) + 1;
            memcpy(prev, sqlite3_column_blob(q, 1), TV_AUDIT_HASHBYTES);
            rc = 0;
        } else if (step == SQLITE_DONE) {
            rc = 0;
        }
    }
    sqlite3_finalize(q);
    tv_audit_record rec = *r;
    rec.seq = seq;
    if (rc == 0)
        rc = tv_audit_hash(&rec, prev, hash);
    if (rc == 0) {
        rc = TV_ERR_INVALID;
        if (sqlite3_prepare_v2(st->db, "INSERT INTO audit (seq, ts_ms, type, requester, message, room, ip, extra, hash)"
                                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &q, NULL) == SQLITE_OK) {
            const char *f[] = { rec.type, rec.requester, rec.message, rec.room, rec.ip, rec.extra };
            sqlite3_bind_int64(q, 1, seq);
            sqlite3_bind_int64(q, 2, rec.ts_ms);
            for (int i = 0; i < 6; i++)
                sqlite3_bind_text(q, 3 + i, f[i] ? f[i] : "", -1, SQLITE_TRANSIENT);
            sqlite3_bind_blob(q, 9, hash, sizeof hash, SQLITE_TRANSIENT);
            if (sqlite3_step(q) == SQLITE_DONE)
                rc = 0;
        }
        sqlite3_finalize(q);
    }
    if (rc == 0 && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = TV_ERR_INVALID;
    if (rc != 0)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    else if (seq_out)
        *seq_out = seq;
    if (rc == 0 && st->audit_anchor[0] && anchor_follow(st, seq, hash) != 0)
        fprintf(stderr, "televisitd: cannot update the audit anchor %s\n", st->audit_anchor);
    return rc;
}

int tv_auditlog_verify(tv_store *st, int64_t *count, int64_t *first_bad)
{
    sqlite3_stmt *q;
    if (st == NULL || st->db == NULL || count == NULL || first_bad == NULL ||
        sqlite3_prepare_v2(st->db, "SELECT seq, ts_ms, type, requester, message, room, ip, extra, hash"
                                   " FROM audit ORDER BY seq", -1, &q, NULL) != SQLITE_OK)
        return TV_ERR_INVALID;
    uint8_t prev[TV_AUDIT_HASHBYTES] = { 0 }, hash[TV_AUDIT_HASHBYTES];
    int64_t expect = 1, n = 0;
    *first_bad = 0;
    int step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        tv_audit_record r = { sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1), col_text(q, 2), col_text(q, 3),
                              col_text(q, 4), col_text(q, 5), col_text(q, 6), col_text(q, 7) };
        n++;
        int ok = r.seq == expect && sqlite3_column_bytes(q, 8) == TV_AUDIT_HASHBYTES &&
                 tv_audit_hash(&r, prev, hash) == 0 && memcmp(hash, sqlite3_column_blob(q, 8), TV_AUDIT_HASHBYTES) == 0;
        if (!ok) {
            *first_bad = r.seq;
            break;
        }
        memcpy(prev, hash, sizeof prev);
        expect++;
    }
    sqlite3_finalize(q);
    *count = n;
    return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : TV_ERR_INVALID;
}


int tv_auditlog_anchor_write(tv_store *st)
{
    if (st == NULL || st->db == NULL || st->audit_anchor[0] == '\0')
        return TV_ERR_INVALID;
    int lock = anchor_lock(st);
    int64_t seq;
    uint8_t hash[TV_AUDIT_HASHBYTES];
    int rc = last_record(st, &seq, hash);
    if (rc == 0)
        rc = anchor_put(st, seq, hash);
    else if (rc == TV_ERR_NOT_FOUND)   /* no record: no anchor, or it would name one the log has not */
        rc = unlink(st->audit_anchor) == 0 || errno == ENOENT ? 0 : TV_ERR_INVALID;
    anchor_unlock(lock);
    return rc;
}

int tv_auditlog_anchor_check(tv_store *st, int *anchored, int64_t *first_bad)
{
    *anchored = 0;
    *first_bad = 0;
    FILE *f = fopen(st->audit_anchor, "r");
    if (f == NULL) {
        if (errno != ENOENT)
            return TV_ERR_ENCODING;   /* there, but unreadable */
        /* No anchor: right only for a log that has no record yet. Otherwise it was deleted, or the
         * database was copied without it, and records cut from the end could not be seen. */
        int64_t seq;
        uint8_t hash[TV_AUDIT_HASHBYTES];
        int rc = last_record(st, &seq, hash);
        return rc == TV_ERR_NOT_FOUND ? 0 : rc == 0 ? TV_ERR_NOT_FOUND : TV_ERR_INVALID;
    }
    char line[200] = "", hex[2 * TV_AUDIT_HASHBYTES + 2];
    long long seq = 0;
    int ok = fgets(line, sizeof line, f) != NULL &&
             sscanf(line, ANCHOR_MAGIC " %lld %65s", &seq, hex) == 2 && seq > 0 && strlen(hex) == 2 * TV_AUDIT_HASHBYTES;
    fclose(f);
    if (!ok)
        return TV_ERR_ENCODING;
    *anchored = 1;
    uint8_t want[TV_AUDIT_HASHBYTES];
    if (sodium_hex2bin(want, sizeof want, hex, strlen(hex), NULL, NULL, NULL) != 0)
        return TV_ERR_ENCODING;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "SELECT hash FROM audit WHERE seq = ?", -1, &q, NULL) != SQLITE_OK)
        return TV_ERR_INVALID;
    sqlite3_bind_int64(q, 1, seq);
    int same = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_bytes(q, 0) == TV_AUDIT_HASHBYTES &&
               memcmp(sqlite3_column_blob(q, 0), want, sizeof want) == 0;
    sqlite3_finalize(q);
    if (!same)
        *first_bad = seq;
    return 0;
}
