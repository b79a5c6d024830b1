/* SPDX-License-Identifier: MIT */
/* 2x2 stride-2 max pooling on AVX-512 (maxpool2x2_avx512.c). */
#ifndef CNN_MAXPOOL2X2_AVX512_H
#define CNN_MAXPOOL2X2_AVX512_H

#include "pool_window.h"

#ifdef __AVX512F__
#define MAXPOOL2X2_AVX512 1
void maxpool2_forward_plane_avx512(const pool_geom *g, const float *x,
                                   float *y);
void maxpool2_backward_plane_avx512(const pool_geom *g, const float *x,
                                    const float *dy, float *dx);
#endif

#endif
