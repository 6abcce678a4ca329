/* The signaling hub driven directly (sans-I/O), on a real database with two clinicians and their
 * visits: the waiting room and the clinician's decisions, what a patient may not do, the relay
 * confined to one visit, resume tokens that rotate, chat on disk before it is acknowledged (and
 * neither relayed nor acknowledged when it cannot be stored), and bad frames that cost an error, not
 * the connection. tests/server/signaling.test.mjs runs the same protocol over real WebSockets. */
#include "tv_server_test.h"

#include <cjson/cJSON.h>
#include "tv_api.h"
#include "tv_base32.h"
#include "tv_hub.h"
#include "tv_store.h"
#include "tv_totp.h"

static const int64_t T0 = 1800000000000LL;
static const char *PW = "Correct-Horse-Battery-9";

static tv_config cfg;
static tv_api api;
static tv_store st;
static tv_hub hub;
static char sess_a[TV_TOKEN_STRBYTES], sess_b[TV_TOKEN_STRBYTES];
static char visit_a[32], invite_a[TV_TOKEN_STRBYTES], visit_b[32], invite_b[TV_TOKEN_STRBYTES];
static int64_t now;

/* ---- the WebSocket layer, played by the test: every frame a connection is sent, parsed ---- */

#define FRAMES 64
typedef struct conn {
    tv_hub_conn hc;
    cJSON *frames[FRAMES];
    int n;
    int closed;
    /* chat rows in the database at the moment this connection was sent a chat_ack or a chat */
    int64_t chat_rows_at_ack, chat_rows_at_chat;
} conn;

static int io_send(void *ctx, tv_hub_conn *c, const char *frame, size_t len)
{
    (void)ctx;
    conn *k = c->user;
    cJSON *o = cJSON_ParseWithLength(frame, len);
    assert_non_null(o);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(o, "type"));
    if (strcmp(type, "chat_ack") == 0)
        k->chat_rows_at_ack = tv_test_int64(st.db, "SELECT count(*) FROM chat");
    if (strcmp(type, "chat") == 0)
        k->chat_rows_at_chat = tv_test_int64(st.db, "SELECT count(*) FROM chat");
    assert_true(k->n < FRAMES);
    k->frames[k->n++] = o;
    return 0;
}

static void io_close(void *ctx, tv_hub_conn *c)
{
    (void)ctx;
    ((conn *)c->user)->closed = 1;
}

/* Every connection of the running test, so teardown frees what a failed test left. */
static conn *opened[16];
static int n_opened;

static void open_conn(conn *k, const char *session)
{
    memset(k, 0, sizeof *k);
    assert_true(n_opened < 16);
    opened[n_opened++] = k;
    k->hc.user = k;
    tv_hub_connect(&hub, &k->hc, "192.0.2.1", session, now);
}

/* The layer reports the close back, as the real one does once the socket is gone. */
static void drop_conn(conn *k)
{
    tv_hub_disconnect(&hub, &k->hc, now);
    for (int i = 0; i < k->n; i++)
        cJSON_Delete(k->frames[i]);
    k->n = 0;
}

static void sendf(conn *k, const char *fmt, ...)
{
    char frame[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(frame, sizeof frame, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof frame);
    tv_hub_message(&hub, &k->hc, frame, (size_t)n, now++);
}

static int count(conn *k, const char *type)
{
    int c = 0;
    for (int i = 0; i < k->n; i++)
        c += strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(k->frames[i], "type")), type) == 0;
    return c;
}

/* The first pending frame of this type, taken off the list (the caller frees it); it must be there. */
static cJSON *take(conn *k, const char *type)
{
    for (int i = 0; i < k->n; i++)
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(k->frames[i], "type")), type) == 0) {
            cJSON *o = k->frames[i];
            memmove(&k->frames[i], &k->frames[i + 1], (size_t)(k->n - i - 1) * sizeof k->frames[0]);
            k->n--;
            return o;
        }
    fail_msg("no %s frame", type);
    return NULL;
}

static void forget(conn *k)
{
    for (int i = 0; i < k->n; i++)
        cJSON_Delete(k->frames[i]);
    k->n = 0;
}

static const char *str(cJSON *o, const char *name)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(o, name));
    return v ? v : "";
}

/* The next error's code (and its ref, if wanted). */
static void expect_error(conn *k, const char *code, const char *ref)
{
    cJSON *e = take(k, "error");
    if (strcmp(str(e, "code"), code) != 0)
        fail_msg("error %s, not %s (%s)", str(e, "code"), code, str(e, "message"));
    if (ref)
        assert_string_equal(str(e, "ref"), ref);
    cJSON_Delete(e);
}

typedef struct joined { char you[32], resume[TV_TOKEN_STRBYTES], state[16]; } joined;

static joined join_patient(conn *k, const char *invite, const char *name, const char *resume)
{
    char res[80] = "";
    if (resume)
        snprintf(res, sizeof res, ",\"resume\":\"%s\"", resume);
    sendf(k, "{\"type\":\"join\",\"role\":\"patient\",\"invite\":\"%s\",\"name\":\"%s\"%s}", invite, name, res);
    cJSON *j = take(k, "joined");
    joined r;
    snprintf(r.you, sizeof r.you, "%s", str(j, "you"));
    snprintf(r.resume, sizeof r.resume, "%s", str(j, "resume"));
    snprintf(r.state, sizeof r.state, "%s", str(j, "state"));
    cJSON_Delete(j);
    return r;
}

static joined join_clinician(conn *k, const char *visit)
{
    sendf(k, "{\"type\":\"join\",\"role\":\"clinician\",\"visit\":\"%s\"}", visit);
    cJSON *j = take(k, "joined");
    joined r;
    snprintf(r.you, sizeof r.you, "%s", str(j, "you"));
    snprintf(r.resume, sizeof r.resume, "%s", str(j, "resume"));
    snprintf(r.state, sizeof r.state, "%s", str(j, "state"));
    assert_string_equal(r.state, "admitted");
    cJSON_Delete(j);
    return r;
}

/* A clinician in its visit and a patient it admitted: the start of every in-call test. */
static joined admitted_pair(conn *c, const char *session, const char *visit, conn *p, const char *invite,
                            const char *name)
{
    open_conn(c, session);
    join_clinician(c, visit);
    open_conn(p, NULL);
    joined pj = join_patient(p, invite, name, NULL);
    sendf(c, "{\"type\":\"admit\",\"participant\":\"%s\"}", pj.you);
    return pj;
}

/* ---- setup: two clinicians, a visit each ---- */

static void api_call(const char *method, const char *path, const char *body, const char *session, tv_api_resp *rs)
{
    tv_api_req rq = { method, path, NULL, session, "192.0.2.1", "localhost", NULL, "application/json", body,
                      body ? strlen(body) : 0, T0, 0, NULL, 0, 0, NULL };
    assert_int_equal(tv_api_handle(&api, &st, &rq, rs), 0);
    assert_true(rs->status < 300);
}

