#define _POSIX_C_SOURCE 200809L
#include "tv_oidc.h"
#include "tv_err.h"
#include "tv_jwt.h"
#include "tv_json.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int fail(char *err, size_t n, const char *what, const char *detail)
{
    if (err && n)
        snprintf(err, n, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
    return TV_ERR_INVALID;
}

static int https_url(const char *s)
{
    return s && strncmp(s, "https://", 8) == 0 && s[8] != '\0' && strlen(s) < TV_OIDC_URL && !strpbrk(s, " \"<>\r\n");
}

static int copy_str(char *dst, size_t size, const cJSON *o, const char *name, int required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (v == NULL)
        return required ? TV_ERR_INVALID : 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= size)
        return TV_ERR_INVALID;
    memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

static int id_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n == strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-");
}

static int has_word(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = list; (p = strstr(p, w)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
            return 1;
    return 0;
}

static int provider_load(tv_oidc_provider *p, const cJSON *o, char *err, size_t err_size)
{
    if (!cJSON_IsObject(o))
        return fail(err, err_size, "oidc providers: each provider is an object", NULL);
    const cJSON *ap = cJSON_GetObjectItemCaseSensitive(o, "auto_provision");
    if (copy_str(p->id, sizeof p->id, o, "id", 1) || !id_ok(p->id) || copy_str(p->name, sizeof p->name, o, "name", 1) ||
        copy_str(p->issuer, sizeof p->issuer, o, "issuer", 1) || copy_str(p->client_id, sizeof p->client_id, o, "client_id", 1) ||
        copy_str(p->client_secret, sizeof p->client_secret, o, "client_secret", 0) ||
        copy_str(p->scopes, sizeof p->scopes, o, "scopes", 0) || copy_str(p->fhir_base, sizeof p->fhir_base, o, "fhir_base", 0) ||
        (ap && !cJSON_IsBool(ap)))
        return fail(err, err_size, "oidc providers: id ([a-z0-9_-]), name, issuer and client_id are required strings",
                    p->id[0] ? p->id : NULL);
    if (!https_url(p->issuer) || (p->fhir_base[0] && !https_url(p->fhir_base)))
        return fail(err, err_size, "oidc providers: issuer and fhir_base must be https URLs", p->id);
    if (p->scopes[0] == '\0')
        snprintf(p->scopes, sizeof p->scopes, "openid email profile");
    if (!has_word(p->scopes, "openid") || strspn(p->scopes, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-./:") != strlen(p->scopes))
        return fail(err, err_size, "oidc providers: scopes must include openid", p->id);
    p->auto_provision = cJSON_IsTrue(ap);
    return 0;
}

int tv_oidc_init(tv_oidc *o, const char *path, const char *ca_file, char *err, size_t err_size)
{
    memset(o, 0, sizeof *o);
    if (pthread_mutex_init(&o->lock, NULL) != 0)
        return fail(err, err_size, "oidc: cannot create a lock", NULL);
    snprintf(o->ca_file, sizeof o->ca_file, "%s", ca_file ? ca_file : "");
    if (path == NULL || path[0] == '\0')
        return 0;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return fail(err, err_size, "oidc providers file not found", path);
    if (sb.st_mode & 077)
        return fail(err, err_size, "oidc providers file holds client secrets: make it mode 0600", path);
    if (sb.st_size > TV_OIDC_DOC_MAX)
        return fail(err, err_size, "oidc providers file too large", path);
    FILE *f = fopen(path, "rb");
    char *text = f ? calloc(1, (size_t)sb.st_size + 1) : NULL;
    size_t n = text ? fread(text, 1, (size_t)sb.st_size, f) : 0;
    if (f)
        fclose(f);
    cJSON *root = text ? cJSON_ParseWithLength(text, n) : NULL;
    if (text) {
        sodium_memzero(text, n);
        free(text);
    }
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "providers");
    int rc = 0;
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > TV_OIDC_PROVIDERS)
        rc = fail(err, err_size, "oidc providers file: {\"providers\": [ ... ]}, at most 8", path);
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        if (rc != 0)
            break;
        rc = provider_load(&o->p[o->n], it, err, err_size);
        for (int i = 0; rc == 0 && i < o->n; i++)
            if (strcmp(o->p[i].id, o->p[o->n].id) == 0)
                rc = fail(err, err_size, "oidc providers: duplicate id", o->p[i].id);
        if (rc == 0)
            o->n++;
    }
    tv_json_free_wiped(root);   /* the client secrets are in the tree */
    return rc;
}

