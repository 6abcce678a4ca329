#define _POSIX_C_SOURCE 200809L
#include "tv_store.h"
#include "tv_err.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char magic[5] = { 'T', 'V', 'M', 'K', 1 };   /* "TVMK", format 1 */

/* A migration whose text starts with this line first has users rebuilt with AUTOINCREMENT, in C (see
 * users_autoincrement); the line is an SQL comment, so the rest of the text runs as usual after it. */
#define TV_STORE_REBUILD_USERS "-- rebuild users with AUTOINCREMENT"

/* Migrations: the schema at version i+1 is migrations[0..i] applied in order, each in its own
 * transaction with the version bump, with foreign keys off (SQLite's way for schema changes: a table
 * rebuilt is dropped without its DROP cascading) and checked before the commit. Append only; never
 * edit one that has shipped. */
static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  email TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    "  pw_hash TEXT NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'disabled')),"
    "  totp_secret BLOB,"          /* tv_record, purpose TV_RECORD_TOTP_SECRET, identity users/totp_secret/id */
    "  totp_last_step INTEGER,"
    "  created_ms INTEGER NOT NULL"
    ");",
    /* 2: the audit log, append-only in the database too (the hash chain shows what triggers cannot) */
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY,"
    "  ts_ms INTEGER NOT NULL,"
    "  type TEXT NOT NULL,"
    "  requester TEXT NOT NULL DEFAULT '',"
    "  message TEXT NOT NULL DEFAULT '',"
    "  room TEXT NOT NULL DEFAULT '',"
    "  ip TEXT NOT NULL DEFAULT '',"
    "  extra TEXT NOT NULL DEFAULT '',"
    "  hash BLOB NOT NULL"
    ");"
    "CREATE INDEX audit_requester ON audit (requester, seq);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    /* 3: accounts (2FA, lockout, roles), mailed keys, sessions, recovery codes, visits, chat.
     * Every token, session id and code is stored as a hash; TOTP secrets, visit labels and chat as
     * tv_record ciphertext bound to their row. */
    "ALTER TABLE users ADD COLUMN totp_enabled INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN locked_until_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN lockouts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN ip_allow TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE mail_keys ("
    "  hash BLOB PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('activate', 'reset')),"
    "  expires_ms INTEGER NOT NULL,"
    "  used_ms INTEGER"
    ");"
    "CREATE TABLE sessions ("
    "  hash BLOB PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
    "  stage TEXT NOT NULL CHECK (stage IN ('totp', 'full')),"
    "  created_ms INTEGER NOT NULL,"
    "  last_ms INTEGER NOT NULL,"
    "  ip TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX sessions_user ON sessions (user_id);"
    "CREATE TABLE recovery_codes ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
    "  hash BLOB NOT NULL,"      /* keyed BLAKE2b under a subkey of the master key */
    "  used_ms INTEGER"
    ");"
    "CREATE TABLE visits ("
    "  id TEXT PRIMARY KEY,"
    "  clinician_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
    "  token_hash BLOB NOT NULL UNIQUE,"
    "  label BLOB,"              /* tv_record, purpose TV_RECORD_VISIT_LABEL, identity visits/label/rowid */
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'ended', 'revoked')),"
    "  ended_ms INTEGER"
    ");"
    "CREATE INDEX visits_clinician ON visits (clinician_id, created_ms);"
    "CREATE TABLE chat ("
    "  id INTEGER PRIMARY KEY,"
    "  visit_id TEXT NOT NULL REFERENCES visits (id) ON DELETE CASCADE,"
    "  sender TEXT NOT NULL,"
    "  ts_ms INTEGER NOT NULL,"
    "  body BLOB NOT NULL"       /* tv_record, purpose TV_RECORD_CHAT, identity chat/body/id */
    ");"
    "CREATE INDEX chat_visit ON chat (visit_id, id);",
    /* 4: single sign-on. A link names a clinician by the provider's issuer and subject (for a SMART
     * EHR, its fhirUser). A flow is one pending sign-in: its state, the frame's claim handle and the
     * popup's result are stored as hashes; PKCE verifier and nonce derive from the state, so nothing
     * secret of it is stored. */
    "CREATE TABLE sso_links ("
    "  issuer TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
    "  provider TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (issuer, subject)"
    ");"
    "CREATE INDEX sso_links_user ON sso_links (user_id);"
    "CREATE TABLE sso_flows ("
    "  state_hash BLOB PRIMARY KEY,"
    "  bind_hash BLOB,"          /* the browser's __Host-tv_sso cookie (redirect, link, launch) */
    "  handle_hash BLOB,"        /* popup: what only the frame that started it holds */
    "  result_hash BLOB,"        /* popup: what only the popup and its opener learn */
    "  provider TEXT NOT NULL,"
    "  mode TEXT NOT NULL CHECK (mode IN ('redirect', 'popup', 'link', 'launch')),"
    "  link_uid INTEGER REFERENCES users (id) ON DELETE CASCADE,"
    "  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'claimed', 'failed')),"
    "  user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL"
    ");",
    /* 5: a user id is never given twice. Without AUTOINCREMENT SQLite reused the highest id after a
     * deletion, and the next account inherited the audit records, export and lobby of the deleted one.
     * The first line makes migrate() rebuild users with AUTOINCREMENT (users_autoincrement: SQLite
     * cannot add it in place); the counter then starts above every id the audit log names, so the ids
     * of accounts deleted before this migration are not given again either. cache_salt: the random
     * per-account value the browser cache's server share derives from (filled from libsodium when an
     * account is made, or on its first use for older accounts), so the share never follows an id. */
    TV_STORE_REBUILD_USERS "\n"
    "ALTER TABLE users ADD COLUMN cache_salt BLOB;"
    "INSERT INTO sqlite_sequence (name, seq) SELECT 'users', 0"
    "  WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'users');"
    "UPDATE sqlite_sequence SET seq = max(seq,"
    "  (SELECT coalesce(max(id), 0) FROM users),"
    "  (SELECT coalesce(max(CAST(substr(requester, 6) AS INTEGER)), 0) FROM audit WHERE requester GLOB 'user:[0-9]*'))"
    "  WHERE name = 'users';",
    /* 6: how a session was made: the time of the provider sign-in it comes from (NULL for a password
     * sign-in), which is how an account without a password re-authenticates for a security change */
    "ALTER TABLE sessions ADD COLUMN sso_ms INTEGER;",
    /* 7: sign-in throttling per account and source address (docs/api.md, "Failed sign-ins"), which
     * replaces the account-wide lock a stranger could hold shut; and a registration's password held
     * by its own activation key, so only that key's activation can make it the account's. */
    "ALTER TABLE mail_keys ADD COLUMN pw_hash TEXT;"
    "CREATE TABLE auth_throttle ("
    "  subject BLOB NOT NULL,"       /* keyed BLAKE2b of the lower-cased e-mail, for unknown ones too */
    "  source TEXT NOT NULL,"        /* the source address; an IPv6 address's /64 */
    "  failures INTEGER NOT NULL DEFAULT 0,"
    "  blocks INTEGER NOT NULL DEFAULT 0,"   /* blocks in a row: each lasts twice the last */
    "  until_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (subject, source)"
    ") WITHOUT ROWID;"
    "CREATE INDEX auth_throttle_last ON auth_throttle (last_ms);"
    /* the account-wide lock this replaces: nothing reads it any more */
    "ALTER TABLE users DROP COLUMN failures;"
    "ALTER TABLE users DROP COLUMN lockouts;"
    "ALTER TABLE users DROP COLUMN locked_until_ms;",
};

