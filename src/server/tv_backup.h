/* Backups: an online, consistent copy of the database (SQLite's backup API, while televisitd runs),
 * encrypted as a stream (libsodium secretstream, XChaCha20-Poly1305 chunks, a final tag, so cuts and
 * reordering are detected) under a key derived from the master key: a backup is useless without the
 * key file, which is kept, and backed up, apart. Restore checks integrity and the audit chain first. */
#ifndef TV_BACKUP_H
#define TV_BACKUP_H

#include <stddef.h>

#include "tv_store.h"

/* Writes DIR/televisit-YYYYmmddTHHMMSSZ.tvbackup (mode 0600, synced); its path in out_path. */
int tv_backup_write(tv_store *st, const char *dir, char *out_path, size_t out_size, char *err, size_t err_size);

/* Decrypts backup_path with the master key in key_path into db_path, which must not exist yet, after
 * checking the copy (SQLite integrity check, audit chain). Refused while a -wal, -shm or -journal of
 * db_path is there: left by the database that was there, SQLite would replay it over the restored
 * file. In its place the file is opened as the server opens it and checked again (integrity, chain,
 * the same log as the copy) before the audit anchor moves to it and 0 is returned; if that fails,
 * it is removed again and nothing is restored. */
int tv_backup_restore(const char *backup_path, const char *key_path, const char *db_path, char *err, size_t err_size);

#endif
