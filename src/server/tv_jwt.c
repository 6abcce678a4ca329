/* OpenID Connect ID token verification (see tv_jwt.h).
 *
 * The checks run in this order, and the first failure is the code returned:
 *   1. shape (TV_ERR_JWT_FORMAT): at most TV_JWT_MAX bytes, exactly three dot-separated parts, each
 *      canonical unpadded base64url; header and payload non-empty strict UTF-8 JSON objects with no
 *      \u0000 escape and no repeated member name; no "crit" header; "kid", when present, a
 *      non-empty string of at most TV_JWT_KID_MAX - 1 bytes. (tv_jwt_kid stops here.)
 *   2. "alg" (TV_ERR_JWT_ALG): exactly "RS256" or "ES256".
 *   3. key (TV_ERR_JWT_KEY): the JWK set parses, and some key of it fits: the header's kid when it
 *      has one, kty RSA/EC (crv P-256) for the alg, "alg" (if any) equal to the header's, "use" (if
 *      any) "sig", "key_ops" (if any) listing "verify", and the key itself is sound (RSA modulus of
 *      2048 to 8192 bits, EC point on P-256).
 *   4. signature (TV_ERR_JWT_SIGNATURE): RSASSA-PKCS1-v1_5 SHA-256 with a signature exactly the
 *      modulus length, or ECDSA P-256 SHA-256 over a raw 64-byte r||s (RFC 7518 3.4; DER is refused).
 *   5. claims, only once the signature holds: iss (_ISSUER), aud and azp (_AUDIENCE), exp (_CLAIM if
 *      absent or not a number, then _EXPIRED), iat (_CLAIM, then _TIME), nbf (_CLAIM if not a
 *      number, then _TIME), sub (_CLAIM), nonce (_NONCE).
 * A token whose header has no kid is tried against at most TV_JWT_TRY keys of the right type. */
#include "tv_jwt.h"
#include "tv_err.h"
#include "tv_json.h"

#include <math.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/rsa.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define TV_JWKS_MAX 65536       /* the JWK sets of the big providers are a few KB */
#define TV_JWT_TRY 4            /* kid-less tokens: keys tried, so a large set costs a bounded time */
#define RSA_MIN_BITS 2048
#define RSA_MAX_BYTES 1024      /* 8192 bits: bounds the cost of a public operation */
#define RSA_E_MAX_BYTES 8       /* 65537 in practice; a huge exponent would only make verifying slow */
#define SUB_MAX 255             /* OpenID Connect Core 2: sub is at most 255 ASCII characters */
#define NUMERIC_DATE_MAX 253402300799.0   /* 9999-12-31T23:59:59Z: keeps the time arithmetic exact */

typedef struct jws {
    const char *signing_input;   /* "header.payload", hashed as ASCII */
    size_t signing_input_len;
    cJSON *header;
    cJSON *payload;
    unsigned char *sig;
    size_t sig_len;
} jws;

static void jws_free(jws *t)
{
    cJSON_Delete(t->header);
    cJSON_Delete(t->payload);
    free(t->sig);
    memset(t, 0, sizeof *t);
}

/* Canonical unpadded base64url only (libsodium refuses '=', foreign characters and non-zero leftover
 * bits), so one token has one spelling. The result is NUL-terminated for the JSON parser. */
