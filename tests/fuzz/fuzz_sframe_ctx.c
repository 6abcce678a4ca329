/* Stateful libFuzzer target for the SFrame sender and receiver: the input is a program of operations
 * (send a frame, deliver one in any order or again, deliver a tampered copy, ratchet, rekey) run
 * against a real sender and receiver. Whatever the order, a frame is accepted at most once, what is
 * accepted is exactly what was sent, and a tampered frame is never accepted. */
#include "tv_err.h"
#include "tv_init.h"
#include "tv_sframe_ctx.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define POOL 64

static const tv_sframe_suite suites[] = {
    TV_SFRAME_AES_128_CTR_HMAC_SHA256_80, TV_SFRAME_AES_128_CTR_HMAC_SHA256_32,
    TV_SFRAME_AES_128_GCM_SHA256_128, TV_SFRAME_AES_256_GCM_SHA512_128, TV_SFRAME_CHACHA20_POLY1305_SHA256_128,
};

typedef struct sent { uint8_t frame[96]; size_t len; uint8_t pt[32]; int accepted; } sent;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        tv_init();
        ready = 1;
    }
    if (size < 1)
        return 0;
    static sent pool[POOL];
    int n = 0;
    const tv_sframe_suite suite = suites[data[0] % 5];
    uint8_t base[32] = "fuzz base key, generation one...";
    uint64_t gen = 1;
    tv_sframe_sender tx;
    tv_sframe_receiver rx;
    if (tv_sframe_sender_init(&tx, suite, gen, base, sizeof base) != 0 || tv_sframe_receiver_init(&rx, suite) != 0 ||
        tv_sframe_receiver_add(&rx, gen, base, sizeof base) != 0)
        abort();
    uint8_t out[96];
    size_t m;
    for (size_t i = 1; i + 1 < size && i < 4000; i += 2) {
        uint8_t op = data[i] % 6, arg = data[i + 1];
        if (op == 0 && n < POOL) {                         /* send a new frame */
            sent *f = &pool[n];
            memset(f->pt, arg, sizeof f->pt);
            f->pt[0] = (uint8_t)n;
            f->accepted = 0;
            if (tv_sframe_sender_protect(&tx, NULL, 0, f->pt, sizeof f->pt, f->frame, sizeof f->frame, &f->len) != 0)
                abort();
            n++;
        } else if ((op == 1 || op == 5) && n > 0) {        /* deliver one, in any order, maybe again */
            sent *f = &pool[arg % n];
            int rc = tv_sframe_receiver_unprotect(&rx, NULL, 0, f->frame, f->len, out, sizeof out, &m, NULL);
            if (rc == 0) {
                if (f->accepted || m != sizeof f->pt || memcmp(out, f->pt, m) != 0)
                    abort();   /* accepted twice, or not what was sent */
                f->accepted = 1;
            }
        } else if (op == 2 && n > 0) {                     /* a tampered copy */
            sent *f = &pool[arg % n];
            uint8_t bad[96];
            memcpy(bad, f->frame, f->len);
            bad[(arg * 7u) % f->len] ^= (uint8_t)(1u << (arg % 8));
            if (tv_sframe_receiver_unprotect(&rx, NULL, 0, bad, f->len, out, sizeof out, &m, NULL) == 0)
                abort();
        } else if (op == 3) {                              /* ratchet */
            if (tv_sframe_sender_ratchet(&tx) != 0)
                abort();
        } else if (op == 4) {                              /* a new generation */
            base[0] ^= arg | 1;
            gen = gen * 31 + 7 + arg;
            if (gen == tx.generation)
                gen++;
            gen &= (UINT64_MAX >> TV_SFRAME_RATCHET_BITS);
            if (tv_sframe_sender_rekey(&tx, gen, base, sizeof base) != 0 ||
                tv_sframe_receiver_add(&rx, gen, base, sizeof base) != 0)
                abort();
        }
    }
    tv_sframe_sender_wipe(&tx);
    tv_sframe_receiver_wipe(&rx);
    return 0;
}
