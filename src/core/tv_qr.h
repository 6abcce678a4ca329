/* QR codes as SVG, for the TOTP enrollment page: the otpauth:// URI drawn with libqrencode,
 * error correction level M, a four-module quiet zone, one <path> so the markup stays small
 * and needs no inline style (the page's CSP allows none). */
#ifndef TV_QR_H
#define TV_QR_H

#include <stddef.h>

#define TV_QR_TEXT_MAX 1024

/* On TV_ERR_NOSPACE, *out_len (if given) holds the size needed, NUL included. */
int tv_qr_svg(const char *text, size_t text_len, char *out, size_t out_size, size_t *out_len);

#endif