static int fail(char *err, size_t n, const char *what, const char *detail)
{
    if (err && n)
        snprintf(err, n, "%s: %s", what, detail);
    return TV_ERR_INVALID;
}

static int sync_dir_of(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int tv_keyfile_load(const char *path, uint8_t key[TV_RECORD_KEYBYTES], int *created, char *err, size_t err_size)
{
    uint8_t buf[sizeof magic + TV_RECORD_KEYBYTES + 1];
    *created = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        /* O_EXCL: two servers starting at once cannot both write a key. */
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
        if (fd < 0)
            return fail(err, err_size, path, strerror(errno));
        memcpy(buf, magic, sizeof magic);
        randombytes_buf(buf + sizeof magic, TV_RECORD_KEYBYTES);
        ssize_t n = write(fd, buf, sizeof magic + TV_RECORD_KEYBYTES);
        int ok = n == (ssize_t)(sizeof magic + TV_RECORD_KEYBYTES) && fsync(fd) == 0;
        close(fd);
        if (!ok || sync_dir_of(path) != 0) {
            unlink(path);
            sodium_memzero(buf, sizeof buf);
            return fail(err, err_size, path, "cannot write the master key");
        }
        memcpy(key, buf + sizeof magic, TV_RECORD_KEYBYTES);
        sodium_memzero(buf, sizeof buf);
        *created = 1;
        return 0;
    }
    if (fd < 0)
        return fail(err, err_size, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, err_size, path, "not a regular file");
    }
    if (st.st_mode & 077) {
        close(fd);
        return fail(err, err_size, path, "readable by others: chmod 600 it (and consider the key exposed)");
    }
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    int rc = 0;
    if (n != (ssize_t)(sizeof magic + TV_RECORD_KEYBYTES) || memcmp(buf, magic, sizeof magic) != 0)
        rc = fail(err, err_size, path, "not a televisit master key file");
    else
        memcpy(key, buf + sizeof magic, TV_RECORD_KEYBYTES);
    sodium_memzero(buf, sizeof buf);
    return rc;
}

