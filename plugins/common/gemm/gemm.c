/* SPDX-License-Identifier: MIT */
/* cnn_sgemm and cnn_sgemv: pick our kernel or OpenBLAS for each product
 * (forced by CNN_GEMM, else measured by gemm_calib.c, else the fixed rule
 * below when CNN_GEMM_CALIBRATE=off), then run it. */
#include "gemm.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gemm_avx512.h"
#include "gemm_calib.h"
#include "gemv_simd.h"

/* Below this many multiply-adds, or this thin, packing costs more than the
 * kernel saves and OpenBLAS's small-matrix paths win (docs/performance.md,
 * "GEMM", has the measurements). */
#ifndef GEMM_AVX512_MIN_MACS
#define GEMM_AVX512_MIN_MACS ((size_t)1 << 15)
#endif
#define GEMM_AVX512_MIN_DIM 4

/* -1 until known: CNN_GEMM's cnn_gemm_impl, the CPU's AVX-512, and
 * whether OpenBLAS runs AVX-512 kernels. */
static atomic_int forced_impl = -1;
static atomic_int cpu_avx512 = -1;
static atomic_int blas_avx512 = -1;

/* Whether OpenBLAS itself runs AVX-512 kernels in this process (by its
 * core's name): the fixed rule then keeps it. */
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

/* The implementation asked for (argument, then CNN_GEMM), the CPU
 * allowing; CNN_GEMM_AUTO: decide by shape. */
static cnn_gemm_impl preferred(cnn_gemm_impl impl)
{
    if (impl == CNN_GEMM_AUTO)
        impl = forced();
    if (impl == CNN_GEMM_OPENBLAS || !cnn_gemm_has_avx512())
        return CNN_GEMM_OPENBLAS;
    return impl;
}

/* The fixed rule, used with CNN_GEMM_CALIBRATE=off (the tests' setting,
 * for results that do not depend on a measurement) or when a measurement
 * could not be made: OpenBLAS when it runs AVX-512 kernels of its own,
 * else ours above a size. */
static cnn_gemm_impl fixed_rule(size_t m, size_t n, size_t k)
{
    if (openblas_has_avx512())
        return CNN_GEMM_OPENBLAS;
    return m * n * k >= GEMM_AVX512_MIN_MACS ? CNN_GEMM_AVX512
                                             : CNN_GEMM_OPENBLAS;
}

/* Runs impl on p into c with beta 0: the calibration's trials. */
static void run_trial(cnn_gemm_impl impl, const gemm_problem *p, float *c,
                      size_t ldc)
{
    if (p->gemv) {
        if (impl == CNN_GEMM_AVX512)
            gemv_simd(gemv_simd_best(), p->m, p->k, 1.0f, p->a, p->lda, p->b,
                      0.0f, c);
        else
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)p->m, (int)p->k,
                        1.0f, p->a, (int)p->lda, p->b, 1, 0.0f, c, 1);
        return;
    }
    if (impl == CNN_GEMM_AVX512 &&
        gemm_avx512(p->trans_a, p->trans_b, p->m, p->n, p->k, 1.0f, p->a,
                    p->lda, p->b, p->ldb, 0.0f, c, ldc) == 0)
        return;
    cblas_sgemm(CblasRowMajor, p->trans_a ? CblasTrans : CblasNoTrans,
                p->trans_b ? CblasTrans : CblasNoTrans, (int)p->m, (int)p->n,
                (int)p->k, 1.0f, p->a, (int)p->lda, p->b, (int)p->ldb, 0.0f,
                c, (int)ldc);
}

/* The implementation for this product (p's data may be NULL: then a
 * calibration uses operands of its own). */
static cnn_gemm_impl choose(cnn_gemm_impl impl, const gemm_problem *p)
{
    cnn_gemm_impl got;
    impl = preferred(impl);
    if (impl != CNN_GEMM_AUTO)
        return impl;
    /* Too small or thin for packing ever to pay: OpenBLAS, unmeasured. */
    if (p->m < GEMM_AVX512_MIN_DIM || p->n < GEMM_AVX512_MIN_DIM ||
        p->k < GEMM_AVX512_MIN_DIM || p->m * p->n * p->k < GEMM_AVX512_MIN_MACS)
        return CNN_GEMM_OPENBLAS;
    if (gemm_calib_mode_now() == GEMM_CALIB_OFF)
        return fixed_rule(p->m, p->n, p->k);
    got = gemm_calib_choose(p, run_trial);
    return got == CNN_GEMM_AUTO ? fixed_rule(p->m, p->n, p->k) : got;
}

