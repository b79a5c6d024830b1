/* SPDX-License-Identifier: MIT */
/* Packing buffers (the GEMM's: at most MC x KC + NC x KC floats, 2 MiB
 * each; the batch GEMV's interleaved vectors) are kept between calls in a
 * small shelf, one taken per call in progress, and all freed when the
 * library is unloaded. Allocating one per call cost page faults on every
 * call until the allocator's thresholds settled: the GEMM ran 10x slower
 * than OpenBLAS for its first ten calls, which is what the calibration
 * (gemm_calib.c) would then have measured. Not thread-local storage: a
 * key's destructor would live in a plugin that may be unloaded before the
 * pool's threads end. */
#include "pack_shelf.h"

#include <pthread.h>
#include <stdlib.h>

#define SHELF_SIZE 16

static pthread_mutex_t shelf_lock = PTHREAD_MUTEX_INITIALIZER;
static pack_buffer shelf[SHELF_SIZE];
static size_t shelf_count;

pack_buffer pack_take(size_t bytes)
{
    pack_buffer b = {NULL, 0};
    pthread_mutex_lock(&shelf_lock);
    if (shelf_count)
        b = shelf[--shelf_count];
    pthread_mutex_unlock(&shelf_lock);
    if (b.bytes < bytes) {
        free(b.floats);
        b.floats = aligned_alloc(64, bytes);
        b.bytes = b.floats ? bytes : 0;
    }
    return b;
}

void pack_return(pack_buffer b)
{
    pthread_mutex_lock(&shelf_lock);
    if (shelf_count < SHELF_SIZE) {
        shelf[shelf_count++] = b;
        b.floats = NULL;
    }
    pthread_mutex_unlock(&shelf_lock);
    free(b.floats);
}

/* At unload (dlclose) or exit: nothing kept outlives the library. */
__attribute__((destructor)) static void pack_shelf_free(void)
{
    pthread_mutex_lock(&shelf_lock);
    while (shelf_count)
        free(shelf[--shelf_count].floats);
    pthread_mutex_unlock(&shelf_lock);
}
