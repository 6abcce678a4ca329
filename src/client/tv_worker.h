/* The media worker's view of the core. One call object holds this side's X25519 key pair, the
 * agreed keys and an E2EE transform per stream kind, all in the worker's wasm memory: the secret
 * key and the SFrame keys never reach JavaScript. JS passes public keys, fingerprints and frames. */
#ifndef TV_WORKER_H
#define TV_WORKER_H

#include <stddef.h>
#include <stdint.h>

void *tv_worker_call_new(int role, int suite);
void tv_worker_call_free(void *call);
/* out: 32 bytes. */
int tv_worker_call_public_key(const void *call, uint8_t *out);
double tv_worker_call_epoch(const void *call);
/* A fresh key pair (a rejoin): the epoch grows, the old secret is wiped. Derive again after it. */
int tv_worker_call_rekey(void *call);
/* Agrees keys with the peer's public key and epoch and installs them in both transforms; *sas gets
 * the short authentication string (0-999999). Fingerprints: the SDP a=fingerprint values, this
 * side's and the peer's. */
int tv_worker_call_derive(void *call, const uint8_t *peer_pk, double peer_epoch,
                          const char *visit, size_t visit_len, const char *local_fp, size_t local_fp_len,
                          const char *remote_fp, size_t remote_fp_len, uint32_t *sas);
/* codec: 1 Opus, 2 VP8 */
int tv_worker_encrypt(void *call, int codec, const uint8_t *in, size_t len, uint8_t *out, size_t out_size,
                      size_t *out_len);
int tv_worker_decrypt(void *call, int codec, const uint8_t *in, size_t len, uint8_t *out, size_t out_size,
                      size_t *out_len);
/* out[10]: encrypted, decrypted, fail_auth, fail_replay, fail_kid, fail_header, fail_short, fail_other,
 * send_kid, recv_kid. */
int tv_worker_stats(const void *call, int codec, double *out);

#endif