void tv_oidc_free(tv_oidc *o)
{
    for (int i = 0; i < o->n; i++)
        free(o->p[i].jwks);
    pthread_mutex_destroy(&o->lock);
    sodium_memzero(o, sizeof *o);
}

int tv_oidc_find(const tv_oidc *o, const char *id, int *idx)
{
    for (int i = 0; id && i < o->n; i++)
        if (strcmp(o->p[i].id, id) == 0)
            return *idx = i, 0;
    return TV_ERR_NOT_FOUND;
}

int tv_oidc_find_fhir(const tv_oidc *o, const char *iss, int *idx)
{
    for (int i = 0; iss && i < o->n; i++)
        if (o->p[i].fhir_base[0] && strcmp(o->p[i].fhir_base, iss) == 0)
            return *idx = i, 0;
    return TV_ERR_NOT_FOUND;
}

static void b64url(const uint8_t *in, size_t n, char *out, size_t out_size)
{
    sodium_bin2base64(out, out_size, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int tv_oidc_derive(const uint8_t key[32], const char *state, char verifier[44], char challenge[44], char nonce[44])
{
    uint8_t h[32];
    size_t n = strlen(state);
    crypto_generichash_state g;
    /* two domains under one key: the verifier must not be computable from the nonce (which the
     * provider echoes in the ID token) or the other way round */
    crypto_generichash_init(&g, key, 32, sizeof h);
    crypto_generichash_update(&g, (const uint8_t *)"pkce\0", 5);
    crypto_generichash_update(&g, (const uint8_t *)state, n);
    crypto_generichash_final(&g, h, sizeof h);
    b64url(h, sizeof h, verifier, 44);
    crypto_hash_sha256(h, (const uint8_t *)verifier, 43);
    b64url(h, sizeof h, challenge, 44);
    crypto_generichash_init(&g, key, 32, sizeof h);
    crypto_generichash_update(&g, (const uint8_t *)"nonce\0", 6);
    crypto_generichash_update(&g, (const uint8_t *)state, n);
    crypto_generichash_final(&g, h, sizeof h);
    b64url(h, sizeof h, nonce, 44);
    sodium_memzero(h, sizeof h);
    sodium_memzero(&g, sizeof g);
    return 0;
}

/* ---- HTTPS ---- */

typedef struct sink { char *buf; size_t len; int over; } sink;

static size_t on_data(char *p, size_t size, size_t nmemb, void *user)
{
    sink *s = user;
    size_t n = size * nmemb;
    if (s->len + n > TV_OIDC_DOC_MAX) {
        s->over = 1;
        return 0;
    }
    char *g = realloc(s->buf, s->len + n + 1);
    if (g == NULL)
        return 0;
    s->buf = g;
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

static void sink_free(sink *s)
{
    if (s->buf) {
        sodium_memzero(s->buf, s->len);
        free(s->buf);
    }
    memset(s, 0, sizeof *s);
}

/* GET, or POST of a form when form is set; HTTPS only, TLS 1.2 or later, no redirects, bounded in
 * size and time. *status is the HTTP status; TV_ERR_BUSY when the provider could not be reached. */
static int https(const tv_oidc *o, const char *url, const char *form, const char *basic, sink *out, long *status)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (c == NULL)
        return TV_ERR_NOMEM;
    struct curl_slist *hdr = curl_slist_append(NULL, "Accept: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    if (o->ca_file[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
    if (form) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
        if (basic) {
            curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
            curl_easy_setopt(c, CURLOPT_USERPWD, basic);
        }
    }
    CURLcode res = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    if (res != CURLE_OK || out->over) {
        if (res != CURLE_OK)
            fprintf(stderr, "televisitd: identity provider %s: %s\n", url, out->over ? "answer too large" : curl_easy_strerror(res));
        sink_free(out);
        return TV_ERR_BUSY;
    }
    return 0;
}

static cJSON *get_json(const tv_oidc *o, const char *url)
{
    sink s;
    long status;
    if (https(o, url, NULL, NULL, &s, &status) != 0)
        return NULL;
    cJSON *j = status == 200 && s.buf ? cJSON_ParseWithLength(s.buf, s.len) : NULL;
    if (j == NULL)
        fprintf(stderr, "televisitd: identity provider %s: HTTP %ld, no JSON\n", url, status);
    sink_free(&s);
    return j;
}

/* ---- discovery ---- */

static int discover(tv_oidc *o, int idx, int64_t now_ms)
{
    tv_oidc_provider *p = &o->p[idx];
    pthread_mutex_lock(&o->lock);
    int fresh = p->discovered_ms && now_ms - p->discovered_ms < TV_OIDC_CACHE_MS;
    int backing_off = !fresh && p->failed_ms && now_ms - p->failed_ms < TV_OIDC_RETRY_MS;
    pthread_mutex_unlock(&o->lock);
    if (fresh)
        return 0;
    if (backing_off)   /* a GET of /launch must not hold an API worker for 10 s each time */
        return TV_ERR_BUSY;
    /* A SMART provider is found from the FHIR base (SMART App Launch 2.0 section 2.3: with
     * sso-openid-connect the document carries issuer and jwks_uri too); others by OpenID Discovery. */
    char url[TV_OIDC_URL + 64];
    const char *base = p->fhir_base[0] ? p->fhir_base : p->issuer;
    size_t bl = strlen(base);
    snprintf(url, sizeof url, "%.*s/.well-known/%s", (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl), base,
             p->fhir_base[0] ? "smart-configuration" : "openid-configuration");
    cJSON *d = get_json(o, url);
    const char *iss = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "issuer"));
    const char *a = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "authorization_endpoint"));
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "token_endpoint"));
    const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "jwks_uri"));
    int rc = TV_ERR_BUSY;
    if (d && (iss == NULL || strcmp(iss, p->issuer) != 0)) {
        /* OpenID Discovery 4.3: a document naming another issuer is not this provider's */
        fprintf(stderr, "televisitd: identity provider %s: discovery names issuer %s\n", p->id, iss ? iss : "(none)");
    } else if (d && (!https_url(a) || !https_url(t) || !https_url(k))) {
        fprintf(stderr, "televisitd: identity provider %s: discovery lacks https endpoints\n", p->id);
    } else if (d) {
        pthread_mutex_lock(&o->lock);
        snprintf(p->auth_ep, sizeof p->auth_ep, "%s", a);
        snprintf(p->token_ep, sizeof p->token_ep, "%s", t);
        if (strcmp(p->jwks_uri, k) != 0) {
            free(p->jwks);
            p->jwks = NULL;
            p->jwks_ms = 0;
        }
        snprintf(p->jwks_uri, sizeof p->jwks_uri, "%s", k);
        p->discovered_ms = now_ms;
        p->failed_ms = 0;
        pthread_mutex_unlock(&o->lock);
        rc = 0;
    }
    if (rc != 0) {
        pthread_mutex_lock(&o->lock);
        p->failed_ms = now_ms;
        pthread_mutex_unlock(&o->lock);
    }
    cJSON_Delete(d);
    return rc;
}