/* GET path with this session at a time: the status */
static int api_status(const char *path, const char *session, int64_t at)
{
    tv_api_resp rs;
    tv_api_req rq = { "GET", path, NULL, session, "192.0.2.1", "localhost", NULL, NULL, NULL, 0, at, 0, NULL, 0, 0, NULL };
    assert_int_equal(tv_api_handle(&api, &st, &rq, &rs), 0);
    int status = rs.status;
    tv_api_resp_free(&rs);
    return status;
}

static void clinician(const char *email, char session[TV_TOKEN_STRBYTES], char visit[32], char invite[TV_TOKEN_STRBYTES])
{
    char err[256], body[200];
    tv_api_resp rs;
    assert_int_equal(tv_api_user_add(&api, &st, email, PW, 0, T0, err, sizeof err), 0);
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, PW);
    api_call("POST", "/api/login", body, NULL, &rs);
    const char *c = strstr(rs.set_cookie, TV_API_COOKIE "=");
    assert_non_null(c);
    assert_int_equal(tv_api_cookie_token(c, session, TV_TOKEN_STRBYTES), 0);
    tv_api_resp_free(&rs);
    api_call("POST", "/api/visits", "{}", session, &rs);
    cJSON *o = cJSON_ParseWithLength(rs.body, rs.body_len);
    snprintf(visit, 32, "%s", str(o, "id"));
    snprintf(invite, TV_TOKEN_STRBYTES, "%s", strstr(str(o, "link"), "/v/") + 3);
    cJSON_Delete(o);
    tv_api_resp_free(&rs);
}

static int setup(void **state)
{
    (void)state;
    if (tv_test_dir_make("hub") != 0)
        return -1;
    tv_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", tv_test_dir);
    cfg.pwhash_mem_mib = 19;
    char db[128], key[128], err[256];
    snprintf(db, sizeof db, "%s/t.db", tv_test_dir);
    snprintf(key, sizeof key, "%s/master.key", tv_test_dir);
    if (tv_store_open(&st, db, key, err, sizeof err) != 0 || tv_api_init(&api, &cfg) != 0)
        return -1;
    clinician("a@example.org", sess_a, visit_a, invite_a);
    clinician("b@example.org", sess_b, visit_b, invite_b);
    now = T0 + 1000;
    return tv_hub_init(&hub, &cfg, &api, &st, (tv_hub_io){ NULL, io_send, io_close });
}

static void forget(conn *k);

static int teardown(void **state)
{
    for (int i = 0; i < n_opened; i++)
        forget(opened[i]);
    n_opened = 0;
    tv_hub_free(&hub);
    tv_api_free(&api);
    tv_store_close(&st);
    return tv_test_dir_remove(state);
}

static int64_t audit_count(const char *type)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM audit WHERE type = '%s'", type);
    return tv_test_int64(st.db, sql);
}

/* ---- the tests ---- */

/* The clinician learns of each patient in the waiting room; a waiting patient reaches nobody; admit
 * lets one in, deny sends one away; an admitted patient can neither admit another nor end the visit. */
static void waiting_room_admit_deny(void **state)
{
    (void)state;
    static conn c, p, p2, p3;
    open_conn(&c, sess_a);
    joined cj = join_clinician(&c, visit_a);
    cJSON_Delete(take(&c, "waiting_room"));   /* empty at first */
    open_conn(&p, NULL);
    joined pj = join_patient(&p, invite_a, "Alice Martin", NULL);
    assert_string_equal(pj.state, "waiting");
    cJSON *wr = take(&c, "waiting_room");
    cJSON *pts = cJSON_GetObjectItem(wr, "patients");
    assert_int_equal(cJSON_GetArraySize(pts), 1);
    assert_string_equal(str(cJSON_GetArrayItem(pts, 0), "id"), pj.you);
    assert_string_equal(str(cJSON_GetArrayItem(pts, 0), "name"), "Alice Martin");
    cJSON_Delete(wr);
    assert_int_equal(audit_count("session_requested"), 2);

    /* waiting: not admitted, nothing reaches the clinician; the patient cannot admit itself */
    sendf(&p, "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\",\"id\":\"o1\"}");
    expect_error(&p, "not_admitted", "o1");
    sendf(&p, "{\"type\":\"admit\",\"participant\":\"%s\"}", pj.you);
    expect_error(&p, "not_admitted", NULL);
    assert_int_equal(count(&c, "offer"), 0);
    assert_int_equal(count(&p, "admitted"), 0);

    sendf(&c, "{\"type\":\"admit\",\"participant\":\"%s\"}", pj.you);
    cJSON_Delete(take(&p, "admitted"));
    cJSON *pjn = take(&p, "peer_joined");
    assert_string_equal(str(pjn, "id"), cj.you);
    cJSON_Delete(pjn);
    pjn = take(&c, "peer_joined");
    assert_string_equal(str(pjn, "id"), pj.you);
    assert_string_equal(str(pjn, "name"), "Alice Martin");
    cJSON_Delete(pjn);
    wr = take(&c, "waiting_room");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(wr, "patients")), 0);
    cJSON_Delete(wr);
    assert_int_equal(audit_count("session_accepted"), 1);

    /* a second patient waits; the admitted one tries to let it in, and to end the visit */
    open_conn(&p2, NULL);
    joined p2j = join_patient(&p2, invite_a, "Mallory", NULL);
    forget(&c);
    /* the call goes on without the waiting one hearing any of it */
    sendf(&c, "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\"}");
    sendf(&c, "{\"type\":\"chat\",\"cid\":\"c1\",\"text\":\"for the admitted\"}");
    cJSON_Delete(take(&p, "offer"));
    cJSON_Delete(take(&p, "chat"));
    assert_int_equal(p2.n, 0);
    forget(&c);
    sendf(&p, "{\"type\":\"admit\",\"participant\":\"%s\",\"id\":\"x1\"}", p2j.you);
    expect_error(&p, "forbidden", "x1");
    sendf(&p, "{\"type\":\"deny\",\"participant\":\"%s\"}", p2j.you);
    expect_error(&p, "forbidden", NULL);
    sendf(&p, "{\"type\":\"end\",\"id\":\"e1\"}");
    expect_error(&p, "forbidden", "e1");
    assert_int_equal(count(&p2, "admitted") + count(&p2, "denied") + count(&p2, "peer_joined"), 0);
    assert_int_equal(count(&c, "ended") + count(&p, "ended"), 0);
    assert_false(p.closed || p2.closed || c.closed);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM visits WHERE state = 'open'"), 2);
    assert_int_equal(audit_count("session_accepted"), 1);

    /* the clinician denies the second one: told why, sent away, gone from the waiting room */
    sendf(&c, "{\"type\":\"deny\",\"participant\":\"%s\",\"reason\":\"Not expected\"}", p2j.you);
    cJSON *d = take(&p2, "denied");
    assert_string_equal(str(d, "reason"), "Not expected");
    cJSON_Delete(d);
    assert_true(p2.closed);
    wr = take(&c, "waiting_room");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(wr, "patients")), 0);
    cJSON_Delete(wr);
    assert_int_equal(count(&p, "peer_joined"), 0);   /* a waiting patient was never announced to the call */
    /* admitting someone who is not waiting (the denied one, the clinician itself) */
    sendf(&c, "{\"type\":\"admit\",\"participant\":\"%s\"}", p2j.you);
    expect_error(&c, "not_found", NULL);
    sendf(&c, "{\"type\":\"admit\",\"participant\":\"%s\"}", cj.you);
    expect_error(&c, "not_found", NULL);
    assert_int_equal(audit_count("session_denied"), 1);
    drop_conn(&p2);

    /* a patient who arrives while the clinician is in the call is announced to the clinician only */
    open_conn(&p3, NULL);
    joined p3j = join_patient(&p3, invite_a, "Bob", NULL);
    wr = take(&c, "waiting_room");
    assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItem(wr, "patients"), 0), "id"), p3j.you);
    cJSON_Delete(wr);
    assert_int_equal(count(&p, "waiting_room"), 0);

    /* the clinician ends it: everyone is told and closed, the visit is ended in the database */
    sendf(&c, "{\"type\":\"end\"}");
    for (conn *k = &c; k; k = k == &c ? &p : k == &p ? &p3 : NULL) {
        cJSON *e = take(k, "ended");
        assert_string_equal(str(e, "reason"), "clinician_ended");
        cJSON_Delete(e);
        assert_true(k->closed);
    }
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM visits WHERE state = 'ended'"), 1);
    assert_int_equal(hub.participant_count, 0);
    drop_conn(&c);
    drop_conn(&p);
    drop_conn(&p3);
    assert_int_equal(hub.room_count, 0);
}

