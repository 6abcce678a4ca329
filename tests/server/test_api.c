/* The JSON API called directly with a controlled clock: activation, login, TOTP with replay,
 * recovery codes, lockout and its doubling, no account enumeration, session timeouts, password
 * reset, visits and audit logs that stay with their owner, and bad input that changes nothing. */
#include "tv_server_test.h"
#include "tv_test_mail.h"

#include <dirent.h>

#include <cjson/cJSON.h>
#include "tv_api.h"
#include "tv_auditlog.h"
#include "tv_base32.h"
#include "tv_store.h"
#include "tv_totp.h"

static tv_config cfg;
static tv_api api;
static tv_store st;
static const int64_t T0 = 1800000000000LL;   /* 2027-01-15 */
static const char *PW = "Correct-Horse-Battery-9";

/* no_page: without the header our pages' fetch sends (as a link or another site's page asks);
 * site: the Sec-Fetch-Site the browser sent, or NULL */
typedef struct call_opts { const char *session, *ip, *origin, *ctype; int64_t now; int no_page; const char *site; } call_opts;

static tv_api_resp rs;
static cJSON *json;

/* One request; json is the parsed answer (NULL for non-JSON). */
static int call_with(const char *method, const char *path, const char *body, call_opts o)
{
    tv_api_resp_free(&rs);
    cJSON_Delete(json);
    tv_api_req rq = { method, path, NULL, o.session, o.ip ? o.ip : "192.0.2.1", "localhost:8443", o.origin,
                      o.ctype ? o.ctype : "application/json", body, body ? strlen(body) : 0, o.now ? o.now : T0, 0, NULL, 0,
                      !o.no_page, o.site };
    const char *q = strchr(path, '?');
    char p[128];
    if (q) {
        snprintf(p, sizeof p, "%.*s", (int)(q - path), path);
        rq.path = p;
        rq.query = q + 1;
    }
    assert_int_equal(tv_api_handle(&api, &st, &rq, &rs), 0);
    json = rs.body ? cJSON_ParseWithLength(rs.body, rs.body_len) : NULL;
    return rs.status;
}

#define call(m, p, b, ...) call_with(m, p, b, (call_opts){ __VA_ARGS__ })

static const char *jstr(const char *name)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(json, name));
    return v ? v : "";
}

/* The session token from the last answer's Set-Cookie. */
static void cookie_of(char out[TV_TOKEN_STRBYTES])
{
    const char *c = strstr(rs.set_cookie, TV_API_COOKIE "=");
    assert_non_null(c);
    assert_int_equal(tv_api_cookie_token(c, out, TV_TOKEN_STRBYTES), 0);
    assert_non_null(strstr(rs.set_cookie, "Secure; HttpOnly; SameSite=None; Partitioned"));
}

/* The key in a mail to `to`; the mails to `to` are removed. */
static int mail_key(const char *to, char key[TV_TOKEN_STRBYTES])
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/mail", tv_test_dir);
    return tv_test_mail_key(dir, to, key);
}

/* 1 when a mail to `to` says `text`; every mail to `to` is removed. */
typedef struct says { const char *text; int found; } says;
static void says_of(const char *mail, void *arg) { ((says *)arg)->found |= strstr(mail, ((says *)arg)->text) != NULL; }

/* 1 when a mail to `to` holds text; the mails to `to` are removed. */
static int mail_says(const char *to, const char *text)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/mail", tv_test_dir);
    says s = { text, 0 };
    tv_test_mail_take(dir, to, says_of, &s);
    return s.found;
}

/* What the API told the hub (api.notify), one "event id" a line. */
static char notes[2048];
static void record_note(void *ctx, const char *event, const char *id)
{
    (void)ctx;
    size_t n = strlen(notes);
    snprintf(notes + n, sizeof notes - n, "%s %s\n", event, id);
}

static void make_user(const char *email)
{
    char body[256], key[TV_TOKEN_STRBYTES];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, PW);
    assert_int_equal(call("POST", "/api/register", body), 202);
    assert_int_equal(mail_key(email, key), 0);
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"password\":\"%s\"}", key, PW);
    assert_int_equal(call("POST", "/api/activate", body), 200);
}

static void login_from(const char *email, char session[TV_TOKEN_STRBYTES], int64_t now, const char *ip)
{
    char body[256];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, PW);
    assert_int_equal(call("POST", "/api/login", body, .now = now, .ip = ip), 200);
    assert_string_equal(jstr("next"), "done");
    cookie_of(session);
}

static void login(const char *email, char session[TV_TOKEN_STRBYTES], int64_t now)
{
    login_from(email, session, now, NULL);
}

static int setup(void **state)
{
    (void)state;
    if (tv_test_dir_make("api") != 0)
        return -1;
    tv_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", tv_test_dir);
    cfg.pwhash_mem_mib = 19;    /* the floor: these tests hash a lot */
    cfg.auth_per_minute = 100000;
    char db[128], key[128], err[256];
    snprintf(db, sizeof db, "%s/t.db", tv_test_dir);
    snprintf(key, sizeof key, "%s/master.key", tv_test_dir);
    return tv_store_open(&st, db, key, err, sizeof err) == 0 && tv_api_init(&api, &cfg) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    tv_api_resp_free(&rs);
    cJSON_Delete(json);
    json = NULL;
    tv_api_free(&api);
    tv_store_close(&st);
    return tv_test_dir_remove(state);
}

static void test_register_and_activate(void **state)
{
    (void)state;
    char key[TV_TOKEN_STRBYTES], body[256];
    /* the error names the rules that fail */
    assert_int_equal(call("POST", "/api/register", "{\"email\":\"a@example.org\",\"password\":\"password\"}"), 400);
    assert_string_equal(jstr("error"), "password_policy");
    cJSON *failed = cJSON_GetObjectItem(json, "failed");
    assert_true(cJSON_GetArraySize(failed) >= 2);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM users"), 0);
    assert_int_equal(call("POST", "/api/register", "{\"email\":\"not-an-address\",\"password\":\"Correct-Horse-Battery-9\"}"), 400);
    assert_string_equal(jstr("error"), "invalid_argument");
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM users"), 0);

    snprintf(body, sizeof body, "{\"email\":\"a@example.org\",\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/register", body), 202);
    assert_int_equal(mail_key("a@example.org", key), 0);
    /* pending: no sign-in before activation */
    assert_int_equal(call("POST", "/api/login", body), 403);
    assert_string_equal(jstr("error"), "forbidden");
    assert_int_equal(call("POST", "/api/activate", "{\"key\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"password\":\"x\"}"), 400);
    assert_string_equal(jstr("error"), "token_mismatch");
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"password\":\"%s\"}", key, PW);
    assert_int_equal(call("POST", "/api/activate", body), 200);
    assert_int_equal(call("POST", "/api/activate", body), 400);   /* single use */
    assert_string_equal(jstr("error"), "token_mismatch");

    /* a second registration of the same address: the same answer, no second account, a notice mail */
    snprintf(body, sizeof body, "{\"email\":\"A@example.org\",\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/register", body), 202);
    assert_string_equal(jstr("status"), "check_mail");
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM users"), 1);
    assert_int_equal(mail_key("A@example.org", key), 1);   /* a mail, without a key */

    /* an activation link expires after 24 hours */
    snprintf(body, sizeof body, "{\"email\":\"late@example.org\",\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/register", body), 202);
    assert_int_equal(mail_key("late@example.org", key), 0);
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"password\":\"%s\"}", key, PW);
    assert_int_equal(call("POST", "/api/activate", body, .now = T0 + 24 * 3600 * 1000LL + 1), 400);
    assert_string_equal(jstr("error"), "token_expired");
    /* the password is stored as Argon2id only: the account's once active, its key's until then */
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM users WHERE pw_hash LIKE '$argon2id$%'"), 1);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM users WHERE status = 'pending' AND pw_hash = ''"), 1);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM mail_keys WHERE pw_hash LIKE '$argon2id$%'"), 2);
}

/* Pre-registration takeover: a stranger registers the address first, with his password. The owner
 * registers too and activates from her mail: the account must take her password, never his; his
 * earlier key is void. And when the stranger registers after her, the newest mail (his) cannot
 * activate with her password, nor he without the key. */
