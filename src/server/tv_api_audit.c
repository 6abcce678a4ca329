/* The account owner's audit log (JSON or CSV) and the export of all the account's data. */
#define _POSIX_C_SOURCE 200809L
#include "tv_api_int.h"

static const char *const audit_cols[] = { "seq", "ts_ms", "type", "requester", "message", "room", "ip", "extra" };

/* Records about the user or in the user's visits (patients' events included), never anyone else's. */
static sqlite3_stmt *audit_query(tv_store *st, int64_t uid)
{
    sqlite3_stmt *q = prep(st, "SELECT seq, ts_ms, type, requester, message, room, ip, extra FROM audit"
                               " WHERE requester = ? OR (room != '' AND room IN (SELECT id FROM visits WHERE clinician_id = ?))"
                               " ORDER BY seq LIMIT 100000");
    if (q) {
        char who[32];
        snprintf(who, sizeof who, "user:%lld", (long long)uid);
        sqlite3_bind_text(q, 1, who, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 2, uid);
    }
    return q;
}

static cJSON *audit_json(tv_store *st, int64_t uid)
{
    cJSON *arr = cJSON_CreateArray();
    sqlite3_stmt *q = audit_query(st, uid);
    while (q && sqlite3_step(q) == SQLITE_ROW) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "seq", (double)sqlite3_column_int64(q, 0));
        cJSON_AddNumberToObject(r, "ts_ms", (double)sqlite3_column_int64(q, 1));
        for (int i = 2; i < 8; i++)
            cJSON_AddStringToObject(r, audit_cols[i], (const char *)sqlite3_column_text(q, i));
        cJSON_AddItemToArray(arr, r);
    }
    sqlite3_finalize(q);
    return arr;
}

/* RFC 4180 quoting, and a leading quote on cells a spreadsheet would run as a formula. */
/* One quoted cell and its separator (',' or the CRLF that ends a row), room made first. A cell a
 * spreadsheet would run as a formula gets a leading "'". */
static int csv_cell(char **buf, size_t *len, size_t *cap, const char *s, int last)
{
    if (s == NULL)
        s = "";
    size_t need = *len + 2 * strlen(s) + 8;
    if (need > *cap) {
        size_t nc = need * 2;
        char *nb = realloc(*buf, nc);
        if (nb == NULL)
            return TV_ERR_NOMEM;
        *buf = nb;
        *cap = nc;
    }
    char *o = *buf + *len;
    *o++ = '"';
    if (s[0] && strchr("=+-@\t\r", s[0]))
        *o++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            *o++ = '"';
        *o++ = *p;
    }
    *o++ = '"';
    if (last) {
        *o++ = '\r';
        *o++ = '\n';
    } else {
        *o++ = ',';
    }
    *len = (size_t)(o - *buf);
    return 0;
}

int tv_api_do_audit(ctx *c)
{
    char format[8];
    int csv = tv_api_query_param(c->rq->query, "format", format, sizeof format) == 0 && strcmp(format, "csv") == 0;
    int rc;
    if (!csv) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "records", audit_json(c->st, c->u.id));
        rc = tv_api_reply_json(c->rs, 200, o);
        snprintf(c->rs->disposition, sizeof c->rs->disposition, "attachment; filename=\"televisit-audit.json\"");
    } else {
        size_t len = 0, cap = 4096;
        char *buf = malloc(cap);
        int bad = buf == NULL;
        for (int i = 0; i < 8 && !bad; i++)
            bad = csv_cell(&buf, &len, &cap, audit_cols[i], i == 7) != 0;
        sqlite3_stmt *q = bad ? NULL : audit_query(c->st, c->u.id);
        while (q && !bad && sqlite3_step(q) == SQLITE_ROW)
            for (int i = 0; i < 8 && !bad; i++)
                bad = csv_cell(&buf, &len, &cap, (const char *)sqlite3_column_text(q, i), i == 7) != 0;
        if (bad) {
            sqlite3_finalize(q);
            free(buf);
            return tv_api_reply_error(c->rs, 500, TV_ERR_NOMEM, "The server ran out of memory.");
        }
        sqlite3_finalize(q);
        c->rs->status = 200;
        c->rs->content_type = "text/csv; charset=utf-8";
        c->rs->body = buf;
        c->rs->body_len = len;
        snprintf(c->rs->disposition, sizeof c->rs->disposition, "attachment; filename=\"televisit-audit.csv\"");
        rc = 0;
    }
    tv_api_audit(c->st, c->rq, "data_exported", c->u.id, NULL, "audit log downloaded", csv ? "{\"format\":\"csv\"}" : "{\"format\":\"json\"}");
    return rc;
}

int tv_api_do_export(ctx *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "account", tv_api_me_json(c->api, c->st, &c->u));
    cJSON *visits = cJSON_AddArrayToObject(o, "visits");
    sqlite3_stmt *q = prep(c->st, "SELECT rowid, id, label, created_ms, expires_ms, state, ended_ms FROM visits"
                               " WHERE clinician_id = ? ORDER BY created_ms");
    if (q)
        sqlite3_bind_int64(q, 1, c->u.id);
    while (q && sqlite3_step(q) == SQLITE_ROW)
        tv_api_visit_json_add(c->st, q, visits);
    sqlite3_finalize(q);
    cJSON *chat = cJSON_AddArrayToObject(o, "chat");
    q = prep(c->st, "SELECT c.id, c.visit_id, c.sender, c.ts_ms, c.body FROM chat c JOIN visits v ON v.id = c.visit_id"
                 " WHERE v.clinician_id = ? ORDER BY c.id");
    if (q)
        sqlite3_bind_int64(q, 1, c->u.id);
    while (q && sqlite3_step(q) == SQLITE_ROW) {
        char text[4096 + 1];
        size_t tl = 0;
        if (tv_store_open_field(c->st, TV_RECORD_CHAT, "chat", "body", sqlite3_column_int64(q, 0), sqlite3_column_blob(q, 4),
                                (size_t)sqlite3_column_bytes(q, 4), (uint8_t *)text, sizeof text - 1, &tl) != 0)
            continue;
        text[tl] = '\0';
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "visit", (const char *)sqlite3_column_text(q, 1));
        cJSON_AddStringToObject(m, "from", (const char *)sqlite3_column_text(q, 2));
        cJSON_AddNumberToObject(m, "ts_ms", (double)sqlite3_column_int64(q, 3));
        cJSON_AddStringToObject(m, "text", text);
        cJSON_AddItemToArray(chat, m);
        sodium_memzero(text, sizeof text);
    }
    sqlite3_finalize(q);
    cJSON_AddItemToObject(o, "audit", audit_json(c->st, c->u.id));
    int rc = tv_api_reply_json(c->rs, 200, o);
    snprintf(c->rs->disposition, sizeof c->rs->disposition, "attachment; filename=\"televisit-my-data.json\"");
    tv_api_audit(c->st, c->rq, "data_exported", c->u.id, NULL, "all account data exported", "{\"format\":\"json\",\"scope\":\"all\"}");
    return rc;
}
