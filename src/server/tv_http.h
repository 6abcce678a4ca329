/* televisitd's HTTP side: static files from the web root and JSON answers, every response with the
 * security headers (strict CSP, HSTS, nosniff, no referrer, permissions for camera, microphone and
 * screen sharing to this origin only, no caching except for versioned static files). Paths are
 * whitelisted before they touch the file system, then confined to the web root by realpath. */
#ifndef TV_HTTP_H
#define TV_HTTP_H

#include <libwebsockets.h>
#include <stddef.h>

#include "tv_config.h"

#define TV_HTTP_PATH_MAX 4096   /* PATH_MAX on Linux; the header needs no POSIX feature macros */

struct tv_jobs;
struct tv_job;

typedef struct tv_http {
    char root[TV_HTTP_PATH_MAX];   /* realpath of the web root */
    char csp[1200];
    struct tv_jobs *jobs;          /* answers /api/ requests; NULL: the API is off */
    void *ws;                      /* the WebSocket side (tv_ws), which shares the context */
} tv_http;

/* Per-connection state: a request body being read, a job being answered, an answer being written. */
typedef struct tv_http_session {
    int refuse_after_body;   /* a method we do not take: answer 405 once its body has been read */
    int api_post;            /* an /api/ POST: its body is collected, then it becomes a job */
    int too_large;
    char path[128];
    char *in;                /* the request body so far */
    size_t in_len;
    struct tv_job *job;      /* pending on a worker */
    /* the answer */
    int status, headers_done, head_only;
    char *out;
    size_t out_len, out_off;
    const char *content_type;
    char set_cookie[256];
    char location[2048];
    char disposition[96];
    int retry_after_s;
} tv_http_session;

int tv_http_init(tv_http *h, const tv_config *cfg);

/* A request path is acceptable if it is "/", or "/"-separated segments of [A-Za-z0-9._-] none of
 * which starts with '.', at most 255 bytes. rel gets the file path relative to the root. */
int tv_http_safe_path(const char *uri, char *rel, size_t rel_size);

/* The MIME type for a file name, or NULL for types televisitd does not serve. */
const char *tv_http_mime(const char *path);

/* 1 for a content-hashed file name (name.0123abcd.ext), which may be cached for a year. */
int tv_http_versioned(const char *path);

/* On the loop, after a wake-up: writes the answers of finished API jobs. */
void tv_http_jobs_done(tv_http *h);

/* The host a request was made to: Host, or over HTTP/2 (browsers over TLS) :authority. NULL when
 * neither is there. */
const char *tv_http_host(struct lws *wsi, char *buf, size_t size);

int tv_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

#endif