static void test_preregistration_takeover(void **state)
{
    (void)state;
    static const char *ATTACKER = "Attacker-Chosen-Pass-77";
    char k_att[TV_TOKEN_STRBYTES], k_own[TV_TOKEN_STRBYTES], body[256];
    snprintf(body, sizeof body, "{\"email\":\"dr.who@example.org\",\"password\":\"%s\"}", ATTACKER);
    assert_int_equal(call("POST", "/api/register", body, .ip = "203.0.113.66"), 202);
    assert_int_equal(mail_key("dr.who@example.org", k_att), 0);   /* goes to the owner's mailbox */
    snprintf(body, sizeof body, "{\"email\":\"dr.who@example.org\",\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/register", body), 202);
    assert_int_equal(mail_key("dr.who@example.org", k_own), 0);
    /* the stranger's key is void, even with his own password */
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"password\":\"%s\"}", k_att, ATTACKER);
    assert_int_equal(call("POST", "/api/activate", body, .ip = "203.0.113.66"), 400);
    assert_string_equal(jstr("error"), "token_mismatch");
    /* her key with his password does nothing either */
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"password\":\"%s\"}", k_own, ATTACKER);
    assert_int_equal(call("POST", "/api/activate", body), 401);
    assert_string_equal(jstr("error"), "invalid_credentials");
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM users WHERE status = 'pending'"), 1);
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"password\":\"%s\"}", k_own, PW);
    assert_int_equal(call("POST", "/api/activate", body), 200);
    snprintf(body, sizeof body, "{\"email\":\"dr.who@example.org\",\"password\":\"%s\"}", ATTACKER);
    assert_int_equal(call("POST", "/api/login", body, .ip = "203.0.113.66"), 401);
    char s[TV_TOKEN_STRBYTES];
    login("dr.who@example.org", s, T0);

    /* the other order: she registers, he registers after her; the newest mail is his */
    snprintf(body, sizeof body, "{\"email\":\"dr.no@example.org\",\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/register", body), 202);
    assert_int_equal(mail_key("dr.no@example.org", k_own), 0);
    snprintf(body, sizeof body, "{\"email\":\"dr.no@example.org\",\"password\":\"%s\"}", ATTACKER);
    assert_int_equal(call("POST", "/api/register", body, .ip = "203.0.113.66"), 202);
    assert_int_equal(mail_key("dr.no@example.org", k_att), 0);
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"password\":\"%s\"}", k_att, PW);
    assert_int_equal(call("POST", "/api/activate", body), 401);   /* she opens his mail: refused */
    snprintf(body, sizeof body, "{\"email\":\"dr.no@example.org\",\"password\":\"%s\"}", ATTACKER);
    /* still pending: his password says only that (as to anyone who registered), and lets nobody in */
    assert_int_equal(call("POST", "/api/login", body, .ip = "203.0.113.66"), 403);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM users WHERE email = 'dr.no@example.org' AND status = 'pending'"), 1);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM audit WHERE type = 'account_registration_repeated'"), 2);
}

static void test_no_enumeration(void **state)
{
    (void)state;
    make_user("known@example.org");
    assert_int_equal(call("POST", "/api/login", "{\"email\":\"known@example.org\",\"password\":\"Wrong-Password-123\"}"), 401);
    char known[512];
    snprintf(known, sizeof known, "%.*s", (int)rs.body_len, rs.body);
    assert_int_equal(call("POST", "/api/login", "{\"email\":\"nobody@example.org\",\"password\":\"Wrong-Password-123\"}"), 401);
    assert_int_equal(rs.body_len, strlen(known));   /* byte for byte the same answer */
    assert_memory_equal(rs.body, known, strlen(known));
    /* unknown addresses lock like known ones, so a lock does not reveal an account either */
    /* and case does not split the count, as it does not for a real account (COLLATE NOCASE) */
    static const char *const variants[] = { "Nobody@example.org", "NOBODY@example.org", "nobody@Example.org" };
    for (int i = 0; i < 3; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"x\"}", variants[i]);
        call("POST", "/api/login", body);
    }
    assert_int_equal(call("POST", "/api/login", "{\"email\":\"nobody@example.org\",\"password\":\"x\"}"), 423);
    for (int i = 0; i < 3; i++)
        call("POST", "/api/login", "{\"email\":\"known@example.org\",\"password\":\"x\"}");
    assert_int_equal(call("POST", "/api/login", "{\"email\":\"known@example.org\",\"password\":\"x\"}"), 423);
    assert_string_equal(jstr("error"), "account_locked");
    /* password reset requests: the same answer for both */
    assert_int_equal(call("POST", "/api/password/forgot", "{\"email\":\"nobody@example.org\"}"), 202);
    snprintf(known, sizeof known, "%.*s", (int)rs.body_len, rs.body);
    assert_int_equal(call("POST", "/api/password/forgot", "{\"email\":\"known@example.org\"}"), 202);
    assert_int_equal(rs.body_len, strlen(known));
    assert_memory_equal(rs.body, known, strlen(known));
}

static void test_lockout_doubles(void **state)
{
    (void)state;
    make_user("lock@example.org");
    const char *bad = "{\"email\":\"lock@example.org\",\"password\":\"Wrong-Password-123\"}";
    char good[128], s[TV_TOKEN_STRBYTES];
    snprintf(good, sizeof good, "{\"email\":\"lock@example.org\",\"password\":\"%s\"}", PW);
    for (int i = 0; i < 4; i++)
        assert_int_equal(call("POST", "/api/login", bad), 401);
    assert_int_equal(call("POST", "/api/login", bad), 423);
    assert_int_equal(rs.retry_after_s, 15 * 60);
    /* locked: even the right password is refused, and it is not even checked */
    assert_int_equal(call("POST", "/api/login", good, .now = T0 + 14 * 60000), 423);
    login("lock@example.org", s, T0 + 15 * 60000 + 1);
    /* a success resets the count; a second lockout in a row lasts twice as long */
    int64_t t = T0 + 20 * 60000;
    for (int round = 1; round <= 2; round++) {
        for (int i = 0; i < 5; i++)
            call("POST", "/api/login", bad, .now = t);
        assert_int_equal(rs.status, 423);
        assert_int_equal(rs.retry_after_s, round == 1 ? 15 * 60 : 30 * 60);
        t += (round == 1 ? 15 : 30) * 60000 + 1;
    }
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM audit WHERE type = 'lockout'"), 3);
}

static void totp_code(const char *secret_b32, int64_t now_ms, char out[8])
{
    uint8_t key[64];
    size_t kl;
    assert_int_equal(tv_base32_decode(secret_b32, strlen(secret_b32), key, sizeof key, &kl), 0);
    tv_totp_params p;
    tv_totp_params_default(&p);
    uint32_t code;
    assert_int_equal(tv_totp(key, kl, &p, (uint64_t)(now_ms / 1000), &code), 0);
    assert_int_equal(tv_otp_format(code, 6, out, 8), 0);
}

static void test_totp_and_recovery(void **state)
{
    (void)state;
    char s[TV_TOKEN_STRBYTES], s2[TV_TOKEN_STRBYTES], secret[64], code[8], body[256], codes[10][16];
    make_user("totp@example.org");
    login("totp@example.org", s, T0);
    snprintf(body, sizeof body, "{\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/totp/enroll", body, .session = s), 200);
    snprintf(secret, sizeof secret, "%s", jstr("secret"));
    assert_non_null(strstr(jstr("uri"), "otpauth://totp/"));
    assert_non_null(strstr(jstr("qr_svg"), "<svg"));
    /* the secret is in the database only as ciphertext */
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(st.db, "SELECT totp_secret FROM users WHERE email = 'totp@example.org'", -1, &q, NULL), 0);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    uint8_t raw[64];
    size_t rl;
    assert_int_equal(tv_base32_decode(secret, strlen(secret), raw, sizeof raw, &rl), 0);
    assert_null(memmem(sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0), raw, rl));
    sqlite3_finalize(q);

    assert_int_equal(call("POST", "/api/totp/confirm", "{\"code\":\"000000\"}", .session = s, .now = T0 + 1000), 400);
    totp_code(secret, T0 + 1000, code);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    assert_int_equal(call("POST", "/api/totp/confirm", body, .session = s, .now = T0 + 1000), 200);
    cJSON *arr = cJSON_GetObjectItem(json, "recovery_codes");
    assert_int_equal(cJSON_GetArraySize(arr), 10);
    for (int i = 0; i < 10; i++)
        snprintf(codes[i], sizeof codes[i], "%s", cJSON_GetArrayItem(arr, i)->valuestring);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM recovery_codes WHERE used_ms IS NULL"), 10);

    /* password, then the code; the code of the step just used at confirmation is a replay */
    int64_t t = T0 + 2000;
    snprintf(body, sizeof body, "{\"email\":\"totp@example.org\",\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/login", body, .now = t), 200);
    assert_string_equal(jstr("next"), "totp");
    cookie_of(s2);
    /* the half-signed-in session opens nothing */
    assert_int_equal(call("GET", "/api/me", NULL, .session = s2, .now = t), 401);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    assert_int_equal(call("POST", "/api/login/second", body, .session = s2, .now = t), 401);
    assert_string_equal(jstr("error"), "otp_replay");
    t = T0 + 31000;   /* the next step */
    totp_code(secret, t, code);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    assert_int_equal(call("POST", "/api/login/second", body, .session = s2, .now = t), 200);
    char full[TV_TOKEN_STRBYTES];
    cookie_of(full);
    assert_string_not_equal(full, s2);   /* a new session id after the second factor */
    assert_int_equal(call("GET", "/api/me", NULL, .session = s2, .now = t), 401);
    assert_int_equal(call("GET", "/api/me", NULL, .session = full, .now = t), 200);

    /* a recovery code works once */
    snprintf(body, sizeof body, "{\"email\":\"totp@example.org\",\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/login", body, .now = t), 200);
    cookie_of(s2);
    snprintf(body, sizeof body, "{\"recovery_code\":\"%s\"}", codes[3]);
    assert_int_equal(call("POST", "/api/login/second", body, .session = s2, .now = t), 200);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(json, "user"), "recovery_codes_left")), 9);
    snprintf(body, sizeof body, "{\"email\":\"totp@example.org\",\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/login", body, .now = t), 200);
    cookie_of(s2);
    snprintf(body, sizeof body, "{\"recovery_code\":\"%s\"}", codes[3]);
    assert_int_equal(call("POST", "/api/login/second", body, .session = s2, .now = t), 401);

    /* the second step expires */
    assert_int_equal(call("POST", "/api/login/second", "{\"code\":\"123456\"}", .session = s2, .now = t + 6 * 60000), 401);
    assert_string_equal(jstr("error"), "unauthorized");

    /* turning it off takes the password and a fresh code */
    t += 60000;
    totp_code(secret, t, code);
    snprintf(body, sizeof body, "{\"password\":\"wrong\",\"code\":\"%s\"}", code);
    assert_int_equal(call("POST", "/api/totp/disable", body, .session = full, .now = t), 401);
    snprintf(body, sizeof body, "{\"password\":\"%s\",\"code\":\"%s\"}", PW, code);
    assert_int_equal(call("POST", "/api/totp/disable", body, .session = full, .now = t), 200);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM recovery_codes"), 0);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM audit WHERE type IN ('totp_enabled', 'totp_disabled')"), 2);
}

