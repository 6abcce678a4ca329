/* The core as the browser calls it: flat functions over plain numbers and byte buffers, so the
 * JS glue only copies strings in and out of wasm memory. Each wraps one core call; structs stay in C. */
#ifndef TV_CLIENT_H
#define TV_CLIENT_H

#include <stddef.h>
#include <stdint.h>

int tv_client_password_check(const char *pw, size_t pw_len, uint32_t min_length, int min_score,
                             uint32_t *failed, int *score, double *entropy_bits);

int tv_client_totp(const uint8_t *key, size_t key_len, int alg, unsigned digits, unsigned period,
                   uint64_t unix_time, char *out, size_t out_size);

/* last_step < 0: no code accepted yet. *matched_step is a double: steps stay far below 2^53. */
int tv_client_totp_verify(const uint8_t *key, size_t key_len, int alg, unsigned digits, unsigned period,
                          uint64_t unix_time, const char *code, size_t code_len, double last_step,
                          double *matched_step);

/* Validates one signaling frame; *type gets its tv_msg_type, field (size bytes) the member at fault. */
int tv_client_msg_check(const char *text, size_t len, int origin, int *type, char *field, size_t field_size);

/* A visit state machine in wasm memory, owned by the caller until tv_client_visit_free. */
void *tv_client_visit_new(int role, uint32_t join_timeout_ms, uint32_t reconnect_ms);
int tv_client_visit_step(void *visit, int event, uint32_t *mask, uint32_t *timer_ms);
int tv_client_visit_state(const void *visit);
void tv_client_visit_free(void *visit);

/* The browser cache's key (docs/architecture.md): the device secret (kept wrapped by a
 * non-extractable WebCrypto key) and the server's per-account share, both needed; the key is then
 * used with tv_record_seal/open, store and key name as the identity. out: TV_RECORD_KEYBYTES. */
int tv_client_cache_key(const uint8_t *device_secret, size_t device_len, const uint8_t *share, size_t share_len,
                        uint8_t *out, size_t out_size);

#endif
