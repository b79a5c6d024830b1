/* SPDX-License-Identifier: MIT */
/* Scratch buffers for the GEMM's packed blocks and the batch GEMV's
 * interleaved vectors, kept between calls (pack_shelf.c says why). */
#ifndef CNN_PLUGIN_PACK_SHELF_H
#define CNN_PLUGIN_PACK_SHELF_H

#include <stddef.h>

typedef struct pack_buffer {
    float *floats; /* 64-byte aligned; NULL when memory is short */
    size_t bytes;
} pack_buffer;

/* A buffer of at least `bytes` (a multiple of 64), from the shelf when one
 * is there, else newly allocated. */
pack_buffer pack_take(size_t bytes);

/* Back on the shelf (or freed when the shelf is full). */
void pack_return(pack_buffer b);

#endif
