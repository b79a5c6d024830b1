/* SPDX-License-Identifier: MIT */
/* dist_comm over MPI (Open MPI 4.1).
 *
 * The sum is an allreduce built from two non-blocking collectives so that
 * its order of additions is ours, not the library's: MPI_Ialltoallv sends
 * chunk j of every rank's buffer to rank j (reduce-scatter's traffic), rank
 * j adds the N copies of its chunk in rank order, and MPI_Iallgatherv hands
 * every rank every finished chunk. Per rank that moves 2 (N-1)/N of the
 * buffer, as a ring allreduce does, and the result is the same on every
 * rank and in every run with N ranks (MPI_Allreduce promises neither).
 *
 * MPI requires collectives on a communicator to start in the same order
 * everywhere. Sums start in the caller's order (the same on every rank),
 * but a sum's second phase starts when its first completes, which differs
 * between ranks; so the phases run on two duplicates of the world
 * communicator, and second phases start in the order of the sums. The
 * blocking helpers use a third. */
#include <mpi.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm.h"
#include "comm_internal.h"

typedef struct pending_sum {
    float *data;
    size_t n;
    int phase; /* 1: chunks travelling to their owners, 2: results back, 3: done */
    MPI_Request request;
    /* Per rank: its chunk of data (length, offset), and where its copy of
     * our chunk lands in `copies` (length, offset). */
    int *counts, *displs, *copy_counts, *copy_displs;
    float *copies; /* size x this rank's chunk */
    size_t copies_cap;
} pending_sum;

typedef struct mpi_comm {
    MPI_Comm scatter, gather, misc;
    pending_sum *sums;
    size_t n_sums, cap_sums;
    size_t next_phase2; /* first sum whose second phase has not started */
    double timeout;
    double spin; /* seconds a wait polls flat out before it sleeps */
    double *doubles; /* sum_doubles: every rank's values */
    size_t doubles_cap;
} mpi_comm;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static _Noreturn void die(dist_comm *c, const char *message)
{
    dist_say(c, "dist", "%s", message);
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1); /* not reached: MPI_Abort ends the process */
}

/* Tests req until it completes; the watchdog turns a silent peer into an
 * abort naming what we waited for. A wait polls flat out for m->spin
 * seconds (a peer that is computing its last layers arrives within that),
 * then sleeps 50 us between polls: a rank still waiting then is waiting
 * for a peer that lost its core to another process, and may share that
 * core's run queue with it (two ranks on a busy 2-core machine, or
 * --oversubscribe), where spinning would take the very time the peer
 * needs. Open MPI moves messages only inside MPI calls, so the polls go
 * on while sleeping. */
static void wait_request(dist_comm *c, MPI_Request *req, const char *what)
{
    mpi_comm *m = c->impl;
    double start = now(), deadline = start + m->timeout;
    int sleeping = m->spin <= 0;
    unsigned spins = 0;
    for (;;) {
        int done = 0;
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (done)
            return;
        if (sleeping) {
            struct timespec pause = {0, 50000};
            nanosleep(&pause, NULL);
        }
        if (++spins % 64 == 0 || sleeping) {
            double t = now();
            if (!sleeping && t - start > m->spin)
                sleeping = 1;
            if (t > deadline) {
                char text[200];
                snprintf(text, sizeof text,
                         "no progress for %.0f s in %s; another rank has "
                         "stopped or is unreachable (CNNRUN_DIST_TIMEOUT); "
                         "ending the job",
                         m->timeout, what);
                die(c, text);
            }
            /* Oversubscribed ranks (tests, -np > cores) must let the rank
             * they wait for run. */
            if (!sleeping)
                sched_yield();
        }
    }
}

static int to_int(dist_comm *c, size_t n)
{
    if (n > INT_MAX)
        die(c, "a message of more than 2^31 elements");
    return (int)n;
}

static int *int_array(dist_comm *c)
{
    int *a = calloc((size_t)c->size, sizeof *a);
    if (!a)
        die(c, "out of memory for pending sums");
    return a;
}

static pending_sum *new_sum(dist_comm *c)
{
    mpi_comm *m = c->impl;
    pending_sum *s;
    if (m->n_sums == m->cap_sums) {
        size_t cap = m->cap_sums ? 2 * m->cap_sums : 16;
        pending_sum *grown = realloc(m->sums, cap * sizeof *grown);
        if (!grown)
            die(c, "out of memory for pending sums");
        memset(grown + m->cap_sums, 0, (cap - m->cap_sums) * sizeof *grown);
        m->sums = grown;
        m->cap_sums = cap;
    }
    /* Entries are reused step after step, with their arrays. */
    s = &m->sums[m->n_sums++];
    if (!s->counts) {
        s->counts = int_array(c);
        s->displs = int_array(c);
        s->copy_counts = int_array(c);
        s->copy_displs = int_array(c);
    }
    return s;
}

