/* SPDX-License-Identifier: MIT */
/* cnn_sgemm: picks our AVX-512 kernel or OpenBLAS for each product. */
#include "gemm.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gemm_avx512.h"

/* Below this many multiply-adds, or this thin, packing costs more than the
 * kernel saves and OpenBLAS's small-matrix paths win (docs/performance.md,
 * "GEMM", has the measurements). */
#ifndef GEMM_AVX512_MIN_MACS
#define GEMM_AVX512_MIN_MACS ((size_t)1 << 15)
#endif
#define GEMM_AVX512_MIN_DIM 4

/* -1: not yet decided; otherwise the forced cnn_gemm_impl, with the CPU's
 * answer folded in (AVX512 only when the kernel can run). */
static atomic_int forced_impl = -1;
static atomic_int cpu_avx512 = -1;
static atomic_int blas_avx512 = -1;

/* Whether OpenBLAS itself runs AVX-512 kernels in this process: then it is
 * as fast as ours on the shapes we measured, and it stays the default. */
static int openblas_has_avx512(void)
{
    int v = atomic_load_explicit(&blas_avx512, memory_order_relaxed);
    if (v < 0) {
        static const char *const cores[] = {"skylakex", "cooperlake",
                                            "sapphirerapids"};
        const char *name = openblas_get_corename();
        v = 0;
        for (size_t i = 0; name && i < sizeof cores / sizeof *cores; i++)
            if (strcasecmp(name, cores[i]) == 0)
                v = 1;
        atomic_store_explicit(&blas_avx512, v, memory_order_relaxed);
    }
    return v;
}

int cnn_gemm_has_avx512(void)
{
    int v = atomic_load_explicit(&cpu_avx512, memory_order_relaxed);
    if (v < 0) {
        v = gemm_avx512_usable();
        atomic_store_explicit(&cpu_avx512, v, memory_order_relaxed);
    }
    return v;
}

static cnn_gemm_impl forced(void)
{
    int v = atomic_load_explicit(&forced_impl, memory_order_relaxed);
    if (v < 0) {
        const char *s = getenv("CNN_GEMM");
        v = CNN_GEMM_AUTO;
        if (s && strcmp(s, "openblas") == 0)
            v = CNN_GEMM_OPENBLAS;
        else if (s && strcmp(s, "avx512") == 0)
            v = CNN_GEMM_AVX512;
        atomic_store_explicit(&forced_impl, v, memory_order_relaxed);
    }
    return (cnn_gemm_impl)v;
}

/* The implementation asked for (argument, then CNN_GEMM), the CPU and
 * OpenBLAS's own kernels allowing; CNN_GEMM_AUTO: decide by size. */
static cnn_gemm_impl preferred(cnn_gemm_impl impl)
{
    if (impl == CNN_GEMM_AUTO)
        impl = forced();
    if (impl == CNN_GEMM_OPENBLAS || !cnn_gemm_has_avx512())
        return CNN_GEMM_OPENBLAS;
    if (impl == CNN_GEMM_AVX512)
        return CNN_GEMM_AVX512;
    return openblas_has_avx512() ? CNN_GEMM_OPENBLAS : CNN_GEMM_AUTO;
}

static cnn_gemm_impl choose(cnn_gemm_impl impl, size_t m, size_t n, size_t k)
{
    impl = preferred(impl);
    if (impl != CNN_GEMM_AUTO)
        return impl;
    if (m < GEMM_AVX512_MIN_DIM || n < GEMM_AVX512_MIN_DIM ||
        k < GEMM_AVX512_MIN_DIM || m * n * k < GEMM_AVX512_MIN_MACS)
        return CNN_GEMM_OPENBLAS;
    return CNN_GEMM_AVX512;
}

const char *cnn_gemm_name_for(size_t m, size_t n, size_t k)
{
    return choose(CNN_GEMM_AUTO, m, n, k) == CNN_GEMM_AVX512 ? "avx512"
                                                              : "openblas";
}

/* C = beta C over the m x n block (beta 0 writes zeros without reading). */
static void scale_c(size_t m, size_t n, float beta, float *c, size_t ldc)
{
    for (size_t i = 0; i < m; i++) {
        float *row = c + i * ldc;
        if (beta == 0.0f)
            memset(row, 0, n * sizeof *row);
        else if (beta != 1.0f)
            for (size_t j = 0; j < n; j++)
                row[j] *= beta;
    }
}

void cnn_sgemm_with(cnn_gemm_impl impl, int trans_a, int trans_b, size_t m,
                    size_t n, size_t k, float alpha, const float *a,
                    size_t lda, const float *b, size_t ldb, float beta,
                    float *c, size_t ldc)
{
    if (m == 0 || n == 0)
        return;
    if (k == 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        return;
    }
    if (choose(impl, m, n, k) == CNN_GEMM_AVX512 &&
        gemm_avx512(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta,
                    c, ldc) == 0)
        return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
                alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

void cnn_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k,
               float alpha, const float *a, size_t lda, const float *b,
               size_t ldb, float beta, float *c, size_t ldc)
{
    cnn_sgemm_with(CNN_GEMM_AUTO, trans_a, trans_b, m, n, k, alpha, a, lda, b,
                   ldb, beta, c, ldc);
}

/* Below this many elements of A, OpenBLAS's call is as quick. */
#define GEMV_AVX512_MIN_ELEMS ((size_t)1 << 12)

void cnn_sgemv_with(cnn_gemm_impl impl, size_t m, size_t k, float alpha,
                    const float *a, size_t lda, const float *x, float beta,
                    float *y)
{
    if (m == 0)
        return;
    if (k == 0 || alpha == 0.0f) {
        scale_c(m, 1, beta, y, 1);
        return;
    }
    impl = preferred(impl);
    if (impl == CNN_GEMM_AUTO)
        impl = m * k >= GEMV_AVX512_MIN_ELEMS ? CNN_GEMM_AVX512
                                              : CNN_GEMM_OPENBLAS;
    if (impl == CNN_GEMM_AVX512) {
        gemv_avx512(m, k, alpha, a, lda, x, beta, y);
        return;
    }
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)k, alpha, a,
                (int)lda, x, 1, beta, y, 1);
}

void cnn_sgemv(size_t m, size_t k, float alpha, const float *a, size_t lda,
               const float *x, float beta, float *y)
{
    cnn_sgemv_with(CNN_GEMM_AUTO, m, k, alpha, a, lda, x, beta, y);
}