static void test_sessions(void **state)
{
    (void)state;
    char s[TV_TOKEN_STRBYTES];
    make_user("sess@example.org");
    login("sess@example.org", s, T0);
    assert_int_equal(call("GET", "/api/me", NULL, .session = s, .now = T0 + 14 * 60000), 200);
    /* 14 minutes later it was refreshed, so 28 minutes in it still works; 15 idle minutes end it */
    assert_int_equal(call("GET", "/api/me", NULL, .session = s, .now = T0 + 28 * 60000), 200);
    assert_int_equal(call("GET", "/api/me", NULL, .session = s, .now = T0 + 43 * 60000 + 1), 401);
    assert_int_equal(call("GET", "/api/me", NULL, .session = s, .now = T0 + 43 * 60000 + 2), 401);   /* gone */
    /* the absolute lifetime, however active */
    login("sess@example.org", s, T0);
    int64_t t = T0;
    for (; t < T0 + 12 * 3600000LL; t += 10 * 60000)
        assert_int_equal(call("GET", "/api/me", NULL, .session = s, .now = t), 200);
    assert_int_equal(call("GET", "/api/me", NULL, .session = s, .now = T0 + 12 * 3600000LL + 1), 401);
    /* logout ends it on the server: the same cookie no longer works */
    login("sess@example.org", s, T0);
    assert_int_equal(call("POST", "/api/logout", "{}", .session = s), 200);
    assert_int_equal(call("GET", "/api/me", NULL, .session = s), 401);
    /* a forged or malformed cookie */
    assert_int_equal(call("GET", "/api/me", NULL, .session = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 401);
    assert_int_equal(call("GET", "/api/me", NULL, .session = "x"), 401);
    /* sign out everywhere */
    char s2[TV_TOKEN_STRBYTES];
    login("sess@example.org", s, T0);
    login("sess@example.org", s2, T0);
    assert_int_equal(call("POST", "/api/sessions/revoke", "{}", .session = s), 200);
    assert_int_equal(call("GET", "/api/me", NULL, .session = s2), 401);
    /* session ids are stored hashed */
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM sessions WHERE length(hash) = 32"), tv_test_int64(st.db, "SELECT count(*) FROM sessions"));
    /* the IP allow-list: cannot lock yourself out; another address is refused */
    login("sess@example.org", s, T0);
    assert_int_equal(call("POST", "/api/settings", "{\"ip_allow\":\"10.0.0.0/8\"}", .session = s), 400);
    assert_int_equal(call("POST", "/api/settings", "{\"ip_allow\":\"192.0.2.0/24 2001:db8::1\"}", .session = s), 200);
    assert_int_equal(call("GET", "/api/me", NULL, .session = s, .ip = "198.51.100.7"), 401);
    char body[128];
    snprintf(body, sizeof body, "{\"email\":\"sess@example.org\",\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/login", body, .ip = "198.51.100.7"), 403);
    assert_int_equal(call("GET", "/api/me", NULL, .session = s, .ip = "192.0.2.77"), 200);
}

/* Only the user's requests keep a session alive. The page's own requests (background=1: the polls of
 * a console left open) are answered while the session lives but do not prolong it, however often they
 * come; a request the user made within the timeout does, and background ones after it again do not. */
static void test_background_requests_do_not_keep_alive(void **state)
{
    (void)state;
    char s[TV_TOKEN_STRBYTES];
    const int64_t MIN = 60000, idle = (int64_t)cfg.session_idle_min * MIN;
    make_user("idle@example.org");
    login("idle@example.org", s, T0);
    int64_t t = T0 + MIN;
    for (; t <= T0 + idle; t += MIN)
        assert_int_equal(call("GET", "/api/me?background=1", NULL, .session = s, .now = t), 200);
    assert_int_equal(call("GET", "/api/me?background=1", NULL, .session = s, .now = t), 401);
    assert_int_equal(call("GET", "/api/me", NULL, .session = s, .now = t + 1), 401);   /* ended, not only refused */

    /* the user lists the visits at 10 minutes: from then on the same polls, 15 minutes, then the end */
    login("idle@example.org", s, T0);
    for (t = T0 + MIN; t < T0 + 10 * MIN; t += MIN)
        assert_int_equal(call("GET", "/api/visits?background=1", NULL, .session = s, .now = t), 200);
    assert_int_equal(call("GET", "/api/visits", NULL, .session = s, .now = t), 200);
    int64_t acted = t;
    for (t += MIN; t <= acted + idle; t += MIN)
        assert_int_equal(call("GET", "/api/me?background=1", NULL, .session = s, .now = t), 200);
    assert_true(t > T0 + idle + MIN);   /* past the first timeout: the user's request kept it */
    assert_int_equal(call("GET", "/api/me?background=1", NULL, .session = s, .now = t), 401);
    /* only "1" says background; anything else is the user's (the safe side: a page that misspells it
     * is not signed out early) */
    login("idle@example.org", s, T0);
    assert_int_equal(call("GET", "/api/me?background=0", NULL, .session = s, .now = T0 + 10 * MIN), 200);
    assert_int_equal(call("GET", "/api/me?background=1", NULL, .session = s, .now = T0 + 20 * MIN), 200);
}

/* The downloads of the account's data (the export with decrypted chat and labels, the audit log) go
 * only to our pages' fetch, which sends a header no link, form or other site's page can send: the
 * session cookie is SameSite=None, so another site's <a href download> or navigation carries it. A
 * request without it, or that the browser says came from elsewhere, gets 403 and exports nothing. */
static void test_downloads_need_the_page(void **state)
{
    (void)state;
    char s[TV_TOKEN_STRBYTES];
    make_user("dl@example.org");
    login("dl@example.org", s, T0);
    assert_int_equal(call("POST", "/api/visits", "{\"label\":\"Mme Dupont 10:30\"}", .session = s), 201);
    const char *paths[] = { "/api/export", "/api/audit", "/api/audit?format=csv" };
    const char *sites[] = { "cross-site", "same-site", "none", "" };
    const char *exported = "SELECT count(*) FROM audit WHERE type = 'data_exported'";
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        assert_int_equal(call("GET", paths[i], NULL, .session = s, .no_page = 1), 403);
        assert_string_equal(jstr("error"), "forbidden");
        assert_string_equal(rs.disposition, "");
        assert_null(memmem(rs.body, rs.body_len, "Dupont", 6));
        /* the header with what the browser says of where the request came from */
        for (size_t k = 0; k < sizeof sites / sizeof sites[0]; k++) {
            assert_int_equal(call("GET", paths[i], NULL, .session = s, .site = sites[k]), 403);
            assert_string_equal(rs.disposition, "");
        }
        assert_int_equal(call("GET", paths[i], NULL, .session = s, .origin = "https://evil.example"), 403);
        assert_int_equal(call("GET", paths[i], NULL, .session = s, .no_page = 1, .site = "same-origin"), 403);
    }
    assert_int_equal(tv_test_int64(st.db, exported), 0);
    /* our page: the header, Sec-Fetch-Site same-origin where the browser sends it */
    assert_int_equal(call("GET", "/api/export", NULL, .session = s, .site = "same-origin"), 200);
    assert_non_null(strstr(rs.disposition, "televisit-my-data.json"));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(json, "visits"), 0), "label")),
                        "Mme Dupont 10:30");
    assert_int_equal(call("GET", "/api/audit?format=csv", NULL, .session = s), 200);
    assert_non_null(strstr(rs.disposition, "televisit-audit.csv"));
    assert_int_equal(call("GET", "/api/audit", NULL, .session = s, .origin = "https://localhost:8443"), 200);
    assert_int_equal(tv_test_int64(st.db, exported), 3);
    /* the other GETs are not downloads: a link to them shows nothing another site could read */
    assert_int_equal(call("GET", "/api/me", NULL, .session = s, .no_page = 1), 200);
}

