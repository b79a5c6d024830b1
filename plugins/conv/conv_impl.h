/* SPDX-License-Identifier: MIT */
/* What conv.c shares with its algorithms: im2col + GEMM (conv_gemm.c, any
 * geometry, groups one GEMM each), direct convolution for small layers
 * (direct.c), Winograd F(2x2, 3x3) (winograd.c, winograd_dw.c) and, at
 * inference, F(4x4, 3x3) and F(2x2, 5x5) (winograd6.c), and the
 * depthwise kernels (depthwise.c).
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
#include <string.h>

#include "cnn/layer.h"
#include "im2col.h"

/* Below this many multiply-adds a call runs in one slot: waking a thread
 * costs more than it saves. Small enough that the conformance tests'
 * "threaded" configurations still take several slots. */
#ifndef CONV_PAR_MIN_MACS
#define CONV_PAR_MIN_MACS ((uint64_t)1 << 16)
#endif

/* Work items the slots take one at a time, so that a thread the OS
 * preempts (the machine may be shared) holds up one item rather than a
 * share fixed in advance. Slot s owns items [n s / S, n (s + 1) / S) and
 * takes them first, in order, then helps with the others' ranges: with
 * every thread on time, each slot computes the same images as the layers
 * before and after it (the thread pool keeps slot s on the same thread),
 * so each core reads what it wrote. Only for passes whose items are
 * independent: an item's result is the same whichever slot computes it.
 * Sums across items (dw) keep a fixed split, for determinism. */
#define CONV_QUEUE_PARTS 64

/* One counter per cache line: the slots take items concurrently, and a
 * line shared by two counters would cross between the cores at every
 * take. */
typedef struct conv_queue_part {
    _Alignas(64) atomic_size_t next;
} conv_queue_part;

typedef struct conv_queue {
    conv_queue_part part[CONV_QUEUE_PARTS];
    size_t n, parts;
} conv_queue;

static inline size_t conv_queue_end(const conv_queue *q, size_t part)
{
    return q->n * (part + 1) / q->parts;
}

static inline void conv_queue_init(conv_queue *q, size_t n, size_t slots)
{
    q->n = n;
    q->parts = slots < 1 ? 1 : slots > CONV_QUEUE_PARTS ? CONV_QUEUE_PARTS
                                                        : slots;
    for (size_t p = 0; p < CONV_QUEUE_PARTS; p++)
        atomic_init(&q->part[p].next, p < q->parts ? n * p / q->parts : 0);
}

/* The next item for slot `slot` in *item, or 0 when none is left. */
static inline int conv_queue_take(conv_queue *q, size_t slot, size_t *item)
{
    for (size_t k = 0; k < q->parts; k++) {
        size_t part = (slot + k) % q->parts;
        size_t i = atomic_fetch_add_explicit(&q->part[part].next, 1,
                                             memory_order_relaxed);
        if (i < conv_queue_end(q, part)) {
            *item = i;
            return 1;
        }
    }
    return 0;
}

/* One forward or backward call. g.c is the channels of one group; the
 * weight is [k, g.c, kh, kw] = k rows of ckk. */
