#define _POSIX_C_SOURCE 200809L
#include "tv_api.h"
#include "tv_audit.h"
#include "tv_auditlog.h"
#include "tv_base32.h"
#include "tv_bucket.h"
#include "tv_err.h"
#include "tv_mail.h"
#include "tv_json.h"
#include "tv_qr.h"
#include "tv_record.h"
#include "tv_totp.h"
#include "tv_utf8.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- answers ---- */

static int reply_json(tv_api_resp *rs, int status, cJSON *obj)
{
    rs->status = status;
    rs->content_type = "application/json";
    rs->body = cJSON_PrintUnformatted(obj);
    tv_json_free_wiped(obj);
    if (rs->body == NULL)
        return TV_ERR_NOMEM;
    rs->body_len = strlen(rs->body);
    return 0;
}

static int reply_error(tv_api_resp *rs, int status, int code, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", tv_err_name(code));
    cJSON_AddStringToObject(o, "message", message);
    return reply_json(rs, status, o);
}

static int reply_ok(tv_api_resp *rs, int status, const char *key, const char *value)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, key, value);
    return reply_json(rs, status, o);
}

void tv_api_resp_free(tv_api_resp *rs)
{
    if (rs->body) {
        sodium_memzero(rs->body, rs->body_len);   /* answers carry secrets: TOTP seeds, recovery codes */
        free(rs->body);
    }
    if (rs->mail) {
        sodium_memzero(rs->mail, sizeof *rs->mail);
        free(rs->mail);
    }
    memset(rs, 0, sizeof *rs);
}

void tv_api_mail_send(tv_api *api, tv_api_mail *m)
{
    if (m == NULL)
        return;
    char err[256];
    if (tv_mail_send(api->cfg, m->to, m->subject, m->text, m->link[0] ? m->link : NULL, err, sizeof err) != 0)
        fprintf(stderr, "televisitd: %s mail not sent: %s\n", m->what, err);
    sodium_memzero(m, sizeof *m);
    free(m);
}

/* One message per answer at most; sent now unless the caller defers it (the workers do). */
static void mail_out(tv_api *api, const tv_api_req *rq, tv_api_resp *rs, const char *what, const char *to,
                     const char *subject, const char *text, const char *link)
{
    tv_api_mail *m = calloc(1, sizeof *m);
    if (m == NULL) {
        fprintf(stderr, "televisitd: %s mail not sent: out of memory\n", what);
        return;
    }
    snprintf(m->what, sizeof m->what, "%s", what);
    snprintf(m->to, sizeof m->to, "%s", to);
    snprintf(m->subject, sizeof m->subject, "%s", subject);
    snprintf(m->text, sizeof m->text, "%s", text);
    snprintf(m->link, sizeof m->link, "%s", link ? link : "");
    if (rq->defer_mail && rs->mail == NULL)
        rs->mail = m;
    else
        tv_api_mail_send(api, m);
}

/* ---- request bodies and queries ---- */

static const char *str_of(cJSON *root, const char *name)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The value of name in the request's query (tv_api_req.query: name=value pairs joined by '&',
 * values percent-encoded), decoded. TV_ERR_NOT_FOUND, or TV_ERR_TOO_LONG when it does not fit. */
static int query_param(const char *query, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (const char *p = query; p && *p;) {
        size_t len = strcspn(p, "&");
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t o = 0;
            for (const char *v = p + n + 1; v < p + len; v++) {
                if (o + 1 >= size)
                    return TV_ERR_TOO_LONG;
                unsigned char byte;
                size_t got = 0;
                if (*v == '%' && v + 2 < p + len && sodium_hex2bin(&byte, 1, v + 1, 2, NULL, &got, NULL) == 0 && got == 1) {
                    out[o++] = (char)byte;
                    v += 2;
                } else {
                    out[o++] = *v;
                }
            }
            out[o] = '\0';
            return 0;
        }
        p += len;
        p += *p == '&';
    }
    return TV_ERR_NOT_FOUND;
}

/* ---- small database helpers ---- */

static sqlite3_stmt *prep(tv_store *st, const char *sql)
{
    sqlite3_stmt *q = NULL;
    return sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) == SQLITE_OK ? q : NULL;
}

static int run(sqlite3_stmt *q)
{
    int rc = q && sqlite3_step(q) == SQLITE_DONE ? 0 : TV_ERR_STORAGE;
    sqlite3_finalize(q);
    return rc;
}

static int begin(tv_store *st) { return sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : TV_ERR_STORAGE; }
static int commit(tv_store *st, int rc)
{
    if (rc == 0 && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc ? rc : TV_ERR_STORAGE;
}

/* One statement whose only parameter is a row id (most of the writes here). */
static int exec_id(tv_store *st, const char *sql, int64_t id)
{
    sqlite3_stmt *q = prep(st, sql);
    if (q)
        sqlite3_bind_int64(q, 1, id);
    return run(q);
}

static int reply_storage(tv_api_resp *rs)
{
    return reply_error(rs, 500, TV_ERR_STORAGE, "The server could not save this. Try again.");
}

static void audit(tv_store *st, const tv_api_req *rq, const char *type, int64_t uid, const char *room,
                  const char *message, const char *extra)
{
    char who[32] = "";
    if (uid > 0)
        snprintf(who, sizeof who, "user:%lld", (long long)uid);
    tv_audit_record r = { 0, rq->now_ms, type, who, message ? message : "", room ? room : "", rq->ip ? rq->ip : "",
                          extra ? extra : "" };
    if (tv_auditlog_append(st, &r, NULL) != 0)
        fprintf(stderr, "televisitd: could not append %s to the audit log\n", type);
}

/* ---- users ---- */

typedef struct user {
    int64_t id;
    char email[TV_MAIL_ADDRESS_MAX + 1];
    char pw_hash[TV_PWHASH_STRBYTES];
    char status[12];
    int totp_enabled, is_admin;
    int64_t totp_last_step;
    char ip_allow[512];
    /* the session the request came with */
    uint8_t session_hash[TV_TOKEN_HASHBYTES];
    int64_t session_created_ms;
    int64_t session_sso_ms;    /* the provider sign-in that made the session, or 0 */
} user;

#define USER_COLUMNS "id, email, pw_hash, status, totp_enabled, is_admin, coalesce(totp_last_step, -1), ip_allow"

static int user_row(sqlite3_stmt *q, user *u)
{
    memset(u, 0, sizeof *u);
    u->id = sqlite3_column_int64(q, 0);
    snprintf(u->email, sizeof u->email, "%s", (const char *)sqlite3_column_text(q, 1));
    snprintf(u->pw_hash, sizeof u->pw_hash, "%s", (const char *)sqlite3_column_text(q, 2));
    snprintf(u->status, sizeof u->status, "%s", (const char *)sqlite3_column_text(q, 3));
    u->totp_enabled = sqlite3_column_int(q, 4);
    u->is_admin = sqlite3_column_int(q, 5);
    u->totp_last_step = sqlite3_column_int64(q, 6);
    snprintf(u->ip_allow, sizeof u->ip_allow, "%s", (const char *)sqlite3_column_text(q, 7));
    return 0;
}

static int user_by_email(tv_store *st, const char *email, user *u)
{
    sqlite3_stmt *q = prep(st, "SELECT " USER_COLUMNS " FROM users WHERE email = ?");
    if (q == NULL)
        return TV_ERR_STORAGE;
    sqlite3_bind_text(q, 1, email, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q) == SQLITE_ROW ? user_row(q, u) : TV_ERR_NOT_FOUND;
    sqlite3_finalize(q);
    return rc;
}

static int user_by_id(tv_store *st, int64_t id, user *u)
{
    sqlite3_stmt *q = prep(st, "SELECT " USER_COLUMNS " FROM users WHERE id = ?");
    if (q == NULL)
        return TV_ERR_STORAGE;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q) == SQLITE_ROW ? user_row(q, u) : TV_ERR_NOT_FOUND;
    sqlite3_finalize(q);
    return rc;
}

static void wipe_user(user *u) { sodium_memzero(u, sizeof *u); }

/* What a handler gets from the dispatcher (tv_api_handle): the request, the answer to fill, the
 * session's user (every route but the open ones) and the body, checked against the route's schema.
 * The dispatcher frees and wipes both after the handler. */
typedef struct ctx {
    tv_api *api;
    tv_store *st;
    const tv_api_req *rq;
    tv_api_resp *rs;
    user u;
    cJSON *body;
} ctx;

/* ---- rate limit per source address ---- */

static int rate_ok(tv_api *api, const char *ip, int64_t now, int *retry_s)
{
    double rate = api->cfg->auth_per_minute / 60000.0, cap = api->cfg->auth_per_minute;
    uint64_t h;
    crypto_shorthash((uint8_t *)&h, (const uint8_t *)ip, strlen(ip), api->bucket_key);
    pthread_mutex_lock(&api->lock);
    tv_api_bucket *b = &api->buckets[h % api->nbuckets];
    /* Another address in the slot hands it over only once its bucket is full again (it has spent
     * nothing lately); until then the two share one bucket. So a collision can tighten a limit,
     * never loosen one, and the keyed hash keeps anyone from choosing whom he collides with. */
    if (strcmp(b->ip, ip) != 0 && (b->ip[0] == '\0' || tv_bucket_level(&b->bucket, cap, rate, now) >= cap)) {
        snprintf(b->ip, sizeof b->ip, "%s", ip);
        tv_bucket_fill(&b->bucket, cap, now);
    }
    int64_t wait_ms = 0;
    int ok = tv_bucket_take(&b->bucket, cap, rate, now, &wait_ms);
    pthread_mutex_unlock(&api->lock);
    if (!ok)
        *retry_s = (int)(wait_ms / 1000) + 1;
    return ok;
}

/* ---- failed sign-ins, per account and source address (docs/api.md, "Failed sign-ins") ----
 * A count per account alone let anyone who knows an address keep its owner locked out. Counted per
 * pair, a stranger's failures block only the stranger; the owner, from an address with no recent
 * failures, still gets in with the right password and second factor. Unknown addresses are counted
 * exactly like accounts, in the same table, so neither the answers nor their timing tell them apart. */

typedef struct throttle {
    uint8_t subject[32];   /* keyed hash of the lower-cased e-mail */
    char source[INET6_ADDRSTRLEN + 4];
} throttle;

static void throttle_of(tv_store *st, const char *email, const char *ip, throttle *t)
{
    /* as the users table compares addresses (COLLATE NOCASE: ASCII case), or spreading failures over
     * A@x and a@x would count apart for an unknown address and together for a real one */
    char lower[TV_MAIL_ADDRESS_MAX + 1];
    size_t n = 0;
    for (; email[n] && n < TV_MAIL_ADDRESS_MAX; n++)
        lower[n] = (char)(email[n] >= 'A' && email[n] <= 'Z' ? email[n] + 32 : email[n]);
    uint8_t key[TV_RECORD_KEYBYTES];
    tv_record_subkey(st->master, TV_RECORD_THROTTLE, key);
    crypto_generichash(t->subject, sizeof t->subject, (const uint8_t *)lower, n, key, sizeof key);
    sodium_memzero(key, sizeof key);
    sodium_memzero(lower, sizeof lower);
    /* One IPv6 host usually holds a whole /64: counted as one source, or it could take a fresh
     * address for every few guesses. An IPv4 address mapped into IPv6 counts as itself. */
    uint8_t a6[16];
    if (ip && inet_pton(AF_INET6, ip, a6) == 1) {
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        if (memcmp(a6, mapped, sizeof mapped) == 0) {
            inet_ntop(AF_INET, a6 + 12, t->source, sizeof t->source);
        } else {
            memset(a6 + 8, 0, 8);
            inet_ntop(AF_INET6, a6, t->source, sizeof t->source);
            strcat(t->source, "/64");
        }
    } else {
        snprintf(t->source, sizeof t->source, "%s", ip ? ip : "");
    }
}