/* Two visits in progress at once. Nothing from one reaches the other: not a broadcast, not a message
 * addressed to the other visit's participant, not chat; and B's clinician cannot join A's visit. */
static void relay_stays_in_one_visit(void **state)
{
    (void)state;
    static conn ca, pa, cb, pb;
    joined paj = admitted_pair(&ca, sess_a, visit_a, &pa, invite_a, "Alice");
    open_conn(&cb, sess_b);
    joined cbj = join_clinician(&cb, visit_b);
    open_conn(&pb, NULL);
    joined pbj = join_patient(&pb, invite_b, "Bea", NULL);
    sendf(&cb, "{\"type\":\"admit\",\"participant\":\"%s\"}", pbj.you);
    conn *all[] = { &ca, &pa, &cb, &pb };
    for (int i = 0; i < 4; i++)
        forget(all[i]);

    /* a broadcast in A reaches A's clinician only */
    sendf(&pa, "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\nA\\r\\n\"}");
    cJSON *o = take(&ca, "offer");
    assert_string_equal(str(o, "from"), paj.you);
    assert_string_equal(str(o, "sdp"), "v=0\r\nA\r\n");
    cJSON_Delete(o);
    /* addressed to B's patient or B's clinician: nobody in this call has that id */
    sendf(&pa, "{\"type\":\"offer\",\"to\":\"%s\",\"sdp\":\"v=0\\r\\n\",\"id\":\"r1\"}", pbj.you);
    expect_error(&pa, "not_found", "r1");
    sendf(&ca, "{\"type\":\"answer\",\"to\":\"%s\",\"sdp\":\"v=0\\r\\n\"}", cbj.you);
    expect_error(&ca, "not_found", NULL);
    sendf(&ca, "{\"type\":\"chat\",\"cid\":\"c1\",\"text\":\"only for A\"}");
    cJSON_Delete(take(&pa, "chat"));
    cJSON_Delete(take(&ca, "chat_ack"));
    for (int i = 2; i < 4; i++)
        if (all[i]->n != 0)
            fail_msg("visit B was sent %d frame(s) from visit A", all[i]->n);
    /* and the other way */
    sendf(&pb, "{\"type\":\"answer\",\"sdp\":\"v=0\\r\\nB\\r\\n\"}");
    cJSON_Delete(take(&cb, "answer"));
    assert_int_equal(ca.n + pa.n, 0);

    /* B's clinician, signed in, cannot enter A's visit: it looks like no visit at all */
    static conn intruder;
    open_conn(&intruder, sess_b);
    sendf(&intruder, "{\"type\":\"join\",\"role\":\"clinician\",\"visit\":\"%s\",\"id\":\"j1\"}", visit_a);
    expect_error(&intruder, "not_found", "j1");
    assert_true(intruder.closed);
    /* nor can anyone without a valid session */
    static conn anon;
    open_conn(&anon, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    sendf(&anon, "{\"type\":\"join\",\"role\":\"clinician\",\"visit\":\"%s\"}", visit_a);
    expect_error(&anon, "unauthorized", NULL);
    assert_int_equal(ca.n + pa.n, 0);
    conn *more[] = { &ca, &pa, &cb, &pb, &intruder, &anon };
    for (int i = 0; i < 6; i++)
        drop_conn(more[i]);
}

/* A dropped patient comes back with its resume token to its place, without a second admission; the
 * token is replaced each time, so the old one (say, read off the first device) opens nothing: it
 * gets a fresh place in the waiting room. A token from one visit does not resume in another. */
static void resume_token_rotates(void **state)
{
    (void)state;
    static conn c, p, back, replay, other;
    joined pj = admitted_pair(&c, sess_a, visit_a, &p, invite_a, "Alice");
    forget(&c);
    drop_conn(&p);   /* the network goes */
    cJSON *left = take(&c, "peer_left");
    assert_string_equal(str(left, "id"), pj.you);
    assert_string_equal(str(left, "reason"), "disconnected");
    cJSON_Delete(left);

    open_conn(&back, NULL);
    joined bj = join_patient(&back, invite_a, "Alice", pj.resume);
    assert_string_equal(bj.you, pj.you);
    assert_string_equal(bj.state, "admitted");
    assert_string_not_equal(bj.resume, pj.resume);
    cJSON_Delete(take(&c, "peer_joined"));
    assert_int_equal(audit_count("session_accepted"), 1);   /* no second admission */

    /* the spent token: a new participant, waiting */
    open_conn(&replay, NULL);
    joined rj = join_patient(&replay, invite_a, "Mallory", pj.resume);
    assert_string_not_equal(rj.you, pj.you);
    assert_string_equal(rj.state, "waiting");
    assert_false(back.closed);   /* and the resumed connection was not displaced */
    assert_int_equal(count(&back, "ended"), 0);

    /* the current token in visit B: not a member there */
    open_conn(&other, NULL);
    joined oj = join_patient(&other, invite_b, "Alice", bj.resume);
    assert_string_not_equal(oj.you, pj.you);
    assert_string_equal(oj.state, "waiting");

    /* the current token from a second connection: it takes the place over, the first one is ended
     * with "replaced" (one device at a time) */
    static conn again;
    open_conn(&again, NULL);
    joined aj = join_patient(&again, invite_a, "Alice", bj.resume);
    assert_string_equal(aj.you, pj.you);
    cJSON *e = take(&back, "ended");
    assert_string_equal(str(e, "reason"), "replaced");
    cJSON_Delete(e);
    assert_true(back.closed);

    /* after the resume window a token opens nothing */
    drop_conn(&again);
    now += TV_HUB_RESUME_MS + 1;
    tv_hub_tick(&hub, now);
    static conn late;
    open_conn(&late, NULL);
    joined lj = join_patient(&late, invite_a, "Alice", aj.resume);
    assert_string_not_equal(lj.you, pj.you);
    assert_string_equal(lj.state, "waiting");
    conn *all[] = { &c, &back, &replay, &other, &late };
    for (int i = 0; i < 5; i++)
        drop_conn(all[i]);
}

/* A chat message is in the database, sealed, before the sender's chat_ack and before the peer gets
 * it; one that cannot be stored is neither acknowledged nor relayed. */
static void chat_stored_before_ack(void **state)
{
    (void)state;
    static conn c, p;
    admitted_pair(&c, sess_a, visit_a, &p, invite_a, "Alice");
    forget(&c);
    forget(&p);
    c.chat_rows_at_ack = p.chat_rows_at_chat = -1;
    sendf(&c, "{\"type\":\"chat\",\"cid\":\"m1\",\"text\":\"Bonjour, pouvez-vous me voir ?\"}");
    cJSON *ack = take(&c, "chat_ack");
    assert_string_equal(str(ack, "cid"), "m1");
    cJSON *got = take(&p, "chat");
    assert_string_equal(str(got, "text"), "Bonjour, pouvez-vous me voir ?");
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(got, "ts")) == cJSON_GetNumberValue(cJSON_GetObjectItem(ack, "ts")));
    cJSON_Delete(ack);
    cJSON_Delete(got);
    assert_int_equal(c.chat_rows_at_ack, 1);
    assert_int_equal(p.chat_rows_at_chat, 1);
    /* sealed: the text is not in the row */
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM chat WHERE instr(body, 'Bonjour') > 0"), 0);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM chat WHERE length(body) > 30"), 1);

    /* the database refuses the write: an error to the sender, nothing to anyone else */
    assert_int_equal(sqlite3_exec(st.db, "CREATE TRIGGER no_chat BEFORE INSERT ON chat BEGIN SELECT RAISE(ABORT, 'full'); END",
                                  NULL, NULL, NULL), SQLITE_OK);
    sendf(&p, "{\"type\":\"chat\",\"cid\":\"m2\",\"text\":\"lost?\",\"id\":\"q2\"}");
    expect_error(&p, "storage_failed", "q2");
    assert_int_equal(count(&p, "chat_ack"), 0);
    assert_int_equal(count(&c, "chat"), 0);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM chat"), 1);
    sqlite3_exec(st.db, "DROP TRIGGER no_chat", NULL, NULL, NULL);
    drop_conn(&c);
    drop_conn(&p);
}

