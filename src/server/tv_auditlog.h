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

/* Writes the log's last record (number and hash) to the store's anchor file, atomically. Appends do
 * it after each commit; a crash can leave the anchor behind the log, never ahead of it. */
int tv_auditlog_anchor_write(tv_store *st);

/* 0 with *first_bad = 0 when the anchored record is in the log with the same hash (or there is no
 * anchor yet: *anchored = 0); otherwise *first_bad is the anchored record, cut or changed. */
int tv_auditlog_anchor_check(tv_store *st, int *anchored, int64_t *first_bad);

#endif
