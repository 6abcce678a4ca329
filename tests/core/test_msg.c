#include "tv_test.h"
#include "tv_msg.h"
#include "tv_err.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOK "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"   /* 43 chars, canonical */
#define C TV_MSG_FROM_CLIENT
#define S TV_MSG_FROM_SERVER

/* One valid example of every message in each direction it exists in (docs/protocol.md). */
static const struct { tv_msg_origin o; tv_msg_type t; const char *json; } valid[] = {
    { C, TV_MSG_JOIN, "{\"type\":\"join\",\"role\":\"patient\",\"invite\":\"" TOK "\",\"name\":\"\xc3\x89lodie M.\",\"lang\":\"fr\"}" },
    { C, TV_MSG_JOIN, "{\"type\":\"join\",\"role\":\"clinician\",\"visit\":\"v_123\",\"resume\":\"" TOK "\",\"id\":\"r1\"}" },
    { S, TV_MSG_JOINED, "{\"type\":\"joined\",\"visit\":\"v1\",\"you\":\"p1\",\"role\":\"patient\",\"state\":\"waiting\","
                        "\"resume\":\"" TOK "\",\"ice_servers\":[{\"urls\":[\"stun:127.0.0.1:3478\"]},"
                        "{\"urls\":[\"turn:127.0.0.1:3478?transport=udp\",\"turn:127.0.0.1:3478?transport=tcp\"],"
                        "\"username\":\"1700000000:p1\",\"credential\":\"abc=\"}],\"peers\":[{\"id\":\"c1\",\"role\":\"clinician\"}]}" },
    { S, TV_MSG_WAITING_ROOM, "{\"type\":\"waiting_room\",\"patients\":[{\"id\":\"p1\",\"name\":\"Ana\",\"since\":1700000000000}]}" },
    { S, TV_MSG_WAITING_ROOM, "{\"type\":\"waiting_room\",\"patients\":[]}" },
    { C, TV_MSG_ADMIT, "{\"type\":\"admit\",\"participant\":\"p1\"}" },
    { C, TV_MSG_DENY, "{\"type\":\"deny\",\"participant\":\"p1\",\"reason\":\"Wrong visit, please call us.\"}" },
    { S, TV_MSG_ADMITTED, "{\"type\":\"admitted\"}" },
    { S, TV_MSG_DENIED, "{\"type\":\"denied\"}" },
    { S, TV_MSG_PEER_JOINED, "{\"type\":\"peer_joined\",\"id\":\"c1\",\"role\":\"clinician\",\"name\":\"Dr Martin\"}" },
    { S, TV_MSG_PEER_LEFT, "{\"type\":\"peer_left\",\"id\":\"c1\",\"reason\":\"disconnected\"}" },
    { C, TV_MSG_OFFER, "{\"type\":\"offer\",\"to\":\"p1\",\"sdp\":\"v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\n\"}" },
    { S, TV_MSG_OFFER, "{\"type\":\"offer\",\"from\":\"c1\",\"sdp\":\"v=0\\r\\n\"}" },
    { C, TV_MSG_ANSWER, "{\"type\":\"answer\",\"sdp\":\"v=0\\r\\n\"}" },
    { S, TV_MSG_ANSWER, "{\"type\":\"answer\",\"from\":\"p1\",\"sdp\":\"v=0\\r\\n\"}" },
    { C, TV_MSG_ICE, "{\"type\":\"ice\",\"candidate\":{\"candidate\":\"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\","
                     "\"sdpMid\":\"0\",\"sdpMLineIndex\":0,\"usernameFragment\":\"abcd\"}}" },
    { C, TV_MSG_ICE, "{\"type\":\"ice\",\"candidate\":null}" },
    { S, TV_MSG_ICE, "{\"type\":\"ice\",\"from\":\"p1\",\"candidate\":{\"candidate\":\"\"}}" },
    { C, TV_MSG_E2EE_COMMIT, "{\"type\":\"e2ee_commit\",\"commitment\":\"" TOK "\",\"epoch\":0}" },
    { S, TV_MSG_E2EE_COMMIT, "{\"type\":\"e2ee_commit\",\"from\":\"c1\",\"commitment\":\"" TOK "\",\"epoch\":1}" },
    { C, TV_MSG_E2EE_KEY, "{\"type\":\"e2ee_key\",\"pub\":\"" TOK "\",\"epoch\":0}" },
    { S, TV_MSG_E2EE_KEY, "{\"type\":\"e2ee_key\",\"from\":\"p1\",\"pub\":\"" TOK "\",\"epoch\":2147483648}" },
    { C, TV_MSG_MEDIA_STATE, "{\"type\":\"media_state\",\"audio\":true,\"video\":false,\"screen\":false}" },
    { S, TV_MSG_MEDIA_STATE, "{\"type\":\"media_state\",\"from\":\"c1\",\"audio\":false,\"video\":true,\"screen\":true}" },
    { C, TV_MSG_CHAT, "{\"type\":\"chat\",\"cid\":\"m1\",\"text\":\"Bonjour,\\nje suis l\\u00e0.\\t\\ud83d\\ude00\"}" },
    { S, TV_MSG_CHAT, "{\"type\":\"chat\",\"from\":\"p1\",\"cid\":\"m1\",\"text\":\"hi\",\"ts\":1700000000123}" },
    { S, TV_MSG_CHAT_ACK, "{\"type\":\"chat_ack\",\"cid\":\"m1\",\"ts\":1700000000123}" },
    { C, TV_MSG_SAS_RESULT, "{\"type\":\"sas_result\",\"match\":false}" },
    { C, TV_MSG_ICE_PATH, "{\"type\":\"ice_path\",\"local\":\"relay\",\"remote\":\"host\",\"protocol\":\"udp\",\"relay_protocol\":\"tls\"}" },
    { C, TV_MSG_PING, "{\"type\":\"ping\",\"ts\":5}" },
    { C, TV_MSG_PING, " { \"type\" : \"ping\" } \n" },
    { S, TV_MSG_PONG, "{\"type\":\"pong\",\"ts\":5}" },
    { C, TV_MSG_LEAVE, "{\"type\":\"leave\"}" },
    { C, TV_MSG_END, "{\"type\":\"end\",\"id\":\"x\"}" },
    { S, TV_MSG_ENDED, "{\"type\":\"ended\",\"reason\":\"sas_mismatch\"}" },
    { S, TV_MSG_ERROR, "{\"type\":\"error\",\"code\":\"msg_unknown_type\",\"message\":\"unknown type\",\"ref\":\"r1\"}" },
    { C, TV_MSG_WATCH, "{\"type\":\"watch\",\"id\":\"w1\"}" },
    { S, TV_MSG_LOBBY, "{\"type\":\"lobby\",\"patients\":[{\"visit\":\"v1\",\"id\":\"p1\",\"name\":\"Ana\",\"since\":1700000000000}],\"total\":1}" },
    { S, TV_MSG_LOBBY, "{\"type\":\"lobby\",\"patients\":[],\"total\":0}" },
};

