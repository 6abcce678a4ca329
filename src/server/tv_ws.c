#define _POSIX_C_SOURCE 200809L
#include "tv_ws.h"
#include "tv_api.h"
#include "tv_http.h"
#include "tv_clock.h"
#include "tv_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <time.h>

struct tv_ws_frame {
    tv_ws_frame *next;
    size_t len;
    unsigned char data[];   /* LWS_PRE bytes of room, then the frame */
};

static tv_ws *ws_of(struct lws *wsi)
{
    tv_http *h = lws_context_user(lws_get_context(wsi));
    return h->ws;
}

static int io_send(void *ctx, tv_hub_conn *hc, const char *frame, size_t len)
{
    tv_ws_conn *c = (tv_ws_conn *)hc;
    if (c->queued_frames >= TV_WS_QUEUE_FRAMES || c->queued_bytes + len > TV_WS_QUEUE_BYTES)
        return -1;
    tv_ws_frame *f = malloc(sizeof *f + LWS_PRE + len);
    if (f == NULL)
        return -1;
    f->next = NULL;
    f->len = len;
    memcpy(f->data + LWS_PRE, frame, len);
    if (c->tail)
        c->tail->next = f;
    else
        c->head = f;
    c->tail = f;
    c->queued_bytes += len;
    c->queued_frames++;
    /* Written when this event-loop turn ends (flush), with whatever else the turn queues for this
     * connection, rather than on a writable event: asking for one switches the socket's POLLOUT on
     * and off again (two epoll_ctl calls) for each write, though the socket is nearly always writable. */
    if (!c->unsent) {
        tv_ws *ws = ctx;
        c->unsent = 1;
        c->next_unsent = ws->unsent;
        ws->unsent = c;
    }
    return 0;
}

static void io_close(void *ctx, tv_hub_conn *hc)
{
    (void)ctx;
    tv_ws_conn *c = (tv_ws_conn *)hc;
    if (c->queued_frames >= TV_WS_QUEUE_FRAMES || c->queued_bytes >= TV_WS_QUEUE_BYTES / 2) {
        /* a queue this full will not drain soon: close now */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_REASON_BASE, LWS_TO_KILL_ASYNC);
        return;
    }
    c->close_when_sent = 1;
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_REASON_BASE, 5);   /* it gets 5 s to take the last frames */
    lws_callback_on_writable(c->wsi);
}

static void queue_free(tv_ws_conn *c)
{
    while (c->head) {
        tv_ws_frame *n = c->head->next;
        free(c->head);
        c->head = n;
    }
    c->tail = NULL;
    c->queued_bytes = c->queued_frames = 0;
    free(c->rx);
    c->rx = NULL;
    c->rx_len = 0;
}

/* RFC 6455 section 5.2, server to client: FIN, text, unmasked; the length in 7 or 16 bits (the
 * frames framed here fit in one write, so never need the 64-bit form). */
_Static_assert(TV_WS_WRITE_BYTES <= 0xffff, "frames framed by frame_header have a 16-bit length at most");
enum { HEADER_MAX = 4 };

static size_t frame_header(unsigned char *h, size_t len)
{
    h[0] = 0x81;
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    h[1] = 126;
    h[2] = (unsigned char)(len >> 8);
    h[3] = (unsigned char)len;
    return 4;
}

static tv_ws_frame *queue_pop(tv_ws_conn *c)
{
    tv_ws_frame *f = c->head;
    c->head = f->next;
    if (c->head == NULL)
        c->tail = NULL;
    c->queued_bytes -= f->len;
    c->queued_frames--;
    return f;
}

/* One lws_write: the queued frames that fit in TV_WS_WRITE_BYTES, framed here and written raw, or the
 * first frame alone when it does not fit (libwebsockets frames it and writes it in pieces). Frames
 * stay whole within a write, and libwebsockets sends what it could not write before anything else,
 * so its own control frames (pong, close) never land inside one of ours. Over HTTP/2 (RFC 8441) a
 * raw write would bypass the stream's framing: there each frame goes through libwebsockets. */
static int write_queued(tv_ws *ws, tv_ws_conn *c)
{
    if (c->head->len + HEADER_MAX > TV_WS_WRITE_BYTES || lws_get_network_wsi(c->wsi) != c->wsi) {
        tv_ws_frame *f = queue_pop(c);
        int ok = lws_write(c->wsi, f->data + LWS_PRE, f->len, LWS_WRITE_TEXT) >= (int)f->len;
        free(f);
        return ok ? 0 : -1;
    }
    unsigned char *out = ws->wbuf + LWS_PRE;
    size_t n = 0;
    while (c->head && n + HEADER_MAX + c->head->len <= TV_WS_WRITE_BYTES) {
        tv_ws_frame *f = queue_pop(c);
        n += frame_header(out + n, f->len);
        memcpy(out + n, f->data + LWS_PRE, f->len);
        n += f->len;
        free(f);
    }
    return lws_write(c->wsi, out, n, LWS_WRITE_RAW) >= (int)n ? 0 : -1;
}

