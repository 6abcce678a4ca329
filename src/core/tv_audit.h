/* Audit records and their chain: each record's SHA-256 covers its fields in a canonical,
 * length-prefixed form and the previous record's hash, so changing, removing, inserting or
 * reordering any record breaks the chain from that point on. Storage is the server's. */
#ifndef TV_AUDIT_H
#define TV_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#define TV_AUDIT_HASHBYTES 32
#define TV_AUDIT_FIELD_MAX 4096

/* Every event the reviewed products log, and the ones televisit adds. Names are stable. */
#define TV_AUDIT_TYPES(X) \
    X(LOGIN_SUCCESS, "login_success") X(LOGIN_FAILURE, "login_failure") X(LOGOUT, "logout") \
    X(LOCKOUT, "lockout") X(ACCOUNT_CREATED, "account_created") X(ACCOUNT_ACTIVATED, "account_activated") \
    X(ACCOUNT_DELETED, "account_deleted") X(PASSWORD_CHANGED, "password_changed") \
    X(PASSWORD_RESET, "password_reset") X(TOTP_ENABLED, "totp_enabled") X(TOTP_DISABLED, "totp_disabled") \
    X(SESSION_REQUESTED, "session_requested") X(SESSION_ACCEPTED, "session_accepted") \
    X(SESSION_DENIED, "session_denied") X(SESSION_ABORTED, "session_aborted") X(SESSION_ENDED, "session_ended") \
    X(DOCUMENT_SHARED, "document_shared") X(TURN_CREDENTIAL_ISSUED, "turn_credential_issued") \
    X(ICE_PATH_SELECTED, "ice_path_selected") X(SAS_MISMATCH, "sas_mismatch") X(SSO_SUCCESS, "sso_success") \
    X(SSO_FAILURE, "sso_failure") X(DATA_EXPORTED, "data_exported") \
    X(VISIT_CREATED, "visit_created") X(VISIT_REVOKED, "visit_revoked") X(SETTINGS_CHANGED, "settings_changed") \
    X(SAS_VERIFIED, "sas_verified") X(SSO_LINKED, "sso_linked") X(SSO_UNLINKED, "sso_unlinked") \
    X(ACCOUNT_REGISTRATION_REPEATED, "account_registration_repeated")

typedef struct tv_audit_record {
    int64_t seq;                /* 1, 2, 3... with no gap */
    int64_t ts_ms;              /* UTC, milliseconds */
    const char *type;           /* one of TV_AUDIT_TYPES */
    const char *requester;      /* "user:<id>", "patient:<token id>", or "" */
    const char *message;
    const char *room;           /* visit id, or "" */
    const char *ip;             /* source address, or "" */
    const char *extra;          /* a JSON object, or "" */
} tv_audit_record;

int tv_audit_type_valid(const char *type);

/* out = SHA-256("televisit audit v1" || seq || ts || each field length-prefixed || prev). prev is the
 * previous record's hash, or all zero for record 1. */
int tv_audit_hash(const tv_audit_record *r, const uint8_t prev[TV_AUDIT_HASHBYTES], uint8_t out[TV_AUDIT_HASHBYTES]);

#endif
