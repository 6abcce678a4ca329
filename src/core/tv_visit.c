#include "tv_visit.h"
#include "tv_err.h"

#include <string.h>

#define P (1u << TV_ROLE_PATIENT)
#define C (1u << TV_ROLE_CLINICIAN)
#define B (P | C)

#define A(x) TV_ACT_##x
/* Leaving for good: release everything, in the order the action bits are performed. */
#define TEARDOWN (A(CANCEL_TIMER) | A(STOP_MEDIA) | A(WIPE_KEYS) | A(CLOSE_SIGNALING) | A(RELEASE_DEVICES))
/* The peer is gone from the call but the visit goes on: drop this call's media and keys. */
#define DROP_CALL (A(CANCEL_TIMER) | A(STOP_MEDIA) | A(WIPE_KEYS))
/* The peer (re)joined: a new peer connection with new keys; the clinician makes the offer. */
#define NEW_CALL_P (DROP_CALL | A(START_MEDIA))
#define NEW_CALL_C (DROP_CALL | A(START_MEDIA) | A(SEND_OFFER))

#define S(x) TV_VS_##x
#define E(x) TV_EV_##x

/* Rows every state between joining and the end of the call shares. */
#define LEAVING(st) \
    { B, S(st), E(HANGUP), S(ENDED), A(SEND_LEAVE) | TEARDOWN }, \
    { C, S(st), E(END_VISIT), S(ENDED), A(SEND_END) | TEARDOWN }, \
    { B, S(st), E(ENDED), S(ENDED), TEARDOWN }, \
    { B, S(st), E(LINK_INVALID), S(EXPIRED), TEARDOWN }, \
    { B, S(st), E(FATAL), S(FAILED), TEARDOWN }