/* As much of the queue as the socket takes now. The first write goes without a check: after a
 * writable event the socket takes data, and otherwise it nearly always does (what it does not take is
 * kept by libwebsockets and sent first: one write's worth at most, beyond the queue's cap). The check
 * (a poll()) is for the writes after it. Nonzero: the connection failed. */
static int write_all(tv_ws *ws, tv_ws_conn *c)
{
    for (int first = 1; c->head && (first || !lws_send_pipe_choked(c->wsi)); first = 0)
        if (write_queued(ws, c) != 0)
            return -1;
    if (c->head || c->close_when_sent)
        lws_callback_on_writable(c->wsi);
    return 0;
}

static void on_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    tv_ws *ws = lws_container_of(w, tv_ws, flush);
    while (ws->unsent) {
        tv_ws_conn *c = ws->unsent;
        ws->unsent = c->next_unsent;
        c->next_unsent = NULL;
        c->unsent = 0;
        if (c->head == NULL)
            continue;
        /* libwebsockets' own remainder goes first; and a WebSocket carried over HTTP/2 (browsers
         * use RFC 8441 when the server offers it) may only be written when libwebsockets says its
         * stream is writable: a write from here broke the browsers' signaling */
        if (lws_partial_buffered(c->wsi) || lws_get_network_wsi(c->wsi) != c->wsi)
            lws_callback_on_writable(c->wsi);
        else if (write_all(ws, c) != 0) {
            c->hub.closing = 1;   /* the hub queues nothing more for a connection that is going */
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_REASON_BASE, LWS_TO_KILL_ASYNC);
        }
    }
}

static void unsent_remove(tv_ws *ws, tv_ws_conn *c)
{
    if (!c->unsent)
        return;
    tv_ws_conn **pp = &ws->unsent;
    while (*pp && *pp != c)
        pp = &(*pp)->next_unsent;
    if (*pp)
        *pp = c->next_unsent;
    c->unsent = 0;
    c->next_unsent = NULL;
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    tv_ws *ws = lws_container_of(sul, tv_ws, tick);
    if (ws->ctx == NULL)
        return;   /* stopping */
    int64_t now = tv_clock_ms();
    tv_hub_tick(&ws->hub, now);
    /* Our own idle check rather than libwebsockets' ping policy: that one re-sorts a timer list
     * of every connection on each message, which at 10,000 connections dominated the relay's cost. */
    for (tv_ws_conn *c = ws->all; c; c = c->next)
        if (now - c->last_rx_ms > TV_WS_IDLE_MS)
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_REASON_BASE, LWS_TO_KILL_ASYNC);
    lws_sul_schedule(ws->ctx, 0, &ws->tick, on_tick, LWS_US_PER_SEC);
}

static void drain_notes(tv_ws *ws)
{
    pthread_mutex_lock(&ws->lock);
    tv_ws_note *n = ws->notes;
    ws->notes = NULL;
    pthread_mutex_unlock(&ws->lock);
    /* they were pushed newest first; replay them in order */
    tv_ws_note *rev = NULL;
    while (n) {
        tv_ws_note *next = n->next;
        n->next = rev;
        rev = n;
        n = next;
    }
    while (rev) {
        tv_ws_note *next = rev->next;
        int64_t t = tv_clock_ms();
        if (strcmp(rev->event, "visit_ended") == 0)
            tv_hub_visit_closed(&ws->hub, rev->id, "clinician_ended", t);
        else if (strcmp(rev->event, "visit_revoked") == 0)
            tv_hub_visit_closed(&ws->hub, rev->id, "revoked", t);
        else if (strcmp(rev->event, "user_sessions_revoked") == 0)
            tv_hub_user_revoked(&ws->hub, strtoll(rev->id, NULL, 10), t);
        free(rev);
        rev = next;
    }
}

void tv_ws_notify(void *p, const char *event, const char *id)
{
    tv_ws *ws = p;
    tv_ws_note *n = calloc(1, sizeof *n);
    if (n == NULL)
        return;
    snprintf(n->event, sizeof n->event, "%s", event);
    snprintf(n->id, sizeof n->id, "%s", id);
    pthread_mutex_lock(&ws->lock);
    n->next = ws->notes;
    ws->notes = n;
    struct lws_context *ctx = ws->ctx;
    pthread_mutex_unlock(&ws->lock);
    if (ctx)
        lws_cancel_service(ctx);
}

/* Browsers send Origin on a WebSocket upgrade: only our own pages may use the session cookie here. */
static int origin_ok(struct lws *wsi)
{
    char origin[300], host[256];
    if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) <= 0)
        return 1;   /* not a browser: nothing rides on ambient cookies */
    return tv_api_same_origin(origin, tv_http_host(wsi, host, sizeof host));
}