static void every_type_parses_in_its_direction(void **s)
{
    (void)s;
    int seen[TV_MSG_TYPE_COUNT][2] = { { 0 } };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        tv_msg m;
        int rc = tv_msg_parse(valid[i].json, strlen(valid[i].json), valid[i].o, &m);
        if (rc != 0)
            fail_msg("example %zu: %s (%s)", i, tv_err_name(rc), m.err_field);
        assert_int_equal(m.type, valid[i].t);
        seen[m.type][valid[i].o] = 1;
        /* It round-trips: serialize, parse again, same type. */
        char out[TV_MSG_MAX_BYTES + 1];
        size_t n;
        assert_int_equal(tv_msg_serialize(&m, out, sizeof out, &n), 0);
        tv_msg m2;
        assert_int_equal(tv_msg_parse(out, n, valid[i].o, &m2), 0);
        assert_int_equal(m2.type, m.type);
        tv_msg_free(&m2);
        /* And it is refused in the other direction: no form is valid both ways (relayed forms
         * differ by `to`/`id` against `from`). */
        tv_msg_origin other = valid[i].o == C ? S : C;
        rc = tv_msg_parse(valid[i].json, strlen(valid[i].json), other, &m2);
        if (rc == 0)
            fail_msg("example %zu also parses in the other direction", i);
        assert_true(rc == TV_ERR_MSG_DIRECTION || rc == TV_ERR_MSG_UNKNOWN_FIELD ||
                    rc == TV_ERR_MSG_MISSING_FIELD);
        tv_msg_free(&m);
        assert_null(m.json);
    }
    for (int t = 0; t < TV_MSG_TYPE_COUNT; t++)
        if (!seen[t][0] && !seen[t][1])
            fail_msg("no example of %s", tv_msg_type_name((tv_msg_type)t));
}

