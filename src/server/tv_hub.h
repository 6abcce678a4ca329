/* The signaling hub: visits' rooms, the waiting room, roles and the relay between admitted members of
 * the same visit, and each clinician's lobby (its waiting patients across visits, for its dashboard),
 * as described in docs/protocol.md. Sans-I/O like the core: the WebSocket layer hands
 * it frames, connects and disconnects with the time, and carries out its sends and closes through
 * tv_hub_io; it never touches a socket or a clock. It runs on the event loop with the loop's own
 * database connection (visits, chat, audit). */
#ifndef TV_HUB_H
#define TV_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "tv_api.h"
#include "tv_bucket.h"
#include "tv_config.h"
#include "tv_msg.h"
#include "tv_store.h"
#include "tv_token.h"

#define TV_HUB_RESUME_MS 60000      /* a dropped participant keeps its place this long */
#define TV_HUB_WAITING_MAX 50
#define TV_HUB_ADMITTED_MAX 8
#define TV_HUB_RATE_BURST_S 4.0     /* a connection's burst: this many seconds of cfg->msg_per_second */
#define TV_HUB_ROOM_BUCKETS 4096
#define TV_HUB_LOBBY_MAX 100        /* patients one lobby message lists, oldest first */
#define TV_HUB_WATCH_CHECK_MS 30000 /* how often the sessions of watching dashboards and of clinicians in
                                       visits are checked again (a connected call's refreshed) */

typedef struct tv_hub_participant tv_hub_participant;

/* One WebSocket connection. The WebSocket layer owns it (in its per-connection storage). */
typedef struct tv_hub_conn {
    tv_hub_participant *p;          /* NULL until joined */
    int64_t watch_uid;              /* a clinician's dashboard watching its waiting rooms (0: not) */
    struct tv_hub_conn *watch_next;
    char ip[48];
    char session[TV_TOKEN_STRBYTES];   /* the session cookie at the upgrade, "" if none */
    tv_bucket rate;                 /* messages it may still send (msg_per_second) */
    int closing;
    void *user;                     /* the WebSocket layer's handle */
} tv_hub_conn;

typedef struct tv_hub_io {
    void *ctx;
    /* Queues a frame. Nonzero: the connection's queue is full; the hub closes it (slow consumer). */
    int (*send)(void *ctx, tv_hub_conn *c, const char *frame, size_t len);
    /* Closes the connection once what is queued has been sent. The layer reports it back later
     * with tv_hub_disconnect, never from inside this call. */
    void (*close)(void *ctx, tv_hub_conn *c);
} tv_hub_io;

typedef struct tv_hub_room tv_hub_room;

typedef struct tv_hub {
    const tv_config *cfg;
    tv_api *api;
    tv_store *st;
    tv_hub_io io;
    tv_hub_room *rooms[TV_HUB_ROOM_BUCKETS];
    size_t room_count, participant_count;
    tv_hub_conn *watchers;          /* connections that sent `watch`, a few per signed-in clinician */
    int64_t last_purge_ms, last_watch_check_ms;
    char out[TV_MSG_MAX_BYTES + 1];
} tv_hub;

/* What a connection must be for the hub to take a message of a type: a row's precondition in the
 * dispatch table of tv_hub.c (docs/architecture.md). Refused: `conflict` (TV_HUB_UNUSED),
 * `not_admitted` (joined, admitted), `forbidden` (the clinician's). */
typedef enum tv_hub_pre {
    TV_HUB_ANY,         /* any connection */
    TV_HUB_UNUSED,      /* one that has neither joined nor watches */
    TV_HUB_WATCHING,    /* a clinician's dashboard that sent `watch` (the row is for such connections) */
    TV_HUB_JOINED,      /* joined to a visit, waiting or admitted */
    TV_HUB_ADMITTED,    /* admitted to the call */
    TV_HUB_CLINICIAN    /* admitted, as the visit's clinician */
} tv_hub_pre;

/* The precondition of the row that takes type t from a connection (watching or not): 0, or
 * TV_ERR_NOT_FOUND when the hub takes no such message. */
int tv_hub_route_pre(tv_msg_type t, int watching, tv_hub_pre *pre);

int tv_hub_init(tv_hub *h, const tv_config *cfg, tv_api *api, tv_store *st, tv_hub_io io);
void tv_hub_free(tv_hub *h);

/* session: the session cookie's token, or NULL. */
void tv_hub_connect(tv_hub *h, tv_hub_conn *c, const char *ip, const char *session, int64_t now_ms);
void tv_hub_message(tv_hub *h, tv_hub_conn *c, const char *text, size_t len, int64_t now_ms);
void tv_hub_disconnect(tv_hub *h, tv_hub_conn *c, int64_t now_ms);

/* A frame the WebSocket layer refused before it could be a message (too large to reassemble:
 * TV_ERR_MSG_TOO_LARGE; binary: TV_ERR_UTF8): the sender gets the error a parse would give. */
void tv_hub_refused(tv_hub *h, tv_hub_conn *c, int code);

/* Once a second or so: drops participants gone past the resume window, purges old chat. */
void tv_hub_tick(tv_hub *h, int64_t now_ms);

/* From the API: a visit ended or its link was revoked ("clinician_ended", "revoked"); a user's
 * sessions were revoked (their connections close). */
void tv_hub_visit_closed(tv_hub *h, const char *visit, const char *reason, int64_t now_ms);
void tv_hub_user_revoked(tv_hub *h, int64_t uid, int64_t now_ms);

/* The participant id of a joined connection, or NULL. */
const char *tv_hub_conn_participant(const tv_hub_conn *c);

/* Server shutdown: every member is told (ended, server_shutdown). */
void tv_hub_shutdown(tv_hub *h, int64_t now_ms);

#endif
