/* Visits: invite links made, listed, ended and revoked by their clinician, and the patient's check of
 * an invite. */
#define _POSIX_C_SOURCE 200809L
#include "tv_api_int.h"

int tv_api_visit_json_add(tv_store *st, sqlite3_stmt *q, cJSON *arr)
{
    cJSON *v = cJSON_CreateObject();
    int64_t row = sqlite3_column_int64(q, 0);
    cJSON_AddStringToObject(v, "id", (const char *)sqlite3_column_text(q, 1));
    char label[512] = "";
    size_t ll = 0;
    if (sqlite3_column_type(q, 2) == SQLITE_BLOB &&
        tv_store_open_field(st, TV_RECORD_VISIT_LABEL, "visits", "label", row, sqlite3_column_blob(q, 2),
                            (size_t)sqlite3_column_bytes(q, 2), (uint8_t *)label, sizeof label - 1, &ll) == 0)
        label[ll] = '\0';
    cJSON_AddStringToObject(v, "label", label);
    cJSON_AddNumberToObject(v, "created_ms", (double)sqlite3_column_int64(q, 3));
    cJSON_AddNumberToObject(v, "expires_ms", (double)sqlite3_column_int64(q, 4));
    cJSON_AddStringToObject(v, "state", (const char *)sqlite3_column_text(q, 5));
    if (sqlite3_column_type(q, 6) != SQLITE_NULL)
        cJSON_AddNumberToObject(v, "ended_ms", (double)sqlite3_column_int64(q, 6));
    cJSON_AddItemToArray(arr, v);
    return 0;
}

int tv_api_do_visit_create(ctx *c)
{
    const char *label = str_of(c->body, "label");   /* tv_json NAME: valid UTF-8, no controls, no bidi overrides */
    char token[TV_TOKEN_STRBYTES], id[17], link[TV_CONFIG_STR + 96];
    uint8_t hash[TV_TOKEN_HASHBYTES], raw[10];
    randombytes_buf(raw, sizeof raw);
    size_t idl;
    int64_t expires = c->rq->now_ms + (int64_t)c->api->cfg->invite_ttl_hours * 3600000;
    int rc = tv_base32_encode(raw, sizeof raw, 0, id, sizeof id, &idl);
    for (char *p = id; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    if (rc == 0)
        rc = tv_token_generate(token, sizeof token);
    if (rc == 0)
        rc = tv_token_hash(token, TV_TOKEN_CHARS, hash, sizeof hash);
    if (rc == 0)
        rc = begin(c->st);
    sqlite3_stmt *q = rc == 0 ? prep(c->st, "INSERT INTO visits (id, clinician_id, token_hash, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?)") : NULL;
    if (q) {
        sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 2, c->u.id);
        sqlite3_bind_blob(q, 3, hash, sizeof hash, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 4, c->rq->now_ms);
        sqlite3_bind_int64(q, 5, expires);
    }
    if (rc == 0)
        rc = run(q);
    if (rc == 0 && label && label[0]) {
        int64_t row = sqlite3_last_insert_rowid(c->st->db);
        uint8_t sealed[256 + TV_RECORD_OVERHEAD];
        size_t sl;
        rc = tv_store_seal(c->st, TV_RECORD_VISIT_LABEL, "visits", "label", row, (const uint8_t *)label, strlen(label),
                           sealed, sizeof sealed, &sl);
        q = rc == 0 ? prep(c->st, "UPDATE visits SET label = ? WHERE rowid = ?") : NULL;
        if (q) {
            sqlite3_bind_blob(q, 1, sealed, (int)sl, SQLITE_TRANSIENT);
            sqlite3_bind_int64(q, 2, row);
        }
        if (rc == 0)
            rc = run(q);
    }
    rc = commit(c->st, rc);
    if (rc == 0) {
        tv_api_audit(c->st, c->rq, "visit_created", c->u.id, id, "visit created with an invite link", NULL);
        /* the invite token is the one secret allowed in a URL: it is what the patient opens */
        snprintf(link, sizeof link, "%s/v/%s", c->api->public_url, token);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "link", link);
        cJSON_AddStringToObject(o, "label", label ? label : "");
        cJSON_AddNumberToObject(o, "created_ms", (double)c->rq->now_ms);
        cJSON_AddNumberToObject(o, "expires_ms", (double)expires);
        cJSON_AddStringToObject(o, "state", "open");
        rc = tv_api_reply_json(c->rs, 201, o);
    } else {
        rc = tv_api_reply_error(c->rs, 500, TV_ERR_STORAGE, "The server could not create the visit. Try again.");
    }
    sodium_memzero(token, sizeof token);
    return rc;
}

