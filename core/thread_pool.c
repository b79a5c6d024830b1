/* SPDX-License-Identifier: MIT */
/* The worker pool behind env->parallel_for (rules in thread_pool.h).
 *
 * One mutex guards the job; chunks are claimed under it, one at a time, and
 * run outside it. Chunks are coarse (a plugin asks for at most one per
 * thread when it wants a per-thread workspace slot), so the lock is taken a
 * handful of times per job. Workers sleep on `wake` and the caller on
 * `done`: nobody spins, which matters on a machine shared with other
 * processes, where a spinning thread steals the core a sleeping one would
 * have given back. */
#include "thread_pool.h"

#include <pthread.h>
#include <stdlib.h>

struct cnn_thread_pool {
    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers: a new job or stop */
    pthread_cond_t done; /* caller: the last chunk finished */
    int threads;         /* including the caller */
    int started;         /* workers running (0 until the first job) */
    int failed;          /* could not start them: stay serial */
    int stop;
    int running;         /* a job is in progress */
    pthread_t *workers;
    unsigned long generation; /* bumped per job */
    /* The current job. */
    cnn_range_fn fn;
    void *arg;
    size_t n, chunks, next, finished;
    int busy; /* workers between taking a job and leaving it */
};

/* Chunks for a job of n > threads indices: CNN_POOL_CHUNKS per thread, so
 * that a thread the OS preempts mid-job (the machine may be shared) holds
 * up a small piece while the others take the rest. */
#ifndef CNN_POOL_CHUNKS
#define CNN_POOL_CHUNKS 4
#endif

static size_t chunks_for(size_t n, int threads)
{
    size_t k = (size_t)threads * CNN_POOL_CHUNKS;
    return n < k ? n : k;
}

/* Chunk c of k over [0, n). */
static void run_chunk(const cnn_thread_pool *p, size_t c)
{
    size_t begin = p->n * c / p->chunks, end = p->n * (c + 1) / p->chunks;
    if (begin < end)
        p->fn(p->arg, begin, end);
}

/* Claims and runs chunks until none is left; called with mu held and
 * returns with it held. */
static void drain(cnn_thread_pool *p)
{
    while (p->next < p->chunks) {
        size_t c = p->next++;
        pthread_mutex_unlock(&p->mu);
        run_chunk(p, c);
        pthread_mutex_lock(&p->mu);
        p->finished++;
    }
}

static void *worker_main(void *arg)
{
    cnn_thread_pool *p = arg;
    unsigned long seen = 0;

    pthread_mutex_lock(&p->mu);
    seen = p->generation;
    for (;;) {
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->stop)
            break;
        seen = p->generation;
        p->busy++;
        drain(p);
        p->busy--;
        if (p->finished == p->chunks && p->busy == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

cnn_thread_pool *cnn_thread_pool_create(int threads)
{
    cnn_thread_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->threads = threads < 1 ? 1 : threads;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->wake, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->done, NULL) != 0) {
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    return p;
}

int cnn_thread_pool_threads(const cnn_thread_pool *pool)
{
    return pool ? pool->threads : 1;
}

/* Starts the workers; called with mu held. On failure the pool stays
 * serial rather than failing the layer: parallel_for cannot report errors,
 * and serial is always correct. */
static void start_workers(cnn_thread_pool *p)
{
    int want = p->threads - 1;
    p->workers = calloc((size_t)want, sizeof *p->workers);
    if (!p->workers) {
        p->failed = 1;
        return;
    }
    for (int i = 0; i < want; i++) {
        if (pthread_create(&p->workers[i], NULL, worker_main, p) != 0)
            break;
        p->started++;
    }
    if (p->started == 0)
        p->failed = 1;
}

void cnn_thread_pool_run(cnn_thread_pool *p, size_t n, cnn_range_fn fn,
                         void *arg)
{
    if (n == 0)
        return;
    if (!p || p->threads < 2 || n < 2) {
        fn(arg, 0, n);
        return;
    }
    pthread_mutex_lock(&p->mu);
    if (!p->started && !p->failed)
        start_workers(p);
    if (p->failed || p->running) {
        pthread_mutex_unlock(&p->mu);
        fn(arg, 0, n);
        return;
    }
    p->running = 1;
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    /* The chunking depends on the thread budget, never on how many
     * workers actually started, so results are the same either way. */
    p->chunks = n <= (size_t)p->threads ? n : chunks_for(n, p->threads);
    p->next = 0;
    p->finished = 0;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    drain(p);
    while (p->finished < p->chunks || p->busy > 0)
        pthread_cond_wait(&p->done, &p->mu);
    p->running = 0;
    p->fn = NULL;
    p->arg = NULL;
    pthread_mutex_unlock(&p->mu);
}

void cnn_thread_pool_destroy(cnn_thread_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->workers[i], NULL);
    free(p->workers);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
