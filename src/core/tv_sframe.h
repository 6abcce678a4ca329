/* SFrame (RFC 9605): end-to-end encryption of each media frame, so a TURN relay or the server
 * never sees clear media. Header encoding, per-KID key and salt derivation, and frame encryption
 * and decryption for the RFC's five cipher suites plus ChaCha20-Poly1305 (private use, fast and
 * constant-time in WebAssembly, where AES is software). One tv_sframe_key holds one KID's key
 * schedule; counters and replay are the caller's (see tv_sframe_ctx for the per-call state). */
#ifndef TV_SFRAME_H
#define TV_SFRAME_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/aes.h>
#include <mbedtls/gcm.h>
#include <mbedtls/md.h>

typedef enum tv_sframe_suite {
    TV_SFRAME_AES_128_CTR_HMAC_SHA256_80 = 0x0001,
    TV_SFRAME_AES_128_CTR_HMAC_SHA256_64 = 0x0002,
    TV_SFRAME_AES_128_CTR_HMAC_SHA256_32 = 0x0003,
    TV_SFRAME_AES_128_GCM_SHA256_128 = 0x0004,
    TV_SFRAME_AES_256_GCM_SHA512_128 = 0x0005,
    /* RFC 9605's private-use range: HKDF-SHA256, 32-byte key, 12-byte nonce, 16-byte tag. */
    TV_SFRAME_CHACHA20_POLY1305_SHA256_128 = 0xF001
} tv_sframe_suite;

#define TV_SFRAME_HEADER_MAX 17    /* config byte + 8 KID bytes + 8 CTR bytes */
#define TV_SFRAME_KEY_MAX 48       /* Nk of the CTR+HMAC suites */
#define TV_SFRAME_NONCE_BYTES 12
#define TV_SFRAME_TAG_MAX 16

int tv_sframe_header_encode(uint64_t kid, uint64_t ctr, uint8_t *out, size_t out_size, size_t *out_len);

/* Reads the header at the front of a frame. Non-minimal encodings are refused (TV_ERR_ENCODING):
 * each (KID, CTR) has exactly one header, so the AAD cannot be varied without changing the pair. */
int tv_sframe_header_decode(const uint8_t *in, size_t in_len, uint64_t *kid, uint64_t *ctr, size_t *header_len);

/* Nk (key bytes) and Nt (tag bytes) of a suite; TV_ERR_UNSUPPORTED for unknown suites. */
int tv_sframe_suite_sizes(tv_sframe_suite suite, size_t *key_len, size_t *tag_len);

typedef struct tv_sframe_key {
    tv_sframe_suite suite;
    uint64_t kid;
    size_t key_len, tag_len;
    uint8_t key[TV_SFRAME_KEY_MAX];
    uint8_t salt[TV_SFRAME_NONCE_BYTES];
    /* The cipher contexts keep their state on the heap (mbedTLS does so for GCM and HMAC; the AES
     * context points into itself, so it is allocated here), which makes a tv_sframe_key safe to move
     * by assignment: receivers and senders do. */
    mbedtls_gcm_context gcm;       /* GCM suites */
    mbedtls_aes_context *aes;      /* CTR+HMAC suites: the enc_key schedule */
    mbedtls_md_context_t hmac;     /* CTR+HMAC suites: keyed with auth_key, reset per frame */
    int ready;
} tv_sframe_key;

/* Derives sframe_key and sframe_salt for (suite, kid) from base_key (RFC 9605 section 4.4.2). */
int tv_sframe_key_init(tv_sframe_key *k, tv_sframe_suite suite, uint64_t kid,
                       const uint8_t *base_key, size_t base_key_len);

/* Installs an already-derived key and salt (the AEAD layer's own test vectors, RFC 9605 C.2). */
int tv_sframe_key_init_raw(tv_sframe_key *k, tv_sframe_suite suite, uint64_t kid,
                           const uint8_t *key, size_t key_len, const uint8_t *salt, size_t salt_len);

/* base_key[i+1] = HKDF-Expand(HKDF-Extract("", base_key[i]), "SFrame 1.0 Ratchet", Nh) (section 5.1).
 * out_size >= Nh (32, or 64 for suite 5); *out_len = Nh. */
int tv_sframe_ratchet(tv_sframe_suite suite, const uint8_t *base_key, size_t base_len,
                      uint8_t *out, size_t out_size, size_t *out_len);

/* Zeroes every byte of key material, including the ciphers' schedules. Safe to call twice. */
void tv_sframe_key_wipe(tv_sframe_key *k);

/* The suite's AEAD alone (section 4.5): out = ciphertext || tag (pt_len + Nt bytes). */
int tv_sframe_aead_seal(tv_sframe_key *k, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                        const uint8_t *pt, size_t pt_len, uint8_t *out, size_t out_size);

/* Checks the tag (constant time) before decrypting; out gets ct_len - Nt bytes. */
int tv_sframe_aead_open(tv_sframe_key *k, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                        const uint8_t *ct, size_t ct_len, uint8_t *out, size_t out_size);

/* out = header || ciphertext || tag, with AAD = header || metadata. Sizes: header (<= 17) +
 * pt_len + Nt. The caller must never use one ctr twice with one key. */
int tv_sframe_encrypt(tv_sframe_key *k, uint64_t ctr, const uint8_t *metadata, size_t metadata_len,
                      const uint8_t *pt, size_t pt_len, uint8_t *out, size_t out_size, size_t *out_len);

/* Decrypts a whole SFrame ciphertext (header included) whose KID is k's. On any failure nothing
 * is written to out beyond out_size and TV_ERR_SFRAME_AUTH / _HEADER / _KID / NOSPACE is returned.
 * *ctr receives the frame's counter, for the caller's replay window. */
int tv_sframe_decrypt(tv_sframe_key *k, const uint8_t *metadata, size_t metadata_len,
                      const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size,
                      size_t *out_len, uint64_t *ctr);

#endif