int tv_store_schema_latest(void)
{
    return (int)(sizeof migrations / sizeof migrations[0]);
}

int tv_store_schema_version(tv_store *st, int *version)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
        return TV_ERR_INVALID;
    int rc = sqlite3_step(q) == SQLITE_ROW ? 0 : TV_ERR_INVALID;
    if (rc == 0)
        *version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return rc;
}

const char *tv_store_migration_sql(int i)
{
    return i >= 0 && i < tv_store_schema_latest() ? migrations[i] : NULL;
}

static int exec_msg(sqlite3 *db, const char *sql, char **msg)
{
    return sqlite3_exec(db, sql, NULL, NULL, msg) == SQLITE_OK ? 0 : TV_ERR_STORAGE;
}

/* Rebuilds users with AUTOINCREMENT by SQLite's procedure for schema changes (a new table, the rows
 * copied, the old one dropped, the new one renamed), inside the caller's transaction with foreign keys
 * off. The new table is the old one's own CREATE statement with AUTOINCREMENT added, and its indexes
 * and triggers are made again, so every column a migration added by then is kept, whatever their
 * order. The other tables' REFERENCES users (id) name the rebuilt table once it is renamed. */
static int users_autoincrement(sqlite3 *db, char **msg)
{
    static const char head[] = "CREATE TABLE users (", pk[] = "id INTEGER PRIMARY KEY";
    sqlite3_stmt *q = NULL;
    char *create = NULL, **extra = NULL;
    int n_extra = 0, rc = TV_ERR_STORAGE;
    if (sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'", -1, &q, NULL) ==
            SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
        const char *sql = (const char *)sqlite3_column_text(q, 0), *at = sql ? strstr(sql, pk) : NULL;
        if (sql && at && strncmp(sql, head, sizeof head - 1) == 0 && strstr(sql, "AUTOINCREMENT") == NULL &&
            (at[sizeof pk - 1] == ',' || at[sizeof pk - 1] == ' ')) {
            /* "CREATE TABLE users_rebuilt (" + up to the key + " AUTOINCREMENT" + the rest */
            create = sqlite3_mprintf("CREATE TABLE users_rebuilt (%.*s AUTOINCREMENT%s", (int)(at + sizeof pk - 1 - sql - (sizeof head - 1)),
                                     sql + sizeof head - 1, at + sizeof pk - 1);
            rc = create ? 0 : TV_ERR_NOMEM;
        } else if (sql && strstr(sql, "AUTOINCREMENT")) {
            rc = 1;   /* already rebuilt */
        }
    }
    sqlite3_finalize(q);
    q = NULL;
    if (rc != 0) {
        sqlite3_free(create);
        if (rc == 1)
            return 0;
        *msg = sqlite3_mprintf("cannot read the users table's definition");
        return rc;
    }
    /* the indexes and triggers on users go with DROP TABLE: keep their statements to make them again */
    if (sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE tbl_name = 'users' AND type IN ('index', 'trigger')"
                               " AND sql IS NOT NULL", -1, &q, NULL) != SQLITE_OK)
        rc = TV_ERR_STORAGE;
    while (rc == 0 && sqlite3_step(q) == SQLITE_ROW) {
        char **more = realloc(extra, (size_t)(n_extra + 1) * sizeof *extra);
        if (more == NULL || (more[n_extra] = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(q, 0))) == NULL) {
            extra = more ? more : extra;
            rc = TV_ERR_NOMEM;
            break;
        }
        extra = more;
        n_extra++;
    }
    sqlite3_finalize(q);
    if (rc == 0)
        rc = exec_msg(db, create, msg);
    if (rc == 0)
        rc = exec_msg(db, "INSERT INTO users_rebuilt SELECT * FROM users;", msg);
    if (rc == 0)
        rc = exec_msg(db, "DROP TABLE users;", msg);
    if (rc == 0)
        rc = exec_msg(db, "ALTER TABLE users_rebuilt RENAME TO users;", msg);
    for (int i = 0; i < n_extra; i++) {
        if (rc == 0)
            rc = exec_msg(db, extra[i], msg);
        sqlite3_free(extra[i]);
    }
    free(extra);
    sqlite3_free(create);
    return rc;
}

