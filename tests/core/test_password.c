#include "tv_test.h"
#include "tv_password.h"

static uint32_t fails(const char *pw)
{
    tv_password_policy p;
    tv_password_policy_default(&p);
    uint32_t f = 0xFFFF;
    assert_int_equal(tv_password_check(&p, pw, strlen(pw), NULL, &f, NULL), 0);
    return f;
}

static void policy_rules_reported_one_by_one(void **s)
{
    (void)s;
    assert_int_equal(fails("Abcdefg1"), 0);
    assert_int_equal(fails("abcdefg1"), TV_PW_RULE_UPPER);
    assert_int_equal(fails("ABCDEFG1"), TV_PW_RULE_LOWER);
    assert_int_equal(fails("Abcdefgh"), TV_PW_RULE_DIGIT);
    assert_int_equal(fails("Abcdef1"), TV_PW_RULE_LENGTH);
    assert_int_equal(fails("abc"), TV_PW_RULE_LENGTH | TV_PW_RULE_UPPER | TV_PW_RULE_DIGIT);
    assert_int_equal(fails(""), TV_PW_RULE_LENGTH | TV_PW_RULE_UPPER | TV_PW_RULE_LOWER | TV_PW_RULE_DIGIT);
}

static void policy_counts_code_points_and_knows_accents(void **s)
{
    (void)s;
    /* "Éé1Éé1Éé": 8 code points in 14 bytes; É is upper-case, é lower-case. */
    assert_int_equal(fails("\xc3\x89\xc3\xa9" "1" "\xc3\x89\xc3\xa9" "1" "\xc3\x89\xc3\xa9"), 0);
    /* "ÉéÉé1é": 10 bytes but 6 code points: too short. */
    assert_int_equal(fails("\xc3\x89\xc3\xa9\xc3\x89\xc3\xa9" "1" "\xc3\xa9"), TV_PW_RULE_LENGTH);
    /* "élodie12": no upper-case letter, accented or not. */
    assert_int_equal(fails("\xc3\xa9lodie12"), TV_PW_RULE_UPPER);
    /* Cyrillic "Пароль12" and Greek "Κωδικός1" have case too. */
    assert_int_equal(fails("\xd0\x9f\xd0\xb0\xd1\x80\xd0\xbe\xd0\xbb\xd1\x8c" "12"), 0);
    assert_int_equal(fails("\xce\x9a\xcf\x89\xce\xb4\xce\xb9\xce\xba\xcf\x8c\xcf\x82" "1"), 0);
    /* Digits are ASCII digits: "Abcdefg١" (Arabic-Indic one) has none. */
    assert_int_equal(fails("Abcdefgh\xd9\xa1"), TV_PW_RULE_DIGIT);
}

static void policy_configurable_length(void **s)
{
    (void)s;
    tv_password_policy p = { 12, 0 };
    uint32_t f;
    assert_int_equal(tv_password_check(&p, "Abcdefgh1", 9, NULL, &f, NULL), 0);
    assert_int_equal(f, TV_PW_RULE_LENGTH);
    /* A configured minimum below 8 does not weaken the floor. */
    p.min_length = 4;
    assert_int_equal(tv_password_check(&p, "Abc1", 4, NULL, &f, NULL), 0);
    assert_int_equal(f, TV_PW_RULE_LENGTH);
    p.min_score = 5;
    assert_int_equal(tv_password_check(&p, "Abc1", 4, NULL, &f, NULL), TV_ERR_INVALID);
}

