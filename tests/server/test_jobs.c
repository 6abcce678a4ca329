/* The API's worker pool (tv_jobs): answers computed off the loop come back to it through a real
 * libwebsockets wake-up, a request is copied at submission, the queue stops at TV_JOBS_QUEUE_MAX
 * (the server answers 503 rather than queue without end), the answer of a job whose connection
 * closed is dropped by the loop's own code (tv_http_jobs_done) and freed, and stop joins the
 * workers with jobs still queued. LeakSanitizer (this suite runs under ASan) checks that every job,
 * which holds a password, is freed.
 *
 * Workers are held at a known point by taking the API's rate-limit lock: an auth-limited request
 * (POST /api/invite) blocks in rate_ok until the test lets go. */
#include "tv_server_test.h"

#include <pthread.h>
#include <time.h>

#include <libwebsockets.h>
#include "tv_api.h"
#include "tv_http.h"
#include "tv_jobs.h"
#include "tv_store.h"

#define N_WSI (TV_JOBS_QUEUE_MAX + 8)

static tv_config cfg;
static tv_api api;
static tv_store st;   /* the test's own connection */
static tv_jobs jobs;
static char db_path[128], key_path[128];
/* Stand-ins for connections: tv_jobs only carries the pointer, never follows it. */
static char wsi_tags[N_WSI];
#define WSI(i) ((struct lws *)(void *)&wsi_tags[i])

/* The workers' brake: api.lock held by the test. A failed assertion leaves the test with it held;
 * teardown lets go, so the failure does not turn into a deadlock in tv_jobs_stop. */
static int braking;
static struct lws_context *loop_ctx;   /* the test's loop, destroyed by teardown */
static void brake(void) { pthread_mutex_lock(&api.lock); braking = 1; }
static void release(void) { braking = 0; pthread_mutex_unlock(&api.lock); }

static const char *INVITE_BODY = "{\"token\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}";

static int setup(void **state)
{
    (void)state;
    char err[256];
    if (tv_test_dir_make("jobs") != 0)
        return -1;
    tv_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", tv_test_dir);
    cfg.pwhash_mem_mib = 19;
    cfg.auth_per_minute = 100000;
    snprintf(db_path, sizeof db_path, "%s/t.db", tv_test_dir);
    snprintf(key_path, sizeof key_path, "%s/master.key", tv_test_dir);
    if (tv_store_open(&st, db_path, key_path, err, sizeof err) != 0 || tv_api_init(&api, &cfg) != 0)
        return -1;
    return tv_jobs_start(&jobs, &api, 2, db_path, key_path, err, sizeof err) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    if (braking)
        release();
    if (loop_ctx) {
        tv_jobs_set_context(&jobs, NULL);
        lws_context_destroy(loop_ctx);
        loop_ctx = NULL;
    }
    if (jobs.nthreads)
        tv_jobs_stop(&jobs);
    tv_api_free(&api);
    tv_store_close(&st);
    return tv_test_dir_remove(state);
}

static tv_api_req request(const char *method, const char *path, const char *body)
{
    return (tv_api_req){ method, path, NULL, NULL, "192.0.2.1", "localhost:8443", NULL, "application/json", body,
                         body ? strlen(body) : 0, 1800000000000LL, 0, NULL, 0, 0, NULL };
}

static int queued(void)
{
    pthread_mutex_lock(&jobs.lock);
    int n = jobs.queued;
    pthread_mutex_unlock(&jobs.lock);
    return n;
}

static void sleep_ms(long ms) { nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000 }, NULL); }

/* Until the workers have taken every queued job (and, holding api.lock, are stuck in it). */
static void wait_queue_empty(void)
{
    for (int i = 0; i < 2000 && queued() > 0; i++)
        sleep_ms(1);
    assert_int_equal(queued(), 0);
}

/* ---- the loop: a context that listens nowhere, woken by the workers ---- */

static int answers[N_WSI];      /* status per stand-in connection, 0 until answered */
static int answered, wakeups;

static int loop_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    (void)wsi, (void)user, (void)in, (void)len;
    if (reason != LWS_CALLBACK_EVENT_WAIT_CANCELLED)
        return 0;
    wakeups++;
    tv_job *job;
    while ((job = tv_jobs_take_done(&jobs)) != NULL) {
        ptrdiff_t i = (char *)(void *)job->wsi - wsi_tags;
        if (job->wsi && i >= 0 && i < N_WSI) {
            answers[i] = job->rs.status;
            answered++;
        }
        tv_job_free(job);
    }
    return 0;
}

static struct lws_context *loop_context(void)
{
    static const struct lws_protocols protocols[] = {
        { "loop", loop_cb, 0, 0, 0, NULL, 0 },
        { NULL, NULL, 0, 0, 0, NULL, 0 },
    };
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    lws_set_log_level(LLL_ERR, NULL);
    loop_ctx = lws_create_context(&info);
    assert_non_null(loop_ctx);
    return loop_ctx;
}

