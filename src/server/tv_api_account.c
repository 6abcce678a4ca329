/* Accounts: registration and activation, sign-in and its throttle, passwords (rules, change, reset),
 * re-authentication, the account's own settings, data and deletion, and televisitd user add. */
#define _POSIX_C_SOURCE 200809L
#include "tv_api_int.h"

/* ---- failed sign-ins, per account and source address (docs/api.md, "Failed sign-ins") ----
 * A count per account alone let anyone who knows an address keep its owner locked out. Counted per
 * pair, a stranger's failures block only the stranger; the owner, from an address with no recent
 * failures, still gets in with the right password and second factor. Unknown addresses are counted
 * exactly like accounts, in the same table, so neither the answers nor their timing tell them apart. */

void tv_api_throttle_of(tv_store *st, const char *email, const char *ip, throttle *t)
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
int64_t tv_api_throttle_until(tv_store *st, const throttle *t, int64_t now)
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
int64_t tv_api_throttle_fail(tv_store *st, const tv_api_req *rq, const throttle *t, int64_t uid, const char *what)
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
    tv_api_audit(st, rq, "login_failure", uid, NULL, uid ? "authentication failed" : "unknown e-mail", extra);
    if (until) {
        snprintf(extra, sizeof extra, "{\"minutes\":%lld,\"source\":\"%s\"}", (long long)(lock_duration(blocks) / 60000), t->source);
        tv_api_audit(st, rq, "lockout", uid, NULL, "sign-in from this address blocked after repeated failures", extra);
    }
    return until;
}

/* A full session was granted to the account from this source: its count and escalation start over. */
void tv_api_throttle_clear(tv_store *st, const char *email, const char *ip)
{
    throttle t;
    tv_api_throttle_of(st, email, ip, &t);
    sqlite3_stmt *q = prep(st, "DELETE FROM auth_throttle WHERE subject = ? AND source = ?");
    if (q) {
        sqlite3_bind_blob(q, 1, t.subject, sizeof t.subject, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, t.source, -1, SQLITE_TRANSIENT);
    }
    run(q);
}

/* A password reset proves the mailbox: every block on the account goes, from every source. */
static int throttle_clear_account(tv_store *st, const char *email)
{
    throttle t;
    tv_api_throttle_of(st, email, "", &t);
    sqlite3_stmt *q = prep(st, "DELETE FROM auth_throttle WHERE subject = ?");
    if (q)
        sqlite3_bind_blob(q, 1, t.subject, sizeof t.subject, SQLITE_TRANSIENT);
    return run(q);
}

int tv_api_reply_locked(tv_api_resp *rs, int64_t until, int64_t now)
{
    rs->retry_after_s = (int)((until - now + 999) / 1000);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", tv_err_name(TV_ERR_LOCKED));
    cJSON_AddStringToObject(o, "message", "Too many failed attempts from your network: sign-in is blocked here for a while.");
    cJSON_AddNumberToObject(o, "retry_after_s", rs->retry_after_s);
    return tv_api_reply_json(rs, 423, o);
}

static int reply_bad_credentials(tv_api_resp *rs)
{
    return tv_api_reply_error(rs, 401, TV_ERR_CREDENTIALS, "The e-mail or the password is wrong.");
}

/* A wrong password or code on a signed-in route counts toward the pair's block like one at sign-in. */
int tv_api_reply_auth_failure(tv_store *st, const tv_api_req *rq, user *u, const char *what,
                              const char *message, tv_api_resp *rs)
{
    throttle t;
    tv_api_throttle_of(st, u->email, rq->ip, &t);
    int64_t until = tv_api_throttle_fail(st, rq, &t, u->id, what);
    if (until)
        return tv_api_reply_locked(rs, until, rq->now_ms);
    return tv_api_reply_error(rs, 401, TV_ERR_CREDENTIALS, message);
}

/* Before a signed-in route checks a password or code: a blocked pair is answered without checking,
 * or a stolen session could go on guessing the password there. 1 when the answer is in rs. */