static void mpi_sum_start(dist_comm *c, float *data, size_t n)
{
    mpi_comm *m = c->impl;
    pending_sum *s = new_sum(c);
    size_t size = (size_t)c->size, base = n / size, extra = n % size, off = 0;
    size_t mine;
    for (size_t r = 0; r < size; r++) {
        size_t len = base + (r < extra);
        s->counts[r] = to_int(c, len);
        s->displs[r] = to_int(c, off);
        off += len;
    }
    mine = (size_t)s->counts[c->rank];
    if (mine * size > s->copies_cap || !s->copies) {
        size_t floats = mine * size > 0 ? mine * size : 1;
        float *grown = realloc(s->copies, floats * sizeof(float));
        if (!grown)
            die(c, "out of memory for a gradient bucket");
        s->copies = grown;
        s->copies_cap = mine * size;
    }
    for (size_t r = 0; r < size; r++) {
        s->copy_counts[r] = (int)mine;
        s->copy_displs[r] = to_int(c, r * mine);
    }
    s->data = data;
    s->n = n;
    s->phase = 1;
    MPI_Ialltoallv(data, s->counts, s->displs, MPI_FLOAT, s->copies,
                   s->copy_counts, s->copy_displs, MPI_FLOAT, m->scatter,
                   &s->request);
}

/* Our chunk of s is here from every rank: add the copies in rank order and
 * send the result to everybody. */
static void start_phase2(dist_comm *c, pending_sum *s)
{
    mpi_comm *m = c->impl;
    size_t mine = (size_t)s->counts[c->rank];
    float *out = s->data + s->displs[c->rank];
    memcpy(out, s->copies, mine * sizeof(float));
    for (int r = 1; r < c->size; r++) {
        const float *in = s->copies + (size_t)r * mine;
        for (size_t i = 0; i < mine; i++)
            out[i] += in[i];
    }
    s->phase = 2;
    MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, s->data, s->counts, s->displs,
                    MPI_FLOAT, m->gather, &s->request);
}

static void mpi_progress(dist_comm *c)
{
    mpi_comm *m = c->impl;
    for (size_t i = m->next_phase2; i < m->n_sums; i++) {
        pending_sum *s = &m->sums[i];
        int done = 0;
        MPI_Test(&s->request, &done, MPI_STATUS_IGNORE);
        if (!done)
            break; /* second phases start in the order of the sums */
        start_phase2(c, s);
        m->next_phase2 = i + 1;
    }
    for (size_t i = 0; i < m->next_phase2; i++) {
        pending_sum *s = &m->sums[i];
        int done = 0;
        if (s->phase != 2)
            continue;
        MPI_Test(&s->request, &done, MPI_STATUS_IGNORE);
        if (done)
            s->phase = 3;
    }
}

static void mpi_sum_wait(dist_comm *c)
{
    mpi_comm *m = c->impl;
    double t0 = now();
    for (size_t i = 0; i < m->n_sums; i++) {
        pending_sum *s = &m->sums[i];
        if (s->phase == 1) {
            wait_request(c, &s->request, "a gradient sum (chunks to owners)");
            start_phase2(c, s);
            m->next_phase2 = i + 1;
        }
        if (s->phase == 2) {
            wait_request(c, &s->request, "a gradient sum (results back)");
            s->phase = 3;
        }
    }
    m->n_sums = 0;
    m->next_phase2 = 0;
    c->wait_seconds += now() - t0;
}

/* Small sums: every rank's copy to everybody (N n doubles per rank, fine
 * for per-channel statistics), then added in rank order on each. */
static void mpi_sum_doubles(dist_comm *c, double *values, size_t n)
{
    mpi_comm *m = c->impl;
    size_t size = (size_t)c->size;
    double t0 = now();
    MPI_Request req;
    if (n * size > m->doubles_cap) {
        double *grown = realloc(m->doubles, n * size * sizeof *grown);
        if (!grown)
            die(c, "out of memory for a batch-norm statistics sum");
        m->doubles = grown;
        m->doubles_cap = n * size;
    }
    MPI_Iallgather(values, to_int(c, n), MPI_DOUBLE, m->doubles, to_int(c, n),
                   MPI_DOUBLE, m->misc, &req);
    wait_request(c, &req, "a sum of batch statistics (sync-bn)");
    memcpy(values, m->doubles, n * sizeof *values);
    for (size_t r = 1; r < size; r++) {
        const double *in = m->doubles + r * n;
        for (size_t i = 0; i < n; i++)
            values[i] += in[i];
    }
    c->wait_seconds += now() - t0;
}