/* Every lobby frame a connection holds goes; the newest is returned (the caller frees it). */
static cJSON *newest(conn *k, const char *type)
{
    cJSON *last = take(k, type);
    while (count(k, type) > 0) {
        cJSON_Delete(last);
        last = take(k, type);
    }
    return last;
}

static int lobby_size(cJSON *l, int64_t *total)
{
    *total = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(l, "total"));
    return cJSON_GetArraySize(cJSON_GetObjectItem(l, "patients"));
}

/* A clinician's dashboard watches the waiting rooms of all its visits and of nobody else's: the
 * lobby lists each connected waiting patient with its visit, oldest first, and follows arrivals,
 * departures, admissions and the end of a visit. The dashboard can deny its own patients, not
 * another clinician's; it cannot admit (that is joining the call). A page without a session cannot
 * watch, and a watching dashboard whose session ends is closed. */
static void lobby_follows_own_waiting_rooms(void **state)
{
    (void)state;
    static conn wa, wb, pa, pa2, pb, ca, anon;
    int64_t total;
    open_conn(&wa, sess_a);
    sendf(&wa, "{\"type\":\"watch\",\"id\":\"w\"}");
    cJSON *l = take(&wa, "lobby");
    assert_int_equal(lobby_size(l, &total), 0);
    assert_int_equal(total, 0);
    cJSON_Delete(l);

    /* A's patient arrives: A's dashboard learns who and for which visit */
    open_conn(&pa, NULL);
    joined ja = join_patient(&pa, invite_a, "Ana", NULL);
    l = newest(&wa, "lobby");
    assert_int_equal(lobby_size(l, &total), 1);
    cJSON *it = cJSON_GetArrayItem(cJSON_GetObjectItem(l, "patients"), 0);
    assert_string_equal(str(it, "visit"), visit_a);
    assert_string_equal(str(it, "id"), ja.you);
    assert_string_equal(str(it, "name"), "Ana");
    cJSON_Delete(l);

    /* B's patient: B's dashboard sees it, A's hears nothing and cannot send it away */
    open_conn(&wb, sess_b);
    sendf(&wb, "{\"type\":\"watch\"}");
    cJSON_Delete(take(&wb, "lobby"));
    open_conn(&pb, NULL);
    joined jb = join_patient(&pb, invite_b, "Bob", NULL);
    l = newest(&wb, "lobby");
    assert_int_equal(lobby_size(l, &total), 1);
    assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItem(l, "patients"), 0), "name"), "Bob");
    cJSON_Delete(l);
    assert_int_equal(count(&wa, "lobby"), 0);
    sendf(&wa, "{\"type\":\"deny\",\"participant\":\"%s\",\"id\":\"d1\"}", jb.you);
    expect_error(&wa, "not_found", "d1");
    assert_false(pb.closed);
    assert_int_equal(count(&pb, "denied"), 0);
    assert_int_equal(audit_count("session_denied"), 0);

    /* a dashboard does not admit; it does not relay either */
    sendf(&wa, "{\"type\":\"admit\",\"participant\":\"%s\",\"id\":\"a1\"}", ja.you);
    expect_error(&wa, "forbidden", "a1");
    sendf(&wa, "{\"type\":\"chat\",\"cid\":\"c\",\"text\":\"hello\"}");
    expect_error(&wa, "not_admitted", NULL);
    assert_int_equal(count(&pa, "admitted") + count(&pa, "chat"), 0);
    /* one connection, one use */
    sendf(&wa, "{\"type\":\"join\",\"role\":\"clinician\",\"visit\":\"%s\"}", visit_a);
    expect_error(&wa, "conflict", NULL);
    sendf(&wa, "{\"type\":\"watch\"}");
    expect_error(&wa, "conflict", NULL);

    /* a second patient of A, later: listed after the first; then the first leaves */
    now += 5000;
    open_conn(&pa2, NULL);
    joined ja2 = join_patient(&pa2, invite_a, "Chloé", NULL);
    l = newest(&wa, "lobby");
    assert_int_equal(lobby_size(l, &total), 2);
    assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItem(l, "patients"), 0), "id"), ja.you);
    assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItem(l, "patients"), 1), "id"), ja2.you);
    cJSON_Delete(l);
    sendf(&pa, "{\"type\":\"leave\"}");
    l = newest(&wa, "lobby");
    assert_int_equal(lobby_size(l, &total), 1);
    assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItem(l, "patients"), 0), "id"), ja2.you);
    cJSON_Delete(l);
    drop_conn(&pa);

    /* the dashboard denies the second: told, sent away, audited as the clinician's act */
    sendf(&wa, "{\"type\":\"deny\",\"participant\":\"%s\",\"reason\":\"Please call the desk\"}", ja2.you);
    cJSON *d = take(&pa2, "denied");
    assert_string_equal(str(d, "reason"), "Please call the desk");
    cJSON_Delete(d);
    assert_true(pa2.closed);
    l = newest(&wa, "lobby");
    assert_int_equal(lobby_size(l, &total), 0);
    cJSON_Delete(l);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM audit WHERE type = 'session_denied' AND requester LIKE 'user:%'"
                                          " AND extra LIKE '%dashboard%'"), 1);
    drop_conn(&pa2);

    /* a patient waiting for a visit the clinician has open: admitted there, gone from the lobby */
    open_conn(&pa, NULL);
    ja = join_patient(&pa, invite_a, "Ana", NULL);
    open_conn(&ca, sess_a);
    join_clinician(&ca, visit_a);
    forget(&wa);
    sendf(&ca, "{\"type\":\"admit\",\"participant\":\"%s\"}", ja.you);
    l = newest(&wa, "lobby");
    assert_int_equal(lobby_size(l, &total), 0);
    cJSON_Delete(l);

    /* the call ends (a call keeps A's session alive: not what the checks below are about) */
    drop_conn(&ca);
    drop_conn(&pa);

    /* B's patient loses its connection: off B's list (it may come back with its resume token) */
    drop_conn(&pb);
    l = newest(&wb, "lobby");
    assert_int_equal(lobby_size(l, &total), 0);
    cJSON_Delete(l);

    /* a page without a session cannot watch */
    open_conn(&anon, NULL);
    sendf(&anon, "{\"type\":\"watch\"}");
    expect_error(&anon, "unauthorized", NULL);
    assert_true(anon.closed);

    /* watching is not activity: the session's clock does not move, at watch or at the checks */
    int64_t last = tv_test_int64(st.db, "SELECT max(last_ms) FROM sessions");
    tv_hub_tick(&hub, now);
    now += TV_HUB_WATCH_CHECK_MS;
    tv_hub_tick(&hub, now);
    assert_int_equal(tv_test_int64(st.db, "SELECT max(last_ms) FROM sessions"), last);
    assert_false(wa.closed || wb.closed);

    /* A signs out: its dashboard is closed at the next check (not before it), B's stays */
    tv_api_resp rs;
    api_call("POST", "/api/logout", NULL, sess_a, &rs);
    tv_api_resp_free(&rs);
    now += TV_HUB_WATCH_CHECK_MS / 2;
    tv_hub_tick(&hub, now);
    assert_false(wa.closed);
    now += TV_HUB_WATCH_CHECK_MS / 2;
    tv_hub_tick(&hub, now);
    expect_error(&wa, "unauthorized", NULL);
    assert_true(wa.closed);
    assert_false(wb.closed);
    drop_conn(&wa);
    drop_conn(&wb);
    drop_conn(&anon);
}

