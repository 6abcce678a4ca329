/* The API's router: the route table and its dispatcher (who may call what, the body each route takes),
 * the answers, sessions and the rate limit. The routes' handlers live by concern in tv_api_*.c
 * (tv_api_int.h). */
#define _POSIX_C_SOURCE 200809L
#include "tv_api_int.h"

int tv_api_reply_json(tv_api_resp *rs, int status, cJSON *obj)
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

int tv_api_reply_error(tv_api_resp *rs, int status, int code, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", tv_err_name(code));
    cJSON_AddStringToObject(o, "message", message);
    return tv_api_reply_json(rs, status, o);
}

int tv_api_reply_ok(tv_api_resp *rs, int status, const char *key, const char *value)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, key, value);
    return tv_api_reply_json(rs, status, o);
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
void tv_api_mail_out(tv_api *api, const tv_api_req *rq, tv_api_resp *rs, const char *what, const char *to,
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

/* The value of name in the request's query (tv_api_req.query: name=value pairs joined by '&',
 * values percent-encoded), decoded. TV_ERR_NOT_FOUND, or TV_ERR_TOO_LONG when it does not fit. */
int tv_api_query_param(const char *query, const char *name, char *out, size_t size)
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

int tv_api_reply_storage(tv_api_resp *rs)
{
    return tv_api_reply_error(rs, 500, TV_ERR_STORAGE, "The server could not save this. Try again.");
}

void tv_api_audit(tv_store *st, const tv_api_req *rq, const char *type, int64_t uid, const char *room,
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

int tv_api_user_by_email(tv_store *st, const char *email, user *u)
{
    sqlite3_stmt *q = prep(st, "SELECT " USER_COLUMNS " FROM users WHERE email = ?");
    if (q == NULL)
        return TV_ERR_STORAGE;
    sqlite3_bind_text(q, 1, email, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q) == SQLITE_ROW ? user_row(q, u) : TV_ERR_NOT_FOUND;
    sqlite3_finalize(q);
    return rc;
}

int tv_api_user_by_id(tv_store *st, int64_t id, user *u)
{
    sqlite3_stmt *q = prep(st, "SELECT " USER_COLUMNS " FROM users WHERE id = ?");
    if (q == NULL)
        return TV_ERR_STORAGE;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q) == SQLITE_ROW ? user_row(q, u) : TV_ERR_NOT_FOUND;
    sqlite3_finalize(q);
    return rc;
}

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

void tv_api_set_cookie(tv_api_resp *rs, const char *name, const char *token, int64_t max_age_s)
{
    /* __Host-: Secure, Path=/, no Domain. SameSite=None + Partitioned: it works inside an EHR's iframe
     * with third-party cookies blocked, in that EHR's partition only. */
    snprintf(rs->set_cookie, sizeof rs->set_cookie, "%s=%s; Path=/; Secure; HttpOnly; SameSite=None; Partitioned; Max-Age=%lld",
             name, token ? token : "", (long long)max_age_s);
}

void tv_api_session_cookie(tv_api_resp *rs, const char *token, int64_t max_age_s)
{
    tv_api_set_cookie(rs, TV_API_COOKIE, token, max_age_s);
}

/* sso_ms: when a provider sign-in made it (0 for a password): an account without a password
 * re-authenticates with that (tv_api_reauth) */
int tv_api_session_create(tv_api *api, tv_store *st, const tv_api_req *rq, int64_t uid, const char *stage,
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
        tv_api_session_cookie(rs, token, strcmp(stage, "full") == 0 ? (int64_t)api->cfg->session_max_hours * 3600
                                                             : TV_API_TOTP_STAGE_MS / 1000);
    sodium_memzero(token, sizeof token);
    return rc;
}

int tv_api_session_delete(tv_store *st, const uint8_t hash[TV_TOKEN_HASHBYTES])
{
    sqlite3_stmt *q = prep(st, "DELETE FROM sessions WHERE hash = ?");
    if (q)
        sqlite3_bind_blob(q, 1, hash, TV_TOKEN_HASHBYTES, SQLITE_TRANSIENT);
    return run(q);
}

int tv_api_sessions_delete_user(tv_store *st, int64_t uid, const uint8_t *except)
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
        tv_api_session_delete(st, hash);
        return TV_ERR_UNAUTHORIZED;
    }
    if (strcmp(got_stage, stage) != 0)
        return TV_ERR_UNAUTHORIZED;
    if ((rc = tv_api_user_by_id(st, uid, u)) != 0)
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

/* Every signed-in route: the session's user in c->u. allow_unenrolled: reachable before enrolling when
 * 2FA is required. A request the page makes by itself, not for something the user did (a poll, a check
 * after a lost connection), says so with background=1 in its query: it does not refresh the inactivity
 * clock, or a console left open would never time out. 0, or the refusal is in rs. */
