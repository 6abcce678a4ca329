/* TURN REST credentials (coturn's use-auth-secret): username "<expiry>:<label>", password
 * base64(HMAC-SHA1(secret, username)). The expected passwords below were computed outside this code,
 * with `printf '%s' USERNAME | openssl dgst -sha1 -hmac SECRET -binary | base64` (and checked with
 * Python's hmac module), so an error in our HMAC or base64 cannot hide behind itself. */
#include "tv_server_test.h"

#include <cjson/cJSON.h>
#include "tv_turn.h"

static const char *SECRET = "test-turn-secret";
/* username "1800000600:visitid-p1" */
static const char *VEC_SECRET = "oW60ogynut7vGbjCsGvLSGLIGoQ=";
static const char *VEC_OTHER_SECRET = "nfcpCo3GRxPEN/lNmIcEsokeEl8=";   /* the same username, secret "other-secret" */
/* username "1800000000:x" */
static const char *VEC_SHORT = "1BBDrBJX34kmqxpSDSaIOXQ4OKA=";

static void credential_matches_independent_hmac(void **state)
{
    (void)state;
    char user[TV_TURN_USERNAME_MAX], cred[TV_TURN_CREDENTIAL_MAX];
    assert_int_equal(tv_turn_credential(SECRET, strlen(SECRET), 1800000600, "visitid-p1", user, sizeof user, cred, sizeof cred), 0);
    assert_string_equal(user, "1800000600:visitid-p1");
    assert_string_equal(cred, VEC_SECRET);
    assert_int_equal(tv_turn_credential(SECRET, strlen(SECRET), 1800000000, "x", user, sizeof user, cred, sizeof cred), 0);
    assert_string_equal(user, "1800000000:x");
    assert_string_equal(cred, VEC_SHORT);
    /* another secret: another password for the same username, so a credential from one deployment
     * (or from before a secret rotation) does not open another */
    assert_int_equal(tv_turn_credential("other-secret", 12, 1800000600, "visitid-p1", user, sizeof user, cred, sizeof cred), 0);
    assert_string_equal(cred, VEC_OTHER_SECRET);
    /* the length given is the secret: a longer secret with the same prefix is another secret */
    assert_int_equal(tv_turn_credential("test-turn-secretX", 17, 1800000600, "visitid-p1", user, sizeof user, cred, sizeof cred), 0);
    assert_string_not_equal(cred, VEC_SECRET);
    assert_int_equal(tv_turn_credential("test-turn-secretX", 16, 1800000600, "visitid-p1", user, sizeof user, cred, sizeof cred), 0);
    assert_string_equal(cred, VEC_SECRET);
}

static void credential_refusals(void **state)
{
    (void)state;
    char user[TV_TURN_USERNAME_MAX], cred[TV_TURN_CREDENTIAL_MAX];
    /* a ':' in the label would let a holder present another expiry field to coturn */
    assert_int_equal(tv_turn_credential(SECRET, strlen(SECRET), 1800000600, "a:9999999999", user, sizeof user, cred, sizeof cred),
                     TV_ERR_INVALID);
    /* a username that does not fit is refused, not cut (a cut one would not match what coturn hashes) */
    char label[TV_TURN_USERNAME_MAX];
    memset(label, 'l', sizeof label - 1);
    label[sizeof label - 1] = '\0';
    assert_int_equal(tv_turn_credential(SECRET, strlen(SECRET), 1800000600, label, user, sizeof user, cred, sizeof cred),
                     TV_ERR_INVALID);
    /* base64 of 20 bytes needs 29 bytes with its NUL */
    assert_int_equal(tv_turn_credential(SECRET, strlen(SECRET), 1800000600, "x", user, sizeof user, cred, 28), TV_ERR_NOSPACE);
    assert_int_equal(tv_turn_credential(SECRET, strlen(SECRET), 1800000600, "x", user, sizeof user, cred, 29), 0);
    assert_int_equal(strlen(cred), 28);
}

static int count_urls(cJSON *entry) { return cJSON_GetArraySize(cJSON_GetObjectItem(entry, "urls")); }