/* When the pair's block ends, or 0 when it is not blocked. */
static int64_t throttle_until(tv_store *st, const throttle *t, int64_t now)
{
    sqlite3_stmt *q = prep(st, "SELECT until_ms FROM auth_throttle WHERE subject = ? AND source = ?");
    int64_t until = 0;
    if (q) {
        sqlite3_bind_blob(q, 1, t->subject, sizeof t->subject, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, t->source, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(q) == SQLITE_ROW)
            until = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    return until > now ? until : 0;
}

static int64_t lock_duration(int blocks)
{
    int64_t d = TV_API_LOCK_MS;
    for (int i = 1; i < blocks && d < TV_API_LOCK_MAX_MS; i++)
        d *= 2;   /* 15 min, 30, 60... capped at a day */
    return d < TV_API_LOCK_MAX_MS ? d : TV_API_LOCK_MAX_MS;
}

/* Counts one failed password, code or recovery code of the pair; uid 0 for an unknown address.
 * Returns when the block it caused ends, or 0 when it caused none. */
static int64_t throttle_fail(tv_store *st, const tv_api_req *rq, const throttle *t, int64_t uid, const char *what)
{
    int64_t now = rq->now_ms, until = 0;
    int blocks = 0;
    if (begin(st) == 0) {
        int rc = 0, failures = 0, recent = 0;
        /* pairs quiet for a day are forgotten, escalation and all: the table holds a day of failures */
        sqlite3_stmt *q = prep(st, "DELETE FROM auth_throttle WHERE last_ms < ? AND until_ms < ?");
        if (q) {
            sqlite3_bind_int64(q, 1, now - TV_API_THROTTLE_FORGET_MS);
            sqlite3_bind_int64(q, 2, now);
        }
        rc = run(q);
        q = rc == 0 ? prep(st, "SELECT failures, blocks FROM auth_throttle WHERE subject = ? AND source = ?") : NULL;
        if (q) {
            sqlite3_bind_blob(q, 1, t->subject, sizeof t->subject, SQLITE_TRANSIENT);
            sqlite3_bind_text(q, 2, t->source, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(q) == SQLITE_ROW)
                failures = sqlite3_column_int(q, 0), blocks = sqlite3_column_int(q, 1);
            sqlite3_finalize(q);
        }
        /* the account's failures of the last hour, from every source (a block stands for the
         * failures that caused it) */
        q = rc == 0 ? prep(st, "SELECT coalesce(sum(failures + blocks * ?), 0) FROM auth_throttle WHERE subject = ? AND last_ms >= ?")
                    : NULL;
        if (q) {
            sqlite3_bind_int(q, 1, TV_API_LOCK_FAILURES);
            sqlite3_bind_blob(q, 2, t->subject, sizeof t->subject, SQLITE_TRANSIENT);
            sqlite3_bind_int64(q, 3, now - 3600000);
            if (sqlite3_step(q) == SQLITE_ROW)
                recent = sqlite3_column_int(q, 0);
            sqlite3_finalize(q);
        }
        /* Under a spread-out attack (ASVS V2.2.1's ceiling of 100 failures an hour), each further
         * source gets one try: guessing then needs a new address per guess. */
        if (++failures >= (recent >= TV_API_ACCOUNT_FAILURES_HOUR ? 1 : TV_API_LOCK_FAILURES)) {
            failures = 0;
            until = now + lock_duration(++blocks);
        }
        q = rc == 0 ? prep(st, "INSERT INTO auth_throttle (subject, source, failures, blocks, until_ms, last_ms) VALUES (?, ?, ?, ?, ?, ?)"
                               " ON CONFLICT (subject, source) DO UPDATE SET failures = excluded.failures,"
                               " blocks = excluded.blocks, until_ms = excluded.until_ms, last_ms = excluded.last_ms")
                    : NULL;
        if (q) {
            sqlite3_bind_blob(q, 1, t->subject, sizeof t->subject, SQLITE_TRANSIENT);
            sqlite3_bind_text(q, 2, t->source, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int(q, 3, failures);
            sqlite3_bind_int(q, 4, blocks);
            sqlite3_bind_int64(q, 5, until);
            sqlite3_bind_int64(q, 6, now);
        }
        if (commit(st, rc == 0 ? run(q) : rc) != 0)
            until = 0;
    }
    char extra[96];
    snprintf(extra, sizeof extra, "{\"reason\":\"%s\"}", what);
    audit(st, rq, "login_failure", uid, NULL, uid ? "authentication failed" : "unknown e-mail", extra);
    if (until) {
        snprintf(extra, sizeof extra, "{\"minutes\":%lld,\"source\":\"%s\"}", (long long)(lock_duration(blocks) / 60000), t->source);
        audit(st, rq, "lockout", uid, NULL, "sign-in from this address blocked after repeated failures", extra);
    }
    return until;
}

/* A full session was granted from this source: its count and escalation start over. */
static void throttle_clear(tv_store *st, const throttle *t)
{
    sqlite3_stmt *q = prep(st, "DELETE FROM auth_throttle WHERE subject = ? AND source = ?");
    if (q) {
        sqlite3_bind_blob(q, 1, t->subject, sizeof t->subject, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, t->source, -1, SQLITE_TRANSIENT);
    }
    run(q);
}

/* A password reset proves the mailbox: every block on the account goes, from every source. */
static int throttle_clear_account(tv_store *st, const char *email)
{
    throttle t;
    throttle_of(st, email, "", &t);
    sqlite3_stmt *q = prep(st, "DELETE FROM auth_throttle WHERE subject = ?");
    if (q)
        sqlite3_bind_blob(q, 1, t.subject, sizeof t.subject, SQLITE_TRANSIENT);
    return run(q);
}

static int reply_locked(tv_api_resp *rs, int64_t until, int64_t now)
{
    rs->retry_after_s = (int)((until - now + 999) / 1000);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", tv_err_name(TV_ERR_LOCKED));
    cJSON_AddStringToObject(o, "message", "Too many failed attempts from your network: sign-in is blocked here for a while.");
    cJSON_AddNumberToObject(o, "retry_after_s", rs->retry_after_s);
    return reply_json(rs, 423, o);
}

static int reply_bad_credentials(tv_api_resp *rs)
{
    return reply_error(rs, 401, TV_ERR_CREDENTIALS, "The e-mail or the password is wrong.");
}

/* A wrong password or code on a signed-in route counts toward the pair's block like one at sign-in. */
static int reply_auth_failure(tv_store *st, const tv_api_req *rq, user *u, const char *what,
                              const char *message, tv_api_resp *rs)
{
    throttle t;
    throttle_of(st, u->email, rq->ip, &t);
    int64_t until = throttle_fail(st, rq, &t, u->id, what);
    if (until)
        return reply_locked(rs, until, rq->now_ms);
    return reply_error(rs, 401, TV_ERR_CREDENTIALS, message);
}

/* Before a signed-in route checks a password or code: a blocked pair is answered without checking,
 * or a stolen session could go on guessing the password there. 1 when the answer is in rs. */
static int reply_if_blocked(tv_store *st, const tv_api_req *rq, const user *u, tv_api_resp *rs)
{
    throttle t;
    throttle_of(st, u->email, rq->ip, &t);
    int64_t until = throttle_until(st, &t, rq->now_ms);
    return until ? (reply_locked(rs, until, rq->now_ms), 1) : 0;
}

/* ---- sessions ---- */

static void cookie(tv_api_resp *rs, const char *name, const char *token, int64_t max_age_s)
{
    /* __Host-: Secure, Path=/, no Domain. SameSite=None + Partitioned: it works inside an EHR's iframe
     * with third-party cookies blocked, in that EHR's partition only. */
    snprintf(rs->set_cookie, sizeof rs->set_cookie, "%s=%s; Path=/; Secure; HttpOnly; SameSite=None; Partitioned; Max-Age=%lld",
             name, token ? token : "", (long long)max_age_s);
}

static void session_cookie(tv_api_resp *rs, const char *token, int64_t max_age_s)
{
    cookie(rs, TV_API_COOKIE, token, max_age_s);
}

/* sso_ms: when a provider sign-in made it (0 for a password): an account without a password
 * re-authenticates with that (reauth) */
static int session_create(tv_api *api, tv_store *st, const tv_api_req *rq, int64_t uid, const char *stage,
                          int64_t sso_ms, tv_api_resp *rs)
{
    char token[TV_TOKEN_STRBYTES];
    uint8_t hash[TV_TOKEN_HASHBYTES];
    if (tv_token_generate(token, sizeof token) != 0 || tv_token_hash(token, TV_TOKEN_CHARS, hash, sizeof hash) != 0)
        return TV_ERR_INVALID;
    sqlite3_stmt *q = prep(st, "INSERT INTO sessions (hash, user_id, stage, created_ms, last_ms, ip, sso_ms) VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (q) {
        sqlite3_bind_blob(q, 1, hash, sizeof hash, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 2, uid);
        sqlite3_bind_text(q, 3, stage, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 4, rq->now_ms);
        sqlite3_bind_int64(q, 5, rq->now_ms);
        sqlite3_bind_text(q, 6, rq->ip ? rq->ip : "", -1, SQLITE_TRANSIENT);
        if (sso_ms > 0)
            sqlite3_bind_int64(q, 7, sso_ms);
    }
    int rc = run(q);
    if (rc == 0)
        session_cookie(rs, token, strcmp(stage, "full") == 0 ? (int64_t)api->cfg->session_max_hours * 3600
                                                             : TV_API_TOTP_STAGE_MS / 1000);
    sodium_memzero(token, sizeof token);
    return rc;
}

static int session_delete(tv_store *st, const uint8_t hash[TV_TOKEN_HASHBYTES])
{
    sqlite3_stmt *q = prep(st, "DELETE FROM sessions WHERE hash = ?");
    if (q)
        sqlite3_bind_blob(q, 1, hash, TV_TOKEN_HASHBYTES, SQLITE_TRANSIENT);
    return run(q);
}

static int sessions_delete_user(tv_store *st, int64_t uid, const uint8_t *except)
{
    sqlite3_stmt *q = prep(st, except ? "DELETE FROM sessions WHERE user_id = ? AND hash != ?"
                                      : "DELETE FROM sessions WHERE user_id = ?");
    if (q) {
        sqlite3_bind_int64(q, 1, uid);
        if (except)
            sqlite3_bind_blob(q, 2, except, TV_TOKEN_HASHBYTES, SQLITE_TRANSIENT);
    }
    return run(q);
}

int tv_api_cookie_token(const char *h, char *out, size_t out_size)
{
    return tv_api_cookie_named(h, TV_API_COOKIE, out, out_size);
}

int tv_api_cookie_named(const char *h, const char *name, char *out, size_t out_size)
{
    const size_t nlen = strlen(name);
    for (const char *p = h; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == nlen + 1 + TV_TOKEN_CHARS && strncmp(p, name, nlen) == 0 && p[nlen] == '=' &&
            tv_token_check(p + nlen + 1, TV_TOKEN_CHARS) == 0 && out_size >= TV_TOKEN_STRBYTES) {
            memcpy(out, p + nlen + 1, TV_TOKEN_CHARS);
            out[TV_TOKEN_CHARS] = '\0';
            return 0;
        }
        p += len;
    }
    return TV_ERR_NOT_FOUND;
}

/* Loads the session's user. Expired sessions are deleted. stage: "full" or "totp". */
static int session_load(tv_api *api, tv_store *st, const char *token, const char *ip, int64_t now, const char *stage,
                        int touch, user *u)
{
    uint8_t hash[TV_TOKEN_HASHBYTES];
    if (token == NULL || tv_token_hash(token, strlen(token), hash, sizeof hash) != 0)   /* checks the form too */
        return TV_ERR_UNAUTHORIZED;
    sqlite3_stmt *q = prep(st, "SELECT user_id, stage, created_ms, last_ms, coalesce(sso_ms, 0) FROM sessions WHERE hash = ?");
    if (q == NULL)
        return TV_ERR_STORAGE;
    sqlite3_bind_blob(q, 1, hash, sizeof hash, SQLITE_TRANSIENT);
    int rc = TV_ERR_UNAUTHORIZED;
    int64_t uid = 0, created = 0, last = 0, sso_ms = 0;
    char got_stage[8] = "";
    if (sqlite3_step(q) == SQLITE_ROW) {
        uid = sqlite3_column_int64(q, 0);
        snprintf(got_stage, sizeof got_stage, "%s", (const char *)sqlite3_column_text(q, 1));
        created = sqlite3_column_int64(q, 2);
        last = sqlite3_column_int64(q, 3);
        sso_ms = sqlite3_column_int64(q, 4);
        rc = 0;
    }
    sqlite3_finalize(q);
    if (rc != 0)
        return rc;
    int full = strcmp(got_stage, "full") == 0;
    int64_t idle = (int64_t)api->cfg->session_idle_min * 60000, max = (int64_t)api->cfg->session_max_hours * 3600000;
    if ((full && (now - last > idle || now - created > max)) || (!full && now - created > TV_API_TOTP_STAGE_MS)) {
        session_delete(st, hash);
        return TV_ERR_UNAUTHORIZED;
    }
    if (strcmp(got_stage, stage) != 0)
        return TV_ERR_UNAUTHORIZED;
    if ((rc = user_by_id(st, uid, u)) != 0)
        return rc == TV_ERR_NOT_FOUND ? TV_ERR_UNAUTHORIZED : rc;
    if (strcmp(u->status, "active") != 0 || !tv_api_ip_allowed(u->ip_allow, ip)) {
        wipe_user(u);
        return TV_ERR_UNAUTHORIZED;
    }
    memcpy(u->session_hash, hash, sizeof hash);
    u->session_created_ms = created;
    u->session_sso_ms = sso_ms;
    if (touch && full && now - last >= 1000) {   /* the inactivity clock; at most one write a second */
        q = prep(st, "UPDATE sessions SET last_ms = ? WHERE hash = ?");
        if (q) {
            sqlite3_bind_int64(q, 1, now);
            sqlite3_bind_blob(q, 2, hash, sizeof hash, SQLITE_TRANSIENT);
        }
        run(q);
    }
    return 0;
}

int tv_api_session_user(tv_api *api, tv_store *st, const char *token, const char *ip, int64_t now_ms, int touch,
                        int64_t *uid)
{
    user u;
    int rc = session_load(api, st, token, ip, now_ms, "full", touch, &u);
    if (rc == 0 && api->cfg->require_2fa && !u.totp_enabled)
        rc = TV_ERR_TOTP_REQUIRED;
    if (rc == 0)
        *uid = u.id;
    wipe_user(&u);
    return rc;
}

/* ---- IP allow-list ---- */

int tv_api_same_origin(const char *origin, const char *host)
{
    return origin && host && host[0] && strncmp(origin, "https://", 8) == 0 && strcmp(origin + 8, host) == 0;
}

int tv_api_ip_allowed(const char *list, const char *ip)
{
    if (list == NULL || list[0] == '\0')
        return 1;
    struct in_addr a4;
    int is4 = inet_pton(AF_INET, ip, &a4) == 1;
    char item[64];
    for (const char *p = list; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item ? n : sizeof item - 1), p);
        p += n;
        char *slash = strchr(item, '/');
        if (slash && is4) {
            *slash = '\0';
            struct in_addr net;
            char *end;
            long bits = strtol(slash + 1, &end, 10);
            if (*end == '\0' && bits >= 0 && bits <= 32 && inet_pton(AF_INET, item, &net) == 1) {
                uint32_t mask = bits == 0 ? 0 : htonl(0xffffffffu << (32 - bits));
                if ((a4.s_addr & mask) == (net.s_addr & mask))
                    return 1;
            }
        } else if (strcmp(item, ip) == 0) {
            return 1;
        }
    }
    return 0;
}

static int ip_list_valid(const char *list)
{
    char item[64];
    for (const char *p = list; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        if (n >= sizeof item)
            return 0;
        snprintf(item, sizeof item, "%.*s", (int)n, p);
        p += n;
        char *slash = strchr(item, '/');
        uint8_t buf[16];
        if (slash) {
            *slash = '\0';
            char *end;
            long bits = strtol(slash + 1, &end, 10);
            if (slash[1] == '\0' || *end != '\0' || bits < 0 || bits > 32 || inet_pton(AF_INET, item, buf) != 1)
                return 0;
        } else if (inet_pton(AF_INET, item, buf) != 1 && inet_pton(AF_INET6, item, buf) != 1) {
            return 0;
        }
    }
    return 1;
}

/* ---- mailed single-use keys ---- */

/* pw_hash: an activation key's own password (the registration that made it), or NULL. */
static int mail_key_create(tv_store *st, int64_t uid, const char *kind, int64_t expires_ms, const char *pw_hash,
                           char token[TV_TOKEN_STRBYTES])
{
    uint8_t hash[TV_TOKEN_HASHBYTES];
    if (tv_token_generate(token, TV_TOKEN_STRBYTES) != 0 || tv_token_hash(token, TV_TOKEN_CHARS, hash, sizeof hash) != 0)
        return TV_ERR_INVALID;
    sqlite3_stmt *q = prep(st, "INSERT INTO mail_keys (hash, user_id, kind, expires_ms, pw_hash) VALUES (?, ?, ?, ?, ?)");
    if (q) {
        sqlite3_bind_blob(q, 1, hash, sizeof hash, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 2, uid);
        sqlite3_bind_text(q, 3, kind, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 4, expires_ms);
        if (pw_hash)
            sqlite3_bind_text(q, 5, pw_hash, -1, SQLITE_TRANSIENT);
    }
    return run(q);
}

/* Marks the key used (inside the caller's transaction) and returns its user. */
static int mail_key_take(tv_store *st, const char *token, const char *kind, int64_t now, int64_t *uid)
{
    uint8_t hash[TV_TOKEN_HASHBYTES];
    if (token == NULL || tv_token_hash(token, strlen(token), hash, sizeof hash) != 0)
        return TV_ERR_TOKEN_FORMAT;
    sqlite3_stmt *q = prep(st, "SELECT user_id, expires_ms, used_ms FROM mail_keys WHERE hash = ? AND kind = ?");
    if (q == NULL)
        return TV_ERR_STORAGE;
    sqlite3_bind_blob(q, 1, hash, sizeof hash, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, kind, -1, SQLITE_STATIC);
    int rc = TV_ERR_TOKEN_MISMATCH;
    if (sqlite3_step(q) == SQLITE_ROW) {
        *uid = sqlite3_column_int64(q, 0);
        if (sqlite3_column_type(q, 2) != SQLITE_NULL)
            rc = TV_ERR_TOKEN_MISMATCH;   /* single use */
        else if (sqlite3_column_int64(q, 1) < now)
            rc = TV_ERR_TOKEN_EXPIRED;
        else
            rc = 0;
    }
    sqlite3_finalize(q);
    if (rc != 0)
        return rc;
    q = prep(st, "UPDATE mail_keys SET used_ms = ? WHERE hash = ?");
    if (q) {
        sqlite3_bind_int64(q, 1, now);
        sqlite3_bind_blob(q, 2, hash, sizeof hash, SQLITE_TRANSIENT);
    }
    return run(q);
}

static int reply_key_error(tv_api_resp *rs, int rc)
{
    if (rc == TV_ERR_TOKEN_EXPIRED)
        return reply_error(rs, 400, rc, "This link has expired. Ask for a new one.");
    if (rc == TV_ERR_TOKEN_FORMAT || rc == TV_ERR_TOKEN_MISMATCH)
        return reply_error(rs, 400, TV_ERR_TOKEN_MISMATCH, "This link is not valid or was already used.");
    return reply_storage(rs);
}

/* ---- passwords ---- */

static const char *const rule_names[] = { "length", "upper", "lower", "digit", "strength" };

#define RULE_FORMAT (1u << 5)   /* not valid text, or too long */

/* The rules pw breaks (bit n: rule_names[n], or RULE_FORMAT), 0 when it meets the policy; s, when
 * given, its strength. Only a route turns the verdict into an answer. */
static uint32_t password_rules(tv_api *api, const char *pw, const char *email, tv_password_strength *s)
{
    char local[TV_MAIL_ADDRESS_MAX + 1];
    snprintf(local, sizeof local, "%s", email ? email : "");
    char *at = strchr(local, '@');
    if (at)
        *at = '\0';
    const char *inputs[] = { local, email ? email : "", "televisit", NULL };
    uint32_t failed = 0;
    tv_password_strength ignored;
    int rc = tv_password_check(&api->policy, pw, strlen(pw), inputs, &failed, s ? s : &ignored);
    sodium_memzero(local, sizeof local);
    return rc != 0 ? failed | RULE_FORMAT : failed;
}

static cJSON *rules_json(uint32_t failed)
{
    cJSON *arr = cJSON_CreateArray();
    if (failed & RULE_FORMAT)
        cJSON_AddItemToArray(arr, cJSON_CreateString("format"));
    for (unsigned i = 0; i < sizeof rule_names / sizeof rule_names[0]; i++)
        if (failed & (1u << i))
            cJSON_AddItemToArray(arr, cJSON_CreateString(rule_names[i]));
    return arr;
}

static void rules_message(uint32_t failed, char *msg, size_t size)
{
    snprintf(msg, size, "%s", failed & RULE_FORMAT ? "The password is not valid text or is too long."
                                                   : "The password does not meet the rules:");
    for (unsigned i = 0; i < sizeof rule_names / sizeof rule_names[0]; i++)
        if (failed & (1u << i)) {
            size_t n = strlen(msg);
            snprintf(msg + n, size - n, "%s %s", n > 40 ? "," : "", rule_names[i]);
        }
}

static int reply_password_rules(tv_api *api, tv_api_resp *rs, uint32_t failed)
{
    char msg[200];
    rules_message(failed, msg, sizeof msg);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", tv_err_name(TV_ERR_PASSWORD_POLICY));
    cJSON_AddItemToObject(o, "failed", rules_json(failed));
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_AddNumberToObject(o, "min_length", api->policy.min_length);
    return reply_json(rs, 400, o);
}

