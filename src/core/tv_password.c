#include "tv_password.h"
#include "tv_err.h"
#include "tv_utf8.h"

#include <sodium.h>
#include <string.h>
#ifdef TV_HAVE_ZXCVBN
#include <zxcvbn.h>
#endif

void tv_password_policy_default(tv_password_policy *p)
{
    p->min_length = TV_PASSWORD_MIN_LENGTH;
    p->min_score = 0;
}

int tv_password_have_strength(void)
{
#ifdef TV_HAVE_ZXCVBN
    return 1;
#else
    return 0;
#endif
}

static int check_input(const char *pw, size_t pw_len, size_t *codepoints)
{
    if (pw == NULL && pw_len > 0)
        return TV_ERR_INVALID;
    if (pw_len > TV_PASSWORD_MAX_BYTES)
        return TV_ERR_TOO_LONG;
    return tv_utf8_check(pw, pw_len, codepoints);
}

/* Letter case for the scripts our users write passwords in: Latin (ASCII, Latin-1, Extended-A),
 * Greek and Cyrillic. A table rather than iswupper(), whose answer depends on the C library and the
 * locale, so the browser and the server always agree. Uncased scripts count toward length only. */
static int is_upper(uint32_t c)
{
    if (c >= 'A' && c <= 'Z') return 1;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return 1;
    if (c >= 0x100 && c <= 0x137) return (c & 1) == 0;
    if (c >= 0x139 && c <= 0x148) return (c & 1) == 1;
    if (c >= 0x14A && c <= 0x177) return (c & 1) == 0;
    if (c == 0x178 || c == 0x179 || c == 0x17B || c == 0x17D) return 1;
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return 1;
    if (c >= 0x400 && c <= 0x42F) return 1;
    return 0;
}

static int is_lower(uint32_t c)
{
    if (c >= 'a' && c <= 'z') return 1;
    if (c >= 0xDF && c <= 0xFF && c != 0xF7) return 1;
    if (c >= 0x100 && c <= 0x137) return (c & 1) == 1;
    if (c >= 0x139 && c <= 0x148) return (c & 1) == 0;
    if (c >= 0x14A && c <= 0x177) return (c & 1) == 1;
    if (c == 0x17A || c == 0x17C || c == 0x17E || c == 0x17F) return 1;
    if (c >= 0x3AC && c <= 0x3CE) return 1;
    if (c >= 0x430 && c <= 0x45F) return 1;
    return 0;
}

int tv_password_strength_estimate(const char *pw, size_t pw_len, const char *const *user_inputs,
                                  tv_password_strength *out)
{
    int rc = check_input(pw, pw_len, NULL);
    if (rc != 0)
        return rc;
    if (out == NULL)
        return TV_ERR_INVALID;
#ifdef TV_HAVE_ZXCVBN
    /* zxcvbn-c wants a C string; an embedded NUL would end it early, so refuse one. */
    if (pw_len > 0 && memchr(pw, '\0', pw_len) != NULL)
        return TV_ERR_INVALID;
    char buf[TV_PASSWORD_MAX_BYTES + 1];
    if (pw_len > 0)
        memcpy(buf, pw, pw_len);
    buf[pw_len] = '\0';
    double bits = ZxcvbnMatch(buf, (const char **)user_inputs, NULL);
    sodium_memzero(buf, sizeof buf);
    /* zxcvbn's score bands are on log10(guesses): <3, <6, <8, <10, else 4. */
    static const double band_bits[] = { 9.9658, 19.9316, 26.5754, 33.2193 };
    int score = 0;
    while (score < 4 && bits >= band_bits[score])
        score++;
    out->score = score;
    out->entropy_bits = bits;
    return 0;
#else
    (void)user_inputs;
    return TV_ERR_UNSUPPORTED;
#endif
}

