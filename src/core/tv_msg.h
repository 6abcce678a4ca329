/* Signaling messages (docs/protocol.md): parse and validate a frame against the one schema table,
 * read its members, build messages, and turn a browser's relayed message into the server's form.
 * Every malformed input yields a specific tv_err code and the member it concerns, never a crash. */
#ifndef TV_MSG_H
#define TV_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "tv_json.h"   /* the strict parser and the wiper, which most readers of tv_msg also use */

struct cJSON;

#define TV_MSG_MAX_BYTES 65536
#define TV_MSG_CLIENT_MAX_BYTES (TV_MSG_MAX_BYTES - 256)   /* room for the relay's additions */

#define TV_MSG_TYPES(X) \
    X(JOIN, "join") X(JOINED, "joined") X(WAITING_ROOM, "waiting_room") X(ADMIT, "admit") \
    X(DENY, "deny") X(ADMITTED, "admitted") X(DENIED, "denied") X(PEER_JOINED, "peer_joined") \
    X(PEER_LEFT, "peer_left") X(OFFER, "offer") X(ANSWER, "answer") X(ICE, "ice") \
    X(E2EE_COMMIT, "e2ee_commit") X(E2EE_KEY, "e2ee_key") X(MEDIA_STATE, "media_state") X(CHAT, "chat") X(CHAT_ACK, "chat_ack") \
    X(SAS_RESULT, "sas_result") X(ICE_PATH, "ice_path") X(PING, "ping") X(PONG, "pong") \
    X(LEAVE, "leave") X(END, "end") X(ENDED, "ended") X(ERROR, "error") \
    X(WATCH, "watch") X(LOBBY, "lobby")

typedef enum tv_msg_type {
#define TV_MSG_ENUM_(id, name) TV_MSG_##id,
    TV_MSG_TYPES(TV_MSG_ENUM_)
#undef TV_MSG_ENUM_
    TV_MSG_TYPE_COUNT
} tv_msg_type;

typedef enum tv_msg_origin { TV_MSG_FROM_CLIENT = 0, TV_MSG_FROM_SERVER = 1 } tv_msg_origin;

typedef struct tv_msg {
    tv_msg_type type;
    tv_msg_origin origin;
    struct cJSON *json;     /* owned; NULL after tv_msg_free or a failed parse; change it only through
                               tv_msg_set_* (they clear `valid`) */
    int valid;              /* checked against the schema since its last change: serializing skips the
                               check, so a relayed message is checked once on the way in and once out */
    char err_field[48];     /* after an error: the member concerned ("" if none), for the error text */
} tv_msg;

const char *tv_msg_type_name(tv_msg_type t);

/* 1 for types a browser sends for the server to forward (they have both a browser and a server form). */
int tv_msg_relayed(tv_msg_type t);
int tv_msg_type_from_name(const char *name, size_t len, tv_msg_type *t);

/* Parses and validates one frame sent by `origin`. On success the caller frees m with tv_msg_free. */
int tv_msg_parse(const char *text, size_t len, tv_msg_origin origin, tv_msg *m);

/* Checks m against its schema: what tv_msg_serialize does before writing. */
int tv_msg_validate(tv_msg *m);

void tv_msg_free(tv_msg *m);

/* Members of a validated message. A missing optional member gives NULL / TV_ERR_MSG_MISSING_FIELD. */
const char *tv_msg_get_str(const tv_msg *m, const char *field, size_t *len);
int tv_msg_get_int(const tv_msg *m, const char *field, int64_t *v);
int tv_msg_get_bool(const tv_msg *m, const char *field, int *v);
const struct cJSON *tv_msg_get(const tv_msg *m, const char *field);

/* Building: start a message, set members, serialize (which validates first). */
int tv_msg_init(tv_msg *m, tv_msg_type type, tv_msg_origin origin);
int tv_msg_set_str(tv_msg *m, const char *field, const char *s, size_t len);
int tv_msg_set_int(tv_msg *m, const char *field, int64_t v);
int tv_msg_set_bool(tv_msg *m, const char *field, int v);
/* Takes ownership of value (an object, array or null), even on failure. */
int tv_msg_set_json(tv_msg *m, const char *field, struct cJSON *value);

/* Turns a validated browser message of a relayed type into the server's form from `from`
 * (drops `to` and `id`, sets `from`, and for chat stamps `ts`). */
int tv_msg_relay(tv_msg *m, const char *from, size_t from_len, int64_t ts_ms);

/* Compact JSON, NUL-terminated; *out_len excludes the NUL. */
int tv_msg_serialize(tv_msg *m, char *out, size_t out_size, size_t *out_len);

#endif