/* The strength meter while a clinician types: the browser's core has no zxcvbn (no Debian source of
 * it for WebAssembly), so the page asks the server, which judges with the same policy it will apply
 * on submit. The password comes over TLS to the server that receives it on submit anyway; it is
 * neither stored nor logged, and the body is wiped. Not rate-limited with sign-in: typing must not
 * spend the address's sign-in budget, and no secret is checked here. */
static int do_password_check(ctx *c)
{
    tv_password_strength s = { -1, 0 };
    uint32_t failed = password_rules(c->api, str_of(c->body, "password"), str_of(c->body, "email"), &s);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "failed", rules_json(failed));
    cJSON_AddBoolToObject(o, "ok", failed == 0);
    if (!(failed & RULE_FORMAT) && s.score >= 0)
        cJSON_AddNumberToObject(o, "score", s.score);
    else
        cJSON_AddNullToObject(o, "score");
    return reply_json(c->rs, 200, o);
}

static int store_hash(tv_store *st, int64_t uid, const char *hash)
{
    sqlite3_stmt *q = prep(st, "UPDATE users SET pw_hash = ? WHERE id = ?");
    if (q) {
        sqlite3_bind_text(q, 1, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 2, uid);
    }
    return run(q);
}

static int hash_password(tv_api *api, const char *pw, char hash[TV_PWHASH_STRBYTES])
{
    return tv_pwhash(&api->cost, pw, strlen(pw), hash, TV_PWHASH_STRBYTES) == 0 ? 0 : TV_ERR_PASSWORD_HASH;
}

static int set_password(tv_api *api, tv_store *st, int64_t uid, const char *pw)
{
    char hash[TV_PWHASH_STRBYTES];
    int rc = hash_password(api, pw, hash);
    return rc == 0 ? store_hash(st, uid, hash) : rc;
}

/* Every password check goes through here, so each costs one Argon2id whatever the account: an
 * account without a password (made by single sign-on) or an unknown address is checked against the
 * dummy hash, or its quick refusal would tell it apart. */
static int pwhash_verify(tv_api *api, const char *hash, const char *pw)
{
    const char *h = hash && hash[0] ? hash : api->dummy_hash;
    int rc = tv_pwhash_verify(h, strlen(h), pw, strlen(pw));
    atomic_fetch_add(&api->pwhash_verifies, 1);
    return hash && hash[0] ? rc : TV_ERR_CREDENTIALS;
}

static int verify_password(tv_api *api, const user *u, const char *pw)
{
    return pwhash_verify(api, u->pw_hash, pw);
}

static void link_for(tv_api *api, const char *page, const char *token, char *out, size_t out_size)
{
    /* The key rides in the fragment: browsers never send it to a server, a log or a Referer. */
    snprintf(out, out_size, "%s/%s#key=%s", api->public_url, page, token);
}

static int insert_user(tv_store *st, const char *email, const char *hash, const char *status, int is_admin,
                       int64_t now_ms, int64_t *uid)
{
    uint8_t salt[TV_API_CACHE_SALT_BYTES];   /* the cache share's own randomness (do_cache_share) */
    randombytes_buf(salt, sizeof salt);
    sqlite3_stmt *q = prep(st, "INSERT INTO users (email, pw_hash, status, is_admin, created_ms, cache_salt) VALUES (?, ?, ?, ?, ?, ?)");
    if (q) {
        sqlite3_bind_text(q, 1, email, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 3, status, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 4, is_admin);
        sqlite3_bind_int64(q, 5, now_ms);
        sqlite3_bind_blob(q, 6, salt, sizeof salt, SQLITE_TRANSIENT);
    }
    sodium_memzero(salt, sizeof salt);
    int rc = run(q);
    if (rc == 0)
        *uid = sqlite3_last_insert_rowid(st->db);
    return rc;
}

/* ---- routes: accounts ---- */

static void send_activation(tv_api *api, const tv_api_req *rq, tv_api_resp *rs, const char *email, const char *token)
{
    char link[TV_CONFIG_STR + 128], text[2048];
    link_for(api, "activate.html", token, link, sizeof link);
    snprintf(text, sizeof text,
             "Welcome to televisit.\r\n\r\nTo activate your account, open this link within 24 hours:\r\n\r\n"
             "%s\r\n\r\nIf you did not register, ignore this message: the account stays inactive.\r\n", link);
    mail_out(api, rq, rs, "activation", email, "Activate your televisit account", text, link);
    sodium_memzero(link, sizeof link);
    sodium_memzero(text, sizeof text);
}

/* Registration. The password of a registration takes effect only through its own activation key,
 * and only when the same password is given again with that key: a stranger who registers someone's
 * address first (or again, later) can neither make the owner's activation set his password nor
 * activate it himself, since the key goes only to the owner's mailbox. */
static int do_register(ctx *c)
{
    const char *email = str_of(c->body, "email"), *pw = str_of(c->body, "password");
    if (tv_mail_address_ok(email, strlen(email)) != 0)
        return reply_error(c->rs, 400, TV_ERR_INVALID, "This is not an e-mail address we can send to.");
    uint32_t broken = password_rules(c->api, pw, email, NULL);
    if (broken)
        return reply_password_rules(c->api, c->rs, broken);
    user u;
    int exists = user_by_email(c->st, email, &u) == 0;
    char hash[TV_PWHASH_STRBYTES], token[TV_TOKEN_STRBYTES], text[2048];
    /* Hash even when the address is taken: the answer and its timing must not tell. */
    int rc = tv_pwhash(&c->api->cost, pw, strlen(pw), hash, sizeof hash);
    if (rc == 0 && !exists) {
        int64_t uid = 0;
        rc = begin(c->st);
        if (rc == 0)   /* "": no password verifies until a key's activation sets one */
            rc = insert_user(c->st, email, "", "pending", 0, c->rq->now_ms, &uid);
        if (rc == 0)
            rc = mail_key_create(c->st, uid, "activate", c->rq->now_ms + 24 * 3600 * 1000LL, hash, token);
        if ((rc = commit(c->st, rc)) == 0) {
            audit(c->st, c->rq, "account_created", uid, NULL, "clinician account registered", NULL);
            send_activation(c->api, c->rq, c->rs, email, token);
        }
    } else if (rc == 0 && exists && strcmp(u.status, "pending") == 0) {
        /* Not activated yet (the first mail may never have arrived): a fresh key with this
         * registration's password, and every older key void, whoever asked for it. */
        rc = begin(c->st);
        sqlite3_stmt *q = rc == 0 ? prep(c->st, "UPDATE mail_keys SET used_ms = ? WHERE user_id = ? AND kind = 'activate' AND used_ms IS NULL")
                                  : NULL;
        if (q) {
            sqlite3_bind_int64(q, 1, c->rq->now_ms);
            sqlite3_bind_int64(q, 2, u.id);
        }
        if (rc == 0)
            rc = run(q);
        if (rc == 0)
            rc = mail_key_create(c->st, u.id, "activate", c->rq->now_ms + 24 * 3600 * 1000LL, hash, token);
        if ((rc = commit(c->st, rc)) == 0) {
            audit(c->st, c->rq, "account_registration_repeated", u.id, NULL, "registered again before activation: earlier activation links void", NULL);
            send_activation(c->api, c->rq, c->rs, email, token);
        }
        wipe_user(&u);
    } else if (rc == 0 && exists) {
        snprintf(text, sizeof text,
                 "Someone tried to register a televisit account with this address, which already has one.\r\n\r\n"
                 "If it was you, sign in, or reset your password from the sign-in page.\r\n");
        mail_out(c->api, c->rq, c->rs, "notice", email, "Your televisit account", text, NULL);
        wipe_user(&u);
    }
    sodium_memzero(hash, sizeof hash);
    sodium_memzero(token, sizeof token);
    sodium_memzero(text, sizeof text);
    if (rc != 0)
        return reply_storage(c->rs);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "check_mail");
    cJSON_AddStringToObject(o, "message", "If this address can be registered, an activation link is on its way.");
    return reply_json(c->rs, 202, o);
}

/* The key from the mail and the password chosen at registration: the account becomes active with
 * the password of the registration that made this key, and only if it is the one given here. A
 * wrong password leaves the key usable (only the mailbox has it; the route is rate-limited). */
static int do_activate(ctx *c)
{
    const char *key = str_of(c->body, "key");
    uint8_t kh[TV_TOKEN_HASHBYTES];
    char pwh[TV_PWHASH_STRBYTES] = "";
    int64_t uid = 0, expires = 0;
    int rc = tv_token_hash(key, strlen(key), kh, sizeof kh) == 0 ? 0 : TV_ERR_TOKEN_FORMAT, used = 0;
    /* peek first: Argon2id runs outside the transaction, which then takes the key for good */
    sqlite3_stmt *q = rc == 0 ? prep(c->st, "SELECT k.user_id, k.expires_ms, k.used_ms IS NOT NULL, coalesce(k.pw_hash, u.pw_hash)"
                                         " FROM mail_keys k JOIN users u ON u.id = k.user_id WHERE k.hash = ? AND k.kind = 'activate'")
                              : NULL;
    if (q) {
        sqlite3_bind_blob(q, 1, kh, sizeof kh, SQLITE_TRANSIENT);
        if (sqlite3_step(q) == SQLITE_ROW) {
            uid = sqlite3_column_int64(q, 0);
            expires = sqlite3_column_int64(q, 1);
            used = sqlite3_column_int(q, 2);
            snprintf(pwh, sizeof pwh, "%s", (const char *)sqlite3_column_text(q, 3));
        } else {
            rc = TV_ERR_TOKEN_MISMATCH;
        }
        sqlite3_finalize(q);
    } else if (rc == 0) {
        rc = TV_ERR_STORAGE;
    }
    if (rc == 0 && used)
        rc = TV_ERR_TOKEN_MISMATCH;
    else if (rc == 0 && expires < c->rq->now_ms)
        rc = TV_ERR_TOKEN_EXPIRED;
    if (rc != 0) {
        sodium_memzero(pwh, sizeof pwh);
        return reply_key_error(c->rs, rc);
    }
    if (pwhash_verify(c->api, pwh, str_of(c->body, "password")) != 0) {
        sodium_memzero(pwh, sizeof pwh);
        audit(c->st, c->rq, "login_failure", uid, NULL, "activation with another password than the registration's",
              "{\"reason\":\"activation_password\"}");
        return reply_error(c->rs, 401, TV_ERR_CREDENTIALS,
                           "This is not the password chosen when registering for this link. If you registered more than once, use the newest mail.");
    }
    rc = begin(c->st);
    if (rc == 0)
        rc = mail_key_take(c->st, key, "activate", c->rq->now_ms, &uid);   /* again, in the transaction: once only */
    if (rc == 0) {
        q = prep(c->st, "UPDATE users SET status = 'active', pw_hash = ? WHERE id = ? AND status = 'pending'");
        if (q) {
            sqlite3_bind_text(q, 1, pwh, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(q, 2, uid);
        }
        rc = run(q);
    }
    rc = commit(c->st, rc);
    sodium_memzero(pwh, sizeof pwh);
    if (rc != 0)
        return reply_key_error(c->rs, rc);
    audit(c->st, c->rq, "account_activated", uid, NULL, "account activated by its mailed key", NULL);
    return reply_ok(c->rs, 200, "status", "active");
}

static cJSON *me_json(tv_api *api, tv_store *st, const user *u)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)u->id);
    cJSON_AddStringToObject(o, "email", u->email);
    cJSON_AddBoolToObject(o, "totp_enabled", u->totp_enabled);
    cJSON_AddBoolToObject(o, "is_admin", u->is_admin);
    cJSON_AddBoolToObject(o, "must_enroll_totp", api->cfg->require_2fa && !u->totp_enabled);
    cJSON_AddStringToObject(o, "ip_allow", u->ip_allow);
    /* no password: an account single sign-on provisioned (settings offer no password change) */
    cJSON_AddBoolToObject(o, "has_password", u->pw_hash[0] != '\0');
    cJSON *links = cJSON_AddArrayToObject(o, "sso");
    sqlite3_stmt *q = prep(st, "SELECT DISTINCT provider FROM sso_links WHERE user_id = ? ORDER BY provider");
    if (q) {
        sqlite3_bind_int64(q, 1, u->id);
        while (sqlite3_step(q) == SQLITE_ROW)
            cJSON_AddItemToArray(links, cJSON_CreateString((const char *)sqlite3_column_text(q, 0)));
        sqlite3_finalize(q);
    }
    q = prep(st, "SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_ms IS NULL");
    int left = 0;
    if (q) {
        sqlite3_bind_int64(q, 1, u->id);
        if (sqlite3_step(q) == SQLITE_ROW)
            left = sqlite3_column_int(q, 0);
    }
    sqlite3_finalize(q);
    cJSON_AddNumberToObject(o, "recovery_codes_left", left);
    cJSON_AddNumberToObject(o, "session_idle_s", api->cfg->session_idle_min * 60);
    cJSON_AddNumberToObject(o, "session_expires_ms",
                            (double)(u->session_created_ms + (int64_t)api->cfg->session_max_hours * 3600000));
    return o;
}

/* A full session: the pair's failures and escalation start over (only here and in sso_session's
 * full case: a password or provider sign-in still waiting for its code resets nothing). */
static int login_done(tv_api *api, tv_store *st, const tv_api_req *rq, user *u, const char *method, tv_api_resp *rs)
{
    throttle t;
    throttle_of(st, u->email, rq->ip, &t);
    throttle_clear(st, &t);
    if (session_create(api, st, rq, u->id, "full", u->session_sso_ms, rs) != 0)   /* a code after a provider: still its */
        return reply_error(rs, 500, TV_ERR_STORAGE, "The server could not sign you in. Try again.");
    char extra[64];
    snprintf(extra, sizeof extra, "{\"method\":\"%s\"}", method);
    audit(st, rq, "login_success", u->id, NULL, "signed in", extra);
    u->session_created_ms = rq->now_ms;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "next", "done");
    cJSON_AddItemToObject(o, "user", me_json(api, st, u));
    return reply_json(rs, 200, o);
}

static int do_login(ctx *c)
{
    const char *email = str_of(c->body, "email"), *pw = str_of(c->body, "password");
    user u;
    int rc = user_by_email(c->st, email, &u), known = rc == 0;
    if (rc != 0 && rc != TV_ERR_NOT_FOUND)
        return reply_error(c->rs, 500, TV_ERR_STORAGE, "The server could not check this. Try again.");
    /* A pending account has no password yet: its newest activation key's stands in, so that its
     * registrant hears "not activated yet" rather than "wrong password". */
    if (known && strcmp(u.status, "pending") == 0) {
        sqlite3_stmt *q = prep(c->st, "SELECT pw_hash FROM mail_keys WHERE user_id = ? AND kind = 'activate' AND used_ms IS NULL"
                                   " AND pw_hash IS NOT NULL ORDER BY expires_ms DESC LIMIT 1");
        if (q) {
            sqlite3_bind_int64(q, 1, u.id);
            if (sqlite3_step(q) == SQLITE_ROW)
                snprintf(u.pw_hash, sizeof u.pw_hash, "%s", (const char *)sqlite3_column_text(q, 0));
            sqlite3_finalize(q);
        }
    }
    /* An unknown address goes through the same steps as an account: the same block, the same hash
     * work, the same writes and answers, so none of them tells whether it has an account. */
    throttle t;
    throttle_of(c->st, email, c->rq->ip, &t);
    int64_t until = throttle_until(c->st, &t, c->rq->now_ms);
    if (until) {   /* answered before any hashing */
        audit(c->st, c->rq, "login_failure", known ? u.id : 0, NULL, known ? "sign-in blocked from this address" : "unknown e-mail",
              "{\"reason\":\"locked\"}");
        if (known)
            wipe_user(&u);
        return reply_locked(c->rs, until, c->rq->now_ms);
    }
    if (pwhash_verify(c->api, known ? u.pw_hash : NULL, pw) != 0) {
        until = throttle_fail(c->st, c->rq, &t, known ? u.id : 0, known ? "password" : "unknown_email");
        if (known)
            wipe_user(&u);
        return until ? reply_locked(c->rs, until, c->rq->now_ms) : reply_bad_credentials(c->rs);
    }
    int needs = 0;
    if (strcmp(u.status, "active") == 0 && tv_pwhash_needs_rehash(&c->api->cost, u.pw_hash, strlen(u.pw_hash), &needs) == 0 && needs)
        set_password(c->api, c->st, u.id, pw);   /* the cost was raised since: upgrade while we have the password */
    if (strcmp(u.status, "active") != 0) {
        audit(c->st, c->rq, "login_failure", u.id, NULL, "account not active", "{\"reason\":\"not_active\"}");
        rc = reply_error(c->rs, 403, TV_ERR_FORBIDDEN, strcmp(u.status, "pending") == 0
                                                        ? "This account is not activated yet: open the link in the activation mail."
                                                        : "This account is disabled.");
    } else if (!tv_api_ip_allowed(u.ip_allow, c->rq->ip)) {
        audit(c->st, c->rq, "login_failure", u.id, NULL, "address not on the account's allow-list", "{\"reason\":\"ip_not_allowed\"}");
        rc = reply_error(c->rs, 403, TV_ERR_FORBIDDEN, "Sign-in from this network is not allowed for this account.");
    } else if (u.totp_enabled) {
        rc = session_create(c->api, c->st, c->rq, u.id, "totp", 0, c->rs);
        rc = rc == 0 ? reply_ok(c->rs, 200, "next", "totp")
                     : reply_error(c->rs, 500, TV_ERR_STORAGE, "The server could not sign you in. Try again.");
    } else {
        rc = login_done(c->api, c->st, c->rq, &u, "password", c->rs);
    }
    wipe_user(&u);
    return rc;
}

