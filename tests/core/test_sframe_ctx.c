#include "tv_test.h"
#include "tv_sframe_ctx.h"

#include <stdio.h>
#include <stdlib.h>

static const uint8_t base1[32] = "base key of generation one......";
static const uint8_t base2[32] = "base key of generation two......";

static size_t send(tv_sframe_sender *s, const char *text, uint8_t *frame, size_t size)
{
    size_t n;
    assert_int_equal(tv_sframe_sender_protect(s, (const uint8_t *)"md", 2, (const uint8_t *)text, strlen(text),
                                              frame, size, &n), 0);
    return n;
}

static int recv(tv_sframe_receiver *r, const uint8_t *frame, size_t n, char *text, size_t size)
{
    size_t m = 0;
    int rc = tv_sframe_receiver_unprotect(r, (const uint8_t *)"md", 2, frame, n, (uint8_t *)text, size - 1, &m, NULL);
    text[rc == 0 ? m : 0] = '\0';
    return rc;
}

static void counters_advance_and_replays_are_refused(void **s)
{
    (void)s;
    tv_sframe_sender tx;
    tv_sframe_receiver rx;
    assert_int_equal(tv_sframe_sender_init(&tx, TV_SFRAME_CHACHA20_POLY1305_SHA256_128, 0, base1, 32), 0);
    assert_int_equal(tv_sframe_receiver_init(&rx, TV_SFRAME_CHACHA20_POLY1305_SHA256_128), 0);
    assert_int_equal(tv_sframe_receiver_add(&rx, 0, base1, 32), 0);
    uint8_t f[200][64];
    size_t n[200];
    char text[64];
    for (int i = 0; i < 200; i++)
        n[i] = send(&tx, "frame", f[i], sizeof f[i]);
    /* Two frames never share a counter: their headers differ. */
    assert_memory_not_equal(f[0], f[1], 2);
    /* In order, then each replayed: refused. */
    for (int i = 0; i < 150; i++)
        assert_int_equal(recv(&rx, f[i], n[i], text, sizeof text), 0);
    assert_string_equal(text, "frame");
    for (int i = 100; i < 150; i++)
        assert_int_equal(recv(&rx, f[i], n[i], text, sizeof text), TV_ERR_SFRAME_REPLAY);
    /* Out of order inside the window: 199 first, then 150..198 in any order, once each. */
    assert_int_equal(recv(&rx, f[199], n[199], text, sizeof text), 0);
    for (int i = 198; i >= 150; i--)
        assert_int_equal(recv(&rx, f[i], n[i], text, sizeof text), 0);
    assert_int_equal(recv(&rx, f[160], n[160], text, sizeof text), TV_ERR_SFRAME_REPLAY);
    /* Older than the window (199 - 128 = 71 and before): refused even if never seen. */
    tv_sframe_receiver rx2;
    tv_sframe_receiver_init(&rx2, TV_SFRAME_CHACHA20_POLY1305_SHA256_128);
    tv_sframe_receiver_add(&rx2, 0, base1, 32);
    assert_int_equal(recv(&rx2, f[199], n[199], text, sizeof text), 0);
    assert_int_equal(recv(&rx2, f[72], n[72], text, sizeof text), 0);
    assert_int_equal(recv(&rx2, f[71], n[71], text, sizeof text), TV_ERR_SFRAME_REPLAY);
    /* A replay that is also tampered is still just a failure; the window is not moved by it. */
    uint8_t bad[64];
    memcpy(bad, f[199], n[199]);
    bad[n[199] - 1] ^= 1;
    assert_int_equal(recv(&rx2, bad, n[199], text, sizeof text), TV_ERR_SFRAME_REPLAY);
    tv_sframe_sender_wipe(&tx);
    tv_sframe_receiver_wipe(&rx);
    tv_sframe_receiver_wipe(&rx2);
}

