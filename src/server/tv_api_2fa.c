/* Two-factor authentication: the code step of sign-in, TOTP enrolment and its recovery codes. */
#define _POSIX_C_SOURCE 200809L
#include "tv_api_int.h"

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
int tv_api_totp_check(tv_store *st, user *u, const char *code, int64_t now_ms)
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
int tv_api_do_login_second(ctx *c)
{
    const char *code = str_of(c->body, "code"), *rec = str_of(c->body, "recovery_code");
    const tv_api_req *rq = c->rq;
    throttle t;
    tv_api_throttle_of(c->st, c->u.email, rq->ip, &t);
    int64_t until = tv_api_throttle_until(c->st, &t, rq->now_ms);
    if (until)
        return tv_api_reply_locked(c->rs, until, rq->now_ms);
    int rc = code ? tv_api_totp_check(c->st, &c->u, code, rq->now_ms) : recovery_use(c->st, c->u.id, rec, rq->now_ms);
    if (rc == TV_ERR_STORAGE)   /* the database failed, not the user: no failure counted */
        return tv_api_reply_storage(c->rs);
    if (rc != 0) {
        until = tv_api_throttle_fail(c->st, rq, &t, c->u.id, code ? (rc == TV_ERR_OTP_REPLAY ? "totp_replay" : "totp") : "recovery_code");
        if (until)
            tv_api_session_delete(c->st, c->u.session_hash);
        return until ? tv_api_reply_locked(c->rs, until, rq->now_ms)
               : rc == TV_ERR_OTP_REPLAY ? tv_api_reply_error(c->rs, 401, rc, "This code was already used. Wait for the next one.")
                                         : tv_api_reply_error(c->rs, 401, TV_ERR_CREDENTIALS, "The code is wrong.");
    }
    tv_api_session_delete(c->st, c->u.session_hash);   /* a new id for the signed-in session: no fixation */
    return tv_api_login_done(c->api, c->st, rq, &c->u, code ? "totp" : "recovery_code", c->rs);   /* user.recovery_codes_left tells what is left */
}

int tv_api_do_totp_enroll(ctx *c)
{
    if (c->u.totp_enabled)
        return tv_api_reply_error(c->rs, 409, TV_ERR_CONFLICT, "Two-factor authentication is already on. Turn it off first to change it.");
    /* whoever enrols holds the second factor from then on: not a session alone (tv_api_reauth) */
    int reauth_rc = tv_api_reauth(c->api, c->st, c->rq, &c->u, str_of(c->body, "password"), NULL, "totp_enroll", "The password is wrong.", c->rs);
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
        rc = tv_api_reply_json(c->rs, 200, o);
    } else {
        rc = tv_api_reply_error(c->rs, 500, TV_ERR_STORAGE, "The server could not start enrollment. Try again.");
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

int tv_api_do_totp_confirm(ctx *c)
{
    int rc;
    if (c->u.totp_enabled) {
        rc = tv_api_reply_error(c->rs, 409, TV_ERR_CONFLICT, "Two-factor authentication is already on.");
    } else if ((rc = tv_api_totp_check(c->st, &c->u, str_of(c->body, "code"), c->rq->now_ms)) != 0) {
        rc = rc == TV_ERR_NOT_FOUND ? tv_api_reply_error(c->rs, 409, TV_ERR_CONFLICT, "Start enrollment first.")
                                    : tv_api_reply_error(c->rs, 400, TV_ERR_OTP_MISMATCH, "The code does not match. Check the time on your phone and try the next code.");
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(o, "recovery_codes");
        rc = begin(c->st);
        if (rc == 0)
            rc = exec_id(c->st, "UPDATE users SET totp_enabled = 1 WHERE id = ?", c->u.id);
        if (rc == 0)
            rc = make_recovery_codes(c->st, c->u.id, arr);
        if (rc == 0)   /* a session made before, on another device, has not given the code */
            rc = tv_api_sessions_delete_user(c->st, c->u.id, c->u.session_hash);
        if ((rc = commit(c->st, rc)) == 0) {
            tv_api_notify_sessions_changed(c->api, c->u.id);
            tv_api_audit(c->st, c->rq, "totp_enabled", c->u.id, NULL, "two-factor authentication turned on; other sessions ended", NULL);
            tv_api_security_notice(c->api, c->rq, c->rs, &c->u, "Two-factor authentication was turned on");
            rc = tv_api_reply_json(c->rs, 200, o);
        } else {
            tv_json_free_wiped(o);   /* recovery codes */
            rc = tv_api_reply_storage(c->rs);
        }
    }
    return rc;
}

int tv_api_do_totp_disable(ctx *c)
{
    /* the password (an account without one: a fresh provider sign-in, tv_api_reauth) and a code, both */
    int rc = 0;
    if (c->api->cfg->require_2fa) {
        rc = tv_api_reply_error(c->rs, 403, TV_ERR_FORBIDDEN, "Your administrator requires two-factor authentication.");
    } else if (!c->u.totp_enabled) {
        rc = tv_api_reply_error(c->rs, 409, TV_ERR_CONFLICT, "Two-factor authentication is already off.");
    } else if (tv_api_reauth(c->api, c->st, c->rq, &c->u, str_of(c->body, "password"), NULL, "totp_disable", "The password or the code is wrong.", c->rs) != 0) {
        rc = 0;   /* the refusal is in rs */
    } else if ((rc = tv_api_totp_check(c->st, &c->u, str_of(c->body, "code"), c->rq->now_ms)) != 0) {
        rc = rc == TV_ERR_STORAGE ? tv_api_reply_storage(c->rs)
                                  : tv_api_reply_auth_failure(c->st, c->rq, &c->u, "totp_disable", "The password or the code is wrong.", c->rs);
    } else {
        rc = begin(c->st);
        if (rc == 0)
            rc = exec_id(c->st, "UPDATE users SET totp_enabled = 0, totp_secret = NULL WHERE id = ?", c->u.id);
        if (rc == 0)
            rc = exec_id(c->st, "DELETE FROM recovery_codes WHERE user_id = ?", c->u.id);
        if (rc == 0)
            rc = tv_api_sessions_delete_user(c->st, c->u.id, c->u.session_hash);
        if ((rc = commit(c->st, rc)) == 0) {
            tv_api_notify_sessions_changed(c->api, c->u.id);
            tv_api_audit(c->st, c->rq, "totp_disabled", c->u.id, NULL, "two-factor authentication turned off; other sessions ended", NULL);
            tv_api_security_notice(c->api, c->rq, c->rs, &c->u, "Two-factor authentication was turned off");
            rc = tv_api_reply_ok(c->rs, 200, "status", "off");
        } else {
            rc = tv_api_reply_storage(c->rs);
        }
    }
    return rc;
}