static int b64url_decode(const char *in, size_t in_len, unsigned char **out, size_t *out_len)
{
    size_t cap = in_len / 4 * 3 + 3;
    unsigned char *buf = malloc(cap + 1);
    if (buf == NULL)
        return TV_ERR_NOMEM;
    size_t n = 0;
    const char *end = NULL;
    if (sodium_base642bin(buf, cap, in, in_len, NULL, &n, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != in + in_len) {
        free(buf);
        return TV_ERR_JWT_FORMAT;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* cJSON keeps repeated names as separate members and cJSON_GetObjectItem returns the first, while
 * another parser may take the last: a repeated name could mean two different tokens. Sorting the names
 * finds a repeat in n log n, so a payload of thousands of members is not a quadratic search. */
static int unique_names(const cJSON *obj)
{
    size_t n = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        n++;
    if (n < 2)
        return 0;
    const char **names = malloc(n * sizeof *names);
    if (names == NULL)
        return TV_ERR_NOMEM;
    size_t i = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        names[i++] = c->string != NULL ? c->string : "";
    qsort(names, n, sizeof *names, name_cmp);
    int rc = 0;
    for (i = 1; i < n && rc == 0; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            rc = TV_ERR_JWT_FORMAT;
    free(names);
    return rc;
}

static int decode_object(const char *part, size_t part_len, cJSON **out)
{
    unsigned char *text = NULL;
    size_t len = 0;
    if (part_len == 0)
        return TV_ERR_JWT_FORMAT;
    int rc = b64url_decode(part, part_len, &text, &len);
    if (rc != 0)
        return rc;
    /* The signaling parser's strict reading: UTF-8, no raw NUL, and no "\u0000", which cJSON would
     * turn into a C string's end, so "sub":"a\u0000b" would compare equal to "a". */
    cJSON *j = NULL;
    rc = tv_json_parse_strict((const char *)text, len, &j);
    free(text);
    if (rc == TV_ERR_NOMEM)
        return rc;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return TV_ERR_JWT_FORMAT;
    }
    rc = unique_names(j);
    if (rc != 0) {
        cJSON_Delete(j);
        return rc;
    }
    *out = j;
    return 0;
}

/* Step 1 of the order above. */
static int jws_parse(const char *jwt, size_t jwt_len, jws *t)
{
    memset(t, 0, sizeof *t);
    if (jwt == NULL || jwt_len == 0 || jwt_len > TV_JWT_MAX)
        return TV_ERR_JWT_FORMAT;
    const char *dot1 = memchr(jwt, '.', jwt_len);
    if (dot1 == NULL)
        return TV_ERR_JWT_FORMAT;
    const char *dot2 = memchr(dot1 + 1, '.', jwt_len - (size_t)(dot1 + 1 - jwt));
    if (dot2 == NULL)
        return TV_ERR_JWT_FORMAT;
    const char *sig = dot2 + 1;
    size_t sig_len = jwt_len - (size_t)(sig - jwt);
    if (memchr(sig, '.', sig_len) != NULL)
        return TV_ERR_JWT_FORMAT;   /* five parts is JWE, or a JWS with junk appended */
    t->signing_input = jwt;
    t->signing_input_len = (size_t)(dot2 - jwt);
    int rc = decode_object(jwt, (size_t)(dot1 - jwt), &t->header);
    if (rc == 0)
        rc = decode_object(dot1 + 1, (size_t)(dot2 - dot1 - 1), &t->payload);
    if (rc == 0)
        rc = b64url_decode(sig, sig_len, &t->sig, &t->sig_len);
    if (rc == 0 && cJSON_GetObjectItemCaseSensitive(t->header, "crit") != NULL)
        rc = TV_ERR_JWT_FORMAT;   /* we understand no extension, and RFC 7515 4.1.11 says refuse */
    if (rc == 0) {
        const cJSON *kid = cJSON_GetObjectItemCaseSensitive(t->header, "kid");
        if (kid != NULL && (!cJSON_IsString(kid) || kid->valuestring[0] == '\0' ||
                            strlen(kid->valuestring) >= TV_JWT_KID_MAX))
            rc = TV_ERR_JWT_FORMAT;
    }
    if (rc != 0)
        jws_free(t);
    return rc;
}

int tv_jwt_kid(const char *jwt, size_t jwt_len, char *kid, size_t kid_size)
{
    if (kid == NULL || kid_size == 0)
        return TV_ERR_INVALID;
    kid[0] = '\0';
    jws t;
    int rc = jws_parse(jwt, jwt_len, &t);
    if (rc != 0)
        return rc;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(t.header, "kid");
    if (k != NULL) {
        size_t n = strlen(k->valuestring);
        if (n >= kid_size)
            rc = TV_ERR_NOSPACE;
        else
            memcpy(kid, k->valuestring, n + 1);
    }
    jws_free(&t);
    return rc;
}

/* ---- Keys ---- */

enum alg { ALG_RS256 = 1, ALG_ES256 };

static const char *str_member(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Whether a JWK may verify this token, from its parameters alone (RFC 7517 4). Parameters present
 * with the wrong type disqualify the key rather than being ignored. */
static int key_fits(const cJSON *jwk, enum alg alg, const char *alg_name, const char *kid)
{
    if (!cJSON_IsObject(jwk))
        return 0;
    const char *kty = str_member(jwk, "kty");
    if (kty == NULL || strcmp(kty, alg == ALG_RS256 ? "RSA" : "EC") != 0)
        return 0;
    if (alg == ALG_ES256) {
        const char *crv = str_member(jwk, "crv");
        if (crv == NULL || strcmp(crv, "P-256") != 0)
            return 0;
    }
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(jwk, "alg")) != NULL &&
        (!cJSON_IsString(v) || strcmp(v->valuestring, alg_name) != 0))
        return 0;
    if ((v = cJSON_GetObjectItemCaseSensitive(jwk, "use")) != NULL &&
        (!cJSON_IsString(v) || strcmp(v->valuestring, "sig") != 0))
        return 0;
    if ((v = cJSON_GetObjectItemCaseSensitive(jwk, "key_ops")) != NULL) {
        if (!cJSON_IsArray(v))
            return 0;
        int verify = 0;
        const cJSON *op;
        cJSON_ArrayForEach(op, v)
            if (cJSON_IsString(op) && strcmp(op->valuestring, "verify") == 0)
                verify = 1;
        if (!verify)
            return 0;
    }
    if (kid != NULL) {
        const char *k = str_member(jwk, "kid");
        if (k == NULL || strcmp(k, kid) != 0)
            return 0;
    }
    return 1;
}

/* A JWK member holding a base64url big-endian number (RFC 7518 6.3.1, 6.2.1). */
static int jwk_bytes(const cJSON *jwk, const char *name, unsigned char **out, size_t *out_len)
{
    const char *s = str_member(jwk, name);
    if (s == NULL || s[0] == '\0')
        return TV_ERR_JWT_KEY;
    size_t len = strlen(s);
    if (len > (RSA_MAX_BYTES + 2) / 3 * 4 + 4)
        return TV_ERR_JWT_KEY;
    int rc = b64url_decode(s, len, out, out_len);
    return rc == TV_ERR_JWT_FORMAT ? TV_ERR_JWT_KEY : rc;
}

/* 0: verified; TV_ERR_JWT_KEY: the key is unusable; TV_ERR_JWT_SIGNATURE: the signature fails. */
static int verify_rs256(const cJSON *jwk, const unsigned char hash[32], const unsigned char *sig, size_t sig_len)
{
    unsigned char *n = NULL, *e = NULL;
    size_t n_len = 0, e_len = 0;
    int rc = jwk_bytes(jwk, "n", &n, &n_len);
    if (rc == 0)
        rc = jwk_bytes(jwk, "e", &e, &e_len);
    if (rc != 0) {
        free(n);
        return rc;
    }
    mbedtls_rsa_context rsa;
    mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);
    if (n_len > RSA_MAX_BYTES + 1 || e_len > RSA_E_MAX_BYTES ||
        mbedtls_rsa_import_raw(&rsa, n, n_len, NULL, 0, NULL, 0, NULL, 0, e, e_len) != 0 ||
        mbedtls_rsa_complete(&rsa) != 0 || mbedtls_rsa_check_pubkey(&rsa) != 0 ||
        mbedtls_mpi_bitlen(&rsa.N) < RSA_MIN_BITS || mbedtls_rsa_get_len(&rsa) > RSA_MAX_BYTES)
        rc = TV_ERR_JWT_KEY;
    /* PKCS#1 v1.5 with a shorter signature is not a valid encoding (RFC 8017 8.2.2 step 1). */
    else if (sig_len != mbedtls_rsa_get_len(&rsa) ||
             mbedtls_rsa_pkcs1_verify(&rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC, MBEDTLS_MD_SHA256, 32, hash, sig) != 0)
        rc = TV_ERR_JWT_SIGNATURE;
    mbedtls_rsa_free(&rsa);
    free(n);
    free(e);
    return rc;
}

static int verify_es256(const cJSON *jwk, const unsigned char hash[32], const unsigned char *sig, size_t sig_len)
{
    unsigned char *x = NULL, *y = NULL;
    size_t x_len = 0, y_len = 0;
    int rc = jwk_bytes(jwk, "x", &x, &x_len);
    if (rc == 0)
        rc = jwk_bytes(jwk, "y", &y, &y_len);
    if (rc != 0) {
        free(x);
        return rc;
    }
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_mpi r, s;
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    /* RFC 7518 6.2.1.2: x and y are the full field size, never shortened. */
    if (x_len != 32 || y_len != 32 || mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) != 0 ||
        mbedtls_mpi_read_binary(&q.X, x, 32) != 0 || mbedtls_mpi_read_binary(&q.Y, y, 32) != 0 ||
        mbedtls_mpi_lset(&q.Z, 1) != 0 || mbedtls_ecp_check_pubkey(&grp, &q) != 0)
        rc = TV_ERR_JWT_KEY;
    /* JWS carries r||s, 32 bytes each; a DER signature (what most ECDSA APIs produce) is refused, not
     * converted, so a token has one encoding. mbedtls_ecdsa_verify refuses r or s outside [1, n-1]. */
    else if (sig_len != 64 || mbedtls_mpi_read_binary(&r, sig, 32) != 0 ||
             mbedtls_mpi_read_binary(&s, sig + 32, 32) != 0 || mbedtls_ecdsa_verify(&grp, hash, 32, &q, &r, &s) != 0)
        rc = TV_ERR_JWT_SIGNATURE;
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_group_free(&grp);
    free(x);
    free(y);
    return rc;
}

