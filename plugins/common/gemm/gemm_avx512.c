/* SPDX-License-Identifier: MIT */
/* Packed single-precision GEMM for AVX-512F, in the layout of BLIS and
 * OpenBLAS (Goto's algorithm):
 *
 *   for each KC-deep slice of the shared dimension
 *     for each MC-row block of A:  pack it into MR-row panels  (stays in L2)
 *       for each NC-column block of B: pack it into NR-column panels
 *         for each NR panel of B (stays in L1), each MR panel of A:
 *           micro-kernel: an MR x NR tile of C held in registers
 *
 * The micro-kernel keeps 8 x 48 floats of C in 24 zmm registers; each step
 * of k loads three vectors of B and broadcasts eight values of A into 24
 * fused multiply-adds. Packing pads the edge panels with zeros, and the
 * stores are masked, so no shape needs a second code path. alpha is folded
 * into the packed A; beta applies once, in the first KC slice.
 *
 * Every function is compiled for AVX-512F with a per-function target
 * attribute (AVX512_FN), so the plugins need no -march flag: gemm.c calls
 * them only after asking the CPU. An attribute rather than
 * `#pragma GCC target`, which clang ignores. */
#include "gemm_avx512.h"
#include "pack_shelf.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>

/* On each function that uses AVX-512 types or instructions, helpers
 * included: what gcc's target pragma did for the whole file, in a form
 * clang honours too. */
#define AVX512_FN __attribute__((target("avx512f")))

/* Block sizes (measured on Zen 5; docs/performance.md, "GEMM"). */
#ifndef GEMM_KC
#define GEMM_KC 256 /* depth of one packed slice */
#endif
#ifndef GEMM_MC
#define GEMM_MC 512 /* rows of A packed at once (MC x KC floats in L2) */
#endif
#ifndef GEMM_NC
#define GEMM_NC 1536 /* columns of B packed at once (a multiple of NR) */
#endif
enum {
    MR = 8,       /* rows of C per micro-tile */
    NR = 48,      /* columns of a packed B panel (three zmm vectors) */
    KC = GEMM_KC,
    MC = GEMM_MC, /* a multiple of MR */
    NC = GEMM_NC, /* a multiple of NR */
};

/* The mask of the first `count` lanes of a vector, count clamped to 0..16. */
static inline AVX512_FN __mmask16 lanes(ptrdiff_t count)
{
    if (count <= 0)
        return 0;
    if (count >= 16)
        return (__mmask16)0xFFFF;
    return (__mmask16)((1u << count) - 1u);
}

/* ---- Packing -------------------------------------------------------------- */

/* A block rows [i0, i0+mc) x depth [p0, p0+kc) into MR-row panels: panel q
 * holds, for each p, the MR values of rows q*MR.. at depth p (times alpha;
 * zero past the block's last row). */
static AVX512_FN void pack_a(int trans, const float *a, size_t lda, size_t i0,
                   size_t mc, size_t p0, size_t kc, float alpha, float *dst)
{
    for (size_t ir = 0; ir < mc; ir += MR) {
        size_t mr = mc - ir < MR ? mc - ir : MR;
        float *panel = dst + (ir / MR) * kc * MR;
        if (trans) {
            /* op(A)(i, p) = a[p][i]: MR contiguous floats per depth. */
            __m512 va = _mm512_set1_ps(alpha);
            for (size_t p = 0; p < kc; p++) {
                const float *src = a + (p0 + p) * lda + i0 + ir;
                for (size_t v = 0; v < MR; v += 16) {
                    __mmask16 in = lanes((ptrdiff_t)mr - (ptrdiff_t)v);
                    __mmask16 out = lanes((ptrdiff_t)(MR - v));
                    _mm512_mask_storeu_ps(
                        panel + p * MR + v, out,
                        _mm512_mul_ps(va, _mm512_maskz_loadu_ps(in, src + v)));
                }
            }
        } else {
            /* op(A)(i, p) = a[i][p]: transpose MR rows. */
            for (size_t i = 0; i < MR; i++) {
                if (i < mr) {
                    const float *src = a + (i0 + ir + i) * lda + p0;
                    for (size_t p = 0; p < kc; p++)
                        panel[p * MR + i] = alpha * src[p];
                } else {
                    for (size_t p = 0; p < kc; p++)
                        panel[p * MR + i] = 0.0f;
                }
            }
        }
    }
}

