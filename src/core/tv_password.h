/* Clinician passwords: the policy (what the UI shows live and the server enforces), a strength
 * estimate from zxcvbn-c, and Argon2id hashing with libsodium. Inputs over TV_PASSWORD_MAX_BYTES or
 * not valid UTF-8 are refused before any work, so a huge input cannot cost the server a hash. */
#ifndef TV_PASSWORD_H
#define TV_PASSWORD_H

#include <stddef.h>
#include <stdint.h>

#define TV_PASSWORD_MAX_BYTES 1024
#define TV_PASSWORD_MIN_LENGTH 8

/* Rules a password can fail, as bits of tv_password_check's `failed`. */
enum tv_password_rule {
    TV_PW_RULE_LENGTH = 1 << 0,    /* fewer code points than min_length */
    TV_PW_RULE_UPPER = 1 << 1,     /* no upper-case letter */
    TV_PW_RULE_LOWER = 1 << 2,     /* no lower-case letter */
    TV_PW_RULE_DIGIT = 1 << 3,     /* no digit 0-9 */
    TV_PW_RULE_STRENGTH = 1 << 4   /* zxcvbn score below min_score */
};

typedef struct tv_password_policy {
    uint32_t min_length;   /* code points; never below TV_PASSWORD_MIN_LENGTH */
    int min_score;         /* 0 (no requirement) to 4 */
} tv_password_policy;

typedef struct tv_password_strength {
    int score;             /* 0 to 4, zxcvbn's scale */
    double entropy_bits;   /* log2 of the estimated guesses */
} tv_password_strength;

void tv_password_policy_default(tv_password_policy *p);

/* 1 when this build carries zxcvbn-c (always natively; in wasm when its source was available). */
int tv_password_have_strength(void);

/* user_inputs: NULL-terminated words the password should not lean on (e-mail, name); may be NULL. */
int tv_password_strength_estimate(const char *pw, size_t pw_len, const char *const *user_inputs,
                                  tv_password_strength *out);

/* Sets *failed to the rules pw breaks (0 = acceptable). strength may be NULL; it is filled when the
 * build has zxcvbn. A policy with min_score > 0 needs zxcvbn: TV_ERR_UNSUPPORTED without it. */
int tv_password_check(const tv_password_policy *p, const char *pw, size_t pw_len,
                      const char *const *user_inputs, uint32_t *failed, tv_password_strength *strength);

/* Argon2id cost. The default is libsodium's INTERACTIVE (t=2, 64 MiB), above OWASP's minimum
 * (t=2, 19 MiB); tv_pwhash_cost_check refuses anything weaker than that minimum. */
typedef struct tv_pwhash_cost {
    uint64_t opslimit;
    size_t memlimit;       /* bytes */
} tv_pwhash_cost;

#define TV_PWHASH_STRBYTES 128
#define TV_PWHASH_MIN_OPS 2
#define TV_PWHASH_MIN_MEM (19u * 1024 * 1024)

void tv_pwhash_cost_default(tv_pwhash_cost *c);
int tv_pwhash_cost_check(const tv_pwhash_cost *c);

/* out receives a NUL-terminated PHC string ($argon2id$v=19$m=...,t=...,p=1$salt$hash). */
int tv_pwhash(const tv_pwhash_cost *c, const char *pw, size_t pw_len, char *out, size_t out_size);

/* 0 when pw matches, TV_ERR_PASSWORD_MISMATCH otherwise. */
int tv_pwhash_verify(const char *hash, size_t hash_len, const char *pw, size_t pw_len);

/* *needs = 1 when hash was made with a cost other than c (so it is redone at the next login). */
int tv_pwhash_needs_rehash(const tv_pwhash_cost *c, const char *hash, size_t hash_len, int *needs);

#endif