static void oversized_and_invalid_input_refused(void **s)
{
    (void)s;
    tv_password_policy p;
    tv_password_policy_default(&p);
    uint32_t f = 1234;
    static char big[TV_PASSWORD_MAX_BYTES + 1];
    memset(big, 'A', sizeof big);
    assert_int_equal(tv_password_check(&p, big, sizeof big, NULL, &f, NULL), TV_ERR_TOO_LONG);
    assert_int_equal(f, 1234);   /* nothing written on error */
    assert_int_equal(tv_password_check(&p, big, TV_PASSWORD_MAX_BYTES, NULL, &f, NULL), 0);
    assert_int_equal(tv_password_check(&p, "Abcdefg1\xff", 9, NULL, &f, NULL), TV_ERR_UTF8);
    assert_int_equal(tv_password_check(&p, "Abc\xed\xa0\x80" "defg1", 11, NULL, &f, NULL), TV_ERR_UTF8);
    char hash[TV_PWHASH_STRBYTES];
    tv_pwhash_cost c;
    tv_pwhash_cost_default(&c);
    assert_int_equal(tv_pwhash(&c, big, sizeof big, hash, sizeof hash), TV_ERR_TOO_LONG);
    assert_int_equal(tv_pwhash(&c, "\xc0\x80", 2, hash, sizeof hash), TV_ERR_UTF8);
}

static void strength_estimate(void **s)
{
    (void)s;
#ifndef __EMSCRIPTEN__
    assert_int_equal(tv_password_have_strength(), 1);   /* the native build always has zxcvbn */
#endif
    tv_password_strength weak, strong, personal, plain;
    if (!tv_password_have_strength()) {
        assert_int_equal(tv_password_strength_estimate("Password1", 9, NULL, &weak), TV_ERR_UNSUPPORTED);
        tv_password_policy p = { 8, 3 };
        uint32_t f;
        assert_int_equal(tv_password_check(&p, "Password1", 9, NULL, &f, NULL), TV_ERR_UNSUPPORTED);
        skip();
    }
    assert_int_equal(tv_password_strength_estimate("Password1", 9, NULL, &weak), 0);
    const char *good = "vQ7#kLp2!xZr9@Wm";
    assert_int_equal(tv_password_strength_estimate(good, strlen(good), NULL, &strong), 0);
    assert_true(weak.score <= 1);
    assert_int_equal(strong.score, 4);
    assert_true(strong.entropy_bits > weak.entropy_bits);

    /* A password made of the user's own e-mail is weaker once zxcvbn knows the e-mail. */
    const char *const inputs[] = { "martinelodie", NULL };
    const char *mine = "MartinElodie1";
    assert_int_equal(tv_password_strength_estimate(mine, strlen(mine), NULL, &plain), 0);
    assert_int_equal(tv_password_strength_estimate(mine, strlen(mine), inputs, &personal), 0);
    assert_true(personal.entropy_bits < plain.entropy_bits);

    /* The policy's minimum score is enforced as its own rule. */
    tv_password_policy p = { 8, 3 };
    uint32_t f;
    tv_password_strength st;
    assert_int_equal(tv_password_check(&p, "Password1", 9, NULL, &f, &st), 0);
    assert_int_equal(f, TV_PW_RULE_STRENGTH);
    assert_int_equal(st.score, weak.score);
    assert_int_equal(tv_password_check(&p, good, strlen(good), NULL, &f, NULL), 0);
    assert_int_equal(f, 0);
}

/* The cheapest cost the policy allows keeps the tests quick, notably in wasm. */
static const tv_pwhash_cost test_cost = { TV_PWHASH_MIN_OPS, TV_PWHASH_MIN_MEM };

static void hash_and_verify(void **s)
{
    (void)s;
    char h1[TV_PWHASH_STRBYTES], h2[TV_PWHASH_STRBYTES];
    const char *pw = "Corr3ct horse \xc3\xa9table";
    assert_int_equal(tv_pwhash(&test_cost, pw, strlen(pw), h1, sizeof h1), 0);
    assert_int_equal(strncmp(h1, "$argon2id$v=19$m=19456,t=2,p=1$", 31), 0);
    assert_int_equal(tv_pwhash(&test_cost, pw, strlen(pw), h2, sizeof h2), 0);
    assert_string_not_equal(h1, h2);   /* fresh salt each time */
    assert_int_equal(tv_pwhash_verify(h1, strlen(h1), pw, strlen(pw)), 0);
    assert_int_equal(tv_pwhash_verify(h2, strlen(h2), pw, strlen(pw)), 0);
    assert_int_equal(tv_pwhash_verify(h1, strlen(h1), "Corr3ct horse etable", 20), TV_ERR_PASSWORD_MISMATCH);
    assert_int_equal(tv_pwhash_verify(h1, strlen(h1), pw, strlen(pw) - 1), TV_ERR_PASSWORD_MISMATCH);
    assert_int_equal(tv_pwhash_verify(h1, strlen(h1), "", 0), TV_ERR_PASSWORD_MISMATCH);
    /* A tampered hash does not verify. */
    size_t last = strlen(h1) - 2;
    h1[last] = h1[last] == 'A' ? 'B' : 'A';
    assert_int_equal(tv_pwhash_verify(h1, strlen(h1), pw, strlen(pw)), TV_ERR_PASSWORD_MISMATCH);
}

