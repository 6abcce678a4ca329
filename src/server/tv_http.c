#define _DEFAULT_SOURCE   /* realpath */
#define _POSIX_C_SOURCE 200809L
#include "tv_http.h"
#include "tv_err.h"
#include "tv_api.h"
#include "tv_jobs.h"
#include "tv_clock.h"

#include <sodium.h>
#include <time.h>

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

/* shared: the one file other sites load (the EHR's <script src=".../embed.js">) */
static int security_headers(struct lws *wsi, const char *csp, int cacheable, int shared, unsigned char **p, unsigned char *end)
{
    return add_header(wsi, "content-security-policy:", csp, p, end) ||
           add_header(wsi, "strict-transport-security:", "max-age=31536000", p, end) ||
           add_header(wsi, "referrer-policy:", "no-referrer", p, end) ||
           add_header(wsi, "x-content-type-options:", "nosniff", p, end) ||
           add_header(wsi, "permissions-policy:", "camera=(self), microphone=(self), display-capture=(self)", p, end) ||
           add_header(wsi, "cross-origin-resource-policy:", shared ? "cross-origin" : "same-origin", p, end) ||
           add_header(wsi, "cache-control:", cacheable ? "public, max-age=31536000, immutable" : "no-store", p, end);
}

static tv_http *http_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

static void answer_reset(tv_http_session *s)
{
    if (s->out) {
        sodium_memzero(s->out, s->out_len);
        free(s->out);
    }
    s->out = NULL;
    s->out_len = s->out_off = 0;
    s->headers_done = 0;
    s->set_cookie[0] = s->disposition[0] = s->location[0] = '\0';
    s->retry_after_s = 0;
}

static void request_reset(tv_http_session *s)
{
    if (s->in) {
        sodium_memzero(s->in, s->in_len);   /* passwords */
        free(s->in);
    }
    s->in = NULL;
    s->in_len = 0;
    s->path[0] = '\0';   /* an over-long API path must not inherit the last request's */
    s->api_post = s->too_large = s->refuse_after_body = 0;
}

/* Takes body (malloc'd) and writes it, with the headers, when the connection can take it. */
static int answer(struct lws *wsi, tv_http_session *s, int status, const char *type, char *body, size_t len)
{
    answer_reset(s);
    s->status = status;
    s->content_type = type;
    s->out = body;
    s->out_len = len;
    s->head_only = lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
    lws_callback_on_writable(wsi);
    return 0;
}

static int send_json(struct lws *wsi, tv_http_session *s, unsigned status, const char *code, const char *message)
{
    char buf[512];
    int n = code ? snprintf(buf, sizeof buf, "{\"error\":\"%s\",\"message\":\"%s\"}", code, message)
                 : snprintf(buf, sizeof buf, "%s", message);
    char *body = n > 0 && (size_t)n < sizeof buf ? malloc((size_t)n + 1) : NULL;
    if (body == NULL)
        return -1;
    memcpy(body, buf, (size_t)n + 1);
    return answer(wsi, s, (int)status, "application/json", body, (size_t)n);
}