int tv_password_check(const tv_password_policy *p, const char *pw, size_t pw_len,
                      const char *const *user_inputs, uint32_t *failed, tv_password_strength *strength)
{
    size_t cps;
    if (p == NULL || failed == NULL || p->min_score < 0 || p->min_score > 4)
        return TV_ERR_INVALID;
    int rc = check_input(pw, pw_len, &cps);
    if (rc != 0)
        return rc;
    uint32_t f = 0;
    uint32_t min_len = p->min_length < TV_PASSWORD_MIN_LENGTH ? TV_PASSWORD_MIN_LENGTH : p->min_length;
    if (cps < min_len)
        f |= TV_PW_RULE_LENGTH;
    int up = 0, low = 0, dig = 0;
    size_t pos = 0;
    uint32_t c;
    while (pos < pw_len && tv_utf8_next(pw, pw_len, &pos, &c) == 0) {
        up |= is_upper(c);
        low |= is_lower(c);
        dig |= (c >= '0' && c <= '9');
    }
    if (!up) f |= TV_PW_RULE_UPPER;
    if (!low) f |= TV_PW_RULE_LOWER;
    if (!dig) f |= TV_PW_RULE_DIGIT;

    tv_password_strength st = { 0, 0.0 };
    rc = tv_password_strength_estimate(pw, pw_len, user_inputs, &st);
    if (rc == TV_ERR_UNSUPPORTED && p->min_score == 0)
        rc = 0;
    else if (rc == 0 && st.score < p->min_score)
        f |= TV_PW_RULE_STRENGTH;
    if (rc != 0)
        return rc;
    if (strength)
        *strength = st;
    *failed = f;
    return 0;
}

void tv_pwhash_cost_default(tv_pwhash_cost *c)
{
    c->opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    c->memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
}

int tv_pwhash_cost_check(const tv_pwhash_cost *c)
{
    if (c == NULL || c->opslimit < TV_PWHASH_MIN_OPS || c->memlimit < TV_PWHASH_MIN_MEM ||
        c->opslimit > crypto_pwhash_OPSLIMIT_MAX || c->memlimit > crypto_pwhash_MEMLIMIT_MAX)
        return TV_ERR_INVALID;
    return 0;
}

int tv_pwhash(const tv_pwhash_cost *c, const char *pw, size_t pw_len, char *out, size_t out_size)
{
    int rc = check_input(pw, pw_len, NULL);
    if (rc != 0)
        return rc;
    if (tv_pwhash_cost_check(c) != 0 || out == NULL)
        return TV_ERR_INVALID;
    if (out_size < crypto_pwhash_STRBYTES)
        return TV_ERR_NOSPACE;
    if (crypto_pwhash_str_alg(out, pw ? pw : "", pw_len, c->opslimit, c->memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return TV_ERR_NOMEM;   /* libsodium's only failure here is the memory limit */
    return 0;
}

/* libsodium reads the hash as a C string of at most crypto_pwhash_STRBYTES. */
static int hash_cstr(const char *hash, size_t hash_len, char buf[crypto_pwhash_STRBYTES])
{
    if (hash == NULL || hash_len == 0 || hash_len >= crypto_pwhash_STRBYTES ||
        memchr(hash, '\0', hash_len) != NULL)
        return TV_ERR_INVALID;
    memcpy(buf, hash, hash_len);
    memset(buf + hash_len, 0, crypto_pwhash_STRBYTES - hash_len);
    return 0;
}

int tv_pwhash_verify(const char *hash, size_t hash_len, const char *pw, size_t pw_len)
{
    char buf[crypto_pwhash_STRBYTES];
    int rc = check_input(pw, pw_len, NULL);
    if (rc != 0)
        return rc;
    if ((rc = hash_cstr(hash, hash_len, buf)) != 0)
        return rc;
    if (strncmp(buf, crypto_pwhash_argon2id_STRPREFIX, strlen(crypto_pwhash_argon2id_STRPREFIX)) != 0)
        return TV_ERR_INVALID;
    return crypto_pwhash_str_verify(buf, pw ? pw : "", pw_len) == 0 ? 0 : TV_ERR_PASSWORD_MISMATCH;
}

int tv_pwhash_needs_rehash(const tv_pwhash_cost *c, const char *hash, size_t hash_len, int *needs)
{
    char buf[crypto_pwhash_STRBYTES];
    int rc;
    if (tv_pwhash_cost_check(c) != 0 || needs == NULL)
        return TV_ERR_INVALID;
    if ((rc = hash_cstr(hash, hash_len, buf)) != 0)
        return rc;
    rc = crypto_pwhash_str_needs_rehash(buf, c->opslimit, c->memlimit);
    if (rc < 0)
        return TV_ERR_INVALID;
    *needs = rc;
    return 0;
}