static void deliver(tv_ws *ws, tv_ws_conn *c, const char *in, size_t len, int first, int final, int64_t now)
{
    if (first) {
        free(c->rx);
        c->rx = NULL;
        c->rx_len = 0;
        c->rx_too_large = 0;
    }
    if (first && final) {   /* the common case: no copy */
        tv_hub_message(&ws->hub, &c->hub, in, len, now);
        return;
    }
    if (!c->rx_too_large) {
        if (c->rx_len + len > TV_MSG_CLIENT_MAX_BYTES) {
            c->rx_too_large = 1;
            free(c->rx);
            c->rx = NULL;
            c->rx_len = 0;
        } else {
            char *g = realloc(c->rx, c->rx_len + len + 1);
            if (g == NULL) {
                c->rx_too_large = 1;
            } else {
                c->rx = g;
                memcpy(c->rx + c->rx_len, in, len);
                c->rx_len += len;
            }
        }
    }
    if (!final)
        return;
    if (c->rx_too_large)
        tv_hub_refused(&ws->hub, &c->hub, TV_ERR_MSG_TOO_LARGE);
    else
        tv_hub_message(&ws->hub, &c->hub, c->rx, c->rx_len, now);
    free(c->rx);
    c->rx = NULL;
    c->rx_len = 0;
}

int tv_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    tv_ws_conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
        tv_ws *ws = ws_of(wsi);
        if (ws)
            drain_notes(ws);
        return 0;
    }
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        /* HTTP/1.1 upgrades have a GET URI; a WebSocket over HTTP/2 (RFC 8441, which Chromium uses
         * on an open HTTP/2 connection) has only :path */
        char uri[16] = "";
        if ((lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 &&
             lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_HTTP_COLON_PATH) <= 0) || strcmp(uri, "/ws") != 0)
            return 1;
        return origin_ok(wsi) ? 0 : 1;
    }
    case LWS_CALLBACK_ESTABLISHED: {
        tv_ws *ws = ws_of(wsi);
        char cookie[2048] = "", session[TV_TOKEN_STRBYTES], ip[64] = "";
        int have = lws_hdr_copy(wsi, cookie, sizeof cookie, WSI_TOKEN_HTTP_COOKIE) > 0 &&
                   tv_api_cookie_token(cookie, session, sizeof session) == 0;
        lws_get_peer_simple(wsi, ip, sizeof ip);
        memset(c, 0, sizeof *c);
        c->wsi = wsi;
        c->last_rx_ms = tv_clock_ms();
        tv_hub_connect(&ws->hub, &c->hub, ip, have ? session : NULL, c->last_rx_ms);
        c->hub.user = wsi;
        ws->connections++;
        c->next = ws->all;
        if (ws->all)
            ws->all->prev = c;
        ws->all = c;
        sodium_memzero(cookie, sizeof cookie);
        sodium_memzero(session, sizeof session);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE:
        c->last_rx_ms = tv_clock_ms();
        if (lws_frame_is_binary(wsi)) {
            if (lws_is_final_fragment(wsi))
                tv_hub_refused(&ws_of(wsi)->hub, &c->hub, TV_ERR_UTF8);   /* the protocol is JSON text */
            return 0;
        }
        deliver(ws_of(wsi), c, in, len, lws_is_first_fragment(wsi), lws_is_final_fragment(wsi), c->last_rx_ms);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (c->head == NULL && c->close_when_sent) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            return -1;
        }
        /* libwebsockets calls this only once what it buffered itself has gone */
        return write_all(ws_of(wsi), c) != 0 ? -1 : 0;
    case LWS_CALLBACK_CLOSED: {
        tv_ws *ws = ws_of(wsi);
        tv_hub_disconnect(&ws->hub, &c->hub, tv_clock_ms());
        unsent_remove(ws, c);
        queue_free(c);
        ws->connections--;
        if (c->prev)
            c->prev->next = c->next;
        else if (ws->all == c)
            ws->all = c->next;
        if (c->next)
            c->next->prev = c->prev;
        c->prev = c->next = NULL;
        return 0;
    }
    default:
        return 0;
    }
}

int tv_ws_init(tv_ws *ws, const tv_config *cfg, tv_api *api, tv_store *st)
{
    memset(ws, 0, sizeof *ws);
    tv_hub_io io = { ws, io_send, io_close };
    pthread_mutex_init(&ws->lock, NULL);
    return tv_hub_init(&ws->hub, cfg, api, st, io);
}

void tv_ws_start(tv_ws *ws, struct lws_context *ctx, struct ev_loop *loop)
{
    pthread_mutex_lock(&ws->lock);
    ws->ctx = ctx;
    pthread_mutex_unlock(&ws->lock);
    lws_sul_schedule(ctx, 0, &ws->tick, on_tick, LWS_US_PER_SEC);
    ws->loop = loop;
    ev_prepare_init(&ws->flush, on_flush);
    ev_prepare_start(loop, &ws->flush);
}

void tv_ws_stop(tv_ws *ws)
{
    tv_hub_shutdown(&ws->hub, tv_clock_ms());
    pthread_mutex_lock(&ws->lock);
    ws->ctx = NULL;
    pthread_mutex_unlock(&ws->lock);
}

void tv_ws_free(tv_ws *ws)
{
    if (ws->loop)
        ev_prepare_stop(ws->loop, &ws->flush);
    tv_hub_free(&ws->hub);
    while (ws->notes) {
        tv_ws_note *n = ws->notes->next;
        free(ws->notes);
        ws->notes = n;
    }
    pthread_mutex_destroy(&ws->lock);
}