int tv_api_authenticate(ctx *c, int allow_unenrolled)
{
    char bg[4];
    const tv_api_req *rq = c->rq;
    int background = tv_api_query_param(rq->query, "background", bg, sizeof bg) == 0 && strcmp(bg, "1") == 0;
    if (session_load(c->api, c->st, rq->session, rq->ip, rq->now_ms, "full", !background, &c->u) != 0) {
        /* Clear only a cookie this request brought: the refusal of a request sent before sign-in,
         * answered after it, would otherwise wipe the session the sign-in just set. */
        if (rq->session)
            tv_api_session_cookie(c->rs, NULL, 0);
        tv_api_reply_error(c->rs, 401, TV_ERR_UNAUTHORIZED, "You are not signed in, or your session has ended.");
        return TV_ERR_UNAUTHORIZED;
    }
    if (!allow_unenrolled && c->api->cfg->require_2fa && !c->u.totp_enabled) {
        tv_api_reply_error(c->rs, 403, TV_ERR_TOTP_REQUIRED, "Set up two-factor authentication first: it is required here.");
        return TV_ERR_TOTP_REQUIRED;
    }
    return 0;
}

/* The hub closes the user's signaling connections whose session has just gone. */
void tv_api_notify_sessions_changed(tv_api *api, int64_t uid)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)uid);
    if (api->notify)
        api->notify(api->notify_ctx, "user_sessions_revoked", id);
}

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

const tv_api_route tv_api_routes[] = {
    { "GET", "/api/policy", tv_api_do_policy, AUTH_OPEN, 0, NULL },
    { "POST", "/api/sso/start", tv_api_do_sso_start, AUTH_OPEN, RATE_LIMITED, b_sso_start },   /* mode link: signed in */
    { "GET", "/api/sso/callback", tv_api_do_sso_callback, AUTH_OPEN, RATE_LIMITED, NULL },
    { "POST", "/api/sso/finish", tv_api_do_sso_finish, AUTH_OPEN, RATE_LIMITED, b_sso_finish },
    { "POST", "/api/sso/unlink", tv_api_do_sso_unlink, AUTH_ENROLLING, RATE_LIMITED, b_sso_unlink },
    { "GET", "/launch", tv_api_do_launch, AUTH_OPEN, RATE_LIMITED, NULL },
    { "POST", "/api/register", tv_api_do_register, AUTH_OPEN, RATE_LIMITED, b_email_pw },
    { "POST", "/api/activate", tv_api_do_activate, AUTH_OPEN, RATE_LIMITED, b_key_pw },
    { "POST", "/api/login", tv_api_do_login, AUTH_OPEN, RATE_LIMITED, b_email_pw },
    { "POST", "/api/login/second", tv_api_do_login_second, AUTH_SECOND, RATE_LIMITED, b_second },
    { "POST", "/api/logout", tv_api_do_logout, AUTH_ENROLLING, 0, NULL },
    { "GET", "/api/me", tv_api_do_me, AUTH_ENROLLING, 0, NULL },
    { "GET", "/api/cache_share", tv_api_do_cache_share, AUTH_FULL, 0, NULL },
    { "POST", "/api/sessions/revoke", tv_api_do_sessions_revoke, AUTH_ENROLLING, 0, NULL },
    { "POST", "/api/settings", tv_api_do_settings, AUTH_FULL, 0, b_settings },
    { "POST", "/api/totp/enroll", tv_api_do_totp_enroll, AUTH_ENROLLING, RATE_LIMITED, b_pw_opt },
    { "POST", "/api/totp/confirm", tv_api_do_totp_confirm, AUTH_ENROLLING, RATE_LIMITED, b_code },
    { "POST", "/api/totp/disable", tv_api_do_totp_disable, AUTH_FULL, RATE_LIMITED, b_pw_code },
    { "POST", "/api/password/change", tv_api_do_password_change, AUTH_ENROLLING, RATE_LIMITED, b_pw_change },
    { "POST", "/api/password/forgot", tv_api_do_password_forgot, AUTH_OPEN, RATE_LIMITED, b_forgot },
    { "POST", "/api/password/check", tv_api_do_password_check, AUTH_OPEN, 0, b_pw_check },
    { "POST", "/api/password/reset", tv_api_do_password_reset, AUTH_OPEN, RATE_LIMITED, b_key_pw },
    { "POST", "/api/visits", tv_api_do_visit_create, AUTH_FULL, 0, b_visit },
    { "GET", "/api/visits", tv_api_do_visit_list, AUTH_FULL, 0, NULL },
    { "POST", "/api/visits/end", tv_api_do_visit_end, AUTH_FULL, 0, b_visit_id },
    { "POST", "/api/visits/revoke", tv_api_do_visit_revoke, AUTH_FULL, 0, b_visit_id },
    { "POST", "/api/invite", tv_api_do_invite, AUTH_OPEN, RATE_LIMITED, b_invite },
    /* the account's data holds its patients' chat and events: behind the 2FA the administrator requires */
    { "GET", "/api/audit", tv_api_do_audit, AUTH_FULL, PAGE_ONLY, NULL },
    { "GET", "/api/export", tv_api_do_export, AUTH_FULL, PAGE_ONLY, NULL },
    { "POST", "/api/account/delete", tv_api_do_account_delete, AUTH_ENROLLING, RATE_LIMITED, b_pw_req },
};

