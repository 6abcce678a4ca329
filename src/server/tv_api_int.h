/* What the API's sources share (tv_api.c: the router; tv_api_account.c, tv_api_2fa.c, tv_api_visit.c,
 * tv_api_audit.c, tv_api_sso.c: the routes by concern). Private: only those sources include it; the
 * rest of the server sees tv_api.h. */
#ifndef TV_API_INT_H
#define TV_API_INT_H

#include "tv_api.h"
#include "tv_audit.h"
#include "tv_auditlog.h"
#include "tv_base32.h"
#include "tv_bucket.h"
#include "tv_err.h"
#include "tv_json.h"
#include "tv_mail.h"
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

static inline const char *str_of(cJSON *root, const char *name)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline sqlite3_stmt *prep(tv_store *st, const char *sql)
{
    sqlite3_stmt *q = NULL;
    return sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) == SQLITE_OK ? q : NULL;
}

static inline int run(sqlite3_stmt *q)
{
    int rc = q && sqlite3_step(q) == SQLITE_DONE ? 0 : TV_ERR_STORAGE;
    sqlite3_finalize(q);
    return rc;
}

static inline int begin(tv_store *st) { return sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : TV_ERR_STORAGE; }

static inline int commit(tv_store *st, int rc)
{
    if (rc == 0 && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc ? rc : TV_ERR_STORAGE;
}

/* One statement whose only parameter is a row id (most of the writes here). */
static inline int exec_id(tv_store *st, const char *sql, int64_t id)
{
    sqlite3_stmt *q = prep(st, sql);
    if (q)
        sqlite3_bind_int64(q, 1, id);
    return run(q);
}

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

static inline void wipe_user(user *u) { sodium_memzero(u, sizeof *u); }

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

/* A failed sign-in is counted per account and source address (tv_api_account.c). */
typedef struct throttle {
    uint8_t subject[32];   /* keyed hash of the lower-cased e-mail */
    char source[INET6_ADDRSTRLEN + 4];
} throttle;

/* Who may call a route: anyone; the half session between the password and the code; a full session
 * that may still have to enrol 2FA (the administrator's require_2fa); a full session with 2FA done
 * where it is required. */
enum { AUTH_OPEN, AUTH_SECOND, AUTH_ENROLLING, AUTH_FULL };

enum {
    RATE_LIMITED = 1,   /* the per-address rate limit applies */
    PAGE_ONLY = 2,      /* a GET only our pages' fetch may make: a download of the account's data */
};

typedef struct tv_api_route {
    const char *method, *path;
    int (*fn)(ctx *c);
    int auth, flags;
    const tv_json_field *body;   /* NULL: the route reads no body */
} tv_api_route;

/* The API: method, path, handler, who may call it, flags, body. */
extern const tv_api_route tv_api_routes[];

extern const size_t tv_api_nroutes;

/* ---- tv_api.c: answers, users, sessions, the dispatcher ---- */

int tv_api_reply_json(tv_api_resp *rs, int status, cJSON *obj);
int tv_api_reply_error(tv_api_resp *rs, int status, int code, const char *message);
int tv_api_reply_ok(tv_api_resp *rs, int status, const char *key, const char *value);
void tv_api_mail_out(tv_api *api, const tv_api_req *rq, tv_api_resp *rs, const char *what, const char *to,
                     const char *subject, const char *text, const char *link);
int tv_api_query_param(const char *query, const char *name, char *out, size_t size);
int tv_api_reply_storage(tv_api_resp *rs);
void tv_api_audit(tv_store *st, const tv_api_req *rq, const char *type, int64_t uid, const char *room,
                  const char *message, const char *extra);
int tv_api_user_by_email(tv_store *st, const char *email, user *u);
int tv_api_user_by_id(tv_store *st, int64_t id, user *u);
void tv_api_set_cookie(tv_api_resp *rs, const char *name, const char *token, int64_t max_age_s);
void tv_api_session_cookie(tv_api_resp *rs, const char *token, int64_t max_age_s);
int tv_api_session_create(tv_api *api, tv_store *st, const tv_api_req *rq, int64_t uid, const char *stage,
                          int64_t sso_ms, tv_api_resp *rs);
int tv_api_session_delete(tv_store *st, const uint8_t hash[TV_TOKEN_HASHBYTES]);
int tv_api_sessions_delete_user(tv_store *st, int64_t uid, const uint8_t *except);
int tv_api_authenticate(ctx *c, int allow_unenrolled);
void tv_api_notify_sessions_changed(tv_api *api, int64_t uid);

/* ---- tv_api_account.c: throttle, passwords, accounts ---- */

void tv_api_throttle_of(tv_store *st, const char *email, const char *ip, throttle *t);
int64_t tv_api_throttle_until(tv_store *st, const throttle *t, int64_t now);
int64_t tv_api_throttle_fail(tv_store *st, const tv_api_req *rq, const throttle *t, int64_t uid, const char *what);
void tv_api_throttle_clear(tv_store *st, const char *email, const char *ip);
int tv_api_reply_locked(tv_api_resp *rs, int64_t until, int64_t now);
int tv_api_reply_auth_failure(tv_store *st, const tv_api_req *rq, user *u, const char *what,
                              const char *message, tv_api_resp *rs);
int tv_api_do_password_check(ctx *c);
int tv_api_insert_user(tv_store *st, const char *email, const char *hash, const char *status, int is_admin,
                       int64_t now_ms, int64_t *uid);
int tv_api_do_register(ctx *c);
int tv_api_do_activate(ctx *c);
cJSON *tv_api_me_json(tv_api *api, tv_store *st, const user *u);
int tv_api_login_done(tv_api *api, tv_store *st, const tv_api_req *rq, user *u, const char *method, tv_api_resp *rs);
int tv_api_do_login(ctx *c);
int tv_api_reauth(tv_api *api, tv_store *st, const tv_api_req *rq, user *u, const char *password, const char *code,
                  const char *what, const char *wrong, tv_api_resp *rs);
void tv_api_security_notice(tv_api *api, const tv_api_req *rq, tv_api_resp *rs, const user *u, const char *change);
int tv_api_do_logout(ctx *c);
int tv_api_do_me(ctx *c);
int tv_api_do_cache_share(ctx *c);
int tv_api_do_sessions_revoke(ctx *c);
int tv_api_do_settings(ctx *c);
int tv_api_do_password_change(ctx *c);
int tv_api_do_password_forgot(ctx *c);
int tv_api_do_password_reset(ctx *c);
int tv_api_do_account_delete(ctx *c);
int tv_api_do_policy(ctx *c);

/* ---- tv_api_2fa.c ---- */

int tv_api_totp_check(tv_store *st, user *u, const char *code, int64_t now_ms);
int tv_api_do_login_second(ctx *c);
int tv_api_do_totp_enroll(ctx *c);
int tv_api_do_totp_confirm(ctx *c);
int tv_api_do_totp_disable(ctx *c);

/* ---- tv_api_visit.c ---- */

int tv_api_visit_json_add(tv_store *st, sqlite3_stmt *q, cJSON *arr);
int tv_api_do_visit_create(ctx *c);
int tv_api_do_visit_list(ctx *c);
int tv_api_do_invite(ctx *c);
int tv_api_do_visit_end(ctx *c);
int tv_api_do_visit_revoke(ctx *c);

/* ---- tv_api_audit.c ---- */

int tv_api_do_audit(ctx *c);
int tv_api_do_export(ctx *c);

/* ---- tv_api_sso.c ---- */

int tv_api_do_sso_start(ctx *c);
int tv_api_do_launch(ctx *c);
int tv_api_do_sso_callback(ctx *c);
int tv_api_do_sso_finish(ctx *c);
int tv_api_do_sso_unlink(ctx *c);

#endif