static void recovery_hash(tv_store *st, const char *code, uint8_t out[32])
{
    char norm[32];
    size_t n = 0;
    for (const char *p = code; *p && n < sizeof norm - 1; p++)
        if (*p != '-' && *p != ' ')
            norm[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    uint8_t key[TV_RECORD_KEYBYTES];
    tv_record_subkey(st->master, TV_RECORD_RECOVERY, key);
    /* keyed: a stolen database alone cannot be used to test guesses */
    crypto_generichash(out, 32, (const uint8_t *)norm, n, key, sizeof key);
    sodium_memzero(key, sizeof key);
    sodium_memzero(norm, sizeof norm);
}

static int totp_secret_of(tv_store *st, int64_t uid, uint8_t *secret, size_t size, size_t *len)
{
    sqlite3_stmt *q = prep(st, "SELECT totp_secret FROM users WHERE id = ?");
    if (q == NULL)
        return TV_ERR_STORAGE;
    sqlite3_bind_int64(q, 1, uid);
    int rc = TV_ERR_NOT_FOUND;
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) == SQLITE_BLOB)
        rc = tv_store_open_field(st, TV_RECORD_TOTP_SECRET, "users", "totp_secret", uid, sqlite3_column_blob(q, 0),
                                 (size_t)sqlite3_column_bytes(q, 0), secret, size, len);
    sqlite3_finalize(q);
    return rc;
}

/* Checks a TOTP code and, when it is good, records its step so it (and every earlier one) is refused. */
static int totp_check(tv_store *st, user *u, const char *code, int64_t now_ms)
{
    uint8_t secret[TV_OTP_KEY_MAX];
    size_t len = 0;
    int rc = totp_secret_of(st, u->id, secret, sizeof secret, &len);
    if (rc != 0)
        return rc;
    tv_totp_params p;
    tv_totp_params_default(&p);
    uint64_t step = 0;
    rc = tv_totp_verify(secret, len, &p, (uint64_t)(now_ms / 1000), code, strlen(code),
                        u->totp_last_step < 0 ? TV_TOTP_NO_STEP : (uint64_t)u->totp_last_step, &step);
    sodium_memzero(secret, sizeof secret);
    if (rc != 0)
        return rc;
    /* only if no concurrent request took this step first */
    sqlite3_stmt *q = prep(st, "UPDATE users SET totp_last_step = ? WHERE id = ? AND coalesce(totp_last_step, -1) < ?");
    if (q == NULL)
        return TV_ERR_STORAGE;
    sqlite3_bind_int64(q, 1, (int64_t)step);
    sqlite3_bind_int64(q, 2, u->id);
    sqlite3_bind_int64(q, 3, (int64_t)step);
    rc = sqlite3_step(q) == SQLITE_DONE ? (sqlite3_changes(st->db) == 1 ? 0 : TV_ERR_OTP_REPLAY) : TV_ERR_STORAGE;
    sqlite3_finalize(q);
    if (rc == 0)
        u->totp_last_step = (int64_t)step;
    return rc;
}

static int recovery_use(tv_store *st, int64_t uid, const char *code, int64_t now_ms)
{
    uint8_t h[32];
    recovery_hash(st, code, h);
    sqlite3_stmt *q = prep(st, "UPDATE recovery_codes SET used_ms = ? WHERE user_id = ? AND hash = ? AND used_ms IS NULL");
    if (q == NULL)
        return TV_ERR_STORAGE;
    sqlite3_bind_int64(q, 1, now_ms);
    sqlite3_bind_int64(q, 2, uid);
    sqlite3_bind_blob(q, 3, h, sizeof h, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q) == SQLITE_DONE ? (sqlite3_changes(st->db) == 1 ? 0 : TV_ERR_CREDENTIALS) : TV_ERR_STORAGE;
    sqlite3_finalize(q);
    return rc;
}

/* The code step: the dispatcher has checked that exactly one of code and recovery_code came, and
 * loaded the half session's user. */
static int do_login_second(ctx *c)
{
    const char *code = str_of(c->body, "code"), *rec = str_of(c->body, "recovery_code");
    const tv_api_req *rq = c->rq;
    throttle t;
    throttle_of(c->st, c->u.email, rq->ip, &t);
    int64_t until = throttle_until(c->st, &t, rq->now_ms);
    if (until)
        return reply_locked(c->rs, until, rq->now_ms);
    int rc = code ? totp_check(c->st, &c->u, code, rq->now_ms) : recovery_use(c->st, c->u.id, rec, rq->now_ms);
    if (rc == TV_ERR_STORAGE)   /* the database failed, not the user: no failure counted */
        return reply_storage(c->rs);
    if (rc != 0) {
        until = throttle_fail(c->st, rq, &t, c->u.id, code ? (rc == TV_ERR_OTP_REPLAY ? "totp_replay" : "totp") : "recovery_code");
        if (until)
            session_delete(c->st, c->u.session_hash);
        return until ? reply_locked(c->rs, until, rq->now_ms)
               : rc == TV_ERR_OTP_REPLAY ? reply_error(c->rs, 401, rc, "This code was already used. Wait for the next one.")
                                         : reply_error(c->rs, 401, TV_ERR_CREDENTIALS, "The code is wrong.");
    }
    session_delete(c->st, c->u.session_hash);   /* a new id for the signed-in session: no fixation */
    return login_done(c->api, c->st, rq, &c->u, code ? "totp" : "recovery_code", c->rs);   /* user.recovery_codes_left tells what is left */
}

/* Every signed-in route: the session's user in c->u. allow_unenrolled: reachable before enrolling when
 * 2FA is required. A request the page makes by itself, not for something the user did (a poll, a check
 * after a lost connection), says so with background=1 in its query: it does not refresh the inactivity
 * clock, or a console left open would never time out. 0, or the refusal is in rs. */
static int authenticate(ctx *c, int allow_unenrolled)
{
    char bg[4];
    const tv_api_req *rq = c->rq;
    int background = query_param(rq->query, "background", bg, sizeof bg) == 0 && strcmp(bg, "1") == 0;
    if (session_load(c->api, c->st, rq->session, rq->ip, rq->now_ms, "full", !background, &c->u) != 0) {
        /* Clear only a cookie this request brought: the refusal of a request sent before sign-in,
         * answered after it, would otherwise wipe the session the sign-in just set. */
        if (rq->session)
            session_cookie(c->rs, NULL, 0);
        reply_error(c->rs, 401, TV_ERR_UNAUTHORIZED, "You are not signed in, or your session has ended.");
        return TV_ERR_UNAUTHORIZED;
    }
    if (!allow_unenrolled && c->api->cfg->require_2fa && !c->u.totp_enabled) {
        reply_error(c->rs, 403, TV_ERR_TOTP_REQUIRED, "Set up two-factor authentication first: it is required here.");
        return TV_ERR_TOTP_REQUIRED;
    }
    return 0;
}

static void notify_sessions_changed(tv_api *api, int64_t uid);

/* A security change (2FA on or off, a single sign-on identity linked or unlinked) needs more than a
 * session, which may be a console left open or a stolen cookie: the current password; or a fresh code
 * when TOTP is on (given as `code`); or, for an account without a password, a provider sign-in at most
 * TV_API_REAUTH_SSO_MS old that made this very session. A wrong password or code counts toward the
 * lockout as at sign-in. 0 when proven; otherwise the refusal is in rs. */
static int reauth(tv_api *api, tv_store *st, const tv_api_req *rq, user *u, const char *password, const char *code,
                  const char *what, const char *wrong, tv_api_resp *rs)
{
    int rc;
    /* a blocked pair is answered before any check, as at sign-in */
    if ((password || (code && u->totp_enabled)) && reply_if_blocked(st, rq, u, rs))
        return TV_ERR_LOCKED;
    if (password) {
        if (verify_password(api, u, password) == 0)
            return 0;
        reply_auth_failure(st, rq, u, what, wrong, rs);
        return TV_ERR_CREDENTIALS;
    }
    if (code && u->totp_enabled) {
        if ((rc = totp_check(st, u, code, rq->now_ms)) == 0)
            return 0;
        if (rc == TV_ERR_STORAGE)
            reply_storage(rs);
        else
            reply_auth_failure(st, rq, u, rc == TV_ERR_OTP_REPLAY ? "totp_replay" : what, wrong, rs);
        return rc;
    }
    if (u->pw_hash[0] == '\0' && u->session_sso_ms > 0 && rq->now_ms - u->session_sso_ms <= TV_API_REAUTH_SSO_MS)
        return 0;
    reply_error(rs, 401, TV_ERR_REAUTH, u->pw_hash[0] ? "Confirm this change with your current password."
                                                      : "Sign in again with your organisation, then make this change within 5 minutes.");
    return TV_ERR_REAUTH;
}

/* Mails the owner about a security change, so that one made by someone else does not go unseen. */
static void security_notice(tv_api *api, const tv_api_req *rq, tv_api_resp *rs, const user *u, const char *change)
{
    char text[1024];
    snprintf(text, sizeof text,
             "%s on your televisit account, from the address %s. Your other devices were signed out.\r\n\r\n"
             "If it was not you, reset your password from the sign-in page now (that signs every device out), "
             "then check Settings and tell your administrator.\r\n", change, rq->ip && rq->ip[0] ? rq->ip : "unknown");
    mail_out(api, rq, rs, "notice", u->email, "Security change on your televisit account", text, NULL);
}

static int do_logout(ctx *c)
{
    session_delete(c->st, c->u.session_hash);
    audit(c->st, c->rq, "logout", c->u.id, NULL, "signed out", NULL);
    notify_sessions_changed(c->api, c->u.id);   /* this session's connections (another tab's dashboard) close */
    session_cookie(c->rs, NULL, 0);
    return reply_ok(c->rs, 200, "status", "signed_out");
}

static int do_me(ctx *c)
{
    int rc = reply_json(c->rs, 200, me_json(c->api, c->st, &c->u));
    return rc;
}

/* The account's cache salt; an account made before there were salts gets its own now (the first
 * writer wins, so two requests at once agree). */
static int cache_salt_of(tv_store *st, int64_t uid, uint8_t salt[TV_API_CACHE_SALT_BYTES])
{
    for (int tries = 0; tries < 2; tries++) {
        sqlite3_stmt *q = prep(st, "SELECT cache_salt FROM users WHERE id = ?");
        if (q == NULL)
            return TV_ERR_STORAGE;
        sqlite3_bind_int64(q, 1, uid);
        int rc = sqlite3_step(q) == SQLITE_ROW ? 0 : TV_ERR_NOT_FOUND;
        int have = rc == 0 && sqlite3_column_bytes(q, 0) == TV_API_CACHE_SALT_BYTES;
        if (have)
            memcpy(salt, sqlite3_column_blob(q, 0), TV_API_CACHE_SALT_BYTES);
        sqlite3_finalize(q);
        if (rc != 0 || have)
            return rc;
        randombytes_buf(salt, TV_API_CACHE_SALT_BYTES);
        q = prep(st, "UPDATE users SET cache_salt = ? WHERE id = ? AND cache_salt IS NULL");
        if (q) {
            sqlite3_bind_blob(q, 1, salt, TV_API_CACHE_SALT_BYTES, SQLITE_TRANSIENT);
            sqlite3_bind_int64(q, 2, uid);
        }
        sodium_memzero(salt, TV_API_CACHE_SALT_BYTES);
        if ((rc = run(q)) != 0)
            return rc;
    }
    return TV_ERR_STORAGE;
}

/* The server's half of the browser cache key (docs/architecture.md): a hash of the account's random
 * cache salt keyed by a subkey of the master key, released only to a signed-in session, so a cache
 * copied off the device, or left after sign-out or with the account disabled, cannot be opened. Not
 * derived from the id: an account that ever got a deleted one's id would open its cache. The salt
 * alone, in a stolen database, gives nothing without the master key. */
static int do_cache_share(ctx *c)
{
    uint8_t key[TV_RECORD_KEYBYTES], share[32], salt[TV_API_CACHE_SALT_BYTES];
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    int rc = cache_salt_of(c->st, c->u.id, salt);
    if (rc == 0) {
        static const char label[] = "cache-share:v2:";
        crypto_generichash_state h;
        tv_record_subkey(c->st->master, TV_RECORD_CACHE_SHARE, key);
        crypto_generichash_init(&h, key, sizeof key, sizeof share);
        crypto_generichash_update(&h, (const uint8_t *)label, sizeof label - 1);
        crypto_generichash_update(&h, salt, sizeof salt);
        crypto_generichash_final(&h, share, sizeof share);
        sodium_memzero(&h, sizeof h);
        sodium_bin2base64(b64, sizeof b64, share, sizeof share, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        rc = reply_ok(c->rs, 200, "share", b64);
    } else {
        rc = reply_storage(c->rs);
    }
    sodium_memzero(key, sizeof key);
    sodium_memzero(share, sizeof share);
    sodium_memzero(salt, sizeof salt);
    sodium_memzero(b64, sizeof b64);
    return rc;
}

/* The hub closes the user's signaling connections whose session has just gone. */
static void notify_sessions_changed(tv_api *api, int64_t uid)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)uid);
    if (api->notify)
        api->notify(api->notify_ctx, "user_sessions_revoked", id);
}

static int do_sessions_revoke(ctx *c)
{
    sessions_delete_user(c->st, c->u.id, NULL);
    audit(c->st, c->rq, "logout", c->u.id, NULL, "signed out everywhere", "{\"scope\":\"all_sessions\"}");
    notify_sessions_changed(c->api, c->u.id);
    session_cookie(c->rs, NULL, 0);
    return reply_ok(c->rs, 200, "status", "signed_out");
}

static int do_settings(ctx *c)
{
    const char *list = str_of(c->body, "ip_allow");
    int rc;
    if (!ip_list_valid(list))
        rc = reply_error(c->rs, 400, TV_ERR_MSG_FIELD_VALUE, "ip_allow takes IPv4 or IPv6 addresses and IPv4 CIDR blocks, separated by spaces.");
    else if (!tv_api_ip_allowed(list, c->rq->ip))
        rc = reply_error(c->rs, 400, TV_ERR_MSG_FIELD_VALUE, "This list would lock you out: it must include the address you are using now.");
    else {
        sqlite3_stmt *q = prep(c->st, "UPDATE users SET ip_allow = ? WHERE id = ?");
        if (q) {
            sqlite3_bind_text(q, 1, list, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(q, 2, c->u.id);
        }
        if (run(q) == 0) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "ip_allow", list);
            char *extra = cJSON_PrintUnformatted(e);
            cJSON_Delete(e);
            audit(c->st, c->rq, "settings_changed", c->u.id, NULL, "IP allow-list changed", extra);
            free(extra);
            rc = reply_ok(c->rs, 200, "status", "saved");
        } else {
            rc = reply_storage(c->rs);
        }
    }
    return rc;
}

/* ---- 2FA ---- */

