#include "tv_sframe.h"
#include "tv_err.h"

#include <mbedtls/hkdf.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define METADATA_MAX 256   /* our metadata is a codec's clear prefix: a few bytes */

/* ---- Header (RFC 9605 section 4.3) ---- */

static unsigned min_bytes(uint64_t v)
{
    unsigned n = 1;
    while (n < 8 && (v >> (8 * n)) != 0)
        n++;
    return n;
}

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

int tv_sframe_header_encode(uint64_t kid, uint64_t ctr, uint8_t *out, size_t out_size, size_t *out_len)
{
    if (out == NULL)
        return TV_ERR_INVALID;
    uint8_t h[TV_SFRAME_HEADER_MAX];
    size_t n = 1;
    h[0] = 0;
    if (kid < 8) {
        h[0] |= (uint8_t)(kid << 4);
    } else {
        unsigned b = min_bytes(kid);
        h[0] |= (uint8_t)(0x80 | ((b - 1) << 4));
        put_be(h + n, kid, b);
        n += b;
    }
    if (ctr < 8) {
        h[0] |= (uint8_t)ctr;
    } else {
        unsigned b = min_bytes(ctr);
        h[0] |= (uint8_t)(0x08 | (b - 1));
        put_be(h + n, ctr, b);
        n += b;
    }
    if (out_size < n)
        return TV_ERR_NOSPACE;
    memcpy(out, h, n);
    if (out_len)
        *out_len = n;
    return 0;
}

/* One field: inline value (0-7) or 1-8 big-endian bytes that must not fit in fewer. */
static int read_field(const uint8_t *in, size_t in_len, size_t *pos, int extended, unsigned small, uint64_t *v)
{
    if (!extended) {
        *v = small;
        return 0;
    }
    unsigned n = small + 1;
    if (in_len - *pos < n)
        return TV_ERR_SFRAME_SHORT;
    uint64_t x = 0;
    for (unsigned i = 0; i < n; i++)
        x = (x << 8) | in[*pos + i];
    if (x < 8 || min_bytes(x) != n)
        return TV_ERR_SFRAME_HEADER;
    *pos += n;
    *v = x;
    return 0;
}

int tv_sframe_header_decode(const uint8_t *in, size_t in_len, uint64_t *kid, uint64_t *ctr, size_t *header_len)
{
    if ((in == NULL && in_len > 0) || kid == NULL || ctr == NULL)
        return TV_ERR_INVALID;
    if (in_len < 1)
        return TV_ERR_SFRAME_SHORT;
    uint8_t c = in[0];
    size_t pos = 1;
    uint64_t k, t;
    int rc = read_field(in, in_len, &pos, c & 0x80, (c >> 4) & 7, &k);
    if (rc == 0)
        rc = read_field(in, in_len, &pos, c & 0x08, c & 7, &t);
    if (rc != 0)
        return rc;
    *kid = k;
    *ctr = t;
    if (header_len)
        *header_len = pos;
    return 0;
}

/* ---- Suites and keys (section 4.4.2) ---- */

typedef struct suite_info { tv_sframe_suite id; size_t nk, nt; mbedtls_md_type_t md; } suite_info;

static const suite_info suites[] = {
    { TV_SFRAME_AES_128_CTR_HMAC_SHA256_80, 48, 10, MBEDTLS_MD_SHA256 },
    { TV_SFRAME_AES_128_CTR_HMAC_SHA256_64, 48, 8, MBEDTLS_MD_SHA256 },
    { TV_SFRAME_AES_128_CTR_HMAC_SHA256_32, 48, 4, MBEDTLS_MD_SHA256 },
    { TV_SFRAME_AES_128_GCM_SHA256_128, 16, 16, MBEDTLS_MD_SHA256 },
    { TV_SFRAME_AES_256_GCM_SHA512_128, 32, 16, MBEDTLS_MD_SHA512 },
    { TV_SFRAME_CHACHA20_POLY1305_SHA256_128, 32, 16, MBEDTLS_MD_SHA256 },
};

static const suite_info *find_suite(tv_sframe_suite s)
{
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
        if (suites[i].id == s)
            return &suites[i];
    return NULL;
}

static int is_ctr_hmac(tv_sframe_suite s)
{
    return s == TV_SFRAME_AES_128_CTR_HMAC_SHA256_80 || s == TV_SFRAME_AES_128_CTR_HMAC_SHA256_64 ||
           s == TV_SFRAME_AES_128_CTR_HMAC_SHA256_32;
}

static int is_gcm(tv_sframe_suite s)
{
    return s == TV_SFRAME_AES_128_GCM_SHA256_128 || s == TV_SFRAME_AES_256_GCM_SHA512_128;
}