int tv_api_do_visit_list(ctx *c)
{
    /* expired ones are closed lazily, so the list tells the truth */
    sqlite3_stmt *q = prep(c->st, "SELECT rowid, id, label, created_ms, expires_ms,"
                               " CASE WHEN state = 'open' AND expires_ms < ? THEN 'expired' ELSE state END, ended_ms"
                               " FROM visits WHERE clinician_id = ? ORDER BY created_ms DESC LIMIT 200");
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "visits");
    if (q) {
        sqlite3_bind_int64(q, 1, c->rq->now_ms);
        sqlite3_bind_int64(q, 2, c->u.id);
        while (sqlite3_step(q) == SQLITE_ROW)
            tv_api_visit_json_add(c->st, q, arr);
    }
    sqlite3_finalize(q);
    return tv_api_reply_json(c->rs, 200, o);
}

static int do_visit_close(ctx *c, const char *state)
{
    const char *id = str_of(c->body, "id");
    /* another clinician's visit looks exactly like one that does not exist */
    sqlite3_stmt *q = prep(c->st, "UPDATE visits SET state = ?, ended_ms = ? WHERE id = ? AND clinician_id = ? AND state = 'open'");
    if (q) {
        sqlite3_bind_text(q, 1, state, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, c->rq->now_ms);
        sqlite3_bind_text(q, 3, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 4, c->u.id);
    }
    int rc = q && sqlite3_step(q) == SQLITE_DONE ? (sqlite3_changes(c->st->db) == 1 ? 0 : TV_ERR_NOT_FOUND) : TV_ERR_STORAGE;
    sqlite3_finalize(q);
    if (rc == 0) {
        tv_api_audit(c->st, c->rq, strcmp(state, "revoked") == 0 ? "visit_revoked" : "session_ended", c->u.id, id,
              strcmp(state, "revoked") == 0 ? "invite link revoked" : "visit ended by the clinician", NULL);
        if (c->api->notify)
            c->api->notify(c->api->notify_ctx, strcmp(state, "revoked") == 0 ? "visit_revoked" : "visit_ended", id);
        rc = tv_api_reply_ok(c->rs, 200, "state", state);
    } else {
        rc = tv_api_reply_error(c->rs, rc == TV_ERR_NOT_FOUND ? 404 : 500, rc,
                         rc == TV_ERR_NOT_FOUND ? "No open visit of yours has this id." : "The server could not save this.");
    }
    return rc;
}

/* For the patient's page: is this invite usable? Says nothing about the visit beyond its state. */
int tv_api_do_invite(ctx *c)
{
    const char *token = str_of(c->body, "token");
    uint8_t hash[TV_TOKEN_HASHBYTES];
    int rc = tv_token_hash(token, strlen(token), hash, sizeof hash);
    if (rc != 0)
        return tv_api_reply_error(c->rs, 404, TV_ERR_NOT_FOUND, "This visit link is not valid. Check it, or ask for a new one.");
    sqlite3_stmt *q = prep(c->st, "SELECT state, expires_ms FROM visits WHERE token_hash = ?");
    if (q == NULL)
        return tv_api_reply_error(c->rs, 500, TV_ERR_STORAGE, "The server could not check this link.");
    sqlite3_bind_blob(q, 1, hash, sizeof hash, SQLITE_TRANSIENT);
    if (sqlite3_step(q) != SQLITE_ROW) {
        sqlite3_finalize(q);
        return tv_api_reply_error(c->rs, 404, TV_ERR_NOT_FOUND, "This visit link is not valid. Check it, or ask for a new one.");
    }
    char state[12];
    snprintf(state, sizeof state, "%s", (const char *)sqlite3_column_text(q, 0));
    int64_t expires = sqlite3_column_int64(q, 1);
    sqlite3_finalize(q);
    if (strcmp(state, "open") == 0 && expires < c->rq->now_ms)
        snprintf(state, sizeof state, "expired");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "state", state);
    cJSON_AddNumberToObject(o, "expires_ms", (double)expires);
    /* the consent text tells the patient how long chat is kept */
    cJSON_AddNumberToObject(o, "chat_retention_days", c->api->cfg->chat_retention_days);
    return tv_api_reply_json(c->rs, 200, o);
}

int tv_api_do_visit_end(ctx *c) { return do_visit_close(c, "ended"); }

int tv_api_do_visit_revoke(ctx *c) { return do_visit_close(c, "revoked"); }