/* Services the loop until `want` answers came in; the alarm fails the test if a wake-up never does. */
static void run_loop_until(struct lws_context *ctx, int want)
{
    alarm(10);
    while (answered < want)
        lws_service(ctx, 0);
    alarm(0);
}

static void answers_wake_the_loop(void **state)
{
    (void)state;
    memset(answers, 0, sizeof answers);
    answered = wakeups = 0;
    struct lws_context *ctx = loop_context();
    tv_jobs_set_context(&jobs, ctx);
    /* the request's strings live in buffers the caller reuses at once: the job must have copied them */
    char path[32], body[128];
    tv_job *job;
    static const struct { const char *method, *path, *body; int status; } cases[] = {
        { "GET", "/api/policy", NULL, 200 },
        { "GET", "/api/nothing", NULL, 404 },
        { "DELETE", "/api/visits", NULL, 405 },
        { "GET", "/api/me", NULL, 401 },
        { "POST", "/api/invite", "{\"token\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", 404 },
        { "POST", "/api/visits", "{", 401 },
        { "POST", "/api/login", "{\"email\":\"nobody@example.org\",\"password\":\"Wrong-Password-1\"}", 401 },
    };
    const int n = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s", cases[i].path);
        snprintf(body, sizeof body, "%s", cases[i].body ? cases[i].body : "");
        tv_api_req rq = request(cases[i].method, path, cases[i].body ? body : NULL);
        assert_int_equal(tv_jobs_submit(&jobs, WSI(i), &rq, &job), 0);
        assert_ptr_equal(job->wsi, WSI(i));
        memset(path, 'x', sizeof path - 1);
        memset(body, 'x', sizeof body - 1);
    }
    run_loop_until(ctx, n);
    for (int i = 0; i < n; i++)
        if (answers[i] != cases[i].status)
            fail_msg("%s %s: %d, not %d", cases[i].method, cases[i].path, answers[i], cases[i].status);
    assert_int_equal(answered, n);
    assert_true(wakeups >= 1);
}

/* With the workers held, the queue takes TV_JOBS_QUEUE_MAX jobs and refuses the next with
 * TV_ERR_BUSY (and frees it); once they go on, everything accepted is answered. */
static void queue_full_is_busy(void **state)
{
    (void)state;
    memset(answers, 0, sizeof answers);
    answered = wakeups = 0;
    struct lws_context *ctx = loop_context();
    tv_jobs_set_context(&jobs, ctx);
    tv_job *job;
    tv_api_req rq = request("POST", "/api/invite", INVITE_BODY);
    brake();
    assert_int_equal(tv_jobs_submit(&jobs, WSI(0), &rq, &job), 0);
    assert_int_equal(tv_jobs_submit(&jobs, WSI(1), &rq, &job), 0);
    wait_queue_empty();   /* both workers hold one job each, blocked */
    int i = 2;
    for (; i < 2 + TV_JOBS_QUEUE_MAX; i++)
        assert_int_equal(tv_jobs_submit(&jobs, WSI(i), &rq, &job), 0);
    job = NULL;
    assert_int_equal(tv_jobs_submit(&jobs, WSI(i), &rq, &job), TV_ERR_BUSY);
    assert_null(job);
    assert_int_equal(tv_jobs_submit(&jobs, WSI(i + 1), &rq, &job), TV_ERR_BUSY);
    assert_int_equal(queued(), TV_JOBS_QUEUE_MAX);
    release();
    run_loop_until(ctx, 2 + TV_JOBS_QUEUE_MAX);
    for (int k = 0; k < 2 + TV_JOBS_QUEUE_MAX; k++)
        assert_int_equal(answers[k], 404);
    assert_int_equal(answers[i], 0);   /* the refused ones were never answered */
    assert_int_equal(answers[i + 1], 0);
    /* room again */
    assert_int_equal(tv_jobs_submit(&jobs, WSI(0), &rq, &job), 0);
    run_loop_until(ctx, 3 + TV_JOBS_QUEUE_MAX);
}

/* Jobs whose connections close while queued, while running and after they finished: the loop
 * (tv_http_jobs_done, the server's own code) gets them back without a connection, answers nobody,
 * and frees them. Were a connection pointer left in one, tv_http_jobs_done would write the answer
 * through it; the test checks first, so that shows as a failure rather than a crash. */
