/* Base32 (RFC 4648 section 6) for TOTP secrets, as authenticator apps expect them.
 * Encoding emits upper case; decoding is case-insensitive, takes padding or none, and
 * rejects anything else: other characters, impossible lengths, non-zero trailing bits. */
#ifndef TV_BASE32_H
#define TV_BASE32_H

#include <stddef.h>
#include <stdint.h>

/* Characters needed to encode bin_len bytes, plus one for the terminating NUL. */
size_t tv_base32_encoded_size(size_t bin_len, int pad);

int tv_base32_encode(const uint8_t *bin, size_t bin_len, int pad,
                     char *out, size_t out_size, size_t *out_len);

int tv_base32_decode(const char *txt, size_t txt_len,
                     uint8_t *out, size_t out_size, size_t *out_len);

#endif
