/* SPDX-License-Identifier: MIT */
/* Matrix-vector products for a batch-1 dense layer: y = alpha A x + beta y.
 *
 * Every weight is used once, so the product is bound by memory and the
 * kernel's only job is to stream A at the bandwidth the machine has. It
 * walks GEMV_ROWS rows side by side (x, which stays in L1/L2, is loaded
 * once for all of them), with GEMV_ACC accumulators per row so that the
 * fused multiply-adds of one row do not wait on each other, and asks for
 * each row's data GEMV_PREFETCH bytes ahead of use (the hardware
 * prefetchers alone left single-thread bandwidth short of the triad's;
 * docs/performance.md, "Dense layers at batch 1", has the measurements).
 *
 * Each row's sum is formed the same way whether it is one of GEMV_ROWS or
 * one of the leftover rows done alone: accumulator u takes vectors u,
 * u + GEMV_ACC, ...; the vectors past the last full group go to
 * accumulators 0, 1, ... in turn; the masked tail to accumulator 0; then
 * the accumulators are added in order and the lanes reduced in a fixed
 * order. So a row's result does not depend on how rows are split between
 * threads (tests/gemm's gemv_split_rows checks it).
 *
 * The functions carry per-function target attributes, so no -march flag
 * is needed: gemm.c calls them only after asking the CPU. */
#include "gemv_simd.h"
#include "pack_shelf.h"

#include <stdint.h>

#ifndef GEMV_ROWS
#define GEMV_ROWS 4
#endif
#ifndef GEMV_ACC
#define GEMV_ACC 2
#endif
#ifndef GEMV_PREFETCH
#define GEMV_PREFETCH 1024 /* bytes ahead of use, per row */
#endif
/* Vectors and rows of one register block of gemv_simd_multi (AVX-512:
 * 3 x 8 accumulators). */
#define GEMV_MULTI_MAX 8
/* CASE(n) for each vector count a call dispatches to a kernel with that
 * count fixed at compile time. */
#define GEMV_MULTI_COUNTS(CASE)                                                \
    CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8)
#ifndef GEMV_MULTI_ROWS
#define GEMV_MULTI_ROWS 3
#endif

#ifndef GEMV_MULTI_PREFETCH
#define GEMV_MULTI_PREFETCH GEMV_PREFETCH
#endif
#ifndef GEMV_PREFETCH_HINT
#define GEMV_PREFETCH_HINT _MM_HINT_T0
#endif

/* y[i] from its dot product. */
static inline float gemv_finish(float dot, float alpha, float beta, float y)
{
    return beta == 0.0f ? alpha * dot : alpha * dot + beta * y;
}

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#define AVX512_FN __attribute__((target("avx512f")))
#define AVX2_FN __attribute__((target("avx2,fma")))

/* Asks for the cache line `bytes` past p. Computed as an integer: the
 * address may lie past the end of A, which a prefetch never faults on but
 * pointer arithmetic may not reach. */
static inline __attribute__((always_inline)) void gemv_prefetch(const float *p,
                                                               size_t bytes)
{
#if GEMV_PREFETCH > 0
    _mm_prefetch((const char *)((uintptr_t)p + bytes), GEMV_PREFETCH_HINT);
#else
    (void)p, (void)bytes;
#endif
}

/* ---- AVX-512 ------------------------------------------------------------ */

static inline AVX512_FN __mmask16 gemv_lanes512(size_t count)
{
    return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1u);
}

/* dots[r] = row r of the R rows at a (stride lda) times x, k long. */
static inline __attribute__((always_inline)) AVX512_FN void
gemv_rows512(const int R, size_t k, const float *a, size_t lda,
             const float *x, float *dots)
{
    enum { V = 16, U = GEMV_ACC };
    __m512 acc[GEMV_ROWS][GEMV_ACC];
    size_t j = 0;
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int u = 0; u < U; u++)
            acc[r][u] = _mm512_setzero_ps();
    for (; j + (size_t)(U * V) <= k; j += U * V) {
        __m512 xv[GEMV_ACC];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int u = 0; u < U; u++)
                gemv_prefetch(a + (size_t)r * lda + j + (size_t)(u * V),
                              GEMV_PREFETCH);
