#include "tv_test.h"
#include "tv_visit.h"

static int row_for(tv_visit_role role, tv_visit_state st, tv_visit_event ev, tv_visit_transition *out)
{
    for (size_t i = 0; i < tv_visit_transition_count(); i++) {
        tv_visit_transition t;
        tv_visit_transition_at(i, &t);
        if (t.from == st && t.event == ev && (t.roles & (1u << role))) {
            if (out)
                *out = t;
            return 1;
        }
    }
    return 0;
}

/* Every row, taken from its state, lands where the table says with the actions it says. */
static void every_transition(void **s)
{
    (void)s;
    tv_visit_config cfg = { 1111, 2222 };
    size_t rows = tv_visit_transition_count();
    assert_true(rows > 50);
    for (size_t i = 0; i < rows; i++) {
        tv_visit_transition t;
        assert_int_equal(tv_visit_transition_at(i, &t), 0);
        assert_true(t.roles != 0);
        for (int r = 0; r < 2; r++) {
            if (!(t.roles & (1u << r)))
                continue;
            tv_visit v;
            assert_int_equal(tv_visit_init(&v, (tv_visit_role)r, &cfg), 0);
            v.state = t.from;
            tv_visit_actions a = { 0xdead, 0xbeef };
            assert_int_equal(tv_visit_step(&v, t.event, &a), 0);
            assert_int_equal(v.state, t.to);
            assert_int_equal(a.mask, t.actions);
            if (t.actions & TV_ACT_START_TIMER)
                assert_int_equal(a.timer_ms, t.to == TV_VS_JOINING ? 1111 : 2222);
            else
                assert_int_equal(a.timer_ms, 0);
        }
    }
    /* No (role, state, event) has two rows: the table is a function. */
    for (size_t i = 0; i < rows; i++)
        for (size_t j = i + 1; j < rows; j++) {
            tv_visit_transition a, b;
            tv_visit_transition_at(i, &a);
            tv_visit_transition_at(j, &b);
            if (a.from == b.from && a.event == b.event && (a.roles & b.roles))
                fail_msg("rows %zu and %zu overlap", i, j);
        }
}

/* Every combination not in the table is refused and leaves the state as it was. */
static void illegal_events_change_nothing(void **s)
{
    (void)s;
    int illegal = 0;
    for (int r = 0; r < 2; r++)
        for (int st = 0; st < TV_VS_COUNT; st++)
            for (int ev = 0; ev < TV_EV_COUNT; ev++) {
                if (row_for((tv_visit_role)r, (tv_visit_state)st, (tv_visit_event)ev, NULL))
                    continue;
                tv_visit v;
                tv_visit_init(&v, (tv_visit_role)r, NULL);
                v.state = (tv_visit_state)st;
                tv_visit before = v;
                tv_visit_actions a = { 77, 88 };
                assert_int_equal(tv_visit_step(&v, (tv_visit_event)ev, &a), TV_ERR_STATE_ILLEGAL);
                assert_memory_equal(&v, &before, sizeof v);
                assert_int_equal(a.mask, 77);
                illegal++;
            }
    assert_true(illegal > 100);
}

static void terminal_states_have_no_exit(void **s)
{
    (void)s;
    for (size_t i = 0; i < tv_visit_transition_count(); i++) {
        tv_visit_transition t;
        tv_visit_transition_at(i, &t);
        assert_false(tv_visit_is_terminal(t.from));
        /* Entering a terminal state always releases everything. */
        if (tv_visit_is_terminal(t.to)) {
            uint32_t need = TV_ACT_STOP_MEDIA | TV_ACT_WIPE_KEYS | TV_ACT_CLOSE_SIGNALING |
                            TV_ACT_RELEASE_DEVICES | TV_ACT_CANCEL_TIMER;
            assert_int_equal(t.actions & need, need);
        }
        /* Keys are wiped whenever media stops. */
        if (t.actions & TV_ACT_STOP_MEDIA)
            assert_true(t.actions & TV_ACT_WIPE_KEYS);
    }
}