/* Only a connected call keeps a clinician's session alive from signaling: the hub's checks refresh
 * the session of a clinician with an admitted patient connected, so a call longer than the idle
 * timeout does not end with the console signed out. A dashboard that only watches does not keep its
 * session alive; nor does a visit open with nobody in the call, which is closed once its session
 * has ended, nor the page coming back to a visit by itself (a join with its resume token). */
static void only_a_connected_call_keeps_a_session(void **state)
{
    (void)state;
    static conn c, p, wb, cb, cb2;
    const int64_t idle = (int64_t)cfg.session_idle_min * 60000;
    admitted_pair(&c, sess_a, visit_a, &p, invite_a, "Ana");
    open_conn(&wb, sess_b);
    sendf(&wb, "{\"type\":\"watch\"}");
    cJSON_Delete(take(&wb, "lobby"));
    const int64_t start = now;
    for (; now < start + 2 * idle; now += TV_HUB_WATCH_CHECK_MS)
        tv_hub_tick(&hub, now);
    tv_hub_tick(&hub, now);
    /* A, in the call twice the idle timeout: still signed in, and the call goes on */
    assert_false(c.closed || p.closed);
    assert_int_equal(count(&c, "error"), 0);
    assert_int_equal(api_status("/api/me", sess_a, now), 200);
    /* B only watched: its session ended, and its dashboard was closed */
    expect_error(&wb, "unauthorized", NULL);
    assert_true(wb.closed);
    assert_int_equal(api_status("/api/me", sess_b, now), 401);

    /* the patient leaves: A's visit, open with nobody in the call, no longer keeps the session */
    sendf(&p, "{\"type\":\"leave\"}");
    const int64_t left = now;
    for (now += TV_HUB_WATCH_CHECK_MS; now <= left + idle + TV_HUB_WATCH_CHECK_MS; now += TV_HUB_WATCH_CHECK_MS)
        tv_hub_tick(&hub, now);
    expect_error(&c, "unauthorized", NULL);
    assert_true(c.closed);
    assert_int_equal(api_status("/api/me", sess_a, now), 401);

    /* a clinician coming back with its resume token is the page reconnecting, not the clinician */
    char body[200], sess[TV_TOKEN_STRBYTES];
    tv_api_resp rs;
    snprintf(body, sizeof body, "{\"email\":\"b@example.org\",\"password\":\"%s\"}", PW);
    tv_api_req rq = { "POST", "/api/login", NULL, NULL, "192.0.2.1", "localhost", NULL, "application/json", body,
                      strlen(body), now, 0, NULL, 0, 0, NULL };
    assert_int_equal(tv_api_handle(&api, &st, &rq, &rs), 0);
    assert_int_equal(rs.status, 200);
    assert_int_equal(tv_api_cookie_token(strstr(rs.set_cookie, TV_API_COOKIE "="), sess, sizeof sess), 0);
    tv_api_resp_free(&rs);
    const int64_t signed_in = now;
    open_conn(&cb, sess);
    joined bj = join_clinician(&cb, visit_b);   /* opening the visit: the clinician's act */
    drop_conn(&cb);
    now += TV_HUB_RESUME_MS / 2;
    open_conn(&cb2, sess);
    sendf(&cb2, "{\"type\":\"join\",\"role\":\"clinician\",\"visit\":\"%s\",\"resume\":\"%s\"}", visit_b, bj.resume);
    cJSON *j = take(&cb2, "joined");
    assert_string_equal(str(j, "you"), bj.you);   /* the same place, resumed */
    cJSON_Delete(j);
    assert_int_equal(api_status("/api/me", sess, signed_in + idle + 1000), 401);
    drop_conn(&c);
    drop_conn(&p);
    drop_conn(&wb);
    drop_conn(&cb2);
}

