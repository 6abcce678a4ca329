/* HOTP (RFC 4226) and TOTP (RFC 6238) for clinicians' second factor: code generation,
 * verification with one step of clock drift either side and replay refusal, secret generation,
 * and the otpauth:// provisioning URI that authenticator apps scan. */
#ifndef TV_TOTP_H
#define TV_TOTP_H

#include <stddef.h>
#include <stdint.h>

typedef enum tv_otp_alg { TV_OTP_SHA1 = 0, TV_OTP_SHA256 = 1, TV_OTP_SHA512 = 2 } tv_otp_alg;

typedef struct tv_totp_params {
    tv_otp_alg alg;
    unsigned digits;   /* 6 to 8 */
    unsigned period;   /* seconds, 1 to 3600 */
} tv_totp_params;

#define TV_TOTP_SECRET_BYTES 20     /* 160 bits, RFC 4226's recommended length */
#define TV_OTP_KEY_MAX 128
#define TV_TOTP_NO_STEP UINT64_MAX  /* "no code accepted yet" for tv_totp_verify */
#define TV_TOTP_ISSUER_MAX 64
#define TV_TOTP_ACCOUNT_MAX 254

void tv_totp_params_default(tv_totp_params *p);   /* SHA-1, 6 digits, 30 s: what every app supports */
int tv_totp_params_check(const tv_totp_params *p);

int tv_hotp(const uint8_t *key, size_t key_len, tv_otp_alg alg, unsigned digits,
            uint64_t counter, uint32_t *code);

int tv_totp_step(const tv_totp_params *p, uint64_t unix_time, uint64_t *step);

int tv_totp(const uint8_t *key, size_t key_len, const tv_totp_params *p,
            uint64_t unix_time, uint32_t *code);

/* Writes code zero-padded to `digits` characters plus NUL. */
int tv_otp_format(uint32_t code, unsigned digits, char *out, size_t out_size);

/* Accepts `code` (exactly p->digits ASCII digits) if it matches the step of unix_time or one step
 * either side, reporting the matched step. A match at or before last_step (TV_TOTP_NO_STEP for none)
 * is TV_ERR_OTP_REPLAY: store the matched step after each success and pass it back next time. */
int tv_totp_verify(const uint8_t *key, size_t key_len, const tv_totp_params *p, uint64_t unix_time,
                   const char *code, size_t code_len, uint64_t last_step, uint64_t *matched_step);

/* A fresh secret from libsodium's CSPRNG; secret_len from TV_TOTP_SECRET_BYTES to TV_OTP_KEY_MAX. */
int tv_totp_secret_generate(uint8_t *secret, size_t secret_len);

/* otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...&algorithm=...&digits=...&period=...
 * Issuer and account are UTF-8 without ':' or control characters, percent-encoded in the URI. */
int tv_totp_uri(const tv_totp_params *p, const char *issuer, size_t issuer_len,
                const char *account, size_t account_len, const uint8_t *secret, size_t secret_len,
                char *out, size_t out_size, size_t *out_len);

#endif