/* Leaving is always possible: every non-terminal state a role can reach takes hangup and fatal. */
static void reachability_and_exits(void **s)
{
    (void)s;
    static const int expect_reach[2][TV_VS_COUNT] = {
        /* patient: all but idle */
        [TV_ROLE_PATIENT] = { [TV_VS_CHECKING_DEVICES] = 1, [TV_VS_JOINING] = 1, [TV_VS_WAITING] = 1,
                              [TV_VS_ADMITTED] = 1, [TV_VS_CONNECTING] = 1, [TV_VS_CONNECTED] = 1,
                              [TV_VS_RECONNECTING] = 1, [TV_VS_ENDED] = 1, [TV_VS_DENIED] = 1,
                              [TV_VS_EXPIRED] = 1, [TV_VS_FAILED] = 1 },
        /* clinician: never checking devices here (the console does that), admitted or denied */
        [TV_ROLE_CLINICIAN] = { [TV_VS_IDLE] = 1, [TV_VS_JOINING] = 1, [TV_VS_WAITING] = 1,
                                [TV_VS_CONNECTING] = 1, [TV_VS_CONNECTED] = 1, [TV_VS_RECONNECTING] = 1,
                                [TV_VS_ENDED] = 1, [TV_VS_EXPIRED] = 1, [TV_VS_FAILED] = 1 },
    };
    for (int r = 0; r < 2; r++) {
        int reach[TV_VS_COUNT] = { 0 };
        tv_visit v;
        tv_visit_init(&v, (tv_visit_role)r, NULL);
        reach[v.state] = 1;
        for (int changed = 1; changed;) {
            changed = 0;
            for (size_t i = 0; i < tv_visit_transition_count(); i++) {
                tv_visit_transition t;
                tv_visit_transition_at(i, &t);
                if ((t.roles & (1u << r)) && reach[t.from] && !reach[t.to]) {
                    reach[t.to] = 1;
                    changed = 1;
                }
            }
        }
        for (int st = 0; st < TV_VS_COUNT; st++) {
            if (reach[st] != expect_reach[r][st])
                fail_msg("role %d state %s reachable=%d", r, tv_visit_state_name((tv_visit_state)st), reach[st]);
            if (reach[st] && !tv_visit_is_terminal((tv_visit_state)st)) {
                assert_true(row_for((tv_visit_role)r, (tv_visit_state)st, TV_EV_HANGUP, NULL));
                assert_true(row_for((tv_visit_role)r, (tv_visit_state)st, TV_EV_FATAL, NULL));
            }
        }
    }
}

static uint32_t step_ok(tv_visit *v, tv_visit_event ev, tv_visit_state want)
{
    tv_visit_actions a;
    int rc = tv_visit_step(v, ev, &a);
    if (rc != 0 || v->state != want)
        fail_msg("%s: rc %d, state %s, want %s", tv_visit_event_name(ev), rc,
                 tv_visit_state_name(v->state), tv_visit_state_name(want));
    return a.mask;
}

static void patient_visit_scenario(void **s)
{
    (void)s;
    tv_visit v;
    assert_int_equal(tv_visit_init(&v, TV_ROLE_PATIENT, NULL), 0);
    assert_int_equal(v.state, TV_VS_CHECKING_DEVICES);
    assert_int_equal(step_ok(&v, TV_EV_DEVICES_READY, TV_VS_JOINING), TV_ACT_CONNECT_SIGNALING | TV_ACT_START_TIMER);
    assert_int_equal(step_ok(&v, TV_EV_JOINED, TV_VS_WAITING), TV_ACT_CANCEL_TIMER);
    /* A patient cannot admit anyone, however the glue is misused. */
    tv_visit_actions a;
    assert_int_equal(tv_visit_step(&v, TV_EV_ADMIT, &a), TV_ERR_STATE_ILLEGAL);
    assert_int_equal(step_ok(&v, TV_EV_ADMITTED, TV_VS_ADMITTED), 0);
    assert_int_equal(step_ok(&v, TV_EV_PEER_JOINED, TV_VS_CONNECTING), TV_ACT_START_MEDIA);
    assert_int_equal(step_ok(&v, TV_EV_MEDIA_CONNECTED, TV_VS_CONNECTED), TV_ACT_CANCEL_TIMER);
    /* Network loss and return: no new admission. */
    uint32_t m = step_ok(&v, TV_EV_MEDIA_LOST, TV_VS_RECONNECTING);
    assert_true(m & TV_ACT_START_TIMER);
    assert_false(m & TV_ACT_ICE_RESTART);   /* the clinician, as offerer, restarts ICE */
    step_ok(&v, TV_EV_SIGNALING_LOST, TV_VS_RECONNECTING);
    step_ok(&v, TV_EV_JOINED, TV_VS_RECONNECTING);
    step_ok(&v, TV_EV_ADMITTED, TV_VS_RECONNECTING);
    step_ok(&v, TV_EV_MEDIA_CONNECTED, TV_VS_CONNECTED);
    m = step_ok(&v, TV_EV_HANGUP, TV_VS_ENDED);
    assert_true(m & TV_ACT_SEND_LEAVE);
    assert_true(m & TV_ACT_WIPE_KEYS);
    assert_int_equal(tv_visit_step(&v, TV_EV_JOINED, &a), TV_ERR_STATE_ILLEGAL);
}

