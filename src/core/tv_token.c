#include "tv_token.h"
#include "tv_err.h"

#include <sodium.h>

int tv_token_generate(char *out, size_t out_size)
{
    uint8_t raw[TV_TOKEN_BYTES];
    if (out == NULL)
        return TV_ERR_INVALID;
    if (out_size < TV_TOKEN_STRBYTES)
        return TV_ERR_NOSPACE;
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, out_size, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    return 0;
}

int tv_token_check(const char *token, size_t token_len)
{
    uint8_t raw[TV_TOKEN_BYTES];
    size_t raw_len = 0;
    const char *end = NULL;
    if (token == NULL || token_len != TV_TOKEN_CHARS)
        return TV_ERR_TOKEN_FORMAT;
    /* libsodium rejects foreign characters and non-zero leftover bits, so one token has one spelling. */
    int rc = sodium_base642bin(raw, sizeof raw, token, token_len, NULL, &raw_len, &end,
                               sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    if (rc != 0 || raw_len != TV_TOKEN_BYTES || end != token + token_len)
        return TV_ERR_TOKEN_FORMAT;
    return 0;
}

int tv_token_hash(const char *token, size_t token_len, uint8_t *hash, size_t hash_size)
{
    int rc = tv_token_check(token, token_len);
    if (rc != 0)
        return rc;
    if (hash == NULL || hash_size != TV_TOKEN_HASHBYTES)
        return TV_ERR_INVALID;
    crypto_generichash(hash, hash_size, (const unsigned char *)token, token_len, NULL, 0);
    return 0;
}

int tv_token_verify(const char *token, size_t token_len, const uint8_t *stored, size_t stored_len)
{
    uint8_t h[TV_TOKEN_HASHBYTES];
    if (stored == NULL || stored_len != TV_TOKEN_HASHBYTES)
        return TV_ERR_INVALID;
    int rc = tv_token_hash(token, token_len, h, sizeof h);
    if (rc != 0)
        return rc;
    rc = sodium_memcmp(h, stored, sizeof h) == 0 ? 0 : TV_ERR_TOKEN_MISMATCH;
    sodium_memzero(h, sizeof h);
    return rc;
}