static const struct { tv_msg_origin o; const char *json; int err; const char *field; } invalid[] = {
    { C, "", TV_ERR_MSG_JSON, "" },
    { C, "{", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"leave\",}", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"leave\"} x", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"leave\"}{\"type\":\"leave\"}", TV_ERR_MSG_JSON, "" },
    { C, "[]", TV_ERR_MSG_NOT_OBJECT, "" },
    { C, "42", TV_ERR_MSG_NOT_OBJECT, "" },
    { C, "\"leave\"", TV_ERR_MSG_NOT_OBJECT, "" },
    { C, "{}", TV_ERR_MSG_MISSING_FIELD, "type" },
    { C, "{\"type\":5}", TV_ERR_MSG_FIELD_TYPE, "type" },
    { C, "{\"type\":\"nope\"}", TV_ERR_MSG_UNKNOWN_TYPE, "type" },
    { C, "{\"type\":\"LEAVE\"}", TV_ERR_MSG_UNKNOWN_TYPE, "type" },
    { C, "{\"type\":\"joined\"}", TV_ERR_MSG_DIRECTION, "type" },
    { S, "{\"type\":\"admit\",\"participant\":\"p1\"}", TV_ERR_MSG_DIRECTION, "type" },
    { C, "{\"type\":\"admit\"}", TV_ERR_MSG_MISSING_FIELD, "participant" },
    { C, "{\"type\":\"watch\",\"visit\":\"v1\"}", TV_ERR_MSG_UNKNOWN_FIELD, "visit" },
    { S, "{\"type\":\"watch\"}", TV_ERR_MSG_DIRECTION, "type" },
    { S, "{\"type\":\"lobby\",\"patients\":[]}", TV_ERR_MSG_MISSING_FIELD, "total" },
    { S, "{\"type\":\"lobby\",\"patients\":[{\"id\":\"p1\",\"name\":\"Ana\",\"since\":1}],\"total\":1}", TV_ERR_MSG_MISSING_FIELD, "visit" },
    { S, "{\"type\":\"lobby\",\"patients\":[],\"total\":-1}", TV_ERR_MSG_FIELD_VALUE, "total" },
    { C, "{\"type\":\"admit\",\"participant\":5}", TV_ERR_MSG_FIELD_TYPE, "participant" },
    { C, "{\"type\":\"admit\",\"participant\":\"p 1\"}", TV_ERR_MSG_FIELD_VALUE, "participant" },
    { C, "{\"type\":\"admit\",\"participant\":\"\"}", TV_ERR_MSG_FIELD_VALUE, "participant" },
    { C, "{\"type\":\"admit\",\"participant\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", TV_ERR_MSG_FIELD_LENGTH, "participant" },
    { C, "{\"type\":\"admit\",\"participant\":\"p1\",\"visit\":\"v1\"}", TV_ERR_MSG_UNKNOWN_FIELD, "visit" },
    { C, "{\"type\":\"admit\",\"Participant\":\"p1\"}", TV_ERR_MSG_UNKNOWN_FIELD, "Participant" },
    { C, "{\"type\":\"admit\",\"participant\":\"p1\",\"participant\":\"p2\"}", TV_ERR_MSG_DUPLICATE_FIELD, "participant" },
    { C, "{\"type\":\"leave\",\"type\":\"end\"}", TV_ERR_MSG_DUPLICATE_FIELD, "type" },
    { C, "{\"type\":\"chat\",\"cid\":\"m\",\"text\":\"a\xff\"}", TV_ERR_UTF8, "" },
    { C, "{\"type\":\"chat\",\"cid\":\"m\",\"text\":\"a\\u0000b\"}", TV_ERR_MSG_FIELD_VALUE, "" },
    { C, "{\"type\":\"chat\",\"cid\":\"m\",\"text\":\"bell\\u0007\"}", TV_ERR_MSG_FIELD_VALUE, "text" },
    { C, "{\"type\":\"chat\",\"cid\":\"m\",\"text\":\"\"}", TV_ERR_MSG_FIELD_VALUE, "text" },
    { C, "{\"type\":\"chat\",\"cid\":\"m\",\"text\":\"\\ud800\"}", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"join\",\"role\":\"patient\",\"invite\":\"" TOK "\"}", TV_ERR_MSG_FIELD_VALUE, "" },
    { C, "{\"type\":\"join\",\"role\":\"patient\",\"invite\":\"" TOK "\",\"name\":\"A\",\"visit\":\"v1\"}", TV_ERR_MSG_FIELD_VALUE, "" },
    { C, "{\"type\":\"join\",\"role\":\"clinician\",\"visit\":\"v1\",\"invite\":\"" TOK "\"}", TV_ERR_MSG_FIELD_VALUE, "" },
    { C, "{\"type\":\"join\",\"role\":\"admin\",\"visit\":\"v1\"}", TV_ERR_MSG_FIELD_VALUE, "role" },
    { C, "{\"type\":\"join\",\"role\":\"patient\",\"invite\":\"abc\",\"name\":\"A\"}", TV_ERR_MSG_FIELD_VALUE, "invite" },
    { C, "{\"type\":\"join\",\"role\":\"patient\",\"invite\":\"" TOK "\",\"name\":\"tab\\there\"}", TV_ERR_MSG_FIELD_VALUE, "name" },
    { C, "{\"type\":\"join\",\"role\":\"patient\",\"invite\":\"" TOK "\",\"name\":\"A\",\"lang\":\"de\"}", TV_ERR_MSG_FIELD_VALUE, "lang" },
    { C, "{\"type\":\"e2ee_key\",\"pub\":\"" TOK "A\",\"epoch\":1}", TV_ERR_MSG_FIELD_LENGTH, "pub" },
    { C, "{\"type\":\"e2ee_key\",\"pub\":\"" TOK "\",\"epoch\":-1}", TV_ERR_MSG_FIELD_VALUE, "epoch" },
    { C, "{\"type\":\"e2ee_key\",\"pub\":\"" TOK "\",\"epoch\":1.5}", TV_ERR_MSG_FIELD_VALUE, "epoch" },
    { C, "{\"type\":\"e2ee_key\",\"pub\":\"" TOK "\",\"epoch\":1e300}", TV_ERR_MSG_FIELD_VALUE, "epoch" },
    { C, "{\"type\":\"e2ee_key\",\"pub\":\"" TOK "\",\"epoch\":\"1\"}", TV_ERR_MSG_FIELD_TYPE, "epoch" },
    { C, "{\"type\":\"e2ee_key\",\"pub\":\"" TOK "\",\"epoch\":null}", TV_ERR_MSG_FIELD_TYPE, "epoch" },
    { C, "{\"type\":\"ice\",\"candidate\":\"candidate:1\"}", TV_ERR_MSG_FIELD_TYPE, "candidate" },
    { C, "{\"type\":\"ice\",\"candidate\":{}}", TV_ERR_MSG_MISSING_FIELD, "candidate" },
    { C, "{\"type\":\"ice\",\"candidate\":{\"candidate\":\"\",\"sdpMLineIndex\":65}}", TV_ERR_MSG_FIELD_VALUE, "sdpMLineIndex" },
    { C, "{\"type\":\"ice\",\"candidate\":{\"candidate\":\"\",\"extra\":1}}", TV_ERR_MSG_UNKNOWN_FIELD, "extra" },
    { C, "{\"type\":\"ice\"}", TV_ERR_MSG_MISSING_FIELD, "candidate" },
    { C, "{\"type\":\"media_state\",\"audio\":\"true\",\"video\":true,\"screen\":false}", TV_ERR_MSG_FIELD_TYPE, "audio" },
    { C, "{\"type\":\"media_state\",\"audio\":1,\"video\":true,\"screen\":false}", TV_ERR_MSG_FIELD_TYPE, "audio" },
    { C, "{\"type\":\"offer\",\"sdp\":\"v=0\\t\"}", TV_ERR_MSG_FIELD_VALUE, "sdp" },
    { C, "{\"type\":\"ping\",\"ts\":-5}", TV_ERR_MSG_FIELD_VALUE, "ts" },
    { C, "{\"type\":\"ping\",\"ts\":9007199254740992}", TV_ERR_MSG_FIELD_VALUE, "ts" },
    { C, "{\"type\":\"leave\",\"id\":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}", TV_ERR_MSG_FIELD_TYPE, "id" },
    { C, "{\"type\":\"ice_path\",\"local\":\"relay\",\"remote\":\"mdns\",\"protocol\":\"udp\"}", TV_ERR_MSG_FIELD_VALUE, "remote" },
    { C, "{\"type\":\"sas_result\",\"match\":null}", TV_ERR_MSG_FIELD_TYPE, "match" },
    { S, "{\"type\":\"joined\",\"visit\":\"v1\",\"you\":\"p1\",\"role\":\"patient\",\"state\":\"waiting\",\"resume\":\"" TOK "\","
         "\"ice_servers\":[{\"urls\":[]}]}", TV_ERR_MSG_FIELD_VALUE, "urls" },
    { S, "{\"type\":\"joined\",\"visit\":\"v1\",\"you\":\"p1\",\"role\":\"patient\",\"state\":\"waiting\",\"resume\":\"" TOK "\","
         "\"ice_servers\":[{\"urls\":[\"turn:x\"],\"credential\":7}]}", TV_ERR_MSG_FIELD_TYPE, "credential" },
    { S, "{\"type\":\"ended\",\"reason\":\"bored\"}", TV_ERR_MSG_FIELD_VALUE, "reason" },
    { S, "{\"type\":\"error\",\"code\":\"Bad-Code\",\"message\":\"x\"}", TV_ERR_MSG_FIELD_VALUE, "code" },
    { S, "{\"type\":\"chat\",\"cid\":\"m1\",\"text\":\"hi\",\"ts\":1}", TV_ERR_MSG_MISSING_FIELD, "from" },
    /* What cJSON would take but JSON.parse refuses (or reads differently): refused before cJSON. */
    { C, "{\"type\":\"chat\",\"cid\":\"m\",\"text\":\"hi\\uZZZZ and then anything\"}", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"chat\",\"cid\":\"m\",\"text\":\"hi\\u12G4\"}", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"chat\",\"cid\\uZZZZjunk\":\"m\",\"text\":\"x\"}", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"chat\",\"cid\":\"m\",\"text\":\"a\\u00\"}", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"chat\",\"cid\":\"m\",\"text\":\"a\\x41\"}", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"chat\",\"cid\":\"m\",\"text\":\"raw\ttab\"}", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"offer\",\"sdp\":\"v=0\r\n\"}", TV_ERR_MSG_JSON, "" },
    { C, "\xef\xbb\xbf{\"type\":\"leave\"}", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"leave\"\x0b}", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"ping\",\"ts\":01}", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"ping\",\"ts\":1.}", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"ping\",\"ts\":-}", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"ping\",\"ts\":1e}", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"ping\",\"ts\":+1}", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"sas_result\",\"match\":True}", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"leave\"", TV_ERR_MSG_JSON, "" },
    { C, "{\"type\":\"leave", TV_ERR_MSG_JSON, "" },
    /* Invisible or control code points in displayed text: C1 controls, bidi overrides, separators. */
    { C, "{\"type\":\"join\",\"role\":\"patient\",\"invite\":\"" TOK "\",\"name\":\"\\u0085Dr\"}", TV_ERR_MSG_FIELD_VALUE, "name" },
    { C, "{\"type\":\"join\",\"role\":\"patient\",\"invite\":\"" TOK "\",\"name\":\"Dr \\u202eniaM\"}", TV_ERR_MSG_FIELD_VALUE, "name" },
    { C, "{\"type\":\"join\",\"role\":\"patient\",\"invite\":\"" TOK "\",\"name\":\"A\xe2\x81\xa6" "B\"}", TV_ERR_MSG_FIELD_VALUE, "name" },
    { C, "{\"type\":\"chat\",\"cid\":\"m\",\"text\":\"a\\u2028b\"}", TV_ERR_MSG_FIELD_VALUE, "text" },
    { C, "{\"type\":\"chat\",\"cid\":\"m\",\"text\":\"a\\u007fb\"}", TV_ERR_MSG_FIELD_VALUE, "text" },
};

