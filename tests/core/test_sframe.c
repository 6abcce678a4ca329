#define _GNU_SOURCE   /* memmem */
#include "tv_test.h"
#include "tv_sframe.h"
#include "sframe_vectors.h"

#include <sodium.h>
#include <stdlib.h>

#define HB(h) (const uint8_t *)(h).p, (h).n

static void rfc_c1_headers(void **s)
{
    (void)s;
    for (size_t i = 0; i < sizeof rfc_header / sizeof rfc_header[0]; i++) {
        uint8_t h[TV_SFRAME_HEADER_MAX];
        size_t n, hl;
        uint64_t kid, ctr;
        assert_int_equal(tv_sframe_header_encode(rfc_header[i].kid, rfc_header[i].ctr, h, sizeof h, &n), 0);
        assert_int_equal(n, rfc_header[i].encoded.n);
        assert_memory_equal(h, rfc_header[i].encoded.p, n);
        assert_int_equal(tv_sframe_header_decode(HB(rfc_header[i].encoded), &kid, &ctr, &hl), 0);
        assert_int_equal(kid, rfc_header[i].kid);
        assert_int_equal(ctr, rfc_header[i].ctr);
        assert_int_equal(hl, n);
        /* Every proper prefix of a header is a truncated header. */
        for (size_t cut = 0; cut < n; cut++)
            assert_int_equal(tv_sframe_header_decode((const uint8_t *)rfc_header[i].encoded.p, cut, &kid, &ctr, &hl),
                             TV_ERR_SFRAME_SHORT);
    }
    /* Inline values 2..7, which C.1 does not cover. */
    for (uint64_t v = 0; v < 8; v++) {
        uint8_t h[TV_SFRAME_HEADER_MAX];
        size_t n;
        assert_int_equal(tv_sframe_header_encode(v, 7 - v, h, sizeof h, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(h[0], (uint8_t)((v << 4) | (7 - v)));
    }
}

static void non_minimal_headers_refused(void **s)
{
    (void)s;
    static const struct { const char *h; size_t n; } bad[] = {
        { "\x80\x05", 2 },            /* KID 5 in an extended byte: it fits inline */
        { "\x08\x07", 2 },            /* CTR 7 likewise */
        { "\x90\x00\xff", 3 },        /* KID 0xff in two bytes */
        { "\x09\x00\x08", 3 },        /* CTR 8 in two bytes */
        { "\xf0\x00\x00\x00\x00\x00\x00\x00\x08", 9 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t kid, ctr;
        assert_int_equal(tv_sframe_header_decode((const uint8_t *)bad[i].h, bad[i].n, &kid, &ctr, NULL),
                         TV_ERR_SFRAME_HEADER);
    }
}

static void key_for(tv_sframe_key *k, unsigned i)
{
    assert_int_equal(tv_sframe_key_init(k, (tv_sframe_suite)rfc_sframe[i].suite, rfc_sframe[i].kid,
                                        HB(rfc_sframe[i].base_key)), 0);
}

static void rfc_c2_ctr_hmac_aead(void **s)
{
    (void)s;
    for (size_t i = 0; i < sizeof rfc_ctr_hmac / sizeof rfc_ctr_hmac[0]; i++) {
        tv_sframe_key k;
        const uint8_t *nonce = (const uint8_t *)rfc_ctr_hmac[i].nonce.p;
        assert_int_equal(tv_sframe_key_init_raw(&k, (tv_sframe_suite)rfc_ctr_hmac[i].suite, 0,
                                                HB(rfc_ctr_hmac[i].key), nonce, 12), 0);
        /* The key splits as the RFC says: enc_key then auth_key. */
        assert_memory_equal(k.key, rfc_ctr_hmac[i].enc_key.p, rfc_ctr_hmac[i].enc_key.n);
        assert_memory_equal(k.key + 16, rfc_ctr_hmac[i].auth_key.p, rfc_ctr_hmac[i].auth_key.n);
        uint8_t ct[128], pt[128];
        size_t ct_len = rfc_ctr_hmac[i].ct.n;
        assert_int_equal(tv_sframe_aead_seal(&k, nonce, HB(rfc_ctr_hmac[i].aad), HB(rfc_ctr_hmac[i].pt),
                                             ct, sizeof ct), 0);
        assert_memory_equal(ct, rfc_ctr_hmac[i].ct.p, ct_len);
        assert_int_equal(tv_sframe_aead_open(&k, nonce, HB(rfc_ctr_hmac[i].aad), HB(rfc_ctr_hmac[i].ct),
                                             pt, sizeof pt), 0);
        assert_memory_equal(pt, rfc_ctr_hmac[i].pt.p, rfc_ctr_hmac[i].pt.n);
        /* The truncated tag still protects every byte. */
        for (size_t b = 0; b < ct_len; b++) {
            memcpy(ct, rfc_ctr_hmac[i].ct.p, ct_len);
            ct[b] ^= 0x01;
            assert_int_equal(tv_sframe_aead_open(&k, nonce, HB(rfc_ctr_hmac[i].aad), ct, ct_len, pt, sizeof pt),
                             TV_ERR_SFRAME_AUTH);
        }
        tv_sframe_key_wipe(&k);
    }
}

static void rfc_c3_sframe_all_suites(void **s)
{
    (void)s;
    for (unsigned i = 0; i < sizeof rfc_sframe / sizeof rfc_sframe[0]; i++) {
        tv_sframe_key k;
        key_for(&k, i);
        assert_int_equal(k.key_len, rfc_sframe[i].key.n);
        assert_memory_equal(k.key, rfc_sframe[i].key.p, rfc_sframe[i].key.n);
        assert_memory_equal(k.salt, rfc_sframe[i].salt.p, 12);

        uint8_t out[256], back[256];
        size_t n, m;
        uint64_t ctr;
        assert_int_equal(tv_sframe_encrypt(&k, rfc_sframe[i].ctr, HB(rfc_sframe[i].metadata),
                                           HB(rfc_sframe[i].pt), out, sizeof out, &n), 0);
        assert_int_equal(n, rfc_sframe[i].ct.n);
        assert_memory_equal(out, rfc_sframe[i].ct.p, n);
        assert_int_equal(tv_sframe_decrypt(&k, HB(rfc_sframe[i].metadata), HB(rfc_sframe[i].ct),
                                           back, sizeof back, &m, &ctr), 0);
        assert_int_equal(m, rfc_sframe[i].pt.n);
        assert_memory_equal(back, rfc_sframe[i].pt.p, m);
        assert_int_equal(ctr, rfc_sframe[i].ctr);
        tv_sframe_key_wipe(&k);
    }
}

/* ChaCha20-Poly1305 is not an RFC 9605 suite, so it has no SFrame vector: its AEAD is checked against
 * RFC 8439 section 2.8.2 instead. Every build must agree on it, the media worker's SIMD build too
 * (other ChaCha20 code than the scalar one), or two browsers could not talk. */
static void chacha20_poly1305_rfc8439(void **s)
{
    (void)s;
    static const uint8_t key[32] = {
        0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
        0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f };
    static const uint8_t nonce[12] = { 0x07, 0x00, 0x00, 0x00, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47 };
    static const uint8_t aad[12] = { 0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7 };
    static const char pt[] = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
                             "the future, sunscreen would be it.";
    static const uint8_t expect[114 + 16] = {
        0xd3, 0x1a, 0x8d, 0x34, 0x64, 0x8e, 0x60, 0xdb, 0x7b, 0x86, 0xaf, 0xbc, 0x53, 0xef, 0x7e, 0xc2,
        0xa4, 0xad, 0xed, 0x51, 0x29, 0x6e, 0x08, 0xfe, 0xa9, 0xe2, 0xb5, 0xa7, 0x36, 0xee, 0x62, 0xd6,
        0x3d, 0xbe, 0xa4, 0x5e, 0x8c, 0xa9, 0x67, 0x12, 0x82, 0xfa, 0xfb, 0x69, 0xda, 0x92, 0x72, 0x8b,
        0x1a, 0x71, 0xde, 0x0a, 0x9e, 0x06, 0x0b, 0x29, 0x05, 0xd6, 0xa5, 0xb6, 0x7e, 0xcd, 0x3b, 0x36,
        0x92, 0xdd, 0xbd, 0x7f, 0x2d, 0x77, 0x8b, 0x8c, 0x98, 0x03, 0xae, 0xe3, 0x28, 0x09, 0x1b, 0x58,
        0xfa, 0xb3, 0x24, 0xe4, 0xfa, 0xd6, 0x75, 0x94, 0x55, 0x85, 0x80, 0x8b, 0x48, 0x31, 0xd7, 0xbc,
        0x3f, 0xf4, 0xde, 0xf0, 0x8e, 0x4b, 0x7a, 0x9d, 0xe5, 0x76, 0xd2, 0x65, 0x86, 0xce, 0xc6, 0x4b,
        0x61, 0x16,
        /* tag */
        0x1a, 0xe1, 0x0b, 0x59, 0x4f, 0x09, 0xe2, 0x6a, 0x7e, 0x90, 0x2e, 0xcb, 0xd0, 0x60, 0x06, 0x91 };
    tv_sframe_key k;
    uint8_t out[sizeof expect], back[114];
    assert_int_equal(sizeof pt - 1, 114);
    assert_int_equal(tv_sframe_key_init_raw(&k, TV_SFRAME_CHACHA20_POLY1305_SHA256_128, 0, key, sizeof key,
                                            nonce, sizeof nonce), 0);
    assert_int_equal(tv_sframe_aead_seal(&k, nonce, aad, sizeof aad, (const uint8_t *)pt, 114, out, sizeof out), 0);
    assert_memory_equal(out, expect, sizeof expect);
    assert_int_equal(tv_sframe_aead_open(&k, nonce, aad, sizeof aad, expect, sizeof expect, back, sizeof back), 0);
    assert_memory_equal(back, pt, 114);
    tv_sframe_key_wipe(&k);
}

/* One vector cannot reach every code path of a vectorised ChaCha20 (1, 4 or 8 blocks at a time, and
 * tails) and Poly1305 (1 or 2 blocks at a time, 16-byte tails). So: every length from 0 to 1100 bytes
 * and a few large ones, AAD of 0-19 bytes, all sealed and opened, and a BLAKE2b digest of all the
 * sealed bytes compared with the one Debian's native libsodium gives (AVX2/SSE2 code there). */
static void chacha20_poly1305_every_length(void **s)
{
    (void)s;
#ifdef TV_SODIUM_SIMD
    /* the SIMD build must really run the SIMD code, or this test proves nothing more */
    assert_int_equal(sodium_runtime_has_sse2(), 1);
    assert_int_equal(sodium_runtime_has_ssse3(), 1);
#endif
    static const uint8_t key[32] = "every length, every path........";
    static const uint8_t expect[32] = {
        0x0a, 0xc3, 0x40, 0xdd, 0x83, 0x21, 0xd9, 0x8c, 0xe1, 0x33, 0x1a, 0xa0, 0x93, 0xff, 0xcc, 0x5d,
        0xc5, 0x94, 0x79, 0xc9, 0x4d, 0x54, 0xb5, 0xf2, 0xe6, 0x39, 0xf1, 0xa9, 0x4e, 0xdb, 0xec, 0x1e };
    const size_t big = 100001;
    uint8_t *pt = malloc(big), *ct = malloc(big + 16), *back = malloc(big), aad[19], nonce[12] = { 0 };
    assert_true(pt && ct && back);
    for (size_t i = 0; i < big; i++)
        pt[i] = (uint8_t)(i * 7 + (i >> 9));
    for (size_t i = 0; i < sizeof aad; i++)
        aad[i] = (uint8_t)(0xa0 + i);
    tv_sframe_key k;
    assert_int_equal(tv_sframe_key_init_raw(&k, TV_SFRAME_CHACHA20_POLY1305_SHA256_128, 0, key, sizeof key,
                                            nonce, sizeof nonce), 0);
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 32);
    static const size_t large[] = { 4095, 4096, 65537, 100001 };
    for (size_t i = 0; i < 1101 + sizeof large / sizeof large[0]; i++) {
        size_t len = i < 1101 ? i : large[i - 1101];
        nonce[0] = (uint8_t)len;
        nonce[1] = (uint8_t)(len >> 8);
        nonce[2] = (uint8_t)(len >> 16);
        size_t aad_len = len % sizeof aad;
        assert_int_equal(tv_sframe_aead_seal(&k, nonce, aad, aad_len, pt, len, ct, len + 16), 0);
        crypto_generichash_update(&h, ct, len + 16);
        assert_int_equal(tv_sframe_aead_open(&k, nonce, aad, aad_len, ct, len + 16, back, len), 0);
        assert_memory_equal(back, pt, len);
    }
    uint8_t digest[32];
    crypto_generichash_final(&h, digest, sizeof digest);
    assert_memory_equal(digest, expect, sizeof digest);
    tv_sframe_key_wipe(&k);
    free(pt);
    free(ct);
    free(back);
}

static const tv_sframe_suite all_suites[] = {
    TV_SFRAME_AES_128_CTR_HMAC_SHA256_80, TV_SFRAME_AES_128_CTR_HMAC_SHA256_64,
    TV_SFRAME_AES_128_CTR_HMAC_SHA256_32, TV_SFRAME_AES_128_GCM_SHA256_128,
    TV_SFRAME_AES_256_GCM_SHA512_128, TV_SFRAME_CHACHA20_POLY1305_SHA256_128,
};

/* Any change to header, ciphertext, tag or metadata, a wrong key, a wrong KID, or a cut frame: refused,
 * and the output buffer holds no plaintext. */
static void tampering_is_refused_in_every_suite(void **s)
{
    (void)s;
    static const uint8_t base[16] = "0123456789abcdef", other[16] = "0123456789abcdeF";
    const uint8_t md[3] = { 0x9d, 0x01, 0x2a };   /* a VP8 key-frame prefix, say */
    uint8_t pt[300];
    for (size_t i = 0; i < sizeof pt; i++)
        pt[i] = (uint8_t)(i * 7);
    for (size_t si = 0; si < sizeof all_suites / sizeof all_suites[0]; si++) {
        tv_sframe_key k, wrong, wrong_kid;
        assert_int_equal(tv_sframe_key_init(&k, all_suites[si], 300, base, sizeof base), 0);
        assert_int_equal(tv_sframe_key_init(&wrong, all_suites[si], 300, other, sizeof other), 0);
        assert_int_equal(tv_sframe_key_init(&wrong_kid, all_suites[si], 301, base, sizeof base), 0);
        uint8_t frame[400], tampered[400], out[400];
        size_t n, m;
        uint64_t ctr;
        assert_int_equal(tv_sframe_encrypt(&k, 1000, md, sizeof md, pt, sizeof pt, frame, sizeof frame, &n), 0);
        assert_int_equal(tv_sframe_decrypt(&k, md, sizeof md, frame, n, out, sizeof out, &m, &ctr), 0);
        assert_int_equal(m, sizeof pt);
        assert_memory_equal(out, pt, m);
        assert_int_equal(ctr, 1000);
        /* The ciphertext is not the plaintext. */
        assert_memory_not_equal(frame + 5, pt, 32);

        for (size_t b = 0; b < n; b += (b < 8 ? 1 : 37)) {
            memcpy(tampered, frame, n);
            tampered[b] ^= 0x80;
            memset(out, 0xAA, sizeof out);
            int rc = tv_sframe_decrypt(&k, md, sizeof md, tampered, n, out, sizeof out, &m, &ctr);
            assert_true(rc == TV_ERR_SFRAME_AUTH || rc == TV_ERR_SFRAME_KID || rc == TV_ERR_SFRAME_HEADER ||
                        rc == TV_ERR_SFRAME_SHORT);
            assert_null(memmem(out, sizeof out, pt + 10, 16));
        }
        const uint8_t md2[3] = { 0x9d, 0x01, 0x2b };
        assert_int_equal(tv_sframe_decrypt(&k, md2, sizeof md2, frame, n, out, sizeof out, &m, &ctr), TV_ERR_SFRAME_AUTH);
        assert_int_equal(tv_sframe_decrypt(&k, NULL, 0, frame, n, out, sizeof out, &m, &ctr), TV_ERR_SFRAME_AUTH);
        assert_int_equal(tv_sframe_decrypt(&wrong, md, sizeof md, frame, n, out, sizeof out, &m, &ctr), TV_ERR_SFRAME_AUTH);
        assert_int_equal(tv_sframe_decrypt(&wrong_kid, md, sizeof md, frame, n, out, sizeof out, &m, &ctr), TV_ERR_SFRAME_KID);
        /* Cut anywhere: too short for the tag, or the tag no longer matches. */
        for (size_t cut = 0; cut < n; cut += 13) {
            int rc = tv_sframe_decrypt(&k, md, sizeof md, frame, cut, out, sizeof out, &m, &ctr);
            assert_true(rc == TV_ERR_SFRAME_SHORT || rc == TV_ERR_SFRAME_AUTH);
        }
        /* A header copied from another counter (moving the frame in time) fails too. */
        uint8_t moved[400];
        size_t hn;
        assert_int_equal(tv_sframe_header_encode(300, 1001, moved, sizeof moved, &hn), 0);
        assert_int_equal(hn, 5);   /* config byte, two KID bytes, two CTR bytes: as for 1000 */
        memcpy(moved + hn, frame + hn, n - hn);
        assert_int_equal(tv_sframe_decrypt(&k, md, sizeof md, moved, n, out, sizeof out, &m, &ctr), TV_ERR_SFRAME_AUTH);
        /* Too small an output buffer is reported, not overrun. */
        assert_int_equal(tv_sframe_decrypt(&k, md, sizeof md, frame, n, out, 10, &m, &ctr), TV_ERR_NOSPACE);
        assert_int_equal(tv_sframe_encrypt(&k, 1, md, sizeof md, pt, sizeof pt, frame, sizeof pt, &n), TV_ERR_NOSPACE);
        tv_sframe_key_wipe(&k);
        tv_sframe_key_wipe(&wrong);
        tv_sframe_key_wipe(&wrong_kid);
    }
}

static void empty_and_large_frames(void **s)
{
    (void)s;
    static const uint8_t base[32] = { 7 };
    size_t big = 100 * 1024;
    uint8_t *pt = malloc(big), *frame = malloc(big + 64), *out = malloc(big);
    assert_true(pt && frame && out);
    for (size_t i = 0; i < big; i++)
        pt[i] = (uint8_t)(i ^ (i >> 8));
    for (size_t si = 0; si < sizeof all_suites / sizeof all_suites[0]; si++) {
        tv_sframe_key k;
        size_t n, m;
        uint64_t ctr;
        assert_int_equal(tv_sframe_key_init(&k, all_suites[si], 0, base, sizeof base), 0);
        assert_int_equal(tv_sframe_encrypt(&k, 0, NULL, 0, pt, 0, frame, big + 64, &n), 0);
        assert_int_equal(tv_sframe_decrypt(&k, NULL, 0, frame, n, out, big, &m, &ctr), 0);
        assert_int_equal(m, 0);
        assert_int_equal(tv_sframe_encrypt(&k, UINT64_MAX, NULL, 0, pt, big, frame, big + 64, &n), 0);
        assert_int_equal(tv_sframe_decrypt(&k, NULL, 0, frame, n, out, big, &m, &ctr), 0);
        assert_int_equal(m, big);
        assert_memory_equal(out, pt, big);
        assert_int_equal(ctr, UINT64_MAX);
        tv_sframe_key_wipe(&k);
    }
    free(pt);
    free(frame);
    free(out);
}

static void keys_are_wiped(void **s)
{
    (void)s;
    static const uint8_t base[16] = "0123456789abcdef";
    tv_sframe_key k;
    assert_int_equal(tv_sframe_key_init(&k, TV_SFRAME_AES_128_GCM_SHA256_128, 1, base, sizeof base), 0);
    tv_sframe_key_wipe(&k);
    static const uint8_t zero[sizeof(tv_sframe_key)];
    assert_memory_equal(&k, zero, sizeof k);
    uint8_t out[64];
    size_t n;
    assert_int_equal(tv_sframe_encrypt(&k, 1, NULL, 0, base, 4, out, sizeof out, &n), TV_ERR_INVALID);
    tv_sframe_key_wipe(&k);   /* twice is harmless */
    assert_int_equal(tv_sframe_key_init(&k, (tv_sframe_suite)0x0042, 1, base, sizeof base), TV_ERR_UNSUPPORTED);
    assert_int_equal(tv_sframe_key_init(&k, TV_SFRAME_AES_128_GCM_SHA256_128, 1, base, 0), TV_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc_c1_headers),
        cmocka_unit_test(non_minimal_headers_refused),
        cmocka_unit_test(rfc_c2_ctr_hmac_aead),
        cmocka_unit_test(rfc_c3_sframe_all_suites),
        cmocka_unit_test(chacha20_poly1305_rfc8439),
        cmocka_unit_test(chacha20_poly1305_every_length),
        cmocka_unit_test(tampering_is_refused_in_every_suite),
        cmocka_unit_test(empty_and_large_frames),
        cmocka_unit_test(keys_are_wiped),
    };
    return TV_RUN(tests);
}