static int fetch_jwks(tv_oidc *o, int idx, int64_t now_ms)
{
    tv_oidc_provider *p = &o->p[idx];
    char url[TV_OIDC_URL];
    pthread_mutex_lock(&o->lock);
    snprintf(url, sizeof url, "%s", p->jwks_uri);
    pthread_mutex_unlock(&o->lock);
    cJSON *k = get_json(o, url);
    char *text = cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(k, "keys")) ? cJSON_PrintUnformatted(k) : NULL;
    cJSON_Delete(k);
    if (text == NULL)
        return TV_ERR_BUSY;
    pthread_mutex_lock(&o->lock);
    free(p->jwks);
    p->jwks = text;
    p->jwks_ms = now_ms;
    pthread_mutex_unlock(&o->lock);
    return 0;
}

/* ---- the authorization request ---- */

static int append(char *out, size_t size, size_t *len, const char *name, const char *value)
{
    char *esc = curl_easy_escape(NULL, value, 0);
    if (esc == NULL)
        return TV_ERR_NOMEM;
    int n = snprintf(out + *len, size - *len, "%s%s=%s", *len && out[*len - 1] != '?' ? "&" : "", name, esc);
    curl_free(esc);
    if (n < 0 || (size_t)n >= size - *len)
        return TV_ERR_NOSPACE;
    *len += (size_t)n;
    return 0;
}