static void malformed_messages_get_specific_errors(void **s)
{
    (void)s;
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        tv_msg m;
        int rc = tv_msg_parse(invalid[i].json, strlen(invalid[i].json), invalid[i].o, &m);
        if (rc != invalid[i].err || (invalid[i].field[0] && strcmp(m.err_field, invalid[i].field) != 0))
            fail_msg("case %zu %s: got %s (%s), want %s (%s)", i, invalid[i].json, tv_err_name(rc),
                     m.err_field, tv_err_name(invalid[i].err), invalid[i].field);
        assert_null(m.json);
    }
}

static void size_limits(void **s)
{
    (void)s;
    /* A browser's frame over 64 KiB less the relay's room is refused before parsing, whatever it
     * holds; at the limit it is fine (trailing whitespace is allowed). The server's limit is 64 KiB. */
    size_t big = TV_MSG_MAX_BYTES + 1;
    char *buf = malloc(big + 1);
    assert_non_null(buf);
    memset(buf, ' ', big);
    memcpy(buf, "{\"type\":\"leave\"}", 16);
    tv_msg m;
    assert_int_equal(tv_msg_parse(buf, TV_MSG_CLIENT_MAX_BYTES + 1, C, &m), TV_ERR_MSG_TOO_LARGE);
    assert_int_equal(tv_msg_parse(buf, TV_MSG_CLIENT_MAX_BYTES, C, &m), 0);
    tv_msg_free(&m);
    memcpy(buf, "{\"type\":\"pong\"}", 15);
    buf[15] = ' ';
    assert_int_equal(tv_msg_parse(buf, big, S, &m), TV_ERR_MSG_TOO_LARGE);
    assert_int_equal(tv_msg_parse(buf, TV_MSG_MAX_BYTES, S, &m), 0);
    tv_msg_free(&m);
    /* The largest offer a browser may send is still forwardable once the server adds `from`. */
    int k = snprintf(buf, big, "{\"type\":\"offer\",\"to\":\"%s\",\"id\":\"x\",\"sdp\":\"", "p1");
    for (int i = 0; i < 32768 / 2; i++) {
        buf[k++] = i % 2 ? 'a' : '=';
        buf[k++] = 'v';
    }
    k += snprintf(buf + k, big - (size_t)k, "\"}");
    assert_int_equal(tv_msg_parse(buf, (size_t)k, C, &m), 0);
    assert_int_equal(tv_msg_relay(&m, "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", 64, 0), 0);
    char *fwd = malloc(TV_MSG_MAX_BYTES + 1);
    size_t fl;
    assert_non_null(fwd);
    assert_int_equal(tv_msg_serialize(&m, fwd, TV_MSG_MAX_BYTES + 1, &fl), 0);
    free(fwd);
    tv_msg_free(&m);
    /* A chat text of 4000 bytes passes, 4001 is too long. */
    char *chat = buf;
    int n = snprintf(chat, big, "{\"type\":\"chat\",\"cid\":\"m\",\"text\":\"");
    memset(chat + n, 'x', 4000);
    strcpy(chat + n + 4000, "\"}");
    assert_int_equal(tv_msg_parse(chat, strlen(chat), C, &m), 0);
    tv_msg_free(&m);
    memset(chat + n, 'x', 4001);
    strcpy(chat + n + 4001, "\"}");
    assert_int_equal(tv_msg_parse(chat, strlen(chat), C, &m), TV_ERR_MSG_FIELD_LENGTH);
    /* 51 patients in the waiting room is one too many. */
    n = snprintf(buf, big, "{\"type\":\"waiting_room\",\"patients\":[");
    for (int i = 0; i < 51; i++)
        n += snprintf(buf + n, big - (size_t)n, "%s{\"id\":\"p%d\",\"name\":\"N\",\"since\":1}", i ? "," : "", i);
    snprintf(buf + n, big - (size_t)n, "]}");
    assert_int_equal(tv_msg_parse(buf, strlen(buf), S, &m), TV_ERR_MSG_FIELD_LENGTH);
    /* The lobby lists at most 100 patients (its total counts the rest). */
    n = snprintf(buf, big, "{\"type\":\"lobby\",\"patients\":[");
    for (int i = 0; i < 101; i++)
        n += snprintf(buf + n, big - (size_t)n, "%s{\"visit\":\"v\",\"id\":\"p%d\",\"name\":\"N\",\"since\":1}", i ? "," : "", i);
    snprintf(buf + n, big - (size_t)n, "],\"total\":101}");
    assert_int_equal(tv_msg_parse(buf, strlen(buf), S, &m), TV_ERR_MSG_FIELD_LENGTH);
    /* Thousands of unknown members cost one pass and are refused at the first. */
    n = snprintf(buf, big, "{\"type\":\"leave\"");
    while ((size_t)n < TV_MSG_CLIENT_MAX_BYTES - 16)
        n += snprintf(buf + n, big - (size_t)n, ",\"a\":1");
    snprintf(buf + n, big - (size_t)n, "}");
    assert_int_equal(tv_msg_parse(buf, strlen(buf), C, &m), TV_ERR_MSG_UNKNOWN_FIELD);
    free(buf);
}

