/* Single sign-on: OpenID Connect (redirect, popup, link to an account, unlink) and the SMART on FHIR
 * EHR launch. */
#define _POSIX_C_SOURCE 200809L
#include "tv_api_int.h"

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
    tv_api_audit(st, rq, "sso_failure", uid, NULL, "single sign-on refused", extra);
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
        tv_api_set_cookie(rs, TV_API_SSO_COOKIE, bind, TV_API_SSO_FLOW_MS / 1000);
    sodium_memzero(state, sizeof state);
    sodium_memzero(bind, sizeof bind);
    return rc;
}

int tv_api_do_sso_start(ctx *c)
{
    const char *mode = str_of(c->body, "mode");
    int idx, rc, link = strcmp(mode, "link") == 0;
    if (strcmp(mode, "redirect") != 0 && strcmp(mode, "popup") != 0 && !link) {
        rc = tv_api_reply_error(c->rs, 400, TV_ERR_MSG_FIELD_VALUE, "\"mode\" is redirect, popup or link.");
    } else if (!link && (str_of(c->body, "password") || str_of(c->body, "code"))) {
        rc = tv_api_reply_error(c->rs, 400, TV_ERR_MSG_FIELD_VALUE, "\"password\" and \"code\" go with mode link only.");
    } else if (tv_oidc_find(&c->api->oidc, str_of(c->body, "provider"), &idx) != 0) {
        rc = tv_api_reply_error(c->rs, 404, TV_ERR_NOT_FOUND, "There is no such sign-in provider.");
    } else if (link && tv_api_authenticate(c, 1) != 0) {
        rc = 0;   /* linking is for a signed-in clinician: the 401 is in rs */
    } else if (link && tv_api_reauth(c->api, c->st, c->rq, &c->u, str_of(c->body, "password"), str_of(c->body, "code"), "sso_link",
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
            rc = tv_api_reply_json(c->rs, 200, o);
        } else {
            c->rs->set_cookie[0] = '\0';
            rc = rc == TV_ERR_BUSY      ? tv_api_reply_error(c->rs, 502, TV_ERR_BUSY, "The sign-in provider cannot be reached. Try again.")
                 : rc == TV_ERR_STORAGE ? tv_api_reply_storage(c->rs)
                                        : tv_api_reply_error(c->rs, 500, rc, "The sign-in could not be started (check the provider's settings).");
        }
        sodium_memzero(handle, sizeof handle);
    }
    return rc;
}

/* SMART on FHIR EHR launch: GET /launch?iss=FHIR_BASE&launch=HANDLE, from the EHR (often in its
 * frame). Only a FHIR base named in the providers file is followed: anything else could send a
 * clinician to a look-alike sign-in page. */