#pragma GCC unroll 8
        for (int u = 0; u < U; u++)
            xv[u] = _mm512_loadu_ps(x + j + (size_t)(u * V));
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int u = 0; u < U; u++)
                acc[r][u] = _mm512_fmadd_ps(
                    _mm512_loadu_ps(a + (size_t)r * lda + j + (size_t)(u * V)),
                    xv[u], acc[r][u]);
    }
    /* Fewer than U full vectors left: accumulators 0, 1, ... in turn. */
    for (int u = 0; u < U && j + V <= k; j += V, u++) {
        __m512 xv = _mm512_loadu_ps(x + j);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            acc[r][u] = _mm512_fmadd_ps(
                _mm512_loadu_ps(a + (size_t)r * lda + j), xv, acc[r][u]);
    }
    if (j < k) {
        __mmask16 tail = gemv_lanes512(k - j);
        __m512 xv = _mm512_maskz_loadu_ps(tail, x + j);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            acc[r][0] = _mm512_fmadd_ps(
                _mm512_maskz_loadu_ps(tail, a + (size_t)r * lda + j), xv,
                acc[r][0]);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        __m512 s = acc[r][0];
#pragma GCC unroll 8
        for (int u = 1; u < U; u++)
            s = _mm512_add_ps(s, acc[r][u]);
        dots[r] = _mm512_reduce_add_ps(s);
    }
}

static AVX512_FN void gemv_avx512(size_t m, size_t k, float alpha,
                                  const float *a, size_t lda, const float *x,
                                  float beta, float *y)
{
    float dots[GEMV_ROWS];
    size_t i = 0;
    for (; i + GEMV_ROWS <= m; i += GEMV_ROWS) {
        gemv_rows512(GEMV_ROWS, k, a + i * lda, lda, x, dots);
        for (int r = 0; r < GEMV_ROWS; r++)
            y[i + r] = gemv_finish(dots[r], alpha, beta, y[i + r]);
    }
    for (; i < m; i++) {
        gemv_rows512(1, k, a + i * lda, lda, x, dots);
        y[i] = gemv_finish(dots[0], alpha, beta, y[i]);
    }
}

/* The same walk for a few vectors at once (a dense layer at a small batch):
 * dots[i][r] = row r of the R rows at a times vector i of the NX, over k
 * floats, one accumulator per pair, so each weight is loaded once for all
 * NX vectors. R = 3 and NX = 8 fill 24 of the 32 registers. The vectors
 * come interleaved (xp: for each 16 floats of k, those of vector 0, then
 * vector 1, ...), so that they are one sequential stream from L2 rather
 * than NX streams 4 k floats apart, which with the R rows of A made more
 * streams than the L1 prefetcher follows (fc6 of AlexNet at batch 8: 13.5
 * against 8 ms). */
static inline __attribute__((always_inline)) AVX512_FN void
gemv_multi_rows512(const int R, const int NX, size_t k, const float *a,
                   size_t lda, const float *xp,
                   float dots[GEMV_MULTI_MAX][GEMV_MULTI_ROWS])
{
    enum { V = 16 };
    __m512 acc[GEMV_MULTI_ROWS][GEMV_MULTI_MAX];
    size_t j = 0;
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int i = 0; i < NX; i++)
            acc[r][i] = _mm512_setzero_ps();
    for (; j < k; j += V, xp += NX * V) {
        __m512 wv[GEMV_MULTI_ROWS];
        if (j + V <= k) {
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                gemv_prefetch(a + (size_t)r * lda + j, GEMV_MULTI_PREFETCH);
                wv[r] = _mm512_loadu_ps(a + (size_t)r * lda + j);
            }
        } else { /* the tail: zeros past k in A (xp is zero-padded) */
            __mmask16 tail = gemv_lanes512(k - j);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                wv[r] = _mm512_maskz_loadu_ps(tail, a + (size_t)r * lda + j);
        }
