#include "tv_auditlog.h"
#include "tv_err.h"

#include <string.h>

static const char *col_text(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? (const char *)t : "";
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
