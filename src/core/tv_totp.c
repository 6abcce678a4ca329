#include "tv_totp.h"
#include "tv_base32.h"
#include "tv_err.h"
#include "tv_utf8.h"

#include <mbedtls/md.h>
#include <sodium.h>
#include <string.h>

static const uint32_t pow10_table[] = { 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000 };

static const char *alg_name(tv_otp_alg alg)
{
    switch (alg) {
    case TV_OTP_SHA1: return "SHA1";
    case TV_OTP_SHA256: return "SHA256";
    case TV_OTP_SHA512: return "SHA512";
    }
    return NULL;
}

void tv_totp_params_default(tv_totp_params *p)
{
    p->alg = TV_OTP_SHA1;
    p->digits = 6;
    p->period = 30;
}

int tv_totp_params_check(const tv_totp_params *p)
{
    if (p == NULL || alg_name(p->alg) == NULL || p->digits < 6 || p->digits > 8 ||
        p->period < 1 || p->period > 3600)
        return TV_ERR_INVALID;
    return 0;
}

int tv_hotp(const uint8_t *key, size_t key_len, tv_otp_alg alg, unsigned digits,
            uint64_t counter, uint32_t *code)
{
    static const mbedtls_md_type_t md_types[] = { MBEDTLS_MD_SHA1, MBEDTLS_MD_SHA256, MBEDTLS_MD_SHA512 };
    if (key == NULL || key_len == 0 || key_len > TV_OTP_KEY_MAX || alg_name(alg) == NULL ||
        digits < 6 || digits > 8 || code == NULL)
        return TV_ERR_INVALID;
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(md_types[alg]);
    if (md == NULL)
        return TV_ERR_UNSUPPORTED;
    uint8_t msg[8], mac[64];
    for (int i = 7; i >= 0; i--) {
        msg[i] = (uint8_t)(counter & 0xFF);
        counter >>= 8;
    }
    if (mbedtls_md_hmac(md, key, key_len, msg, sizeof msg, mac) != 0)
        return TV_ERR_UNSUPPORTED;
    /* Dynamic truncation, RFC 4226 section 5.3. */
    size_t mac_len = mbedtls_md_get_size(md);
    unsigned off = mac[mac_len - 1] & 0x0F;
    uint32_t bin = ((uint32_t)(mac[off] & 0x7F) << 24) | ((uint32_t)mac[off + 1] << 16) |
                   ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
    *code = bin % pow10_table[digits];
    sodium_memzero(mac, sizeof mac);
    return 0;
}

int tv_totp_step(const tv_totp_params *p, uint64_t unix_time, uint64_t *step)
{
    if (tv_totp_params_check(p) != 0 || step == NULL)
        return TV_ERR_INVALID;
    *step = unix_time / p->period;
    return 0;
}

int tv_totp(const uint8_t *key, size_t key_len, const tv_totp_params *p,
            uint64_t unix_time, uint32_t *code)
{
    uint64_t step;
    int rc = tv_totp_step(p, unix_time, &step);
    if (rc != 0)
        return rc;
    return tv_hotp(key, key_len, p->alg, p->digits, step, code);
}

int tv_otp_format(uint32_t code, unsigned digits, char *out, size_t out_size)
{
    if (digits < 6 || digits > 8 || out == NULL || code >= pow10_table[digits])
        return TV_ERR_INVALID;
    if (out_size < digits + 1)
        return TV_ERR_NOSPACE;
    for (unsigned i = digits; i > 0; i--) {
        out[i - 1] = (char)('0' + code % 10);
        code /= 10;
    }
    out[digits] = '\0';
    return 0;
}