int tv_oidc_auth_url(tv_oidc *o, int idx, const char *redirect_uri, const char *state, const char *nonce,
                     const char *challenge, const char *launch, int64_t now_ms, char *out, size_t out_size)
{
    int rc = discover(o, idx, now_ms);
    if (rc != 0)
        return rc;
    const tv_oidc_provider *p = &o->p[idx];
    char scope[300];
    snprintf(scope, sizeof scope, "%s%s", p->scopes, launch && !has_word(p->scopes, "launch") ? " launch" : "");
    size_t len;
    pthread_mutex_lock(&o->lock);
    len = (size_t)snprintf(out, out_size, "%s%s", p->auth_ep, strchr(p->auth_ep, '?') ? "&" : "?");
    pthread_mutex_unlock(&o->lock);
    if (len >= out_size)
        return TV_ERR_NOSPACE;
    if ((rc = append(out, out_size, &len, "response_type", "code")) || (rc = append(out, out_size, &len, "client_id", p->client_id)) ||
        (rc = append(out, out_size, &len, "redirect_uri", redirect_uri)) || (rc = append(out, out_size, &len, "scope", scope)) ||
        (rc = append(out, out_size, &len, "state", state)) || (rc = append(out, out_size, &len, "nonce", nonce)) ||
        (rc = append(out, out_size, &len, "code_challenge", challenge)) ||
        (rc = append(out, out_size, &len, "code_challenge_method", "S256")))
        return rc;
    /* SMART: the launch handle, and aud naming the FHIR server the token is for */
    if (launch && ((rc = append(out, out_size, &len, "launch", launch)) || (rc = append(out, out_size, &len, "aud", p->fhir_base))))
        return rc;
    return 0;
}

/* ---- the code exchange ---- */

static void claim(char *dst, size_t size, const cJSON *o, const char *name)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
    if (v && strlen(v) < size)
        memcpy(dst, v, strlen(v) + 1);
}