int tv_sframe_suite_sizes(tv_sframe_suite suite, size_t *key_len, size_t *tag_len)
{
    const suite_info *si = find_suite(suite);
    if (si == NULL)
        return TV_ERR_UNSUPPORTED;
    if (key_len)
        *key_len = si->nk;
    if (tag_len)
        *tag_len = si->nt;
    return 0;
}

/* label = text || KID as 8 bytes || suite as 2 bytes, all big-endian */
static size_t make_label(uint8_t *out, const char *text, uint64_t kid, tv_sframe_suite suite)
{
    size_t n = strlen(text);
    memcpy(out, text, n);
    put_be(out + n, kid, 8);
    put_be(out + n + 8, (uint64_t)suite, 2);
    return n + 10;
}

/* Sets up the cipher contexts for k->key (already in place). */
static int install(tv_sframe_key *k)
{
    int rc = 0;
    mbedtls_gcm_init(&k->gcm);
    mbedtls_md_init(&k->hmac);
    k->aes = NULL;
    k->ready = 1;
    if (is_gcm(k->suite))
        rc = mbedtls_gcm_setkey(&k->gcm, MBEDTLS_CIPHER_ID_AES, k->key, (unsigned)(k->key_len * 8));
    if (is_ctr_hmac(k->suite)) {
        k->aes = calloc(1, sizeof *k->aes);
        if (k->aes == NULL) {
            tv_sframe_key_wipe(k);
            return TV_ERR_NOMEM;
        }
        mbedtls_aes_init(k->aes);
        /* key = enc_key (16 bytes, AES-128) || auth_key (32 bytes, HMAC-SHA256), section 4.5.1 */
        rc = mbedtls_aes_setkey_enc(k->aes, k->key, 128);
        if (rc == 0)
            rc = mbedtls_md_setup(&k->hmac, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
        if (rc == 0)
            rc = mbedtls_md_hmac_starts(&k->hmac, k->key + 16, 32);
    }
    if (rc != 0) {
        tv_sframe_key_wipe(k);
        return TV_ERR_UNSUPPORTED;
    }
    return 0;
}

int tv_sframe_key_init_raw(tv_sframe_key *k, tv_sframe_suite suite, uint64_t kid,
                           const uint8_t *key, size_t key_len, const uint8_t *salt, size_t salt_len)
{
    const suite_info *si = find_suite(suite);
    if (k == NULL || key == NULL || salt == NULL || salt_len != TV_SFRAME_NONCE_BYTES)
        return TV_ERR_INVALID;
    if (si == NULL)
        return TV_ERR_UNSUPPORTED;
    if (key_len != si->nk)
        return TV_ERR_INVALID;
    memset(k, 0, sizeof *k);
    k->suite = suite;
    k->kid = kid;
    k->key_len = si->nk;
    k->tag_len = si->nt;
    memcpy(k->key, key, key_len);
    memcpy(k->salt, salt, salt_len);
    return install(k);
}

int tv_sframe_key_init(tv_sframe_key *k, tv_sframe_suite suite, uint64_t kid,
                       const uint8_t *base_key, size_t base_key_len)
{
    const suite_info *si = find_suite(suite);
    if (k == NULL || base_key == NULL || base_key_len == 0)
        return TV_ERR_INVALID;
    if (si == NULL)
        return TV_ERR_UNSUPPORTED;
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(si->md);
    if (md == NULL)
        return TV_ERR_UNSUPPORTED;
    memset(k, 0, sizeof *k);
    k->suite = suite;
    k->kid = kid;
    k->key_len = si->nk;
    k->tag_len = si->nt;

    uint8_t secret[64], label[40];
    size_t nh = mbedtls_md_get_size(md);
    int rc = mbedtls_hkdf_extract(md, NULL, 0, base_key, base_key_len, secret);
    size_t n = make_label(label, "SFrame 1.0 Secret key ", kid, suite);
    if (rc == 0)
        rc = mbedtls_hkdf_expand(md, secret, nh, label, n, k->key, si->nk);
    n = make_label(label, "SFrame 1.0 Secret salt ", kid, suite);
    if (rc == 0)
        rc = mbedtls_hkdf_expand(md, secret, nh, label, n, k->salt, TV_SFRAME_NONCE_BYTES);
    sodium_memzero(secret, sizeof secret);
    if (rc != 0) {
        sodium_memzero(k, sizeof *k);
        return TV_ERR_UNSUPPORTED;
    }
    return install(k);
}

int tv_sframe_ratchet(tv_sframe_suite suite, const uint8_t *base_key, size_t base_len,
                      uint8_t *out, size_t out_size, size_t *out_len)
{
    const suite_info *si = find_suite(suite);
    if (base_key == NULL || base_len == 0 || out == NULL)
        return TV_ERR_INVALID;
    if (si == NULL)
        return TV_ERR_UNSUPPORTED;
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(si->md);
    size_t nh = mbedtls_md_get_size(md);
    if (out_size < nh)
        return TV_ERR_NOSPACE;
    static const char label[] = "SFrame 1.0 Ratchet";
    uint8_t secret[64];
    int rc = mbedtls_hkdf_extract(md, NULL, 0, base_key, base_len, secret);
    if (rc == 0)
        rc = mbedtls_hkdf_expand(md, secret, nh, (const uint8_t *)label, sizeof label - 1, out, nh);
    sodium_memzero(secret, sizeof secret);
    if (rc != 0)
        return TV_ERR_UNSUPPORTED;
    if (out_len)
        *out_len = nh;
    return 0;
}

void tv_sframe_key_wipe(tv_sframe_key *k)
{
    if (k == NULL)
        return;
    if (k->ready) {
        /* mbedtls zeroizes its contexts on free */
        mbedtls_gcm_free(&k->gcm);
        if (k->aes) {
            mbedtls_aes_free(k->aes);
            free(k->aes);
        }
        mbedtls_md_free(&k->hmac);
    }
    sodium_memzero(k, sizeof *k);
}

/* ---- Frames (sections 4.4.3, 4.4.4, 4.5.1) ---- */

static void make_nonce(const tv_sframe_key *k, uint64_t ctr, uint8_t nonce[TV_SFRAME_NONCE_BYTES])
{
    memcpy(nonce, k->salt, TV_SFRAME_NONCE_BYTES);
    for (int i = 0; i < 8; i++)
        nonce[TV_SFRAME_NONCE_BYTES - 1 - i] ^= (uint8_t)(ctr >> (8 * i));
}

/* HMAC-SHA256(auth_key, len(aad) || len(ct) || Nt || nonce || aad || ct), truncated to Nt. */
static int ctr_hmac_tag(tv_sframe_key *k, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                        const uint8_t *ct, size_t ct_len, uint8_t tag[32])
{
    uint8_t lens[24];
    put_be(lens, aad_len, 8);
    put_be(lens + 8, ct_len, 8);
    put_be(lens + 16, k->tag_len, 8);
    int rc = mbedtls_md_hmac_reset(&k->hmac);
    if (rc == 0) rc = mbedtls_md_hmac_update(&k->hmac, lens, sizeof lens);
    if (rc == 0) rc = mbedtls_md_hmac_update(&k->hmac, nonce, TV_SFRAME_NONCE_BYTES);
    if (rc == 0) rc = mbedtls_md_hmac_update(&k->hmac, aad, aad_len);
    if (rc == 0) rc = mbedtls_md_hmac_update(&k->hmac, ct, ct_len);
    if (rc == 0) rc = mbedtls_md_hmac_finish(&k->hmac, tag);
    return rc;
}

static int aes_ctr(tv_sframe_key *k, const uint8_t *nonce, const uint8_t *in, size_t len, uint8_t *out)
{
    uint8_t block[16], stream[16];
    size_t off = 0;
    memcpy(block, nonce, TV_SFRAME_NONCE_BYTES);
    memset(block + TV_SFRAME_NONCE_BYTES, 0, 4);
    int rc = mbedtls_aes_crypt_ctr(k->aes, len, &off, block, stream, in, out);
    sodium_memzero(stream, sizeof stream);
    return rc;
}

int tv_sframe_aead_seal(tv_sframe_key *k, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                        const uint8_t *pt, size_t pt_len, uint8_t *out, size_t out_size)
{
    if (k == NULL || !k->ready || nonce == NULL || out == NULL || (pt == NULL && pt_len > 0) ||
        (aad == NULL && aad_len > 0))
        return TV_ERR_INVALID;
    if (pt_len > out_size || out_size - pt_len < k->tag_len)
        return TV_ERR_NOSPACE;
    uint8_t *tag = out + pt_len;
    int rc;
    if (k->suite == TV_SFRAME_CHACHA20_POLY1305_SHA256_128) {
        rc = crypto_aead_chacha20poly1305_ietf_encrypt_detached(out, tag, NULL, pt, pt_len, aad, aad_len,
                                                                 NULL, nonce, k->key);
    } else if (is_gcm(k->suite)) {
        rc = mbedtls_gcm_crypt_and_tag(&k->gcm, MBEDTLS_GCM_ENCRYPT, pt_len, nonce, TV_SFRAME_NONCE_BYTES,
                                       aad, aad_len, pt, out, k->tag_len, tag);
    } else {
        uint8_t full[32];
        rc = aes_ctr(k, nonce, pt, pt_len, out);
        if (rc == 0)
            rc = ctr_hmac_tag(k, nonce, aad, aad_len, out, pt_len, full);
        memcpy(tag, full, k->tag_len);
        sodium_memzero(full, sizeof full);
    }
    if (rc != 0) {
        sodium_memzero(out, pt_len + k->tag_len);
        return TV_ERR_UNSUPPORTED;
    }
    return 0;
}

int tv_sframe_aead_open(tv_sframe_key *k, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                        const uint8_t *ct, size_t ct_len, uint8_t *out, size_t out_size)
{
    if (k == NULL || !k->ready || nonce == NULL || (ct == NULL && ct_len > 0) || (aad == NULL && aad_len > 0))
        return TV_ERR_INVALID;
    if (ct_len < k->tag_len)
        return TV_ERR_SFRAME_SHORT;
    size_t pt_len = ct_len - k->tag_len;
    if (pt_len > out_size || (out == NULL && pt_len > 0))
        return TV_ERR_NOSPACE;
    const uint8_t *tag = ct + pt_len;
    int ok;
    if (k->suite == TV_SFRAME_CHACHA20_POLY1305_SHA256_128) {
        ok = crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, NULL, ct, pt_len, tag, aad, aad_len,
                                                                nonce, k->key) == 0;
    } else if (is_gcm(k->suite)) {
        /* mbedtls checks the tag in constant time and zeroes the output when it does not match */
        ok = mbedtls_gcm_auth_decrypt(&k->gcm, pt_len, nonce, TV_SFRAME_NONCE_BYTES, aad, aad_len, tag,
                                      k->tag_len, ct, out) == 0;
    } else {
        uint8_t full[32];
        ok = ctr_hmac_tag(k, nonce, aad, aad_len, ct, pt_len, full) == 0 &&
             sodium_memcmp(full, tag, k->tag_len) == 0;
        sodium_memzero(full, sizeof full);
        if (ok)   /* decrypt only what authenticated */
            ok = aes_ctr(k, nonce, ct, pt_len, out) == 0;
    }
    if (!ok) {
        if (out && pt_len)
            sodium_memzero(out, pt_len);
        return TV_ERR_SFRAME_AUTH;
    }
    return 0;
}