/* PRAGMA foreign_key_check's rows: a migration that leaves one is rolled back. */
static int count_row(void *n, int cols, char **vals, char **names)
{
    (void)cols, (void)vals, (void)names;
    ++*(int *)n;
    return 0;
}

static int migrate(tv_store *st, char *err, size_t err_size)
{
    int v;
    if (tv_store_schema_version(st, &v) != 0)
        return fail(err, err_size, "database", "cannot read the schema version");
    if (v > tv_store_schema_latest())
        return fail(err, err_size, "database", "made by a newer televisitd; refusing to touch it");
    if (v == tv_store_schema_latest())
        return 0;
    /* Off outside a transaction (inside one the pragma does nothing), on again whatever happens. */
    if (sqlite3_exec(st->db, "PRAGMA foreign_keys = OFF;", NULL, NULL, NULL) != SQLITE_OK)
        return fail(err, err_size, "database", "cannot turn foreign keys off to migrate");
    int rc = 0;
    for (; rc == 0 && v < tv_store_schema_latest(); v++) {
        char bump[64], *msg = NULL;
        int broken = 0;
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d;", v + 1);
        int r = exec_msg(st->db, "BEGIN IMMEDIATE;", &msg);
        if (r == 0 && strncmp(migrations[v], TV_STORE_REBUILD_USERS, sizeof TV_STORE_REBUILD_USERS - 1) == 0)
            r = users_autoincrement(st->db, &msg);
        if (r == 0)
            r = exec_msg(st->db, migrations[v], &msg);
        if (r == 0 && sqlite3_exec(st->db, "PRAGMA foreign_key_check;", count_row, &broken, &msg) != SQLITE_OK)
            r = TV_ERR_STORAGE;
        if (r == 0 && broken) {
            msg = sqlite3_mprintf("%d row(s) would break a foreign key", broken);
            r = TV_ERR_STORAGE;
        }
        if (r == 0)
            r = exec_msg(st->db, bump, &msg);
        if (r == 0)
            r = exec_msg(st->db, "COMMIT;", &msg);
        if (r != 0) {
            fail(err, err_size, "migration failed", msg ? msg : "?");
            sqlite3_exec(st->db, "ROLLBACK;", NULL, NULL, NULL);
            rc = TV_ERR_INVALID;
        }
        sqlite3_free(msg);
    }
    if (sqlite3_exec(st->db, "PRAGMA foreign_keys = ON;", NULL, NULL, NULL) != SQLITE_OK && rc == 0)
        rc = fail(err, err_size, "database", "cannot turn foreign keys back on");
    return rc;
}