static int reply_if_blocked(tv_store *st, const tv_api_req *rq, const user *u, tv_api_resp *rs)
{
    throttle t;
    tv_api_throttle_of(st, u->email, rq->ip, &t);
    int64_t until = tv_api_throttle_until(st, &t, rq->now_ms);
    return until ? (tv_api_reply_locked(rs, until, rq->now_ms), 1) : 0;
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
        return tv_api_reply_error(rs, 400, rc, "This link has expired. Ask for a new one.");
    if (rc == TV_ERR_TOKEN_FORMAT || rc == TV_ERR_TOKEN_MISMATCH)
        return tv_api_reply_error(rs, 400, TV_ERR_TOKEN_MISMATCH, "This link is not valid or was already used.");
    return tv_api_reply_storage(rs);
}

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
    return tv_api_reply_json(rs, 400, o);
}

/* The strength meter while a clinician types: the browser's core has no zxcvbn (no Debian source of
 * it for WebAssembly), so the page asks the server, which judges with the same policy it will apply
 * on submit. The password comes over TLS to the server that receives it on submit anyway; it is
 * neither stored nor logged, and the body is wiped. Not rate-limited with sign-in: typing must not
 * spend the address's sign-in budget, and no secret is checked here. */
int tv_api_do_password_check(ctx *c)
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
    return tv_api_reply_json(c->rs, 200, o);
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

int tv_api_insert_user(tv_store *st, const char *email, const char *hash, const char *status, int is_admin,
                       int64_t now_ms, int64_t *uid)
{
    uint8_t salt[TV_API_CACHE_SALT_BYTES];   /* the cache share's own randomness (tv_api_do_cache_share) */
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

static void send_activation(tv_api *api, const tv_api_req *rq, tv_api_resp *rs, const char *email, const char *token)
{
    char link[TV_CONFIG_STR + 128], text[2048];
    link_for(api, "activate.html", token, link, sizeof link);
    snprintf(text, sizeof text,
             "Welcome to televisit.\r\n\r\nTo activate your account, open this link within 24 hours:\r\n\r\n"
             "%s\r\n\r\nIf you did not register, ignore this message: the account stays inactive.\r\n", link);
    tv_api_mail_out(api, rq, rs, "activation", email, "Activate your televisit account", text, link);
    sodium_memzero(link, sizeof link);
    sodium_memzero(text, sizeof text);
}

/* Registration. The password of a registration takes effect only through its own activation key,
 * and only when the same password is given again with that key: a stranger who registers someone's
 * address first (or again, later) can neither make the owner's activation set his password nor
 * activate it himself, since the key goes only to the owner's mailbox. */
int tv_api_do_register(ctx *c)
{
    const char *email = str_of(c->body, "email"), *pw = str_of(c->body, "password");
    if (tv_mail_address_ok(email, strlen(email)) != 0)
        return tv_api_reply_error(c->rs, 400, TV_ERR_INVALID, "This is not an e-mail address we can send to.");
    uint32_t broken = password_rules(c->api, pw, email, NULL);
    if (broken)
        return reply_password_rules(c->api, c->rs, broken);
    user u;
    int exists = tv_api_user_by_email(c->st, email, &u) == 0;
    char hash[TV_PWHASH_STRBYTES], token[TV_TOKEN_STRBYTES], text[2048];
    /* Hash even when the address is taken: the answer and its timing must not tell. */
    int rc = tv_pwhash(&c->api->cost, pw, strlen(pw), hash, sizeof hash);
    if (rc == 0 && !exists) {
        int64_t uid = 0;
        rc = begin(c->st);
        if (rc == 0)   /* "": no password verifies until a key's activation sets one */
            rc = tv_api_insert_user(c->st, email, "", "pending", 0, c->rq->now_ms, &uid);
        if (rc == 0)
            rc = mail_key_create(c->st, uid, "activate", c->rq->now_ms + 24 * 3600 * 1000LL, hash, token);
        if ((rc = commit(c->st, rc)) == 0) {
            tv_api_audit(c->st, c->rq, "account_created", uid, NULL, "clinician account registered", NULL);
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
            tv_api_audit(c->st, c->rq, "account_registration_repeated", u.id, NULL, "registered again before activation: earlier activation links void", NULL);
            send_activation(c->api, c->rq, c->rs, email, token);
        }
        wipe_user(&u);
    } else if (rc == 0 && exists) {
        snprintf(text, sizeof text,
                 "Someone tried to register a televisit account with this address, which already has one.\r\n\r\n"
                 "If it was you, sign in, or reset your password from the sign-in page.\r\n");
        tv_api_mail_out(c->api, c->rq, c->rs, "notice", email, "Your televisit account", text, NULL);
        wipe_user(&u);
    }
    sodium_memzero(hash, sizeof hash);
    sodium_memzero(token, sizeof token);
    sodium_memzero(text, sizeof text);
    if (rc != 0)
        return tv_api_reply_storage(c->rs);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "check_mail");
    cJSON_AddStringToObject(o, "message", "If this address can be registered, an activation link is on its way.");
    return tv_api_reply_json(c->rs, 202, o);
}