int tv_api_do_launch(ctx *c)
{
    char iss[TV_OIDC_URL], launch[512], url[2048], handle[TV_TOKEN_STRBYTES];
    int idx;
    if (tv_api_query_param(c->rq->query, "iss", iss, sizeof iss) != 0 || tv_api_query_param(c->rq->query, "launch", launch, sizeof launch) != 0 ||
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
    else if (tv_api_user_by_email(st, id->email, &u) == 0)
        *reason = "account_exists", rc = TV_ERR_CONFLICT, wipe_user(&u);
    else if ((rc = tv_api_insert_user(st, id->email, "", "active", 0, rq->now_ms, uid)) == 0 &&   /* "": no password verifies */
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
        tv_api_audit(st, rq, "account_created", *uid, NULL, "account provisioned by single sign-on", extra);
    }
    return 0;
}

/* The account single sign-on names may sign in: active, and from an allowed address. */
static int sso_account(tv_store *st, const tv_api_req *rq, int64_t uid, user *u, const char **reason)
{
    if (tv_api_user_by_id(st, uid, u) != 0 || strcmp(u->status, "active") != 0)
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
    if (!u->totp_enabled)
        tv_api_throttle_clear(st, u->email, rq->ip);
    if (tv_api_session_create(api, st, rq, u->id, stage, rq->now_ms, rs) != 0)
        return TV_ERR_STORAGE;
    char extra[200];
    snprintf(extra, sizeof extra, "{\"method\":\"%s\",\"provider\":\"%s\",\"next\":\"%s\"}", method, provider,
             u->totp_enabled ? "totp" : "done");
    tv_api_audit(st, rq, "sso_success", u->id, NULL, "signed in by single sign-on", extra);
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
    if (tv_api_query_param(rq->query, "error", code, code_size) == 0)
        return "sso_denied";
    if (tv_api_query_param(rq->query, "iss", iss, sizeof iss) == 0 && strcmp(iss, c->api->oidc.p[*idx].issuer) != 0)
        return "sso_issuer";  /* RFC 9207: an answer from another provider (mix-up) */
    if (tv_api_query_param(rq->query, "code", code, code_size) != 0 || code[0] == '\0')
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
    tv_api_sessions_delete_user(c->st, u->id, has_keep ? keep : NULL);
    tv_api_notify_sessions_changed(c->api, u->id);
    char extra[96], change[160];
    snprintf(extra, sizeof extra, "{\"provider\":\"%s\"}", p->id);
    tv_api_audit(c->st, c->rq, "sso_linked", u->id, NULL, "single sign-on identity linked; other sessions ended", extra);
    snprintf(change, sizeof change, "Sign-in with %s was linked", p->name);
    tv_api_security_notice(c->api, c->rq, c->rs, u, change);
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
int tv_api_do_sso_callback(ctx *c)
{
    char state[TV_TOKEN_STRBYTES + 8], code[4096];
    uint8_t sh[TV_TOKEN_HASHBYTES];
    if (tv_api_query_param(c->rq->query, "state", state, sizeof state) != 0 || tv_token_hash(state, strlen(state), sh, sizeof sh) != 0)
        return sso_fail_redirect(c, 0, "", "/#sso_error=", "state_malformed", "sso_state");
    sso_flow f;
    if (sso_flow_take(c->st, sh, &f) != 0)
        return tv_api_reply_storage(c->rs);
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

int tv_api_do_sso_finish(ctx *c)
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
        return tv_api_reply_storage(c->rs);
    if (uid == 0) {
        sso_audit_failure(c->st, c->rq, 0, provider, "claim_refused");
        return tv_api_reply_error(c->rs, 400, TV_ERR_TOKEN_MISMATCH, "This sign-in is not valid or was already used. Sign in again.");
    }
    user u;
    const char *reason = NULL;
    if (sso_account(c->st, c->rq, uid, &u, &reason) != 0) {   /* disabled or moved since the callback */
        sso_audit_failure(c->st, c->rq, uid, provider, reason);
        wipe_user(&u);
        return tv_api_reply_error(c->rs, 403, TV_ERR_FORBIDDEN, "This account cannot sign in from here.");
    }
    if (sso_session(c->api, c->st, c->rq, &u, provider, "sso", c->rs) != 0) {
        wipe_user(&u);
        return tv_api_reply_error(c->rs, 500, TV_ERR_STORAGE, "The server could not sign you in. Try again.");
    }
    int rc2;
    if (u.totp_enabled) {
        rc2 = tv_api_reply_ok(c->rs, 200, "next", "totp");
    } else {
        u.session_created_ms = c->rq->now_ms;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "next", "done");
        cJSON_AddItemToObject(o, "user", tv_api_me_json(c->api, c->st, &u));
        rc2 = tv_api_reply_json(c->rs, 200, o);
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
        return tv_api_reply_storage(rs), rc;
    if (linked == 0)
        return tv_api_reply_error(rs, 404, TV_ERR_NOT_FOUND, "This account is not linked with this provider."), TV_ERR_NOT_FOUND;
    if (others == 0 && u->pw_hash[0] == '\0')
        return tv_api_reply_error(rs, 409, TV_ERR_CONFLICT, "This is the only way to sign in to this account, which has no password: "
                                                     "set one first (\"Forgot your password?\" on the sign-in page), then unlink."),
               TV_ERR_CONFLICT;
    return 0;
}

/* Removes the account's links to a provider. Re-authenticated like a link; never the last way into
 * an account without a password, which would be locked out for good. */
int tv_api_do_sso_unlink(ctx *c)
{
    const char *provider = str_of(c->body, "provider");
    int rc = unlink_check(c->st, &c->u, provider, c->rs);   /* the cheap refusals before Argon2id */
    if (rc == 0 && tv_api_reauth(c->api, c->st, c->rq, &c->u, str_of(c->body, "password"), str_of(c->body, "code"), "sso_unlink",
                          "The password or the code is wrong.", c->rs) != 0)
        rc = TV_ERR_CREDENTIALS;
    if (rc == 0 && (rc = begin(c->st)) != 0)
        tv_api_reply_storage(c->rs);
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
            rc = tv_api_sessions_delete_user(c->st, c->u.id, c->u.session_hash);
        int stored = c->rs->body == NULL;   /* no refusal written yet */
        if ((rc = commit(c->st, rc)) != 0 && stored)
            tv_api_reply_storage(c->rs);
    }
    if (rc == 0) {
        int idx;
        char extra[96], change[160];
        tv_api_notify_sessions_changed(c->api, c->u.id);
        snprintf(extra, sizeof extra, "{\"provider\":\"%s\"}", provider);
        tv_api_audit(c->st, c->rq, "sso_unlinked", c->u.id, NULL, "single sign-on identity unlinked; other sessions ended", extra);
        snprintf(change, sizeof change, "Sign-in with %s was unlinked",
                 tv_oidc_find(&c->api->oidc, provider, &idx) == 0 ? c->api->oidc.p[idx].name : provider);
        tv_api_security_notice(c->api, c->rq, c->rs, &c->u, change);
        rc = tv_api_reply_ok(c->rs, 200, "status", "unlinked");
    } else {
        rc = 0;   /* the refusal is in rs */
    }
    return rc;
}