const char *cnn_gemm_name_for(size_t m, size_t n, size_t k)
{
    gemm_problem p = {.m = m, .n = n, .k = k};
    return choose(CNN_GEMM_AUTO, &p) == CNN_GEMM_AVX512 ? "avx512"
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
    gemm_problem p = {.trans_a = trans_a, .trans_b = trans_b, .m = m,
                      .n = n, .k = k, .a = a, .b = b, .lda = lda, .ldb = ldb};
    if (choose(impl, &p) == CNN_GEMM_AVX512 &&
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
#define GEMV_OURS_MIN_ELEMS ((size_t)1 << 12)

/* Our GEMV for this CPU (AVX-512 or AVX2), or none. */
static gemv_simd_kind gemv_kind(void)
{
    static atomic_int kind = -1;
    int v = atomic_load_explicit(&kind, memory_order_relaxed);
    if (v < 0) {
        v = (int)gemv_simd_best();
        atomic_store_explicit(&kind, v, memory_order_relaxed);
    }
    return (gemv_simd_kind)v;
}

/* As choose(), for y = A x: "ours" is the GEMV kernel, which needs AVX2
 * only; CNN_GEMM=avx512 asks for it too. */
static cnn_gemm_impl choose_gemv(cnn_gemm_impl impl, const gemm_problem *p)
{
    cnn_gemm_impl got;
    if (impl == CNN_GEMM_AUTO)
        impl = forced();
    if (impl == CNN_GEMM_OPENBLAS || gemv_kind() == GEMV_SIMD_NONE)
        return CNN_GEMM_OPENBLAS;
    if (impl == CNN_GEMM_AVX512)
        return impl;
    if (p->m * p->k < GEMV_OURS_MIN_ELEMS)
        return CNN_GEMM_OPENBLAS;
    if (gemm_calib_mode_now() == GEMM_CALIB_OFF)
        return openblas_has_avx512() ? CNN_GEMM_OPENBLAS : CNN_GEMM_AVX512;
    got = gemm_calib_choose(p, run_trial);
    return got == CNN_GEMM_AUTO ? CNN_GEMM_AVX512 : got;
}

void cnn_sgemv_with(cnn_gemm_impl impl, size_t m, size_t k, float alpha,
                    const float *a, size_t lda, const float *x, float beta,
                    float *y)
{
    gemm_problem p = {.gemv = 1, .m = m, .n = 1, .k = k, .a = a, .b = x,
                      .lda = lda, .ldb = 1};
    if (m == 0)
        return;
    if (k == 0 || alpha == 0.0f) {
        scale_c(m, 1, beta, y, 1);
        return;
    }
    if (choose_gemv(impl, &p) == CNN_GEMM_AVX512) {
        gemv_simd(gemv_kind(), m, k, alpha, a, lda, x, beta, y);
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

/* Vectors per call up to which cnn_sgemv_batch streams A (once per 8
 * vectors) rather than handing a GEMM that packs it: at 16 the kernel
 * reads A twice, still less than a packing GEMM moves. */
#define GEMV_BATCH_MAX_N 16
/* Elements of A from which it does: below, A stays in cache between calls
 * and the product is bound by arithmetic, where the GEMM does better
 * (LeNet's fc1, 120 x 400 at batch 8: 0.007 against 0.010 ms). 2^18
 * floats, 1 MiB: MobileNetV2's and ResNet's classifiers and larger. */
#define GEMV_BATCH_MIN_ELEMS ((size_t)1 << 18)

void cnn_sgemv_batch_with(cnn_gemm_impl impl, size_t n, size_t m, size_t k,
                          float alpha, const float *a, size_t lda,
                          const float *x, size_t ldx, float beta, float *y,
                          size_t ldy)
{
    if (m == 0 || n == 0)
        return;
    if (k == 0 || alpha == 0.0f) {
        scale_c(n, m, beta, y, ldy);
        return;
    }
    if (impl == CNN_GEMM_AUTO)
        impl = forced();
    if (impl != CNN_GEMM_OPENBLAS && gemv_kind() != GEMV_SIMD_NONE &&
        n <= GEMV_BATCH_MAX_N &&
        (impl == CNN_GEMM_AVX512 || m * k >= GEMV_BATCH_MIN_ELEMS)) {
        if (gemv_simd_multi(gemv_kind(), n, m, k, alpha, a, lda, x, ldx,
                            beta, y, ldy) == 0)
            return;
    }
    cnn_sgemm_with(impl, 0, 1, n, m, k, alpha, x, ldx, a, lda, beta, y, ldy);
}

void cnn_sgemv_batch(size_t n, size_t m, size_t k, float alpha,
                     const float *a, size_t lda, const float *x, size_t ldx,
                     float beta, float *y, size_t ldy)
{
    cnn_sgemv_batch_with(CNN_GEMM_AUTO, n, m, k, alpha, a, lda, x, ldx, beta,
                         y, ldy);
}