/* Sharing a screen is the call's document sharing: audited when the call's first share starts, not
 * for every media_state, nor for each toggle (each record is a synced write on the event loop). */
static void screen_share_audited_once_per_share(void **state)
{
    (void)state;
    static conn c, p;
    admitted_pair(&c, sess_a, visit_a, &p, invite_a, "Ana");
    const char *on = "{\"type\":\"media_state\",\"audio\":true,\"video\":true,\"screen\":true}";
    const char *off = "{\"type\":\"media_state\",\"audio\":true,\"video\":true,\"screen\":false}";
    sendf(&c, "%s", off);
    assert_int_equal(audit_count("document_shared"), 0);
    sendf(&c, "%s", on);
    sendf(&c, "%s", on);
    assert_int_equal(audit_count("document_shared"), 1);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM audit WHERE type = 'document_shared' AND requester LIKE 'user:%'"
                                          " AND extra = '{\"kind\":\"screen\"}'"), 1);
    cJSON *ms = newest(&p, "media_state");   /* still relayed */
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(ms, "screen")));
    cJSON_Delete(ms);
    sendf(&c, "%s", off);
    sendf(&c, "%s", on);
    assert_int_equal(audit_count("document_shared"), 1);
    drop_conn(&c);
    drop_conn(&p);
}

/* Bad frames: each gets its error, and the connection goes on (still open, still joined, still relaying). */
static void malformed_frames_cost_an_error(void **state)
{
    (void)state;
    static conn c, p;
    admitted_pair(&c, sess_a, visit_a, &p, invite_a, "Alice");
    forget(&c);
    forget(&p);
    static const struct { const char *frame, *code; } cases[] = {
        { "{\"type\":", "msg_malformed_json" },
        { "[]", "msg_not_object" },
        { "{\"type\":\"nope\"}", "msg_unknown_type" },
        { "{\"type\":\"joined\"}", "msg_wrong_direction" },
        { "{\"type\":\"ping\",\"ts\":1,\"ts\":2}", "msg_duplicate_field" },
        { "{\"type\":\"offer\",\"sdp\":\"v=0\",\"evil\":1}", "msg_unknown_field" },
        { "{\"type\":\"chat\",\"cid\":\"a\",\"text\":\"\\u202eevil\"}", "msg_field_value" },
        { "{\"type\":\"chat\",\"cid\":\"a\",\"text\":\"\xc0\xaf\"}", "bad_utf8" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tv_hub_message(&hub, &p.hc, cases[i].frame, strlen(cases[i].frame), now++);
        cJSON *e = take(&p, "error");
        if (strcmp(str(e, "code"), cases[i].code) != 0)
            fail_msg("%s: %s, not %s", cases[i].frame, str(e, "code"), cases[i].code);
        cJSON_Delete(e);
        assert_int_equal(p.n, 0);
    }
    /* what the WebSocket layer refused before parsing */
    tv_hub_refused(&hub, &p.hc, TV_ERR_MSG_TOO_LARGE);
    expect_error(&p, "msg_too_large", NULL);
    /* nothing of it was relayed or stored; the connection is open and in the call */
    assert_int_equal(c.n, 0);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM chat"), 0);
    assert_false(p.closed);
    sendf(&p, "{\"type\":\"ping\",\"ts\":42}");
    cJSON *pong = take(&p, "pong");
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(pong, "ts")) == 42);
    cJSON_Delete(pong);
    sendf(&p, "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\"}");
    cJSON_Delete(take(&c, "offer"));
    /* an unjoined connection that only sends garbage stays open too, and can then join */
    static conn q;
    open_conn(&q, NULL);
    tv_hub_message(&hub, &q.hc, "\xff", 1, now++);
    expect_error(&q, "bad_utf8", NULL);
    sendf(&q, "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\"}");
    expect_error(&q, "not_admitted", NULL);   /* join first */
    assert_false(q.closed);
    joined qj = join_patient(&q, invite_a, "Q", NULL);
    assert_string_equal(qj.state, "waiting");
    drop_conn(&c);
    drop_conn(&p);
    drop_conn(&q);
}

static int64_t audited(const char *type, const char *requester, const char *room, const char *extra)
{
    return tv_test_audit_count(st.db, type, requester, room, extra);
}

/* session_aborted: a patient who goes before being admitted, by leaving the waiting room or by a
 * connection lost there and not resumed in time, ends a session that never started: one record
 * each, the lost one with its reason. A patient who goes after admission ends the call instead
 * (session_ended), never both. */
static void waiting_patient_gone_is_session_aborted(void **state)
{
    (void)state;
    static conn c, p1, p2, p3;
    char who[40];
    open_conn(&c, sess_a);
    join_clinician(&c, visit_a);
    assert_int_equal(audit_count("session_aborted"), 0);

    open_conn(&p1, NULL);
    joined j1 = join_patient(&p1, invite_a, "Ana", NULL);
    sendf(&p1, "{\"type\":\"leave\"}");
    assert_true(p1.closed);
    snprintf(who, sizeof who, "patient:%s", j1.you);
    assert_int_equal(audited("session_aborted", who, visit_a, ""), 1);
    assert_int_equal(audit_count("session_ended"), 0);
    drop_conn(&p1);

    open_conn(&p2, NULL);
    joined j2 = join_patient(&p2, invite_a, "Bob", NULL);
    drop_conn(&p2);   /* no leave: the network went */
    snprintf(who, sizeof who, "patient:%s", j2.you);
    tv_hub_tick(&hub, now + TV_HUB_RESUME_MS / 2);   /* it may still come back */
    assert_int_equal(audited("session_aborted", who, visit_a, "{\"reason\":\"disconnected\"}"), 0);
    now += TV_HUB_RESUME_MS + 1;
    tv_hub_tick(&hub, now);
    assert_int_equal(audited("session_aborted", who, visit_a, "{\"reason\":\"disconnected\"}"), 1);
    assert_int_equal(audit_count("session_aborted"), 2);

    /* admitted, then gone: the call ended, not aborted */
    open_conn(&p3, NULL);
    joined j3 = join_patient(&p3, invite_a, "Chloé", NULL);
    sendf(&c, "{\"type\":\"admit\",\"participant\":\"%s\"}", j3.you);
    sendf(&p3, "{\"type\":\"leave\"}");
    snprintf(who, sizeof who, "patient:%s", j3.you);
    assert_int_equal(audited("session_ended", who, visit_a, ""), 1);
    assert_int_equal(audit_count("session_aborted"), 2);
    drop_conn(&c);
    drop_conn(&p3);
}