/* The key from the mail and the password chosen at registration: the account becomes active with
 * the password of the registration that made this key, and only if it is the one given here. A
 * wrong password leaves the key usable (only the mailbox has it; the route is rate-limited). */
int tv_api_do_activate(ctx *c)
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
        tv_api_audit(c->st, c->rq, "login_failure", uid, NULL, "activation with another password than the registration's",
              "{\"reason\":\"activation_password\"}");
        return tv_api_reply_error(c->rs, 401, TV_ERR_CREDENTIALS,
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
    tv_api_audit(c->st, c->rq, "account_activated", uid, NULL, "account activated by its mailed key", NULL);
    return tv_api_reply_ok(c->rs, 200, "status", "active");
}

cJSON *tv_api_me_json(tv_api *api, tv_store *st, const user *u)
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
int tv_api_login_done(tv_api *api, tv_store *st, const tv_api_req *rq, user *u, const char *method, tv_api_resp *rs)
{
    tv_api_throttle_clear(st, u->email, rq->ip);
    if (tv_api_session_create(api, st, rq, u->id, "full", u->session_sso_ms, rs) != 0)   /* a code after a provider: still its */
        return tv_api_reply_error(rs, 500, TV_ERR_STORAGE, "The server could not sign you in. Try again.");
    char extra[64];
    snprintf(extra, sizeof extra, "{\"method\":\"%s\"}", method);
    tv_api_audit(st, rq, "login_success", u->id, NULL, "signed in", extra);
    u->session_created_ms = rq->now_ms;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "next", "done");
    cJSON_AddItemToObject(o, "user", tv_api_me_json(api, st, u));
    return tv_api_reply_json(rs, 200, o);
}