/* Steps 3 and 4: TV_ERR_JWT_KEY when no fitting, sound key exists, TV_ERR_JWT_SIGNATURE when one
 * does but none of those tried verifies. */
static int verify_signature(const jws *t, enum alg alg, const char *alg_name, const char *jwks, size_t jwks_len)
{
    if (jwks == NULL || jwks_len == 0 || jwks_len > TV_JWKS_MAX || memchr(jwks, '\0', jwks_len) != NULL)
        return TV_ERR_JWT_KEY;
    cJSON *set = NULL;
    if (tv_json_parse_strict(jwks, jwks_len, &set) == TV_ERR_NOMEM)
        return TV_ERR_NOMEM;
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(set, "keys");
    if (!cJSON_IsObject(set) || !cJSON_IsArray(keys)) {
        cJSON_Delete(set);
        return TV_ERR_JWT_KEY;
    }
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(hash, (const unsigned char *)t->signing_input, t->signing_input_len);
    const char *kid = str_member(t->header, "kid");
    int rc = TV_ERR_JWT_KEY, tried = 0;
    const cJSON *jwk;
    cJSON_ArrayForEach(jwk, keys) {
        if (!key_fits(jwk, alg, alg_name, kid))
            continue;
        int r = alg == ALG_RS256 ? verify_rs256(jwk, hash, t->sig, t->sig_len)
                                 : verify_es256(jwk, hash, t->sig, t->sig_len);
        if (r == 0 || r == TV_ERR_NOMEM) {
            rc = r;
            break;
        }
        /* A sound key that does not verify outranks an unusable one in the answer. */
        if (r == TV_ERR_JWT_SIGNATURE)
            rc = r;
        if (++tried >= TV_JWT_TRY)
            break;
    }
    cJSON_Delete(set);
    return rc;
}