static const tv_visit_transition table[] = {
    /* Before joining: the patient checks camera and microphone, the clinician opens the visit. */
    { P, S(CHECKING_DEVICES), E(DEVICES_READY), S(JOINING), A(CONNECT_SIGNALING) | A(START_TIMER) },
    { P, S(CHECKING_DEVICES), E(HANGUP), S(ENDED), TEARDOWN },
    { P, S(CHECKING_DEVICES), E(FATAL), S(FAILED), TEARDOWN },
    { C, S(IDLE), E(OPEN), S(JOINING), A(CONNECT_SIGNALING) | A(START_TIMER) },
    { C, S(IDLE), E(HANGUP), S(ENDED), TEARDOWN },
    { C, S(IDLE), E(FATAL), S(FAILED), TEARDOWN },

    /* Joining: socket open, `join` sent, waiting for `joined` (or a refusal). */
    { B, S(JOINING), E(JOINED), S(WAITING), A(CANCEL_TIMER) },
    { P, S(JOINING), E(DENIED), S(DENIED), TEARDOWN },
    { B, S(JOINING), E(SIGNALING_LOST), S(JOINING), A(RECONNECT_SIGNALING) },
    { B, S(JOINING), E(TIMEOUT), S(FAILED), TEARDOWN },
    LEAVING(JOINING),

    /* Waiting: the patient in the waiting room; the clinician with no patient in the call. */
    { P, S(WAITING), E(ADMITTED), S(ADMITTED), 0 },
    { P, S(WAITING), E(DENIED), S(DENIED), TEARDOWN },
    { C, S(WAITING), E(ADMIT), S(WAITING), A(SEND_ADMIT) },
    { C, S(WAITING), E(DENY), S(WAITING), A(SEND_DENY) },
    { C, S(WAITING), E(PEER_JOINED), S(CONNECTING), A(START_MEDIA) | A(SEND_OFFER) },
    { B, S(WAITING), E(JOINED), S(WAITING), A(CANCEL_TIMER) },
    { B, S(WAITING), E(SIGNALING_LOST), S(WAITING), A(RECONNECT_SIGNALING) | A(START_TIMER) },
    { B, S(WAITING), E(TIMEOUT), S(FAILED), TEARDOWN },
    LEAVING(WAITING),

    /* Admitted: the patient is let in and waits for the clinician to be in the call. */
    { P, S(ADMITTED), E(PEER_JOINED), S(CONNECTING), A(START_MEDIA) },
    { P, S(ADMITTED), E(ADMITTED), S(ADMITTED), 0 },
    { P, S(ADMITTED), E(JOINED), S(ADMITTED), A(CANCEL_TIMER) },
    { P, S(ADMITTED), E(SIGNALING_LOST), S(ADMITTED), A(RECONNECT_SIGNALING) | A(START_TIMER) },
    { P, S(ADMITTED), E(TIMEOUT), S(FAILED), TEARDOWN },
    LEAVING(ADMITTED),

    /* Connecting: offer/answer, ICE and the E2EE key exchange under way. */
    { B, S(CONNECTING), E(MEDIA_CONNECTED), S(CONNECTED), A(CANCEL_TIMER) },
    { P, S(CONNECTING), E(MEDIA_LOST), S(RECONNECTING), A(START_TIMER) },
    { C, S(CONNECTING), E(MEDIA_LOST), S(RECONNECTING), A(ICE_RESTART) | A(START_TIMER) },
    { P, S(CONNECTING), E(PEER_LEFT), S(ADMITTED), DROP_CALL },
    { C, S(CONNECTING), E(PEER_LEFT), S(WAITING), DROP_CALL },
    { P, S(CONNECTING), E(PEER_JOINED), S(CONNECTING), NEW_CALL_P },
    { C, S(CONNECTING), E(PEER_JOINED), S(CONNECTING), NEW_CALL_C },
    { P, S(CONNECTING), E(ADMITTED), S(CONNECTING), 0 },
    { B, S(CONNECTING), E(JOINED), S(CONNECTING), A(CANCEL_TIMER) },
    { B, S(CONNECTING), E(SIGNALING_LOST), S(CONNECTING), A(RECONNECT_SIGNALING) | A(START_TIMER) },
    { B, S(CONNECTING), E(TIMEOUT), S(FAILED), TEARDOWN },
    { C, S(CONNECTING), E(DENY), S(CONNECTING), A(SEND_DENY) },
    { B, S(CONNECTING), E(SAS_MISMATCH), S(ENDED), A(SEND_SAS_MISMATCH) | TEARDOWN },
    LEAVING(CONNECTING),

    /* Connected: media flows both ways. Signaling may drop without the call dropping (peer to peer). */
    { P, S(CONNECTED), E(MEDIA_LOST), S(RECONNECTING), A(START_TIMER) },
    { C, S(CONNECTED), E(MEDIA_LOST), S(RECONNECTING), A(ICE_RESTART) | A(START_TIMER) },
    { P, S(CONNECTED), E(PEER_LEFT), S(ADMITTED), DROP_CALL },
    { C, S(CONNECTED), E(PEER_LEFT), S(WAITING), DROP_CALL },
    { P, S(CONNECTED), E(PEER_JOINED), S(CONNECTING), NEW_CALL_P },
    { C, S(CONNECTED), E(PEER_JOINED), S(CONNECTING), NEW_CALL_C },
    { P, S(CONNECTED), E(ADMITTED), S(CONNECTED), 0 },
    { B, S(CONNECTED), E(JOINED), S(CONNECTED), 0 },
    { B, S(CONNECTED), E(SIGNALING_LOST), S(CONNECTED), A(RECONNECT_SIGNALING) },
    { C, S(CONNECTED), E(DENY), S(CONNECTED), A(SEND_DENY) },
    { B, S(CONNECTED), E(SAS_MISMATCH), S(ENDED), A(SEND_SAS_MISMATCH) | TEARDOWN },
    LEAVING(CONNECTED),

    /* Reconnecting: media lost; ICE restarts (the clinician offers) until it is back or time runs out. */
    { B, S(RECONNECTING), E(MEDIA_CONNECTED), S(CONNECTED), A(CANCEL_TIMER) },
    { P, S(RECONNECTING), E(MEDIA_LOST), S(RECONNECTING), 0 },
    { C, S(RECONNECTING), E(MEDIA_LOST), S(RECONNECTING), A(ICE_RESTART) },
    { B, S(RECONNECTING), E(TIMEOUT), S(FAILED), TEARDOWN },
    { P, S(RECONNECTING), E(JOINED), S(RECONNECTING), 0 },
    { C, S(RECONNECTING), E(JOINED), S(RECONNECTING), A(ICE_RESTART) },
    { P, S(RECONNECTING), E(ADMITTED), S(RECONNECTING), 0 },
    { B, S(RECONNECTING), E(SIGNALING_LOST), S(RECONNECTING), A(RECONNECT_SIGNALING) },
    { P, S(RECONNECTING), E(PEER_LEFT), S(ADMITTED), DROP_CALL },
    { C, S(RECONNECTING), E(PEER_LEFT), S(WAITING), DROP_CALL },
    { P, S(RECONNECTING), E(PEER_JOINED), S(CONNECTING), NEW_CALL_P },
    { C, S(RECONNECTING), E(PEER_JOINED), S(CONNECTING), NEW_CALL_C },
    { C, S(RECONNECTING), E(DENY), S(RECONNECTING), A(SEND_DENY) },
    { B, S(RECONNECTING), E(SAS_MISMATCH), S(ENDED), A(SEND_SAS_MISMATCH) | TEARDOWN },
    LEAVING(RECONNECTING),
};

