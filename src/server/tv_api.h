/* televisitd's JSON API under /api/: clinician accounts (register, activation by mail, login with
 * Argon2id then TOTP or a recovery code, lockout, sessions), 2FA enrollment, password change and
 * reset, visits and invite links, the account owner's audit log and data export. A handler runs on a
 * worker thread with its own database connection (Argon2id never runs on the event loop); the
 * request and its answer are plain structs, so the tests call it without a socket. */
#ifndef TV_API_H
#define TV_API_H

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "tv_bucket.h"
#include "tv_config.h"
#include "tv_oidc.h"
#include "tv_password.h"
#include "tv_store.h"
#include "tv_token.h"

#define TV_API_BODY_MAX 16384            /* request bodies; larger ones get 413 before parsing */
#define TV_API_COOKIE "__Host-tv_session"
#define TV_API_SSO_COOKIE "__Host-tv_sso"    /* binds a pending single sign-on to the browser that began it */
#define TV_API_SSO_FLOW_MS (10 * 60 * 1000LL)   /* from the start of a sign-on to its callback */
#define TV_API_BUCKETS 4096              /* source addresses tracked by the auth rate limit */
/* Failed sign-ins, counted per account and source address (docs/api.md, "Failed sign-ins"): the
 * LOCK_FAILURES-th in a row blocks that pair for LOCK_MS, doubling for each further block, up to
 * LOCK_MAX_MS. Once an account has ACCOUNT_FAILURES_HOUR recent failures, any pair blocks at its
 * first. A pair quiet for FORGET_MS is forgotten, escalation and all. */
#define TV_API_LOCK_FAILURES 5
#define TV_API_LOCK_MS (15 * 60 * 1000LL)
#define TV_API_LOCK_MAX_MS (24 * 3600 * 1000LL)
#define TV_API_ACCOUNT_FAILURES_HOUR 100
#define TV_API_THROTTLE_FORGET_MS (24 * 3600 * 1000LL)
#define TV_API_TOTP_STAGE_MS (5 * 60 * 1000LL)   /* between the password and the code */
/* An account without a password re-authenticates for a security change by a provider sign-in this
 * recent (the session's own, docs/api.md "Re-authentication") */
#define TV_API_REAUTH_SSO_MS (5 * 60 * 1000LL)
#define TV_API_RECOVERY_CODES 10
/* The header web/app/api.mjs sends with every request, the proof that a script of this origin made it: a
 * link, a form or another site's page cannot send it (another origin would need a CORS preflight, which
 * televisitd never grants). The downloads need it (docs/api.md). The name is one libwebsockets 4.1
 * parses over HTTP/2, where it drops every header it does not know; the value is no secret. */
#define TV_API_PAGE_HEADER "x-auth-token"
#define TV_API_PAGE_VALUE "same-origin"
#define TV_API_CACHE_SALT_BYTES 32       /* users.cache_salt: what the browser cache's share derives from */

typedef struct tv_api_req {
    const char *method;        /* "GET", "POST" */
    const char *path;          /* "/api/login" */
    const char *query;         /* name=value pairs joined by '&', values percent-encoded; or NULL */
    const char *session;       /* the session cookie's value, or NULL */
    const char *ip;            /* source address */
    const char *host;          /* Host header: the origin a browser's POST must come from */
    const char *origin;        /* Origin header, or NULL */
    const char *content_type;  /* or NULL */
    const char *body;
    size_t body_len;
    int64_t now_ms;
    int body_too_large;        /* the front end stopped reading past TV_API_BODY_MAX: answer 413 */
    const char *sso_bind;      /* the TV_API_SSO_COOKIE's value, or NULL */
    int defer_mail;            /* leave mail in resp.mail for the caller to send after the answer */
    int from_page;             /* TV_API_PAGE_HEADER came with TV_API_PAGE_VALUE */
    const char *fetch_site;    /* Sec-Fetch-Site, or NULL (absent, or over HTTP/2, where libwebsockets 4.1 drops it) */
} tv_api_req;

/* A message an answer asked to send. Deferred, so that an answer's timing never depends on a relay
 * (a known address must not answer slower than an unknown one). Holds keys: wiped when done. */