/* ---- Claims ---- */

/* A NumericDate (RFC 7519 2): a JSON number, possibly fractional. Within the bound, doubles hold the
 * compared values exactly, and nothing overflows. */
static int numeric_date(const cJSON *v, double *out)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > NUMERIC_DATE_MAX)
        return TV_ERR_JWT_CLAIM;
    *out = v->valuedouble;
    return 0;
}

static int check_audience(const cJSON *claims, const char *audience)
{
    const cJSON *aud = cJSON_GetObjectItemCaseSensitive(claims, "aud");
    int n = 0, ours = 0;
    if (cJSON_IsString(aud)) {
        n = 1;
        ours = strcmp(aud->valuestring, audience) == 0;
    } else if (cJSON_IsArray(aud)) {
        const cJSON *a;
        cJSON_ArrayForEach(a, aud) {
            if (!cJSON_IsString(a))
                return TV_ERR_JWT_AUDIENCE;
            n++;
            if (strcmp(a->valuestring, audience) == 0)
                ours = 1;
        }
    }
    if (!ours)
        return TV_ERR_JWT_AUDIENCE;
    /* OpenID Connect Core 3.1.3.7 steps 4-5: with several audiences the token must say it was issued
     * to us (azp), and an azp naming another client means the token is not ours to accept. */
    const cJSON *azp = cJSON_GetObjectItemCaseSensitive(claims, "azp");
    if (azp != NULL || n > 1) {
        if (!cJSON_IsString(azp) || strcmp(azp->valuestring, audience) != 0)
            return TV_ERR_JWT_AUDIENCE;
    }
    return 0;
}