/* chat_retention_days: 0 stores no chat at all (it is relayed and acknowledged all the same); N keeps
 * a message N days, after which the hub's periodic purge (tv_hub_tick, at most once a minute)
 * deletes it, and keeps the younger ones; once the setting is 0, what was kept before goes too. */
static void chat_retention(void **state)
{
    (void)state;
    static conn c, p;
    cfg.chat_retention_days = 0;
    admitted_pair(&c, sess_a, visit_a, &p, invite_a, "Ana");
    forget(&c);
    forget(&p);
    /* chat kept under a setting of N days goes at the next purge once the setting is 0 */
    cfg.chat_retention_days = 2;
    sendf(&c, "{\"type\":\"chat\",\"cid\":\"k\",\"text\":\"kept a while\"}");
    cJSON_Delete(take(&c, "chat_ack"));
    cJSON_Delete(take(&p, "chat"));
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM chat"), 1);
    cfg.chat_retention_days = 0;
    now += 60001;
    tv_hub_tick(&hub, now);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM chat"), 0);
    sendf(&c, "{\"type\":\"chat\",\"cid\":\"m0\",\"text\":\"not kept\"}");
    cJSON_Delete(take(&c, "chat_ack"));
    cJSON_Delete(take(&p, "chat"));
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM chat"), 0);

    cfg.chat_retention_days = 2;
    const int64_t day = 86400000;
    int64_t t1 = now;
    sendf(&c, "{\"type\":\"chat\",\"cid\":\"m1\",\"text\":\"day one\"}");
    now = t1 + day;
    int64_t t2 = now;
    sendf(&p, "{\"type\":\"chat\",\"cid\":\"m2\",\"text\":\"day two\"}");
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM chat"), 2);
    tv_hub_tick(&hub, now);   /* nothing is two days old yet */
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM chat"), 2);
    now = t1 + 2 * day + 60001;   /* the first is past two days, the second is not */
    tv_hub_tick(&hub, now);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM chat"), 1);
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT ts_ms FROM chat WHERE ts_ms = %lld", (long long)t2);
    assert_int_equal(tv_test_int64(st.db, sql), t2);
    now = t2 + 2 * day + 60001;
    tv_hub_tick(&hub, now);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM chat"), 0);
    drop_conn(&c);
    drop_conn(&p);
}

/* require_2fa: a clinician signed in without TOTP can neither join its visit nor watch its waiting
 * rooms (totp_required, and the connection closes) until TOTP is enrolled; then it can. A patient
 * needs no account and is not concerned. */
static void require_2fa_refuses_signaling_until_enrolled(void **state)
{
    (void)state;
    static conn c, w, p, c2, w2;
    cfg.require_2fa = 1;
    open_conn(&c, sess_a);
    sendf(&c, "{\"type\":\"join\",\"role\":\"clinician\",\"visit\":\"%s\",\"id\":\"j\"}", visit_a);
    expect_error(&c, "totp_required", "j");
    assert_true(c.closed);
    assert_int_equal(count(&c, "joined"), 0);
    open_conn(&w, sess_a);
    sendf(&w, "{\"type\":\"watch\"}");
    expect_error(&w, "totp_required", NULL);
    assert_true(w.closed);
    assert_int_equal(count(&w, "lobby"), 0);
    open_conn(&p, NULL);
    joined pj = join_patient(&p, invite_a, "Ana", NULL);
    assert_string_equal(pj.state, "waiting");
    assert_int_equal(audit_count("session_requested"), 1);   /* the patient's only */

    /* TOTP enrolled through the API, in the same session */
    tv_api_resp rs;
    api_call("POST", "/api/totp/enroll", "{\"password\":\"Correct-Horse-Battery-9\"}", sess_a, &rs);
    cJSON *o = cJSON_ParseWithLength(rs.body, rs.body_len);
    uint8_t key[64];
    size_t kl;
    const char *secret = str(o, "secret");
    assert_int_equal(tv_base32_decode(secret, strlen(secret), key, sizeof key, &kl), 0);
    cJSON_Delete(o);
    tv_api_resp_free(&rs);
    tv_totp_params tp;
    tv_totp_params_default(&tp);
    uint32_t code;
    char digits[8], body[64];
    assert_int_equal(tv_totp(key, kl, &tp, (uint64_t)(T0 / 1000), &code), 0);
    assert_int_equal(tv_otp_format(code, 6, digits, sizeof digits), 0);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", digits);
    api_call("POST", "/api/totp/confirm", body, sess_a, &rs);
    tv_api_resp_free(&rs);

    open_conn(&c2, sess_a);
    join_clinician(&c2, visit_a);
    cJSON *wr = take(&c2, "waiting_room");
    assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItem(wr, "patients"), 0), "id"), pj.you);
    cJSON_Delete(wr);
    open_conn(&w2, sess_a);
    sendf(&w2, "{\"type\":\"watch\"}");
    cJSON_Delete(take(&w2, "lobby"));
    assert_false(c2.closed || w2.closed);
    conn *all[] = { &c, &w, &p, &c2, &w2 };
    for (int i = 0; i < 5; i++)
        drop_conn(all[i]);
}

/* The next error: its code, its text and its ref (NULL: none). */
static void expect_refusal(conn *k, const char *code, const char *message, const char *ref)
{
    cJSON *e = take(k, "error");
    assert_string_equal(str(e, "code"), code);
    assert_string_equal(str(e, "message"), message);
    assert_string_equal(str(e, "ref"), ref ? ref : "");
    cJSON_Delete(e);
}

/* Each precondition of the hub's dispatch table, unmet, refuses with its own code and text and
 * changes nothing; met, the message goes through. */
