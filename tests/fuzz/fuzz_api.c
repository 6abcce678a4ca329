/* libFuzzer target for the JSON API (tv_api_handle) on a real database, the way televisitd's workers
 * call it. An input is:
 *   byte 0   the route: one of the dispatcher's table (tv_api_routes[], in its order), an unknown path,
 *            or a known path with a method it does not take;
 *   byte 1   the session (none, a forged token, a real full session of a clinician without 2FA, the
 *            half-signed-in and the full session of one with TOTP on, or a Cookie header read from
 *            the input through tv_api_cookie_token), the Content-Type, the Origin and (its top bit
 *            clear) the pages' header, which the downloads need;
 *   the rest for a GET: the query string; for a POST: the body. With the Cookie mode, the rest starts
 *            with the header, up to the first '\n'.
 * In a body, "@VISIT@", "@INVITE@", "@KEY@" (a pending account's activation key) and "@RESET@" (a
 * password reset key) become the real values, so the fuzzer gets past the lookups.
 *
 * One temporary database is made in LLVMFuzzerInitialize (in /dev/shm when there is one) and copied
 * back into place before every input (SQLite's backup API), so each input runs against the same state
 * and a finding reproduces from its file alone. Argon2id is what makes an input slow: the accounts'
 * password hashes and the API's dummy hash (verified for unknown e-mails) are replaced with hashes at
 * libsodium's minimum cost, so a wrong password or an unknown address costs microseconds. New hashes
 * (a registration, a reset, a rehash after a successful login) still use the API's real cost, which
 * tv_pwhash will not go below (19 MiB).
 *
 * Besides the sanitizers, the oracle: every answer has a status and, when JSON, parses; a signed-in
 * route never answers 2xx to a request without the session its auth level asks for (a full one, or the
 * half one of the code step). */
#define _GNU_SOURCE   /* mkdtemp, memmem */
#include "tv_api_int.h"   /* the route table */
#include "tv_base32.h"
#include "tv_err.h"
#include "tv_init.h"
#include "tv_totp.h"
#include "../server/tv_test_mail.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const int64_t T0 = 1800000000000LL;
static const int64_t NOW = 1800000000000LL + 60000;   /* every input: a minute after setup */
static const char *PW = "Correct-Horse-Battery-9";
static const char *FORGED = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

static tv_config cfg;
static tv_api api;
static tv_store st;
static sqlite3 *pristine;
static int trace;   /* FUZZ_API_TRACE=1: each request and its answer on stderr, to read what a corpus does */
static char dir[64];
static char s_plain[TV_TOKEN_STRBYTES], s_totp_half[TV_TOKEN_STRBYTES], s_totp_full[TV_TOKEN_STRBYTES];
static char visit[32], invite[TV_TOKEN_STRBYTES], akey[TV_TOKEN_STRBYTES], rkey[TV_TOKEN_STRBYTES];

/* Not routes: 404 and 405. The routes themselves are the dispatcher's own table (tv_api_routes[]). */
static const tv_api_route extra[] = {
    { "GET", "/api/nothing", NULL, AUTH_OPEN, 0, NULL },
    { "PUT", "/api/login", NULL, AUTH_OPEN, 0, NULL },
};
#define N_ROUTES (tv_api_nroutes + sizeof extra / sizeof extra[0])

/* ---- setup ---- */

static cJSON *api_call(const char *method, const char *path, const char *body, const char *session, int want,
                       char cookie[TV_TOKEN_STRBYTES])
{
    tv_api_resp rs;
    tv_api_req rq = { method, path, NULL, session, "192.0.2.1", "localhost:8443", NULL, "application/json", body,
                      body ? strlen(body) : 0, T0, 0, NULL, 0, 0, NULL };
    if (tv_api_handle(&api, &st, &rq, &rs) != 0 || rs.status != want) {
        fprintf(stderr, "fuzz_api setup: %s %s: %d %.*s\n", method, path, rs.status, (int)rs.body_len, rs.body);
        abort();
    }
    if (cookie) {
        const char *c = strstr(rs.set_cookie, TV_API_COOKIE "=");
        if (c == NULL || tv_api_cookie_token(c, cookie, TV_TOKEN_STRBYTES) != 0)
            abort();
    }
    cJSON *o = cJSON_ParseWithLength(rs.body, rs.body_len);
    tv_api_resp_free(&rs);
    return o;
}

/* The key in the mail to `to` (written to dir/mail: no relay is configured). */
static void mail_key(const char *to, char key[TV_TOKEN_STRBYTES])
{
    char mdir[128];
    snprintf(mdir, sizeof mdir, "%s/mail", dir);
    if (tv_test_mail_key(mdir, to, key) != 0)
        abort();
}

