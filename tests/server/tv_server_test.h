/* Common ground for the server's cmocka tests: includes, and a private temporary directory made
 * before a group runs and removed after it. */
#ifndef TV_SERVER_TEST_H
#define TV_SERVER_TEST_H

#define _GNU_SOURCE   /* memmem, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tv_err.h"
#include "tv_init.h"

static char tv_test_dir[64];

static inline int tv_test_dir_make(const char *name)
{
    snprintf(tv_test_dir, sizeof tv_test_dir, "/tmp/tv-%s-XXXXXX", name);
    return mkdtemp(tv_test_dir) != NULL && tv_init() == 0 ? 0 : -1;
}

static inline int tv_test_dir_remove(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tv_test_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The one integer a query returns (a count, a pragma); the query must work. */
static inline int64_t tv_test_int64(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* Audit records of one type, counted; each of requester, room and extra ("" for none) must match
 * when it is not NULL. */
static inline int64_t tv_test_audit_count(sqlite3 *db, const char *type, const char *requester, const char *room,
                                          const char *extra)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM audit WHERE type = ?1 AND (?2 IS NULL OR requester = ?2)"
                                            " AND (?3 IS NULL OR room = ?3) AND (?4 IS NULL OR extra = ?4)", -1, &q, NULL),
                     SQLITE_OK);
    const char *v[] = { type, requester, room, extra };
    for (int i = 0; i < 4; i++)
        if (v[i])
            sqlite3_bind_text(q, i + 1, v[i], -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

#endif