typedef struct conv_run {
    conv_geom g;
    int64_t n, k, ckk, ohw;
    int64_t groups; /* 1, or groups of g.c input and kg output channels */
    int64_t cin;    /* input channels of the image: groups * g.c */
    int64_t kg;     /* filters per group: k / groups */
    const float *x, *w, *b; /* b NULL without bias */
    float *y;               /* forward */
    const float *dy;        /* backward */
    float *dx, *dw, *db;    /* backward; NULL when not wanted */
    const cnn_layer_env *env;
    const char *name; /* the layer's, for messages */
    /* Forward at inference: batch norm, relu and the like folded in (ABI
     * 1.4), or NULL. An algorithm that applies it to each tile as it is
     * written sets epilogue_done; conv_forward applies the rest after. */
    const cnn_epilogue *ep;
    int epilogue_done;

    /* Set by the algorithm for its passes. */
    size_t slots;
    size_t slot_floats; /* workspace per slot */
    float *ws;
    int64_t rows, bands; /* im2col: output rows per band, bands per image */
    conv_queue queue;    /* im2col forward: tiles (image, band) */
    int pw_band;         /* im2col forward: products through pointwise.c */
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

/* Applies r->ep to output rows [p0, p0 + cols) of channels [k0, k1) of
 * one image's output y_img (the same rows of each channel plane). */
static inline void conv_epilogue_rows(const conv_run *r, float *y_img,
                                      int64_t k0, int64_t k1, size_t p0,
                                      size_t cols)
{
    for (int64_t k = k0; k < k1; k++)
        cnn_epilogue_apply(r->ep, k, y_img + (size_t)k * (size_t)r->ohw + p0,
                           cols);
}

/* Image img of r->x, zero-padded into dst (img_floats floats): channel c
 * at dst + c chan, input row y at row y + ph of width wpd, from column pw
 * (filter_lanes.c and stem.c pad their images so before the sums). */
static inline void conv_pad_image(const conv_run *r, size_t img, float *dst,
                                  size_t img_floats, size_t chan, int64_t wpd)
{
    const conv_geom *g = &r->g;
    const size_t hw = (size_t)(g->h * g->w);
    const float *src = r->x + img * (size_t)r->cin * hw;
    memset(dst, 0, img_floats * sizeof *dst);
    for (int64_t c = 0; c < r->cin; c++)
        for (int64_t y = 0; y < g->h; y++)
            memcpy(dst + (size_t)c * chan + (size_t)(y + g->ph) * (size_t)wpd +
                       (size_t)g->pw,
                   src + (size_t)c * hw + (size_t)y * (size_t)g->w,
                   (size_t)g->w * sizeof *dst);
}

/* Applies r->ep to the whole output, in parallel over its planes. */
void conv_epilogue_all(conv_run *r);

/* Groups 1, no dilation, the same padding on both sides of each axis: the
 * geometry the direct and Winograd kernels were written for. */
static inline int conv_is_plain(const conv_run *r)
{
    const conv_geom *g = &r->g;
    return r->groups == 1 && g->dh == 1 && g->dw == 1 && g->ph == g->pb &&
           g->pw == g->pr;
}

/* Depthwise: one input channel per group (groups == C > 1), any kernel,
 * stride, dilation and padding, any channel multiplier kg
 * (depthwise.c). */
/* Depthwise 3x3 and 5x5 forward, stride 1 on outputs 56 or more wide or
 * stride 2 on outputs 14 or more wide, from NCHW with masked loads
 * (depthwise_rows.c; AVX-512 builds, else never applies). */
int conv_dwr_applies(const conv_run *r);
cnn_status conv_dwr_forward(conv_run *r, cnn_errbuf *err);

int conv_dw_applies(const conv_run *r);
cnn_status conv_dw_forward(conv_run *r, cnn_errbuf *err);
/* dx and dw, either or both, and db with dw (in the same pass over dy). */
cnn_status conv_dw_backward(conv_run *r, cnn_errbuf *err);

/* Depthwise with multiplier 1, stride-1 planes up to 56x56 and strided
 * ones of any size, 16 channels per vector (depthwise_blocked.c): forward and dw
 * (with db). Applies only where built with AVX-512; conv_dw_forward and
 * conv_dw_backward hand such calls over. */
int conv_dwb_applies(const conv_run *r);
/* ... and dx too (stride 1, padding within the kernel's reach). */
int conv_dwb_dx_applies(const conv_run *r);
#if defined(__GNUC__) && defined(__AVX512F__)
#define CONV_DWB 1
cnn_status conv_dwb_forward(conv_run *r, cnn_errbuf *err);
cnn_status conv_dwb_backward_dw(conv_run *r, cnn_errbuf *err);
cnn_status conv_dwb_backward_dx(conv_run *r, cnn_errbuf *err);
#endif

/* im2col + GEMM, any geometry and groups. */
/* The forward algorithms that take any filters of a layer of one group
 * (conv.c), in the order they are tried; the filter-lanes kernel, which
 * keeps repacked filters, is tried before them. wino_filters: the
 * transformed filters if kept, else NULL (Winograd makes them). */
typedef enum conv_algorithm {
    CONV_ALG_POINTWISE,
    CONV_ALG_DIRECT,
    CONV_ALG_DEEP,
    CONV_ALG_WINOGRAD,
    CONV_ALG_GEMM
} conv_algorithm;
conv_algorithm conv_pick_ungrouped(const conv_run *r);
cnn_status conv_forward_ungrouped(conv_run *r, const float *wino_filters,
                                  cnn_errbuf *err);
/* The algorithm one group of a grouped layer would take as a layer of its
 * own (grouped.c). */
conv_algorithm conv_group_algorithm(const conv_run *r);
int conv_grouped_applies(const conv_run *r);
cnn_status conv_grouped_forward(conv_run *r, cnn_errbuf *err);

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

/* Direct convolution for small, deep stride-1 layers (ResNet's 3x3
 * layers at 14x14 and 7x7; direct_deep.c): forward only, AVX-512 builds
 * only. */
int conv_deep_applies(const conv_run *r);
cnn_status conv_deep_forward(conv_run *r, cnn_errbuf *err);

/* Direct convolution with the lanes over filters (filter_lanes.c):
 * forward only, AVX-512 builds only, with the filters repacked by
 * conv_fl_pack into conv_fl_packed_floats floats; conv.c keeps that copy
 * while the host's params_token (ABI 1.5) stays the same. */
int conv_fl_applies(const conv_run *r);
size_t conv_fl_packed_floats(const conv_run *r);
void conv_fl_pack(const conv_run *r, float *dst);
cnn_status conv_fl_forward(conv_run *r, const float *packed, cnn_errbuf *err);

/* 3x3 stride-2 stems of at most 4 input channels, forward with bias and
 * epilogue in the store (stem.c; AVX-512 builds, else never applies). */
int conv_stem_applies(const conv_run *r);
cnn_status conv_stem_forward(conv_run *r, cnn_errbuf *err);

/* Pointwise (1x1) forward with bias and epilogue in the tile's store
 * (pointwise.c; AVX-512 builds, else never applies). */
int conv_pw_applies(const conv_run *r);
cnn_status conv_pw_forward(conv_run *r, cnn_errbuf *err);
/* The same with the filters packed by conv_pw_pack into
 * conv_pw_packed_floats floats (conv.c keeps them under a params token),
 * or NULL for W's rows. */
size_t conv_pw_packed_floats(const conv_run *r);
void conv_pw_pack(const conv_run *r, float *dst);
cnn_status conv_pw_forward_with(conv_run *r, const float *packed,
                                cnn_errbuf *err);
/* 1x1 with a stride, no padding, over 64 output pixels, where the
 * pointwise kernel takes the gathered image (pointwise_strided.c). */
int conv_pws_applies(const conv_run *r);
cnn_status conv_pws_forward(conv_run *r, cnn_errbuf *err);
/* Its tiles for another product with the layer's filters, bias and
 * epilogue: Y[kb0:kb1, p0:p1] = W X + b, then the epilogue, with X
 * [c_count, *] (row stride ldx) and Y (row stride ldy) pointing at column
 * 0. conv_pw_band_applies: whether the im2col path should call it on its
 * column matrix (W small; never without AVX-512). */
int conv_pw_band_applies(const conv_run *r);
void conv_pw_columns(const conv_run *r, const float *x, size_t ldx,
                     size_t c_count, float *y, size_t ldy, size_t p0,
                     size_t p1, int64_t kb0, int64_t kb1);

/* Winograd F(2x2, 3x3): 3x3 kernels with stride 1, where it pays (the
 * same rule for forward, dx and dw). */
int conv_wino_applies(const conv_run *r);
/* Forward; with `filters` (conv_wino_filters' output, of
 * conv_wino_filters_floats floats, which conv.c keeps while the host's
 * params_token, ABI 1.5, stays the same) instead of transforming the
 * filters again, else NULL. */
size_t conv_wino_filters_floats(const conv_run *r);
void conv_wino_filters(const conv_run *r, float *dst);
cnn_status conv_wino_forward_with(conv_run *r, const float *filters,
                                  cnn_errbuf *err);
/* dx only (the full correlation of dy with the rotated filters is again a
 * 3x3 stride-1 convolution). */
cnn_status conv_wino_backward_dx(conv_run *r, cnn_errbuf *err);
/* Winograd on 6x6 tiles, forward at inference (winograd6.c): F(4x4, 3x3)
 * where the Winograd row applies, F(2x2, 5x5) for 5x5 stride-1 layers with
 * as many channels and pixels, both where the tiles waste at most a fifth
 * of their area; `filters` are conv_wino6_filters' (kept by conv.c). */
int conv_wino6_applies(const conv_run *r);
size_t conv_wino6_filters_floats(const conv_run *r);
void conv_wino6_filters(const conv_run *r, float *dst);
cnn_status conv_wino6_forward(conv_run *r, const float *filters,
                              cnn_errbuf *err);
/* dw only (winograd_dw.c). */
cnn_status conv_wino_backward_dw(conv_run *r, cnn_errbuf *err);

#endif