/* A hash of pw at libsodium's minimum cost (8 KiB, one pass): verifying it takes microseconds. */
static void cheap_hash(const char *pw, char out[TV_PWHASH_STRBYTES])
{
    if (crypto_pwhash_str_alg(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        abort();
}

static void clear_mail(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -f %s/mail/*", dir);
    if (system(cmd) != 0)
        abort();
}

/* At the end of a run (not after a crash: then the database is left to look at). */
static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_api: could not remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char db[128], key[128], err[256];
    snprintf(dir, sizeof dir, "%s/tv-fuzz-api-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (tv_init() != 0 || mkdtemp(dir) == NULL)
        abort();
    atexit(remove_dir);
    /* mail without a relay is announced on stdout: not once per input on the fuzzer's terminal */
    if (freopen("/dev/null", "w", stdout) == NULL)
        abort();
    tv_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
    cfg.pwhash_mem_mib = 19;
    cfg.auth_per_minute = 1000000000;   /* the rate limit would answer 429 to everything after a while */
    snprintf(db, sizeof db, "%s/t.db", dir);
    snprintf(key, sizeof key, "%s/master.key", dir);
    if (tv_store_open(&st, db, key, err, sizeof err) != 0 || tv_api_init(&api, &cfg) != 0)
        abort();
    st.audit_anchor[0] = '\0';   /* no anchor file rewritten at every audit record (tests/server cover it) */
    sqlite3_exec(st.db, "PRAGMA synchronous = OFF", NULL, NULL, NULL);   /* speed; durability is tested elsewhere */

    /* a clinician without 2FA, with a visit, a pending reset key, and a full session */
    if (tv_api_user_add(&api, &st, "dr@example.org", PW, 0, T0, err, sizeof err) != 0 ||
        tv_api_user_add(&api, &st, "totp@example.org", PW, 0, T0, err, sizeof err) != 0)
        abort();
    cJSON_Delete(api_call("POST", "/api/login", "{\"email\":\"dr@example.org\",\"password\":\"Correct-Horse-Battery-9\"}",
                          NULL, 200, s_plain));
    cJSON *o = api_call("POST", "/api/visits", "{\"label\":\"Mme Dupont\"}", s_plain, 201, NULL);
    snprintf(visit, sizeof visit, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")));
    snprintf(invite, sizeof invite, "%s", strstr(cJSON_GetStringValue(cJSON_GetObjectItem(o, "link")), "/v/") + 3);
    cJSON_Delete(o);
    cJSON_Delete(api_call("POST", "/api/password/forgot", "{\"email\":\"dr@example.org\"}", NULL, 202, NULL));
    mail_key("dr@example.org", rkey);
    /* an account waiting for activation */
    cJSON_Delete(api_call("POST", "/api/register", "{\"email\":\"new@example.org\",\"password\":\"Correct-Horse-Battery-9\"}",
                          NULL, 202, NULL));
    mail_key("new@example.org", akey);
    /* a clinician with TOTP on: a full session, and a half-signed-in one (password done, code not) */
    char full[TV_TOKEN_STRBYTES], code[8], body[64];
    cJSON_Delete(api_call("POST", "/api/login", "{\"email\":\"totp@example.org\",\"password\":\"Correct-Horse-Battery-9\"}",
                          NULL, 200, full));
    o = api_call("POST", "/api/totp/enroll", "{\"password\":\"Correct-Horse-Battery-9\"}", full, 200, NULL);
    uint8_t secret[64];
    size_t sl;
    const char *b32 = cJSON_GetStringValue(cJSON_GetObjectItem(o, "secret"));
    tv_totp_params p;
    tv_totp_params_default(&p);
    uint32_t c;
    if (tv_base32_decode(b32, strlen(b32), secret, sizeof secret, &sl) != 0 || tv_totp(secret, sl, &p, (uint64_t)(T0 / 1000), &c) != 0 ||
        tv_otp_format(c, 6, code, sizeof code) != 0)
        abort();
    cJSON_Delete(o);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    cJSON_Delete(api_call("POST", "/api/totp/confirm", body, full, 200, NULL));
    snprintf(s_totp_full, sizeof s_totp_full, "%s", full);
    o = api_call("POST", "/api/login", "{\"email\":\"totp@example.org\",\"password\":\"Correct-Horse-Battery-9\"}", NULL, 200,
                 s_totp_half);
    if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "next")), "totp") != 0)
        abort();
    cJSON_Delete(o);

    /* cheap password hashes from here on (see the top) */
    char h[TV_PWHASH_STRBYTES], rnd[TV_TOKEN_STRBYTES];
    cheap_hash(PW, h);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st.db, "UPDATE users SET pw_hash = ?", -1, &q, NULL) != SQLITE_OK)
        abort();
    sqlite3_bind_text(q, 1, h, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) != SQLITE_DONE)
        abort();
    sqlite3_finalize(q);
    if (tv_token_generate(rnd, sizeof rnd) != 0)
        abort();
    cheap_hash(rnd, api.dummy_hash);
    clear_mail();
    trace = getenv("FUZZ_API_TRACE") != NULL;

    /* the state every input starts from */
    sqlite3_backup *b;
    if (sqlite3_open(":memory:", &pristine) != SQLITE_OK || (b = sqlite3_backup_init(pristine, "main", st.db, "main")) == NULL ||
        sqlite3_backup_step(b, -1) != SQLITE_DONE || sqlite3_backup_finish(b) != SQLITE_OK)
        abort();
    return 0;
}