static void hash_strings_are_checked(void **s)
{
    (void)s;
    char h[TV_PWHASH_STRBYTES];
    assert_int_equal(tv_pwhash(&test_cost, "Abcdefg1", 8, h, sizeof h), 0);
    /* argon2i (not id), empty, embedded NUL and over-long strings are refused as invalid. */
    char other[TV_PWHASH_STRBYTES];
    memcpy(other, h, sizeof h);
    memmove(other + 8, other + 9, strlen(other + 9) + 1);   /* "$argon2id$" -> "$argon2i$" */
    assert_int_equal(tv_pwhash_verify(other, strlen(other), "Abcdefg1", 8), TV_ERR_INVALID);
    assert_int_equal(tv_pwhash_verify("", 0, "Abcdefg1", 8), TV_ERR_INVALID);
    assert_int_equal(tv_pwhash_verify(h, strlen(h) + 1, "Abcdefg1", 8), TV_ERR_INVALID);
    static char longhash[200];
    memset(longhash, 'a', sizeof longhash);
    assert_int_equal(tv_pwhash_verify(longhash, sizeof longhash, "Abcdefg1", 8), TV_ERR_INVALID);
    assert_int_equal(tv_pwhash(&test_cost, "Abcdefg1", 8, h, 64), TV_ERR_NOSPACE);
}

static void cost_policy_and_rehash(void **s)
{
    (void)s;
    tv_pwhash_cost def, weak = { 1, 64u * 1024 * 1024 }, small = { 3, 8u * 1024 * 1024 };
    tv_pwhash_cost_default(&def);
    assert_true(def.opslimit >= TV_PWHASH_MIN_OPS && def.memlimit >= TV_PWHASH_MIN_MEM);
    assert_int_equal(tv_pwhash_cost_check(&def), 0);
    assert_int_equal(tv_pwhash_cost_check(&weak), TV_ERR_INVALID);
    assert_int_equal(tv_pwhash_cost_check(&small), TV_ERR_INVALID);
    char h[TV_PWHASH_STRBYTES];
    assert_int_equal(tv_pwhash(&weak, "Abcdefg1", 8, h, sizeof h), TV_ERR_INVALID);

    assert_int_equal(tv_pwhash(&test_cost, "Abcdefg1", 8, h, sizeof h), 0);
    int needs = -1;
    assert_int_equal(tv_pwhash_needs_rehash(&test_cost, h, strlen(h), &needs), 0);
    assert_int_equal(needs, 0);
    tv_pwhash_cost higher = { test_cost.opslimit + 1, test_cost.memlimit };
    assert_int_equal(tv_pwhash_needs_rehash(&higher, h, strlen(h), &needs), 0);
    assert_int_equal(needs, 1);
    assert_int_equal(tv_pwhash_needs_rehash(&def, h, strlen(h), &needs), 0);
    assert_int_equal(needs, 1);
    assert_int_equal(tv_pwhash_needs_rehash(&def, "$argon2id$garbage", 17, &needs), TV_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(policy_rules_reported_one_by_one),
        cmocka_unit_test(policy_counts_code_points_and_knows_accents),
        cmocka_unit_test(policy_configurable_length),
        cmocka_unit_test(oversized_and_invalid_input_refused),
        cmocka_unit_test(strength_estimate),
        cmocka_unit_test(hash_and_verify),
        cmocka_unit_test(hash_strings_are_checked),
        cmocka_unit_test(cost_policy_and_rehash),
    };
    return TV_RUN(tests);
}
