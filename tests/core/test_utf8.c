#include "tv_test.h"
#include "tv_utf8.h"

static void accepts_valid(void **s)
{
    (void)s;
    size_t n;
    const char *ok = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";   /* a é € 😀 */
    assert_int_equal(tv_utf8_check(ok, strlen(ok), &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(tv_utf8_check("", 0, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(tv_utf8_check("\xf4\x8f\xbf\xbf", 4, &n), 0);   /* U+10FFFF */
}

static void rejects_invalid(void **s)
{
    (void)s;
    static const char *const bad[] = {
        "\xc0\x80",           /* overlong NUL */
        "\xe0\x80\xaf",       /* overlong '/' */
        "\xed\xa0\x80",       /* surrogate U+D800 */
        "\xf4\x90\x80\x80",   /* above U+10FFFF */
        "\xc3",               /* truncated */
        "\x80",               /* stray continuation */
        "\xc3\x28",           /* bad continuation */
        "\xf8\x88\x80\x80\x80",
        "\xff",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(tv_utf8_check(bad[i], strlen(bad[i]), NULL), TV_ERR_UTF8);
}

static void next_decodes(void **s)
{
    (void)s;
    const char *t = "\xc3\x89t\xc3\xa9";
    size_t pos = 0;
    uint32_t cp;
    assert_int_equal(tv_utf8_next(t, strlen(t), &pos, &cp), 0);
    assert_int_equal(cp, 0xC9);
    assert_int_equal(pos, 2);
    assert_int_equal(tv_utf8_next(t, strlen(t), &pos, &cp), 0);
    assert_int_equal(cp, 't');
    assert_int_equal(tv_utf8_next(t, strlen(t), &pos, &cp), 0);
    assert_int_equal(cp, 0xE9);
    assert_int_equal(tv_utf8_next(t, strlen(t), &pos, &cp), TV_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_valid),
        cmocka_unit_test(rejects_invalid),
        cmocka_unit_test(next_decodes),
    };
    return TV_RUN(tests);
}