static void each_precondition_refuses_with_its_error(void **state)
{
    (void)state;
    conn f, c, p, w;
    /* any connection pings; one that has not joined does nothing else of a visit's */
    open_conn(&f, NULL);
    sendf(&f, "{\"type\":\"ping\",\"ts\":5}");
    cJSON_Delete(take(&f, "pong"));
    sendf(&f, "{\"type\":\"leave\",\"id\":\"l1\"}");
    expect_refusal(&f, "not_admitted", "Join a visit first.", "l1");
    sendf(&f, "{\"type\":\"chat\",\"cid\":\"c\",\"text\":\"hi\"}");
    expect_refusal(&f, "not_admitted", "Join a visit first.", NULL);
    sendf(&f, "{\"type\":\"end\"}");
    expect_refusal(&f, "not_admitted", "Join a visit first.", NULL);
    assert_false(f.closed);

    /* joined but waiting: it may leave, not take part */
    open_conn(&c, sess_a);
    join_clinician(&c, visit_a);
    open_conn(&p, NULL);
    joined pj = join_patient(&p, invite_a, "Alice Martin", NULL);
    sendf(&p, "{\"type\":\"chat\",\"cid\":\"c\",\"text\":\"hi\",\"id\":\"c1\"}");
    expect_refusal(&p, "not_admitted", "Wait until the clinician lets you in.", "c1");
    sendf(&p, "{\"type\":\"admit\",\"participant\":\"%s\"}", pj.you);
    expect_refusal(&p, "not_admitted", "Wait until the clinician lets you in.", NULL);
    /* a connection is used once */
    sendf(&p, "{\"type\":\"join\",\"role\":\"patient\",\"invite\":\"%s\",\"name\":\"Eve\",\"id\":\"j1\"}", invite_a);
    expect_refusal(&p, "conflict", "This connection has already joined.", "j1");
    sendf(&p, "{\"type\":\"watch\"}");
    expect_refusal(&p, "conflict", "This connection is already in use: open another one to watch.", NULL);

    /* admitted, but the clinician's acts are not a patient's */
    forget(&c);
    sendf(&c, "{\"type\":\"admit\",\"participant\":\"%s\"}", pj.you);
    cJSON_Delete(take(&p, "admitted"));
    forget(&p);
    sendf(&p, "{\"type\":\"end\",\"id\":\"e1\"}");
    expect_refusal(&p, "forbidden", "Only the clinician can end the visit.", "e1");
    sendf(&p, "{\"type\":\"deny\",\"participant\":\"%s\"}", pj.you);
    expect_refusal(&p, "forbidden", "Only the clinician can do this.", NULL);
    sendf(&p, "{\"type\":\"media_state\",\"audio\":true,\"video\":true,\"screen\":false}");
    cJSON_Delete(take(&c, "media_state"));
    assert_int_equal(count(&p, "error"), 0);

    /* a dashboard: its own rows, and none of a visit's */
    open_conn(&w, sess_a);
    sendf(&w, "{\"type\":\"watch\"}");
    cJSON_Delete(take(&w, "lobby"));
    sendf(&w, "{\"type\":\"watch\",\"id\":\"w1\"}");
    expect_refusal(&w, "conflict", "This connection is already in use: open another one to watch.", "w1");
    sendf(&w, "{\"type\":\"join\",\"role\":\"clinician\",\"visit\":\"%s\"}", visit_a);
    expect_refusal(&w, "conflict", "This connection is already in use: open another one to join.", NULL);
    sendf(&w, "{\"type\":\"admit\",\"participant\":\"%s\"}", pj.you);
    expect_refusal(&w, "forbidden", "Open the visit to admit a patient: admitting starts the call.", NULL);
    sendf(&w, "{\"type\":\"sas_result\",\"match\":false}");
    expect_refusal(&w, "not_admitted", "Join a visit first.", NULL);
    sendf(&w, "{\"type\":\"ping\"}");
    cJSON_Delete(take(&w, "pong"));
    assert_int_equal(w.n, 0);

    /* nothing refused changed anything */
    assert_false(f.closed || c.closed || p.closed || w.closed);
    assert_int_equal(count(&c, "ended") + count(&p, "ended"), 0);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM visits WHERE state = 'open'"), 2);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM chat"), 0);
    conn *all[] = { &f, &c, &p, &w };
    for (int i = 0; i < 4; i++)
        drop_conn(all[i]);
}

/* Every message docs/protocol.md lists as browser to server (C→S) has a row in the hub's table, and
 * no other does: the table and the page cannot drift apart. */
static void every_client_message_has_a_row(void **state)
{
    (void)state;
    FILE *f = fopen(TV_SOURCE_DIR "/docs/protocol.md", "r");
    assert_non_null(f);
    int listed[TV_MSG_TYPE_COUNT] = { 0 }, n = 0;
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        char *end = strstr(line, "| C\xe2\x86\x92S |");   /* the table's direction column */
        if (strncmp(line, "| `", 3) != 0 || end == NULL)
            continue;
        *end = '\0';
        for (char *q = strchr(line, '`'); q; q = strchr(q, '`')) {   /* "| `offer`, `answer` " */
            char *close = strchr(q + 1, '`');
            assert_non_null(close);
            tv_msg_type t;
            if (tv_msg_type_from_name(q + 1, (size_t)(close - q - 1), &t) != 0)
                fail_msg("protocol.md lists an unknown message %.*s", (int)(close - q - 1), q + 1);
            listed[t] = 1;
            n++;
            q = close + 1;
        }
    }
    fclose(f);
    assert_int_equal(n, 16);   /* the page's C→S rows, as read here */
    for (int t = 0; t < TV_MSG_TYPE_COUNT; t++) {
        tv_hub_pre pre;
        int has = tv_hub_route_pre((tv_msg_type)t, 0, &pre) == 0;
        if (has != listed[t])
            fail_msg("%s: %s", tv_msg_type_name((tv_msg_type)t), has ? "a row, but not listed as C→S" : "no row");
        if (tv_msg_relayed((tv_msg_type)t))
            assert_int_equal(pre, TV_HUB_ADMITTED);   /* the relay is for the call's members only */
    }
    /* the roles: only the clinician's acts need the clinician */
    tv_hub_pre pre;
    const tv_msg_type clinician[] = { TV_MSG_ADMIT, TV_MSG_DENY, TV_MSG_END };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(tv_hub_route_pre(clinician[i], 0, &pre), 0);
        assert_int_equal(pre, TV_HUB_CLINICIAN);
    }
    assert_int_equal(tv_hub_route_pre(TV_MSG_DENY, 1, &pre), 0);
    assert_int_equal(pre, TV_HUB_WATCHING);
    assert_int_equal(tv_hub_route_pre(TV_MSG_CHAT, 1, &pre), 0);   /* a visit's row: a dashboard never meets it */
    assert_int_equal(pre, TV_HUB_ADMITTED);
    assert_int_equal(tv_hub_route_pre(TV_MSG_JOINED, 0, &pre), TV_ERR_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(waiting_room_admit_deny, setup, teardown),
        cmocka_unit_test_setup_teardown(relay_stays_in_one_visit, setup, teardown),
        cmocka_unit_test_setup_teardown(resume_token_rotates, setup, teardown),
        cmocka_unit_test_setup_teardown(chat_stored_before_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_frames_cost_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(lobby_follows_own_waiting_rooms, setup, teardown),
        cmocka_unit_test_setup_teardown(screen_share_audited_once_per_share, setup, teardown),
        cmocka_unit_test_setup_teardown(waiting_patient_gone_is_session_aborted, setup, teardown),
        cmocka_unit_test_setup_teardown(chat_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(require_2fa_refuses_signaling_until_enrolled, setup, teardown),
        cmocka_unit_test_setup_teardown(only_a_connected_call_keeps_a_session, setup, teardown),
        cmocka_unit_test_setup_teardown(each_precondition_refuses_with_its_error, setup, teardown),
        cmocka_unit_test_setup_teardown(every_client_message_has_a_row, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
