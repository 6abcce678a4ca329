/* The visit as each participant lives it: a sans-I/O state machine. The glue feeds it events
 * (user clicks, signaling messages, WebRTC and timer callbacks) and performs the actions it returns;
 * the screen shown is a function of the state. An event that is illegal in the current state is
 * TV_ERR_STATE_ILLEGAL and changes nothing. The whole transition table is in tv_visit.c. */
#ifndef TV_VISIT_H
#define TV_VISIT_H

#include <stddef.h>
#include <stdint.h>

typedef enum tv_visit_role { TV_ROLE_PATIENT = 0, TV_ROLE_CLINICIAN = 1 } tv_visit_role;

#define TV_VISIT_STATES(X) \
    X(CHECKING_DEVICES, "checking_devices") X(IDLE, "idle") X(JOINING, "joining") \
    X(WAITING, "waiting") X(ADMITTED, "admitted") X(CONNECTING, "connecting") \
    X(CONNECTED, "connected") X(RECONNECTING, "reconnecting") X(ENDED, "ended") \
    X(DENIED, "denied") X(EXPIRED, "expired") X(FAILED, "failed")

#define TV_VISIT_EVENTS(X) \
    X(DEVICES_READY, "devices_ready") X(OPEN, "open") X(JOINED, "joined") X(ADMITTED, "admitted") \
    X(DENIED, "denied") X(LINK_INVALID, "link_invalid") X(ADMIT, "admit") X(DENY, "deny") \
    X(PEER_JOINED, "peer_joined") X(PEER_LEFT, "peer_left") X(MEDIA_CONNECTED, "media_connected") \
    X(MEDIA_LOST, "media_lost") X(SIGNALING_LOST, "signaling_lost") X(TIMEOUT, "timeout") \
    X(HANGUP, "hangup") X(END_VISIT, "end_visit") X(ENDED, "ended") X(SAS_MISMATCH, "sas_mismatch") X(FATAL, "fatal")

/* Actions are bits; the glue performs those set, in this order. */
#define TV_VISIT_ACTIONS(X) \
    X(CANCEL_TIMER, "cancel_timer", 0) X(SEND_ADMIT, "send_admit", 1) X(SEND_DENY, "send_deny", 2) \
    X(SEND_SAS_MISMATCH, "send_sas_mismatch", 3) X(SEND_LEAVE, "send_leave", 4) \
    X(SEND_END, "send_end", 5) X(STOP_MEDIA, "stop_media", 6) X(WIPE_KEYS, "wipe_keys", 7) \
    X(CLOSE_SIGNALING, "close_signaling", 8) X(RELEASE_DEVICES, "release_devices", 9) \
    X(CONNECT_SIGNALING, "connect_signaling", 10) X(RECONNECT_SIGNALING, "reconnect_signaling", 11) \
    X(START_MEDIA, "start_media", 12) X(SEND_OFFER, "send_offer", 13) \
    X(ICE_RESTART, "ice_restart", 14) X(START_TIMER, "start_timer", 15)

typedef enum tv_visit_state {
#define TV_VS_ENUM_(id, name) TV_VS_##id,
    TV_VISIT_STATES(TV_VS_ENUM_)
#undef TV_VS_ENUM_
    TV_VS_COUNT
} tv_visit_state;

typedef enum tv_visit_event {
#define TV_EV_ENUM_(id, name) TV_EV_##id,
    TV_VISIT_EVENTS(TV_EV_ENUM_)
#undef TV_EV_ENUM_
    TV_EV_COUNT
} tv_visit_event;

enum tv_visit_action {
#define TV_ACT_ENUM_(id, name, bit) TV_ACT_##id = 1u << bit,
    TV_VISIT_ACTIONS(TV_ACT_ENUM_)
#undef TV_ACT_ENUM_
};
#define TV_ACT_COUNT 16

typedef struct tv_visit_config {
    uint32_t join_timeout_ms;   /* joining: from opening the socket to `joined` (default 15 s) */
    uint32_t reconnect_ms;      /* how long a lost connection may take to come back (default 60 s,
                                   the server's resume window) */
} tv_visit_config;

typedef struct tv_visit {
    tv_visit_role role;
    tv_visit_state state;
    tv_visit_config cfg;
} tv_visit;

typedef struct tv_visit_actions {
    uint32_t mask;       /* TV_ACT_* bits */
    uint32_t timer_ms;   /* with TV_ACT_START_TIMER: feed TV_EV_TIMEOUT after this long */
} tv_visit_actions;

/* One row of the table, for tests and documentation. */
typedef struct tv_visit_transition {
    unsigned roles;              /* 1 << tv_visit_role */
    tv_visit_state from;
    tv_visit_event event;
    tv_visit_state to;
    uint32_t actions;
} tv_visit_transition;

void tv_visit_config_default(tv_visit_config *c);

/* Patients start in checking_devices, clinicians in idle. cfg may be NULL for the defaults. */
int tv_visit_init(tv_visit *v, tv_visit_role role, const tv_visit_config *cfg);

int tv_visit_step(tv_visit *v, tv_visit_event ev, tv_visit_actions *out);

/* 1 for ended, denied, expired and failed: no event leaves them. */
int tv_visit_is_terminal(tv_visit_state s);

const char *tv_visit_state_name(tv_visit_state s);
const char *tv_visit_event_name(tv_visit_event e);
const char *tv_visit_action_name(uint32_t action_bit);
int tv_visit_event_from_name(const char *name, size_t len, tv_visit_event *e);

size_t tv_visit_transition_count(void);
int tv_visit_transition_at(size_t i, tv_visit_transition *t);

#endif