/* The policy names the embedding origins one by one, whatever the spacing in the setting. */
static void test_policy_embed_origins(void **state)
{
    (void)state;
    assert_int_equal(call("GET", "/api/policy", NULL), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(json, "embed_origins")), 0);
    snprintf(cfg.frame_ancestors, sizeof cfg.frame_ancestors, " https://ehr.example.org   https://b.example:8443 ");
    assert_int_equal(call("GET", "/api/policy", NULL), 200);
    cJSON *o = cJSON_GetObjectItem(json, "embed_origins");
    assert_int_equal(cJSON_GetArraySize(o), 2);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetArrayItem(o, 0)), "https://ehr.example.org");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetArrayItem(o, 1)), "https://b.example:8443");
    cfg.frame_ancestors[0] = '\0';
}

/* The cache share: the same for every session of one account, another for another account, and
 * nothing without a live session (so a cache left after sign-out cannot be opened). */
static void test_cache_share(void **state)
{
    (void)state;
    char s1[TV_TOKEN_STRBYTES], s2[TV_TOKEN_STRBYTES], s3[TV_TOKEN_STRBYTES], a[64], b[64];
    make_user("cache1@example.org");
    make_user("cache2@example.org");
    login("cache1@example.org", s1, T0);
    login("cache1@example.org", s2, T0);
    login("cache2@example.org", s3, T0);
    assert_int_equal(call("GET", "/api/cache_share", NULL, .session = s1), 200);
    snprintf(a, sizeof a, "%s", jstr("share"));
    assert_int_equal(strlen(a), 43);
    assert_int_equal(call("GET", "/api/cache_share", NULL, .session = s2), 200);
    assert_string_equal(jstr("share"), a);
    assert_int_equal(call("GET", "/api/cache_share", NULL, .session = s3), 200);
    snprintf(b, sizeof b, "%s", jstr("share"));
    assert_int_equal(strlen(b), 43);
    assert_string_not_equal(a, b);
    assert_int_equal(call("POST", "/api/logout", "{}", .session = s1), 200);
    assert_int_equal(call("GET", "/api/cache_share", NULL, .session = s1), 401);
    assert_null(strstr(rs.body ? rs.body : "", a));
    assert_int_equal(call("GET", "/api/cache_share", NULL), 401);
}

static void test_visits_and_audit_stay_with_owner(void **state)
{
    (void)state;
    char a[TV_TOKEN_STRBYTES], b[TV_TOKEN_STRBYTES], id[32], link[256];
    make_user("owner@example.org");
    make_user("other@example.org");
    login("owner@example.org", a, T0);
    login("other@example.org", b, T0);
    assert_int_equal(call("POST", "/api/visits", "{\"label\":\"Mme Dupont 10:30\"}", .session = a), 201);
    snprintf(id, sizeof id, "%s", jstr("id"));
    snprintf(link, sizeof link, "%s", jstr("link"));
    assert_non_null(strstr(link, "/v/"));
    /* the label is PHI: ciphertext in the database */
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM visits WHERE instr(label, 'Dupont') > 0"), 0);
    assert_int_equal(call("GET", "/api/visits", NULL, .session = a), 200);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(json, "visits"), 0), "label")),
                        "Mme Dupont 10:30");
    /* the other clinician sees nothing of it and cannot end it */
    assert_int_equal(call("GET", "/api/visits", NULL, .session = b), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(json, "visits")), 0);
    char body[96];
    snprintf(body, sizeof body, "{\"id\":\"%s\"}", id);
    assert_int_equal(call("POST", "/api/visits/end", body, .session = b), 404);
    assert_int_equal(call("GET", "/api/audit", NULL, .session = b), 200);
    char *text = cJSON_PrintUnformatted(json);
    assert_null(strstr(text, id));
    assert_null(strstr(text, "user:1\""));
    free(text);
    /* the patient's page learns only the state */
    char tbody[96];
    snprintf(tbody, sizeof tbody, "{\"token\":\"%s\"}", strstr(link, "/v/") + 3);
    assert_int_equal(call("POST", "/api/invite", tbody), 200);
    assert_string_equal(jstr("state"), "open");
    assert_int_equal(call("POST", "/api/invite", tbody, .now = T0 + 25 * 3600000LL), 200);
    assert_string_equal(jstr("state"), "expired");
    assert_int_equal(call("POST", "/api/visits/revoke", body, .session = a), 200);
    assert_int_equal(call("POST", "/api/invite", tbody), 200);
    assert_string_equal(jstr("state"), "revoked");
    assert_int_equal(call("POST", "/api/invite", "{\"token\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}"), 404);
    /* the owner's log, as CSV too, with cells a spreadsheet would run defused: this download is
     * audited with a source address that reads as a formula */
    assert_int_equal(call("GET", "/api/audit", NULL, .session = a, .ip = "=1+2"), 200);
    assert_int_equal(call("GET", "/api/audit?format=csv", NULL, .session = a), 200);
    assert_string_equal(rs.content_type, "text/csv; charset=utf-8");
    assert_non_null(memmem(rs.body, rs.body_len, "visit_revoked", 13));
    assert_non_null(memmem(rs.body, rs.body_len, "\"'=1+2\"", 7));
    assert_null(memmem(rs.body, rs.body_len, "\"=1+2", 5));
    assert_int_equal(memcmp(rs.body, "\"seq\",\"ts_ms\",", 14), 0);
    assert_int_equal(memcmp(rs.body + rs.body_len - 2, "\r\n", 2), 0);
    assert_non_null(strstr(rs.disposition, "attachment"));
    /* GDPR: export, then delete */
    assert_int_equal(call("GET", "/api/export", NULL, .session = a), 200);
    assert_non_null(cJSON_GetObjectItem(json, "account"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(json, "visits")), 1);
    assert_int_equal(call("POST", "/api/account/delete", "{\"password\":\"nope\"}", .session = a), 401);
    snprintf(body, sizeof body, "{\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/account/delete", body, .session = a), 200);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM users WHERE email = 'owner@example.org'"), 0);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM visits"), 0);
    assert_int_equal(call("GET", "/api/me", NULL, .session = a), 401);
    int64_t n, bad;
    assert_int_equal(tv_auditlog_verify(&st, &n, &bad), 0);
    assert_int_equal(bad, 0);
}

static void test_password_reset_and_change(void **state)
{
    (void)state;
    char s[TV_TOKEN_STRBYTES], key[TV_TOKEN_STRBYTES], body[256];
    make_user("reset@example.org");
    login("reset@example.org", s, T0);
    assert_int_equal(call("POST", "/api/password/forgot", "{\"email\":\"reset@example.org\"}"), 202);
    assert_int_equal(mail_key("reset@example.org", key), 0);
    /* a weak new password is refused and the key is still good */
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"password\":\"weak\"}", key);
    assert_int_equal(call("POST", "/api/password/reset", body), 400);
    assert_string_equal(jstr("error"), "password_policy");
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"password\":\"Another-Long-Secret-77\"}", key);
    assert_int_equal(call("POST", "/api/password/reset", body, .now = T0 + 31 * 60000), 400);   /* 30 minutes */
    assert_string_equal(jstr("error"), "token_expired");
    assert_int_equal(call("POST", "/api/password/reset", body), 200);
    assert_int_equal(call("POST", "/api/password/reset", body), 400);   /* single use */
    assert_string_equal(jstr("error"), "token_mismatch");
    assert_int_equal(call("GET", "/api/me", NULL, .session = s), 401); /* every session ended */
    snprintf(body, sizeof body, "{\"email\":\"reset@example.org\",\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/login", body), 401);
    assert_int_equal(call("POST", "/api/login", "{\"email\":\"reset@example.org\",\"password\":\"Another-Long-Secret-77\"}"), 200);
    cookie_of(s);
    /* change: the current password is required */
    assert_int_equal(call("POST", "/api/password/change", "{\"current\":\"bad\",\"password\":\"Yet-Another-Secret-88\"}", .session = s), 401);
    assert_int_equal(call("POST", "/api/password/change", "{\"current\":\"Another-Long-Secret-77\",\"password\":\"Yet-Another-Secret-88\"}", .session = s), 200);
    assert_int_equal(call("GET", "/api/me", NULL, .session = s), 200);   /* this session stays */
}

