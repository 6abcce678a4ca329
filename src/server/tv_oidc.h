/* televisitd as an OpenID Connect relying party: the providers named in a JSON file, their discovery
 * documents and key sets fetched over HTTPS (libcurl) and cached, the authorization request with
 * PKCE S256, state and nonce, and the code exchange whose ID token tv_jwt checks. A SMART on FHIR
 * provider also names the FHIR base an EHR launch comes from. Blocking: called on API workers. */
#ifndef TV_OIDC_H
#define TV_OIDC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define TV_OIDC_PROVIDERS 8
#define TV_OIDC_URL 512
#define TV_OIDC_DOC_MAX 65536           /* discovery, JWKS and token answers larger than this are refused */
#define TV_OIDC_JWKS_REFRESH_MS 5000     /* an unknown kid refetches the key set at most this often */
#define TV_OIDC_CACHE_MS 3600000         /* discovery and keys are refetched after an hour */
#define TV_OIDC_RETRY_MS 30000           /* after a failed discovery: no new attempt for this long */

typedef struct tv_oidc_provider {
    char id[32];                    /* [a-z0-9_-], in the start request */
    char name[64];                  /* shown on the sign-in button */
    char issuer[TV_OIDC_URL];
    char client_id[256];
    char client_secret[256];        /* client_secret_basic; empty: a public client (PKCE alone) */
    char scopes[256];               /* "openid" is always sent; default "openid email profile" */
    char fhir_base[TV_OIDC_URL];    /* SMART: the iss of an EHR launch; empty: not a SMART provider */
    int auto_provision;             /* an unknown subject with a verified e-mail gets an account */
    /* cached, under the registry's lock */
    char auth_ep[TV_OIDC_URL], token_ep[TV_OIDC_URL], jwks_uri[TV_OIDC_URL];
    int64_t discovered_ms;
    int64_t failed_ms;             /* the last failed discovery: a provider that is down costs one wait, not one per request */
    char *jwks;
    int64_t jwks_ms;
} tv_oidc_provider;

typedef struct tv_oidc {
    tv_oidc_provider p[TV_OIDC_PROVIDERS];
    int n;
    char ca_file[TV_OIDC_URL];      /* extra CA bundle for the providers' TLS; empty: the system's */
    pthread_mutex_t lock;
} tv_oidc;

/* Who the provider says signed in, from a verified ID token (and, for SMART, the token answer). */
typedef struct tv_oidc_identity {
    char issuer[TV_OIDC_URL];
    char subject[256];
    char email[256];
    int email_verified;
    char fhir_user[TV_OIDC_URL];    /* SMART fhirUser claim, e.g. https://ehr/fhir/Practitioner/7 */
    char patient[128];              /* SMART launch context */
    char visit[64];                 /* launch context "televisit_visit": a visit the EHR opened */
} tv_oidc_identity;

/* Loads the providers file ({"providers":[{id, name, issuer, client_id, client_secret, scopes,
 * fhir_base, auto_provision}]}). A file others can read is refused: it holds client secrets. An
 * empty path leaves the registry empty. */
int tv_oidc_init(tv_oidc *o, const char *path, const char *ca_file, char *err, size_t err_size);
void tv_oidc_free(tv_oidc *o);

/* The provider's index by id, or by the FHIR base an EHR launch names; TV_ERR_NOT_FOUND. */
int tv_oidc_find(const tv_oidc *o, const char *id, int *idx);
int tv_oidc_find_fhir(const tv_oidc *o, const char *iss, int *idx);

/* The verifier and challenge of PKCE (RFC 7636) and the nonce, all derived from the state under
 * key, so nothing secret about a pending sign-in is stored. Out: 44-byte strings (43 + NUL). */
int tv_oidc_derive(const uint8_t key[32], const char *state, char verifier[44], char challenge[44], char nonce[44]);

/* The authorization URL (discovers the provider first). launch: the EHR's launch parameter or NULL. */
int tv_oidc_auth_url(tv_oidc *o, int idx, const char *redirect_uri, const char *state, const char *nonce,
                     const char *challenge, const char *launch, int64_t now_ms, char *out, size_t out_size);

/* Exchanges the code, verifies the ID token (iss, aud, nonce, times; the key set is refetched once
 * for an unknown kid) and fills id. Errors: TV_ERR_JWT_* from the token, TV_ERR_UNAUTHORIZED when
 * the provider refuses the code (used twice, expired), TV_ERR_BUSY when it cannot be reached. */
int tv_oidc_exchange(tv_oidc *o, int idx, const char *redirect_uri, const char *code, const char *verifier,
                     const char *nonce, int64_t now_ms, tv_oidc_identity *id);

#endif