static void orphaned_jobs_are_dropped(void **state)
{
    (void)state;
    tv_job *running[2], *waiting[3], *job;
    tv_api_req rq = request("POST", "/api/invite", INVITE_BODY);
    brake();
    for (int i = 0; i < 2; i++)
        assert_int_equal(tv_jobs_submit(&jobs, WSI(i), &rq, &running[i]), 0);
    wait_queue_empty();
    for (int i = 0; i < 3; i++)
        assert_int_equal(tv_jobs_submit(&jobs, WSI(2 + i), &rq, &waiting[i]), 0);
    /* every connection closes: two jobs are in a worker's hands, three still queued */
    for (int i = 0; i < 2; i++)
        tv_jobs_orphan(&jobs, running[i]);
    for (int i = 0; i < 3; i++)
        tv_jobs_orphan(&jobs, waiting[i]);
    release();
    /* the workers still finish all five (they cannot know), and put them on the done list */
    int done = 0;
    for (int t = 0; t < 5000 && done < 5; t++) {
        sleep_ms(1);
        pthread_mutex_lock(&jobs.lock);
        done = 0;
        for (tv_job *d = jobs.done; d; d = d->next, done++)
            if (d->wsi != NULL)
                fail_msg("an orphaned job still names its connection");
        pthread_mutex_unlock(&jobs.lock);
    }
    assert_int_equal(done, 5);
    static tv_http http;
    http.jobs = &jobs;
    tv_http_jobs_done(&http);   /* drops and frees them; LeakSanitizer checks the freeing */
    assert_null(tv_jobs_take_done(&jobs));
    /* an answer that is ready before its connection closes is dropped the same way */
    assert_int_equal(tv_jobs_submit(&jobs, WSI(0), &rq, &job), 0);
    int ready = 0;
    for (int t = 0; t < 5000 && !ready; t++) {
        pthread_mutex_lock(&jobs.lock);
        ready = jobs.done != NULL;
        pthread_mutex_unlock(&jobs.lock);
        if (!ready)
            sleep_ms(1);
    }
    assert_true(ready);   /* or this would be the running-job case again */
    tv_jobs_orphan(&jobs, job);
    tv_http_jobs_done(&http);
    assert_null(tv_jobs_take_done(&jobs));
}

static void *stopper(void *arg)
{
    (void)arg;
    tv_jobs_stop(&jobs);
    return NULL;
}

/* Shutdown with both workers busy and jobs queued: stop waits for the running jobs, runs none of
 * the queued ones (their connections are gone at shutdown), frees them all and joins the threads. */
static void stop_with_pending_jobs(void **state)
{
    (void)state;
    tv_job *job;
    tv_api_req rq = request("POST", "/api/invite", INVITE_BODY);
    char body[200];
    brake();
    for (int i = 0; i < 2; i++)
        assert_int_equal(tv_jobs_submit(&jobs, WSI(i), &rq, &job), 0);
    wait_queue_empty();
    /* queued: registrations, each of which would add an account and write a mail if it ran */
    for (int i = 0; i < 10; i++) {
        snprintf(body, sizeof body, "{\"email\":\"p%d@example.org\",\"password\":\"Correct-Horse-Battery-9\"}", i);
        tv_api_req reg = request("POST", "/api/register", body);
        assert_int_equal(tv_jobs_submit(&jobs, WSI(2 + i), &reg, &job), 0);
        if (i % 2)
            tv_jobs_orphan(&jobs, job);
    }
    assert_int_equal(queued(), 10);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stopper, NULL), 0);
    for (int i = 0; i < 2000; i++) {   /* until stop has been asked for */
        pthread_mutex_lock(&jobs.lock);
        int asked = jobs.stop;
        pthread_mutex_unlock(&jobs.lock);
        if (asked)
            break;
        sleep_ms(1);
    }
    sleep_ms(20);
    release();   /* the running jobs finish; stop can join */
    alarm(10);
    assert_int_equal(pthread_join(t, NULL), 0);
    alarm(0);
    assert_int_equal(jobs.nthreads, 0);
    assert_null(jobs.head);
    assert_null(jobs.done);
    assert_int_equal(tv_test_int64(st.db, "SELECT count(*) FROM users"), 0);
}

static void start_refusals(void **state)
{
    (void)state;
    tv_jobs j;
    char err[256] = "";
    assert_int_equal(tv_jobs_start(&j, &api, 0, db_path, key_path, err, sizeof err), TV_ERR_INVALID);
    assert_int_equal(tv_jobs_start(&j, &api, TV_JOBS_THREADS_MAX + 1, db_path, key_path, err, sizeof err), TV_ERR_INVALID);
    /* a database that cannot be opened: an error, and no thread or connection left behind */
    char bad[160];
    snprintf(bad, sizeof bad, "%s/missing/t.db", tv_test_dir);
    assert_int_not_equal(tv_jobs_start(&j, &api, 2, bad, key_path, err, sizeof err), 0);
    assert_true(err[0] != '\0');
    assert_int_equal(j.nthreads, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(answers_wake_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(queue_full_is_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(orphaned_jobs_are_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_with_pending_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(start_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
