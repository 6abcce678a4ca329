/* Strict UTF-8 (RFC 3629) for every string that crosses a trust boundary: no overlong forms,
 * no surrogates, nothing above U+10FFFF, so the C core and the browser agree on what a string is. */
#ifndef TV_UTF8_H
#define TV_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the code point at s[*pos] and advances *pos; TV_ERR_UTF8 on any invalid sequence. */
int tv_utf8_next(const char *s, size_t len, size_t *pos, uint32_t *cp);

/* Validates s and reports its length in code points (codepoints may be NULL). */
int tv_utf8_check(const char *s, size_t len, size_t *codepoints);

#endif