const size_t tv_api_nroutes = sizeof tv_api_routes / sizeof tv_api_routes[0];

/* Strict JSON, an object, only the members the route takes, each once, each of its kind and class.
 * 0 with c->body, or the refusal is in rs. */
static int read_body(ctx *c, const tv_json_field *fields)
{
    cJSON *o = NULL;
    if (tv_json_parse_strict(c->rq->body, c->rq->body_len, &o) != 0)
        return tv_api_reply_error(c->rs, 400, TV_ERR_MSG_JSON, "The request body is not valid JSON."), TV_ERR_MSG_JSON;
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
    tv_api_reply_error(c->rs, 400, err, msg);
    return err;
}

/* The half session of the code step; 0, or the refusal is in rs. */
static int second_step(ctx *c)
{
    const tv_api_req *rq = c->rq;
    if (session_load(c->api, c->st, rq->session, rq->ip, rq->now_ms, "totp", 1, &c->u) == 0)
        return 0;
    tv_api_reply_error(c->rs, 401, TV_ERR_UNAUTHORIZED, "Sign in with your password first (or again: that step expired).");
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
            return tv_api_reply_error(rs, 415, TV_ERR_INVALID, "Send JSON, with Content-Type: application/json."), TV_ERR_INVALID;
        if (rq->origin && !tv_api_same_origin(rq->origin, rq->host))
            return tv_api_reply_error(rs, 403, TV_ERR_FORBIDDEN, "Requests from other sites are refused."), TV_ERR_FORBIDDEN;
        if (rq->body_too_large || rq->body_len > TV_API_BODY_MAX)
            return tv_api_reply_error(rs, 413, TV_ERR_TOO_LONG, "The request body is too large."), TV_ERR_TOO_LONG;
    }
    /* The session cookie is SameSite=None (it must work inside an EHR's frame), so another site's link,
     * <a download> or navigation carries it: a GET that saves the account's data, decrypted, into the
     * browser's downloads must prove that our own page asked for it. Sec-Fetch-Site, where the browser
     * sends it and we can read it (not over HTTP/2 with libwebsockets 4.1), must agree. */
    if ((r->flags & PAGE_ONLY) &&
        (!rq->from_page || (rq->fetch_site && strcmp(rq->fetch_site, "same-origin") != 0) ||
         (rq->origin && !tv_api_same_origin(rq->origin, rq->host))))
        return tv_api_reply_error(rs, 403, TV_ERR_FORBIDDEN, "Downloads are made from televisit's own pages only."), TV_ERR_FORBIDDEN;
    int retry = 0;
    if ((r->flags & RATE_LIMITED) && !rate_ok(api, rq->ip ? rq->ip : "", rq->now_ms, &retry)) {
        rs->retry_after_s = retry;
        return tv_api_reply_error(rs, 429, TV_ERR_RATE_LIMITED, "Too many requests from your network. Wait a moment."), TV_ERR_RATE_LIMITED;
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
        return path_known ? tv_api_reply_error(rs, 405, TV_ERR_INVALID, "This method is not allowed here.")
                          : tv_api_reply_error(rs, 404, TV_ERR_NOT_FOUND, "There is no such API.");
    if (admit(api, r, rq, rs) != 0)
        return rs->body ? 0 : TV_ERR_NOMEM;
    ctx c = { api, st, rq, rs, { 0 }, NULL };
    /* a signed-in route refuses a stranger before reading what he sent; the code step reads the code first */
    int rc = r->auth >= AUTH_ENROLLING ? tv_api_authenticate(&c, r->auth == AUTH_ENROLLING) : 0;
    if (rc == 0 && r->body)
        rc = read_body(&c, r->body);
    if (rc == 0 && r->auth == AUTH_SECOND)
        rc = second_step(&c);
    rc = rc == 0 ? r->fn(&c) : (rs->body ? 0 : TV_ERR_NOMEM);
    tv_json_free_wiped(c.body);
    wipe_user(&c.u);
    return rc;
}

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