static int do_totp_enroll(ctx *c)
{
    if (c->u.totp_enabled)
        return reply_error(c->rs, 409, TV_ERR_CONFLICT, "Two-factor authentication is already on. Turn it off first to change it.");
    /* whoever enrols holds the second factor from then on: not a session alone (reauth) */
    int reauth_rc = reauth(c->api, c->st, c->rq, &c->u, str_of(c->body, "password"), NULL, "totp_enroll", "The password is wrong.", c->rs);
    if (reauth_rc != 0)
        return 0;
    uint8_t secret[TV_TOTP_SECRET_BYTES], sealed[TV_TOTP_SECRET_BYTES + TV_RECORD_OVERHEAD];
    char b32[64], uri[600], *svg = malloc(64 * 1024);
    size_t sl = 0, ul = 0, vl = 0, bl = 0;
    tv_totp_params p;
    tv_totp_params_default(&p);
    int rc = svg ? tv_totp_secret_generate(secret, sizeof secret) : TV_ERR_NOMEM;
    if (rc == 0)
        rc = tv_store_seal(c->st, TV_RECORD_TOTP_SECRET, "users", "totp_secret", c->u.id, secret, sizeof secret, sealed,
                           sizeof sealed, &sl);
    if (rc == 0)
        rc = tv_base32_encode(secret, sizeof secret, 0, b32, sizeof b32, &bl);
    if (rc == 0)
        rc = tv_totp_uri(&p, "televisit", 9, c->u.email, strlen(c->u.email), secret, sizeof secret, uri, sizeof uri, &ul);
    if (rc == 0)
        rc = tv_qr_svg(uri, ul, svg, 64 * 1024, &vl);
    if (rc == 0) {
        /* pending until confirmed with a code; totp_last_step starts over with the new secret */
        sqlite3_stmt *q = prep(c->st, "UPDATE users SET totp_secret = ?, totp_last_step = NULL WHERE id = ? AND totp_enabled = 0");
        if (q) {
            sqlite3_bind_blob(q, 1, sealed, (int)sl, SQLITE_TRANSIENT);
            sqlite3_bind_int64(q, 2, c->u.id);
        }
        rc = run(q);
    }
    if (rc == 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "secret", b32);
        cJSON_AddStringToObject(o, "uri", uri);
        cJSON_AddStringToObject(o, "qr_svg", svg);
        rc = reply_json(c->rs, 200, o);
    } else {
        rc = reply_error(c->rs, 500, TV_ERR_STORAGE, "The server could not start enrollment. Try again.");
    }
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(b32, sizeof b32);
    sodium_memzero(uri, sizeof uri);
    if (svg)
        sodium_memzero(svg, 64 * 1024);
    free(svg);
    return rc;
}

static int make_recovery_codes(tv_store *st, int64_t uid, cJSON *arr)
{
    static const char alphabet[] = "abcdefghjkmnpqrstuvwxyz23456789";   /* no 0/o, 1/l/i */
    int rc = exec_id(st, "DELETE FROM recovery_codes WHERE user_id = ?", uid);
    for (int i = 0; rc == 0 && i < TV_API_RECOVERY_CODES; i++) {
        char code[12];
        for (int k = 0, j = 0; k < 10; k++) {
            code[j++] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
            if (k == 4)
                code[j++] = '-';
        }
        code[11] = '\0';
        uint8_t h[32];
        recovery_hash(st, code, h);
        sqlite3_stmt *q = prep(st, "INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?)");
        if (q) {
            sqlite3_bind_int64(q, 1, uid);
            sqlite3_bind_blob(q, 2, h, sizeof h, SQLITE_TRANSIENT);
        }
        rc = run(q);
        cJSON_AddItemToArray(arr, cJSON_CreateString(code));
        sodium_memzero(code, sizeof code);
    }
    return rc;
}

static int do_totp_confirm(ctx *c)
{
    int rc;
    if (c->u.totp_enabled) {
        rc = reply_error(c->rs, 409, TV_ERR_CONFLICT, "Two-factor authentication is already on.");
    } else if ((rc = totp_check(c->st, &c->u, str_of(c->body, "code"), c->rq->now_ms)) != 0) {
        rc = rc == TV_ERR_NOT_FOUND ? reply_error(c->rs, 409, TV_ERR_CONFLICT, "Start enrollment first.")
                                    : reply_error(c->rs, 400, TV_ERR_OTP_MISMATCH, "The code does not match. Check the time on your phone and try the next code.");
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(o, "recovery_codes");
        rc = begin(c->st);
        if (rc == 0)
            rc = exec_id(c->st, "UPDATE users SET totp_enabled = 1 WHERE id = ?", c->u.id);
        if (rc == 0)
            rc = make_recovery_codes(c->st, c->u.id, arr);
        if (rc == 0)   /* a session made before, on another device, has not given the code */
            rc = sessions_delete_user(c->st, c->u.id, c->u.session_hash);
        if ((rc = commit(c->st, rc)) == 0) {
            notify_sessions_changed(c->api, c->u.id);
            audit(c->st, c->rq, "totp_enabled", c->u.id, NULL, "two-factor authentication turned on; other sessions ended", NULL);
            security_notice(c->api, c->rq, c->rs, &c->u, "Two-factor authentication was turned on");
            rc = reply_json(c->rs, 200, o);
        } else {
            tv_json_free_wiped(o);   /* recovery codes */
            rc = reply_storage(c->rs);
        }
    }
    return rc;
}

static int do_totp_disable(ctx *c)
{
    /* the password (an account without one: a fresh provider sign-in, reauth) and a code, both */
    int rc = 0;
    if (c->api->cfg->require_2fa) {
        rc = reply_error(c->rs, 403, TV_ERR_FORBIDDEN, "Your administrator requires two-factor authentication.");
    } else if (!c->u.totp_enabled) {
        rc = reply_error(c->rs, 409, TV_ERR_CONFLICT, "Two-factor authentication is already off.");
    } else if (reauth(c->api, c->st, c->rq, &c->u, str_of(c->body, "password"), NULL, "totp_disable", "The password or the code is wrong.", c->rs) != 0) {
        rc = 0;   /* the refusal is in rs */
    } else if ((rc = totp_check(c->st, &c->u, str_of(c->body, "code"), c->rq->now_ms)) != 0) {
        rc = rc == TV_ERR_STORAGE ? reply_storage(c->rs)
                                  : reply_auth_failure(c->st, c->rq, &c->u, "totp_disable", "The password or the code is wrong.", c->rs);
    } else {
        rc = begin(c->st);
        if (rc == 0)
            rc = exec_id(c->st, "UPDATE users SET totp_enabled = 0, totp_secret = NULL WHERE id = ?", c->u.id);
        if (rc == 0)
            rc = exec_id(c->st, "DELETE FROM recovery_codes WHERE user_id = ?", c->u.id);
        if (rc == 0)
            rc = sessions_delete_user(c->st, c->u.id, c->u.session_hash);
        if ((rc = commit(c->st, rc)) == 0) {
            notify_sessions_changed(c->api, c->u.id);
            audit(c->st, c->rq, "totp_disabled", c->u.id, NULL, "two-factor authentication turned off; other sessions ended", NULL);
            security_notice(c->api, c->rq, c->rs, &c->u, "Two-factor authentication was turned off");
            rc = reply_ok(c->rs, 200, "status", "off");
        } else {
            rc = reply_storage(c->rs);
        }
    }
    return rc;
}

/* ---- passwords ---- */

static int do_password_change(ctx *c)
{
    int rc;
    char pwh[TV_PWHASH_STRBYTES];
    uint32_t broken;
    if (reply_if_blocked(c->st, c->rq, &c->u, c->rs)) {
        rc = 0;
    } else if (verify_password(c->api, &c->u, str_of(c->body, "current")) != 0) {
        rc = reply_auth_failure(c->st, c->rq, &c->u, "password_change", "The current password is wrong.", c->rs);
    } else if ((broken = password_rules(c->api, str_of(c->body, "password"), c->u.email, NULL)) != 0) {
        rc = reply_password_rules(c->api, c->rs, broken);
    } else if ((rc = hash_password(c->api, str_of(c->body, "password"), pwh)) != 0 || (rc = begin(c->st)) != 0) {
        rc = reply_storage(c->rs);   /* hashed before the transaction: Argon2id never holds the write lock */
    } else if (commit(c->st, store_hash(c->st, c->u.id, pwh) == 0 ? sessions_delete_user(c->st, c->u.id, c->u.session_hash)   /* every other device signs in again */
                                                           : TV_ERR_STORAGE) == 0) {
        notify_sessions_changed(c->api, c->u.id);
        audit(c->st, c->rq, "password_changed", c->u.id, NULL, "password changed; other sessions ended", NULL);
        rc = reply_ok(c->rs, 200, "status", "changed");
    } else {
        rc = reply_storage(c->rs);
    }
    return rc;
}

static int do_password_forgot(ctx *c)
{
    user u;
    const char *email = str_of(c->body, "email");
    int sent = 0;
    if (tv_mail_address_ok(email, strlen(email)) == 0 && user_by_email(c->st, email, &u) == 0) {
        char token[TV_TOKEN_STRBYTES], link[TV_CONFIG_STR + 128], text[2048];
        if (strcmp(u.status, "active") == 0 &&
            mail_key_create(c->st, u.id, "reset", c->rq->now_ms + 30 * 60 * 1000LL, NULL, token) == 0) {
            link_for(c->api, "reset.html", token, link, sizeof link);
            snprintf(text, sizeof text,
                     "Someone asked to reset the password of your televisit account.\r\n\r\nTo choose a new password, "
                     "open this link within 30 minutes (it works once):\r\n\r\n%s\r\n\r\nIf it was not you, ignore "
                     "this message; your password stays as it is.\r\n", link);
            mail_out(c->api, c->rq, c->rs, "reset", u.email, "Reset your televisit password", text, link);
            audit(c->st, c->rq, "password_reset", u.id, NULL, "password reset requested", "{\"stage\":\"requested\"}");
            sent = 1;
            sodium_memzero(token, sizeof token);
            sodium_memzero(link, sizeof link);
            sodium_memzero(text, sizeof text);
        }
        wipe_user(&u);
    }
    /* No account to mail: the attempt is still a synced write, like a real request's key and audit
     * record, so that the answer's time says little about the address (the mail goes after it). */
    if (!sent)
        audit(c->st, c->rq, "password_reset", 0, NULL, "password reset asked for an address without an active account",
              "{\"stage\":\"no_account\"}");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "check_mail");
    cJSON_AddStringToObject(o, "message", "If this address has an account, a reset link is on its way.");
    return reply_json(c->rs, 202, o);
}

static int do_password_reset(ctx *c)
{
    int64_t uid = 0;
    user u;
    /* the policy first (it needs the e-mail, so peek at the key without using it up) */
    uint8_t hash[TV_TOKEN_HASHBYTES];
    const char *key = str_of(c->body, "key");
    int rc = tv_token_hash(key, strlen(key), hash, sizeof hash);
    sqlite3_stmt *q = rc == 0 ? prep(c->st, "SELECT user_id FROM mail_keys WHERE hash = ? AND kind = 'reset'") : NULL;
    if (q) {
        sqlite3_bind_blob(q, 1, hash, sizeof hash, SQLITE_TRANSIENT);
        rc = sqlite3_step(q) == SQLITE_ROW ? (uid = sqlite3_column_int64(q, 0), 0) : TV_ERR_TOKEN_MISMATCH;
    }
    sqlite3_finalize(q);
    if (rc == 0)
        rc = user_by_id(c->st, uid, &u);
    if (rc != 0)
        return reply_key_error(c->rs, TV_ERR_TOKEN_MISMATCH);
    uint32_t broken = password_rules(c->api, str_of(c->body, "password"), u.email, NULL);
    if (broken) {
        wipe_user(&u);
        return reply_password_rules(c->api, c->rs, broken);
    }
    char pwh[TV_PWHASH_STRBYTES];
    const char *pw = str_of(c->body, "password");
    rc = tv_pwhash(&c->api->cost, pw, strlen(pw), pwh, sizeof pwh) == 0 ? begin(c->st) : TV_ERR_PASSWORD_HASH;
    if (rc == 0)
        rc = mail_key_take(c->st, key, "reset", c->rq->now_ms, &uid);
    if (rc == 0)   /* hashed before the transaction: Argon2id never holds the write lock */
        rc = store_hash(c->st, uid, pwh);
    if (rc == 0)
        rc = sessions_delete_user(c->st, uid, NULL);
    if (rc == 0)
        rc = throttle_clear_account(c->st, u.email);
    rc = commit(c->st, rc);
    wipe_user(&u);
    if (rc != 0)
        return reply_key_error(c->rs, rc);
    notify_sessions_changed(c->api, uid);
    audit(c->st, c->rq, "password_reset", uid, NULL, "password reset with a mailed key; all sessions ended", "{\"stage\":\"done\"}");
    return reply_ok(c->rs, 200, "status", "changed");
}

/* ---- visits ---- */

static int visit_json_add(tv_store *st, sqlite3_stmt *q, cJSON *arr)
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

static int do_visit_create(ctx *c)
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
        audit(c->st, c->rq, "visit_created", c->u.id, id, "visit created with an invite link", NULL);
        /* the invite token is the one secret allowed in a URL: it is what the patient opens */
        snprintf(link, sizeof link, "%s/v/%s", c->api->public_url, token);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "link", link);
        cJSON_AddStringToObject(o, "label", label ? label : "");
        cJSON_AddNumberToObject(o, "created_ms", (double)c->rq->now_ms);
        cJSON_AddNumberToObject(o, "expires_ms", (double)expires);
        cJSON_AddStringToObject(o, "state", "open");
        rc = reply_json(c->rs, 201, o);
    } else {
        rc = reply_error(c->rs, 500, TV_ERR_STORAGE, "The server could not create the visit. Try again.");
    }
    sodium_memzero(token, sizeof token);
    return rc;
}

static int do_visit_list(ctx *c)
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
            visit_json_add(c->st, q, arr);
    }
    sqlite3_finalize(q);
    return reply_json(c->rs, 200, o);
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
        audit(c->st, c->rq, strcmp(state, "revoked") == 0 ? "visit_revoked" : "session_ended", c->u.id, id,
              strcmp(state, "revoked") == 0 ? "invite link revoked" : "visit ended by the clinician", NULL);
        if (c->api->notify)
            c->api->notify(c->api->notify_ctx, strcmp(state, "revoked") == 0 ? "visit_revoked" : "visit_ended", id);
        rc = reply_ok(c->rs, 200, "state", state);
    } else {
        rc = reply_error(c->rs, rc == TV_ERR_NOT_FOUND ? 404 : 500, rc,
                         rc == TV_ERR_NOT_FOUND ? "No open visit of yours has this id." : "The server could not save this.");
    }
    return rc;
}

/* For the patient's page: is this invite usable? Says nothing about the visit beyond its state. */
static int do_invite(ctx *c)
{
    const char *token = str_of(c->body, "token");
    uint8_t hash[TV_TOKEN_HASHBYTES];
    int rc = tv_token_hash(token, strlen(token), hash, sizeof hash);
    if (rc != 0)
        return reply_error(c->rs, 404, TV_ERR_NOT_FOUND, "This visit link is not valid. Check it, or ask for a new one.");
    sqlite3_stmt *q = prep(c->st, "SELECT state, expires_ms FROM visits WHERE token_hash = ?");
    if (q == NULL)
        return reply_error(c->rs, 500, TV_ERR_STORAGE, "The server could not check this link.");
    sqlite3_bind_blob(q, 1, hash, sizeof hash, SQLITE_TRANSIENT);
    if (sqlite3_step(q) != SQLITE_ROW) {
        sqlite3_finalize(q);
        return reply_error(c->rs, 404, TV_ERR_NOT_FOUND, "This visit link is not valid. Check it, or ask for a new one.");
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
    return reply_json(c->rs, 200, o);
}

/* ---- the owner's audit log and data ---- */

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

static int do_audit(ctx *c)
{
    char format[8];
    int csv = query_param(c->rq->query, "format", format, sizeof format) == 0 && strcmp(format, "csv") == 0;
    int rc;
    if (!csv) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "records", audit_json(c->st, c->u.id));
        rc = reply_json(c->rs, 200, o);
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
            return reply_error(c->rs, 500, TV_ERR_NOMEM, "The server ran out of memory.");
        }
        sqlite3_finalize(q);
        c->rs->status = 200;
        c->rs->content_type = "text/csv; charset=utf-8";
        c->rs->body = buf;
        c->rs->body_len = len;
        snprintf(c->rs->disposition, sizeof c->rs->disposition, "attachment; filename=\"televisit-audit.csv\"");
        rc = 0;
    }
    audit(c->st, c->rq, "data_exported", c->u.id, NULL, "audit log downloaded", csv ? "{\"format\":\"csv\"}" : "{\"format\":\"json\"}");
    return rc;
}

static int do_export(ctx *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "account", me_json(c->api, c->st, &c->u));
    cJSON *visits = cJSON_AddArrayToObject(o, "visits");
    sqlite3_stmt *q = prep(c->st, "SELECT rowid, id, label, created_ms, expires_ms, state, ended_ms FROM visits"
                               " WHERE clinician_id = ? ORDER BY created_ms");
    if (q)
        sqlite3_bind_int64(q, 1, c->u.id);
    while (q && sqlite3_step(q) == SQLITE_ROW)
        visit_json_add(c->st, q, visits);
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
    int rc = reply_json(c->rs, 200, o);
    snprintf(c->rs->disposition, sizeof c->rs->disposition, "attachment; filename=\"televisit-my-data.json\"");
    audit(c->st, c->rq, "data_exported", c->u.id, NULL, "all account data exported", "{\"format\":\"json\",\"scope\":\"all\"}");
    return rc;
}

