#include "tv_test.h"
#include "tv_token.h"

static void generate_shape_and_uniqueness(void **s)
{
    (void)s;
    char a[TV_TOKEN_STRBYTES], b[TV_TOKEN_STRBYTES];
    assert_int_equal(tv_token_generate(a, sizeof a), 0);
    assert_int_equal(tv_token_generate(b, sizeof b), 0);
    assert_int_equal(strlen(a), TV_TOKEN_CHARS);
    assert_string_not_equal(a, b);
    for (size_t i = 0; i < TV_TOKEN_CHARS; i++) {
        char c = a[i];
        assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_');
    }
    assert_int_equal(tv_token_check(a, strlen(a)), 0);
    assert_int_equal(tv_token_generate(a, TV_TOKEN_CHARS), TV_ERR_NOSPACE);
}

static void hash_and_verify(void **s)
{
    (void)s;
    char t[TV_TOKEN_STRBYTES], other[TV_TOKEN_STRBYTES];
    uint8_t h[TV_TOKEN_HASHBYTES], h2[TV_TOKEN_HASHBYTES];
    tv_token_generate(t, sizeof t);
    tv_token_generate(other, sizeof other);
    assert_int_equal(tv_token_hash(t, TV_TOKEN_CHARS, h, sizeof h), 0);
    assert_int_equal(tv_token_hash(t, TV_TOKEN_CHARS, h2, sizeof h2), 0);
    assert_memory_equal(h, h2, sizeof h);   /* deterministic, so it can be a lookup key */
    assert_int_equal(tv_token_verify(t, TV_TOKEN_CHARS, h, sizeof h), 0);
    assert_int_equal(tv_token_verify(other, TV_TOKEN_CHARS, h, sizeof h), TV_ERR_TOKEN_MISMATCH);
    /* One character changed (to another valid one) no longer matches. */
    t[5] = t[5] == 'A' ? 'B' : 'A';
    assert_int_equal(tv_token_verify(t, TV_TOKEN_CHARS, h, sizeof h), TV_ERR_TOKEN_MISMATCH);
    assert_int_equal(tv_token_hash(t, TV_TOKEN_CHARS, h, 16), TV_ERR_INVALID);
    assert_int_equal(tv_token_verify(t, TV_TOKEN_CHARS, h, 16), TV_ERR_INVALID);
}

static void forged_shapes_are_refused(void **s)
{
    (void)s;
    char t[TV_TOKEN_STRBYTES + 2];
    tv_token_generate(t, sizeof t);
    char bad[TV_TOKEN_STRBYTES + 2];
    uint8_t h[TV_TOKEN_HASHBYTES];

    assert_int_equal(tv_token_check(t, TV_TOKEN_CHARS - 1), TV_ERR_TOKEN_FORMAT);
    memcpy(bad, t, TV_TOKEN_CHARS);
    bad[TV_TOKEN_CHARS] = 'A';
    assert_int_equal(tv_token_check(bad, TV_TOKEN_CHARS + 1), TV_ERR_TOKEN_FORMAT);
    const char forbidden[] = { '+', '/', '=', '.', ' ', '%', '\0' };
    for (size_t i = 0; i < sizeof forbidden; i++) {
        memcpy(bad, t, TV_TOKEN_CHARS);
        bad[10] = forbidden[i];
        assert_int_equal(tv_token_check(bad, TV_TOKEN_CHARS), TV_ERR_TOKEN_FORMAT);
        assert_int_equal(tv_token_hash(bad, TV_TOKEN_CHARS, h, sizeof h), TV_ERR_TOKEN_FORMAT);
    }
    /* The last character carries 2 bits and 4 zero bits: 'B' sets a zero bit, so it is a second
     * spelling of some token and is refused. */
    memcpy(bad, t, TV_TOKEN_CHARS);
    bad[TV_TOKEN_CHARS - 1] = 'B';
    assert_int_equal(tv_token_check(bad, TV_TOKEN_CHARS), TV_ERR_TOKEN_FORMAT);
    assert_int_equal(tv_token_check(NULL, TV_TOKEN_CHARS), TV_ERR_TOKEN_FORMAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generate_shape_and_uniqueness),
        cmocka_unit_test(hash_and_verify),
        cmocka_unit_test(forged_shapes_are_refused),
    };
    return TV_RUN(tests);
}
