/* SPDX-License-Identifier: MIT */
/* Memory budgets checked before allocating: what a graph's parameters, an
 * executor's activations, a batch or a dataset will take is computed first
 * and compared with the machine's physical memory, so a file that asks for
 * terabytes gets a message naming both sizes instead of a failed (or, with
 * overcommit, a deferred and fatal) allocation. */
#ifndef CNN_MEMORY_H
#define CNN_MEMORY_H

#include <stdint.h>

#include "cnn/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The machine's physical memory in bytes (sysconf), or 0 when unknown. */
uint64_t cnn_memory_physical(void);

/* CNN_OK when bytes fit in physical memory (or it is unknown); otherwise
 * CNN_ERR_NOMEM with "<what> needs N bytes (X GB), more than this
 * machine's physical memory of M bytes (Y GB)". */
cnn_status cnn_memory_check(cnn_context *ctx, uint64_t bytes,
                            const char *what);

/* a * b, saturating at UINT64_MAX (which no machine has), for adding up
 * budgets without overflow checks at every step. */
static inline uint64_t cnn_memory_mul(uint64_t a, uint64_t b)
{
    return a != 0 && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}
static inline uint64_t cnn_memory_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

#ifdef __cplusplus
}
#endif
#endif