/* Step 5. */
static int check_claims(const cJSON *c, const tv_jwt_expect *ex)
{
    const char *iss = str_member(c, "iss");
    if (iss == NULL || strcmp(iss, ex->issuer) != 0)
        return TV_ERR_JWT_ISSUER;
    int rc = check_audience(c, ex->audience);
    if (rc != 0)
        return rc;
    double now = (double)ex->now_s, leeway = (double)ex->leeway_s;
    double exp, iat, nbf;
    if (numeric_date(cJSON_GetObjectItemCaseSensitive(c, "exp"), &exp) != 0)
        return TV_ERR_JWT_CLAIM;
    if (now > exp + leeway)
        return TV_ERR_JWT_EXPIRED;
    if (numeric_date(cJSON_GetObjectItemCaseSensitive(c, "iat"), &iat) != 0)
        return TV_ERR_JWT_CLAIM;
    if (iat > now + leeway || iat < now - (double)ex->max_age_s)
        return TV_ERR_JWT_TIME;
    const cJSON *nbf_item = cJSON_GetObjectItemCaseSensitive(c, "nbf");
    if (nbf_item != NULL) {
        if (numeric_date(nbf_item, &nbf) != 0)
            return TV_ERR_JWT_CLAIM;
        if (nbf > now + leeway)
            return TV_ERR_JWT_TIME;
    }
    const char *sub = str_member(c, "sub");
    if (sub == NULL || sub[0] == '\0' || strlen(sub) > SUB_MAX)
        return TV_ERR_JWT_CLAIM;
    if (ex->nonce != NULL) {
        /* The nonce binds the token to this browser's login; its length is not secret, its bytes are. */
        const char *nonce = str_member(c, "nonce");
        size_t len = strlen(ex->nonce);
        if (nonce == NULL || strlen(nonce) != len || sodium_memcmp(nonce, ex->nonce, len) != 0)
            return TV_ERR_JWT_NONCE;
    }
    return 0;
}

int tv_jwt_verify(const char *jwt, size_t jwt_len, const char *jwks, size_t jwks_len, const tv_jwt_expect *ex,
                  cJSON **claims)
{
    if (claims == NULL)
        return TV_ERR_INVALID;
    *claims = NULL;
    if (ex == NULL || ex->issuer == NULL || ex->issuer[0] == '\0' || ex->audience == NULL ||
        ex->audience[0] == '\0' || ex->leeway_s < 0 || ex->max_age_s < 0)
        return TV_ERR_INVALID;
    jws t;
    int rc = jws_parse(jwt, jwt_len, &t);
    if (rc != 0)
        return rc;
    const char *alg_name = str_member(t.header, "alg");
    enum alg alg = 0;
    if (alg_name != NULL && strcmp(alg_name, "RS256") == 0)
        alg = ALG_RS256;
    else if (alg_name != NULL && strcmp(alg_name, "ES256") == 0)
        alg = ALG_ES256;
    rc = alg != 0 ? verify_signature(&t, alg, alg_name, jwks, jwks_len) : TV_ERR_JWT_ALG;
    if (rc == 0)
        rc = check_claims(t.payload, ex);
    if (rc == 0) {
        *claims = t.payload;
        t.payload = NULL;
    }
    jws_free(&t);
    return rc;
}
