#include "tv_base32.h"
#include "tv_err.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

size_t tv_base32_encoded_size(size_t bin_len, int pad)
{
    size_t chars = pad ? ((bin_len + 4) / 5) * 8 : (bin_len * 8 + 4) / 5;
    return chars + 1;
}

int tv_base32_encode(const uint8_t *bin, size_t bin_len, int pad,
                     char *out, size_t out_size, size_t *out_len)
{
    if ((bin == NULL && bin_len > 0) || out == NULL || bin_len > SIZE_MAX / 8 - 8)
        return TV_ERR_INVALID;
    if (out_size < tv_base32_encoded_size(bin_len, pad))
        return TV_ERR_NOSPACE;
    size_t n = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < bin_len; i++) {
        acc = (acc << 8) | bin[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[n++] = alphabet[(acc >> bits) & 31];
        }
    }
    if (bits > 0)
        out[n++] = alphabet[(acc << (5 - bits)) & 31];
    if (pad)
        while (n % 8 != 0)
            out[n++] = '=';
    out[n] = '\0';
    if (out_len)
        *out_len = n;
    return 0;
}

static int b32_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= '2' && c <= '7') return c - '2' + 26;
    return -1;
}

int tv_base32_decode(const char *txt, size_t txt_len,
                     uint8_t *out, size_t out_size, size_t *out_len)
{
    if ((txt == NULL && txt_len > 0) || (out == NULL && out_size > 0))
        return TV_ERR_INVALID;
    size_t data_len = txt_len;
    while (data_len > 0 && txt[data_len - 1] == '=')
        data_len--;
    /* Padding, when present, must complete the last 8-character group exactly. */
    if (data_len != txt_len) {
        size_t pad = txt_len - data_len;
        if (txt_len % 8 != 0 || pad >= 8)
            return TV_ERR_ENCODING;
    }
    /* 1, 3 or 6 characters in a final group cannot come from whole bytes. */
    size_t rem = data_len % 8;
    if (rem == 1 || rem == 3 || rem == 6)
        return TV_ERR_ENCODING;
    if (data_len != txt_len && rem == 0)
        return TV_ERR_ENCODING;
    size_t need = data_len / 8 * 5 + data_len % 8 * 5 / 8;   /* no overflow where size_t is 32 bits */
    if (need > out_size)
        return TV_ERR_NOSPACE;
    size_t n = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < data_len; i++) {
        int v = b32_value(txt[i]);
        if (v < 0)
            return TV_ERR_ENCODING;
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return TV_ERR_ENCODING;   /* non-canonical: the same bytes have one spelling only */
    if (out_len)
        *out_len = n;
    return 0;
}
