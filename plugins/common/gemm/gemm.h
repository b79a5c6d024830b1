/* SPDX-License-Identifier: MIT */
/* Single-precision GEMM for the plugins that multiply matrices (conv,
 * dense): C = alpha op(A) op(B) + beta C, row-major, single-threaded (the
 * plugins split work across the host's thread pool themselves).
 *
 * Two implementations sit behind one call:
 *   - an AVX-512 packed GEMM of our own (gemm_avx512.c), and for y = A x
 *     a matrix-vector kernel of our own for AVX-512 or AVX2 (gemv_simd.c);
 *   - OpenBLAS's cblas_sgemm / cblas_sgemv.
 * Why our own kernels at all: docs/performance.md, "GEMM". In short,
 * OpenBLAS picks its kernels once per process, and a machine that pins it
 * to its AVX2 kernels (OPENBLAS_CORETYPE) leaves half of an AVX-512 core
 * idle; and a batch-1 dense layer is a stream of weights that a plain
 * loop with prefetches moves faster.
 *
 * Which one runs is measured, once per shape class and machine
 * (gemm_calib.c; the answers are kept in ~/.cache/cnnrun/gemm-*.txt).
 * Products too small for packing to pay stay on OpenBLAS unmeasured.
 * Environment, read once per process:
 *   CNN_GEMM=openblas | avx512    forces one side (avx512: ours, where the
 *                                 CPU allows; for GEMV, AVX2 is enough);
 *   CNN_GEMM_CALIBRATE=off        no measuring: a fixed rule (OpenBLAS when
 *                                 it runs AVX-512 kernels of its own, else
 *                                 ours above a size); the tests use it, so
 *                                 their results never depend on a timing;
 *   CNN_GEMM_CALIBRATE=reset      empty the file (once per process) and
 *                                 measure again;
 *   CNN_GEMM_CACHE=FILE           the file to use ("" for none). */
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
 * back to OpenBLAS on a CPU without AVX-512F (cnn_sgemv_with: without
 * AVX2 and FMA). For tests and benchmarks. */
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

/* Y[n x m] = alpha X A^T + beta Y for a few vectors: y[i][r] = alpha (row
 * r of A) . (row i of X) + beta y[i][r], X n x k (row stride ldx), Y n x m
 * (row stride ldy). A dense layer's forward at a small batch, bound by
 * reading A: up to 16 vectors and an A of 1 MiB or more go through our
 * kernel, which streams A once per 8 vectors without packing it; more
 * vectors, a smaller A (in cache: bound by arithmetic, where the GEMM does
 * better), CNN_GEMM=openblas or a CPU without AVX2 go to cnn_sgemm
 * (CNN_GEMM=avx512: our kernel at any size). Each y[i][r] is summed in the same
 * order however the rows of A are split between calls. */
void cnn_sgemv_batch(size_t n, size_t m, size_t k, float alpha,
                     const float *a, size_t lda, const float *x, size_t ldx,
                     float beta, float *y, size_t ldy);
void cnn_sgemv_batch_with(cnn_gemm_impl impl, size_t n, size_t m, size_t k,
                          float alpha, const float *a, size_t lda,
                          const float *x, size_t ldx, float beta, float *y,
                          size_t ldy);

/* Whether this process's CPU can run the AVX-512 kernel. */
int cnn_gemm_has_avx512(void);

/* The implementation cnn_sgemm would pick for this shape, untransposed
 * ("avx512" or "openblas"), after CNN_GEMM; for reports. May measure the
 * shape's class, on operands of its own, if no call has yet. */
const char *cnn_gemm_name_for(size_t m, size_t n, size_t k);

#endif
