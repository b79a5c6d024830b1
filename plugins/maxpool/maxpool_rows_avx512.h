/* SPDX-License-Identifier: MIT */
/* The two halves of maxpool.c's separable forward on AVX-512
 * (maxpool_rows_avx512.c). */
#ifndef CNN_MAXPOOL_ROWS_AVX512_H
#define CNN_MAXPOOL_ROWS_AVX512_H

#include <stdint.h>

#ifdef __AVX512F__
#define MAXPOOL_ROWS_AVX512 1
/* y[j] = max over b < kw of row[j sw + b] for j < ow, with maxpool.c's
 * maxpool_takes rule (a later tap wins only when strictly greater, or as
 * the first NaN); reads row[0, (ow - 1) sw + kw) only. */
void maxpool_row_windows_avx512(const float *row, int64_t ow, int64_t kw,
                                int64_t sw, float *y);
/* The vertical half: buf[b] = max over rows r0 <= r < r1 of x[r w + b]
 * for b < n, in row order by the same rule (r1 > r0). */
void maxpool_col_max_avx512(const float *x, int64_t w, int64_t r0,
                            int64_t r1, int64_t n, float *buf);
#endif

#endif
