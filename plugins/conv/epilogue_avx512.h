/* SPDX-License-Identifier: MIT */
/* The folded followers' map (ABI 1.4) on a vector, for the AVX-512 kernels
 * that apply it as a tile leaves the registers: a vector of one channel
 * (pointwise.c, depthwise_rows.c) or of 16 channels, one per lane
 * (filter_lanes.c). Only for AVX-512 builds. */
#ifndef CNN_CONV_EPILOGUE_AVX512_H
#define CNN_CONV_EPILOGUE_AVX512_H

#include <immintrin.h>
#include <math.h>

#include "cnn/layer.h"

/* One channel's map, broadcast: v s + t, clamped to [lo, hi]. */
typedef struct conv_ep512 {
    const cnn_epilogue *ep; /* NULL: nothing to apply */
    __m512 s, t, lo, hi;
} conv_ep512;

static inline __attribute__((always_inline)) void
conv_ep512_init(conv_ep512 *e, const cnn_epilogue *ep, int64_t channel)
{
    e->ep = ep;
    e->s = _mm512_set1_ps(1.0f);
    e->t = _mm512_setzero_ps();
    e->lo = _mm512_set1_ps(-HUGE_VALF);
    e->hi = _mm512_set1_ps(HUGE_VALF);
    if (!ep)
        return;
    if (ep->affine) {
        e->s = _mm512_set1_ps(ep->scale[channel]);
        e->t = _mm512_set1_ps(ep->shift[channel]);
    }
    e->lo = _mm512_set1_ps(ep->lo);
    e->hi = _mm512_set1_ps(ep->hi);
}

/* The maps of channels [first, first + 16), one per lane; lanes outside
 * `lanes` (past the last channel) get zeros, whose results are dropped. */
static inline __attribute__((always_inline)) void
conv_ep512_init_lanes(conv_ep512 *e, const cnn_epilogue *ep, int64_t first,
                      __mmask16 lanes)
{
    conv_ep512_init(e, ep, 0);
    if (ep && ep->affine) {
        e->s = _mm512_maskz_loadu_ps(lanes, ep->scale + first);
        e->t = _mm512_maskz_loadu_ps(lanes, ep->shift + first);
    }
}

/* As cnn_epilogue_apply: v s + t, then v < lo ? lo : v and v > hi ? hi : v
 * (max and min return their second operand for NaN, as those tests do);
 * no affine step when the map has none, which keeps -0.0. */
static inline __attribute__((always_inline)) __m512
conv_ep512_apply(const conv_ep512 *e, __m512 v)
{
    if (!e->ep)
        return v;
    if (e->ep->affine)
        v = _mm512_fmadd_ps(v, e->s, e->t);
    v = _mm512_max_ps(e->lo, v);
    return _mm512_min_ps(e->hi, v);
}

#endif