static int write_headers(struct lws *wsi, tv_http_session *s)
{
    unsigned char buf[LWS_PRE + 6144], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
    char retry[16];
    snprintf(retry, sizeof retry, "%d", s->retry_after_s);
    if (lws_add_http_common_headers(wsi, (unsigned)s->status, s->content_type, s->out_len, &p, end) ||
        security_headers(wsi, http_of(wsi)->csp, 0, 0, &p, end) ||
        (s->set_cookie[0] && add_header(wsi, "set-cookie:", s->set_cookie, &p, end)) ||
        (s->location[0] && add_header(wsi, "location:", s->location, &p, end)) ||
        (s->disposition[0] && add_header(wsi, "content-disposition:", s->disposition, &p, end)) ||
        (s->retry_after_s > 0 && add_header(wsi, "retry-after:", retry, &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    s->headers_done = 1;
    return 0;
}

/* Headers, then the body in pieces the connection can take; a transaction ends with the last one. */
static int write_answer(struct lws *wsi, tv_http_session *s)
{
    if (!s->headers_done) {
        if (write_headers(wsi, s) != 0)
            return -1;
        if (s->head_only || s->out_len == 0) {
            answer_reset(s);
            return lws_http_transaction_completed(wsi) ? -1 : 0;
        }
        lws_callback_on_writable(wsi);
        return 0;
    }
    /* Under HTTP/2 libwebsockets refuses a write larger than its service buffer (4 KiB) or than
     * the peer's flow-control window: the answer stopped after its headers. */
    enum { CHUNK = 4096 };
    unsigned char buf[LWS_PRE + CHUNK];
    size_t n = s->out_len - s->out_off < CHUNK ? s->out_len - s->out_off : CHUNK;
    lws_fileofs_t allow = lws_get_peer_write_allowance(wsi);
    if (allow == 0) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (allow > 0 && (size_t)allow < n)
        n = (size_t)allow;
    int last = s->out_off + n == s->out_len;
    memcpy(buf + LWS_PRE, s->out + s->out_off, n);
    if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
        return -1;
    sodium_memzero(buf + LWS_PRE, n);
    s->out_off += n;
    if (!last) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    answer_reset(s);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int serve_file(struct lws *wsi, tv_http_session *s, const char *rel)
{
    tv_http *h = http_of(wsi);
    char full[TV_HTTP_PATH_MAX], real[TV_HTTP_PATH_MAX];
    const char *mime = tv_http_mime(rel);
    struct stat st;
    if (mime == NULL || (size_t)snprintf(full, sizeof full, "%s/%s", h->root, rel) >= sizeof full ||
        realpath(full, real) == NULL || strncmp(real, h->root, strlen(h->root)) != 0 ||
        real[strlen(h->root)] != '/' || stat(real, &st) != 0 || !S_ISREG(st.st_mode))
        return send_json(wsi, s, HTTP_STATUS_NOT_FOUND, "not_found", "There is nothing here.");
    unsigned char buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
    if (security_headers(wsi, h->csp, tv_http_versioned(rel), strcmp(rel, "embed.js") == 0, &p, end))
        return -1;
    int n = lws_serve_http_file(wsi, real, mime, (const char *)start, lws_ptr_diff(p, start));
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}

static int serve_static(struct lws *wsi, tv_http_session *s, const char *uri)
{
    char rel[256];
    /* /v/TOKEN: the patient's page; the token stays in the address bar, never in a Referer. A
     * malformed token gets the page too, which tells the patient the link is not valid. */
    if (strncmp(uri, "/v/", 3) == 0 && strchr(uri + 3, '/') == NULL)
        return serve_file(wsi, s, "visit.html");
    if (tv_http_safe_path(uri, rel, sizeof rel) != 0)
        return send_json(wsi, s, HTTP_STATUS_BAD_REQUEST, "bad_path", "This path is not allowed.");
    return serve_file(wsi, s, rel);
}

static void header(struct lws *wsi, enum lws_token_indexes t, char *buf, size_t size, const char **out)
{
    buf[0] = '\0';
    *out = lws_hdr_copy(wsi, buf, (int)size, t) > 0 ? buf : NULL;
}

const char *tv_http_host(struct lws *wsi, char *buf, size_t size)
{
    const char *out;
    header(wsi, WSI_TOKEN_HOST, buf, size, &out);
    if (out == NULL)
        header(wsi, WSI_TOKEN_HTTP_COLON_AUTHORITY, buf, size, &out);
    return out;
}

/* Hands the request to a worker; the answer comes back through tv_http_jobs_done. */
static int submit_api(struct lws *wsi, tv_http_session *s, const char *method)
{
    tv_http *h = http_of(wsi);
    char cookie[2048], session[TV_TOKEN_STRBYTES], bind[TV_TOKEN_STRBYTES], ip[64], host[256], origin[300], ctype[128],
        query[8192];
    tv_api_req rq = { .method = method, .path = s->path, .body = s->in, .body_len = s->in_len };
    const char *c;
    header(wsi, WSI_TOKEN_HTTP_COOKIE, cookie, sizeof cookie, &c);
    rq.session = c && tv_api_cookie_token(c, session, sizeof session) == 0 ? session : NULL;
    rq.sso_bind = c && tv_api_cookie_named(c, TV_API_SSO_COOKIE, bind, sizeof bind) == 0 ? bind : NULL;
    rq.host = tv_http_host(wsi, host, sizeof host);
    header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof origin, &rq.origin);
    header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, ctype, sizeof ctype, &rq.content_type);
    /* a known header (WSI_TOKEN_X_AUTH_TOKEN): over HTTP/2 libwebsockets 4.1 keeps no other */
    char page[sizeof TV_API_PAGE_VALUE + 1], site[32];
    const char *pv;
    header(wsi, WSI_TOKEN_X_AUTH_TOKEN, page, sizeof page, &pv);
    rq.from_page = pv && strcmp(pv, TV_API_PAGE_VALUE) == 0;
    /* over HTTP/1.1 only: libwebsockets 4.1 keeps no unknown header of an HTTP/2 stream. One too long
     * to read is there all the same, and names no origin. */
    rq.fetch_site = lws_hdr_custom_length(wsi, "sec-fetch-site:", 15) < 0 ? NULL
                    : lws_hdr_custom_copy(wsi, site, sizeof site, "sec-fetch-site:", 15) >= 0 ? site : "";
    /* libwebsockets keeps each argument as a fragment, decoded (lws_hdr_copy would join them
     * without their '&'). The API gets them joined by '&' again, with '%' and '&' in them encoded, so
     * a value holding either comes back whole. An argument too long for the buffer is skipped. */
    size_t qn = 0;
    char frag[4096];
    for (int i = 0, n; i < 64 && lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) > 0; i++) {
        if ((n = lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i)) < 0)
            continue;
        for (int k = 0; k < n && qn + 4 < sizeof query; k++) {
            if (k == 0 && qn)
                query[qn++] = '&';
            if (frag[k] == '%' || frag[k] == '&') {
                qn += (size_t)snprintf(query + qn, 4, "%%%02X", (unsigned char)frag[k]);
            } else {
                query[qn++] = frag[k];
            }
        }
    }
    query[qn] = '\0';
    sodium_memzero(frag, sizeof frag);
    rq.query = qn ? query : NULL;
    lws_get_peer_simple(wsi, ip, sizeof ip);
    rq.ip = ip;
    rq.now_ms = tv_clock_ms();
    if (s->too_large) {   /* what was read is dropped; the API answers 413 without it */
        rq.body = NULL;
        rq.body_len = 0;
        rq.body_too_large = 1;
    }
    int rc = tv_jobs_submit(h->jobs, wsi, &rq, &s->job);
    sodium_memzero(cookie, sizeof cookie);
    sodium_memzero(session, sizeof session);
    sodium_memzero(bind, sizeof bind);
    sodium_memzero(query, sizeof query);   /* an authorization code */
    request_reset(s);
    if (rc == TV_ERR_BUSY)
        return send_json(wsi, s, HTTP_STATUS_SERVICE_UNAVAILABLE, "busy", "The server is busy. Try again in a moment.");
    return rc == 0 ? 0 : -1;
}

