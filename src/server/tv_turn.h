/* Time-limited TURN credentials for coturn's use-auth-secret mode (the "TURN REST API"): the
 * username is "<expiry unix time>:<label>" and the password base64(HMAC-SHA1(secret, username)), so
 * coturn checks them with the shared secret alone and they stop working at the expiry. */
#ifndef TV_TURN_H
#define TV_TURN_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

#define TV_TURN_USERNAME_MAX 128
#define TV_TURN_CREDENTIAL_MAX 64

int tv_turn_credential(const char *secret, size_t secret_len, int64_t expiry_s, const char *label,
                       char *username, size_t username_size, char *credential, size_t credential_size);

/* The ICE server list for a browser from space-separated URLs: stun: URLs in one entry, turn:/turns:
 * URLs (at most 4 per entry) with a fresh credential. Returns a cJSON array, or NULL. */
struct cJSON *tv_turn_ice_servers(const char *urls, const char *secret, int ttl_s, int64_t now_s, const char *label);

#endif
