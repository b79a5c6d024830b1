/* SPDX-License-Identifier: MIT */
/* 2x2 windows, stride 2, no padding, on AVX-512: the same selections as
 * maxpool.c's portable path (window order a b / c d, a later element takes
 * the maximum only when strictly greater or the first NaN), 16 outputs per
 * step. Masked loads and stores handle a row's end in the same step, which
 * matters on small planes: LeNet's rows are 14 and 5 outputs wide, and the
 * portable path copies every such row end through a buffer. Each output row
 * reads two input rows; a and b (and c and d) are the even and odd columns,
 * split by one two-source permute. */
#include "maxpool2x2_avx512.h"

#ifdef MAXPOOL2X2_AVX512

#include <immintrin.h>

#include "maxpool_lanes_avx512.h"
#include <stdint.h>

/* Even and odd elements of the 2n floats at src (n <= 16). */
static inline void split_pairs(const float *src, int64_t n, __m512 *even,
                               __m512 *odd)
{
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14,
                                        12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15,
                                        13, 11, 9, 7, 5, 3, 1);
    __m512 lo = _mm512_maskz_loadu_ps(first_lanes(2 * n), src);
    __m512 hi = _mm512_maskz_loadu_ps(first_lanes(2 * n - 16), src + 16);
    *even = _mm512_permutex2var_ps(lo, ie, hi);
    *odd = _mm512_permutex2var_ps(lo, io, hi);
}

/* Stores even and odd lanes interleaved as 2n floats at dst. */
static inline void store_pairs(float *dst, int64_t n, __m512 even, __m512 odd)
{
    const __m512i il = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3,
                                        18, 2, 17, 1, 16, 0);
    const __m512i ih = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27,
                                        11, 26, 10, 25, 9, 24, 8);
    _mm512_mask_storeu_ps(dst, first_lanes(2 * n),
                          _mm512_permutex2var_ps(even, il, odd));
    _mm512_mask_storeu_ps(dst + 16, first_lanes(2 * n - 16),
                          _mm512_permutex2var_ps(even, ih, odd));
}

void maxpool2_forward_plane_avx512(const cnn_pool_geom *g, const float *x,
                                   float *y)
{
    const size_t w = (size_t)g->w, ow = (size_t)g->ow;

    for (int64_t i = 0; i < g->oh; i++) {
        const float *r0 = x + (size_t)(2 * i) * w, *r1 = r0 + w;
        float *yo = y + (size_t)i * ow;
        for (size_t j = 0; j < ow; j += 16) {
            int64_t n = (int64_t)(ow - j < 16 ? ow - j : 16);
            __m512 a, b, c, d, m;
            split_pairs(r0 + 2 * j, n, &a, &b);
            split_pairs(r1 + 2 * j, n, &c, &d);
            m = _mm512_mask_blend_ps(takes(b, a), a, b);
            m = _mm512_mask_blend_ps(takes(c, m), m, c);
            m = _mm512_mask_blend_ps(takes(d, m), m, d);
            _mm512_mask_storeu_ps(yo + j, first_lanes(n), m);
        }
    }
}

void maxpool2_backward_plane_avx512(const cnn_pool_geom *g, const float *x,
                                    const float *dy, float *dx)
{
    const size_t w = (size_t)g->w, ow = (size_t)g->ow;

    for (int64_t i = 0; i < g->oh; i++) {
        const float *r0 = x + (size_t)(2 * i) * w, *r1 = r0 + w;
        float *d0 = dx + (size_t)(2 * i) * w, *d1 = d0 + w;
        const float *dyo = dy + (size_t)i * ow;
        for (size_t j = 0; j < ow; j += 16) {
            int64_t n = (int64_t)(ow - j < 16 ? ow - j : 16);
            __m512 a, b, c, d, m, gr;
            __mmask16 tb, tc, td;
            split_pairs(r0 + 2 * j, n, &a, &b);
            split_pairs(r1 + 2 * j, n, &c, &d);
            gr = _mm512_maskz_loadu_ps(first_lanes(n), dyo + j);
            tb = takes(b, a);
            m = _mm512_mask_blend_ps(tb, a, b);
            tc = takes(c, m);
            m = _mm512_mask_blend_ps(tc, m, c);
            td = takes(d, m);
            /* The last window element that took the maximum wins. */
            store_pairs(d0 + 2 * j, n,
                        _mm512_maskz_mov_ps((__mmask16)~(tb | tc | td), gr),
                        _mm512_maskz_mov_ps(tb & (__mmask16)~(tc | td), gr));
            store_pairs(d1 + 2 * j, n,
                        _mm512_maskz_mov_ps(tc & (__mmask16)~td, gr),
                        _mm512_maskz_mov_ps(td, gr));
        }
    }
    maxpool2_zero_unreached(g, dx);
}

#else
/* ISO C wants a translation unit to declare something. */
typedef int maxpool2x2_avx512_unused;
#endif
