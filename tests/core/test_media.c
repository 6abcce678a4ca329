#include "tv_test.h"
#include "tv_media.h"

static const uint8_t key_ab[32] = "clinician to patient base key..";
static const uint8_t key_ba[32] = "patient to clinician base key..";

static void pair_of(tv_media *a, tv_media *b, tv_media_codec c)
{
    assert_int_equal(tv_media_init(a, TV_SFRAME_CHACHA20_POLY1305_SHA256_128, c), 0);
    assert_int_equal(tv_media_init(b, TV_SFRAME_CHACHA20_POLY1305_SHA256_128, c), 0);
    assert_int_equal(tv_media_set_send_key(a, 1, key_ab, 32), 0);
    assert_int_equal(tv_media_add_recv_key(b, 1, key_ab, 32), 0);
    assert_int_equal(tv_media_set_send_key(b, 1, key_ba, 32), 0);
    assert_int_equal(tv_media_add_recv_key(a, 1, key_ba, 32), 0);
}

static void pair(tv_media *a, tv_media *b)
{
    pair_of(a, b, TV_MEDIA_VP8);
}

static void codec_bytes_stay_clear_the_rest_does_not(void **s)
{
    (void)s;
    uint8_t key_frame[200], delta[120], opus[60], enc[300], dec[300];
    size_t n, m;
    memset(key_frame, 0x55, sizeof key_frame);
    memcpy(key_frame, "\x50\x2f\x01\x9d\x01\x2a\x80\x02\xe0\x01", 10);   /* bit 0 clear: key frame, 640x480 */
    memset(delta, 0x66, sizeof delta);
    delta[0] = 0x31;                                                     /* bit 0 set: delta frame */
    memset(opus, 0x77, sizeof opus);
    opus[0] = 0x78;
    const struct { tv_media_codec c; const uint8_t *f; size_t len, clear; } cases[] = {
        { TV_MEDIA_VP8, key_frame, sizeof key_frame, 10 },
        { TV_MEDIA_VP8, delta, sizeof delta, 3 },
        { TV_MEDIA_OPUS, opus, sizeof opus, 1 },
        { TV_MEDIA_OPUS, opus, 1, 1 },       /* a TOC byte alone (DTX): clear, still authenticated */
    };
    tv_media va, vb, aa, ab;
    pair_of(&va, &vb, TV_MEDIA_VP8);
    pair_of(&aa, &ab, TV_MEDIA_OPUS);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tv_media *tx = cases[i].c == TV_MEDIA_VP8 ? &va : &aa, *rx = cases[i].c == TV_MEDIA_VP8 ? &vb : &ab;
        assert_int_equal(tv_media_clear_prefix(cases[i].c, cases[i].f, cases[i].len), cases[i].clear);
        assert_int_equal(tv_media_encrypt(tx, cases[i].f, cases[i].len, enc, sizeof enc, &n), 0);
        assert_memory_equal(enc, cases[i].f, cases[i].clear);
        if (cases[i].len > cases[i].clear + 8)
            assert_memory_not_equal(enc + cases[i].clear + 5, cases[i].f + cases[i].clear, 8);
        assert_int_equal(tv_media_decrypt(rx, enc, n, dec, sizeof dec, &m), 0);
        assert_int_equal(m, cases[i].len);
        assert_memory_equal(dec, cases[i].f, m);
        /* The other kind's context, though keyed from the same agreed key, cannot read it. */
        tv_media *other = cases[i].c == TV_MEDIA_VP8 ? &ab : &vb;
        assert_int_not_equal(tv_media_decrypt(other, enc, n, dec, sizeof dec, &m), 0);
    }
    assert_int_equal(vb.stats.decrypted, 2);
    assert_int_equal(ab.stats.decrypted, 2);
    /* The refusal above is not only the different split: the two kinds' keys differ, from one agreed key. */
    assert_memory_not_equal(va.tx.key.key, aa.tx.key.key, va.tx.key.key_len);
    assert_memory_not_equal(va.tx.key.salt, aa.tx.key.salt, sizeof va.tx.key.salt);
    /* A key frame too short to hold its clear bytes is refused, not sent with a guessed split. */
    assert_int_equal(tv_media_encrypt(&va, key_frame, 6, enc, sizeof enc, &n), TV_ERR_SFRAME_SHORT);
    assert_int_equal(vb.stats.recv_kid, va.stats.send_kid);
    tv_media_wipe(&va);
    tv_media_wipe(&vb);
    tv_media_wipe(&aa);
    tv_media_wipe(&ab);
}

