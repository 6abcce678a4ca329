#include "tv_msg.h"
#include "tv_json.h"
#include "tv_err.h"
#include "tv_token.h"
#include "tv_utf8.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* ---- The schema: one table, docs/protocol.md in data. ---- */

/* The field language is tv_json's; short names for the table below. */
typedef tv_json_field field;
enum { C_TEXT = TV_JSON_TEXT, C_NAME = TV_JSON_NAME, C_ID = TV_JSON_ID, C_TOKEN = TV_JSON_TOKEN, C_SDP = TV_JSON_SDP,
       C_CODE = TV_JSON_CODE, C_URL = TV_JSON_URL };
enum { REQ = TV_JSON_REQ, NULLABLE = TV_JSON_NULLABLE };

#define MS_MAX 9007199254740991LL  /* 2^53 - 1: every integer a JSON double holds exactly */

#define F_STR TV_JSON_F_STR
#define F_ENUM TV_JSON_F_ENUM
#define F_INT TV_JSON_F_INT
#define F_BOOL TV_JSON_F_BOOL
#define F_OBJ TV_JSON_F_OBJ
#define F_ARR TV_JSON_F_ARR
#define F_END TV_JSON_F_END
#define ID(n, fl) F_STR(n, fl, C_ID, 1, 64)

static const char *const roles[] = { "patient", "clinician", NULL };
static const char *const langs[] = { "en", "fr", NULL };
static const char *const join_states[] = { "waiting", "admitted", NULL };
static const char *const left_reasons[] = { "left", "disconnected", "ended", NULL };
static const char *const cand_types[] = { "host", "srflx", "prflx", "relay", NULL };
static const char *const protocols[] = { "udp", "tcp", NULL };
static const char *const relay_protocols[] = { "udp", "tcp", "tls", NULL };
static const char *const end_reasons[] = { "clinician_ended", "patient_left", "expired", "revoked",
                                           "sas_mismatch", "server_shutdown", "replaced", NULL };

static const field url_item = F_STR(NULL, REQ, C_URL, 1, 256);
static const field ice_server[] = {
    F_ARR("urls", REQ, 1, 4, &url_item),
    F_STR("username", 0, C_TEXT, 1, 128),
    F_STR("credential", 0, C_TEXT, 1, 256),
    F_END
};
static const field ice_server_item = F_OBJ(NULL, REQ, ice_server);
static const field peer[] = { ID("id", REQ), F_ENUM("role", REQ, roles), F_STR("name", 0, C_NAME, 1, 80), F_END };
static const field peer_item = F_OBJ(NULL, REQ, peer);
static const field waiting_patient[] = {
    ID("id", REQ), F_STR("name", REQ, C_NAME, 1, 80), F_INT("since", REQ, 0, MS_MAX), F_END
};
static const field waiting_item = F_OBJ(NULL, REQ, waiting_patient);
static const field lobby_patient[] = {
    ID("visit", REQ), ID("id", REQ), F_STR("name", REQ, C_NAME, 1, 80), F_INT("since", REQ, 0, MS_MAX), F_END
};
static const field lobby_item = F_OBJ(NULL, REQ, lobby_patient);
static const field candidate[] = {
    F_STR("candidate", REQ, C_TEXT, 0, 1024),
    F_STR("sdpMid", 0, C_TEXT, 0, 32),
    F_INT("sdpMLineIndex", 0, 0, 64),
    F_STR("usernameFragment", 0, C_TEXT, 0, 256),
    F_END
};