int tv_sframe_encrypt(tv_sframe_key *k, uint64_t ctr, const uint8_t *metadata, size_t metadata_len,
                      const uint8_t *pt, size_t pt_len, uint8_t *out, size_t out_size, size_t *out_len)
{
    if (k == NULL || !k->ready || out == NULL || (metadata == NULL && metadata_len > 0))
        return TV_ERR_INVALID;
    if (metadata_len > METADATA_MAX)
        return TV_ERR_TOO_LONG;
    uint8_t aad[TV_SFRAME_HEADER_MAX + METADATA_MAX], nonce[TV_SFRAME_NONCE_BYTES];
    size_t hlen;
    int rc = tv_sframe_header_encode(k->kid, ctr, aad, sizeof aad, &hlen);
    if (rc != 0)
        return rc;
    if (out_size < hlen)
        return TV_ERR_NOSPACE;
    if (metadata_len)
        memcpy(aad + hlen, metadata, metadata_len);
    make_nonce(k, ctr, nonce);
    rc = tv_sframe_aead_seal(k, nonce, aad, hlen + metadata_len, pt, pt_len, out + hlen, out_size - hlen);
    if (rc != 0)
        return rc;
    memcpy(out, aad, hlen);
    if (out_len)
        *out_len = hlen + pt_len + k->tag_len;
    return 0;
}