static void reading_members(void **s)
{
    (void)s;
    tv_msg m;
    const char *j = "{\"type\":\"e2ee_key\",\"to\":\"c1\",\"pub\":\"" TOK "\",\"epoch\":7}";
    assert_int_equal(tv_msg_parse(j, strlen(j), C, &m), 0);
    size_t len;
    assert_string_equal(tv_msg_get_str(&m, "to", &len), "c1");
    assert_int_equal(len, 2);
    int64_t v;
    assert_int_equal(tv_msg_get_int(&m, "epoch", &v), 0);
    assert_int_equal(v, 7);
    int b;
    assert_int_equal(tv_msg_get_bool(&m, "epoch", &b), TV_ERR_MSG_FIELD_TYPE);
    assert_int_equal(tv_msg_get_int(&m, "id", &v), TV_ERR_MSG_MISSING_FIELD);
    assert_null(tv_msg_get_str(&m, "epoch", NULL));
    assert_null(tv_msg_get_str(&m, "missing", NULL));
    tv_msg_free(&m);
    tv_msg_free(&m);   /* twice is harmless */
}

static void building_validates(void **s)
{
    (void)s;
    tv_msg m;
    char out[1024];
    size_t n;
    assert_int_equal(tv_msg_init(&m, TV_MSG_ADMIT, S), TV_ERR_MSG_DIRECTION);
    assert_int_equal(tv_msg_init(&m, TV_MSG_TYPE_COUNT, S), TV_ERR_INVALID);

    assert_int_equal(tv_msg_init(&m, TV_MSG_JOINED, S), 0);
    assert_int_equal(tv_msg_set_str(&m, "visit", "v1", 2), 0);
    assert_int_equal(tv_msg_set_str(&m, "you", "p1", 2), 0);
    assert_int_equal(tv_msg_set_str(&m, "role", "patient", 7), 0);
    assert_int_equal(tv_msg_set_str(&m, "state", "waiting", 7), 0);
    /* Not ready: resume and ice_servers are missing. */
    assert_int_equal(tv_msg_serialize(&m, out, sizeof out, &n), TV_ERR_MSG_MISSING_FIELD);
    assert_string_equal(m.err_field, "resume");
    assert_int_equal(tv_msg_set_str(&m, "resume", TOK, 43), 0);
    cJSON *servers = cJSON_CreateArray();
    cJSON *srv = cJSON_CreateObject();
    cJSON *urls = cJSON_AddArrayToObject(srv, "urls");
    cJSON_AddItemToArray(urls, cJSON_CreateString("turn:127.0.0.1:3478"));
    cJSON_AddStringToObject(srv, "username", "1700000000:p1");
    cJSON_AddStringToObject(srv, "credential", "c2VjcmV0");
    cJSON_AddItemToArray(servers, srv);
    assert_int_equal(tv_msg_set_json(&m, "ice_servers", servers), 0);
    assert_int_equal(tv_msg_serialize(&m, out, sizeof out, &n), 0);
    assert_int_equal(n, strlen(out));
    assert_non_null(strstr(out, "\"type\":\"joined\""));
    /* A member replaced keeps one copy. */
    assert_int_equal(tv_msg_set_str(&m, "state", "admitted", 8), 0);
    assert_int_equal(tv_msg_serialize(&m, out, sizeof out, &n), 0);
    assert_null(strstr(out, "waiting"));
    /* Wrong values are caught at serialization, not sent. */
    assert_int_equal(tv_msg_set_str(&m, "state", "sleeping", 8), 0);
    assert_int_equal(tv_msg_serialize(&m, out, sizeof out, &n), TV_ERR_MSG_FIELD_VALUE);
    assert_int_equal(tv_msg_set_str(&m, "state", "waiting", 7), 0);
    assert_int_equal(tv_msg_set_int(&m, "bogus", 1), 0);
    assert_int_equal(tv_msg_serialize(&m, out, sizeof out, &n), TV_ERR_MSG_UNKNOWN_FIELD);
    /* type cannot be overwritten, and a small buffer is reported. */
    assert_int_equal(tv_msg_set_str(&m, "type", "admit", 5), TV_ERR_INVALID);
    tv_msg_free(&m);

    assert_int_equal(tv_msg_init(&m, TV_MSG_PONG, S), 0);
    assert_int_equal(tv_msg_serialize(&m, out, 8, &n), TV_ERR_NOSPACE);
    assert_int_equal(tv_msg_serialize(&m, out, sizeof out, &n), 0);
    assert_string_equal(out, "{\"type\":\"pong\"}");
    assert_int_equal(tv_msg_set_str(&m, "ts", "x\0y", 3), TV_ERR_INVALID);
    tv_msg_free(&m);
}