/* Client forms. `id` is allowed on every one of them (echoed as `ref` in errors). */
#define CID ID("id", 0)
static const field c_join[] = {
    CID, F_ENUM("role", REQ, roles), F_STR("invite", 0, C_TOKEN, 43, 43), F_STR("name", 0, C_NAME, 1, 80),
    ID("visit", 0), F_ENUM("lang", 0, langs), F_STR("resume", 0, C_TOKEN, 43, 43), F_END
};
static const field c_admit[] = { CID, ID("participant", REQ), F_END };
static const field c_deny[] = { CID, ID("participant", REQ), F_STR("reason", 0, C_TEXT, 1, 200), F_END };
static const field c_sdp[] = { CID, ID("to", 0), F_STR("sdp", REQ, C_SDP, 1, 32768), F_END };
static const field c_ice[] = { CID, ID("to", 0), F_OBJ("candidate", REQ | NULLABLE, candidate), F_END };
static const field c_key[] = {
    CID, ID("to", 0), F_STR("pub", REQ, C_TOKEN, 43, 43), F_INT("epoch", REQ, 0, 2147483648LL), F_END
};
static const field c_commit[] = {
    CID, ID("to", 0), F_STR("commitment", REQ, C_TOKEN, 43, 43), F_INT("epoch", REQ, 0, 2147483648LL), F_END
};
static const field c_media[] = { CID, F_BOOL("audio", REQ), F_BOOL("video", REQ), F_BOOL("screen", REQ), F_END };
static const field c_chat[] = { CID, ID("cid", REQ), F_STR("text", REQ, C_TEXT, 1, 4000), F_END };
static const field c_sas[] = { CID, F_BOOL("match", REQ), F_END };
static const field c_path[] = {
    CID, F_ENUM("local", REQ, cand_types), F_ENUM("remote", REQ, cand_types),
    F_ENUM("protocol", REQ, protocols), F_ENUM("relay_protocol", 0, relay_protocols), F_END
};
static const field c_ping[] = { CID, F_INT("ts", 0, 0, MS_MAX), F_END };
static const field c_empty[] = { CID, F_END };

/* Server forms. */
static const field s_joined[] = {
    ID("visit", REQ), ID("you", REQ), F_ENUM("role", REQ, roles), F_ENUM("state", REQ, join_states),
    F_STR("resume", REQ, C_TOKEN, 43, 43), F_ARR("ice_servers", REQ, 0, 8, &ice_server_item),
    F_ARR("peers", 0, 0, 8, &peer_item), F_END
};
static const field s_waiting[] = { F_ARR("patients", REQ, 0, 50, &waiting_item), F_END };
static const field s_lobby[] = { F_ARR("patients", REQ, 0, 100, &lobby_item), F_INT("total", REQ, 0, 1000000000), F_END };
static const field s_denied[] = { F_STR("reason", 0, C_TEXT, 1, 200), F_END };
static const field s_peer_joined[] = { ID("id", REQ), F_ENUM("role", REQ, roles), F_STR("name", 0, C_NAME, 1, 80), F_END };
static const field s_peer_left[] = { ID("id", REQ), F_ENUM("reason", REQ, left_reasons), F_END };
static const field s_sdp[] = { ID("from", REQ), F_STR("sdp", REQ, C_SDP, 1, 32768), F_END };
static const field s_ice[] = { ID("from", REQ), F_OBJ("candidate", REQ | NULLABLE, candidate), F_END };
static const field s_key[] = {
    ID("from", REQ), F_STR("pub", REQ, C_TOKEN, 43, 43), F_INT("epoch", REQ, 0, 2147483648LL), F_END
};
static const field s_commit[] = {
    ID("from", REQ), F_STR("commitment", REQ, C_TOKEN, 43, 43), F_INT("epoch", REQ, 0, 2147483648LL), F_END
};
static const field s_media[] = { ID("from", REQ), F_BOOL("audio", REQ), F_BOOL("video", REQ), F_BOOL("screen", REQ), F_END };
static const field s_chat[] = {
    ID("from", REQ), ID("cid", REQ), F_STR("text", REQ, C_TEXT, 1, 4000), F_INT("ts", REQ, 0, MS_MAX), F_END
};
static const field s_chat_ack[] = { ID("cid", REQ), F_INT("ts", REQ, 0, MS_MAX), F_END };
static const field s_pong[] = { F_INT("ts", 0, 0, MS_MAX), F_END };
static const field s_ended[] = { F_ENUM("reason", REQ, end_reasons), F_END };
static const field s_error[] = {
    F_STR("code", REQ, C_CODE, 1, 64), F_STR("message", REQ, C_TEXT, 1, 256), ID("ref", 0), F_END
};
static const field s_empty[] = { F_END };

static int check_join(const cJSON *root);

typedef struct schema {
    const char *name;
    const field *c2s, *s2c;            /* NULL: not valid in that direction */
    int (*check)(const cJSON *root);   /* rules across members, client form only */
} schema;

