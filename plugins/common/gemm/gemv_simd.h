/* SPDX-License-Identifier: MIT */
/* cnnrun's own matrix-vector kernels behind cnn_sgemv (gemm.h has the
 * contract): one for AVX-512F, one for AVX2 with FMA. */
#ifndef CNN_PLUGIN_GEMV_SIMD_H
#define CNN_PLUGIN_GEMV_SIMD_H

#include <stddef.h>

typedef enum gemv_simd_kind {
    GEMV_SIMD_NONE = 0, /* no kernel for this CPU or build: use OpenBLAS */
    GEMV_SIMD_AVX2 = 1,
    GEMV_SIMD_AVX512 = 2,
} gemv_simd_kind;

/* The widest kernel this build carries and the CPU can run. */
gemv_simd_kind gemv_simd_best(void);

/* y = alpha A x + beta y (A m x k, row-major, row stride lda); beta 0 never
 * reads y. Only call with a kind gemv_simd_best() allows. Each y[i] is the
 * same sum in the same order whatever m is and wherever row i sits in the
 * call, so splitting the rows between threads changes no bit. */
void gemv_simd(gemv_simd_kind kind, size_t m, size_t k, float alpha,
               const float *a, size_t lda, const float *x, float beta,
               float *y);

/* Y = alpha X A^T + beta Y for n vectors at once: y[i][r] = alpha (row r
 * of A) . (row i of X) + beta y[i][r], for i < n (X n x k, row stride ldx;
 * Y n x m, row stride ldy). A dense layer's forward at a small batch: A is
 * read once per 8 vectors, not packed. Each y[i][r] is summed in the same
 * order wherever row r or vector i sits in the call. Returns 0, or -1 when
 * memory for an interleaved copy of X is short (Y untouched). */
int gemv_simd_multi(gemv_simd_kind kind, size_t n, size_t m, size_t k,
                    float alpha, const float *a, size_t lda, const float *x,
                    size_t ldx, float beta, float *y, size_t ldy);

#endif