int tv_totp_verify(const uint8_t *key, size_t key_len, const tv_totp_params *p, uint64_t unix_time,
                   const char *code, size_t code_len, uint64_t last_step, uint64_t *matched_step)
{
    uint64_t now_step;
    int rc = tv_totp_step(p, unix_time, &now_step);
    if (rc != 0 || key == NULL || key_len == 0 || key_len > TV_OTP_KEY_MAX)
        return TV_ERR_INVALID;
    if (code == NULL || code_len != p->digits)
        return TV_ERR_OTP_FORMAT;
    for (size_t i = 0; i < code_len; i++)
        if (code[i] < '0' || code[i] > '9')
            return TV_ERR_OTP_FORMAT;

    /* Every candidate step is computed and compared, so timing does not tell which one matched. */
    int found = 0;
    uint64_t found_step = 0;
    for (int d = -1; d <= 1; d++) {
        if ((d < 0 && now_step == 0) || (d > 0 && now_step == UINT64_MAX))
            continue;
        uint64_t step = now_step + (uint64_t)(int64_t)d;
        uint32_t expect;
        char expect_txt[9];
        rc = tv_hotp(key, key_len, p->alg, p->digits, step, &expect);
        if (rc != 0)
            return rc;
        tv_otp_format(expect, p->digits, expect_txt, sizeof expect_txt);
        int eq = sodium_memcmp(expect_txt, code, code_len) == 0;
        sodium_memzero(expect_txt, sizeof expect_txt);
        /* The latest matching step wins, so a code valid in two steps is not refused as a replay. */
        if (eq) {
            found = 1;
            found_step = step;
        }
    }
    if (!found)
        return TV_ERR_OTP_MISMATCH;
    if (last_step != TV_TOTP_NO_STEP && found_step <= last_step)
        return TV_ERR_OTP_REPLAY;
    if (matched_step)
        *matched_step = found_step;
    return 0;
}

int tv_totp_secret_generate(uint8_t *secret, size_t secret_len)
{
    if (secret == NULL || secret_len < TV_TOTP_SECRET_BYTES || secret_len > TV_OTP_KEY_MAX)
        return TV_ERR_INVALID;
    randombytes_buf(secret, secret_len);
    return 0;
}

/* A label part may not contain ':' (it separates issuer and account) nor control characters. */
static int check_label(const char *s, size_t len, size_t max)
{
    if (s == NULL || len == 0)
        return TV_ERR_INVALID;
    if (len > max)
        return TV_ERR_TOO_LONG;
    int rc = tv_utf8_check(s, len, NULL);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ':' || c < 0x20 || c == 0x7F)
            return TV_ERR_INVALID;
    }
    return 0;
}

typedef struct uri_buf { char *p; size_t size, len; int overflow; } uri_buf;

static void put(uri_buf *b, const char *s, size_t n)
{
    if (b->overflow || b->size - b->len <= n) {
        b->overflow = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void put_str(uri_buf *b, const char *s) { put(b, s, strlen(s)); }

/* RFC 3986: everything but the unreserved set is percent-encoded. */
static void put_pct(uri_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            put(b, (const char *)&c, 1);
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            put(b, e, 3);
        }
    }
}

int tv_totp_uri(const tv_totp_params *p, const char *issuer, size_t issuer_len,
                const char *account, size_t account_len, const uint8_t *secret, size_t secret_len,
                char *out, size_t out_size, size_t *out_len)
{
    int rc;
    if (tv_totp_params_check(p) != 0 || out == NULL || secret == NULL ||
        secret_len < TV_TOTP_SECRET_BYTES || secret_len > TV_OTP_KEY_MAX)
        return TV_ERR_INVALID;
    if ((rc = check_label(issuer, issuer_len, TV_TOTP_ISSUER_MAX)) != 0 ||
        (rc = check_label(account, account_len, TV_TOTP_ACCOUNT_MAX)) != 0)
        return rc;
    char b32[(TV_OTP_KEY_MAX * 8 + 4) / 5 + 1];
    size_t b32_len;
    rc = tv_base32_encode(secret, secret_len, 0, b32, sizeof b32, &b32_len);
    if (rc != 0)
        return rc;
    char num[16];
    uri_buf b = { out, out_size, 0, 0 };
    put_str(&b, "otpauth://totp/");
    put_pct(&b, issuer, issuer_len);
    put_str(&b, ":");
    put_pct(&b, account, account_len);
    put_str(&b, "?secret=");
    put(&b, b32, b32_len);
    put_str(&b, "&issuer=");
    put_pct(&b, issuer, issuer_len);
    put_str(&b, "&algorithm=");
    put_str(&b, alg_name(p->alg));
    num[0] = (char)('0' + p->digits);
    put_str(&b, "&digits=");
    put(&b, num, 1);
    put_str(&b, "&period=");
    size_t n = 0;
    char rev[8];
    for (unsigned v = p->period; v > 0; v /= 10)
        rev[n++] = (char)('0' + v % 10);
    for (size_t i = 0; i < n; i++)
        num[i] = rev[n - 1 - i];
    put(&b, num, n);
    sodium_memzero(b32, sizeof b32);
    if (b.overflow) {
        sodium_memzero(out, out_size);
        return TV_ERR_NOSPACE;
    }
    out[b.len] = '\0';
    if (out_len)
        *out_len = b.len;
    return 0;
}