static const schema schemas[TV_MSG_TYPE_COUNT] = {
    [TV_MSG_JOIN] = { "join", c_join, NULL, check_join },
    [TV_MSG_JOINED] = { "joined", NULL, s_joined, NULL },
    [TV_MSG_WAITING_ROOM] = { "waiting_room", NULL, s_waiting, NULL },
    [TV_MSG_ADMIT] = { "admit", c_admit, NULL, NULL },
    [TV_MSG_DENY] = { "deny", c_deny, NULL, NULL },
    [TV_MSG_ADMITTED] = { "admitted", NULL, s_empty, NULL },
    [TV_MSG_DENIED] = { "denied", NULL, s_denied, NULL },
    [TV_MSG_PEER_JOINED] = { "peer_joined", NULL, s_peer_joined, NULL },
    [TV_MSG_PEER_LEFT] = { "peer_left", NULL, s_peer_left, NULL },
    [TV_MSG_OFFER] = { "offer", c_sdp, s_sdp, NULL },
    [TV_MSG_ANSWER] = { "answer", c_sdp, s_sdp, NULL },
    [TV_MSG_ICE] = { "ice", c_ice, s_ice, NULL },
    [TV_MSG_E2EE_COMMIT] = { "e2ee_commit", c_commit, s_commit, NULL },
    [TV_MSG_E2EE_KEY] = { "e2ee_key", c_key, s_key, NULL },
    [TV_MSG_MEDIA_STATE] = { "media_state", c_media, s_media, NULL },
    [TV_MSG_CHAT] = { "chat", c_chat, s_chat, NULL },
    [TV_MSG_CHAT_ACK] = { "chat_ack", NULL, s_chat_ack, NULL },
    [TV_MSG_SAS_RESULT] = { "sas_result", c_sas, NULL, NULL },
    [TV_MSG_ICE_PATH] = { "ice_path", c_path, NULL, NULL },
    [TV_MSG_PING] = { "ping", c_ping, NULL, NULL },
    [TV_MSG_PONG] = { "pong", NULL, s_pong, NULL },
    [TV_MSG_LEAVE] = { "leave", c_empty, NULL, NULL },
    [TV_MSG_END] = { "end", c_empty, NULL, NULL },
    [TV_MSG_ENDED] = { "ended", NULL, s_ended, NULL },
    [TV_MSG_ERROR] = { "error", NULL, s_error, NULL },
    [TV_MSG_WATCH] = { "watch", c_empty, NULL, NULL },
    [TV_MSG_LOBBY] = { "lobby", NULL, s_lobby, NULL },
};

/* ---- Validation ---- */

static void set_err_field(tv_msg *m, const char *name)
{
    if (m == NULL)
        return;
    size_t n = name ? strlen(name) : 0;
    if (n >= sizeof m->err_field) {
        n = sizeof m->err_field - 1;
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
            n--;   /* cut on a character boundary, so the error text stays valid UTF-8 */
    }
    if (n)
        memcpy(m->err_field, name, n);
    m->err_field[n] = '\0';
}


static int check_join(const cJSON *root)
{
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(root, "role");
    int patient = strcmp(role->valuestring, "patient") == 0;
    int has_invite = cJSON_GetObjectItemCaseSensitive(root, "invite") != NULL;
    int has_name = cJSON_GetObjectItemCaseSensitive(root, "name") != NULL;
    int has_visit = cJSON_GetObjectItemCaseSensitive(root, "visit") != NULL;
    if (patient)
        return has_invite && has_name && !has_visit ? 0 : TV_ERR_MSG_FIELD_VALUE;
    return has_visit && !has_invite && !has_name ? 0 : TV_ERR_MSG_FIELD_VALUE;
}

const char *tv_msg_type_name(tv_msg_type t)
{
    return (unsigned)t < TV_MSG_TYPE_COUNT ? schemas[t].name : NULL;
}

int tv_msg_relayed(tv_msg_type t)
{
    return (unsigned)t < TV_MSG_TYPE_COUNT && schemas[t].c2s != NULL && schemas[t].s2c != NULL;
}

int tv_msg_type_from_name(const char *name, size_t len, tv_msg_type *t)
{
    if (name == NULL || t == NULL)
        return TV_ERR_INVALID;
    for (int i = 0; i < TV_MSG_TYPE_COUNT; i++)
        if (strlen(schemas[i].name) == len && memcmp(schemas[i].name, name, len) == 0) {
            *t = (tv_msg_type)i;
            return 0;
        }
    return TV_ERR_MSG_UNKNOWN_TYPE;
}