static void relay_turns_client_form_into_server_form(void **s)
{
    (void)s;
    tv_msg m;
    char out[1024];
    size_t n;
    const char *j = "{\"type\":\"chat\",\"id\":\"r9\",\"cid\":\"m1\",\"text\":\"hello\"}";
    assert_int_equal(tv_msg_parse(j, strlen(j), C, &m), 0);
    assert_int_equal(tv_msg_relay(&m, "p1", 2, 1700000000123LL), 0);
    assert_int_equal(tv_msg_serialize(&m, out, sizeof out, &n), 0);
    tv_msg back;
    assert_int_equal(tv_msg_parse(out, n, S, &back), 0);
    assert_string_equal(tv_msg_get_str(&back, "from", NULL), "p1");
    assert_null(tv_msg_get(&back, "id"));
    int64_t ts;
    assert_int_equal(tv_msg_get_int(&back, "ts", &ts), 0);
    assert_int_equal(ts, 1700000000123LL);
    tv_msg_free(&back);
    tv_msg_free(&m);

    j = "{\"type\":\"offer\",\"to\":\"p1\",\"sdp\":\"v=0\\r\\n\"}";
    assert_int_equal(tv_msg_parse(j, strlen(j), C, &m), 0);
    assert_int_equal(tv_msg_relay(&m, "c1", 2, 0), 0);
    assert_int_equal(tv_msg_serialize(&m, out, sizeof out, &n), 0);
    assert_null(strstr(out, "\"to\""));
    assert_non_null(strstr(out, "\"from\":\"c1\""));
    tv_msg_free(&m);

    /* Only relayed types can be relayed, and only with a valid sender id. */
    j = "{\"type\":\"admit\",\"participant\":\"p1\"}";
    assert_int_equal(tv_msg_parse(j, strlen(j), C, &m), 0);
    assert_int_equal(tv_msg_relay(&m, "c1", 2, 0), TV_ERR_MSG_DIRECTION);
    tv_msg_free(&m);
    j = "{\"type\":\"answer\",\"sdp\":\"v=0\"}";
    assert_int_equal(tv_msg_parse(j, strlen(j), C, &m), 0);
    assert_int_equal(tv_msg_relay(&m, "bad id", 6, 0), TV_ERR_MSG_FIELD_VALUE);
    tv_msg_free(&m);
}

