#include "tv_utf8.h"
#include "tv_err.h"

int tv_utf8_next(const char *s, size_t len, size_t *pos, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = *pos;
    if (i >= len)
        return TV_ERR_INVALID;
    uint32_t c = u[i];
    unsigned n;
    uint32_t min;
    if (c < 0x80) { *cp = c; *pos = i + 1; return 0; }
    else if ((c & 0xE0) == 0xC0) { n = 1; c &= 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { n = 2; c &= 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { n = 3; c &= 0x07; min = 0x10000; }
    else return TV_ERR_UTF8;
    if (len - i - 1 < n)
        return TV_ERR_UTF8;
    for (unsigned k = 1; k <= n; k++) {
        if ((u[i + k] & 0xC0) != 0x80)
            return TV_ERR_UTF8;
        c = (c << 6) | (u[i + k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return TV_ERR_UTF8;
    *cp = c;
    *pos = i + 1 + n;
    return 0;
}

int tv_utf8_check(const char *s, size_t len, size_t *codepoints)
{
    if (s == NULL && len > 0)
        return TV_ERR_INVALID;
    size_t pos = 0, count = 0;
    uint32_t cp;
    while (pos < len) {
        int rc = tv_utf8_next(s, len, &pos, &cp);
        if (rc != 0)
            return rc;
        count++;
    }
    if (codepoints)
        *codepoints = count;
    return 0;
}