int tv_store_open(tv_store *st, const char *db_path, const char *key_path, char *err, size_t err_size)
{
    int created;
    memset(st, 0, sizeof *st);
    int rc = tv_keyfile_load(key_path, st->master, &created, err, err_size);
    if (rc != 0)
        return rc;
    if (sqlite3_open_v2(db_path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW,
                        NULL) != SQLITE_OK) {
        fail(err, err_size, db_path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
        tv_store_close(st);
        return TV_ERR_INVALID;
    }
    chmod(db_path, 0600);
    /* WAL + FULL: a commit is on disk when it returns. secure_delete: freed pages are zeroed. */
    char *msg = NULL;
    if (sqlite3_exec(st->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                             "PRAGMA secure_delete = ON; PRAGMA busy_timeout = 5000;", NULL, NULL, &msg) != SQLITE_OK) {
        fail(err, err_size, db_path, msg ? msg : "cannot configure");
        sqlite3_free(msg);
        tv_store_close(st);
        return TV_ERR_INVALID;
    }
    if ((rc = migrate(st, err, err_size)) != 0) {
        tv_store_close(st);
        return rc;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", key_path);
    snprintf(st->audit_anchor, sizeof st->audit_anchor, "%s/audit.anchor", dirname(dir));
    return 0;
}

void tv_store_close(tv_store *st)
{
    if (st == NULL)
        return;
    if (st->db)
        sqlite3_close(st->db);
    sodium_memzero(st, sizeof *st);
}

static int field_key(tv_store *st, uint64_t purpose, const char *table, const char *column, int64_t row,
                     uint8_t key[TV_RECORD_KEYBYTES], char *id, size_t id_size, size_t *id_len)
{
    int rc = tv_record_identity(table, column, row, id, id_size, id_len);
    return rc != 0 ? rc : tv_record_subkey(st->master, purpose, key);
}

int tv_store_seal(tv_store *st, uint64_t purpose, const char *table, const char *column, int64_t row,
                  const uint8_t *pt, size_t pt_len, uint8_t *out, size_t out_size, size_t *out_len)
{
    uint8_t key[TV_RECORD_KEYBYTES];
    char id[TV_RECORD_IDENTITY_MAX + 1];
    size_t il;
    int rc = field_key(st, purpose, table, column, row, key, id, sizeof id, &il);
    if (rc == 0)
        rc = tv_record_seal(key, id, il, pt, pt_len, out, out_size, out_len);
    sodium_memzero(key, sizeof key);
    return rc;
}

int tv_store_open_field(tv_store *st, uint64_t purpose, const char *table, const char *column, int64_t row,
                        const uint8_t *rec, size_t rec_len, uint8_t *out, size_t out_size, size_t *out_len)
{
    uint8_t key[TV_RECORD_KEYBYTES];
    char id[TV_RECORD_IDENTITY_MAX + 1];
    size_t il;
    int rc = field_key(st, purpose, table, column, row, key, id, sizeof id, &il);
    if (rc == 0)
        rc = tv_record_open(key, id, il, rec, rec_len, out, out_size, out_len);
    sodium_memzero(key, sizeof key);
    return rc;
}