/* Transposes a 16 x 16 block: rows r[0..15] become columns. */
static inline AVX512_FN void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xDD);
    }
}

/* B block depth [p0, p0+kc) x columns [j0, j0+nc) into NR-column panels:
 * panel q holds, for each p, the NR values of columns q*NR.. at depth p
 * (zero past the block's last column). */
static AVX512_FN void pack_b(int trans, const float *b, size_t ldb, size_t p0,
                   size_t kc, size_t j0, size_t nc, float *dst)
{
    const size_t NV = NR / 16;
    for (size_t jr = 0; jr < nc; jr += NR) {
        size_t nr = nc - jr < NR ? nc - jr : NR;
        float *panel = dst + (jr / NR) * kc * NR;
        if (!trans) {
            /* op(B)(p, j) = b[p][j]: NR contiguous floats per depth. */
            for (size_t p = 0; p < kc; p++) {
                const float *src = b + (p0 + p) * ldb + j0 + jr;
                for (size_t v = 0; v < NV; v++)
                    _mm512_store_ps(
                        panel + p * NR + v * 16,
                        _mm512_maskz_loadu_ps(
                            lanes((ptrdiff_t)nr - (ptrdiff_t)(v * 16)),
                            src + v * 16));
            }
            continue;
        }
        /* op(B)(p, j) = b[j][p]: 16 x 16 blocks transposed in registers. */
        for (size_t v = 0; v < NV; v++) {
            size_t jv = v * 16;
            size_t cols = nr > jv ? (nr - jv < 16 ? nr - jv : 16) : 0;
            for (size_t p = 0; p < kc; p += 16) {
                size_t depth = kc - p < 16 ? kc - p : 16;
                __mmask16 mask = lanes((ptrdiff_t)depth);
                __m512 r[16];
                for (size_t j = 0; j < 16; j++)
                    r[j] = j < cols ? _mm512_maskz_loadu_ps(
                                          mask, b + (j0 + jr + jv + j) * ldb +
                                                    p0 + p)
                                    : _mm512_setzero_ps();
                transpose16(r);
                for (size_t q = 0; q < depth; q++)
                    _mm512_store_ps(panel + (p + q) * NR + jv, r[q]);
            }
        }
    }
}

/* ---- Micro-kernel --------------------------------------------------------- */

/* C[0..mr) x [0..nr) = acc + beta C (beta 0: C is not read), where acc is
 * the product of one packed A panel and one packed B panel, kc deep. */
static inline __attribute__((always_inline)) AVX512_FN void
kernel_body(size_t kc, const float *restrict a, const float *restrict b,
            float *c, size_t ldc, size_t mr, size_t nr, float beta,
            const int NV)
{
    __m512 acc[MR][3];
    /* Unrolled whatever the optimisation level, so acc stays in registers. */
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            acc[i][v] = _mm512_setzero_ps();

    for (size_t p = 0; p < kc; p++) {
        __m512 bv[3];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            bv[v] = _mm512_load_ps(b + v * 16);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
        }
        a += MR;
        b += NR; /* panels are NR wide, whatever NV */
    }

    __m512 vbeta = _mm512_set1_ps(beta);
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        float *row = c + (size_t)i * ldc;
        if ((size_t)i >= mr)
            break;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            __mmask16 mask = lanes((ptrdiff_t)nr - (ptrdiff_t)(v * 16));
            __m512 out = acc[i][v];
            if (!mask)
                break;
            if (beta != 0.0f)
                out = _mm512_fmadd_ps(
                    vbeta, _mm512_maskz_loadu_ps(mask, row + v * 16), out);
            _mm512_mask_storeu_ps(row + v * 16, mask, out);
        }
    }
}

