#include "tv_jobs.h"
#include "tv_err.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct worker_arg { tv_jobs *j; int index; } worker_arg;

static void *worker(void *arg)
{
    worker_arg *wa = arg;
    tv_jobs *j = wa->j;
    tv_store *st = &j->stores[wa->index];
    free(wa);
    pthread_mutex_lock(&j->lock);
    for (;;) {
        while (!j->stop && j->head == NULL)
            pthread_cond_wait(&j->cond, &j->lock);
        if (j->stop)
            break;
        tv_job *job = j->head;
        j->head = job->next;
        if (j->head == NULL)
            j->tail = NULL;
        j->queued--;
        pthread_mutex_unlock(&j->lock);

        if (tv_api_handle(j->api, st, &job->rq, &job->rs) != 0 && job->rs.body == NULL)
            job->rs.status = 500;
        tv_api_mail *mail = job->rs.mail;   /* sent once the answer is on its way, never before it */
        job->rs.mail = NULL;

        pthread_mutex_lock(&j->lock);
        job->next = j->done;
        j->done = job;
        if (j->ctx)
            lws_cancel_service(j->ctx);
        if (mail) {
            pthread_mutex_unlock(&j->lock);
            tv_api_mail_send(j->api, mail);
            pthread_mutex_lock(&j->lock);
        }
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

int tv_jobs_start(tv_jobs *j, tv_api *api, int nthreads, const char *db_path, const char *key_path, char *err,
                  size_t err_size)
{
    memset(j, 0, sizeof *j);
    j->api = api;
    if (nthreads < 1 || nthreads > TV_JOBS_THREADS_MAX)
        return TV_ERR_INVALID;
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->cond, NULL);
    for (int i = 0; i < nthreads; i++) {
        int rc = tv_store_open(&j->stores[i], db_path, key_path, err, err_size);
        worker_arg *wa = rc == 0 ? malloc(sizeof *wa) : NULL;
        if (wa)
            *wa = (worker_arg){ j, i };
        if (wa == NULL || pthread_create(&j->threads[i], NULL, worker, wa) != 0) {
            free(wa);
            if (rc == 0)
                tv_store_close(&j->stores[i]);
            tv_jobs_stop(j);
            return rc ? rc : TV_ERR_NOMEM;
        }
        j->nthreads++;
    }
    return 0;
}

void tv_jobs_set_context(tv_jobs *j, struct lws_context *ctx)
{
    pthread_mutex_lock(&j->lock);
    j->ctx = ctx;
    pthread_mutex_unlock(&j->lock);
}

static size_t slen(const char *s) { return s ? strlen(s) + 1 : 0; }

static const char *copy_in(char **p, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*p, s, n);
    const char *r = *p;
    *p += n;
    return r;
}

int tv_jobs_submit(tv_jobs *j, struct lws *wsi, const tv_api_req *rq, tv_job **out)
{
    tv_job *job = calloc(1, sizeof *job);
    size_t n = slen(rq->method) + slen(rq->path) + slen(rq->query) + slen(rq->session) + slen(rq->sso_bind) + slen(rq->ip) + slen(rq->host) +
               slen(rq->origin) + slen(rq->content_type) + slen(rq->fetch_site) + rq->body_len + 1;
    if (job == NULL || (job->text = malloc(n)) == NULL) {
        free(job);
        return TV_ERR_NOMEM;
    }
    char *p = job->text;
    job->wsi = wsi;
    job->rq = *rq;
    job->rq.defer_mail = 1;
    job->rq.method = copy_in(&p, rq->method);
    job->rq.path = copy_in(&p, rq->path);
    job->rq.query = copy_in(&p, rq->query);
    job->rq.session = copy_in(&p, rq->session);
    job->rq.sso_bind = copy_in(&p, rq->sso_bind);
    job->rq.ip = copy_in(&p, rq->ip);
    job->rq.host = copy_in(&p, rq->host);
    job->rq.origin = copy_in(&p, rq->origin);
    job->rq.content_type = copy_in(&p, rq->content_type);
    job->rq.fetch_site = copy_in(&p, rq->fetch_site);
    if (rq->body_len)
        memcpy(p, rq->body, rq->body_len);
    p[rq->body_len] = '\0';
    job->rq.body = p;
    job->text_len = n;
    pthread_mutex_lock(&j->lock);
    if (j->queued >= TV_JOBS_QUEUE_MAX) {
        pthread_mutex_unlock(&j->lock);
        tv_job_free(job);
        return TV_ERR_BUSY;
    }
    if (j->tail)
        j->tail->next = job;
    else
        j->head = job;
    j->tail = job;
    j->queued++;
    pthread_cond_signal(&j->cond);
    pthread_mutex_unlock(&j->lock);
    *out = job;
    return 0;
}

void tv_jobs_orphan(tv_jobs *j, tv_job *job)
{
    pthread_mutex_lock(&j->lock);
    job->wsi = NULL;
    pthread_mutex_unlock(&j->lock);
}

tv_job *tv_jobs_take_done(tv_jobs *j)
{
    pthread_mutex_lock(&j->lock);
    tv_job *job = j->done;
    if (job)
        j->done = job->next;
    pthread_mutex_unlock(&j->lock);
    return job;
}

void tv_job_free(tv_job *job)
{
    if (job == NULL)
        return;
    if (job->text) {
        sodium_memzero(job->text, job->text_len);   /* bodies hold passwords */
        free(job->text);
    }
    tv_api_resp_free(&job->rs);
    free(job);
}

void tv_jobs_stop(tv_jobs *j)
{
    pthread_mutex_lock(&j->lock);
    j->stop = 1;
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
    for (int i = 0; i < j->nthreads; i++) {
        pthread_join(j->threads[i], NULL);
        tv_store_close(&j->stores[i]);
    }
    j->nthreads = 0;
    tv_job *lists[2] = { j->head, j->done };
    for (int k = 0; k < 2; k++)
        while (lists[k]) {
            tv_job *next = lists[k]->next;
            tv_job_free(lists[k]);
            lists[k] = next;
        }
    j->head = j->tail = j->done = NULL;
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->cond);
}
