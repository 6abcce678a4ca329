/* Throughput of each SFrame suite, encrypt + decrypt of whole frames, in MB/s of frame data.
 * Built natively and to wasm (run by node) from the same source, so the two can be compared.
 * Output: one line per suite and frame size, "suite size MB/s", parsed by bench/e2ee.mjs. */
#define _POSIX_C_SOURCE 200809L
#include "tv_init.h"
#include "tv_sframe.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    static const struct { tv_sframe_suite s; const char *name; } suites[] = {
        { TV_SFRAME_CHACHA20_POLY1305_SHA256_128, "chacha20_poly1305" },
        { TV_SFRAME_AES_128_GCM_SHA256_128, "aes_128_gcm" },
        { TV_SFRAME_AES_256_GCM_SHA512_128, "aes_256_gcm" },
        { TV_SFRAME_AES_128_CTR_HMAC_SHA256_80, "aes_128_ctr_hmac_80" },
    };
    static const size_t sizes[] = { 1000, 100000 };
    static const uint8_t base[32] = "benchmark base key..............";
    if (tv_init() != 0)
        return 1;
    uint8_t *pt = malloc(100000), *ct = malloc(100100), *back = malloc(100000);
    if (!pt || !ct || !back)
        return 1;
    for (size_t i = 0; i < 100000; i++)
        pt[i] = (uint8_t)(i * 131);
    for (size_t si = 0; si < sizeof suites / sizeof suites[0]; si++) {
        tv_sframe_key k;
        if (tv_sframe_key_init(&k, suites[si].s, 1, base, sizeof base) != 0)
            return 1;
        for (size_t zi = 0; zi < sizeof sizes / sizeof sizes[0]; zi++) {
            size_t size = sizes[zi], n, m;
            uint64_t ctr = 0, frames = 0;
            double t0 = now_s(), t;
            /* at least 0.3 s of work per measurement */
            do {
                for (int r = 0; r < 64; r++, frames++) {
                    if (tv_sframe_encrypt(&k, ctr++, NULL, 0, pt, size, ct, 100100, &n) != 0 ||
                        tv_sframe_decrypt(&k, NULL, 0, ct, n, back, 100000, &m, NULL) != 0)
                        return 2;
                }
                t = now_s() - t0;
            } while (t < 0.3);
            printf("%s %zu %.1f\n", suites[si].name, size, (double)frames * (double)size / t / 1e6);
        }
        tv_sframe_key_wipe(&k);
    }
    free(pt);
    free(ct);
    free(back);
    return 0;
}
