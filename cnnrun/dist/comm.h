/* SPDX-License-Identifier: MIT */
/* The communication a data-parallel job needs, as a struct of function
 * pointers: the trainer, the evaluator and the feature writer call these and
 * nothing else, so another engine (NCCL-like, Gloo-like, a test double) can
 * take MPI's place. comm_mpi.c implements them over Open MPI; without MPI,
 * dist_open gives NULL and every caller runs as one process.
 *
 * Failure model: a collective that cannot complete leaves the ranks in
 * different states, so there is no error return. A broken link aborts the
 * job through MPI's default error handler (MPI_ERRORS_ARE_FATAL), and every
 * wait has a watchdog: no progress for CNNRUN_DIST_TIMEOUT seconds (default
 * 300) prints which rank waited for what and ends the whole job.
 *
 * Ordering: every rank must call the collectives in the same order, as MPI
 * requires; the callers guarantee it by making every call depend only on
 * data all ranks share (the graph, the settings, the batch index). */
#ifndef CNNRUN_DIST_COMM_H
#define CNNRUN_DIST_COMM_H

#include <stddef.h>
#include <stdint.h>

typedef struct dist_comm dist_comm;

struct dist_comm {
    int rank; /* 0 .. size-1; rank 0 speaks and writes files */
    int size;

    /* Starts summing n floats in place over all ranks, without blocking.
     * Every rank ends with the same values: each sum is formed in rank
     * order (x0 + x1 + ... + xN-1), so runs with the same number of ranks
     * are bit-identical. data must stay untouched until sum_wait. */
    void (*sum_start)(dist_comm *c, float *data, size_t n);
    /* Lets started sums advance; cheap, never blocks (call it between
     * layers so communication overlaps computation). */
    void (*progress)(dist_comm *c);
    /* Blocks until every started sum is complete. */
    void (*sum_wait)(dist_comm *c);

    /* Blocking: sums n doubles over all ranks in place, in rank order, so
     * every rank gets the same bits (synchronised batch norm's per-channel
     * statistics: a few kilobytes, between layers). Pending float sums keep
     * advancing meanwhile. Time spent here counts in wait_seconds. */
    void (*sum_doubles)(dist_comm *c, double *values, size_t n);

    /* Blocking: every rank's n bytes at `mine` end up in `all` (size * n
     * bytes, rank after rank) on every rank. */
    void (*allgather)(dist_comm *c, const void *mine, void *all, size_t n);
    /* Blocking: rank r's counts[r] elements of elem_size bytes are
     * concatenated in rank order into `all` on rank 0 (ignored elsewhere).
     * counts is the same array on every rank. Rank 0's own block must
     * already be at its place at the start of `all` (its `mine` is not
     * read). */
    void (*gather)(dist_comm *c, const void *mine, const size_t *counts,
                   size_t elem_size, void *all);

    /* Ends every process of the job with exit_code, now. */
    void (*abort)(dist_comm *c, int exit_code);
    /* Finishes the communication layer (collective: every rank calls it)
     * and frees c. */
    void (*close)(dist_comm *c);

    /* Seconds spent blocked in sum_wait, summed over the run. */
    double wait_seconds;
    void *impl;
};

/* Joins the job when this process was started by a launcher (mpirun,
 * srun): returns the communicator, or NULL when running alone. A launcher
 * with more than one rank and a cnnrun built without MPI is an error
 * (printed, *failed set): every rank would otherwise train alone and write
 * the same files. On ranks other than 0, stdout and stderr are silenced
 * (CNNRUN_DIST_VERBOSE=1 keeps them) so that the job speaks with one
 * voice; dist_say still reaches the real stderr. */
dist_comm *dist_open(const char *command, int *failed);
/* c may be NULL. */
void dist_close(dist_comm *c);

/* 1 when c is a job of several ranks. */
static inline int dist_active(const dist_comm *c)
{
    return c && c->size > 1;
}

/* Prints "cnnrun COMMAND: error: rank R: MESSAGE" to the real stderr of
 * this rank (also on silenced ranks). */
void dist_say(const dist_comm *c, const char *command, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* After a step that may fail on some ranks only (opening files, checking
 * settings): every rank passes its exit code and, when it failed, the
 * message it would print. Returns the job's code (the first non-zero in
 * rank order, else 0) on every rank. Rank 0 prints the failures of other
 * ranks, naming them, unless the message is its own word for word; its own
 * failure it has printed already. */
int dist_agree(dist_comm *c, const char *command, int code,
               const char *message);

#endif