static int do_account_delete(ctx *c)
{
    int rc;
    if (reply_if_blocked(c->st, c->rq, &c->u, c->rs)) {
        rc = 0;
    } else if (verify_password(c->api, &c->u, str_of(c->body, "password")) != 0) {
        rc = reply_auth_failure(c->st, c->rq, &c->u, "account_delete", "The password is wrong.", c->rs);
    } else {
        /* visits, chat, sessions, keys and codes go with the account (ON DELETE CASCADE); the audit log
         * keeps its records, which name the account only by number (never given again: AUTOINCREMENT).
         * Its open visits are read in the same transaction, so their rooms end: a patient waiting in
         * one is told, rather than left in a lobby nobody can open any more. */
        cJSON *rooms = cJSON_CreateArray();
        rc = rooms ? begin(c->st) : TV_ERR_NOMEM;
        sqlite3_stmt *q = rc == 0 ? prep(c->st, "SELECT id FROM visits WHERE clinician_id = ? AND state = 'open'") : NULL;
        if (q) {
            sqlite3_bind_int64(q, 1, c->u.id);
            while (sqlite3_step(q) == SQLITE_ROW)
                cJSON_AddItemToArray(rooms, cJSON_CreateString((const char *)sqlite3_column_text(q, 0)));
            sqlite3_finalize(q);
        } else if (rc == 0) {
            rc = TV_ERR_STORAGE;
        }
        if (rc == 0)
            rc = exec_id(c->st, "DELETE FROM users WHERE id = ?", c->u.id);
        if (commit(c->st, rc) == 0) {
            audit(c->st, c->rq, "account_deleted", c->u.id, NULL, "account and its data deleted by its owner", NULL);
            notify_sessions_changed(c->api, c->u.id);
            for (cJSON *v = rooms->child; v && c->api->notify; v = v->next)
                c->api->notify(c->api->notify_ctx, "visit_ended", v->valuestring);
            session_cookie(c->rs, NULL, 0);
            rc = reply_ok(c->rs, 200, "status", "deleted");
        } else {
            rc = reply_error(c->rs, 500, TV_ERR_STORAGE, "The server could not delete the account. Try again.");
        }
        cJSON_Delete(rooms);
    }
    return rc;
}

static int do_policy(ctx *c)
{
    (void)c->st, (void)c->rq;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "min_length", c->api->policy.min_length);
    cJSON_AddNumberToObject(o, "min_score", c->api->policy.min_score);
    cJSON_AddNumberToObject(o, "session_idle_s", c->api->cfg->session_idle_min * 60);
    cJSON_AddBoolToObject(o, "require_2fa", c->api->cfg->require_2fa);
    cJSON *sso = cJSON_AddArrayToObject(o, "sso");
    for (int i = 0; i < c->api->oidc.n; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "id", c->api->oidc.p[i].id);
        cJSON_AddStringToObject(p, "name", c->api->oidc.p[i].name);
        cJSON_AddItemToArray(sso, p);
    }
    /* the EHR origins allowed to frame us (CSP frame-ancestors): the embed bridge talks to these only */
    cJSON *origins = cJSON_AddArrayToObject(o, "embed_origins");
    const char *f = c->api->cfg->frame_ancestors;
    while (*f) {
        size_t n = strcspn(f, " ");
        if (n > 0) {
            char one[TV_CONFIG_STR];
            snprintf(one, sizeof one, "%.*s", (int)n, f);
            cJSON_AddItemToArray(origins, cJSON_CreateString(one));
        }
        f += n;
        f += strspn(f, " ");
    }
    return reply_json(c->rs, 200, o);
}

/* ---- single sign-on (OpenID Connect, SMART on FHIR EHR launch) ---- */

static void redirect_uri(tv_api *api, char *out, size_t size)
{
    snprintf(out, size, "%s/api/sso/callback", api->public_url);
}

static int reply_redirect(tv_api_resp *rs, const char *where)
{
    rs->status = 303;
    snprintf(rs->location, sizeof rs->location, "%s", where);
    rs->content_type = "application/json";
    rs->body = strdup("{}");
    rs->body_len = rs->body ? 2 : 0;
    return rs->body ? 0 : TV_ERR_NOMEM;
}

static void sso_audit_failure(tv_store *st, const tv_api_req *rq, int64_t uid, const char *provider, const char *reason)
{
    char extra[160];
    snprintf(extra, sizeof extra, "{\"method\":\"sso\",\"provider\":\"%s\",\"reason\":\"%s\"}", provider, reason);
    audit(st, rq, "sso_failure", uid, NULL, "single sign-on refused", extra);
}

static void sso_key(tv_store *st, uint8_t key[32])
{
    tv_record_subkey(st->master, TV_RECORD_SSO, key);
}

/* A new pending sign-in: its state (in the authorization URL), and the authorization URL. bind:
 * the browser cookie it is tied to (redirect, link, launch); handle: the popup's claim ticket. */
static int sso_flow_create(tv_api *api, tv_store *st, const tv_api_req *rq, int idx, const char *mode, int64_t link_uid,
                           const char *launch, tv_api_resp *rs, char *url, size_t url_size, char handle[TV_TOKEN_STRBYTES])
{
    char state[TV_TOKEN_STRBYTES], bind[TV_TOKEN_STRBYTES], verifier[44], challenge[44], nonce[44], redir[TV_CONFIG_STR + 64];
    uint8_t sh[TV_TOKEN_HASHBYTES], bh[TV_TOKEN_HASHBYTES], hh[TV_TOKEN_HASHBYTES], key[32];
    int popup = strcmp(mode, "popup") == 0;
    if (tv_token_generate(state, sizeof state) != 0 || tv_token_hash(state, TV_TOKEN_CHARS, sh, sizeof sh) != 0 ||
        tv_token_generate(bind, sizeof bind) != 0 || tv_token_hash(bind, TV_TOKEN_CHARS, bh, sizeof bh) != 0 ||
        tv_token_generate(handle, TV_TOKEN_STRBYTES) != 0 || tv_token_hash(handle, TV_TOKEN_CHARS, hh, sizeof hh) != 0)
        return TV_ERR_INVALID;
    sso_key(st, key);
    tv_oidc_derive(key, state, verifier, challenge, nonce);
    sodium_memzero(key, sizeof key);
    redirect_uri(api, redir, sizeof redir);
    int rc = tv_oidc_auth_url(&api->oidc, idx, redir, state, nonce, challenge, launch, rq->now_ms, url, url_size);
    sodium_memzero(verifier, sizeof verifier);
    if (rc == 0) {
        sqlite3_stmt *q = prep(st, "INSERT INTO sso_flows (state_hash, bind_hash, handle_hash, provider, mode, link_uid,"
                                   " created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
        if (q) {
            sqlite3_bind_blob(q, 1, sh, sizeof sh, SQLITE_TRANSIENT);
            if (popup)
                sqlite3_bind_blob(q, 3, hh, sizeof hh, SQLITE_TRANSIENT);
            else
                sqlite3_bind_blob(q, 2, bh, sizeof bh, SQLITE_TRANSIENT);
            sqlite3_bind_text(q, 4, api->oidc.p[idx].id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(q, 5, mode, -1, SQLITE_STATIC);
            if (link_uid)
                sqlite3_bind_int64(q, 6, link_uid);
            sqlite3_bind_int64(q, 7, rq->now_ms);
            sqlite3_bind_int64(q, 8, rq->now_ms + TV_API_SSO_FLOW_MS);
        }
        rc = run(q);
        /* expired flows go when new ones come: the table stays the size of ten minutes of sign-ins */
        exec_id(st, "DELETE FROM sso_flows WHERE expires_ms < ?", rq->now_ms - TV_API_SSO_FLOW_MS);
    }
    if (rc == 0 && !popup)
        cookie(rs, TV_API_SSO_COOKIE, bind, TV_API_SSO_FLOW_MS / 1000);
    sodium_memzero(state, sizeof state);
    sodium_memzero(bind, sizeof bind);
    return rc;
}

static int do_sso_start(ctx *c)
{
    const char *mode = str_of(c->body, "mode");
    int idx, rc, link = strcmp(mode, "link") == 0;
    if (strcmp(mode, "redirect") != 0 && strcmp(mode, "popup") != 0 && !link) {
        rc = reply_error(c->rs, 400, TV_ERR_MSG_FIELD_VALUE, "\"mode\" is redirect, popup or link.");
    } else if (!link && (str_of(c->body, "password") || str_of(c->body, "code"))) {
        rc = reply_error(c->rs, 400, TV_ERR_MSG_FIELD_VALUE, "\"password\" and \"code\" go with mode link only.");
    } else if (tv_oidc_find(&c->api->oidc, str_of(c->body, "provider"), &idx) != 0) {
        rc = reply_error(c->rs, 404, TV_ERR_NOT_FOUND, "There is no such sign-in provider.");
    } else if (link && authenticate(c, 1) != 0) {
        rc = 0;   /* linking is for a signed-in clinician: the 401 is in rs */
    } else if (link && reauth(c->api, c->st, c->rq, &c->u, str_of(c->body, "password"), str_of(c->body, "code"), "sso_link",
                              "The password or the code is wrong.", c->rs) != 0) {
        rc = 0;   /* a link is another way in: its owner proves it is them, the refusal is in rs */
    } else {
        char url[2048], handle[TV_TOKEN_STRBYTES];
        rc = sso_flow_create(c->api, c->st, c->rq, idx, mode, c->u.id, NULL, c->rs, url, sizeof url, handle);
        if (rc == 0) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "url", url);
            if (strcmp(mode, "popup") == 0)
                cJSON_AddStringToObject(o, "handle", handle);
            rc = reply_json(c->rs, 200, o);
        } else {
            c->rs->set_cookie[0] = '\0';
            rc = rc == TV_ERR_BUSY      ? reply_error(c->rs, 502, TV_ERR_BUSY, "The sign-in provider cannot be reached. Try again.")
                 : rc == TV_ERR_STORAGE ? reply_storage(c->rs)
                                        : reply_error(c->rs, 500, rc, "The sign-in could not be started (check the provider's settings).");
        }
        sodium_memzero(handle, sizeof handle);
    }
    return rc;
}

/* SMART on FHIR EHR launch: GET /launch?iss=FHIR_BASE&launch=HANDLE, from the EHR (often in its
 * frame). Only a FHIR base named in the providers file is followed: anything else could send a
 * clinician to a look-alike sign-in page. */
static int do_launch(ctx *c)
{
    char iss[TV_OIDC_URL], launch[512], url[2048], handle[TV_TOKEN_STRBYTES];
    int idx;
    if (query_param(c->rq->query, "iss", iss, sizeof iss) != 0 || query_param(c->rq->query, "launch", launch, sizeof launch) != 0 ||
        launch[0] == '\0') {
        sso_audit_failure(c->st, c->rq, 0, "", "launch_malformed");
        return reply_redirect(c->rs, "/#sso_error=sso_launch");
    }
    if (tv_oidc_find_fhir(&c->api->oidc, iss, &idx) != 0) {
        sso_audit_failure(c->st, c->rq, 0, "", "unknown_ehr");
        return reply_redirect(c->rs, "/#sso_error=sso_unknown_ehr");
    }
    int rc = sso_flow_create(c->api, c->st, c->rq, idx, "launch", 0, launch, c->rs, url, sizeof url, handle);
    sodium_memzero(handle, sizeof handle);
    if (rc != 0) {
        c->rs->set_cookie[0] = '\0';
        sso_audit_failure(c->st, c->rq, 0, c->api->oidc.p[idx].id, tv_err_name(rc));
        return reply_redirect(c->rs, "/#sso_error=sso_unreachable");
    }
    return reply_redirect(c->rs, url);
}

/* The identity's key here: issuer and subject, or for a SMART EHR its fhirUser. */
static const char *sso_subject(const tv_oidc_provider *p, const tv_oidc_identity *id)
{
    return p->fhir_base[0] ? id->fhir_user : id->subject;
}

/* Links the identity to uid. A link to the same account again changes nothing; one held by another
 * account is TV_ERR_CONFLICT. */
static int link_insert(tv_store *st, const tv_api_req *rq, const tv_oidc_provider *p, const tv_oidc_identity *id, int64_t uid)
{
    sqlite3_stmt *q = prep(st, "INSERT INTO sso_links (issuer, subject, user_id, provider, created_ms) VALUES (?, ?, ?, ?, ?)"
                               " ON CONFLICT (issuer, subject) DO UPDATE SET created_ms = created_ms WHERE user_id = excluded.user_id");
    if (q) {
        sqlite3_bind_text(q, 1, id->issuer, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, sso_subject(p, id), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 3, uid);
        sqlite3_bind_text(q, 4, p->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 5, rq->now_ms);
    }
    int rc = run(q);
    return rc == 0 && sqlite3_changes(st->db) == 0 ? TV_ERR_CONFLICT : rc;
}

/* Who the identity is here: a linked account, or a new one when the provider provisions. One
 * transaction: two first sign-ins of the same person at once make one account. */
static int sso_resolve(tv_store *st, const tv_api_req *rq, const tv_oidc_provider *p,
                       const tv_oidc_identity *id, int64_t *uid, const char **reason)
{
    if (sso_subject(p, id)[0] == '\0')
        return *reason = "no_fhir_user", TV_ERR_JWT_CLAIM;
    int rc = begin(st), created = 0;
    sqlite3_stmt *q = rc == 0 ? prep(st, "SELECT user_id FROM sso_links WHERE issuer = ? AND subject = ?") : NULL;
    if (q) {
        sqlite3_bind_text(q, 1, id->issuer, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, sso_subject(p, id), -1, SQLITE_TRANSIENT);
        *uid = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
        sqlite3_finalize(q);
    } else {
        rc = TV_ERR_STORAGE;
    }
    user u;
    /* Provisioning goes by a verified e-mail that no account has yet: an existing account is only
     * linked by its owner, signed in, so a provider cannot take over an account by its address. */
    if (rc != 0 || *uid)
        ;
    else if (!p->auto_provision)
        *reason = "not_linked", rc = TV_ERR_NOT_FOUND;
    else if (!id->email_verified || tv_mail_address_ok(id->email, strlen(id->email)) != 0)
        *reason = "no_verified_email", rc = TV_ERR_NOT_FOUND;
    else if (user_by_email(st, id->email, &u) == 0)
        *reason = "account_exists", rc = TV_ERR_CONFLICT, wipe_user(&u);
    else if ((rc = insert_user(st, id->email, "", "active", 0, rq->now_ms, uid)) == 0 &&   /* "": no password verifies */
             (rc = link_insert(st, rq, p, id, *uid)) == 0)
        created = 1;
    if (*reason) {
        commit(st, TV_ERR_NOT_FOUND);   /* rolls back */
        return rc;
    }
    if (commit(st, rc) != 0)
        return TV_ERR_STORAGE;
    if (created) {
        char extra[96];
        snprintf(extra, sizeof extra, "{\"provider\":\"%s\"}", p->id);
        audit(st, rq, "account_created", *uid, NULL, "account provisioned by single sign-on", extra);
    }
    return 0;
}

/* The account single sign-on names may sign in: active, and from an allowed address. */
static int sso_account(tv_store *st, const tv_api_req *rq, int64_t uid, user *u, const char **reason)
{
    if (user_by_id(st, uid, u) != 0 || strcmp(u->status, "active") != 0)
        return *reason = "not_active", TV_ERR_FORBIDDEN;
    if (!tv_api_ip_allowed(u->ip_allow, rq->ip))
        return *reason = "ip_not_allowed", TV_ERR_FORBIDDEN;
    return 0;
}

/* Signed in by single sign-on. The account's own second factor still applies (a provider's MFA is
 * not ours to vouch for): with TOTP on, the session is the half one of the code step. */
static int sso_session(tv_api *api, tv_store *st, const tv_api_req *rq, const user *u, const char *provider,
                       const char *method, tv_api_resp *rs)
{
    const char *stage = u->totp_enabled ? "totp" : "full";
    /* Only a full session starts the count over: reset at the provider's half, a provider session
     * could go on guessing codes without ever being blocked. */
    if (!u->totp_enabled) {
        throttle t;
        throttle_of(st, u->email, rq->ip, &t);
        throttle_clear(st, &t);
    }
    if (session_create(api, st, rq, u->id, stage, rq->now_ms, rs) != 0)
        return TV_ERR_STORAGE;
    char extra[200];
    snprintf(extra, sizeof extra, "{\"method\":\"%s\",\"provider\":\"%s\",\"next\":\"%s\"}", method, provider,
             u->totp_enabled ? "totp" : "done");
    audit(st, rq, "sso_success", u->id, NULL, "signed in by single sign-on", extra);
    return 0;
}

/* A pending sign-in as its callback finds it. */
typedef struct sso_flow {
    int found, has_bind;
    char provider[32], mode[12];
    int64_t link_uid, expires;
    uint8_t bind_hash[TV_TOKEN_HASHBYTES];
} sso_flow;

