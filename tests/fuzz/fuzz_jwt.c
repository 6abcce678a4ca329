/* libFuzzer target for the ID token check. The input is a token, then optionally a NUL byte and the
 * JWK set to verify it with; without a NUL the token is checked against a fixed set holding the public
 * keys the seed corpus was signed with (tests/fuzz/corpus/jwt), so mutations of valid tokens reach the
 * signature and claim checks. tv_jwt_kid and tv_jwt_verify must agree on what is a JWS, hand back
 * claims exactly when they succeed, and never read past the lengths they are given. */
#include "tv_err.h"
#include "tv_jwt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The RSA-2048 key "rsa-1" and the P-256 key "ec-1" of the seeds (made with openssl for the tests). */
static const char fixed_jwks[] =
    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"n\":\"od920gnO2sTKTymFaF8brfCDpIvrYY4YfEmy"
    "AqPWs5XCvftJ1xqFNiDMFvmxcJt7wfC7X5uBljgxt9rZXOYsdIBa-bf9nIdfGPeKgxYT4lWsKh6VIqWE6iloRSwR_v"
    "Tbfdbhrpae4KdMX3uwTdi6M0zEHxs4VCsnAOK-oB_97urY0RKf_nKCs2isa4nxJ00gXgZJIWD2g9Z1nXxv5JivUo8H"
    "YSUFhAvZvh_j-v4EdsofxyrwzvkX1CqklSAn_pD2P1yN1mFbyvjqis8EkvrtShxepLdAKJyFivO4tqTUUg-OdDYygi"
    "IsdqYEl_VGA39W-oOnJvWF66spvo8Jy6gLcw\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\""
    "kid\":\"ec-1\",\"x\":\"uUlH3hVekngQEKvtVNqnlqpmePlO1wn2Dhu3qRicIn8\",\"y\":\"UZep2B9neZG_b"
    "_I4C8qbtzS6DNXQpjs3LUkpfWWlWN4\"}]}";

static int known(int rc)
{
    return rc == 0 || rc == TV_ERR_NOMEM || (rc <= TV_ERR_JWT_FORMAT && rc >= TV_ERR_JWT_CLAIM);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t tok_len = nul != NULL ? (size_t)(nul - data) : size;
    /* Copies of exactly the given lengths, so ASan sees a read one byte past either. */
    char *tok = malloc(tok_len ? tok_len : 1), *jwks = NULL;
    size_t jwks_len;
    if (tok == NULL)
        return 0;
    memcpy(tok, data, tok_len);
    if (nul != NULL) {
        jwks_len = size - tok_len - 1;
        jwks = malloc(jwks_len ? jwks_len : 1);
        if (jwks == NULL) {
            free(tok);
            return 0;
        }
        memcpy(jwks, nul + 1, jwks_len);
    } else {
        jwks_len = sizeof fixed_jwks - 1;
        jwks = malloc(jwks_len);
        if (jwks == NULL) {
            free(tok);
            return 0;
        }
        memcpy(jwks, fixed_jwks, jwks_len);
    }

    char kid[TV_JWT_KID_MAX], small[8];
    int kid_rc = tv_jwt_kid(tok, tok_len, kid, sizeof kid);
    if (kid_rc != 0 && kid_rc != TV_ERR_JWT_FORMAT && kid_rc != TV_ERR_NOMEM)
        abort();
    if (kid_rc == 0 && strlen(kid) >= sizeof kid)
        abort();
    /* A short buffer changes nothing but the room: the same kid, or TV_ERR_NOSPACE when it is longer. */
    int small_rc = tv_jwt_kid(tok, tok_len, small, sizeof small);
    if (kid_rc != 0 ? small_rc != kid_rc
                    : strlen(kid) < sizeof small ? small_rc != 0 || strcmp(small, kid) != 0 : small_rc != TV_ERR_NOSPACE)
        abort();

    /* The seeds' time window; a nonce expected on even lengths only, so both branches run. */
    tv_jwt_expect ex = { .issuer = "https://idp.example.org", .audience = "televisit",
                         .nonce = tok_len % 2 == 0 ? "n-0S6_WzA2Mj" : NULL,
                         .now_s = 1700000000, .leeway_s = 60, .max_age_s = 600 };
    cJSON *claims = (cJSON *)&ex;   /* must be overwritten */
    int rc = tv_jwt_verify(tok, tok_len, jwks, jwks_len, &ex, &claims);
    if (!known(rc) || (rc == 0) != (claims != NULL))
        abort();
    /* Both parse the same way: what one calls malformed, the other does too. */
    if ((kid_rc == TV_ERR_JWT_FORMAT) != (rc == TV_ERR_JWT_FORMAT))
        abort();
    if (rc == 0) {
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
        if (!cJSON_IsObject(claims) || !cJSON_IsString(sub) || sub->valuestring[0] == '\0')
            abort();
        cJSON_Delete(claims);
    }
    free(tok);
    free(jwks);
    return 0;
}