#pragma GCC unroll 8
        for (int i = 0; i < NX; i++) {
            __m512 xv = _mm512_load_ps(xp + i * V);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                acc[r][i] = _mm512_fmadd_ps(wv[r], xv, acc[r][i]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int i = 0; i < NX; i++)
            dots[i][r] = _mm512_reduce_add_ps(acc[r][i]);
}

/* Y[i][r] for NX vectors (a compile-time count, so the accumulators stay
 * in registers) and all m rows. */
static inline __attribute__((always_inline)) AVX512_FN void
gemv_multi_nx512(const int NX, size_t m, size_t k, float alpha,
                 const float *a, size_t lda, const float *xp, float beta,
                 float *y, size_t ldy)
{
    float dots[GEMV_MULTI_MAX][GEMV_MULTI_ROWS];
    size_t r0 = 0;
    for (; r0 + GEMV_MULTI_ROWS <= m; r0 += GEMV_MULTI_ROWS) {
        gemv_multi_rows512(GEMV_MULTI_ROWS, NX, k, a + r0 * lda, lda, xp,
                           dots);
        for (int i = 0; i < NX; i++)
            for (int r = 0; r < GEMV_MULTI_ROWS; r++) {
                float *out = y + (size_t)i * ldy + r0 + (size_t)r;
                *out = gemv_finish(dots[i][r], alpha, beta, *out);
            }
    }
    for (; r0 < m; r0++) {
        gemv_multi_rows512(1, NX, k, a + r0 * lda, lda, xp, dots);
        for (int i = 0; i < NX; i++) {
            float *out = y + (size_t)i * ldy + r0;
            *out = gemv_finish(dots[i][0], alpha, beta, *out);
        }
    }
}

/* nx vectors interleaved into xp (16 floats of each in turn, zeros past
 * k): the layout gemv_multi_rows512 reads. */
static AVX512_FN void gemv_multi_interleave(size_t nx, size_t k,
                                            const float *x, size_t ldx,
                                            float *xp)
{
    for (size_t j = 0; j < k; j += 16) {
        __mmask16 in = gemv_lanes512(k - j);
        for (size_t i = 0; i < nx; i++, xp += 16)
            _mm512_store_ps(xp, _mm512_maskz_loadu_ps(in, x + i * ldx + j));
    }
}

static AVX512_FN void gemv_multi_avx512(size_t nx, size_t m, size_t k,
                                        float alpha, const float *a,
                                        size_t lda, const float *x,
                                        size_t ldx, float beta, float *y,
                                        size_t ldy, float *xp)
{
    gemv_multi_interleave(nx, k, x, ldx, xp);
    switch (nx) {
#define GEMV_MULTI_CASE(N)                                                     \
    case N:                                                                    \
        gemv_multi_nx512(N, m, k, alpha, a, lda, xp, beta, y, ldy);            \
        break;
        GEMV_MULTI_COUNTS(GEMV_MULTI_CASE)
#undef GEMV_MULTI_CASE
    default:
        break;
    }
}

/* ---- AVX2 --------------------------------------------------------------- */

/* Lanes [0, count) of a mask for _mm256_maskload_ps, count 0..8. */
static inline AVX2_FN __m256i gemv_lanes256(size_t count)
{
    static const int32_t ones_then_zeros[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                0,  0,  0,  0,  0,  0,  0,  0};
    return _mm256_loadu_si256(
        (const __m256i *)(const void *)(ones_then_zeros + 8 - count));
}

/* The lanes of v added in a fixed order. */
static inline AVX2_FN float gemv_reduce256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v),
                          _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

