#include "tv_turn.h"
#include "tv_err.h"

#include <cjson/cJSON.h>
#include <mbedtls/md.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

int tv_turn_credential(const char *secret, size_t secret_len, int64_t expiry_s, const char *label,
                       char *username, size_t username_size, char *credential, size_t credential_size)
{
    int n = snprintf(username, username_size, "%lld:%s", (long long)expiry_s, label);
    if (n < 0 || (size_t)n >= username_size || strchr(label, ':'))
        return TV_ERR_INVALID;
    uint8_t mac[20];   /* SHA-1 is what coturn's REST mode uses; as an HMAC it is still sound */
    if (mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA1), (const unsigned char *)secret, secret_len,
                        (const unsigned char *)username, (size_t)n, mac) != 0)
        return TV_ERR_INVALID;
    if (credential_size < sodium_base64_ENCODED_LEN(sizeof mac, sodium_base64_VARIANT_ORIGINAL))
        return TV_ERR_NOSPACE;
    sodium_bin2base64(credential, credential_size, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(mac, sizeof mac);
    return 0;
}

/* The order the browser is given, the order the overviews promise: STUN (direct paths), then TURN over
 * UDP, TURN over TCP, TURN over TLS last (the one a firewall that lets out only TLS on 443 leaves). */
static int ice_rank(const char *url)
{
    if (strncmp(url, "stun:", 5) == 0)
        return 0;
    if (strncmp(url, "turns:", 6) == 0)
        return 3;
    return strstr(url, "transport=tcp") ? 2 : 1;
}

cJSON *tv_turn_ice_servers(const char *urls, const char *secret, int ttl_s, int64_t now_s, const char *label)
{
    cJSON *list = cJSON_CreateArray(), *stun = NULL, *turn = NULL;
    char user[TV_TURN_USERNAME_MAX], cred[TV_TURN_CREDENTIAL_MAX], url[257];
    int have_cred = secret && secret[0] &&
                    tv_turn_credential(secret, strlen(secret), now_s + ttl_s, label, user, sizeof user, cred, sizeof cred) == 0;
    /* each rank in turn, each keeping the configured order within it */
    for (int rank = 0; rank < 4 && list; rank++) {
        for (const char *p = urls ? urls : ""; *p && list;) {
            while (*p == ' ')
                p++;
            size_t n = strcspn(p, " ");
            if (n == 0)
                break;
            if (n >= sizeof url) {
                p += n;
                continue;
            }
            snprintf(url, sizeof url, "%.*s", (int)n, p);
            p += n;
            int is_turn = strncmp(url, "turn:", 5) == 0 || strncmp(url, "turns:", 6) == 0;
            if (!is_turn && strncmp(url, "stun:", 5) != 0)
                continue;
            if (ice_rank(url) != rank || (is_turn && !have_cred))
                continue;   /* a TURN server without a credential is useless to a browser */
            cJSON **entry = is_turn ? &turn : &stun;
            if (*entry && cJSON_GetArraySize(cJSON_GetObjectItem(*entry, "urls")) == 4)
                *entry = NULL;
            if (*entry == NULL) {
                if (cJSON_GetArraySize(list) == 8)
                    goto done;
                *entry = cJSON_CreateObject();
                cJSON_AddArrayToObject(*entry, "urls");
                if (is_turn) {
                    cJSON_AddStringToObject(*entry, "username", user);
                    cJSON_AddStringToObject(*entry, "credential", cred);
                }
                cJSON_AddItemToArray(list, *entry);
            }
            cJSON_AddItemToArray(cJSON_GetObjectItem(*entry, "urls"), cJSON_CreateString(url));
        }
    }
done:
    sodium_memzero(cred, sizeof cred);
    return list;
}