static void type_names(void **s)
{
    (void)s;
    for (int t = 0; t < TV_MSG_TYPE_COUNT; t++) {
        const char *name = tv_msg_type_name((tv_msg_type)t);
        tv_msg_type back;
        assert_non_null(name);
        assert_int_equal(tv_msg_type_from_name(name, strlen(name), &back), 0);
        assert_int_equal(back, t);
    }
    assert_null(tv_msg_type_name(TV_MSG_TYPE_COUNT));
    /* exactly the types docs/protocol.md lists as relayed */
    int relayed = 0;
    for (int t = 0; t < TV_MSG_TYPE_COUNT; t++)
        relayed += tv_msg_relayed((tv_msg_type)t);
    assert_int_equal(relayed, 7);   /* offer, answer, ice, e2ee_commit, e2ee_key, media_state, chat */
    assert_true(tv_msg_relayed(TV_MSG_E2EE_COMMIT) && tv_msg_relayed(TV_MSG_CHAT) && tv_msg_relayed(TV_MSG_OFFER));
    assert_false(tv_msg_relayed(TV_MSG_ADMIT) || tv_msg_relayed(TV_MSG_ENDED) || tv_msg_relayed(TV_MSG_TYPE_COUNT));
    tv_msg_type t;
    assert_int_equal(tv_msg_type_from_name("joi", 3, &t), TV_ERR_MSG_UNKNOWN_TYPE);
}