static int64_t audited(const char *type, const char *requester, const char *extra)
{
    return tv_test_audit_count(st.db, type, requester, NULL, extra);
}

/* password_reset at both stages (asked for, with "no_account" for an address without an active
 * account; done, with the mailed key) and password_changed: each written once, by the act that
 * succeeded and by nothing else, and in the owner's own download. */
static void test_password_events_audited(void **state)
{
    (void)state;
    char s[TV_TOKEN_STRBYTES], key[TV_TOKEN_STRBYTES], body[256], who[32];
    make_user("events@example.org");
    snprintf(who, sizeof who, "user:%lld", (long long)tv_test_int64(st.db, "SELECT id FROM users WHERE email = 'events@example.org'"));
    const char *asked = "{\"stage\":\"requested\"}", *done = "{\"stage\":\"done\"}", *none = "{\"stage\":\"no_account\"}";
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM audit WHERE type IN ('password_reset', 'password_changed')"), 0);

    /* the request: for the account, and for an address without one */
    assert_int_equal(call("POST", "/api/password/forgot", "{\"email\":\"events@example.org\"}"), 202);
    assert_int_equal(audited("password_reset", who, asked), 1);
    assert_int_equal(call("POST", "/api/password/forgot", "{\"email\":\"nobody@example.org\"}"), 202);
    assert_int_equal(audited("password_reset", "", none), 1);
    assert_int_equal(audited("password_reset", who, asked), 1);

    /* the reset: refused attempts write no "done"; the one that works, one */
    assert_int_equal(mail_key("events@example.org", key), 0);
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"password\":\"weak\"}", key);
    assert_int_equal(call("POST", "/api/password/reset", body), 400);
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"password\":\"Another-Long-Secret-77\"}", key);
    assert_int_equal(call("POST", "/api/password/reset", body, .now = T0 + 31 * 60000), 400);   /* expired */
    assert_int_equal(audited("password_reset", who, done), 0);
    assert_int_equal(call("POST", "/api/password/reset", body), 200);
    assert_int_equal(audited("password_reset", who, done), 1);
    assert_int_equal(call("POST", "/api/password/reset", body), 400);   /* spent */
    assert_int_equal(audited("password_reset", who, done), 1);

    /* the change: a wrong current password writes none; the change, one */
    assert_int_equal(call("POST", "/api/login", "{\"email\":\"events@example.org\",\"password\":\"Another-Long-Secret-77\"}"), 200);
    cookie_of(s);
    assert_int_equal(call("POST", "/api/password/change", "{\"current\":\"bad\",\"password\":\"Yet-Another-Secret-88\"}", .session = s), 401);
    assert_int_equal(audited("password_changed", who, ""), 0);
    assert_int_equal(call("POST", "/api/password/change",
                          "{\"current\":\"Another-Long-Secret-77\",\"password\":\"Yet-Another-Secret-88\"}", .session = s), 200);
    assert_int_equal(audited("password_changed", who, ""), 1);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM audit WHERE type = 'password_changed'"), 1);

    /* the owner sees them in its own log */
    assert_int_equal(call("GET", "/api/audit?format=csv", NULL, .session = s), 200);
    assert_non_null(memmem(rs.body, rs.body_len, "\"password_changed\"", 18));
    size_t resets = 0;
    for (const char *p = rs.body; (p = memmem(p, rs.body_len - (size_t)(p - rs.body), "\"password_reset\"", 16)) != NULL; p += 16)
        resets++;
    assert_int_equal(resets, 2);   /* asked, done (the no_account one is nobody's) */
    int64_t n, bad;
    assert_int_equal(tv_auditlog_verify(&st, &n, &bad), 0);
    assert_int_equal(bad, 0);
}

/* TOTP for an account, through the API (enroll, then confirm with the current code); its secret. */
static void enroll_totp(const char *session, int64_t now, char secret[64])
{
    char code[8], body[64];
    snprintf(body, sizeof body, "{\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/totp/enroll", body, .session = session, .now = now), 200);
    snprintf(secret, 64, "%s", jstr("secret"));
    totp_code(secret, now, code);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    assert_int_equal(call("POST", "/api/totp/confirm", body, .session = session, .now = now), 200);
}

/* require_2fa: a clinician without TOTP is signed in, but the console's routes (visits, settings,
 * the cache share, the audit log and the data export, which hold the patients' events and chat)
 * answer 403 totp_required, and the signaling hub's check (tv_api_session_user) says the same, until
 * TOTP is enrolled; then all of it works, and 2FA cannot be turned off. What stays open before
 * enrolment: enrolling, the account itself (me, password change, deletion), signing out. */
static void test_require_2fa(void **state)
{
    (void)state;
    cfg.require_2fa = 1;
    char s[TV_TOKEN_STRBYTES], secret[64];
    make_user("must@example.org");
    login("must@example.org", s, T0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(json, "user"), "must_enroll_totp")));
    assert_int_equal(call("GET", "/api/policy", NULL), 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(json, "require_2fa")));
    static const struct { const char *method, *path, *body; int after; } routes[] = {
        { "POST", "/api/visits", "{\"label\":\"x\"}", 201 },
        { "GET", "/api/visits", NULL, 200 },
        { "POST", "/api/visits/end", "{\"id\":\"nope\"}", 404 },
        { "POST", "/api/visits/revoke", "{\"id\":\"nope\"}", 404 },
        { "POST", "/api/settings", "{\"ip_allow\":\"\"}", 200 },
        { "GET", "/api/cache_share", NULL, 200 },
        { "GET", "/api/audit", NULL, 200 },
        { "GET", "/api/audit?format=csv", NULL, 200 },
        { "GET", "/api/export", NULL, 200 },
    };
    const size_t n = sizeof routes / sizeof routes[0];
    for (size_t i = 0; i < n; i++) {
        if (call(routes[i].method, routes[i].path, routes[i].body, .session = s) != 403 ||
            strcmp(jstr("error"), "totp_required") != 0)
            fail_msg("%s %s before enrolment: %d %s", routes[i].method, routes[i].path, rs.status, jstr("error"));
    }
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM visits"), 0);
    int64_t uid = -1;
    assert_int_equal(tv_api_session_user(&api, &st, s, "192.0.2.1", T0, 0, &uid), TV_ERR_TOTP_REQUIRED);
    assert_int_equal(uid, -1);
    /* still reachable */
    assert_int_equal(call("GET", "/api/me", NULL, .session = s), 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(json, "must_enroll_totp")));
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM audit WHERE type = 'data_exported'"), 0);

    enroll_totp(s, T0 + 1000, secret);
    assert_int_equal(call("GET", "/api/me", NULL, .session = s), 200);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(json, "must_enroll_totp")));
    for (size_t i = 0; i < n; i++)
        if (call(routes[i].method, routes[i].path, routes[i].body, .session = s) != routes[i].after)
            fail_msg("%s %s after enrolment: %d %s", routes[i].method, routes[i].path, rs.status, jstr("error"));
    assert_int_equal(tv_api_session_user(&api, &st, s, "192.0.2.1", T0, 0, &uid), 0);
    assert_int_equal(uid, tv_test_int64(st.db, "SELECT id FROM users WHERE email = 'must@example.org'"));
    /* and it stays on: the administrator's rule, not the clinician's choice */
    char code[8], body[128];
    totp_code(secret, T0 + 61000, code);
    snprintf(body, sizeof body, "{\"password\":\"%s\",\"code\":\"%s\"}", PW, code);
    assert_int_equal(call("POST", "/api/totp/disable", body, .session = s, .now = T0 + 61000), 403);
    assert_int_equal(tv_test_int64(st.db, "SELECT totp_enabled FROM users WHERE email = 'must@example.org'"), 1);
}

