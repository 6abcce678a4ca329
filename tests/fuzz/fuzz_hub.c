/* libFuzzer target for the signaling hub: any sequence of frames from four connections (one with a
 * clinician's session, three without) against a real visit in a real database. Frames are separated
 * by NUL bytes; a frame's first byte picks its connection. "@INVITE@" and "@VISIT@" in a frame are
 * replaced by the visit's real invite token and id, and "@P1@" by connection 1's participant id, so the
 * fuzzer can get past joining and admitting. After each
 * input every connection drops and the resume window passes: nothing may be left behind. */
#define _GNU_SOURCE   /* mkdtemp, memmem */
#include "tv_api.h"
#include "tv_err.h"
#include "tv_hub.h"
#include "tv_init.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNS 4
static const int64_t T0 = 1800000000000LL;

static tv_config cfg;
static tv_api api;
static tv_store st;
static tv_hub hub;
static tv_hub_conn conns[CONNS];
static char session[TV_TOKEN_STRBYTES], invite[TV_TOKEN_STRBYTES], visit[32];

static int io_send(void *ctx, tv_hub_conn *c, const char *frame, size_t len)
{
    (void)ctx, (void)c, (void)frame;
    if (len > TV_MSG_MAX_BYTES)
        abort();   /* the hub never builds a frame larger than the protocol allows */
    return 0;
}

static void io_close(void *ctx, tv_hub_conn *c)
{
    (void)ctx, (void)c;
}

static void api_call(const char *method, const char *path, const char *body, const char *cookie, tv_api_resp *rs)
{
    tv_api_req rq = { method, path, NULL, cookie, "127.0.0.1", "localhost", NULL, "application/json", body,
                      body ? strlen(body) : 0, T0, 0, NULL, 0, 0, NULL };
    if (tv_api_handle(&api, &st, &rq, rs) != 0 || rs->status >= 300) {
        fprintf(stderr, "fuzz_hub setup: %s %s: %d %.*s\n", method, path, rs->status, (int)rs->body_len, rs->body);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static char dir[] = "/tmp/tv-fuzz-hub-XXXXXX";
    char db[128], key[128], err[256];
    if (tv_init() != 0 || mkdtemp(dir) == NULL)
        abort();
    tv_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
    snprintf(cfg.turn_urls, sizeof cfg.turn_urls, "stun:127.0.0.1:3478 turn:127.0.0.1:3478?transport=udp");
    snprintf(cfg.turn_secret, sizeof cfg.turn_secret, "fuzz");
    cfg.pwhash_mem_mib = 19;
    snprintf(db, sizeof db, "%s/t.db", dir);
    snprintf(key, sizeof key, "%s/master.key", dir);
    if (tv_store_open(&st, db, key, err, sizeof err) != 0 || tv_api_init(&api, &cfg) != 0)
        abort();
    sqlite3_exec(st.db, "PRAGMA synchronous = OFF", NULL, NULL, NULL);   /* speed; durability is tested elsewhere */
    if (tv_api_user_add(&api, &st, "dr@example.org", "Correct-Horse-Battery-9", 0, T0, err, sizeof err) != 0)
        abort();
    tv_api_resp rs;
    api_call("POST", "/api/login", "{\"email\":\"dr@example.org\",\"password\":\"Correct-Horse-Battery-9\"}", NULL, &rs);
    const char *c = strstr(rs.set_cookie, TV_API_COOKIE "=");
    if (c == NULL || tv_api_cookie_token(c, session, sizeof session) != 0)
        abort();
    tv_api_resp_free(&rs);
    api_call("POST", "/api/visits", "{}", session, &rs);
    cJSON *o = cJSON_ParseWithLength(rs.body, rs.body_len);
    snprintf(visit, sizeof visit, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")));
    snprintf(invite, sizeof invite, "%s", strstr(cJSON_GetStringValue(cJSON_GetObjectItem(o, "link")), "/v/") + 3);
    cJSON_Delete(o);
    tv_api_resp_free(&rs);
    tv_hub_io io = { NULL, io_send, io_close };
    return tv_hub_init(&hub, &cfg, &api, &st, io);
}

/* frame with the placeholders replaced */
static size_t expand(const uint8_t *in, size_t n, char *out, size_t out_size)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o < out_size;) {
        const char *rep = NULL;
        size_t skip = 0;
        if (n - i >= 8 && memcmp(in + i, "@INVITE@", 8) == 0)
            rep = invite, skip = 8;
        else if (n - i >= 7 && memcmp(in + i, "@VISIT@", 7) == 0)
            rep = visit, skip = 7;
        else if (n - i >= 4 && memcmp(in + i, "@P1@", 4) == 0)
            rep = tv_hub_conn_participant(&conns[1]), rep = rep ? rep : "none", skip = 4;
        if (rep) {
            size_t rl = strlen(rep);
            if (o + rl > out_size)
                break;
            memcpy(out + o, rep, rl);
            o += rl;
            i += skip;
        } else {
            out[o++] = (char)in[i++];
        }
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char frame[TV_MSG_MAX_BYTES + 1024];
    int64_t now = T0 + 1000;
    for (int i = 0; i < CONNS; i++)
        tv_hub_connect(&hub, &conns[i], "192.0.2.1", i == 0 ? session : NULL, now);
    const uint8_t *p = data, *end = data + size;
    while (p < end) {
        const uint8_t *z = memchr(p, 0, (size_t)(end - p));
        const uint8_t *stop = z ? z : end;
        if (stop > p) {
            tv_hub_conn *c = &conns[p[0] % CONNS];
            size_t n = expand(p + 1, (size_t)(stop - p - 1), frame, sizeof frame);
            tv_hub_message(&hub, c, frame, n, now++);
        }
        p = stop + 1;
    }
    for (int i = 0; i < CONNS; i++)
        tv_hub_disconnect(&hub, &conns[i], now);
    tv_hub_tick(&hub, now + TV_HUB_RESUME_MS + 1);
    if (hub.participant_count != 0 || hub.room_count != 0 || hub.watchers != NULL)
        abort();   /* a participant, a room or a watcher outlived every connection and the resume window */
    sqlite3_exec(st.db, "UPDATE visits SET state = 'open', ended_ms = NULL", NULL, NULL, NULL);
    return 0;
}