static void ice_servers(void **state)
{
    (void)state;
    const int64_t now = 1800000000;
    cJSON *list = tv_turn_ice_servers("stun:stun.example.org:3478  turn:t.example.org:3478?transport=udp "
                                      "turns:t.example.org:5349?transport=tcp http://not-ice.example.org",
                                      SECRET, 600, now, "visitid-p1");
    assert_non_null(list);
    assert_int_equal(cJSON_GetArraySize(list), 2);
    cJSON *stun = cJSON_GetArrayItem(list, 0), *turn = cJSON_GetArrayItem(list, 1);
    assert_int_equal(count_urls(stun), 1);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(stun, "urls"), 0)->valuestring, "stun:stun.example.org:3478");
    assert_null(cJSON_GetObjectItem(stun, "credential"));   /* STUN needs none: the secret's HMAC goes only where it is used */
    assert_int_equal(count_urls(turn), 2);
    /* the expiry is now + ttl, and the password the independent vector for that username */
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(turn, "username")), "1800000600:visitid-p1");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(turn, "credential")), VEC_SECRET);
    cJSON_Delete(list);

    /* another ttl moves the expiry */
    list = tv_turn_ice_servers("turn:t.example.org", SECRET, 3600, now, "x");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "username")), "1800003600:x");
    cJSON_Delete(list);

    /* no secret configured: TURN servers are left out (a TURN server without a credential is
     * useless to a browser), STUN servers are still given */
    for (int k = 0; k < 2; k++) {
        list = tv_turn_ice_servers("stun:s.example.org turn:t.example.org turns:t.example.org", k ? "" : NULL, 600, now, "x");
        assert_int_equal(cJSON_GetArraySize(list), 1);
        assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "credential"));
        assert_int_equal(count_urls(cJSON_GetArrayItem(list, 0)), 1);
        char *text = cJSON_PrintUnformatted(list);
        assert_null(strstr(text, "turn"));
        free(text);
        cJSON_Delete(list);
    }
    /* a label the credential refuses: no TURN entry rather than one without a valid credential */
    list = tv_turn_ice_servers("turn:t.example.org", SECRET, 600, now, "a:b");
    assert_int_equal(cJSON_GetArraySize(list), 0);
    cJSON_Delete(list);
    /* no URLs: an empty list */
    list = tv_turn_ice_servers(NULL, SECRET, 600, now, "x");
    assert_int_equal(cJSON_GetArraySize(list), 0);
    cJSON_Delete(list);
}

/* Whatever order the setting gives, the browser gets STUN, then TURN over UDP, over TCP, over TLS
 * (issue 19: the order a hospital network is tried in), each transport keeping its configured order. */
static void ice_servers_ordered(void **state)
{
    (void)state;
    cJSON *list = tv_turn_ice_servers("turns:t.example.org:443?transport=tcp turn:t.example.org:3478?transport=tcp "
                                      "stun:s.example.org:3478 turn:b.example.org:3478 turn:t.example.org:3478?transport=udp",
                                      SECRET, 600, 1800000000, "x");
    assert_int_equal(cJSON_GetArraySize(list), 2);
    cJSON *stun = cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "urls"), *turn = cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "urls");
    assert_int_equal(cJSON_GetArraySize(stun), 1);
    static const char *const want[] = { "turn:b.example.org:3478", "turn:t.example.org:3478?transport=udp",
                                        "turn:t.example.org:3478?transport=tcp", "turns:t.example.org:443?transport=tcp" };
    assert_int_equal(cJSON_GetArraySize(turn), 4);
    for (int i = 0; i < 4; i++)
        assert_string_equal(cJSON_GetArrayItem(turn, i)->valuestring, want[i]);
    cJSON_Delete(list);
}

/* A long setting cannot make the list grow without end: at most 4 URLs an entry and 8 entries. */
static void ice_servers_bounded(void **state)
{
    (void)state;
    char urls[2048] = "";
    for (int i = 0; i < 40; i++) {
        char one[64];
        snprintf(one, sizeof one, "%s:h%d.example.org ", i % 2 ? "turn" : "stun", i);
        strcat(urls, one);
    }
    cJSON *list = tv_turn_ice_servers(urls, SECRET, 600, 1800000000, "x");
    assert_int_equal(cJSON_GetArraySize(list), 8);
    int total = 0;
    for (cJSON *e = list->child; e; e = e->next) {
        assert_int_equal(count_urls(e), 4);
        total += count_urls(e);
    }
    assert_int_equal(total, 32);   /* of the 40 given */
    cJSON_Delete(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(credential_matches_independent_hmac),
        cmocka_unit_test(credential_refusals),
        cmocka_unit_test(ice_servers),
        cmocka_unit_test(ice_servers_bounded),
        cmocka_unit_test(ice_servers_ordered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