/* ---- one input ---- */

static size_t expand(const uint8_t *in, size_t n, char *out, size_t out_size)
{
    static const struct { const char *name; const char *value; } ph[] = {
        { "@VISIT@", visit }, { "@INVITE@", invite }, { "@KEY@", akey }, { "@RESET@", rkey },
    };
    size_t o = 0;
    for (size_t i = 0; i < n && o < out_size;) {
        size_t k = 0;
        for (; k < sizeof ph / sizeof ph[0]; k++) {
            size_t pl = strlen(ph[k].name);
            if (n - i >= pl && memcmp(in + i, ph[k].name, pl) == 0)
                break;
        }
        if (k < sizeof ph / sizeof ph[0]) {
            size_t vl = strlen(ph[k].value);
            if (o + vl > out_size)
                break;
            memcpy(out + o, ph[k].value, vl);
            o += vl;
            i += strlen(ph[k].name);
        } else {
            out[o++] = (char)in[i++];
        }
    }
    return o;
}

static void restore(void)
{
    sqlite3_backup *b = sqlite3_backup_init(st.db, "main", pristine, "main");
    if (b == NULL || sqlite3_backup_step(b, -1) != SQLITE_DONE || sqlite3_backup_finish(b) != SQLITE_OK) {
        fprintf(stderr, "fuzz_api: cannot restore the database: %s\n", sqlite3_errmsg(st.db));
        abort();
    }
    memset(api.buckets, 0, sizeof api.buckets);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char body[TV_API_BODY_MAX * 2 + 1024], cookie_hdr[4096];
    static unsigned long runs;
    if (size < 2)
        return 0;
    restore();
    if (++runs % 1024 == 0)
        clear_mail();
    size_t ri = data[0] % N_ROUTES;
    const tv_api_route *r = ri < tv_api_nroutes ? &tv_api_routes[ri] : &extra[ri - tv_api_nroutes];
    uint8_t flags = data[1];
    const uint8_t *rest = data + 2;
    size_t rest_len = size - 2;

    char token[TV_TOKEN_STRBYTES];
    const char *session = NULL;
    int full_session = 0, half_session = 0;
    switch (flags & 7) {
    case 0:
        break;
    case 1:
        session = FORGED;
        break;
    case 3:
        session = s_totp_half, half_session = 1;
        break;
    case 4:
        session = s_totp_full, full_session = 1;
        break;
    case 5: {
        const uint8_t *nl = memchr(rest, '\n', rest_len);
        size_t hl = nl ? (size_t)(nl - rest) : rest_len;
        snprintf(cookie_hdr, sizeof cookie_hdr, "%.*s", (int)(hl < sizeof cookie_hdr - 1 ? hl : sizeof cookie_hdr - 1),
                 (const char *)rest);
        if (tv_api_cookie_token(cookie_hdr, token, sizeof token) == 0) {
            if (strlen(token) != TV_TOKEN_CHARS)
                abort();   /* the parser hands over a whole token or nothing */
            session = token;
        }
        rest += nl ? hl + 1 : hl;
        rest_len -= nl ? hl + 1 : hl;
        break;
    }
    default:
        session = s_plain, full_session = 1;
    }
    static const char *const ctypes[] = { "application/json", "application/json", "application/json; charset=utf-8", "text/plain" };
    static const char *const origins[] = { NULL, NULL, "https://localhost:8443", "https://evil.example" };

    size_t n = expand(rest, rest_len, body, sizeof body - 1);
    body[n] = '\0';
    int is_get = strcmp(r->method, "GET") == 0;
    tv_api_req rq = { r->method, r->path, is_get ? body : NULL, session, "192.0.2.1", "localhost:8443",
                      origins[(flags >> 5) & 3], ctypes[(flags >> 3) & 3], is_get ? NULL : body, is_get ? 0 : n, NOW, 0, NULL, 0,
                      !(flags & 0x80), NULL };
    tv_api_resp rs;
    int rc = tv_api_handle(&api, &st, &rq, &rs);
    if (rc == 0 && (rs.status < 200 || rs.status > 599 || rs.body == NULL))
        abort();   /* every answer has a status and a body */
    if (rs.body && rs.content_type && strcmp(rs.content_type, "application/json") == 0) {
        cJSON *o = cJSON_ParseWithLength(rs.body, rs.body_len);
        if (o == NULL)
            abort();   /* the API said JSON and wrote something else */
        cJSON_Delete(o);
    }
    int has = r->auth >= AUTH_ENROLLING ? full_session : r->auth == AUTH_SECOND ? half_session : 1;
    if (!has && rs.status >= 200 && rs.status < 300) {
        fprintf(stderr, "fuzz_api: %s %s answered %d without the session it needs\n", r->method, r->path, rs.status);
        abort();
    }
    if (trace)
        fprintf(stderr, "fuzz_api: %s %s session %d: %d %.*s\n", r->method, r->path, flags & 7, rs.status,
                (int)(rs.body_len < 200 ? rs.body_len : 200), rs.body ? rs.body : "");
    tv_api_resp_free(&rs);
    return 0;
}