int tv_api_do_login(ctx *c)
{
    const char *email = str_of(c->body, "email"), *pw = str_of(c->body, "password");
    user u;
    int rc = tv_api_user_by_email(c->st, email, &u), known = rc == 0;
    if (rc != 0 && rc != TV_ERR_NOT_FOUND)
        return tv_api_reply_error(c->rs, 500, TV_ERR_STORAGE, "The server could not check this. Try again.");
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
    tv_api_throttle_of(c->st, email, c->rq->ip, &t);
    int64_t until = tv_api_throttle_until(c->st, &t, c->rq->now_ms);
    if (until) {   /* answered before any hashing */
        tv_api_audit(c->st, c->rq, "login_failure", known ? u.id : 0, NULL, known ? "sign-in blocked from this address" : "unknown e-mail",
              "{\"reason\":\"locked\"}");
        if (known)
            wipe_user(&u);
        return tv_api_reply_locked(c->rs, until, c->rq->now_ms);
    }
    if (pwhash_verify(c->api, known ? u.pw_hash : NULL, pw) != 0) {
        until = tv_api_throttle_fail(c->st, c->rq, &t, known ? u.id : 0, known ? "password" : "unknown_email");
        if (known)
            wipe_user(&u);
        return until ? tv_api_reply_locked(c->rs, until, c->rq->now_ms) : reply_bad_credentials(c->rs);
    }
    int needs = 0;
    if (strcmp(u.status, "active") == 0 && tv_pwhash_needs_rehash(&c->api->cost, u.pw_hash, strlen(u.pw_hash), &needs) == 0 && needs)
        set_password(c->api, c->st, u.id, pw);   /* the cost was raised since: upgrade while we have the password */
    if (strcmp(u.status, "active") != 0) {
        tv_api_audit(c->st, c->rq, "login_failure", u.id, NULL, "account not active", "{\"reason\":\"not_active\"}");
        rc = tv_api_reply_error(c->rs, 403, TV_ERR_FORBIDDEN, strcmp(u.status, "pending") == 0
                                                        ? "This account is not activated yet: open the link in the activation mail."
                                                        : "This account is disabled.");
    } else if (!tv_api_ip_allowed(u.ip_allow, c->rq->ip)) {
        tv_api_audit(c->st, c->rq, "login_failure", u.id, NULL, "address not on the account's allow-list", "{\"reason\":\"ip_not_allowed\"}");
        rc = tv_api_reply_error(c->rs, 403, TV_ERR_FORBIDDEN, "Sign-in from this network is not allowed for this account.");
    } else if (u.totp_enabled) {
        rc = tv_api_session_create(c->api, c->st, c->rq, u.id, "totp", 0, c->rs);
        rc = rc == 0 ? tv_api_reply_ok(c->rs, 200, "next", "totp")
                     : tv_api_reply_error(c->rs, 500, TV_ERR_STORAGE, "The server could not sign you in. Try again.");
    } else {
        rc = tv_api_login_done(c->api, c->st, c->rq, &u, "password", c->rs);
    }
    wipe_user(&u);
    return rc;
}

/* A security change (2FA on or off, a single sign-on identity linked or unlinked) needs more than a
 * session, which may be a console left open or a stolen cookie: the current password; or a fresh code
 * when TOTP is on (given as `code`); or, for an account without a password, a provider sign-in at most
 * TV_API_REAUTH_SSO_MS old that made this very session. A wrong password or code counts toward the
 * lockout as at sign-in. 0 when proven; otherwise the refusal is in rs. */
int tv_api_reauth(tv_api *api, tv_store *st, const tv_api_req *rq, user *u, const char *password, const char *code,
                  const char *what, const char *wrong, tv_api_resp *rs)
{
    int rc;
    /* a blocked pair is answered before any check, as at sign-in */
    if ((password || (code && u->totp_enabled)) && reply_if_blocked(st, rq, u, rs))
        return TV_ERR_LOCKED;
    if (password) {
        if (verify_password(api, u, password) == 0)
            return 0;
        tv_api_reply_auth_failure(st, rq, u, what, wrong, rs);
        return TV_ERR_CREDENTIALS;
    }
    if (code && u->totp_enabled) {
        if ((rc = tv_api_totp_check(st, u, code, rq->now_ms)) == 0)
            return 0;
        if (rc == TV_ERR_STORAGE)
            tv_api_reply_storage(rs);
        else
            tv_api_reply_auth_failure(st, rq, u, rc == TV_ERR_OTP_REPLAY ? "totp_replay" : what, wrong, rs);
        return rc;
    }
    if (u->pw_hash[0] == '\0' && u->session_sso_ms > 0 && rq->now_ms - u->session_sso_ms <= TV_API_REAUTH_SSO_MS)
        return 0;
    tv_api_reply_error(rs, 401, TV_ERR_REAUTH, u->pw_hash[0] ? "Confirm this change with your current password."
                                                      : "Sign in again with your organisation, then make this change within 5 minutes.");
    return TV_ERR_REAUTH;
}

/* Mails the owner about a security change, so that one made by someone else does not go unseen. */
void tv_api_security_notice(tv_api *api, const tv_api_req *rq, tv_api_resp *rs, const user *u, const char *change)
{
    char text[1024];
    snprintf(text, sizeof text,
             "%s on your televisit account, from the address %s. Your other devices were signed out.\r\n\r\n"
             "If it was not you, reset your password from the sign-in page now (that signs every device out), "
             "then check Settings and tell your administrator.\r\n", change, rq->ip && rq->ip[0] ? rq->ip : "unknown");
    tv_api_mail_out(api, rq, rs, "notice", u->email, "Security change on your televisit account", text, NULL);
}

