/* SPDX-License-Identifier: MIT */
/* What conv.c shares with its three algorithms: im2col + GEMM
 * (conv_gemm.c), direct convolution for small layers (direct.c) and
 * Winograd F(2x2, 3x3) (winograd.c, winograd_dw.c).
 *
 * Each splits a call into independent pieces (images, bands of output
 * rows, blocks of tile rows) and hands contiguous runs of them to "slots":
 * one slot per thread of env->threads at most, each with its own part of
 * the single workspace. The slots go through env->parallel_for with n = slots <=
 * env->threads, so every range it passes holds one slot (layer.h); a host
 * that passes longer ranges just runs those slots one after the other. BLAS
 * runs single-threaded inside a slot (the host's threading rule). */
#ifndef CNN_PLUGIN_CONV_IMPL_H
#define CNN_PLUGIN_CONV_IMPL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cnn/layer.h"
#include "im2col.h"

/* Below this many multiply-adds a call runs in one slot: waking a thread
 * costs more than it saves. Small enough that the conformance tests'
 * "threaded" configurations still take several slots. */
#ifndef CONV_PAR_MIN_MACS
#define CONV_PAR_MIN_MACS ((uint64_t)1 << 16)
#endif

/* Work items the slots take one at a time, so that a thread the OS
 * preempts (the machine is shared) holds up one item rather than a share
 * fixed in advance. Only for passes whose items are independent: an item's
 * result is then the same whichever slot computes it. Sums across items
 * (dw) keep a fixed split, for determinism. */
typedef struct conv_queue {
    atomic_size_t next;
    size_t n;
} conv_queue;

static inline void conv_queue_init(conv_queue *q, size_t n)
{
    atomic_init(&q->next, 0);
    q->n = n;
}

/* The next item in *item, or 0 when none is left. */
static inline int conv_queue_take(conv_queue *q, size_t *item)
{
    size_t i = atomic_fetch_add_explicit(&q->next, 1, memory_order_relaxed);
    if (i >= q->n)
        return 0;
    *item = i;
    return 1;
}

/* One forward or backward call. */
typedef struct conv_run {
    conv_geom g;
    int64_t n, k, ckk, ohw;
    const float *x, *w, *b; /* b NULL without bias */
    float *y;               /* forward */
    const float *dy;        /* backward */
    float *dx, *dw, *db;    /* backward; NULL when not wanted */
    const cnn_layer_env *env;
    const char *name; /* the layer's, for messages */

    /* Set by the algorithm for its passes. */
    size_t slots;
    size_t slot_floats; /* workspace per slot */
    float *ws;
    int64_t rows, bands; /* im2col: output rows per band, bands per image */
    conv_queue queue;    /* im2col forward: tiles (image, band) */
} conv_run;

/* Slots for `items` independent pieces of work of `macs` multiply-adds in
 * all: min(threads, items), or 1 when the work is small or there is no
 * parallel_for. */
size_t conv_slots(const conv_run *r, size_t items, uint64_t macs);

/* Runs fn over slots [0, r->slots): through parallel_for when there are
 * several. */
void conv_run_slots(conv_run *r, cnn_range_fn fn);

/* dw = dw + the r->slots - 1 partial sums (K * CKK floats each) that
 * follow the slots' column matrices in the workspace, in slot order:
 * deterministic for a given thread count. */
void conv_reduce_dw(conv_run *r);

/* db[k] = sum of dy over images and pixels, in parallel over k. */
void conv_bias_grad(conv_run *r);

/* im2col + GEMM, any geometry. */
cnn_status conv_gemm_forward(conv_run *r, cnn_errbuf *err);
cnn_status conv_gemm_backward(conv_run *r, cnn_errbuf *err);

/* Direct convolution for stride 1 and few filters (LeNet's layers):
 * forward, and backward for dx and dw together (db is the caller's). */
int conv_direct_applies(const conv_run *r);
/* Whether dx goes the direct way too: it convolves the padded dy, a grid
 * (kw - 1) / W wider than the image, and with little padding (LeNet's
 * second layer) that is 2.5 times the work of col2im(W^T dY). */
int conv_direct_dx_applies(const conv_run *r);
/* Whether dw goes the direct way (the rest of the grid argument). */
int conv_direct_dw_applies(const conv_run *r);
cnn_status conv_direct_forward(conv_run *r, cnn_errbuf *err);
cnn_status conv_direct_backward(conv_run *r, cnn_errbuf *err);

/* Winograd F(2x2, 3x3): 3x3 kernels with stride 1, where it pays (the
 * same rule for forward, dx and dw). */
int conv_wino_applies(const conv_run *r);
cnn_status conv_wino_forward(conv_run *r, cnn_errbuf *err);
/* dx only (the full correlation of dy with the rotated filters is again a
 * 3x3 stride-1 convolution). */
cnn_status conv_wino_backward_dx(conv_run *r, cnn_errbuf *err);
/* dw only (winograd_dw.c). */
cnn_status conv_wino_backward_dw(conv_run *r, cnn_errbuf *err);

#endif
