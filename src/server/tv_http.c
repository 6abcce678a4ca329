#define _DEFAULT_SOURCE   /* realpath */
#include "tv_http.h"
#include "tv_err.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

_Static_assert(TV_HTTP_PATH_MAX >= PATH_MAX, "realpath writes up to PATH_MAX bytes");

int tv_http_init(tv_http *h, const tv_config *cfg)
{
    if (realpath(cfg->web_root, h->root) == NULL)
        return TV_ERR_INVALID;
    /* No inline script or style anywhere; wasm compiles; media and workers from this origin only. */
    int n = snprintf(h->csp, sizeof h->csp,
                     "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
                     "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
                     "worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                     "frame-ancestors 'self'%s%s",
                     cfg->frame_ancestors[0] ? " " : "", cfg->frame_ancestors);
    return n > 0 && (size_t)n < sizeof h->csp ? 0 : TV_ERR_TOO_LONG;
}

int tv_http_safe_path(const char *uri, char *rel, size_t rel_size)
{
    size_t len = uri ? strlen(uri) : 0;
    if (len == 0 || uri[0] != '/' || len > 255)
        return TV_ERR_INVALID;
    if (len == 1) {
        if (rel_size < sizeof "index.html")
            return TV_ERR_NOSPACE;
        memcpy(rel, "index.html", sizeof "index.html");
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        char c = uri[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.' || c == '/';
        if (!ok)
            return TV_ERR_INVALID;   /* '%', '\\', NUL, spaces... never reach the file system */
        /* every segment: not empty, not starting with '.' (no "..", no hidden files) */
        if (uri[i - 1] == '/' && (c == '/' || c == '.'))
            return TV_ERR_INVALID;
    }
    if (uri[len - 1] == '/')
        return TV_ERR_INVALID;
    if (len > rel_size)
        return TV_ERR_NOSPACE;
    memcpy(rel, uri + 1, len);   /* with its NUL */
    return 0;
}

const char *tv_http_mime(const char *path)
{
    static const struct { const char *ext, *type; } types[] = {
        { ".html", "text/html; charset=utf-8" }, { ".mjs", "text/javascript; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" }, { ".wasm", "application/wasm" },
        { ".css", "text/css; charset=utf-8" }, { ".svg", "image/svg+xml" }, { ".png", "image/png" },
        { ".ico", "image/x-icon" }, { ".json", "application/json" }, { ".woff2", "font/woff2" },
        { ".txt", "text/plain; charset=utf-8" },
    };
    const char *dot = strrchr(path, '.');
    if (dot == NULL || strchr(dot, '/'))
        return NULL;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

int tv_http_versioned(const char *path)
{
    const char *ext = strrchr(path, '.');
    if (ext == NULL || ext == path)
        return 0;
    const char *p = ext - 1;
    size_t hex = 0;
    while (p > path && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
        p--;
        hex++;
    }
    return *p == '.' && hex >= 8;
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p, unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)value,
                                       (int)strlen(value), p, end);
}

static int security_headers(struct lws *wsi, const char *csp, int cacheable, unsigned char **p, unsigned char *end)
{
    return add_header(wsi, "content-security-policy:", csp, p, end) ||
           add_header(wsi, "strict-transport-security:", "max-age=31536000", p, end) ||
           add_header(wsi, "referrer-policy:", "no-referrer", p, end) ||
           add_header(wsi, "x-content-type-options:", "nosniff", p, end) ||
           add_header(wsi, "permissions-policy:", "camera=(self), microphone=(self), display-capture=(self)", p, end) ||
           add_header(wsi, "cross-origin-resource-policy:", "same-origin", p, end) ||
           add_header(wsi, "cache-control:", cacheable ? "public, max-age=31536000, immutable" : "no-store", p, end);
}

static tv_http *http_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* Headers now, the body when the connection can take it. */
static int send_json(struct lws *wsi, tv_http_session *s, unsigned status, const char *code, const char *message)
{
    int n = code ? snprintf(s->body, sizeof s->body, "{\"error\":\"%s\",\"message\":\"%s\"}", code, message)
                 : snprintf(s->body, sizeof s->body, "%s", message);
    if (n < 0 || (size_t)n >= sizeof s->body)
        return -1;
    s->body_len = (size_t)n;
    unsigned char buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
    if (lws_add_http_common_headers(wsi, status, "application/json", s->body_len, &p, end) ||
        security_headers(wsi, http_of(wsi)->csp, 0, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0) {
        /* HEAD: the headers (with the length the body would have), never the body itself */
        s->body_len = 0;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    lws_callback_on_writable(wsi);
    return 0;
}

static int serve_static(struct lws *wsi, tv_http_session *s, const char *uri)
{
    tv_http *h = http_of(wsi);
    char rel[256], full[TV_HTTP_PATH_MAX], real[TV_HTTP_PATH_MAX];
    if (tv_http_safe_path(uri, rel, sizeof rel) != 0)
        return send_json(wsi, s, HTTP_STATUS_BAD_REQUEST, "bad_path", "This path is not allowed.");
    const char *mime = tv_http_mime(rel);
    struct stat st;
    if (mime == NULL || (size_t)snprintf(full, sizeof full, "%s/%s", h->root, rel) >= sizeof full ||
        realpath(full, real) == NULL || strncmp(real, h->root, strlen(h->root)) != 0 ||
        real[strlen(h->root)] != '/' || stat(real, &st) != 0 || !S_ISREG(st.st_mode))
        return send_json(wsi, s, HTTP_STATUS_NOT_FOUND, "not_found", "There is nothing here.");
    unsigned char buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
    if (security_headers(wsi, h->csp, tv_http_versioned(rel), &p, end))
        return -1;
    int n = lws_serve_http_file(wsi, real, mime, (const char *)start, lws_ptr_diff(p, start));
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}

int tv_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    tv_http_session *s = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        const char *uri = in;
        if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0 && lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) <= 0) {
            /* libwebsockets reads a request body before it lets us answer: wait for one that is coming
             * (a non-zero length, or chunked), answer now when there is none. */
            char cl[24] = "";
            int chunked = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
            lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH);
            if (!chunked && strtoull(cl, NULL, 10) == 0)
                return send_json(wsi, s, HTTP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                                 "Only GET and HEAD are allowed here.");
            s->refuse_after_body = 1;
            return 0;
        }
        if (strcmp(uri, "/healthz") == 0)
            return send_json(wsi, s, HTTP_STATUS_OK, NULL, "{\"status\":\"ok\"}");
        return serve_static(wsi, s, uri);
    }
    case LWS_CALLBACK_HTTP_BODY:
        return 0;   /* a body we refuse: read and dropped */
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (s && s->refuse_after_body) {
            s->refuse_after_body = 0;
            return send_json(wsi, s, HTTP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                             "Only GET and HEAD are allowed here.");
        }
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (s == NULL || s->body_len == 0)
            break;
        {
            unsigned char buf[LWS_PRE + sizeof s->body];
            memcpy(buf + LWS_PRE, s->body, s->body_len);
            size_t n = s->body_len;
            s->body_len = 0;
            if (lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_HTTP_FINAL) != (int)n)
                return -1;
        }
        if (lws_http_transaction_completed(wsi))
            return -1;
        return 0;
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        if (lws_http_transaction_completed(wsi))
            return -1;
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}