#define TABLE_LEN (sizeof table / sizeof table[0])

void tv_visit_config_default(tv_visit_config *c)
{
    c->join_timeout_ms = 15000;
    c->reconnect_ms = 60000;
}

int tv_visit_init(tv_visit *v, tv_visit_role role, const tv_visit_config *cfg)
{
    if (v == NULL || (role != TV_ROLE_PATIENT && role != TV_ROLE_CLINICIAN))
        return TV_ERR_INVALID;
    if (cfg && (cfg->join_timeout_ms == 0 || cfg->reconnect_ms == 0))
        return TV_ERR_INVALID;
    v->role = role;
    v->state = role == TV_ROLE_PATIENT ? TV_VS_CHECKING_DEVICES : TV_VS_IDLE;
    if (cfg)
        v->cfg = *cfg;
    else
        tv_visit_config_default(&v->cfg);
    return 0;
}

int tv_visit_step(tv_visit *v, tv_visit_event ev, tv_visit_actions *out)
{
    if (v == NULL || out == NULL || (unsigned)ev >= TV_EV_COUNT || (unsigned)v->state >= TV_VS_COUNT)
        return TV_ERR_INVALID;
    unsigned role = 1u << v->role;
    for (size_t i = 0; i < TABLE_LEN; i++) {
        const tv_visit_transition *t = &table[i];
        if (t->from != v->state || t->event != ev || !(t->roles & role))
            continue;
        out->mask = t->actions;
        out->timer_ms = 0;
        if (t->actions & TV_ACT_START_TIMER)
            out->timer_ms = t->to == TV_VS_JOINING ? v->cfg.join_timeout_ms : v->cfg.reconnect_ms;
        v->state = t->to;
        return 0;
    }
    return TV_ERR_STATE_ILLEGAL;
}

int tv_visit_is_terminal(tv_visit_state s)
{
    return s == TV_VS_ENDED || s == TV_VS_DENIED || s == TV_VS_EXPIRED || s == TV_VS_FAILED;
}

const char *tv_visit_state_name(tv_visit_state s)
{
    static const char *const names[] = {
#define TV_VS_NAME_(id, name) name,
        TV_VISIT_STATES(TV_VS_NAME_)
#undef TV_VS_NAME_
    };
    return (unsigned)s < TV_VS_COUNT ? names[s] : NULL;
}

static const char *const event_names[] = {
#define TV_EV_NAME_(id, name) name,
    TV_VISIT_EVENTS(TV_EV_NAME_)
#undef TV_EV_NAME_
};

const char *tv_visit_event_name(tv_visit_event e)
{
    return (unsigned)e < TV_EV_COUNT ? event_names[e] : NULL;
}

int tv_visit_event_from_name(const char *name, size_t len, tv_visit_event *e)
{
    if (name == NULL || e == NULL)
        return TV_ERR_INVALID;
    for (int i = 0; i < TV_EV_COUNT; i++)
        if (strlen(event_names[i]) == len && memcmp(event_names[i], name, len) == 0) {
            *e = (tv_visit_event)i;
            return 0;
        }
    return TV_ERR_INVALID;
}

const char *tv_visit_action_name(uint32_t action_bit)
{
    switch (action_bit) {
#define TV_ACT_NAME_(id, name, bit) case 1u << bit: return name;
    TV_VISIT_ACTIONS(TV_ACT_NAME_)
#undef TV_ACT_NAME_
    default: return NULL;
    }
}

size_t tv_visit_transition_count(void)
{
    return TABLE_LEN;
}

int tv_visit_transition_at(size_t i, tv_visit_transition *t)
{
    if (i >= TABLE_LEN || t == NULL)
        return TV_ERR_INVALID;
    *t = table[i];
    return 0;
}