static void test_bad_input_changes_nothing(void **state)
{
    (void)state;
    char s[TV_TOKEN_STRBYTES];
    make_user("bad@example.org");
    login("bad@example.org", s, T0);
    int64_t users = tv_test_int64(st.db, "SELECT count(*) FROM users"), visits = tv_test_int64(st.db, "SELECT count(*) FROM visits");
    static const struct { const char *body, *code; int status; } cases[] = {
        { "{\"label\":", "msg_malformed_json", 400 },
        { "[1]", "msg_not_object", 400 },
        { "{\"label\":\"a\",\"label\":\"b\"}", "msg_duplicate_field", 400 },
        { "{\"label\":5}", "msg_field_type", 400 },
        { "{\"title\":\"x\"}", "msg_unknown_field", 400 },
        { "{\"label\":\"\xff\"}", "msg_malformed_json", 400 },
        { "\xef\xbb\xbf{}", "msg_malformed_json", 400 },
        { "{\"label\":\"a\"} {\"label\":\"b\"}", "msg_malformed_json", 400 },   /* trailing text: not a second body */
        { "{\"label\":\"a\"}x", "msg_malformed_json", 400 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(call("POST", "/api/visits", cases[i].body, .session = s), cases[i].status);
        if (strcmp(jstr("error"), cases[i].code) != 0)
            fail_msg("case %zu: %s", i, jstr("error"));
    }
    assert_int_equal(call("POST", "/api/visits", "{}", .session = s, .ctype = "text/plain"), 415);
    assert_int_equal(call("POST", "/api/visits", "{}", .session = s, .origin = "https://evil.example"), 403);
    char *big = malloc(TV_API_BODY_MAX + 100);
    memset(big, ' ', TV_API_BODY_MAX + 99);
    big[TV_API_BODY_MAX + 99] = '\0';
    assert_int_equal(call("POST", "/api/visits", big, .session = s), 413);
    free(big);
    assert_int_equal(call("DELETE", "/api/visits", NULL, .session = s), 405);
    assert_int_equal(call("GET", "/api/nothing", NULL), 404);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM users"), users);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM visits"), visits);
    /* the same origin is fine */
    assert_int_equal(call("POST", "/api/visits", "{}", .session = s, .origin = "https://localhost:8443"), 201);
}

/* A visit's label is shown on the console (and in the export) like a patient's name in the waiting
 * room, and checked with the same string class (tv_json's NAME): a right-to-left override, another
 * bidi control or a line break in it is refused, and no visit is made. */
static void test_visit_label_bidi_refused(void **state)
{
    (void)state;
    char s[TV_TOKEN_STRBYTES];
    make_user("bidi@example.org");
    login("bidi@example.org", s, T0);
    static const char *const labels[] = {
        "{\"label\":\"Dr \xe2\x80\xae\"}",     /* U+202E RIGHT-TO-LEFT OVERRIDE, as UTF-8 */
        "{\"label\":\"Dr \\u202e\"}",            /* the same, escaped */
        "{\"label\":\"a \\u2066b\"}",            /* U+2066 LEFT-TO-RIGHT ISOLATE */
        "{\"label\":\"two\\nlines\"}",
    };
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
        if (call("POST", "/api/visits", labels[i], .session = s) != 400 || strcmp(jstr("error"), "msg_field_value") != 0)
            fail_msg("label %zu: %d %s", i, rs.status, jstr("error"));
        assert_non_null(strstr(jstr("message"), "\"label\""));
    }
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM visits"), 0);
    /* right-to-left text itself is a label like any other */
    assert_int_equal(call("POST", "/api/visits", "{\"label\":\"\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d\"}", .session = s), 201);
}

static void test_rate_limit(void **state)
{
    (void)state;
    cfg.auth_per_minute = 5;
    int limited = 0;
    for (int i = 0; i < 8; i++)
        if (call("POST", "/api/login", "{\"email\":\"r@example.org\",\"password\":\"x\"}", .ip = "203.0.113.9") == 429)
            limited++;
    assert_int_equal(limited, 3);
    assert_true(rs.retry_after_s > 0);
    /* another address is not affected, and a minute later it recovers */
    assert_int_not_equal(call("POST", "/api/login", "{\"email\":\"r@example.org\",\"password\":\"x\"}", .ip = "203.0.113.10"), 429);
    assert_int_not_equal(call("POST", "/api/login", "{\"email\":\"r@example.org\",\"password\":\"x\"}", .ip = "203.0.113.9",
                              .now = T0 + 60000), 429);
}

/* Point 8: a collision in the rate limiter's table never loosens a limit. With one slot every
 * address collides: before, each newcomer took the slot over with a full bucket, so two addresses
 * taking turns were never limited. Now they share the spent bucket until it has refilled. */
static void test_rate_limit_collisions(void **state)
{
    (void)state;
    cfg.auth_per_minute = 5;
    api.nbuckets = 1;
    const char *body = "{\"email\":\"r@example.org\",\"password\":\"x\"}";
    int limited = 0;
    for (int i = 0; i < 20; i++)
        if (call("POST", "/api/login", body, .ip = i % 2 ? "203.0.113.1" : "203.0.113.2") == 429)
            limited++;
    assert_int_equal(limited, 15);
    /* once the bucket is full again, the newcomer may have the slot: a full bucket is what it starts with */
    assert_int_not_equal(call("POST", "/api/login", body, .ip = "203.0.113.3", .now = T0 + 60000), 429);
    /* the slot is chosen by a keyed hash: another server's key is another */
    tv_api other;
    assert_int_equal(tv_api_init(&other, &cfg), 0);
    assert_memory_not_equal(other.bucket_key, api.bucket_key, sizeof api.bucket_key);
    tv_api_free(&other);
}

/* Point 6: failures count per account and source address. A stranger at 127.0.0.2 who knows the
 * address blocks only himself; the owner at 127.0.0.3 signs in. Blocks double per pair, the count
 * starts over after a full sign-in, a day's quiet forgets the escalation, and a password reset
 * lifts every block. An unknown address answers exactly as an account does all along. */
static void test_lockout_per_source(void **state)
{
    (void)state;
    make_user("target@example.org");
    char good[128], s[TV_TOKEN_STRBYTES];
    snprintf(good, sizeof good, "{\"email\":\"target@example.org\",\"password\":\"%s\"}", PW);
    const char *bad = "{\"email\":\"target@example.org\",\"password\":\"Wrong-Password-123\"}";
    const char *ghost = "{\"email\":\"ghost@example.org\",\"password\":\"Wrong-Password-123\"}";
    for (int i = 0; i < 4; i++) {
        assert_int_equal(call("POST", "/api/login", bad, .ip = "127.0.0.2"), 401);
        assert_int_equal(call("POST", "/api/login", ghost, .ip = "127.0.0.2"), 401);
    }
    assert_int_equal(call("POST", "/api/login", bad, .ip = "127.0.0.2"), 423);
    assert_int_equal(rs.retry_after_s, 15 * 60);
    assert_int_equal(call("POST", "/api/login", ghost, .ip = "127.0.0.2"), 423);
    assert_int_equal(rs.retry_after_s, 15 * 60);
    /* the blocked pair: even the right password is refused there, without hashing */
    uint64_t hashed = atomic_load(&api.pwhash_verifies);
    assert_int_equal(call("POST", "/api/login", good, .ip = "127.0.0.2"), 423);
    assert_int_equal(atomic_load(&api.pwhash_verifies), hashed);
    /* the owner, from an address with no failures, gets in */
    assert_int_equal(call("POST", "/api/login", good, .ip = "127.0.0.3"), 200);
    assert_string_equal(jstr("next"), "done");
    /* an IPv6 host is one source for its whole /64: it cannot take a fresh address per guess */
    for (int i = 0; i < 5; i++) {
        char ip[48];
        snprintf(ip, sizeof ip, "2001:db8:1:2::%x", i + 1);
        call("POST", "/api/login", bad, .ip = ip);
    }
    assert_int_equal(rs.status, 423);
    assert_int_equal(call("POST", "/api/login", good, .ip = "2001:db8:1:3::1"), 200);
    /* the stranger keeps failing: each block of the pair lasts twice the last */
    int64_t t = T0 + 15 * 60000 + 1;
    for (int i = 0; i < 5; i++)
        call("POST", "/api/login", bad, .ip = "127.0.0.2", .now = t);
    assert_int_equal(rs.status, 423);
    assert_int_equal(rs.retry_after_s, 30 * 60);
    /* a day without failures from there forgets the escalation: the next block is the first again */
    t += 25 * 3600000LL;
    for (int i = 0; i < 5; i++)
        call("POST", "/api/login", bad, .ip = "127.0.0.2", .now = t);
    assert_int_equal(rs.status, 423);
    assert_int_equal(rs.retry_after_s, 15 * 60);
    /* a password reset (the mailbox proved) lifts every block of the account */
    assert_int_equal(call("POST", "/api/password/forgot", "{\"email\":\"target@example.org\"}", .now = t), 202);
    char key[TV_TOKEN_STRBYTES], body[256];
    assert_int_equal(mail_key("target@example.org", key), 0);
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"password\":\"%s\"}", key, PW);
    assert_int_equal(call("POST", "/api/password/reset", body, .now = t), 200);
    login_from("target@example.org", s, t, "127.0.0.2");
    /* the block covers the signed-in routes that check a password too: a stolen session cannot go on
     * guessing there once its address is blocked */
    for (int i = 0; i < 5; i++)
        call("POST", "/api/password/change", "{\"current\":\"Wrong-Password-123\",\"password\":\"Another-Good-Pass-42\"}",
             .session = s, .ip = "127.0.0.2", .now = t);
    assert_int_equal(rs.status, 423);
    snprintf(body, sizeof body, "{\"current\":\"%s\",\"password\":\"Another-Good-Pass-42\"}", PW);
    assert_int_equal(call("POST", "/api/password/change", body, .session = s, .ip = "127.0.0.2", .now = t), 423);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM audit WHERE type = 'lockout'"), 6);
}

