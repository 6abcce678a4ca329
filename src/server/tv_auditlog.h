/* The audit log in the database: records appended in a transaction, each chained to the one
 * before by its SHA-256 (tv_audit), and a verifier that names the first record that breaks. */
#ifndef TV_AUDITLOG_H
#define TV_AUDITLOG_H

#include <stdint.h>

#include "tv_audit.h"
#include "tv_store.h"

/* Appends r (its seq is assigned: the next one) and returns its seq. */
int tv_auditlog_append(tv_store *st, const tv_audit_record *r, int64_t *seq);

/* *count = records checked; *first_bad = 0 if the chain is intact, else the first record whose
 * hash or sequence is wrong (for a deleted record: the one after the gap). */
int tv_auditlog_verify(tv_store *st, int64_t *count, int64_t *first_bad);

/* Writes the log's last record (number and hash) to the store's anchor file, atomically, under the
 * anchor's lock (a file beside it, ANCHOR.lock); with no record in the log, removes the anchor.
 * Appends do the same after each commit, reading the last record again under the lock, so that
 * appends from several connections at once cannot leave the anchor on an older record than the
 * log's last; a crash can leave it one record behind the log, never ahead of it. */
int tv_auditlog_anchor_write(tv_store *st);

/* 0 with *first_bad = 0 when the anchored record is in the log with the same hash, or when there is
 * no anchor and the log has no record (*anchored = 0); 0 with *first_bad = the anchored record when
 * that record was cut or changed. TV_ERR_NOT_FOUND: no anchor, but the log has records (deleted, or
 * the database copied without it: a cut end could not be seen). TV_ERR_ENCODING: unreadable. */
int tv_auditlog_anchor_check(tv_store *st, int *anchored, int64_t *first_bad);

#endif
