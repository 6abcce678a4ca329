#define _GNU_SOURCE   /* memmem */
#include "tv_test.h"
#include "tv_sframe.h"
#include "sframe_vectors.h"

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
        cmocka_unit_test(tampering_is_refused_in_every_suite),
        cmocka_unit_test(empty_and_large_frames),
        cmocka_unit_test(keys_are_wiped),
    };
    return TV_RUN(tests);
}