int tv_sframe_decrypt(tv_sframe_key *k, const uint8_t *metadata, size_t metadata_len,
                      const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size,
                      size_t *out_len, uint64_t *ctr_out)
{
    if (k == NULL || !k->ready || (in == NULL && in_len > 0) || (metadata == NULL && metadata_len > 0))
        return TV_ERR_INVALID;
    if (metadata_len > METADATA_MAX)
        return TV_ERR_TOO_LONG;
    uint64_t kid, ctr;
    size_t hlen;
    int rc = tv_sframe_header_decode(in, in_len, &kid, &ctr, &hlen);
    if (rc != 0)
        return rc;
    if (kid != k->kid)
        return TV_ERR_SFRAME_KID;
    uint8_t aad[TV_SFRAME_HEADER_MAX + METADATA_MAX], nonce[TV_SFRAME_NONCE_BYTES];
    memcpy(aad, in, hlen);
    if (metadata_len)
        memcpy(aad + hlen, metadata, metadata_len);
    make_nonce(k, ctr, nonce);
    rc = tv_sframe_aead_open(k, nonce, aad, hlen + metadata_len, in + hlen, in_len - hlen, out, out_size);
    if (rc != 0)
        return rc;
    if (out_len)
        *out_len = in_len - hlen - k->tag_len;
    if (ctr_out)
        *ctr_out = ctr;
    return 0;
}
