#include "tv_test.h"
#include "tv_bucket.h"

/* A burst of cap, then nothing until time refills it, at the given rate; the wait it names is
 * enough and not much more. */
static void burst_then_rate(void **s)
{
    (void)s;
    tv_bucket b;
    tv_bucket_fill(&b, 3, 1000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tv_bucket_take(&b, 3, 0.01, 1000, NULL), 1);   /* 10 per second */
    int64_t wait = 0;
    assert_int_equal(tv_bucket_take(&b, 3, 0.01, 1000, &wait), 0);
    assert_true(wait >= 100 && wait <= 101);
    assert_int_equal(tv_bucket_take(&b, 3, 0.01, 1099, NULL), 0);
    assert_int_equal(tv_bucket_take(&b, 3, 0.01, 1100, NULL), 1);
    /* a long pause refills to cap, no further */
    for (int i = 0; i < 3; i++)
        assert_int_equal(tv_bucket_take(&b, 3, 0.01, 1000000, NULL), 1);
    assert_int_equal(tv_bucket_take(&b, 3, 0.01, 1000000, NULL), 0);
}

/* A clock that steps back refills nothing, and the next step forward counts from the latest time. */
static void clock_back(void **s)
{
    (void)s;
    tv_bucket b;
    tv_bucket_fill(&b, 1, 5000);
    assert_int_equal(tv_bucket_take(&b, 1, 0.001, 5000, NULL), 1);
    assert_int_equal(tv_bucket_take(&b, 1, 0.001, 1000, NULL), 0);
    assert_int_equal(tv_bucket_take(&b, 1, 0.001, 5999, NULL), 0);
    assert_int_equal(tv_bucket_take(&b, 1, 0.001, 6000, NULL), 1);
}

/* The level reads without taking: what a take would find, capped, and never lower for a clock that
 * stepped back. */
static void level(void **s)
{
    (void)s;
    tv_bucket b;
    tv_bucket_fill(&b, 2, 1000);
    assert_true(tv_bucket_level(&b, 2, 0.01, 1000) == 2.0);
    assert_int_equal(tv_bucket_take(&b, 2, 0.01, 1000, NULL), 1);
    assert_int_equal(tv_bucket_take(&b, 2, 0.01, 1000, NULL), 1);
    assert_true(tv_bucket_level(&b, 2, 0.01, 1000) < 1.0);
    assert_true(tv_bucket_level(&b, 2, 0.01, 500) < 1.0);
    assert_true(tv_bucket_level(&b, 2, 0.01, 1150) > 1.49 && tv_bucket_level(&b, 2, 0.01, 1150) < 1.51);
    assert_true(tv_bucket_level(&b, 2, 0.01, 99999) == 2.0);
    assert_int_equal(tv_bucket_take(&b, 2, 0.01, 1000, NULL), 0);   /* reading took nothing */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_then_rate),
        cmocka_unit_test(clock_back),
        cmocka_unit_test(level),
    };
    return TV_RUN(tests);
}