/* Validates a tree and finds its type; m->type is set on success. */
static int validate_root(tv_msg *m, const cJSON *root)
{
    if (!cJSON_IsObject(root))
        return TV_ERR_MSG_NOT_OBJECT;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (type == NULL) {
        set_err_field(m, "type");
        return TV_ERR_MSG_MISSING_FIELD;
    }
    if (!cJSON_IsString(type) || type->valuestring == NULL) {
        set_err_field(m, "type");
        return TV_ERR_MSG_FIELD_TYPE;
    }
    tv_msg_type t;
    if (tv_msg_type_from_name(type->valuestring, strlen(type->valuestring), &t) != 0) {
        set_err_field(m, "type");
        return TV_ERR_MSG_UNKNOWN_TYPE;
    }
    const schema *s = &schemas[t];
    const field *fields = m->origin == TV_MSG_FROM_CLIENT ? s->c2s : s->s2c;
    if (fields == NULL) {
        set_err_field(m, "type");
        return TV_ERR_MSG_DIRECTION;
    }
    const char *where = NULL;
    int rc = tv_json_check(root, fields, "type", &where);
    set_err_field(m, where);
    if (rc == 0 && s->check && m->origin == TV_MSG_FROM_CLIENT && (rc = s->check(root)) != 0)
        set_err_field(m, NULL);
    if (rc == 0)
        m->type = t;
    return rc;
}


int tv_msg_parse(const char *text, size_t len, tv_msg_origin origin, tv_msg *m)
{
    if (m == NULL || (text == NULL && len > 0) ||
        (origin != TV_MSG_FROM_CLIENT && origin != TV_MSG_FROM_SERVER))
        return TV_ERR_INVALID;
    memset(m, 0, sizeof *m);
    m->origin = origin;
    /* A browser's frame leaves room for what the server adds when it forwards it ("from", "ts"). */
    if (len > (origin == TV_MSG_FROM_CLIENT ? TV_MSG_CLIENT_MAX_BYTES : TV_MSG_MAX_BYTES))
        return TV_ERR_MSG_TOO_LARGE;
    cJSON *root;
    int rc = tv_json_parse_strict(text, len, &root);
    if (rc != 0)
        return rc;
    rc = validate_root(m, root);
    if (rc != 0) {
        cJSON_Delete(root);
        return rc;
    }
    m->json = root;
    m->valid = 1;
    return 0;
}

int tv_msg_validate(tv_msg *m)
{
    if (m == NULL || m->json == NULL)
        return TV_ERR_INVALID;
    tv_msg_type declared = m->type;
    int rc = validate_root(m, m->json);
    if (rc == 0 && m->type != declared)
        rc = TV_ERR_MSG_FIELD_VALUE;
    m->valid = rc == 0;
    return rc;
}

void tv_msg_free(tv_msg *m)
{
    if (m == NULL)
        return;
    cJSON_Delete(m->json);
    m->json = NULL;
    m->valid = 0;
}

/* ---- Reading ---- */

const cJSON *tv_msg_get(const tv_msg *m, const char *field)
{
    if (m == NULL || m->json == NULL || field == NULL)
        return NULL;
    return cJSON_GetObjectItemCaseSensitive(m->json, field);
}

const char *tv_msg_get_str(const tv_msg *m, const char *field, size_t *len)
{
    const cJSON *v = tv_msg_get(m, field);
    if (!cJSON_IsString(v) || v->valuestring == NULL)
        return NULL;
    if (len)
        *len = strlen(v->valuestring);
    return v->valuestring;
}

int tv_msg_get_int(const tv_msg *m, const char *field, int64_t *out)
{
    const cJSON *v = tv_msg_get(m, field);
    if (v == NULL || out == NULL)
        return TV_ERR_MSG_MISSING_FIELD;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= -(double)MS_MAX && v->valuedouble <= (double)MS_MAX))
        return TV_ERR_MSG_FIELD_TYPE;
    *out = (int64_t)v->valuedouble;
    return 0;
}

int tv_msg_get_bool(const tv_msg *m, const char *field, int *out)
{
    const cJSON *v = tv_msg_get(m, field);
    if (v == NULL || out == NULL)
        return TV_ERR_MSG_MISSING_FIELD;
    if (!cJSON_IsBool(v))
        return TV_ERR_MSG_FIELD_TYPE;
    *out = cJSON_IsTrue(v);
    return 0;
}

/* ---- Building ---- */

