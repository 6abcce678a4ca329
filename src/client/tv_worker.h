/* The media worker's view of the core. One call object holds this side's X25519 key pair, the agreed
 * keys and an E2EE transform per stream kind, all in the worker's wasm memory: the secret key and the
 * SFrame keys never reach JavaScript. The exchange is commit-then-reveal and enforced here:
 *   clinician: commitment() -> [patient's key arrives] derive() -> public_key() (revealed last)
 *   patient:   accept_commitment() -> public_key() -> [clinician's key arrives] derive() (checked
 *              against the commitment)
 * A key pair serves one exchange; rekey() makes the next one. */
#ifndef TV_WORKER_H
#define TV_WORKER_H

#include <stddef.h>
#include <stdint.h>

void *tv_worker_call_new(int role, int suite);
void tv_worker_call_free(void *call);
double tv_worker_call_epoch(const void *call);
/* Clinician: the commitment to its public key (32 bytes), to send before anything else. */
int tv_worker_call_commitment(void *call, const char *visit, size_t visit_len, uint8_t *out);
/* Patient: takes the clinician's commitment; only then may its own key be revealed. */
int tv_worker_call_accept_commitment(void *call, const uint8_t *commitment, double peer_epoch);
/* out: 32 bytes. Refused (TV_ERR_STATE_ILLEGAL) before the protocol allows the reveal. */
int tv_worker_call_public_key(const void *call, uint8_t *out);
/* A fresh key pair (a rejoin, or a new exchange): the epoch grows, the old secret is wiped. */
int tv_worker_call_rekey(void *call);
/* Agrees keys with the peer's public key and installs them in both transforms; *sas gets the short
 * authentication string (0-999999). Once per key pair. */
int tv_worker_call_derive(void *call, const uint8_t *peer_pk, double peer_epoch,
                          const char *visit, size_t visit_len, const char *local_fp, size_t local_fp_len,
                          const char *remote_fp, size_t remote_fp_len, uint32_t *sas);
/* codec: 1 Opus, 2 VP8 */
int tv_worker_encrypt(void *call, int codec, const uint8_t *in, size_t len, uint8_t *out, size_t out_size,
                      size_t *out_len);
int tv_worker_decrypt(void *call, int codec, const uint8_t *in, size_t len, uint8_t *out, size_t out_size,
                      size_t *out_len);
/* One forward-secrecy step of both send keys (RFC 9605 section 5.1). */
int tv_worker_ratchet(void *call);
/* 1 if this module's libsodium runs its SIMD ChaCha20 (the media module's wasm SIMD build), else 0. */
int tv_worker_simd(void);
/* out[11]: encrypted, decrypted, fail_auth, fail_replay, fail_kid, fail_header, fail_short, fail_other,
 * send_kid, recv_kid, send_dropped. */
int tv_worker_stats(const void *call, int codec, double *out);

#endif
