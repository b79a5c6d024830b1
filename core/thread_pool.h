/* SPDX-License-Identifier: MIT */
/* The process's one pool of worker threads, behind env->parallel_for.
 *
 * Threading rule (see docs/performance.md): with a budget of T threads the
 * pool owns them all: the calling thread plus T - 1 workers that sleep on a
 * condition variable between jobs (they never spin), and OpenBLAS is kept at
 * one thread, so a plugin that calls sgemm inside a parallel_for range runs
 * it on that pool thread. Plugins split large GEMMs across the pool
 * themselves. OpenBLAS's own threads are therefore never woken, and the two
 * never compete for the cores.
 *
 * A job [0, n) is cut into k contiguous chunks with fixed boundaries
 * (chunk c is [n c / k, n (c + 1) / k)): k = n when n <= T, so every call of
 * fn gets exactly one index, and k = min(n, 4 T) otherwise. Threads take
 * chunks one at a time (the caller too, so a worker that wakes late costs
 * nothing, and one the OS preempts holds up a single chunk). Which thread
 * runs a chunk is not fixed, but the chunks are, so results do not depend
 * on scheduling. */
#ifndef CNN_CORE_THREAD_POOL_H
#define CNN_CORE_THREAD_POOL_H

#include <stddef.h>

#include "cnn/context.h"
#include "cnn/layer.h"

typedef struct cnn_thread_pool cnn_thread_pool;

/* A pool for `threads` threads in all (the caller counts as one). No
 * thread starts until the first job. NULL when out of memory. */
cnn_thread_pool *cnn_thread_pool_create(int threads);
/* Stops and joins the workers. NULL is allowed. */
void cnn_thread_pool_destroy(cnn_thread_pool *pool);
int cnn_thread_pool_threads(const cnn_thread_pool *pool);

/* Runs fn over [0, n) as described above and returns when every chunk is
 * done. Runs fn(arg, 0, n) on the calling thread when pool is NULL, has one
 * thread, could not start its workers, is already running a job (a nested
 * call from inside fn, or a second host thread), or n < 2. */
void cnn_thread_pool_run(cnn_thread_pool *pool, size_t n, cnn_range_fn fn,
                         void *arg);

/* The context's pool, created at the first call with the context's thread
 * count (recreated when cnn_context_set_threads changed it); NULL when the
 * count is 1 or memory is short, which makes parallel_for serial. Owned by
 * the context (core/context.c). */
cnn_thread_pool *cnn_context_thread_pool(cnn_context *ctx);

#endif