static const tv_sframe_suite every_suite[] = {
    TV_SFRAME_AES_128_CTR_HMAC_SHA256_80, TV_SFRAME_AES_128_CTR_HMAC_SHA256_64,
    TV_SFRAME_AES_128_CTR_HMAC_SHA256_32, TV_SFRAME_AES_128_GCM_SHA256_128,
    TV_SFRAME_AES_256_GCM_SHA512_128, TV_SFRAME_CHACHA20_POLY1305_SHA256_128,
};

/* Keys are moved by assignment inside the sender and receiver (ratchet, rekey, slots): every suite
 * must survive it, frame after frame, not only the first one. */
static void ratchet_and_rekey_in(tv_sframe_suite suite)
{
    tv_sframe_sender tx;
    tv_sframe_receiver rx;
    tv_sframe_sender_init(&tx, suite, 5, base1, 32);
    tv_sframe_receiver_init(&rx, suite);
    tv_sframe_receiver_add(&rx, 5, base1, 32);
    uint8_t before[64], after[64], later[64], g2[64];
    char text[64];
    size_t nb = send(&tx, "under step 0", before, sizeof before);
    uint64_t kid0 = tv_sframe_sender_kid(&tx);
    assert_int_equal(tv_sframe_sender_ratchet(&tx), 0);
    assert_int_equal(tv_sframe_sender_kid(&tx), kid0 + 1);
    size_t na = send(&tx, "under step 1", after, sizeof after);
    /* The new key's frame arrives first, the old one after it: both decode. */
    assert_int_equal(recv(&rx, after, na, text, sizeof text), 0);
    assert_string_equal(text, "under step 1");
    assert_int_equal(recv(&rx, before, nb, text, sizeof text), 0);
    assert_string_equal(text, "under step 0");
    /* Three steps at once (frames lost): still derived, within 2^R. */
    for (int i = 0; i < 3; i++)
        tv_sframe_sender_ratchet(&tx);
    size_t nl = send(&tx, "under step 4", later, sizeof later);
    assert_int_equal(recv(&rx, later, nl, text, sizeof text), 0);
    assert_string_equal(text, "under step 4");
    /* A rejoin brings generation 6; generation 5's frames in flight still decode. */
    uint8_t late5[64];
    size_t n5 = send(&tx, "late gen 5", late5, sizeof late5);
    assert_int_equal(tv_sframe_sender_rekey(&tx, 6, base2, 32), 0);
    assert_int_equal(tv_sframe_sender_rekey(&tx, 6, base2, 32), TV_ERR_INVALID);   /* never reused */
    assert_int_equal(tv_sframe_receiver_add(&rx, 6, base2, 32), 0);
    size_t n6 = send(&tx, "gen 6", g2, sizeof g2);
    assert_int_equal(recv(&rx, g2, n6, text, sizeof text), 0);
    assert_string_equal(text, "gen 6");
    assert_int_equal(recv(&rx, late5, n5, text, sizeof text), 0);
    /* A third generation retires the first of the two (by arrival, whatever the numbers). */
    tv_sframe_receiver_add(&rx, 3, base1, 32);
    uint8_t again[64];
    tv_sframe_sender old;
    tv_sframe_sender_init(&old, suite, 5, base1, 32);
    size_t no = send(&old, "stale", again, sizeof again);
    assert_int_equal(recv(&rx, again, no, text, sizeof text), TV_ERR_SFRAME_KID);
    /* And many frames after all the moves, each decoding to what was sent. */
    for (int i = 0; i < 50; i++) {
        char msg[32], got[64];
        uint8_t f[64];
        snprintf(msg, sizeof msg, "frame %d after the moves", i);
        size_t n = send(&tx, msg, f, sizeof f);
        assert_int_equal(recv(&rx, f, n, got, sizeof got), 0);
        assert_string_equal(got, msg);
    }
    tv_sframe_sender_wipe(&old);
    tv_sframe_sender_wipe(&tx);
    tv_sframe_receiver_wipe(&rx);
}

static void ratchet_and_rekey_without_a_gap(void **s)
{
    (void)s;
    for (size_t i = 0; i < sizeof every_suite / sizeof every_suite[0]; i++)
        ratchet_and_rekey_in(every_suite[i]);
}