typedef struct tv_api_mail {
    char to[255];
    char subject[96];
    char text[2048];
    char link[640];            /* printed on the console when the message goes to a file; "" for none */
    char what[24];             /* for the log when it cannot be sent */
} tv_api_mail;

typedef struct tv_api_resp {
    int status;
    char *body;                /* malloc'd; tv_api_resp_free */
    size_t body_len;
    const char *content_type;  /* static string */
    char set_cookie[256];      /* "" for none */
    char location[2048];       /* a redirect's target (status 302/303), or "" */
    char disposition[96];      /* Content-Disposition for downloads, or "" */
    int retry_after_s;         /* > 0: a Retry-After header */
    tv_api_mail *mail;         /* with rq.defer_mail: to send after the answer (tv_api_mail_send), or NULL */
} tv_api_resp;

typedef struct tv_api_bucket { char ip[48]; tv_bucket bucket; } tv_api_bucket;

/* What the API tells the signaling hub (on the event loop) about: "visit_ended" or "visit_revoked"
 * with a visit id, "user_sessions_revoked" with a user id. Called from a worker thread. */
typedef void (*tv_api_notify_fn)(void *ctx, const char *event, const char *id);

typedef struct tv_api {
    const tv_config *cfg;
    tv_pwhash_cost cost;
    tv_password_policy policy;
    char dummy_hash[TV_PWHASH_STRBYTES];   /* verified for unknown e-mails, so they take as long */
    char public_url[TV_CONFIG_STR + 32];
    tv_oidc oidc;                          /* single sign-on providers */
    tv_api_notify_fn notify;
    void *notify_ctx;
    pthread_mutex_t lock;                  /* the rate limit's table */
    uint8_t bucket_key[crypto_shorthash_KEYBYTES];   /* random: nobody can aim two addresses at one slot */
    size_t nbuckets;                       /* TV_API_BUCKETS; the tests lower it to force collisions */
    tv_api_bucket buckets[TV_API_BUCKETS];
    atomic_uint_fast64_t pwhash_verifies;  /* Argon2id verifications, real or dummy (what an answer costs) */
} tv_api;

int tv_api_init(tv_api *api, const tv_config *cfg);
void tv_api_free(tv_api *api);

/* Answers one request. Always fills rs (a JSON error for anything refused); returns 0, or a
 * negative tv_err when even the error could not be built. */
int tv_api_handle(tv_api *api, tv_store *st, const tv_api_req *rq, tv_api_resp *rs);
void tv_api_resp_free(tv_api_resp *rs);   /* wipes and drops an unsent rs->mail */

/* Sends m (NULL is fine), says on stderr when it could not, then wipes and frees it. */
void tv_api_mail_send(tv_api *api, tv_api_mail *m);

/* The session cookie's token in a Cookie header (out: TV_TOKEN_STRBYTES), 0 or TV_ERR_NOT_FOUND;
 * tv_api_cookie_named for another cookie holding a token. */
int tv_api_cookie_token(const char *cookie_header, char *out, size_t out_size);
int tv_api_cookie_named(const char *cookie_header, const char *name, char *out, size_t out_size);

/* The user of a full (signed-in, 2FA done) session, for the signaling hub: checks the timeouts, the
 * account's state and IP allow-list. `touch` refreshes the inactivity clock: a clinician's act does, and
 * so does the hub's periodic recheck of a clinician in a connected call; its recheck of a dashboard left
 * open or of a visit with nobody in the call does not (neither may keep a session alive). */
int tv_api_session_user(tv_api *api, tv_store *st, const char *token, const char *ip, int64_t now_ms, int touch,
                        int64_t *uid);

/* televisitd user add: an active account without the mail round trip. */
int tv_api_user_add(tv_api *api, tv_store *st, const char *email, const char *password, int is_admin,
                    int64_t now_ms, char *err, size_t err_size);

/* 1 when a browser's Origin header names this server itself: https:// and the Host it was asked by. */
int tv_api_same_origin(const char *origin, const char *host);

/* 1 when ip is allowed by an allow-list of space-separated IPv4/IPv6 addresses and IPv4 CIDR blocks;
 * an empty list allows every address. */
int tv_api_ip_allowed(const char *list, const char *ip);

#endif