int tv_oidc_exchange(tv_oidc *o, int idx, const char *redirect_uri, const char *code, const char *verifier,
                     const char *nonce, int64_t now_ms, tv_oidc_identity *id)
{
    memset(id, 0, sizeof *id);
    int rc = discover(o, idx, now_ms);
    if (rc != 0)
        return rc;
    const tv_oidc_provider *p = &o->p[idx];
    /* RFC 6749 2.3.1: client id and secret are form-encoded before they go into Basic */
    char *form = NULL, basic[1024] = "", token_ep[TV_OIDC_URL];
    char *cid = curl_easy_escape(NULL, p->client_id, 0), *csec = curl_easy_escape(NULL, p->client_secret, 0);
    char *ecode = curl_easy_escape(NULL, code, 0), *eredir = curl_easy_escape(NULL, redirect_uri, 0);
    if (cid && csec && ecode && eredir) {
        size_t n = strlen(ecode) + strlen(eredir) + strlen(cid) + 200;
        form = malloc(n);
        if (form)
            snprintf(form, n, "grant_type=authorization_code&code=%s&redirect_uri=%s&code_verifier=%s%s%s", ecode, eredir,
                     verifier, p->client_secret[0] ? "" : "&client_id=", p->client_secret[0] ? "" : cid);
        if (p->client_secret[0])
            snprintf(basic, sizeof basic, "%s:%s", cid, csec);
    }
    if (csec)
        sodium_memzero(csec, strlen(csec));
    curl_free(cid);
    curl_free(csec);
    curl_free(ecode);
    curl_free(eredir);
    if (form == NULL)
        return TV_ERR_NOMEM;
    pthread_mutex_lock(&o->lock);
    snprintf(token_ep, sizeof token_ep, "%s", p->token_ep);
    pthread_mutex_unlock(&o->lock);
    sink s;
    long status = 0;
    rc = https(o, token_ep, form, basic[0] ? basic : NULL, &s, &status);
    sodium_memzero(basic, sizeof basic);
    sodium_memzero(form, strlen(form));
    free(form);
    if (rc != 0)
        return rc;
    cJSON *t = s.buf ? cJSON_ParseWithLength(s.buf, s.len) : NULL;
    sink_free(&s);
    const char *idt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "id_token"));
    if (status != 200 || idt == NULL) {
        /* invalid_grant: a code used twice, expired, or issued to someone else */
        rc = status >= 400 && status < 500 ? TV_ERR_UNAUTHORIZED : TV_ERR_BUSY;
    } else {
        tv_jwt_expect ex = { .issuer = p->issuer, .audience = p->client_id, .nonce = nonce, .now_s = now_ms / 1000,
                             .leeway_s = 60, .max_age_s = 600 };
        cJSON *claims = NULL;
        for (int attempt = 0; attempt < 2; attempt++) {
            pthread_mutex_lock(&o->lock);
            int stale = p->jwks == NULL || now_ms - p->jwks_ms > TV_OIDC_CACHE_MS ||
                        (attempt == 1 && now_ms - p->jwks_ms > TV_OIDC_JWKS_REFRESH_MS);
            pthread_mutex_unlock(&o->lock);
            if (attempt == 1 && !stale)
                break;   /* refetched a moment ago: an unknown kid stays unknown */
            if (stale && (rc = fetch_jwks(o, idx, now_ms)) != 0)
                break;
            pthread_mutex_lock(&o->lock);
            char *jwks = strdup(p->jwks);
            pthread_mutex_unlock(&o->lock);
            rc = jwks ? tv_jwt_verify(idt, strlen(idt), jwks, strlen(jwks), &ex, &claims) : TV_ERR_NOMEM;
            free(jwks);
            if (rc != TV_ERR_JWT_KEY)
                break;   /* only a key we do not hold is worth a refetch (rotation) */
        }
        if (rc == 0) {
            claim(id->issuer, sizeof id->issuer, claims, "iss");
            claim(id->subject, sizeof id->subject, claims, "sub");
            claim(id->email, sizeof id->email, claims, "email");
            const cJSON *ev = cJSON_GetObjectItemCaseSensitive(claims, "email_verified");
            id->email_verified = cJSON_IsTrue(ev) || (cJSON_IsString(ev) && strcmp(ev->valuestring, "true") == 0);
            claim(id->fhir_user, sizeof id->fhir_user, claims, "fhirUser");
            claim(id->patient, sizeof id->patient, t, "patient");
            claim(id->visit, sizeof id->visit, t, "televisit_visit");
        }
        cJSON_Delete(claims);
    }
    tv_json_free_wiped(t);   /* access and refresh tokens are not kept */
    return rc;
}