/* A forged frame with a KID some steps ahead must not move the receiver's ratchet: after it, the
 * honest sender's current frames still decode. */
static void forged_kid_does_not_move_the_ratchet(void **s)
{
    (void)s;
    tv_sframe_sender tx, attacker;
    tv_sframe_receiver rx;
    tv_sframe_sender_init(&tx, TV_SFRAME_CHACHA20_POLY1305_SHA256_128, 0, base1, 32);
    tv_sframe_sender_init(&attacker, TV_SFRAME_CHACHA20_POLY1305_SHA256_128, 0, base2, 32);   /* wrong key */
    tv_sframe_receiver_init(&rx, TV_SFRAME_CHACHA20_POLY1305_SHA256_128);
    tv_sframe_receiver_add(&rx, 0, base1, 32);
    for (int i = 0; i < 5; i++)
        tv_sframe_sender_ratchet(&attacker);
    uint8_t forged[64], honest[64];
    char text[64];
    size_t nf = send(&attacker, "forged", forged, sizeof forged);
    assert_int_equal(recv(&rx, forged, nf, text, sizeof text), TV_ERR_SFRAME_AUTH);
    size_t nh = send(&tx, "honest", honest, sizeof honest);
    assert_int_equal(recv(&rx, honest, nh, text, sizeof text), 0);
    assert_string_equal(text, "honest");
    /* Unknown generation: refused as such. */
    tv_sframe_sender other;
    tv_sframe_sender_init(&other, TV_SFRAME_CHACHA20_POLY1305_SHA256_128, 9, base1, 32);
    nf = send(&other, "x", forged, sizeof forged);
    assert_int_equal(recv(&rx, forged, nf, text, sizeof text), TV_ERR_SFRAME_KID);
    tv_sframe_sender_wipe(&tx);
    tv_sframe_sender_wipe(&attacker);
    tv_sframe_sender_wipe(&other);
    tv_sframe_receiver_wipe(&rx);
}

static void counter_exhaustion_and_wipe(void **s)
{
    (void)s;
    tv_sframe_sender tx;
    tv_sframe_sender_init(&tx, TV_SFRAME_CHACHA20_POLY1305_SHA256_128, 0, base1, 32);
    tx.ctr = UINT64_MAX - 1;
    uint8_t f[64];
    size_t n;
    assert_int_equal(tv_sframe_sender_protect(&tx, NULL, 0, (const uint8_t *)"a", 1, f, sizeof f, &n), 0);
    assert_int_equal(tv_sframe_sender_protect(&tx, NULL, 0, (const uint8_t *)"a", 1, f, sizeof f, &n), TV_ERR_SFRAME_COUNTER);
    /* A failed call still spends its counter: a buffer too small cannot lead to reuse. */
    tv_sframe_sender_ratchet(&tx);
    uint64_t before = tx.ctr;
    assert_int_equal(tv_sframe_sender_protect(&tx, NULL, 0, (const uint8_t *)"abc", 3, f, 4, &n), TV_ERR_NOSPACE);
    assert_int_equal(tx.ctr, before + 1);
    tv_sframe_sender_wipe(&tx);
    static const uint8_t zero[sizeof(tv_sframe_sender)];
    assert_memory_equal(&tx, zero, sizeof tx);
    assert_int_equal(tv_sframe_sender_protect(&tx, NULL, 0, (const uint8_t *)"a", 1, f, sizeof f, &n), TV_ERR_INVALID);
    assert_int_equal(tv_sframe_sender_init(&tx, TV_SFRAME_CHACHA20_POLY1305_SHA256_128, UINT64_MAX, base1, 32), TV_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_advance_and_replays_are_refused),
        cmocka_unit_test(ratchet_and_rekey_without_a_gap),
        cmocka_unit_test(forged_kid_does_not_move_the_ratchet),
        cmocka_unit_test(counter_exhaustion_and_wipe),
    };
    return TV_RUN(tests);
}
