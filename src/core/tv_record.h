/* Encrypted records: the one format for data at rest, in the server's database (TOTP secrets, chat)
 * and in the browser's IndexedDB cache. XChaCha20-Poly1305 with a random nonce per record; the
 * caller's record identity (table, column, row id; or store and key) is authenticated as associated
 * data, so a ciphertext copied to another row or key does not open. Keys per purpose come from one
 * master key (libsodium's KDF). */
#ifndef TV_RECORD_H
#define TV_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define TV_RECORD_KEYBYTES 32
#define TV_RECORD_VERSION 1
#define TV_RECORD_OVERHEAD (1 + 24 + 16)   /* version byte, nonce, tag */
#define TV_RECORD_IDENTITY_MAX 256

/* Purposes of subkeys; a number is never reused for something else. */
enum tv_record_purpose {
    TV_RECORD_TOTP_SECRET = 1,
    TV_RECORD_RECOVERY = 2,
    TV_RECORD_CHAT = 3,
    TV_RECORD_BACKUP = 4,
    TV_RECORD_CACHE = 5,
    TV_RECORD_VISIT_LABEL = 6,
    TV_RECORD_CACHE_SHARE = 7,   /* the per-user share of the browser cache key */
    TV_RECORD_SSO = 8,           /* derives the PKCE verifier and nonce of a pending single sign-on */
    TV_RECORD_THROTTLE = 9,      /* keys the sign-in throttle's names for accounts (known or not) */
};

int tv_record_subkey(const uint8_t master[TV_RECORD_KEYBYTES], uint64_t purpose, uint8_t out[TV_RECORD_KEYBYTES]);

/* identity: NUL-free parts joined by the caller, e.g. tv_record_identity("users", "totp_secret", 42). */
int tv_record_identity(const char *table, const char *column, int64_t row, char *out, size_t out_size, size_t *out_len);

/* out = version || nonce || ciphertext || tag: pt_len + TV_RECORD_OVERHEAD bytes. */
int tv_record_seal(const uint8_t key[TV_RECORD_KEYBYTES], const char *identity, size_t identity_len,
                   const uint8_t *pt, size_t pt_len, uint8_t *out, size_t out_size, size_t *out_len);

/* TV_ERR_ENCODING for an unknown version or a record too short to be one; TV_ERR_RECORD_AUTH for a
 * wrong key, a changed byte or another identity. out holds nothing usable on failure. */
int tv_record_open(const uint8_t key[TV_RECORD_KEYBYTES], const char *identity, size_t identity_len,
                   const uint8_t *rec, size_t rec_len, uint8_t *out, size_t out_size, size_t *out_len);

#endif
