#define _POSIX_C_SOURCE 200809L
#include "tv_store.h"
#include "tv_err.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char magic[5] = { 'T', 'V', 'M', 'K', 1 };   /* "TVMK", format 1 */

/* Migrations: the schema at version i+1 is migrations[0..i] applied in order, each in its own
 * transaction with the version bump. Append only; never edit one that has shipped. */
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
    /* 5: sign-in throttling per account and source address (docs/api.md, "Failed sign-ins"), which
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
    "UPDATE users SET failures = 0, lockouts = 0, locked_until_ms = 0;",
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

static int migrate(tv_store *st, char *err, size_t err_size)
{
    int v;
    if (tv_store_schema_version(st, &v) != 0)
        return fail(err, err_size, "database", "cannot read the schema version");
    if (v > tv_store_schema_latest())
        return fail(err, err_size, "database", "made by a newer televisitd; refusing to touch it");
    for (; v < tv_store_schema_latest(); v++) {
        char bump[64], *msg = NULL;
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d;", v + 1);
        if (sqlite3_exec(st->db, "BEGIN IMMEDIATE;", NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(st->db, migrations[v], NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(st->db, bump, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(st->db, "COMMIT;", NULL, NULL, &msg) != SQLITE_OK) {
            fail(err, err_size, "migration failed", msg ? msg : "?");
            sqlite3_free(msg);
            sqlite3_exec(st->db, "ROLLBACK;", NULL, NULL, NULL);
            return TV_ERR_INVALID;
        }
    }
    return 0;
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