/* One micro-tile height, three widths: a panel of B is 48 columns, and
 * the last panel of a product, when narrower, runs a kernel that computes
 * only the vectors it needs (VGG's 14 x 14 layers at batch 1 have 196
 * columns: 4 panels of 48 and one of 4, which an 8 x 48 kernel would pad to
 * 240 columns, 18% more work). A taller tile for thin products (24 x 16)
 * measured 10-15% slower than 8 x 48 per multiply-add, and gained less than
 * the narrow last panel does. */
typedef void kernel_fn(size_t kc, const float *a, const float *b, float *c,
                       size_t ldc, size_t mr, size_t nr, float beta);

static AVX512_FN void kernel_8x48(size_t kc, const float *a, const float *b, float *c,
                        size_t ldc, size_t mr, size_t nr, float beta)
{
    kernel_body(kc, a, b, c, ldc, mr, nr, beta, 3);
}

static AVX512_FN void kernel_8x32(size_t kc, const float *a, const float *b, float *c,
                        size_t ldc, size_t mr, size_t nr, float beta)
{
    kernel_body(kc, a, b, c, ldc, mr, nr, beta, 2);
}

static AVX512_FN void kernel_8x16(size_t kc, const float *a, const float *b, float *c,
                        size_t ldc, size_t mr, size_t nr, float beta)
{
    kernel_body(kc, a, b, c, ldc, mr, nr, beta, 1);
}

static AVX512_FN size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

/* ---- Driver --------------------------------------------------------------- */

AVX512_FN int gemm_avx512(int trans_a, int trans_b, size_t m, size_t n,
                          size_t k, float alpha, const float *a, size_t lda,
                          const float *b, size_t ldb, float beta, float *c,
                          size_t ldc)
{
    size_t kc_max = k < KC ? k : KC;
    size_t mc_max = round_up(m < MC ? m : MC, MR);
    size_t nc_max = round_up(n < NC ? n : NC, NR);
    /* Both packed blocks in one allocation, 64-byte aligned. */
    size_t a_floats = round_up(mc_max * kc_max, 16);
    size_t bytes = (a_floats + nc_max * kc_max) * sizeof(float);
    pack_buffer buf = pack_take(round_up(bytes, 64));
    float *abuf = buf.floats;
    float *bbuf;

    if (!abuf)
        return -1;
    bbuf = abuf + a_floats;

    for (size_t pc = 0; pc < k; pc += KC) {
        size_t kc = k - pc < KC ? k - pc : KC;
        float beta_now = pc == 0 ? beta : 1.0f;
        for (size_t ic = 0; ic < m; ic += MC) {
            size_t mc = m - ic < MC ? m - ic : MC;
            pack_a(trans_a, a, lda, ic, mc, pc, kc, alpha, abuf);
            for (size_t jc = 0; jc < n; jc += NC) {
                size_t nc = n - jc < NC ? n - jc : NC;
                pack_b(trans_b, b, ldb, pc, kc, jc, nc, bbuf);
                for (size_t jr = 0; jr < nc; jr += NR) {
                    size_t nr = nc - jr < NR ? nc - jr : NR;
                    const float *bp = bbuf + (jr / NR) * kc * NR;
                    kernel_fn *kernel = nr > 32   ? kernel_8x48
                                        : nr > 16 ? kernel_8x32
                                                  : kernel_8x16;
                    for (size_t ir = 0; ir < mc; ir += MR) {
                        size_t mr = mc - ir < MR ? mc - ir : MR;
                        kernel(kc, abuf + (ir / MR) * kc * MR, bp,
                               c + (ic + ir) * ldc + jc + jr, ldc, mr, nr,
                               beta_now);
                    }
                }
            }
        }
    }
    pack_return(buf);
    return 0;
}

int gemm_avx512_usable(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
}

#else /* not x86-64 GCC/Clang: no kernel in this build */

int gemm_avx512_usable(void) { return 0; }

int gemm_avx512(int trans_a, int trans_b, size_t m, size_t n, size_t k,
                float alpha, const float *a, size_t lda, const float *b,
                size_t ldb, float beta, float *c, size_t ldc)
{
    (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)alpha;
    (void)a, (void)lda, (void)b, (void)ldb, (void)beta, (void)c, (void)ldc;
    return -1;
}

#endif