/* Serializing skips the schema check for an unchanged parsed message, never for a changed one. */
static void a_changed_message_is_checked_again(void **state)
{
    (void)state;
    char out[256];
    tv_msg m;
    const char *ping = "{\"type\":\"ping\",\"ts\":5}";
    assert_int_equal(tv_msg_parse(ping, strlen(ping), TV_MSG_FROM_CLIENT, &m), 0);
    assert_int_equal(tv_msg_serialize(&m, out, sizeof out, NULL), 0);
    assert_int_equal(tv_msg_set_str(&m, "ts", "soon", 4), 0);   /* ts must be a number */
    assert_int_equal(tv_msg_serialize(&m, out, sizeof out, NULL), TV_ERR_MSG_FIELD_TYPE);
    tv_msg_free(&m);
    const char *offer = "{\"type\":\"offer\",\"to\":\"p1\",\"sdp\":\"v=0\"}";
    assert_int_equal(tv_msg_parse(offer, strlen(offer), TV_MSG_FROM_CLIENT, &m), 0);
    assert_int_equal(tv_msg_relay(&m, "bad id!", 7, 0), TV_ERR_MSG_FIELD_VALUE);   /* relay checks its result */
    assert_int_not_equal(tv_msg_serialize(&m, out, sizeof out, NULL), 0);
    tv_msg_free(&m);
}

/* Every error the server can send must fit the protocol's code class (bad_utf8 once did not). */
static void every_error_code_is_sendable(void **state)
{
    (void)state;
    static const int codes[] = {
#define TV_ERR_VALUE_(name, value, str) value,
        TV_ERR_LIST(TV_ERR_VALUE_)
#undef TV_ERR_VALUE_
    };
    char out[512];
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        tv_msg m;
        const char *code = tv_err_name(codes[i]);
        assert_int_equal(tv_msg_init(&m, TV_MSG_ERROR, TV_MSG_FROM_SERVER), 0);
        assert_int_equal(tv_msg_set_str(&m, "code", code, strlen(code)), 0);
        assert_int_equal(tv_msg_set_str(&m, "message", "x", 1), 0);
        if (tv_msg_serialize(&m, out, sizeof out, NULL) != 0)
            fail_msg("error code %s does not fit the code class", code);
        tv_msg_free(&m);
    }
}

/* tv_json's field language on its own, as the API's bodies use it: a class ANY string is the
 * reader's to check, a NAME refuses bidi controls, and exactly one of the ONE_OF members must come. */
static void json_field_schema(void **state)
{
    (void)state;
    static const tv_json_field f[] = {
        TV_JSON_F_STR("pw", 0, TV_JSON_ANY, 0, 8), TV_JSON_F_STR("label", 0, TV_JSON_NAME, 0, 16),
        TV_JSON_F_STR("a", TV_JSON_ONE_OF, TV_JSON_ANY, 0, 8), TV_JSON_F_STR("b", TV_JSON_ONE_OF, TV_JSON_ANY, 0, 8), TV_JSON_F_END
    };
    static const struct { const char *json; int rc; const char *where; } cases[] = {
        { "{\"a\":\"x\"}", 0, NULL },
        { "{\"pw\":\"\\u0001\\u202e\",\"b\":\"\"}", 0, NULL },   /* ANY: what the route checks itself */
        { "{\"label\":\"Dr \\u202e\",\"a\":\"x\"}", TV_ERR_MSG_FIELD_VALUE, "label" },
        { "{\"label\":\"x\\ny\",\"a\":\"x\"}", TV_ERR_MSG_FIELD_VALUE, "label" },
        { "{\"pw\":\"123456789\",\"a\":\"x\"}", TV_ERR_MSG_FIELD_LENGTH, "pw" },
        { "{}", TV_ERR_MSG_MISSING_FIELD, "a" },
        { "{\"a\":\"x\",\"b\":\"y\"}", TV_ERR_MSG_MISSING_FIELD, "a" },
        { "{\"a\":\"x\",\"a\":\"y\"}", TV_ERR_MSG_DUPLICATE_FIELD, "a" },
        { "{\"c\":1}", TV_ERR_MSG_UNKNOWN_FIELD, "c" },
        { "{\"a\":1}", TV_ERR_MSG_FIELD_TYPE, "a" },
        { "[]", TV_ERR_MSG_NOT_OBJECT, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *o = NULL;
        assert_int_equal(tv_json_parse_strict(cases[i].json, strlen(cases[i].json), &o), 0);
        const char *where = "unset";
        int rc = tv_json_check(o, f, NULL, &where);
        if (rc != cases[i].rc || (cases[i].where == NULL) != (where == NULL) || (where && strcmp(where, cases[i].where) != 0))
            fail_msg("case %zu: %d at %s", i, rc, where ? where : "(none)");
        tv_json_free_wiped(o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_type_parses_in_its_direction),
        cmocka_unit_test(every_error_code_is_sendable),
        cmocka_unit_test(a_changed_message_is_checked_again),
        cmocka_unit_test(malformed_messages_get_specific_errors),
        cmocka_unit_test(size_limits),
        cmocka_unit_test(reading_members),
        cmocka_unit_test(building_validates),
        cmocka_unit_test(relay_turns_client_form_into_server_form),
        cmocka_unit_test(type_names),
        cmocka_unit_test(json_field_schema),
    };
    return TV_RUN(tests);
}
