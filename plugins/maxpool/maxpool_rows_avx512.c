/* SPDX-License-Identifier: MIT */
/* Window maxima along one row on AVX-512, 16 outputs per step: for each
 * tap b, the 16 values row[j sw + b] come from one unaligned load (stride
 * 1), two loads split by a two-source permute (stride 2: ResNet's and
 * AlexNet's pools) or a gather (other strides), and take the running
 * maximum by maxpool.c's rule. Masked loads and stores handle the row's
 * end, so nothing past the last window's tap is read. */
#include "maxpool_rows_avx512.h"

#ifdef MAXPOOL_ROWS_AVX512

#include <immintrin.h>

#include "maxpool_lanes_avx512.h"

/* src[2 l] for the n <= 16 lanes l < n, reading src[0, 2 n - 1) only. */
static inline __m512 even_lanes(const float *src, int64_t n)
{
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14,
                                        12, 10, 8, 6, 4, 2, 0);
    __m512 lo = _mm512_maskz_loadu_ps(first_lanes(2 * n - 1), src);
    __m512 hi = _mm512_maskz_loadu_ps(first_lanes(2 * n - 17), src + 16);
    return _mm512_permutex2var_ps(lo, ie, hi);
}

void maxpool_row_windows_avx512(const float *row, int64_t ow, int64_t kw,
                                int64_t sw, float *y)
{
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6,
                                          5, 4, 3, 2, 1, 0);
    for (int64_t j = 0; j < ow; j += 16) {
        int64_t n = ow - j < 16 ? ow - j : 16;
        __mmask16 k = first_lanes(n);
        const float *base = row + j * sw;
        __m512 m;
        if (sw == 1) {
            m = _mm512_maskz_loadu_ps(k, base);
            for (int64_t b = 1; b < kw; b++) {
                __m512 v = _mm512_maskz_loadu_ps(k, base + b);
                m = _mm512_mask_blend_ps(takes(v, m), m, v);
            }
        } else if (sw == 2) {
            m = even_lanes(base, n);
            for (int64_t b = 1; b < kw; b++) {
                __m512 v = even_lanes(base + b, n);
                m = _mm512_mask_blend_ps(takes(v, m), m, v);
            }
        } else {
            /* Offsets l sw + b fit int32: a row spans at most
             * MAXPOOL_ROW_MAX floats. */
            __m512i idx = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)sw));
            m = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, idx, base, 4);
            for (int64_t b = 1; b < kw; b++) {
                __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k,
                                                    idx, base + b, 4);
                m = _mm512_mask_blend_ps(takes(v, m), m, v);
            }
        }
        _mm512_mask_storeu_ps(y + j, k, m);
    }
}

void maxpool_col_max_avx512(const float *x, int64_t w, int64_t r0,
                            int64_t r1, int64_t n, float *buf)
{
    for (int64_t b = 0; b < n; b += 16) {
        __mmask16 k = first_lanes(n - b);
        const float *col = x + r0 * w + b;
        __m512 m = _mm512_maskz_loadu_ps(k, col);
        for (int64_t r = r0 + 1; r < r1; r++) {
            col += w;
            __m512 v = _mm512_maskz_loadu_ps(k, col);
            m = _mm512_mask_blend_ps(takes(v, m), m, v);
        }
        _mm512_mask_storeu_ps(buf + b, k, m);
    }
}

#else
/* ISO C wants a translation unit to declare something. */
typedef int maxpool_rows_avx512_unused;
#endif