/* Point 6, under a spread-out attack: once an account has 100 failures in the hour, each further
 * source is blocked at its first failure; the owner from a clean address still gets in. */
static void test_lockout_many_sources(void **state)
{
    (void)state;
    make_user("famous@example.org");
    const char *bad = "{\"email\":\"famous@example.org\",\"password\":\"Wrong-Password-123\"}";
    char ip[32], good[128];
    for (int src = 0; src < 20; src++) {
        snprintf(ip, sizeof ip, "198.51.100.%d", src + 1);
        for (int i = 0; i < 5; i++)
            call("POST", "/api/login", bad, .ip = ip);
        assert_int_equal(rs.status, 423);
    }
    assert_int_equal(call("POST", "/api/login", bad, .ip = "198.51.100.99"), 423);
    snprintf(good, sizeof good, "{\"email\":\"famous@example.org\",\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/login", good, .ip = "198.51.100.100"), 200);
    /* an hour later the account is no longer under attack: five tries a source again */
    assert_int_equal(call("POST", "/api/login", bad, .ip = "198.51.100.101", .now = T0 + 3600001), 401);
}

/* Point 9: a wrong password for an account without one (made by single sign-on) costs one Argon2id,
 * like any other account's and an unknown address's, and gets the same answer. */
static void test_no_password_same_work(void **state)
{
    (void)state;
    make_user("pw@example.org");
    assert_int_equal(sqlite3_exec(st.db, "INSERT INTO users (email, pw_hash, status, created_ms) VALUES ('sso@example.org', '', 'active', 0)", NULL, NULL, NULL), SQLITE_OK);
    const char *emails[] = { "pw@example.org", "sso@example.org", "nobody@example.org" };
    char answer[3][256];
    for (int i = 0; i < 3; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"Wrong-Password-123\"}", emails[i]);
        uint64_t before = atomic_load(&api.pwhash_verifies);
        assert_int_equal(call("POST", "/api/login", body), 401);
        assert_int_equal(atomic_load(&api.pwhash_verifies) - before, 1);
        snprintf(answer[i], sizeof answer[i], "%.*s", (int)rs.body_len, rs.body);
    }
    assert_string_equal(answer[0], answer[1]);
    assert_string_equal(answer[1], answer[2]);
    /* and no password at all never verifies: the empty string is not a key to it */
    assert_int_equal(call("POST", "/api/login", "{\"email\":\"sso@example.org\",\"password\":\"\"}"), 401);
}

/* A deleted account's id is never given again: the next account sees nothing of the deleted one's
 * audit records, visits or export (they were reproduced reading its visit_created records). */
static void test_ids_never_reused(void **state)
{
    (void)state;
    char gone_s[TV_TOKEN_STRBYTES], next_s[TV_TOKEN_STRBYTES], visit[32], body[128], who[48];
    make_user("first@example.org");
    make_user("gone@example.org");
    login("gone@example.org", gone_s, T0);
    int64_t gone = tv_test_int64(st.db, "SELECT id FROM users WHERE email = 'gone@example.org'");
    assert_int_equal(gone, tv_test_int64(st.db, "SELECT max(id) FROM users"));   /* the highest id: the one reused */
    assert_int_equal(call("POST", "/api/visits", "{\"label\":\"Mme Martin\"}", .session = gone_s), 201);
    snprintf(visit, sizeof visit, "%s", jstr("id"));
    snprintf(body, sizeof body, "{\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/account/delete", body, .session = gone_s), 200);

    make_user("next@example.org");
    int64_t next = tv_test_int64(st.db, "SELECT id FROM users WHERE email = 'next@example.org'");
    assert_true(next > gone);
    login("next@example.org", next_s, T0);
    snprintf(who, sizeof who, "\"user:%lld\"", (long long)gone);
    assert_int_equal(call("GET", "/api/audit", NULL, .session = next_s), 200);
    char *text = cJSON_PrintUnformatted(json);
    assert_null(strstr(text, visit));
    assert_null(strstr(text, who));
    assert_null(strstr(text, "account_deleted"));
    free(text);
    assert_int_equal(call("GET", "/api/export", NULL, .session = next_s), 200);
    text = cJSON_PrintUnformatted(json);
    assert_null(strstr(text, visit));
    assert_null(strstr(text, who));
    free(text);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(json, "visits")), 0);
    /* and again after the newest is deleted in turn */
    assert_int_equal(call("POST", "/api/account/delete", body, .session = next_s), 200);
    make_user("third@example.org");
    assert_true(tv_test_int64(st.db, "SELECT id FROM users WHERE email = 'third@example.org'") > next);
}

/* The cache share follows a random value of the account, not its id: two databases whose accounts
 * have the same ids (and the same master key) give different shares. */
static void test_cache_share_not_from_id(void **state)
{
    (void)state;
    char s[TV_TOKEN_STRBYTES], first[64], db[128], key[128], err[256], path[160];
    make_user("same@example.org");
    login("same@example.org", s, T0);
    int64_t id = tv_test_int64(st.db, "SELECT id FROM users");
    assert_int_equal(call("GET", "/api/cache_share", NULL, .session = s), 200);
    snprintf(first, sizeof first, "%s", jstr("share"));
    /* a second database from nothing, with the same key file */
    tv_store_close(&st);
    snprintf(db, sizeof db, "%s/t.db", tv_test_dir);
    snprintf(key, sizeof key, "%s/master.key", tv_test_dir);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", db, (const char *[]){ "", "-wal", "-shm" }[i]);
        unlink(path);
    }
    assert_int_equal(tv_store_open(&st, db, key, err, sizeof err), 0);
    make_user("same@example.org");
    login("same@example.org", s, T0);
    assert_int_equal(tv_test_int64(st.db, "SELECT id FROM users"), id);
    assert_int_equal(call("GET", "/api/cache_share", NULL, .session = s), 200);
    assert_int_equal(strlen(jstr("share")), 43);
    assert_string_not_equal(jstr("share"), first);
    /* an account from before salts gets one on first use, and keeps it */
    assert_int_equal(sqlite3_exec(st.db, "UPDATE users SET cache_salt = NULL", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(call("GET", "/api/cache_share", NULL, .session = s), 200);
    snprintf(first, sizeof first, "%s", jstr("share"));
    assert_int_equal(tv_test_int64(st.db, "SELECT length(cache_salt) FROM users"), 32);
    assert_int_equal(call("GET", "/api/cache_share", NULL, .session = s), 200);
    assert_string_equal(jstr("share"), first);
}

/* Deleting an account ends its live rooms: the hub is told of each open visit, so a waiting patient
 * learns the visit ended instead of waiting in a lobby. */
static void test_account_delete_ends_rooms(void **state)
{
    (void)state;
    char s[TV_TOKEN_STRBYTES], v1[32], v2[32], v3[32], body[128], want[96];
    make_user("rooms@example.org");
    login("rooms@example.org", s, T0);
    assert_int_equal(call("POST", "/api/visits", "{}", .session = s), 201);
    snprintf(v1, sizeof v1, "%s", jstr("id"));
    assert_int_equal(call("POST", "/api/visits", "{}", .session = s), 201);
    snprintf(v2, sizeof v2, "%s", jstr("id"));
    assert_int_equal(call("POST", "/api/visits", "{}", .session = s), 201);
    snprintf(v3, sizeof v3, "%s", jstr("id"));
    snprintf(body, sizeof body, "{\"id\":\"%s\"}", v3);
    assert_int_equal(call("POST", "/api/visits/end", body, .session = s), 200);   /* already over */
    notes[0] = '\0';
    api.notify = record_note;
    snprintf(body, sizeof body, "{\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/account/delete", body, .session = s), 200);
    snprintf(want, sizeof want, "visit_ended %s\n", v1);
    assert_non_null(strstr(notes, want));
    snprintf(want, sizeof want, "visit_ended %s\n", v2);
    assert_non_null(strstr(notes, want));
    assert_null(strstr(notes, v3));
    assert_non_null(strstr(notes, "user_sessions_revoked "));
    /* a wrong password deletes nothing and tells the hub nothing */
    make_user("stays@example.org");
    login("stays@example.org", s, T0);
    assert_int_equal(call("POST", "/api/visits", "{}", .session = s), 201);
    notes[0] = '\0';
    assert_int_equal(call("POST", "/api/account/delete", "{\"password\":\"Wrong-Password-1\"}", .session = s), 401);
    assert_string_equal(notes, "");
}

