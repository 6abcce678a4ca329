/* Bearer tokens (invite links, session ids, activation and reset keys): 256 random bits as
 * URL-safe base64 without padding. The server keeps only a hash; presented tokens are checked
 * for shape first and compared with the stored hash in constant time. */
#ifndef TV_TOKEN_H
#define TV_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TV_TOKEN_BYTES 32
#define TV_TOKEN_CHARS 43           /* base64url, no padding */
#define TV_TOKEN_STRBYTES (TV_TOKEN_CHARS + 1)
#define TV_TOKEN_HASHBYTES 32

int tv_token_generate(char *out, size_t out_size);

/* TV_ERR_TOKEN_FORMAT unless token is exactly one canonical 43-character base64url string. */
int tv_token_check(const char *token, size_t token_len);

/* BLAKE2b-256 of the token's text. Tokens carry 256 random bits, so no salt or stretching is needed. */
int tv_token_hash(const char *token, size_t token_len, uint8_t *hash, size_t hash_size);

/* 0 if token hashes to stored; TV_ERR_TOKEN_MISMATCH otherwise. */
int tv_token_verify(const char *token, size_t token_len, const uint8_t *stored, size_t stored_len);

#endif
