/* SPDX-License-Identifier: MIT */
/* The worker pool behind env->parallel_for (rules in thread_pool.h).
 *
 * One mutex guards the job; chunks are claimed under it, one at a time, and
 * run outside it. Each thread has a home range of chunks, the same for the
 * same job size: thread t first takes chunks [C t / T, C (t + 1) / T) in
 * order, then takes what is left of the others' ranges, from their ends.
 * So with every thread on time, chunk c runs on the same thread in every
 * layer, and a layer reads the parts of the previous layer's output that
 * its own core wrote: on this machine the two cores share no cache (a
 * cache line takes about 250 ns to cross); LeNet's 2-thread step went from
 * 1.92 to 1.80 ms. A late or preempted thread still costs only what it has
 * not started. Chunks are coarse (a plugin asks for at most one per
 * thread when it wants a per-thread workspace slot), so the lock is taken a
 * handful of times per job. Workers sleep on `wake` and the caller on
 * `done`, but each first polls for a short while (CNN_POOL_SPIN_NS): waking
 * a sleeping thread took 40-60 us here, longer than a LeNet-sized layer
 * (relu over 64x6x28x28 floats: 25 us on one thread took 90 us on two),
 * and a layer's next job usually arrives within microseconds. The poll is
 * bounded so that on a machine shared with other processes an idle worker
 * gives its core back almost at once. */
#include "thread_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/* How long a worker polls for the next job, and the caller for the end of
 * the current one, before sleeping. */
#ifndef CNN_POOL_SPIN_NS
#define CNN_POOL_SPIN_NS 100000L
#endif

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
    struct pool_worker *worker_args;
    unsigned long generation; /* bumped per job */
    /* Lock-free copies for polling: the generation, and the chunks not yet
     * finished of the current job. The mutex-guarded fields stay the
     * truth; these only say when taking the mutex is worth it. */
    atomic_ulong generation_seen;
    atomic_size_t unfinished;
    /* The current job. */
    cnn_range_fn fn;
    void *arg;
    size_t n, chunks, finished;
    size_t *home_next, *home_end; /* per thread: its chunks not yet taken */
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

struct pool_worker {
    cnn_thread_pool *pool;
    int id; /* 1 .. threads - 1; the caller is 0 */
};

/* The next chunk for thread t: its own range first, front to back, then
 * the back of another thread's range. Called with mu held. */
static int claim(cnn_thread_pool *p, int t, size_t *chunk)
{
    if (p->home_next[t] < p->home_end[t]) {
        *chunk = p->home_next[t]++;
        return 1;
    }
    for (int k = 1; k < p->threads; k++) {
        int u = (t + k) % p->threads;
        if (p->home_next[u] < p->home_end[u]) {
            *chunk = --p->home_end[u];
            return 1;
        }
    }
    return 0;
}

/* Claims and runs chunks until none is left; called with mu held and
 * returns with it held. */
static void drain(cnn_thread_pool *p, int t)
{
    size_t c;
    while (claim(p, t, &c)) {
        pthread_mutex_unlock(&p->mu);
        run_chunk(p, c);
        pthread_mutex_lock(&p->mu);
        p->finished++;
        atomic_fetch_sub_explicit(&p->unfinished, 1, memory_order_release);
    }
}

static long elapsed_ns(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Polls, without the mutex, until done(p, arg) or CNN_POOL_SPIN_NS pass. */
static void poll_briefly(cnn_thread_pool *p,
                         int (*done)(cnn_thread_pool *, unsigned long),
                         unsigned long arg)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 1;; i++) {
        if (done(p, arg))
            return;
        cpu_relax();
        if (i % 64 == 0 && elapsed_ns(&t0) > CNN_POOL_SPIN_NS)
            return;
    }
}

static int new_job(cnn_thread_pool *p, unsigned long seen)
{
    return atomic_load_explicit(&p->generation_seen, memory_order_acquire) != seen;
}

static int job_finished(cnn_thread_pool *p, unsigned long unused)
{
    (void)unused;
    return atomic_load_explicit(&p->unfinished, memory_order_acquire) == 0;
}

static void *worker_main(void *arg)
{
    const struct pool_worker *w = arg;
    cnn_thread_pool *p = w->pool;
    unsigned long seen = 0;

    pthread_mutex_lock(&p->mu);
    seen = p->generation;
    for (;;) {
        if (!p->stop && p->generation == seen) {
            pthread_mutex_unlock(&p->mu);
            poll_briefly(p, new_job, seen);
            pthread_mutex_lock(&p->mu);
        }
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->stop)
            break;
        seen = p->generation;
        p->busy++;
        drain(p, w->id);
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
    int have_mu = 0, have_wake = 0;
    if (!p)
        return NULL;
    p->threads = threads < 1 ? 1 : threads;
    p->home_next = calloc((size_t)p->threads, sizeof *p->home_next);
    p->home_end = calloc((size_t)p->threads, sizeof *p->home_end);
    atomic_init(&p->generation_seen, 0);
    atomic_init(&p->unfinished, 0);
    if (!p->home_next || !p->home_end)
        goto fail;
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        goto fail;
    have_mu = 1;
    if (pthread_cond_init(&p->wake, NULL) != 0)
        goto fail;
    have_wake = 1;
    if (pthread_cond_init(&p->done, NULL) != 0)
        goto fail;
    return p;
fail:
    if (have_wake)
        pthread_cond_destroy(&p->wake);
    if (have_mu)
        pthread_mutex_destroy(&p->mu);
    free(p->home_next);
    free(p->home_end);
    free(p);
    return NULL;
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
    p->worker_args = calloc((size_t)want, sizeof *p->worker_args);
    if (!p->workers || !p->worker_args) {
        p->failed = 1;
        return;
    }
    for (int i = 0; i < want; i++) {
        p->worker_args[i].pool = p;
        p->worker_args[i].id = i + 1;
        if (pthread_create(&p->workers[i], NULL, worker_main,
                           &p->worker_args[i]) != 0)
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
    for (int t = 0; t < p->threads; t++) {
        p->home_next[t] = p->chunks * (size_t)t / (size_t)p->threads;
        p->home_end[t] = p->chunks * (size_t)(t + 1) / (size_t)p->threads;
    }
    p->finished = 0;
    atomic_store_explicit(&p->unfinished, p->chunks, memory_order_relaxed);
    p->generation++;
    atomic_store_explicit(&p->generation_seen, p->generation, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    drain(p, 0);
    if (p->finished < p->chunks || p->busy > 0) {
        pthread_mutex_unlock(&p->mu);
        poll_briefly(p, job_finished, 0);
        pthread_mutex_lock(&p->mu);
    }
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
    atomic_fetch_add_explicit(&p->generation_seen, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->workers[i], NULL);
    free(p->workers);
    free(p->worker_args);
    free(p->home_next);
    free(p->home_end);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