static void tampering_wrong_keys_and_replays_are_counted_and_dropped(void **s)
{
    (void)s;
    tv_media a, b, wrong;
    pair(&a, &b);
    tv_media_init(&wrong, TV_SFRAME_CHACHA20_POLY1305_SHA256_128, TV_MEDIA_VP8);
    tv_media_add_recv_key(&wrong, 1, key_ba, 32);   /* the other direction's key */
    uint8_t f[100], enc[200], bad[200], dec[200];
    size_t n, m;
    memset(f, 0x42, sizeof f);
    f[0] = 0x31;
    assert_int_equal(tv_media_encrypt(&a, f, sizeof f, enc, sizeof enc, &n), 0);
    /* A clear codec byte changed: the metadata no longer authenticates. */
    memcpy(bad, enc, n);
    bad[1] ^= 0x10;
    assert_int_equal(tv_media_decrypt(&b, bad, n, dec, sizeof dec, &m), TV_ERR_SFRAME_AUTH);
    /* The key-frame bit flipped: the split moves to 10 clear bytes, so the SFrame header is read
     * from the middle of the ciphertext and names a key nobody has. */
    memcpy(bad, enc, n);
    bad[0] ^= 0x01;
    assert_int_equal(tv_media_decrypt(&b, bad, n, dec, sizeof dec, &m), TV_ERR_SFRAME_KID);
    /* The wrong key decodes nothing. */
    assert_int_equal(tv_media_decrypt(&wrong, enc, n, dec, sizeof dec, &m), TV_ERR_SFRAME_AUTH);
    assert_int_equal(wrong.stats.fail_auth, 1);
    assert_int_equal(wrong.stats.decrypted, 0);
    /* Without a send key nothing leaves, and the refusal is counted. */
    uint8_t unsent[200];
    size_t nn;
    assert_int_equal(tv_media_encrypt(&wrong, f, sizeof f, unsent, sizeof unsent, &nn), TV_ERR_INVALID);
    assert_int_equal(wrong.stats.send_dropped, 1);
    assert_int_equal(wrong.stats.encrypted, 0);
    /* The genuine frame, then the same again. */
    assert_int_equal(tv_media_decrypt(&b, enc, n, dec, sizeof dec, &m), 0);
    assert_int_equal(tv_media_decrypt(&b, enc, n, dec, sizeof dec, &m), TV_ERR_SFRAME_REPLAY);
    /* Truncated to nothing after the clear bytes. */
    assert_int_equal(tv_media_decrypt(&b, enc, 3, dec, sizeof dec, &m), TV_ERR_SFRAME_SHORT);
    assert_int_equal(b.stats.fail_auth, 1);   /* the changed codec byte */
    assert_int_equal(b.stats.fail_kid, 1);    /* the flipped key-frame bit */
    assert_int_equal(b.stats.fail_replay, 1);
    assert_int_equal(b.stats.fail_short, 1);
    assert_int_equal(b.stats.decrypted, 1);
    /* No sending without a key; unknown codecs refused. */
    tv_media none;
    tv_media_init(&none, TV_SFRAME_CHACHA20_POLY1305_SHA256_128, TV_MEDIA_VP8);
    assert_int_equal(tv_media_encrypt(&none, f, sizeof f, enc, sizeof enc, &n), TV_ERR_INVALID);
    assert_int_equal(tv_media_init(&none, TV_SFRAME_CHACHA20_POLY1305_SHA256_128, (tv_media_codec)7), TV_ERR_INVALID);
    tv_media_wipe(&a);
    tv_media_wipe(&b);
    tv_media_wipe(&wrong);
    tv_media_wipe(&none);
}

static void rotation_mid_stream(void **s)
{
    (void)s;
    tv_media a, b;
    pair_of(&a, &b, TV_MEDIA_OPUS);
    uint8_t f[50], e1[100], e2[100], e3[100], dec[100];
    size_t n1, n2, n3, m;
    memset(f, 9, sizeof f);
    tv_media_encrypt(&a, f, sizeof f, e1, sizeof e1, &n1);
    assert_int_equal(tv_media_ratchet(&a), 0);
    tv_media_encrypt(&a, f, sizeof f, e2, sizeof e2, &n2);
    assert_int_equal(tv_media_set_send_key(&a, 2, key_ba, 32), 0);   /* a new generation */
    assert_int_equal(tv_media_add_recv_key(&b, 2, key_ba, 32), 0);
    tv_media_encrypt(&a, f, sizeof f, e3, sizeof e3, &n3);
    /* Out of order across both changes: all three decode. */
    assert_int_equal(tv_media_decrypt(&b, e3, n3, dec, sizeof dec, &m), 0);
    assert_int_equal(tv_media_decrypt(&b, e2, n2, dec, sizeof dec, &m), 0);
    assert_int_equal(tv_media_decrypt(&b, e1, n1, dec, sizeof dec, &m), 0);
    assert_int_equal(b.stats.decrypted, 3);
    tv_media_wipe(&a);
    tv_media_wipe(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(codec_bytes_stay_clear_the_rest_does_not),
        cmocka_unit_test(tampering_wrong_keys_and_replays_are_counted_and_dropped),
        cmocka_unit_test(rotation_mid_stream),
    };
    return TV_RUN(tests);
}
