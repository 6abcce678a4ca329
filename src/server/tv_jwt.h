/* Checks OpenID Connect ID tokens: a compact JWS (RFC 7515) signed RS256 or ES256 by a key of the
 * provider's JWK set (RFC 7517/7518), then the claims OpenID Connect Core 3.1.3.7 requires. Pure: the
 * caller fetches the key set and passes the time, so the tests hold RFC vectors and forged tokens. */
#ifndef TV_JWT_H
#define TV_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define TV_JWT_MAX 16384        /* longer tokens are refused before decoding */
#define TV_JWT_KID_MAX 128

typedef struct tv_jwt_expect {
    const char *issuer;     /* "iss" must equal it */
    const char *audience;   /* our client_id: in "aud"; with several audiences "azp" must equal it */
    const char *nonce;      /* "nonce" must equal it (compared in constant time); NULL: none was sent */
    int64_t now_s;
    int64_t leeway_s;       /* clock skew allowed on exp, nbf and iat */
    int64_t max_age_s;      /* iat no older than this */
} tv_jwt_expect;

/* The "kid" of the token's header ("" when absent), so the caller can refresh the key set when it
 * does not hold that key (rotation). TV_ERR_JWT_FORMAT for anything that is not a JWS (the same
 * parse as tv_jwt_verify's, so a kid of TV_JWT_KID_MAX bytes or more is malformed there too);
 * TV_ERR_NOSPACE when kid_size cannot hold the kid and its NUL. */
int tv_jwt_kid(const char *jwt, size_t jwt_len, char *kid, size_t kid_size);

/* Verifies the signature with a key of jwks (the JSON text of a JWK set) whose kid, kty and alg fit
 * the header, then the claims. "alg" must be RS256 or ES256: "none", HS*, and anything else are
 * TV_ERR_JWT_ALG. On success *claims is the payload (cJSON_Delete it); on failure it is NULL and the
 * code says why: TV_ERR_JWT_FORMAT, _ALG, _KEY (no such key, or the set is unusable), _SIGNATURE,
 * _EXPIRED, _TIME (iat in the future or too old, nbf not reached), _ISSUER, _AUDIENCE, _NONCE, _CLAIM
 * (sub, iat or exp missing or of the wrong type). TV_ERR_INVALID when claims or ex is NULL, or ex has
 * no issuer or audience or a negative leeway or max age. The order of the checks, which decides the
 * code when several fail, is written at the top of tv_jwt.c. */
int tv_jwt_verify(const char *jwt, size_t jwt_len, const char *jwks, size_t jwks_len, const tv_jwt_expect *ex,
                  cJSON **claims);

#endif
