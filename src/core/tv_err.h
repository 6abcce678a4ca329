/* Error codes shared by every core module. Functions return 0 or one of these (negative);
 * the names double as the stable error codes of the signaling protocol and the HTTP API,
 * so a code's name never changes once shipped. */
#ifndef TV_ERR_H
#define TV_ERR_H

#define TV_ERR_LIST(X) \
    X(TV_ERR_INVALID,           -1,  "invalid_argument") \
    X(TV_ERR_NOSPACE,           -2,  "buffer_too_small") \
    X(TV_ERR_NOMEM,             -3,  "out_of_memory") \
    X(TV_ERR_UNSUPPORTED,       -4,  "unsupported") \
    X(TV_ERR_ENCODING,          -5,  "bad_encoding") \
    X(TV_ERR_UTF8,              -6,  "bad_utf8") \
    X(TV_ERR_TOO_LONG,          -7,  "too_long") \
    X(TV_ERR_OTP_FORMAT,        -10, "otp_format") \
    X(TV_ERR_OTP_MISMATCH,      -11, "otp_mismatch") \
    X(TV_ERR_OTP_REPLAY,        -12, "otp_replay") \
    X(TV_ERR_PASSWORD_MISMATCH, -20, "password_mismatch") \
    X(TV_ERR_PASSWORD_HASH,     -21, "password_hash_failed") \
    X(TV_ERR_TOKEN_FORMAT,      -30, "token_format") \
    X(TV_ERR_TOKEN_MISMATCH,    -31, "token_mismatch") \
    X(TV_ERR_MSG_TOO_LARGE,     -40, "msg_too_large") \
    X(TV_ERR_MSG_JSON,          -41, "msg_malformed_json") \
    X(TV_ERR_MSG_NOT_OBJECT,    -42, "msg_not_object") \
    X(TV_ERR_MSG_UNKNOWN_TYPE,  -43, "msg_unknown_type") \
    X(TV_ERR_MSG_DIRECTION,     -44, "msg_wrong_direction") \
    X(TV_ERR_MSG_MISSING_FIELD, -45, "msg_missing_field") \
    X(TV_ERR_MSG_FIELD_TYPE,    -46, "msg_field_type") \
    X(TV_ERR_MSG_FIELD_LENGTH,  -47, "msg_field_too_long") \
    X(TV_ERR_MSG_FIELD_VALUE,   -48, "msg_field_value") \
    X(TV_ERR_MSG_UNKNOWN_FIELD, -49, "msg_unknown_field") \
    X(TV_ERR_MSG_DUPLICATE_FIELD, -50, "msg_duplicate_field") \
    X(TV_ERR_STATE_ILLEGAL,     -60, "state_illegal_event") \
    X(TV_ERR_SFRAME_HEADER,     -70, "sframe_bad_header") \
    X(TV_ERR_SFRAME_KID,        -71, "sframe_unknown_kid") \
    X(TV_ERR_SFRAME_AUTH,       -72, "sframe_auth_failed") \
    X(TV_ERR_SFRAME_REPLAY,     -73, "sframe_replay") \
    X(TV_ERR_SFRAME_SHORT,      -74, "sframe_truncated") \
    X(TV_ERR_SFRAME_COUNTER,    -75, "sframe_counter_exhausted") \
    X(TV_ERR_RECORD_AUTH,       -80, "record_auth_failed") \
    X(TV_ERR_UNAUTHORIZED,      -100, "unauthorized") \
    X(TV_ERR_FORBIDDEN,         -101, "forbidden") \
    X(TV_ERR_NOT_FOUND,         -102, "not_found") \
    X(TV_ERR_RATE_LIMITED,      -103, "rate_limited") \
    X(TV_ERR_LOCKED,            -104, "account_locked") \
    X(TV_ERR_CREDENTIALS,       -105, "invalid_credentials") \
    X(TV_ERR_TOKEN_EXPIRED,     -106, "token_expired") \
    X(TV_ERR_PASSWORD_POLICY,   -107, "password_policy") \
    X(TV_ERR_NOT_ADMITTED,      -108, "not_admitted") \
    X(TV_ERR_VISIT_CLOSED,      -109, "visit_closed") \
    X(TV_ERR_CONFLICT,          -110, "conflict") \
    X(TV_ERR_BUSY,              -111, "busy") \
    X(TV_ERR_STORAGE,           -112, "storage_failed") \
    X(TV_ERR_TOTP_REQUIRED,     -113, "totp_required") \
    X(TV_ERR_REAUTH,            -114, "reauth_required") \
    X(TV_ERR_JWT_FORMAT,        -120, "jwt_malformed") \
    X(TV_ERR_JWT_ALG,           -121, "jwt_alg_unsupported") \
    X(TV_ERR_JWT_KEY,           -122, "jwt_unknown_key") \
    X(TV_ERR_JWT_SIGNATURE,     -123, "jwt_bad_signature") \
    X(TV_ERR_JWT_EXPIRED,       -124, "jwt_expired") \
    X(TV_ERR_JWT_TIME,          -125, "jwt_bad_time") \
    X(TV_ERR_JWT_ISSUER,        -126, "jwt_wrong_issuer") \
    X(TV_ERR_JWT_AUDIENCE,      -127, "jwt_wrong_audience") \
    X(TV_ERR_JWT_NONCE,         -128, "jwt_wrong_nonce") \
    X(TV_ERR_JWT_CLAIM,         -129, "jwt_missing_claim")

typedef enum tv_err {
    TV_OK = 0,
#define TV_ERR_ENUM_(name, value, str) name = value,
    TV_ERR_LIST(TV_ERR_ENUM_)
#undef TV_ERR_ENUM_
} tv_err;

/* The stable snake_case name of an error code ("ok" for 0, "unknown_error" otherwise). */
const char *tv_err_name(int err);

#endif