/* Reads the pending flow of this state and marks it used, in one transaction: single use, whatever
 * follows. */
static int sso_flow_take(tv_store *st, const uint8_t sh[TV_TOKEN_HASHBYTES], sso_flow *f)
{
    memset(f, 0, sizeof *f);
    int rc = begin(st);
    sqlite3_stmt *q = rc == 0 ? prep(st, "SELECT provider, mode, coalesce(link_uid, 0), expires_ms, bind_hash FROM sso_flows"
                                         " WHERE state_hash = ? AND status = 'pending'")
                              : NULL;
    if (q) {
        sqlite3_bind_blob(q, 1, sh, TV_TOKEN_HASHBYTES, SQLITE_TRANSIENT);
        if (sqlite3_step(q) == SQLITE_ROW) {
            f->found = 1;
            snprintf(f->provider, sizeof f->provider, "%s", (const char *)sqlite3_column_text(q, 0));
            snprintf(f->mode, sizeof f->mode, "%s", (const char *)sqlite3_column_text(q, 1));
            f->link_uid = sqlite3_column_int64(q, 2);
            f->expires = sqlite3_column_int64(q, 3);
            if ((f->has_bind = sqlite3_column_bytes(q, 4) == sizeof f->bind_hash))
                memcpy(f->bind_hash, sqlite3_column_blob(q, 4), sizeof f->bind_hash);
        }
        sqlite3_finalize(q);
    }
    if (f->found) {
        q = prep(st, "UPDATE sso_flows SET status = 'failed' WHERE state_hash = ?");
        if (q)
            sqlite3_bind_blob(q, 1, sh, TV_TOKEN_HASHBYTES, SQLITE_TRANSIENT);
        rc = run(q);
    }
    return commit(st, rc);
}

/* Why the callback cannot go on to the provider's token endpoint, or NULL; code: the query's code. */
static const char *sso_callback_refusal(ctx *c, const sso_flow *f, int *idx, char *code, size_t code_size)
{
    const tv_api_req *rq = c->rq;
    char iss[TV_OIDC_URL];
    uint8_t got_bind[TV_TOKEN_HASHBYTES];
    if (!f->found)
        return "sso_state";   /* unknown, or used already: a replayed callback */
    if (f->expires < rq->now_ms)
        return "sso_expired";
    if (tv_oidc_find(&c->api->oidc, f->provider, idx) != 0)
        return "sso_unknown_provider";
    if (strcmp(f->mode, "popup") != 0 &&
        (!f->has_bind || rq->sso_bind == NULL || tv_token_hash(rq->sso_bind, strlen(rq->sso_bind), got_bind, sizeof got_bind) != 0 ||
         sodium_memcmp(got_bind, f->bind_hash, sizeof got_bind) != 0))
        return "sso_browser";   /* not the browser that began it: login CSRF, or a link passed on */
    if (query_param(rq->query, "error", code, code_size) == 0)
        return "sso_denied";
    if (query_param(rq->query, "iss", iss, sizeof iss) == 0 && strcmp(iss, c->api->oidc.p[*idx].issuer) != 0)
        return "sso_issuer";  /* RFC 9207: an answer from another provider (mix-up) */
    if (query_param(rq->query, "code", code, code_size) != 0 || code[0] == '\0')
        return "sso_state";
    return NULL;
}

static int sso_fail_redirect(ctx *c, int64_t uid, const char *provider, const char *fail_page, const char *reason, const char *shown)
{
    char where[256];
    sso_audit_failure(c->st, c->rq, uid, provider, reason);
    snprintf(where, sizeof where, "%s%s", fail_page, shown);
    return reply_redirect(c->rs, where);
}

/* A link made: another way into the account, so the sessions of other devices end (this browser's,
 * which began the link, stays) and the owner is told. */
static int sso_linked(ctx *c, const tv_oidc_provider *p, const user *u)
{
    uint8_t keep[TV_TOKEN_HASHBYTES];
    const char *session = c->rq->session;
    int has_keep = session && tv_token_hash(session, strlen(session), keep, sizeof keep) == 0;
    sessions_delete_user(c->st, u->id, has_keep ? keep : NULL);
    notify_sessions_changed(c->api, u->id);
    char extra[96], change[160];
    snprintf(extra, sizeof extra, "{\"provider\":\"%s\"}", p->id);
    audit(c->st, c->rq, "sso_linked", u->id, NULL, "single sign-on identity linked; other sessions ended", extra);
    snprintf(change, sizeof change, "Sign-in with %s was linked", p->name);
    security_notice(c->api, c->rq, c->rs, u, change);
    return reply_redirect(c->rs, "/#sso_linked");
}

/* The frame that began a popup sign-in claims the session with its handle and this result, which
 * only the popup and its opener learn: a sign-in finished from a link someone was sent is never
 * claimed. */
static int sso_popup_done(ctx *c, const uint8_t sh[TV_TOKEN_HASHBYTES], int64_t uid)
{
    char result[TV_TOKEN_STRBYTES], where[128];
    uint8_t rh[TV_TOKEN_HASHBYTES];
    int rc = tv_token_generate(result, sizeof result) == 0 && tv_token_hash(result, TV_TOKEN_CHARS, rh, sizeof rh) == 0 ? 0 : TV_ERR_INVALID;
    sqlite3_stmt *q = rc == 0 ? prep(c->st, "UPDATE sso_flows SET status = 'done', user_id = ?, result_hash = ?, expires_ms = ? WHERE state_hash = ?") : NULL;
    if (q) {
        sqlite3_bind_int64(q, 1, uid);
        sqlite3_bind_blob(q, 2, rh, sizeof rh, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 3, c->rq->now_ms + 120000);
        sqlite3_bind_blob(q, 4, sh, TV_TOKEN_HASHBYTES, SQLITE_TRANSIENT);
    }
    rc = run(q);
    snprintf(where, sizeof where, "/sso-done.html#result=%s", result);
    sodium_memzero(result, sizeof result);
    rc = rc == 0 ? reply_redirect(c->rs, where) : reply_redirect(c->rs, "/sso-done.html#error=storage_failed");
    sodium_memzero(where, sizeof where);
    return rc;
}

/* Signed in from the redirect or an EHR launch: the console, or the code step, or a visit the EHR
 * named when it is this clinician's. */
static int sso_landing(ctx *c, const tv_oidc_provider *p, const sso_flow *f, const user *u, const char *visit)
{
    if (sso_session(c->api, c->st, c->rq, u, p->id, strcmp(f->mode, "launch") == 0 ? "smart" : "sso", c->rs) != 0)
        return reply_redirect(c->rs, "/#sso_error=storage_failed");
    if (u->totp_enabled)   /* the console's code step; the visit the EHR named is opened from the dashboard */
        return reply_redirect(c->rs, "/#/second");
    int own = 0;
    sqlite3_stmt *q = visit[0] ? prep(c->st, "SELECT 1 FROM visits WHERE id = ? AND clinician_id = ?") : NULL;
    if (q) {
        sqlite3_bind_text(q, 1, visit, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 2, u->id);
        own = sqlite3_step(q) == SQLITE_ROW;
        sqlite3_finalize(q);
    }
    char where[256] = "/";
    if (own && strspn(visit, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == strlen(visit))
        snprintf(where, sizeof where, "/#visit=%s", visit);
    return reply_redirect(c->rs, where);
}

/* The provider sends the browser back here with ?code&state (or ?error&state). The flow is taken
 * once, before anything else: a second visit of the same address finds it used. */
static int do_sso_callback(ctx *c)
{
    char state[TV_TOKEN_STRBYTES + 8], code[4096];
    uint8_t sh[TV_TOKEN_HASHBYTES];
    if (query_param(c->rq->query, "state", state, sizeof state) != 0 || tv_token_hash(state, strlen(state), sh, sizeof sh) != 0)
        return sso_fail_redirect(c, 0, "", "/#sso_error=", "state_malformed", "sso_state");
    sso_flow f;
    if (sso_flow_take(c->st, sh, &f) != 0)
        return reply_storage(c->rs);
    int idx = 0, link = strcmp(f.mode, "link") == 0;
    const char *fail_page = strcmp(f.mode, "popup") == 0 ? "/sso-done.html#error=" : "/#sso_error=";
    const char *reason = sso_callback_refusal(c, &f, &idx, code, sizeof code);
    if (reason)
        return sso_fail_redirect(c, 0, f.provider, fail_page, reason, reason);
    const tv_oidc_provider *p = &c->api->oidc.p[idx];
    char verifier[44], challenge[44], nonce[44], redir[TV_CONFIG_STR + 64];
    uint8_t key[32];
    sso_key(c->st, key);
    tv_oidc_derive(key, state, verifier, challenge, nonce);
    sodium_memzero(key, sizeof key);
    redirect_uri(c->api, redir, sizeof redir);
    tv_oidc_identity id;
    int rc = tv_oidc_exchange(&c->api->oidc, idx, redir, code, verifier, nonce, c->rq->now_ms, &id);
    sodium_memzero(verifier, sizeof verifier);
    sodium_memzero(code, sizeof code);
    int64_t uid = 0;
    if (rc != 0)
        reason = rc == TV_ERR_UNAUTHORIZED ? "sso_code_refused" : rc == TV_ERR_BUSY ? "sso_unreachable" : tv_err_name(rc);
    else if (link)
        uid = f.link_uid;
    else
        rc = sso_resolve(c->st, c->rq, p, &id, &uid, &reason);
    if (rc == 0 && reason == NULL)   /* the user goes in c->u: the dispatcher wipes it */
        rc = sso_account(c->st, c->rq, uid, &c->u, &reason);
    if (rc == 0 && reason == NULL && link) {
        if (sso_subject(p, &id)[0] == '\0')
            reason = "no_fhir_user";
        else if ((rc = link_insert(c->st, c->rq, p, &id, uid)) == TV_ERR_CONFLICT)
            reason = "linked_elsewhere";
    }
    if (reason || rc != 0)
        return sso_fail_redirect(c, uid, p->id, fail_page, reason ? reason : tv_err_name(rc), reason ? reason : "sso_failed");
    if (link)
        return sso_linked(c, p, &c->u);
    if (strcmp(f.mode, "popup") == 0)
        return sso_popup_done(c, sh, uid);
    return sso_landing(c, p, &f, &c->u, id.visit);
}

static int do_sso_finish(ctx *c)
{
    uint8_t hh[TV_TOKEN_HASHBYTES], rh[TV_TOKEN_HASHBYTES];
    int ok = tv_token_hash(str_of(c->body, "handle"), strlen(str_of(c->body, "handle")), hh, sizeof hh) == 0 &&
             tv_token_hash(str_of(c->body, "result"), strlen(str_of(c->body, "result")), rh, sizeof rh) == 0;
    int64_t uid = 0;
    char provider[32] = "";
    int rc = begin(c->st);
    sqlite3_stmt *q = ok && rc == 0 ? prep(c->st, "SELECT user_id, provider FROM sso_flows WHERE handle_hash = ? AND result_hash = ?"
                                               " AND status = 'done' AND expires_ms >= ?")
                                    : NULL;
    if (q) {
        sqlite3_bind_blob(q, 1, hh, sizeof hh, SQLITE_TRANSIENT);
        sqlite3_bind_blob(q, 2, rh, sizeof rh, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 3, c->rq->now_ms);
        if (sqlite3_step(q) == SQLITE_ROW) {
            uid = sqlite3_column_int64(q, 0);
            snprintf(provider, sizeof provider, "%s", (const char *)sqlite3_column_text(q, 1));
        }
        sqlite3_finalize(q);
    }
    if (uid) {
        q = prep(c->st, "UPDATE sso_flows SET status = 'claimed' WHERE handle_hash = ?");
        if (q)
            sqlite3_bind_blob(q, 1, hh, sizeof hh, SQLITE_TRANSIENT);
        rc = run(q);
    }
    if (commit(c->st, rc) != 0)
        return reply_storage(c->rs);
    if (uid == 0) {
        sso_audit_failure(c->st, c->rq, 0, provider, "claim_refused");
        return reply_error(c->rs, 400, TV_ERR_TOKEN_MISMATCH, "This sign-in is not valid or was already used. Sign in again.");
    }
    user u;
    const char *reason = NULL;
    if (sso_account(c->st, c->rq, uid, &u, &reason) != 0) {   /* disabled or moved since the callback */
        sso_audit_failure(c->st, c->rq, uid, provider, reason);
        wipe_user(&u);
        return reply_error(c->rs, 403, TV_ERR_FORBIDDEN, "This account cannot sign in from here.");
    }
    if (sso_session(c->api, c->st, c->rq, &u, provider, "sso", c->rs) != 0) {
        wipe_user(&u);
        return reply_error(c->rs, 500, TV_ERR_STORAGE, "The server could not sign you in. Try again.");
    }
    int rc2;
    if (u.totp_enabled) {
        rc2 = reply_ok(c->rs, 200, "next", "totp");
    } else {
        u.session_created_ms = c->rq->now_ms;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "next", "done");
        cJSON_AddItemToObject(o, "user", me_json(c->api, c->st, &u));
        rc2 = reply_json(c->rs, 200, o);
    }
    wipe_user(&u);
    return rc2;
}

/* Why the account's links to provider cannot go (the refusal then in rs), or 0. */
static int unlink_check(tv_store *st, const user *u, const char *provider, tv_api_resp *rs)
{
    int linked = 0, others = 0;
    sqlite3_stmt *q = prep(st, "SELECT coalesce(sum(provider = ?1), 0), coalesce(sum(provider != ?1), 0) FROM sso_links"
                               " WHERE user_id = ?2");
    if (q) {
        sqlite3_bind_text(q, 1, provider, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 2, u->id);
    }
    int rc = q && sqlite3_step(q) == SQLITE_ROW ? 0 : TV_ERR_STORAGE;
    if (rc == 0)
        linked = sqlite3_column_int(q, 0), others = sqlite3_column_int(q, 1);
    sqlite3_finalize(q);
    if (rc != 0)
        return reply_storage(rs), rc;
    if (linked == 0)
        return reply_error(rs, 404, TV_ERR_NOT_FOUND, "This account is not linked with this provider."), TV_ERR_NOT_FOUND;
    if (others == 0 && u->pw_hash[0] == '\0')
        return reply_error(rs, 409, TV_ERR_CONFLICT, "This is the only way to sign in to this account, which has no password: "
                                                     "set one first (\"Forgot your password?\" on the sign-in page), then unlink."),
               TV_ERR_CONFLICT;
    return 0;
}

/* Removes the account's links to a provider. Re-authenticated like a link; never the last way into
 * an account without a password, which would be locked out for good. */
static int do_sso_unlink(ctx *c)
{
    const char *provider = str_of(c->body, "provider");
    int rc = unlink_check(c->st, &c->u, provider, c->rs);   /* the cheap refusals before Argon2id */
    if (rc == 0 && reauth(c->api, c->st, c->rq, &c->u, str_of(c->body, "password"), str_of(c->body, "code"), "sso_unlink",
                          "The password or the code is wrong.", c->rs) != 0)
        rc = TV_ERR_CREDENTIALS;
    if (rc == 0 && (rc = begin(c->st)) != 0)
        reply_storage(c->rs);
    if (rc == 0) {
        /* checked again inside the write transaction: two unlinks at once cannot both pass it */
        rc = unlink_check(c->st, &c->u, provider, c->rs);
        sqlite3_stmt *q = rc == 0 ? prep(c->st, "DELETE FROM sso_links WHERE user_id = ? AND provider = ?") : NULL;
        if (q) {
            sqlite3_bind_int64(q, 1, c->u.id);
            sqlite3_bind_text(q, 2, provider, -1, SQLITE_TRANSIENT);
        }
        if (rc == 0)
            rc = run(q);
        if (rc == 0)
            rc = sessions_delete_user(c->st, c->u.id, c->u.session_hash);
        int stored = c->rs->body == NULL;   /* no refusal written yet */
        if ((rc = commit(c->st, rc)) != 0 && stored)
            reply_storage(c->rs);
    }
    if (rc == 0) {
        int idx;
        char extra[96], change[160];
        notify_sessions_changed(c->api, c->u.id);
        snprintf(extra, sizeof extra, "{\"provider\":\"%s\"}", provider);
        audit(c->st, c->rq, "sso_unlinked", c->u.id, NULL, "single sign-on identity unlinked; other sessions ended", extra);
        snprintf(change, sizeof change, "Sign-in with %s was unlinked",
                 tv_oidc_find(&c->api->oidc, provider, &idx) == 0 ? c->api->oidc.p[idx].name : provider);
        security_notice(c->api, c->rq, c->rs, &c->u, change);
        rc = reply_ok(c->rs, 200, "status", "unlinked");
    } else {
        rc = 0;   /* the refusal is in rs */
    }
    return rc;
}