int tv_api_do_logout(ctx *c)
{
    tv_api_session_delete(c->st, c->u.session_hash);
    tv_api_audit(c->st, c->rq, "logout", c->u.id, NULL, "signed out", NULL);
    tv_api_notify_sessions_changed(c->api, c->u.id);   /* this session's connections (another tab's dashboard) close */
    tv_api_session_cookie(c->rs, NULL, 0);
    return tv_api_reply_ok(c->rs, 200, "status", "signed_out");
}

int tv_api_do_me(ctx *c)
{
    int rc = tv_api_reply_json(c->rs, 200, tv_api_me_json(c->api, c->st, &c->u));
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
int tv_api_do_cache_share(ctx *c)
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
        rc = tv_api_reply_ok(c->rs, 200, "share", b64);
    } else {
        rc = tv_api_reply_storage(c->rs);
    }
    sodium_memzero(key, sizeof key);
    sodium_memzero(share, sizeof share);
    sodium_memzero(salt, sizeof salt);
    sodium_memzero(b64, sizeof b64);
    return rc;
}

int tv_api_do_sessions_revoke(ctx *c)
{
    tv_api_sessions_delete_user(c->st, c->u.id, NULL);
    tv_api_audit(c->st, c->rq, "logout", c->u.id, NULL, "signed out everywhere", "{\"scope\":\"all_sessions\"}");
    tv_api_notify_sessions_changed(c->api, c->u.id);
    tv_api_session_cookie(c->rs, NULL, 0);
    return tv_api_reply_ok(c->rs, 200, "status", "signed_out");
}

int tv_api_do_settings(ctx *c)
{
    const char *list = str_of(c->body, "ip_allow");
    int rc;
    if (!ip_list_valid(list))
        rc = tv_api_reply_error(c->rs, 400, TV_ERR_MSG_FIELD_VALUE, "ip_allow takes IPv4 or IPv6 addresses and IPv4 CIDR blocks, separated by spaces.");
    else if (!tv_api_ip_allowed(list, c->rq->ip))
        rc = tv_api_reply_error(c->rs, 400, TV_ERR_MSG_FIELD_VALUE, "This list would lock you out: it must include the address you are using now.");
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
            tv_api_audit(c->st, c->rq, "settings_changed", c->u.id, NULL, "IP allow-list changed", extra);
            free(extra);
            rc = tv_api_reply_ok(c->rs, 200, "status", "saved");
        } else {
            rc = tv_api_reply_storage(c->rs);
        }
    }
    return rc;
}

int tv_api_do_password_change(ctx *c)
{
    int rc;
    char pwh[TV_PWHASH_STRBYTES];
    uint32_t broken;
    if (reply_if_blocked(c->st, c->rq, &c->u, c->rs)) {
        rc = 0;
    } else if (verify_password(c->api, &c->u, str_of(c->body, "current")) != 0) {
        rc = tv_api_reply_auth_failure(c->st, c->rq, &c->u, "password_change", "The current password is wrong.", c->rs);
    } else if ((broken = password_rules(c->api, str_of(c->body, "password"), c->u.email, NULL)) != 0) {
        rc = reply_password_rules(c->api, c->rs, broken);
    } else if ((rc = hash_password(c->api, str_of(c->body, "password"), pwh)) != 0 || (rc = begin(c->st)) != 0) {
        rc = tv_api_reply_storage(c->rs);   /* hashed before the transaction: Argon2id never holds the write lock */
    } else if (commit(c->st, store_hash(c->st, c->u.id, pwh) == 0 ? tv_api_sessions_delete_user(c->st, c->u.id, c->u.session_hash)   /* every other device signs in again */
                                                           : TV_ERR_STORAGE) == 0) {
        tv_api_notify_sessions_changed(c->api, c->u.id);
        tv_api_audit(c->st, c->rq, "password_changed", c->u.id, NULL, "password changed; other sessions ended", NULL);
        rc = tv_api_reply_ok(c->rs, 200, "status", "changed");
    } else {
        rc = tv_api_reply_storage(c->rs);
    }
    return rc;
}