static int failures_for(const char *reason)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM audit WHERE type = 'login_failure' AND extra LIKE '%%\"%s\"%%'", reason);
    return (int)tv_test_int64(st.db, sql);
}

/* TOTP on and off need the password, not a session alone; a wrong one counts as a failed sign-in;
 * either change ends the account's other sessions and is mailed to its owner. */
static void test_totp_needs_password(void **state)
{
    (void)state;
    char s[TV_TOKEN_STRBYTES], other[TV_TOKEN_STRBYTES], secret[64], code[8], body[256];
    make_user("step@example.org");
    login("step@example.org", s, T0);
    login("step@example.org", other, T0);   /* another device */
    assert_int_equal(call("POST", "/api/totp/enroll", "{}", .session = s), 401);
    assert_string_equal(jstr("error"), "reauth_required");
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM users WHERE totp_secret IS NOT NULL"), 0);
    assert_int_equal(call("POST", "/api/totp/enroll", "{\"password\":\"Wrong-Password-1\"}", .session = s), 401);
    assert_string_equal(jstr("error"), "invalid_credentials");
    assert_int_equal(failures_for("totp_enroll"), 1);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM users WHERE totp_secret IS NOT NULL"), 0);
    snprintf(body, sizeof body, "{\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/totp/enroll", body, .session = s), 200);
    snprintf(secret, sizeof secret, "%s", jstr("secret"));
    assert_int_equal(call("GET", "/api/me", NULL, .session = other), 200);   /* pending: nothing changed yet */
    assert_int_equal(mail_says("step@example.org", ""), 0);

    totp_code(secret, T0 + 1000, code);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    notes[0] = '\0';
    api.notify = record_note;
    assert_int_equal(call("POST", "/api/totp/confirm", body, .session = s, .now = T0 + 1000), 200);
    assert_int_equal(call("GET", "/api/me", NULL, .session = other, .now = T0 + 1000), 401);   /* it never gave the code */
    assert_int_equal(call("GET", "/api/me", NULL, .session = s, .now = T0 + 1000), 200);
    assert_non_null(strstr(notes, "user_sessions_revoked "));
    assert_true(mail_says("step@example.org", "Two-factor authentication was turned on"));

    /* off: the password too (and the code); then other sessions end again */
    int64_t t = T0 + 61000;
    snprintf(body, sizeof body, "{\"email\":\"step@example.org\",\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/login", body, .now = t), 200);
    cookie_of(other);
    totp_code(secret, t, code);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    assert_int_equal(call("POST", "/api/login/second", body, .session = other, .now = t), 200);
    cookie_of(other);
    t += 30000;
    totp_code(secret, t, code);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    assert_int_equal(call("POST", "/api/totp/disable", body, .session = s, .now = t), 401);
    assert_string_equal(jstr("error"), "reauth_required");
    snprintf(body, sizeof body, "{\"password\":\"Wrong-Password-1\",\"code\":\"%s\"}", code);
    assert_int_equal(call("POST", "/api/totp/disable", body, .session = s, .now = t), 401);
    assert_int_equal(failures_for("totp_disable"), 1);
    snprintf(body, sizeof body, "{\"password\":\"%s\",\"code\":\"%s\"}", PW, code);
    assert_int_equal(call("POST", "/api/totp/disable", body, .session = s, .now = t), 200);
    assert_int_equal(call("GET", "/api/me", NULL, .session = other, .now = t), 401);
    assert_int_equal(call("GET", "/api/me", NULL, .session = s, .now = t), 200);
    assert_true(mail_says("step@example.org", "Two-factor authentication was turned off"));
}

/* Unlinking a single sign-on identity: re-authenticated (the password; for an account without one, a
 * provider sign-in of the last five minutes that made this session), never the last way in, other
 * sessions end, the owner is mailed. The links are made here directly: sso.test.mjs goes through a
 * real provider. */
static void test_sso_unlink(void **state)
{
    (void)state;
    char s[TV_TOKEN_STRBYTES], other[TV_TOKEN_STRBYTES], body[256];
    make_user("unlink@example.org");
    login("unlink@example.org", s, T0);
    login("unlink@example.org", other, T0);
    int64_t uid = tv_test_int64(st.db, "SELECT id FROM users WHERE email = 'unlink@example.org'");
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO sso_links (issuer, subject, user_id, provider, created_ms) VALUES"
                              " ('https://idp.example', 'u1', %lld, 'op', 1), ('https://ehr.example', 'u2', %lld, 'ehr', 1)",
             (long long)uid, (long long)uid);
    assert_int_equal(sqlite3_exec(st.db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(call("POST", "/api/sso/unlink", "{\"provider\":\"op\"}", .session = s), 401);
    assert_string_equal(jstr("error"), "reauth_required");
    assert_int_equal(call("POST", "/api/sso/unlink", "{\"provider\":\"op\",\"password\":\"Wrong-Password-1\"}", .session = s), 401);
    assert_string_equal(jstr("error"), "invalid_credentials");
    assert_int_equal(failures_for("sso_unlink"), 1);
    snprintf(body, sizeof body, "{\"provider\":\"nope\",\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/sso/unlink", body, .session = s), 404);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM sso_links"), 2);
    snprintf(body, sizeof body, "{\"provider\":\"op\",\"password\":\"%s\"}", PW);
    assert_int_equal(call("POST", "/api/sso/unlink", body, .session = s), 200);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM sso_links WHERE provider = 'op'"), 0);
    assert_int_equal(call("GET", "/api/me", NULL, .session = other), 401);
    assert_int_equal(call("GET", "/api/me", NULL, .session = s), 200);
    assert_true(mail_says("unlink@example.org", "Sign-in with op was unlinked"));
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM audit WHERE type = 'sso_unlinked'"), 1);

    /* an account without a password: its own fresh provider sign-in is the proof, not an old one;
     * and its last link stays */
    assert_int_equal(sqlite3_exec(st.db, "INSERT INTO sso_links (issuer, subject, user_id, provider, created_ms)"
                                         " SELECT 'https://idp.example', 'u3', id, 'op', 1 FROM users WHERE email = 'unlink@example.org';"
                                         "UPDATE users SET pw_hash = '' WHERE email = 'unlink@example.org'", NULL, NULL, NULL), SQLITE_OK);
    snprintf(sql, sizeof sql, "UPDATE sessions SET sso_ms = %lld WHERE user_id = %lld", (long long)(T0 - 6 * 60000), (long long)uid);
    assert_int_equal(sqlite3_exec(st.db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(call("POST", "/api/sso/unlink", "{\"provider\":\"op\"}", .session = s), 401);
    assert_string_equal(jstr("error"), "reauth_required");
    snprintf(sql, sizeof sql, "UPDATE sessions SET sso_ms = %lld WHERE user_id = %lld", (long long)(T0 - 60000), (long long)uid);
    assert_int_equal(sqlite3_exec(st.db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(call("POST", "/api/sso/unlink", "{\"provider\":\"op\"}", .session = s), 200);
    assert_int_equal(call("POST", "/api/sso/unlink", "{\"provider\":\"ehr\"}", .session = s), 409);
    assert_string_equal(jstr("error"), "conflict");
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM sso_links WHERE provider = 'ehr'"), 1);
}

static void test_ip_allow_list(void **state)
{
    (void)state;
    assert_true(tv_api_ip_allowed("", "1.2.3.4"));
    assert_true(tv_api_ip_allowed("10.0.0.0/8", "10.200.3.4"));
    assert_false(tv_api_ip_allowed("10.0.0.0/8", "11.0.0.1"));
    assert_true(tv_api_ip_allowed("1.2.3.4 2001:db8::1", "2001:db8::1"));
    assert_false(tv_api_ip_allowed("1.2.3.4", "1.2.3.40"));
    assert_true(tv_api_ip_allowed("0.0.0.0/0", "8.8.8.8"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register_and_activate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_enumeration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lockout_doubles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_totp_and_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_requests_do_not_keep_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_downloads_need_the_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_visits_and_audit_stay_with_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_reset_and_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_events_audited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_require_2fa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_visit_label_bidi_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_share, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_embed_origins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_share_not_from_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_delete_ends_rooms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_totp_needs_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sso_unlink, setup, teardown),
        cmocka_unit_test(test_ip_allow_list),
        cmocka_unit_test_setup_teardown(test_preregistration_takeover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_collisions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lockout_per_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lockout_many_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_password_same_work, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