static void clinician_visit_scenario(void **s)
{
    (void)s;
    tv_visit v;
    tv_visit_config cfg = { 5000, 30000 };
    tv_visit_actions a;
    assert_int_equal(tv_visit_init(&v, TV_ROLE_CLINICIAN, &cfg), 0);
    assert_int_equal(v.state, TV_VS_IDLE);
    assert_int_equal(tv_visit_step(&v, TV_EV_OPEN, &a), 0);
    assert_int_equal(a.timer_ms, 5000);
    step_ok(&v, TV_EV_JOINED, TV_VS_WAITING);
    assert_int_equal(step_ok(&v, TV_EV_DENY, TV_VS_WAITING), TV_ACT_SEND_DENY);
    assert_int_equal(step_ok(&v, TV_EV_ADMIT, TV_VS_WAITING), TV_ACT_SEND_ADMIT);
    assert_int_equal(step_ok(&v, TV_EV_PEER_JOINED, TV_VS_CONNECTING), TV_ACT_START_MEDIA | TV_ACT_SEND_OFFER);
    step_ok(&v, TV_EV_MEDIA_CONNECTED, TV_VS_CONNECTED);
    assert_int_equal(tv_visit_step(&v, TV_EV_MEDIA_LOST, &a), 0);
    assert_int_equal(a.mask, TV_ACT_ICE_RESTART | TV_ACT_START_TIMER);
    assert_int_equal(a.timer_ms, 30000);
    /* The patient rejoins with new keys while we reconnect: a fresh call. */
    uint32_t m = step_ok(&v, TV_EV_PEER_JOINED, TV_VS_CONNECTING);
    assert_int_equal(m, TV_ACT_CANCEL_TIMER | TV_ACT_STOP_MEDIA | TV_ACT_WIPE_KEYS | TV_ACT_START_MEDIA | TV_ACT_SEND_OFFER);
    step_ok(&v, TV_EV_MEDIA_CONNECTED, TV_VS_CONNECTED);
    m = step_ok(&v, TV_EV_SAS_MISMATCH, TV_VS_ENDED);
    assert_true(m & TV_ACT_SEND_SAS_MISMATCH);
    assert_true(m & TV_ACT_WIPE_KEYS);
}

static void reconnect_times_out(void **s)
{
    (void)s;
    tv_visit v;
    tv_visit_init(&v, TV_ROLE_PATIENT, NULL);
    v.state = TV_VS_CONNECTED;
    step_ok(&v, TV_EV_MEDIA_LOST, TV_VS_RECONNECTING);
    uint32_t m = step_ok(&v, TV_EV_TIMEOUT, TV_VS_FAILED);
    assert_true(m & TV_ACT_CLOSE_SIGNALING);
}

static void names_and_arguments(void **s)
{
    (void)s;
    for (int st = 0; st < TV_VS_COUNT; st++)
        assert_non_null(tv_visit_state_name((tv_visit_state)st));
    for (int ev = 0; ev < TV_EV_COUNT; ev++) {
        const char *n = tv_visit_event_name((tv_visit_event)ev);
        tv_visit_event back;
        assert_non_null(n);
        assert_int_equal(tv_visit_event_from_name(n, strlen(n), &back), 0);
        assert_int_equal(back, ev);
    }
    for (int b = 0; b < TV_ACT_COUNT; b++)
        assert_non_null(tv_visit_action_name(1u << b));
    assert_null(tv_visit_action_name(1u << TV_ACT_COUNT));
    assert_null(tv_visit_state_name(TV_VS_COUNT));
    tv_visit_event e;
    assert_int_equal(tv_visit_event_from_name("nope", 4, &e), TV_ERR_INVALID);
    tv_visit v;
    tv_visit_actions a;
    tv_visit_config zero = { 0, 1 };
    assert_int_equal(tv_visit_init(&v, (tv_visit_role)2, NULL), TV_ERR_INVALID);
    assert_int_equal(tv_visit_init(&v, TV_ROLE_PATIENT, &zero), TV_ERR_INVALID);
    tv_visit_init(&v, TV_ROLE_PATIENT, NULL);
    assert_int_equal(tv_visit_step(&v, TV_EV_COUNT, &a), TV_ERR_INVALID);
    assert_int_equal(tv_visit_step(&v, TV_EV_HANGUP, NULL), TV_ERR_INVALID);
    tv_visit_transition t;
    assert_int_equal(tv_visit_transition_at(tv_visit_transition_count(), &t), TV_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_transition),
        cmocka_unit_test(illegal_events_change_nothing),
        cmocka_unit_test(terminal_states_have_no_exit),
        cmocka_unit_test(reachability_and_exits),
        cmocka_unit_test(patient_visit_scenario),
        cmocka_unit_test(clinician_visit_scenario),
        cmocka_unit_test(reconnect_times_out),
        cmocka_unit_test(names_and_arguments),
    };
    return TV_RUN(tests);
}