/* ---- routing ---- */

/* Who may call a route: anyone; the half session between the password and the code; a full session
 * that may still have to enrol 2FA (the administrator's require_2fa); a full session with 2FA done
 * where it is required. */
enum { AUTH_OPEN, AUTH_SECOND, AUTH_ENROLLING, AUTH_FULL };
enum {
    RATE_LIMITED = 1,   /* the per-address rate limit applies */
    PAGE_ONLY = 2,      /* a GET only our pages' fetch may make: a download of the account's data */
};

/* Request bodies, in tv_json's field language (the one signaling messages use): strings the route
 * checks itself are ANY; what is shown to people gets the displayed-text classes. */
#define S(n, max, fl) TV_JSON_F_STR(n, fl, TV_JSON_ANY, 0, max)
#define REQ TV_JSON_REQ
#define PW(fl) S("password", TV_PASSWORD_MAX_BYTES, fl)
#define EMAIL S("email", TV_MAIL_ADDRESS_MAX, REQ)
#define END TV_JSON_F_END
static const tv_json_field b_email_pw[] = { EMAIL, PW(REQ), END };
static const tv_json_field b_key_pw[] = { S("key", 64, REQ), PW(REQ), END };
static const tv_json_field b_pw_check[] = { PW(REQ), S("email", TV_MAIL_ADDRESS_MAX, 0), END };
static const tv_json_field b_second[] = { S("code", 16, TV_JSON_ONE_OF), S("recovery_code", 32, TV_JSON_ONE_OF), END };
static const tv_json_field b_settings[] = { S("ip_allow", 500, REQ), END };
static const tv_json_field b_pw_opt[] = { PW(0), END };
static const tv_json_field b_pw_req[] = { PW(REQ), END };
static const tv_json_field b_code[] = { S("code", 16, REQ), END };
static const tv_json_field b_pw_code[] = { PW(0), S("code", 16, REQ), END };
static const tv_json_field b_pw_change[] = { S("current", TV_PASSWORD_MAX_BYTES, REQ), PW(REQ), END };
static const tv_json_field b_forgot[] = { EMAIL, END };
static const tv_json_field b_visit[] = { TV_JSON_F_STR("label", 0, TV_JSON_NAME, 0, 200), END };
static const tv_json_field b_visit_id[] = { S("id", 64, REQ), END };
static const tv_json_field b_invite[] = { S("token", 64, REQ), END };
static const tv_json_field b_sso_start[] = { S("provider", 31, REQ), S("mode", 8, REQ), PW(0), S("code", 16, 0), END };
static const tv_json_field b_sso_finish[] = { S("handle", TV_TOKEN_CHARS, REQ), S("result", TV_TOKEN_CHARS, REQ), END };
static const tv_json_field b_sso_unlink[] = { S("provider", 31, REQ), PW(0), S("code", 16, 0), END };

static int do_visit_end(ctx *c) { return do_visit_close(c, "ended"); }
static int do_visit_revoke(ctx *c) { return do_visit_close(c, "revoked"); }

typedef struct tv_api_route {
    const char *method, *path;
    int (*fn)(ctx *c);
    int auth, flags;
    const tv_json_field *body;   /* NULL: the route reads no body */
} tv_api_route;

/* The API: method, path, handler, who may call it, flags, body. */
extern const tv_api_route tv_api_routes[];
extern const size_t tv_api_nroutes;
const tv_api_route tv_api_routes[] = {
    { "GET", "/api/policy", do_policy, AUTH_OPEN, 0, NULL },
    { "POST", "/api/sso/start", do_sso_start, AUTH_OPEN, RATE_LIMITED, b_sso_start },   /* mode link: signed in */
    { "GET", "/api/sso/callback", do_sso_callback, AUTH_OPEN, RATE_LIMITED, NULL },
    { "POST", "/api/sso/finish", do_sso_finish, AUTH_OPEN, RATE_LIMITED, b_sso_finish },
    { "POST", "/api/sso/unlink", do_sso_unlink, AUTH_ENROLLING, RATE_LIMITED, b_sso_unlink },
    { "GET", "/launch", do_launch, AUTH_OPEN, RATE_LIMITED, NULL },
    { "POST", "/api/register", do_register, AUTH_OPEN, RATE_LIMITED, b_email_pw },
    { "POST", "/api/activate", do_activate, AUTH_OPEN, RATE_LIMITED, b_key_pw },
    { "POST", "/api/login", do_login, AUTH_OPEN, RATE_LIMITED, b_email_pw },
    { "POST", "/api/login/second", do_login_second, AUTH_SECOND, RATE_LIMITED, b_second },
    { "POST", "/api/logout", do_logout, AUTH_ENROLLING, 0, NULL },
    { "GET", "/api/me", do_me, AUTH_ENROLLING, 0, NULL },
    { "GET", "/api/cache_share", do_cache_share, AUTH_FULL, 0, NULL },
    { "POST", "/api/sessions/revoke", do_sessions_revoke, AUTH_ENROLLING, 0, NULL },
    { "POST", "/api/settings", do_settings, AUTH_FULL, 0, b_settings },
    { "POST", "/api/totp/enroll", do_totp_enroll, AUTH_ENROLLING, RATE_LIMITED, b_pw_opt },
    { "POST", "/api/totp/confirm", do_totp_confirm, AUTH_ENROLLING, RATE_LIMITED, b_code },
    { "POST", "/api/totp/disable", do_totp_disable, AUTH_FULL, RATE_LIMITED, b_pw_code },
    { "POST", "/api/password/change", do_password_change, AUTH_ENROLLING, RATE_LIMITED, b_pw_change },
    { "POST", "/api/password/forgot", do_password_forgot, AUTH_OPEN, RATE_LIMITED, b_forgot },
    { "POST", "/api/password/check", do_password_check, AUTH_OPEN, 0, b_pw_check },
    { "POST", "/api/password/reset", do_password_reset, AUTH_OPEN, RATE_LIMITED, b_key_pw },
    { "POST", "/api/visits", do_visit_create, AUTH_FULL, 0, b_visit },
    { "GET", "/api/visits", do_visit_list, AUTH_FULL, 0, NULL },
    { "POST", "/api/visits/end", do_visit_end, AUTH_FULL, 0, b_visit_id },
    { "POST", "/api/visits/revoke", do_visit_revoke, AUTH_FULL, 0, b_visit_id },
    { "POST", "/api/invite", do_invite, AUTH_OPEN, RATE_LIMITED, b_invite },
    /* the account's data holds its patients' chat and events: behind the 2FA the administrator requires */
    { "GET", "/api/audit", do_audit, AUTH_FULL, PAGE_ONLY, NULL },
    { "GET", "/api/export", do_export, AUTH_FULL, PAGE_ONLY, NULL },
    { "POST", "/api/account/delete", do_account_delete, AUTH_ENROLLING, RATE_LIMITED, b_pw_req },
};
const size_t tv_api_nroutes = sizeof tv_api_routes / sizeof tv_api_routes[0];

/* Strict JSON, an object, only the members the route takes, each once, each of its kind and class.
 * 0 with c->body, or the refusal is in rs. */
static int read_body(ctx *c, const tv_json_field *fields)
{
    cJSON *o = NULL;
    if (tv_json_parse_strict(c->rq->body, c->rq->body_len, &o) != 0)
        return reply_error(c->rs, 400, TV_ERR_MSG_JSON, "The request body is not valid JSON."), TV_ERR_MSG_JSON;
    const char *where = NULL;
    int err = tv_json_check(o, fields, NULL, &where);
    if (err == 0) {
        c->body = o;
        return 0;
    }
    const tv_json_field *f = where ? tv_json_field_of(fields, where) : NULL;
    const char *name = f ? f->name : "";
    char msg[160];
    switch (err) {
    case TV_ERR_MSG_NOT_OBJECT: snprintf(msg, sizeof msg, "The request body must be a JSON object."); break;
    case TV_ERR_MSG_UNKNOWN_FIELD: snprintf(msg, sizeof msg, "Unknown member \"%.60s\".", where ? where : ""); break;
    case TV_ERR_MSG_DUPLICATE_FIELD: snprintf(msg, sizeof msg, "\"%s\" is given twice.", name); break;
    case TV_ERR_MSG_FIELD_TYPE:
        snprintf(msg, sizeof msg, f && f->kind == TV_JSON_BOOL ? "\"%s\" must be true or false." : "\"%s\" must be a string.", name);
        break;
    case TV_ERR_MSG_FIELD_LENGTH: snprintf(msg, sizeof msg, "\"%s\" is too long.", name); break;
    case TV_ERR_MSG_MISSING_FIELD:
        if (f && (f->flags & TV_JSON_ONE_OF))
            snprintf(msg, sizeof msg, "Give either \"%s\" or \"%s\".", f[0].name, f[1].name);
        else
            snprintf(msg, sizeof msg, "\"%s\" is missing.", name);
        break;
    default: snprintf(msg, sizeof msg, "\"%s\" holds characters that are not allowed there.", name);
    }
    tv_json_free_wiped(o);
    reply_error(c->rs, 400, err, msg);
    return err;
}

/* The half session of the code step; 0, or the refusal is in rs. */
static int second_step(ctx *c)
{
    const tv_api_req *rq = c->rq;
    if (session_load(c->api, c->st, rq->session, rq->ip, rq->now_ms, "totp", 1, &c->u) == 0)
        return 0;
    reply_error(c->rs, 401, TV_ERR_UNAUTHORIZED, "Sign in with your password first (or again: that step expired).");
    return TV_ERR_UNAUTHORIZED;
}

/* What every request passes before its route: the method, and for a POST what a cross-site request
 * could not send; a download's proof that our page asked; the rate limit. 0, or the refusal is in rs. */
static int admit(tv_api *api, const tv_api_route *r, const tv_api_req *rq, tv_api_resp *rs)
{
    if (strcmp(rq->method, "POST") == 0) {
        /* Cross-site requests: a form cannot send application/json, and a script on another origin is
         * named by Origin. Inside an EHR frame our pages are still our origin. */
        if (rq->content_type == NULL || strncmp(rq->content_type, "application/json", 16) != 0 ||
            (rq->content_type[16] != '\0' && rq->content_type[16] != ';'))
            return reply_error(rs, 415, TV_ERR_INVALID, "Send JSON, with Content-Type: application/json."), TV_ERR_INVALID;
        if (rq->origin && !tv_api_same_origin(rq->origin, rq->host))
            return reply_error(rs, 403, TV_ERR_FORBIDDEN, "Requests from other sites are refused."), TV_ERR_FORBIDDEN;
        if (rq->body_too_large || rq->body_len > TV_API_BODY_MAX)
            return reply_error(rs, 413, TV_ERR_TOO_LONG, "The request body is too large."), TV_ERR_TOO_LONG;
    }
    /* The session cookie is SameSite=None (it must work inside an EHR's frame), so another site's link,
     * <a download> or navigation carries it: a GET that saves the account's data, decrypted, into the
     * browser's downloads must prove that our own page asked for it. Sec-Fetch-Site, where the browser
     * sends it and we can read it (not over HTTP/2 with libwebsockets 4.1), must agree. */
    if ((r->flags & PAGE_ONLY) &&
        (!rq->from_page || (rq->fetch_site && strcmp(rq->fetch_site, "same-origin") != 0) ||
         (rq->origin && !tv_api_same_origin(rq->origin, rq->host))))
        return reply_error(rs, 403, TV_ERR_FORBIDDEN, "Downloads are made from televisit's own pages only."), TV_ERR_FORBIDDEN;
    int retry = 0;
    if ((r->flags & RATE_LIMITED) && !rate_ok(api, rq->ip ? rq->ip : "", rq->now_ms, &retry)) {
        rs->retry_after_s = retry;
        return reply_error(rs, 429, TV_ERR_RATE_LIMITED, "Too many requests from your network. Wait a moment."), TV_ERR_RATE_LIMITED;
    }
    return 0;
}

int tv_api_handle(tv_api *api, tv_store *st, const tv_api_req *rq, tv_api_resp *rs)
{
    memset(rs, 0, sizeof *rs);
    const tv_api_route *r = NULL;
    int path_known = 0;
    for (size_t i = 0; i < tv_api_nroutes; i++)
        if (strcmp(tv_api_routes[i].path, rq->path) == 0) {
            path_known = 1;
            if (strcmp(tv_api_routes[i].method, rq->method) == 0)
                r = &tv_api_routes[i];
        }
    if (r == NULL)
        return path_known ? reply_error(rs, 405, TV_ERR_INVALID, "This method is not allowed here.")
                          : reply_error(rs, 404, TV_ERR_NOT_FOUND, "There is no such API.");
    if (admit(api, r, rq, rs) != 0)
        return rs->body ? 0 : TV_ERR_NOMEM;
    ctx c = { api, st, rq, rs, { 0 }, NULL };
    /* a signed-in route refuses a stranger before reading what he sent; the code step reads the code first */
    int rc = r->auth >= AUTH_ENROLLING ? authenticate(&c, r->auth == AUTH_ENROLLING) : 0;
    if (rc == 0 && r->body)
        rc = read_body(&c, r->body);
    if (rc == 0 && r->auth == AUTH_SECOND)
        rc = second_step(&c);
    rc = rc == 0 ? r->fn(&c) : (rs->body ? 0 : TV_ERR_NOMEM);
    tv_json_free_wiped(c.body);
    wipe_user(&c.u);
    return rc;
}

/* ---- setup ---- */

int tv_api_init(tv_api *api, const tv_config *cfg)
{
    memset(api, 0, sizeof *api);
    api->cfg = cfg;
    api->nbuckets = TV_API_BUCKETS;
    crypto_shorthash_keygen(api->bucket_key);
    atomic_init(&api->pwhash_verifies, 0);
    tv_pwhash_cost_default(&api->cost);
    api->cost.memlimit = (size_t)cfg->pwhash_mem_mib * 1024 * 1024;
    tv_password_policy_default(&api->policy);
    /* Clinician accounts guard patient data: longer than the core's floor, and zxcvbn's "safely
     * unguessable" (3) where the build has it (natively it always does). */
    api->policy.min_length = 10;
    if (tv_password_have_strength())
        api->policy.min_score = 3;
    char err[300];
    if (tv_oidc_init(&api->oidc, cfg->oidc_providers, cfg->oidc_ca_file, err, sizeof err) != 0) {
        fprintf(stderr, "televisitd: %s\n", err);
        tv_oidc_free(&api->oidc);
        return TV_ERR_INVALID;
    }
    if (cfg->public_url[0])
        snprintf(api->public_url, sizeof api->public_url, "%s", cfg->public_url);
    else
        snprintf(api->public_url, sizeof api->public_url, "https://localhost:%d", cfg->port);
    size_t n = strlen(api->public_url);
    if (n && api->public_url[n - 1] == '/')
        api->public_url[n - 1] = '\0';
    /* a hash of random text, so verifying against it costs what a real account's does */
    char rnd[TV_TOKEN_STRBYTES];
    if (tv_pwhash_cost_check(&api->cost) != 0 || tv_token_generate(rnd, sizeof rnd) != 0 ||
        tv_pwhash(&api->cost, rnd, TV_TOKEN_CHARS, api->dummy_hash, sizeof api->dummy_hash) != 0 ||
        pthread_mutex_init(&api->lock, NULL) != 0) {
        tv_oidc_free(&api->oidc);   /* nothing else to undo: tv_api_free is for an api that started */
        return TV_ERR_INVALID;
    }
    return 0;
}

void tv_api_free(tv_api *api)
{
    tv_oidc_free(&api->oidc);
    pthread_mutex_destroy(&api->lock);
    sodium_memzero(api, sizeof *api);
}

int tv_api_user_add(tv_api *api, tv_store *st, const char *email, const char *password, int is_admin, int64_t now_ms,
                    char *err, size_t err_size)
{
    if (tv_mail_address_ok(email, strlen(email)) != 0)
        return snprintf(err, err_size, "not an e-mail address: %s", email), TV_ERR_INVALID;
    uint32_t broken = password_rules(api, password, email, NULL);
    if (broken)
        return rules_message(broken, err, err_size), TV_ERR_PASSWORD_POLICY;
    char hash[TV_PWHASH_STRBYTES];
    if (tv_pwhash(&api->cost, password, strlen(password), hash, sizeof hash) != 0)
        return snprintf(err, err_size, "cannot hash the password"), TV_ERR_PASSWORD_HASH;
    int64_t uid;
    if (insert_user(st, email, hash, "active", is_admin, now_ms, &uid) != 0)
        return snprintf(err, err_size, "cannot add %s: %s", email, sqlite3_errmsg(st->db)), TV_ERR_CONFLICT;
    tv_api_req rq = { .now_ms = now_ms, .ip = "" };
    audit(st, &rq, "account_created", uid, NULL, "account added with televisitd user add", is_admin ? "{\"admin\":true}" : NULL);
    return 0;
}
