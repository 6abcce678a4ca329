/* libFuzzer target for SFrame parsing and decryption: any bytes as a header, as a frame for each
 * suite, as a frame for a receiver with ratchet state, and as a media frame. Headers that parse must
 * re-encode to the same bytes; nothing may authenticate, since no key here ever encrypted anything
 * the fuzzer could see (a success would be a forgery). */
#include "tv_err.h"
#include "tv_init.h"
#include "tv_media.h"
#include "tv_sframe_ctx.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const tv_sframe_suite suites[] = {
    TV_SFRAME_AES_128_CTR_HMAC_SHA256_80, TV_SFRAME_AES_128_CTR_HMAC_SHA256_64,
    TV_SFRAME_AES_128_CTR_HMAC_SHA256_32, TV_SFRAME_AES_128_GCM_SHA256_128,
    TV_SFRAME_AES_256_GCM_SHA512_128, TV_SFRAME_CHACHA20_POLY1305_SHA256_128,
};
static uint8_t out[1 << 17];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    static const uint8_t base[32] = "fuzzing base key, never used...";
    if (!ready) {
        tv_init();
        ready = 1;
    }
    if (size > sizeof out - 64)
        return 0;

    uint64_t kid = 0, ctr = 0;
    size_t hlen;
    if (tv_sframe_header_decode(data, size, &kid, &ctr, &hlen) == 0) {
        uint8_t h[TV_SFRAME_HEADER_MAX];
        size_t n;
        if (tv_sframe_header_encode(kid, ctr, h, sizeof h, &n) != 0 || n != hlen || memcmp(h, data, n) != 0)
            abort();   /* one header per (KID, CTR), both ways */
    }
    if (size < 1)
        return 0;
    const tv_sframe_suite suite = suites[data[0] % 6];
    const uint8_t *frame = data + 1;
    size_t len = size - 1;

    tv_sframe_key k;
    if (tv_sframe_header_decode(frame, len, &kid, &ctr, &hlen) == 0 &&
        tv_sframe_key_init(&k, suite, kid, base, sizeof base) == 0) {
        size_t m;
        if (tv_sframe_decrypt(&k, NULL, 0, frame, len, out, sizeof out, &m, NULL) == 0)
            abort();
        tv_sframe_key_wipe(&k);
    }

    tv_sframe_receiver rx;
    tv_sframe_receiver_init(&rx, suite);
    tv_sframe_receiver_add(&rx, kid >> TV_SFRAME_RATCHET_BITS, base, sizeof base);
    size_t m;
    if (tv_sframe_receiver_unprotect(&rx, NULL, 0, frame, len, out, sizeof out, &m, NULL) == 0)
        abort();
    tv_sframe_receiver_wipe(&rx);

    tv_media media;
    tv_media_init(&media, suite, (data[0] & 0x80) ? TV_MEDIA_VP8 : TV_MEDIA_OPUS);
    tv_media_add_recv_key(&media, 0, base, sizeof base);
    if (tv_media_decrypt(&media, frame, len, out, sizeof out, &m) == 0)
        abort();
    tv_media_wipe(&media);
    return 0;
}
