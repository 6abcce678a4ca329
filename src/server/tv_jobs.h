/* The worker threads that answer API requests off the event loop: Argon2id takes tens of
 * milliseconds and 64 MiB, and SMTP can take seconds, so neither may stall signaling. Each worker has
 * its own database connection. The loop submits a job and is woken (lws_cancel_service) when it is
 * done; a job whose connection closed meanwhile is dropped, not answered. */
#ifndef TV_JOBS_H
#define TV_JOBS_H

#include <libwebsockets.h>
#include <pthread.h>

#include "tv_api.h"
#include "tv_store.h"

#define TV_JOBS_THREADS_MAX 8
#define TV_JOBS_QUEUE_MAX 64    /* beyond this the server answers 503 rather than queue without end */

typedef struct tv_job {
    struct tv_job *next;
    struct lws *wsi;           /* NULL once its connection has closed */
    tv_api_req rq;             /* its strings point into text */
    char *text;
    size_t text_len;
    tv_api_resp rs;
} tv_job;

typedef struct tv_jobs {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    tv_job *head, *tail, *done;
    int queued, stop, nthreads;
    pthread_t threads[TV_JOBS_THREADS_MAX];
    tv_store stores[TV_JOBS_THREADS_MAX];
    tv_api *api;
    struct lws_context *ctx;
} tv_jobs;

int tv_jobs_start(tv_jobs *j, tv_api *api, int nthreads, const char *db_path, const char *key_path, char *err,
                  size_t err_size);
void tv_jobs_set_context(tv_jobs *j, struct lws_context *ctx);

/* Copies rq. 0, or TV_ERR_BUSY when the queue is full. *out is the job, for tv_jobs_orphan. */
int tv_jobs_submit(tv_jobs *j, struct lws *wsi, const tv_api_req *rq, tv_job **out);

/* The connection of a pending job closed: drop its answer when it comes. */
void tv_jobs_orphan(tv_jobs *j, tv_job *job);

/* On the loop: one finished job, or NULL. */
tv_job *tv_jobs_take_done(tv_jobs *j);
void tv_job_free(tv_job *job);

void tv_jobs_stop(tv_jobs *j);

#endif