static void mpi_allgather(dist_comm *c, const void *mine, void *all, size_t n)
{
    mpi_comm *m = c->impl;
    MPI_Request req;
    MPI_Iallgather(mine, to_int(c, n), MPI_BYTE, all, to_int(c, n), MPI_BYTE,
                   m->misc, &req);
    wait_request(c, &req, "an exchange between ranks (allgather)");
}

static void mpi_gather(dist_comm *c, const void *mine, const size_t *counts,
                       size_t elem_size, void *all)
{
    mpi_comm *m = c->impl;
    MPI_Datatype elem;
    MPI_Request req;
    int *rc = int_array(c), *rd = int_array(c);
    size_t off = 0;
    for (int r = 0; r < c->size; r++) {
        rc[r] = to_int(c, counts[r]);
        rd[r] = to_int(c, off);
        off += counts[r];
    }
    MPI_Type_contiguous(to_int(c, elem_size), MPI_BYTE, &elem);
    MPI_Type_commit(&elem);
    MPI_Igatherv(c->rank == 0 ? MPI_IN_PLACE : mine, rc[c->rank], elem, all, rc, rd,
                 elem, 0, m->misc, &req);
    wait_request(c, &req, "collecting results on rank 0 (gather)");
    MPI_Type_free(&elem);
    free(rc);
    free(rd);
}

static void mpi_abort(dist_comm *c, int exit_code)
{
    (void)c;
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    exit(exit_code);
}

/* Every way out of main finalizes MPI (mpirun reports a rank that exits
 * without it as a failure); dist_close does it earlier when it can. */
static void finalize_at_exit(void)
{
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized && !finalized)
        MPI_Finalize();
}

static void mpi_close(dist_comm *c)
{
    mpi_comm *m = c->impl;
    for (size_t i = 0; i < m->cap_sums; i++) {
        free(m->sums[i].counts);
        free(m->sums[i].displs);
        free(m->sums[i].copy_counts);
        free(m->sums[i].copy_displs);
        free(m->sums[i].copies);
    }
    free(m->sums);
    free(m->doubles);
    MPI_Comm_free(&m->scatter);
    MPI_Comm_free(&m->gather);
    MPI_Comm_free(&m->misc);
    free(m);
    free(c);
    MPI_Finalize();
}

/* How many ranks share this machine (its shared-memory domain). */
static int ranks_on_this_node(void)
{
    MPI_Comm node;
    int n = 0;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0,
                            MPI_INFO_NULL, &node) != MPI_SUCCESS)
        return 0;
    MPI_Comm_size(node, &n);
    MPI_Comm_free(&node);
    return n;
}

dist_comm *dist_open(const char *command, int *failed)
{
    int launched = dist_launcher_size() > 0, provided;
    dist_comm *c;
    mpi_comm *m;
    *failed = 0;
    if (!launched)
        return NULL;
    /* Only this thread calls MPI; the loader and the thread pool never do. */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "cnnrun %s: error: MPI_Init failed\n", command);
        *failed = 1;
        return NULL;
    }
    c = calloc(1, sizeof *c);
    m = calloc(1, sizeof *m);
    if (!c || !m) {
        fprintf(stderr, "cnnrun %s: error: out of memory\n", command);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    MPI_Comm_dup(MPI_COMM_WORLD, &m->scatter);
    MPI_Comm_dup(MPI_COMM_WORLD, &m->gather);
    MPI_Comm_dup(MPI_COMM_WORLD, &m->misc);
    atexit(finalize_at_exit);
    m->timeout = dist_timeout_seconds();
    m->spin = dist_spin_seconds(ranks_on_this_node());
    c->impl = m;
    c->sum_start = mpi_sum_start;
    c->progress = mpi_progress;
    c->sum_wait = mpi_sum_wait;
    c->sum_doubles = mpi_sum_doubles;
    c->allgather = mpi_allgather;
    c->gather = mpi_gather;
    c->abort = mpi_abort;
    c->close = mpi_close;
    dist_silence_others(c);
    return c;
}
