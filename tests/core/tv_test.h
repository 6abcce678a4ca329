/* Common includes for the core's cmocka tests, which build natively and for wasm alike. */
#ifndef TV_TEST_H
#define TV_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "tv_err.h"
#include "tv_init.h"

/* Every test program starts the core first (libsodium's random source). */
static inline int tv_test_setup(void **state)
{
    (void)state;
    return tv_init();
}

#define TV_RUN(tests) cmocka_run_group_tests(tests, tv_test_setup, NULL)

#endif