int tv_api_do_password_forgot(ctx *c)
{
    user u;
    const char *email = str_of(c->body, "email");
    int sent = 0;
    if (tv_mail_address_ok(email, strlen(email)) == 0 && tv_api_user_by_email(c->st, email, &u) == 0) {
        char token[TV_TOKEN_STRBYTES], link[TV_CONFIG_STR + 128], text[2048];
        if (strcmp(u.status, "active") == 0 &&
            mail_key_create(c->st, u.id, "reset", c->rq->now_ms + 30 * 60 * 1000LL, NULL, token) == 0) {
            link_for(c->api, "reset.html", token, link, sizeof link);
            snprintf(text, sizeof text,
                     "Someone asked to reset the password of your televisit account.\r\n\r\nTo choose a new password, "
                     "open this link within 30 minutes (it works once):\r\n\r\n%s\r\n\r\nIf it was not you, ignore "
                     "this message; your password stays as it is.\r\n", link);
            tv_api_mail_out(c->api, c->rq, c->rs, "reset", u.email, "Reset your televisit password", text, link);
            tv_api_audit(c->st, c->rq, "password_reset", u.id, NULL, "password reset requested", "{\"stage\":\"requested\"}");
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
        tv_api_audit(c->st, c->rq, "password_reset", 0, NULL, "password reset asked for an address without an active account",
              "{\"stage\":\"no_account\"}");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "check_mail");
    cJSON_AddStringToObject(o, "message", "If this address has an account, a reset link is on its way.");
    return tv_api_reply_json(c->rs, 202, o);
}

int tv_api_do_password_reset(ctx *c)
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
        rc = tv_api_user_by_id(c->st, uid, &u);
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
        rc = tv_api_sessions_delete_user(c->st, uid, NULL);
    if (rc == 0)
        rc = throttle_clear_account(c->st, u.email);
    rc = commit(c->st, rc);
    wipe_user(&u);
    if (rc != 0)
        return reply_key_error(c->rs, rc);
    tv_api_notify_sessions_changed(c->api, uid);
    tv_api_audit(c->st, c->rq, "password_reset", uid, NULL, "password reset with a mailed key; all sessions ended", "{\"stage\":\"done\"}");
    return tv_api_reply_ok(c->rs, 200, "status", "changed");
}

int tv_api_do_account_delete(ctx *c)
{
    int rc;
    if (reply_if_blocked(c->st, c->rq, &c->u, c->rs)) {
        rc = 0;
    } else if (verify_password(c->api, &c->u, str_of(c->body, "password")) != 0) {
        rc = tv_api_reply_auth_failure(c->st, c->rq, &c->u, "account_delete", "The password is wrong.", c->rs);
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
            tv_api_audit(c->st, c->rq, "account_deleted", c->u.id, NULL, "account and its data deleted by its owner", NULL);
            tv_api_notify_sessions_changed(c->api, c->u.id);
            for (cJSON *v = rooms->child; v && c->api->notify; v = v->next)
                c->api->notify(c->api->notify_ctx, "visit_ended", v->valuestring);
            tv_api_session_cookie(c->rs, NULL, 0);
            rc = tv_api_reply_ok(c->rs, 200, "status", "deleted");
        } else {
            rc = tv_api_reply_error(c->rs, 500, TV_ERR_STORAGE, "The server could not delete the account. Try again.");
        }
        cJSON_Delete(rooms);
    }
    return rc;
}

int tv_api_do_policy(ctx *c)
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
    return tv_api_reply_json(c->rs, 200, o);
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
    if (tv_api_insert_user(st, email, hash, "active", is_admin, now_ms, &uid) != 0)
        return snprintf(err, err_size, "cannot add %s: %s", email, sqlite3_errmsg(st->db)), TV_ERR_CONFLICT;
    tv_api_req rq = { .now_ms = now_ms, .ip = "" };
    tv_api_audit(st, &rq, "account_created", uid, NULL, "account added with televisitd user add", is_admin ? "{\"admin\":true}" : NULL);
    return 0;
}
