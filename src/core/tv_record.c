#include "tv_record.h"
#include "tv_err.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES

int tv_record_subkey(const uint8_t master[TV_RECORD_KEYBYTES], uint64_t purpose, uint8_t out[TV_RECORD_KEYBYTES])
{
    if (master == NULL || out == NULL || purpose == 0)
        return TV_ERR_INVALID;
    return crypto_kdf_derive_from_key(out, TV_RECORD_KEYBYTES, purpose, "tvrecord", master) == 0
               ? 0 : TV_ERR_INVALID;
}

int tv_record_identity(const char *table, const char *column, int64_t row, char *out, size_t out_size, size_t *out_len)
{
    if (table == NULL || column == NULL || out == NULL || !*table || !*column)
        return TV_ERR_INVALID;
    /* '/' cannot appear in either name, so two identities never spell alike. */
    if (strchr(table, '/') || strchr(column, '/'))
        return TV_ERR_INVALID;
    int n = snprintf(out, out_size, "%s/%s/%lld", table, column, (long long)row);
    if (n < 0 || (size_t)n >= out_size || n > TV_RECORD_IDENTITY_MAX)
        return TV_ERR_NOSPACE;
    if (out_len)
        *out_len = (size_t)n;
    return 0;
}

/* AD = version byte || identity: the version is authenticated with the rest. */
static int make_ad(const char *identity, size_t identity_len, uint8_t ad[1 + TV_RECORD_IDENTITY_MAX])
{
    if ((identity == NULL && identity_len > 0) || identity_len > TV_RECORD_IDENTITY_MAX)
        return TV_ERR_INVALID;
    ad[0] = TV_RECORD_VERSION;
    if (identity_len)
        memcpy(ad + 1, identity, identity_len);
    return 0;
}

int tv_record_seal(const uint8_t key[TV_RECORD_KEYBYTES], const char *identity, size_t identity_len,
                   const uint8_t *pt, size_t pt_len, uint8_t *out, size_t out_size, size_t *out_len)
{
    uint8_t ad[1 + TV_RECORD_IDENTITY_MAX];
    if (key == NULL || out == NULL || (pt == NULL && pt_len > 0) || make_ad(identity, identity_len, ad) != 0)
        return TV_ERR_INVALID;
    if (pt_len > out_size || out_size - pt_len < TV_RECORD_OVERHEAD)
        return TV_ERR_NOSPACE;
    out[0] = TV_RECORD_VERSION;
    randombytes_buf(out + 1, NONCE);
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 1 + NONCE, &clen, pt, pt_len, ad, 1 + identity_len,
                                               NULL, out + 1, key);
    if (out_len)
        *out_len = 1 + NONCE + (size_t)clen;
    return 0;
}

int tv_record_open(const uint8_t key[TV_RECORD_KEYBYTES], const char *identity, size_t identity_len,
                   const uint8_t *rec, size_t rec_len, uint8_t *out, size_t out_size, size_t *out_len)
{
    uint8_t ad[1 + TV_RECORD_IDENTITY_MAX];
    if (key == NULL || (rec == NULL && rec_len > 0) || make_ad(identity, identity_len, ad) != 0)
        return TV_ERR_INVALID;
    if (rec_len < TV_RECORD_OVERHEAD || rec[0] != TV_RECORD_VERSION)
        return TV_ERR_ENCODING;
    size_t pt_len = rec_len - TV_RECORD_OVERHEAD;
    if (pt_len > out_size || (out == NULL && pt_len > 0))
        return TV_ERR_NOSPACE;
    unsigned long long mlen;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, rec + 1 + NONCE, rec_len - 1 - NONCE,
                                                   ad, 1 + identity_len, rec + 1, key) != 0)
        return TV_ERR_RECORD_AUTH;
    if (out_len)
        *out_len = (size_t)mlen;
    return 0;
}