int tv_msg_init(tv_msg *m, tv_msg_type type, tv_msg_origin origin)
{
    if (m == NULL || (unsigned)type >= TV_MSG_TYPE_COUNT ||
        (origin != TV_MSG_FROM_CLIENT && origin != TV_MSG_FROM_SERVER))
        return TV_ERR_INVALID;
    memset(m, 0, sizeof *m);
    m->type = type;
    m->origin = origin;
    if ((origin == TV_MSG_FROM_CLIENT ? schemas[type].c2s : schemas[type].s2c) == NULL)
        return TV_ERR_MSG_DIRECTION;
    m->json = cJSON_CreateObject();
    if (m->json == NULL || cJSON_AddStringToObject(m->json, "type", schemas[type].name) == NULL) {
        tv_msg_free(m);
        return TV_ERR_NOMEM;
    }
    return 0;
}

/* Replaces (or adds) member `field`; takes ownership of value. */
static int put_member(tv_msg *m, const char *field, cJSON *value)
{
    if (m == NULL || m->json == NULL || field == NULL || strcmp(field, "type") == 0) {
        cJSON_Delete(value);
        return TV_ERR_INVALID;
    }
    if (value == NULL)
        return TV_ERR_NOMEM;
    m->valid = 0;
    cJSON_DeleteItemFromObjectCaseSensitive(m->json, field);
    if (!cJSON_AddItemToObject(m->json, field, value)) {
        cJSON_Delete(value);
        return TV_ERR_NOMEM;
    }
    return 0;
}

int tv_msg_set_str(tv_msg *m, const char *field, const char *s, size_t len)
{
    if (s == NULL || len > TV_MSG_MAX_BYTES || memchr(s, '\0', len) != NULL)
        return TV_ERR_INVALID;
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return TV_ERR_NOMEM;
    memcpy(copy, s, len);
    copy[len] = '\0';
    int rc = put_member(m, field, cJSON_CreateString(copy));
    free(copy);
    return rc;
}

int tv_msg_set_int(tv_msg *m, const char *field, int64_t v)
{
    if (v > MS_MAX || v < -MS_MAX)
        return TV_ERR_INVALID;
    return put_member(m, field, cJSON_CreateNumber((double)v));
}

int tv_msg_set_bool(tv_msg *m, const char *field, int v)
{
    return put_member(m, field, cJSON_CreateBool(v != 0));
}

int tv_msg_set_json(tv_msg *m, const char *field, cJSON *value)
{
    return put_member(m, field, value);
}

int tv_msg_relay(tv_msg *m, const char *from, size_t from_len, int64_t ts_ms)
{
    if (m == NULL || m->json == NULL || m->origin != TV_MSG_FROM_CLIENT)
        return TV_ERR_INVALID;
    if (!tv_msg_relayed(m->type))
        return TV_ERR_MSG_DIRECTION;
    m->valid = 0;
    cJSON_DeleteItemFromObjectCaseSensitive(m->json, "to");
    cJSON_DeleteItemFromObjectCaseSensitive(m->json, "id");
    m->origin = TV_MSG_FROM_SERVER;
    int rc = tv_msg_set_str(m, "from", from, from_len);
    if (rc == 0 && m->type == TV_MSG_CHAT)
        rc = tv_msg_set_int(m, "ts", ts_ms);
    if (rc == 0)
        rc = tv_msg_validate(m);
    return rc;
}

int tv_msg_serialize(tv_msg *m, char *out, size_t out_size, size_t *out_len)
{
    if (out == NULL)
        return TV_ERR_INVALID;
    int rc = m != NULL && m->valid && m->json != NULL ? 0 : tv_msg_validate(m);
    if (rc != 0)
        return rc;
    /* Straight into out: the relay serializes every message, and cJSON's own buffer cost a malloc,
     * reallocs as it grew, and a copy. When out is too small, the path below tells which error. */
    if (out_size <= INT_MAX && cJSON_PrintPreallocated(m->json, out, (int)out_size, 0)) {
        size_t n = strlen(out);
        if (n > TV_MSG_MAX_BYTES)
            return TV_ERR_MSG_TOO_LARGE;
        if (out_len)
            *out_len = n;
        return 0;
    }
    char *s = cJSON_PrintUnformatted(m->json);
    if (s == NULL)
        return TV_ERR_NOMEM;
    size_t n = strlen(s);
    if (n > TV_MSG_MAX_BYTES)
        rc = TV_ERR_MSG_TOO_LARGE;
    else if (n + 1 > out_size)
        rc = TV_ERR_NOSPACE;
    else {
        memcpy(out, s, n + 1);
        if (out_len)
            *out_len = n;
    }
    free(s);
    return rc;
}
