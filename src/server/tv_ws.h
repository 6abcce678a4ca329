/* The WebSocket side of televisitd: wss://HOST/ws with the subprotocol "televisit.v1", feeding the
 * signaling hub. Per connection: frames reassembled up to the protocol's size cap, a bounded send
 * queue (a consumer that does not read is disconnected rather than allowed to grow memory), an Origin
 * check against cross-site WebSocket hijacking, and an idle timeout (clients ping). */
#ifndef TV_WS_H
#define TV_WS_H

#include <ev.h>
#include <libwebsockets.h>
#include <pthread.h>

#include "tv_hub.h"

#define TV_WS_PROTOCOL "televisit.v1"
#define TV_WS_QUEUE_BYTES (1024 * 1024)
#define TV_WS_QUEUE_FRAMES 512
#define TV_WS_IDLE_MS 60000     /* a connection that sends nothing (not even a ping) this long is closed */
/* Queued frames go out together in writes of up to this many bytes: one TLS record (16 KiB of
 * plaintext at most) and one syscall for many frames. The protocol's tx_packet_size must be at least
 * this, or libwebsockets cuts each write into pieces and buffers the rest for later event-loop turns. */
#define TV_WS_WRITE_BYTES 16384

typedef struct tv_ws_note { struct tv_ws_note *next; char event[32]; char id[72]; } tv_ws_note;

typedef struct tv_ws {
    tv_hub hub;
    struct lws_context *ctx;
    lws_sorted_usec_list_t tick;
    pthread_mutex_t lock;            /* notes from the API's worker threads */
    tv_ws_note *notes;
    size_t connections;
    struct tv_ws_conn *all;          /* every connection, for the idle check */
    unsigned char wbuf[LWS_PRE + TV_WS_WRITE_BYTES];   /* the frames of one write, gathered */
    struct tv_ws_conn *unsent;       /* connections given frames during this event-loop turn */
    struct ev_loop *loop;
    ev_prepare flush;                /* ...written when the turn ends */
} tv_ws;

typedef struct tv_ws_frame tv_ws_frame;

typedef struct tv_ws_conn {
    tv_hub_conn hub;
    struct lws *wsi;
    tv_ws_frame *head, *tail;
    size_t queued_bytes, queued_frames;
    int close_when_sent;
    char *rx;                        /* a fragmented message being reassembled */
    size_t rx_len;
    int rx_too_large;
    int64_t last_rx_ms;
    struct tv_ws_conn *prev, *next;
    struct tv_ws_conn *next_unsent;
    int unsent;                      /* on tv_ws.unsent */
} tv_ws_conn;

int tv_ws_init(tv_ws *ws, const tv_config *cfg, tv_api *api, tv_store *st);
/* After the context exists: the tick, and the end-of-turn writes on loop (the context's libev loop). */
void tv_ws_start(tv_ws *ws, struct lws_context *ctx, struct ev_loop *loop);
void tv_ws_stop(tv_ws *ws);                             /* before it is destroyed: tells every member */
void tv_ws_free(tv_ws *ws);

/* tv_api's notify hook: any thread. */
void tv_ws_notify(void *ws, const char *event, const char *id);

int tv_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

#endif