void tv_http_jobs_done(tv_http *h)
{
    tv_job *job;
    while ((job = tv_jobs_take_done(h->jobs)) != NULL) {
        struct lws *wsi = job->wsi;
        if (wsi) {
            tv_http_session *s = lws_wsi_user(wsi);
            s->job = NULL;
            if (job->rs.body == NULL) {   /* the API could not build an answer (out of memory) */
                send_json(wsi, s, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out_of_memory", "The server could not answer. Try again.");
                tv_job_free(job);
                continue;
            }
            answer(wsi, s, job->rs.status ? job->rs.status : 500,
                   job->rs.content_type ? job->rs.content_type : "application/json", job->rs.body, job->rs.body_len);
            snprintf(s->set_cookie, sizeof s->set_cookie, "%s", job->rs.set_cookie);
            snprintf(s->location, sizeof s->location, "%s", job->rs.location);
            snprintf(s->disposition, sizeof s->disposition, "%s", job->rs.disposition);
            s->retry_after_s = job->rs.retry_after_s;
            job->rs.body = NULL;   /* the session owns it now */
            job->rs.body_len = 0;
        }
        tv_job_free(job);
    }
}

int tv_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    tv_http_session *s = user;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
        tv_http *h = lws_context_user(lws_get_context(wsi));
        if (h->jobs)
            tv_http_jobs_done(h);
        return 0;
    }
    case LWS_CALLBACK_HTTP: {
        const char *uri = in;
        int is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
        int is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
        /* /launch: where an EHR starts a SMART launch (the path the SMART spec's examples use) */
        int is_api = (strncmp(uri, "/api/", 5) == 0 || strcmp(uri, "/launch") == 0) && http_of(wsi)->jobs != NULL;
        request_reset(s);
        if (is_api && strlen(uri) < sizeof s->path)
            snprintf(s->path, sizeof s->path, "%s", uri);
        if (is_api && is_get)
            return submit_api(wsi, s, "GET");
        if (!is_get && lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) <= 0) {
            /* libwebsockets reads a request body before it lets us answer: wait for one that is coming
             * (a non-zero length), answer now when there is none. */
            char cl[24] = "";
            int chunked = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
            lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH);
            unsigned long long n = strtoull(cl, NULL, 10);
            /* libwebsockets 4.1 neither reports nor decodes a chunked request body: without a
             * Content-Length the API cannot know where a body ends, so it answers at once (what
             * follows is parsed as the next request, which fails and ends the connection) */
            int has_length = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
            if (chunked || !has_length) {
                return is_api && is_post
                           ? send_json(wsi, s, 411, "length_required", "Send the body with a Content-Length.")
                           : send_json(wsi, s, HTTP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                                       is_api ? "This method is not allowed here." : "Only GET and HEAD are allowed here.");
            }
            if (is_api && is_post) {
                s->api_post = 1;
                s->too_large = n > TV_API_BODY_MAX;
                if (n == 0)
                    return submit_api(wsi, s, "POST");
                return 0;
            }
            if (n == 0)
                return send_json(wsi, s, HTTP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                                 is_api ? "This method is not allowed here." : "Only GET and HEAD are allowed here.");
            s->refuse_after_body = 1;
            return 0;
        }
        if (strcmp(uri, "/healthz") == 0)
            return send_json(wsi, s, HTTP_STATUS_OK, NULL, "{\"status\":\"ok\"}");
        return serve_static(wsi, s, uri);
    }
    case LWS_CALLBACK_HTTP_BODY:
        if (s && s->api_post && !s->too_large) {
            if (s->in_len + len > TV_API_BODY_MAX) {
                s->too_large = 1;   /* read on and dropped; answered 413 */
                return 0;
            }
            char *grown = realloc(s->in, s->in_len + len + 1);
            if (grown == NULL)
                return -1;
            s->in = grown;
            memcpy(s->in + s->in_len, in, len);
            s->in_len += len;
        }
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (s && s->api_post)
            return submit_api(wsi, s, "POST");
        if (s && s->refuse_after_body) {
            s->refuse_after_body = 0;
            return send_json(wsi, s, HTTP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                             "Only GET and HEAD are allowed here.");
        }
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (s == NULL || s->out == NULL)
            break;
        return write_answer(wsi, s);
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        if (lws_http_transaction_completed(wsi))
            return -1;
        return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (s) {
            if (s->job)
                tv_jobs_orphan(http_of(wsi)->jobs, s->job);
            s->job = NULL;
            request_reset(s);
            answer_reset(s);
        }
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}