static inline __attribute__((always_inline)) AVX2_FN void
gemv_rows256(const int R, size_t k, const float *a, size_t lda,
             const float *x, float *dots)
{
    enum { V = 8, U = GEMV_ACC };
    __m256 acc[GEMV_ROWS][GEMV_ACC];
    size_t j = 0;
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int u = 0; u < U; u++)
            acc[r][u] = _mm256_setzero_ps();
    /* Two vectors of 8 per cache line: prefetch on every other step. */
    for (; j + (size_t)(U * V) <= k; j += U * V) {
        __m256 xv[GEMV_ACC];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int u = 0; u < U; u += 2)
                gemv_prefetch(a + (size_t)r * lda + j + (size_t)(u * V),
                              GEMV_PREFETCH);
#pragma GCC unroll 8
        for (int u = 0; u < U; u++)
            xv[u] = _mm256_loadu_ps(x + j + (size_t)(u * V));
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int u = 0; u < U; u++)
                acc[r][u] = _mm256_fmadd_ps(
                    _mm256_loadu_ps(a + (size_t)r * lda + j + (size_t)(u * V)),
                    xv[u], acc[r][u]);
    }
    for (int u = 0; u < U && j + V <= k; j += V, u++) {
        __m256 xv = _mm256_loadu_ps(x + j);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            acc[r][u] = _mm256_fmadd_ps(
                _mm256_loadu_ps(a + (size_t)r * lda + j), xv, acc[r][u]);
    }
    if (j < k) {
        __m256i tail = gemv_lanes256(k - j);
        __m256 xv = _mm256_maskload_ps(x + j, tail);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            acc[r][0] = _mm256_fmadd_ps(
                _mm256_maskload_ps(a + (size_t)r * lda + j, tail), xv,
                acc[r][0]);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        __m256 s = acc[r][0];
#pragma GCC unroll 8
        for (int u = 1; u < U; u++)
            s = _mm256_add_ps(s, acc[r][u]);
        dots[r] = gemv_reduce256(s);
    }
}

static AVX2_FN void gemv_avx2(size_t m, size_t k, float alpha, const float *a,
                              size_t lda, const float *x, float beta, float *y)
{
    float dots[GEMV_ROWS];
    size_t i = 0;
    for (; i + GEMV_ROWS <= m; i += GEMV_ROWS) {
        gemv_rows256(GEMV_ROWS, k, a + i * lda, lda, x, dots);
        for (int r = 0; r < GEMV_ROWS; r++)
            y[i + r] = gemv_finish(dots[r], alpha, beta, y[i + r]);
    }
    for (; i < m; i++) {
        gemv_rows256(1, k, a + i * lda, lda, x, dots);
        y[i] = gemv_finish(dots[0], alpha, beta, y[i]);
    }
}

/* For AVX2 (16 registers): one row of A against NX vectors at a time,
 * NX accumulators of 8 floats. */
static inline __attribute__((always_inline)) AVX2_FN void
gemv_multi_nx256(const int NX, size_t m, size_t k, float alpha,
                 const float *a, size_t lda, const float *x, size_t ldx,
                 float beta, float *y, size_t ldy)
{
    enum { V = 8 };
    for (size_t r = 0; r < m; r++) {
        const float *row = a + r * lda;
        __m256 acc[GEMV_MULTI_MAX];
        size_t j = 0;
#pragma GCC unroll 8
        for (int i = 0; i < NX; i++)
            acc[i] = _mm256_setzero_ps();
        for (; j + V <= k; j += V) {
            __m256 wv;
            if (j % 16 == 0)
                gemv_prefetch(row + j, GEMV_PREFETCH);
            wv = _mm256_loadu_ps(row + j);
#pragma GCC unroll 8
            for (int i = 0; i < NX; i++)
                acc[i] = _mm256_fmadd_ps(
                    wv, _mm256_loadu_ps(x + (size_t)i * ldx + j), acc[i]);
        }
        if (j < k) {
            __m256i tail = gemv_lanes256(k - j);
            __m256 wv = _mm256_maskload_ps(row + j, tail);
#pragma GCC unroll 8
            for (int i = 0; i < NX; i++)
                acc[i] = _mm256_fmadd_ps(
                    wv, _mm256_maskload_ps(x + (size_t)i * ldx + j, tail),
                    acc[i]);
        }
#pragma GCC unroll 8
        for (int i = 0; i < NX; i++) {
            float *out = y + (size_t)i * ldy + r;
            *out = gemv_finish(gemv_reduce256(acc[i]), alpha, beta, *out);
        }
    }
}

