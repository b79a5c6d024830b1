/* SPDX-License-Identifier: MIT */
/* Single-precision GEMM for the plugins that multiply matrices (conv,
 * dense): C = alpha op(A) op(B) + beta C, row-major, single-threaded (the
 * plugins split work across the host's thread pool themselves).
 *
 * Two implementations sit behind one call:
 *   - an AVX-512 packed GEMM of our own (gemm_avx512.c), used when the CPU
 *     has AVX-512F and the product is large enough to amortise packing;
 *   - cblas_sgemm (OpenBLAS) for everything else.
 * Why our own kernel at all: docs/performance.md, "GEMM". In short, OpenBLAS
 * picks its kernels once per process, and a machine that pins it to its
 * AVX2 kernels (OPENBLAS_CORETYPE) leaves half of an AVX-512 core idle.
 *
 * When OpenBLAS runs AVX-512 kernels itself (it names its core SkylakeX,
 * Cooperlake or Sapphire Rapids), it stays the default: it measured as fast.
 * CNN_GEMM=openblas in the environment forces the OpenBLAS path, and
 * CNN_GEMM=avx512 our kernel wherever the CPU allows it (benchmarks and
 * tests use both); anything else, or unset, picks by shape. */
#ifndef CNN_PLUGIN_GEMM_H
#define CNN_PLUGIN_GEMM_H

#include <stddef.h>

typedef enum cnn_gemm_impl {
    CNN_GEMM_AUTO = 0,
    CNN_GEMM_OPENBLAS = 1,
    CNN_GEMM_AVX512 = 2,
} cnn_gemm_impl;

/* C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C, all row-major.
 * op(A) is A (trans_a 0, A is m x k with row stride lda) or A^T (trans_a 1,
 * A is k x m). Likewise B. beta 0 never reads C, so C may hold garbage or
 * NaN. m, n or k of 0 is allowed (k 0 scales C by beta). */
void cnn_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k,
               float alpha, const float *a, size_t lda, const float *b,
               size_t ldb, float beta, float *c, size_t ldc);

/* The same product through a chosen implementation; CNN_GEMM_AVX512 falls
 * back to OpenBLAS on a CPU without AVX-512F. For tests and benchmarks. */
void cnn_sgemm_with(cnn_gemm_impl impl, int trans_a, int trans_b, size_t m,
                    size_t n, size_t k, float alpha, const float *a,
                    size_t lda, const float *b, size_t ldb, float beta,
                    float *c, size_t ldc);

/* y[m] = alpha A x + beta y, A m x k row-major with row stride lda (a
 * batch-1 dense layer). beta 0 never reads y. Same choice of
 * implementation as cnn_sgemm. */
void cnn_sgemv(size_t m, size_t k, float alpha, const float *a, size_t lda,
               const float *x, float beta, float *y);
void cnn_sgemv_with(cnn_gemm_impl impl, size_t m, size_t k, float alpha,
                    const float *a, size_t lda, const float *x, float beta,
                    float *y);

/* Whether this process's CPU can run the AVX-512 kernel. */
int cnn_gemm_has_avx512(void);

/* The implementation cnn_sgemm would pick for this shape ("avx512" or
 * "openblas"), after CNN_GEMM; for reports. */
const char *cnn_gemm_name_for(size_t m, size_t n, size_t k);

#endif
