/* SPDX-License-Identifier: MIT */
/* 2x2 stride-2 max pooling on AVX-512 (maxpool2x2_avx512.c). */
#ifndef CNN_MAXPOOL2X2_AVX512_H
#define CNN_MAXPOOL2X2_AVX512_H

#include <string.h>

#include "cnn/pool_window.h"

/* Zeroes the dx elements no 2x2 stride-2 window reaches (floor mode: the
 * last column and row of an odd-sized input); both 2x2 backward paths
 * write every other element themselves. */
static inline void maxpool2_zero_unreached(const cnn_pool_geom *g, float *dx)
{
    const size_t w = (size_t)g->w, ow = (size_t)g->ow;
    if (w > 2 * ow)
        for (int64_t r = 0; r < 2 * g->oh; r++)
            memset(dx + (size_t)r * w + 2 * ow, 0,
                   (w - 2 * ow) * sizeof *dx);
    if (g->h > 2 * g->oh)
        memset(dx + (size_t)(2 * g->oh) * w, 0,
               (size_t)(g->h - 2 * g->oh) * w * sizeof *dx);
}

#ifdef __AVX512F__
#define MAXPOOL2X2_AVX512 1
void maxpool2_forward_plane_avx512(const cnn_pool_geom *g, const float *x,
                                   float *y);
void maxpool2_backward_plane_avx512(const cnn_pool_geom *g, const float *x,
                                    const float *dy, float *dx);
#endif

#endif
