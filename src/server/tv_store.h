/* televisitd's storage: one SQLite database in WAL mode with FULL synchronous commits (what was
 * acknowledged survives kill -9), versioned migrations applied at start, and a master key kept in
 * its own file (mode 0600, never in the database) from which every encrypted field's key derives. */
#ifndef TV_STORE_H
#define TV_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "tv_record.h"

typedef struct tv_store {
    sqlite3 *db;
    uint8_t master[TV_RECORD_KEYBYTES];
    /* The audit log's anchor: the last record's number and hash, kept beside the master key (so off
     * the database's disk where the key is), to detect records cut from the end of the log. */
    char audit_anchor[4096];
} tv_store;

/* Reads the key file, or creates it (exclusively, 0600, synced) when absent. A key file others can
 * read, or of the wrong size or format, is refused with a message in err. */
int tv_keyfile_load(const char *path, uint8_t key[TV_RECORD_KEYBYTES], int *created, char *err, size_t err_size);

int tv_store_open(tv_store *st, const char *db_path, const char *key_path, char *err, size_t err_size);
void tv_store_close(tv_store *st);   /* and wipes the master key */

int tv_store_schema_version(tv_store *st, int *version);
int tv_store_schema_latest(void);
/* The SQL of migration i (from 0), for tests that build a database at an older version; NULL past
 * the last. */
const char *tv_store_migration_sql(int i);

/* Encrypts a field value for (table, column, row) under the purpose's key, and back. */
int tv_store_seal(tv_store *st, uint64_t purpose, const char *table, const char *column, int64_t row,
                  const uint8_t *pt, size_t pt_len, uint8_t *out, size_t out_size, size_t *out_len);
int tv_store_open_field(tv_store *st, uint64_t purpose, const char *table, const char *column, int64_t row,
                        const uint8_t *rec, size_t rec_len, uint8_t *out, size_t out_size, size_t *out_len);

#endif