static AVX2_FN void gemv_multi_avx2(size_t nx, size_t m, size_t k, float alpha,
                                    const float *a, size_t lda,
                                    const float *x, size_t ldx, float beta,
                                    float *y, size_t ldy)
{
    switch (nx) {
#define GEMV_MULTI_CASE(N)                                                     \
    case N:                                                                    \
        gemv_multi_nx256(N, m, k, alpha, a, lda, x, ldx, beta, y, ldy);        \
        break;
        GEMV_MULTI_COUNTS(GEMV_MULTI_CASE)
#undef GEMV_MULTI_CASE
    default:
        break;
    }
}

int gemv_simd_multi(gemv_simd_kind kind, size_t n, size_t m, size_t k,
                    float alpha, const float *a, size_t lda, const float *x,
                    size_t ldx, float beta, float *y, size_t ldy)
{
    /* The interleaved copy of up to 8 vectors (AVX-512 only), from the
     * GEMM's shelf of buffers (pack_shelf.c): no allocation per call. */
    size_t xp_floats = (k + 15) / 16 * 16 * GEMV_MULTI_MAX;
    pack_buffer buf = {NULL, 0};
    float *xp;
    if (kind == GEMV_SIMD_AVX512)
        buf = pack_take(xp_floats * sizeof(float));
    xp = buf.floats;
    /* Groups of at most GEMV_MULTI_MAX vectors: each streams A once. */
    for (size_t i = 0; i < n; i += GEMV_MULTI_MAX) {
        size_t nx = n - i < GEMV_MULTI_MAX ? n - i : GEMV_MULTI_MAX;
        if (kind == GEMV_SIMD_AVX512) {
            if (!xp)
                return -1;
            gemv_multi_avx512(nx, m, k, alpha, a, lda, x + i * ldx, ldx, beta,
                              y + i * ldy, ldy, xp);
        }
        else if (kind == GEMV_SIMD_AVX2)
            gemv_multi_avx2(nx, m, k, alpha, a, lda, x + i * ldx, ldx, beta,
                            y + i * ldy, ldy);
    }
    pack_return(buf);
    return 0;
}

gemv_simd_kind gemv_simd_best(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return GEMV_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return GEMV_SIMD_AVX2;
    return GEMV_SIMD_NONE;
}

void gemv_simd(gemv_simd_kind kind, size_t m, size_t k, float alpha,
               const float *a, size_t lda, const float *x, float beta,
               float *y)
{
    if (kind == GEMV_SIMD_AVX512)
        gemv_avx512(m, k, alpha, a, lda, x, beta, y);
    else if (kind == GEMV_SIMD_AVX2)
        gemv_avx2(m, k, alpha, a, lda, x, beta, y);
}

#else /* not x86-64 GCC/Clang: no kernel in this build, OpenBLAS does it */

gemv_simd_kind gemv_simd_best(void) { return GEMV_SIMD_NONE; }

void gemv_simd(gemv_simd_kind kind, size_t m, size_t k, float alpha,
               const float *a, size_t lda, const float *x, float beta,
               float *y)
{
    (void)kind, (void)m, (void)k, (void)alpha, (void)a, (void)lda, (void)x;
    (void)beta, (void)y;
}

int gemv_simd_multi(gemv_simd_kind kind, size_t n, size_t m, size_t k,
                    float alpha, const float *a, size_t lda, const float *x,
                    size_t ldx, float beta, float *y, size_t ldy)
{
    (void)kind, (void)n, (void)m, (void)k, (void)alpha, (void)a, (void)lda;
    (void)x, (void)ldx, (void)beta, (void)y, (void)ldy;
    return -1;
}

#endif
