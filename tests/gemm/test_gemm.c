/* SPDX-License-Identifier: MIT */
/* The plugins' single-precision GEMM (plugins/common/gemm): every
 * implementation behind cnn_sgemm against a naive product computed here in
 * double precision, over all four transpose combinations, edge shapes,
 * shapes crossing the AVX-512 kernel's blocking (MR 8, NR 48, KC 256,
 * MC 512, NC 1536; 48-, 32- and 16-wide last panels), padded leading dimensions, alpha and beta; plus the
 * dispatch answers (cnn_gemm_has_avx512, cnn_gemm_name_for), under the
 * fixed rule (CNN_GEMM_CALIBRATE=off, the tests' setting) and measured
 * (tests/gemm/meson.build runs them both ways; test_gemm_calib.c tests the
 * measuring itself).
 *
 * Memory traps: the padding columns of A and B hold NaN (reading one would
 * poison a result); A and B are allocated to their exact BLAS extent
 * ((rows - 1) * ld + cols; ASan sees scalar over-reads, not masked vector
 * loads); C sits between guard regions and its row padding, all holding a
 * finite sentinel that must come back bit for bit; with beta 0 the m x n
 * block of C starts as NaN, which must not reach the result.
 *
 * Tolerance: any summation order of alpha * sum_p a_ip b_pj + beta c_ij in
 * float (k products, alpha folded in before or after, beta c with or
 * without FMA, k split into blocks) rounds each term at most k + 3 times,
 * so |computed - exact| <= gamma(k + 3) * (|alpha| sum_p |a_ip||b_pj| +
 * |beta c_ij|), gamma(n) = n u / (1 - n u), u = 2^-24 (Higham, Accuracy and
 * Stability of Numerical Algorithms, 2nd ed., sections 3.1 and 3.5). The
 * test asserts that worst-case bound with k + 4; the reference itself is
 * exact to about 2^-53 relative, negligible here. k = 0 and alpha = 0 must
 * give beta * C exactly (one float multiply, or zero for beta 0). */
#include <cblas.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gemm.h"
#include "gemv_simd.h"

/* OpenBLAS on one thread, as the plugins run it (cnn_context_create sets
 * this; gemm.h's contract is single-threaded). */
static void one_thread(void) { openblas_set_num_threads(1); }
TestSuite(gemm, .init = one_thread);
TestSuite(gemm_dispatch, .init = one_thread);

/* ---- Inputs -------------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

/* splitmix64. */
static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1): a multiple of 2^-23, so exactly a float. */
static float rng_unit(rng *r)
{
    return (float)((double)(rng_next(r) >> 40) * 0x1p-23 - 1.0);
}

/* Fills C's guards and row padding; finite, so it never hides a NaN. */
#define SENTINEL 1234.5f
/* Floats of guard before and after C. */
#define GUARD 64

/* ---- One case ------------------------------------------------------------ */

typedef struct gemm_case {
    int ta, tb;
    size_t m, n, k;
    size_t pad_a, pad_b, pad_c; /* leading dimension minus logical width */
    float alpha, beta;
    int c_nan; /* the m x n block of C starts as NaN (use with beta 0) */
} gemm_case;

enum { VIA_AVX512, VIA_OPENBLAS, VIA_AUTO, VIA_SGEMM, VIA_COUNT };
static const char *const via_name[VIA_COUNT] = {
    "cnn_sgemm_with(CNN_GEMM_AVX512)",
    "cnn_sgemm_with(CNN_GEMM_OPENBLAS)",
    "cnn_sgemm_with(CNN_GEMM_AUTO)",
    "cnn_sgemm",
};

static double gamma_n(size_t n)
{
    const double u = 0x1p-24;
    return (double)n * u / (1.0 - (double)n * u);
}

static size_t at_least_1(size_t x) { return x ? x : 1; }

/* Floats a rows x cols matrix with row stride ld spans; at least 1 so that
 * malloc never sees 0. */
static size_t extent(size_t rows, size_t cols, size_t ld)
{
    return at_least_1(rows && cols ? (rows - 1) * ld + cols : 0);
}

/* A rows x cols matrix, stride ld, random values; padding columns NaN. */
static float *make_matrix(rng *r, size_t rows, size_t cols, size_t ld,
                          size_t *count)
{
    size_t e = extent(rows, cols, ld);
    float *x = malloc(e * sizeof *x);
    cr_assert_not_null(x);
    for (size_t i = 0; i < e; i++)
        x[i] = NAN;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            x[i * ld + j] = rng_unit(r);
    *count = e;
    return x;
}

static void describe(const gemm_case *g, size_t lda, size_t ldb, size_t ldc,
                     char *buf, size_t size)
{
    snprintf(buf, size,
             "trans_a=%d trans_b=%d m=%zu n=%zu k=%zu lda=%zu ldb=%zu "
             "ldc=%zu alpha=%g beta=%g%s",
             g->ta, g->tb, g->m, g->n, g->k, lda, ldb, ldc, (double)g->alpha,
             (double)g->beta, g->c_nan ? " (C starts NaN)" : "");
}

static void call_via(int via, const gemm_case *g, const float *a, size_t lda,
                     const float *b, size_t ldb, float *c, size_t ldc)
{
    switch (via) {
    case VIA_AVX512:
    case VIA_OPENBLAS:
    case VIA_AUTO: {
        cnn_gemm_impl impl = via == VIA_AVX512     ? CNN_GEMM_AVX512
                             : via == VIA_OPENBLAS ? CNN_GEMM_OPENBLAS
                                                   : CNN_GEMM_AUTO;
        cnn_sgemm_with(impl, g->ta, g->tb, g->m, g->n, g->k, g->alpha, a, lda,
                       b, ldb, g->beta, c, ldc);
        break;
    }
    default:
        cnn_sgemm(g->ta, g->tb, g->m, g->n, g->k, g->alpha, a, lda, b, ldb,
                  g->beta, c, ldc);
        break;
    }
}

/* Runs one case through every implementation and checks each result. */
static void run_case(const gemm_case *g, uint64_t seed)
{
    rng r = {seed};
    size_t m = g->m, n = g->n, k = g->k;
    size_t a_rows = g->ta ? k : m, a_cols = g->ta ? m : k;
    size_t b_rows = g->tb ? n : k, b_cols = g->tb ? k : n;
    size_t lda = a_cols + g->pad_a, ldb = b_cols + g->pad_b;
    size_t ldc = n + g->pad_c;
    lda = lda ? lda : 1;
    ldb = ldb ? ldb : 1;
    ldc = ldc ? ldc : 1;
    char what[256];
    describe(g, lda, ldb, ldc, what, sizeof what);

    size_t a_count, b_count;
    float *a = make_matrix(&r, a_rows, a_cols, lda, &a_count);
    float *b = make_matrix(&r, b_rows, b_cols, ldb, &b_count);
    float *a_copy = malloc(a_count * sizeof *a_copy);
    float *b_copy = malloc(b_count * sizeof *b_copy);
    cr_assert(a_copy && b_copy);
    memcpy(a_copy, a, a_count * sizeof *a);
    memcpy(b_copy, b, b_count * sizeof *b);

    /* C: guard, m rows of ldc (block, then row padding), guard. */
    size_t c_total = GUARD + m * ldc + GUARD;
    float *c_init = malloc(c_total * sizeof *c_init);
    float *c_work = malloc(c_total * sizeof *c_work);
    cr_assert(c_init && c_work);
    for (size_t i = 0; i < c_total; i++)
        c_init[i] = SENTINEL;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++)
            c_init[GUARD + i * ldc + j] = g->c_nan ? NAN : rng_unit(&r);

    /* The reference: op(A) as m x k and op(B)^T as n x k, in double. */
    double *opa = malloc(at_least_1(m * k) * sizeof *opa);
    double *opbt = malloc(at_least_1(n * k) * sizeof *opbt);
    double *ref = malloc(at_least_1(m * n) * sizeof *ref);
    double *bound = malloc(at_least_1(m * n) * sizeof *bound);
    cr_assert(opa && opbt && ref && bound);
    for (size_t i = 0; i < m; i++)
        for (size_t p = 0; p < k; p++)
            opa[i * k + p] = g->ta ? a[p * lda + i] : a[i * lda + p];
    for (size_t j = 0; j < n; j++)
        for (size_t p = 0; p < k; p++)
            opbt[j * k + p] = g->tb ? b[j * ldb + p] : b[p * ldb + j];
    int exact = k == 0 || g->alpha == 0.0f;
    double gam = gamma_n(k + 4);
    for (size_t i = 0; i < m; i++) {
        const double *ar = opa + i * k;
        for (size_t j = 0; j < n; j++) {
            const double *br = opbt + j * k;
            double dot = 0.0, mag = 0.0;
            for (size_t p = 0; p < k; p++) {
                double prod = ar[p] * br[p]; /* exact: 24 x 24 bits */
                dot += prod;
                mag += fabs(prod);
            }
            double c0 = c_init[GUARD + i * ldc + j];
            double bc = g->beta != 0.0f ? (double)g->beta * c0 : 0.0;
            if (exact) {
                /* beta C in float; beta 0 gives 0 whatever C held. */
                ref[i * n + j] =
                    g->beta != 0.0f
                        ? (double)(g->beta * c_init[GUARD + i * ldc + j])
                        : 0.0;
                bound[i * n + j] = 0.0;
            } else {
                ref[i * n + j] = (double)g->alpha * dot + bc;
                bound[i * n + j] =
                    gam * (fabs((double)g->alpha) * mag + fabs(bc));
            }
        }
    }

    for (int via = 0; via < VIA_COUNT; via++) {
        memcpy(c_work, c_init, c_total * sizeof *c_work);
        call_via(via, g, a, lda, b, ldb, c_work + GUARD, ldc);

        cr_expect(memcmp(a, a_copy, a_count * sizeof *a) == 0,
                  "%s changed A: %s", via_name[via], what);
        cr_expect(memcmp(b, b_copy, b_count * sizeof *b) == 0,
                  "%s changed B: %s", via_name[via], what);

        /* Outside the m x n block: bit for bit as before. */
        size_t touched = 0, first_touched = 0;
        for (size_t x = 0; x < c_total; x++) {
            int in_block = x >= GUARD && x < GUARD + m * ldc &&
                           (x - GUARD) % ldc < n;
            if (!in_block &&
                memcmp(&c_work[x], &c_init[x], sizeof *c_work) != 0) {
                if (!touched++)
                    first_touched = x;
            }
        }
        cr_expect(touched == 0,
                  "%s wrote %zu floats outside C's m x n block (first at "
                  "offset %td from C, now %g): %s",
                  via_name[via], touched,
                  (ptrdiff_t)first_touched - GUARD,
                  (double)c_work[first_touched], what);

        /* Inside: within the bound of the reference (exact for k 0). */
        size_t bad = 0, wi = 0, wj = 0;
        double worst = -1.0, worst_err = 0.0, worst_bound = 0.0;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double got = c_work[GUARD + i * ldc + j];
                double want = ref[i * n + j], lim = bound[i * n + j];
                double err = fabs(got - want);
                int ok = isfinite(got) && err <= lim;
                /* Ratio for the report; an exact miss counts as infinite. */
                double ratio = !isfinite(got) ? INFINITY
                               : lim > 0.0    ? err / lim
                               : err > 0.0    ? INFINITY
                                              : 0.0;
                bad += !ok;
                if (ratio > worst || (!ok && worst < 0.0)) {
                    worst = ratio;
                    wi = i;
                    wj = j;
                    worst_err = isfinite(got) ? err : got;
                    worst_bound = lim;
                }
            }
        if (bad)
            cr_expect(bad == 0,
                      "%s: %zu of %zu elements off; worst C[%zu][%zu] = %.9g, "
                      "reference %.9g, |error| %.3g, bound %.3g: %s",
                      via_name[via], bad, m * n, wi, wj,
                      (double)c_work[GUARD + wi * ldc + wj],
                      ref[wi * n + wj], worst_err, worst_bound, what);
    }

    free(bound);
    free(ref);
    free(opbt);
    free(opa);
    free(c_work);
    free(c_init);
    free(b_copy);
    free(a_copy);
    free(b);
    free(a);
}

/* alpha, beta and C's start for variant v (mod 8): alpha 1 or -2.5, beta
 * 0 over NaN, 1, 0.5, or 0 over random values. */
static void set_scalars(gemm_case *g, unsigned v)
{
    static const float betas[4] = {0.0f, 1.0f, 0.5f, 0.0f};
    g->alpha = v % 2 ? -2.5f : 1.0f;
    g->beta = betas[(v / 2) % 4];
    g->c_nan = (v / 2) % 4 == 0;
}

/* Every (trans_a, trans_b) of shape m x n x k, with variant-chosen scalars
 * and padding. */
static void run_all_trans(size_t m, size_t n, size_t k, unsigned *variant)
{
    for (int t = 0; t < 4; t++) {
        unsigned v = (*variant)++;
        gemm_case g = {.ta = t >> 1, .tb = t & 1, .m = m, .n = n, .k = k};
        set_scalars(&g, v);
        g.pad_a = (v % 3) * 2;
        g.pad_b = (v / 3) % 3;
        g.pad_c = v % 5;
        run_case(&g, 0x5EED0000u + v);
    }
}

/* ---- Shapes -------------------------------------------------------------- */

static const size_t edge_sizes[] = {1,  3,  7,  8,  9,  15, 16,
                                    17, 47, 48, 49, 95, 96, 97};
/* Depth tails: the B^T packer works in 16-deep blocks; longer depths are
 * in the blocking test. */
static const size_t edge_depths[] = {1, 3, 16, 17, 49};
#define COUNT(x) (sizeof(x) / sizeof *(x))

/* m and n from edge_sizes, k from edge_depths, one transpose combination;
 * scalars and paddings cycle through their variants. */
static void sweep_edges(int ta, int tb)
{
    unsigned v = (unsigned)(ta * 2 + tb) * 1000u;
    for (size_t im = 0; im < COUNT(edge_sizes); im++)
        for (size_t in = 0; in < COUNT(edge_sizes); in++)
            for (size_t ik = 0; ik < COUNT(edge_depths); ik++, v++) {
                gemm_case g = {.ta = ta,
                               .tb = tb,
                               .m = edge_sizes[im],
                               .n = edge_sizes[in],
                               .k = edge_depths[ik]};
                set_scalars(&g, v);
                g.pad_a = (v % 3) * 2;
                g.pad_b = (v / 3) % 3;
                g.pad_c = v % 5;
                run_case(&g, 0xED6E0000u + v);
            }
}

Test(gemm, edges_nn) { sweep_edges(0, 0); }
Test(gemm, edges_nt) { sweep_edges(0, 1); }
Test(gemm, edges_tn) { sweep_edges(1, 0); }
Test(gemm, edges_tt) { sweep_edges(1, 1); }

/* Across KC (256), MC (512) and NC (1536) boundaries, once and twice. */
Test(gemm, blocking)
{
    static const size_t shapes[][3] = {
        /* k */
        {20, 30, 255},
        {20, 30, 256},
        {20, 30, 257},
        {17, 50, 511},
        {17, 50, 512},
        {17, 50, 513},
        {9, 97, 700},
        /* m */
        {255, 20, 30},
        {256, 20, 30},
        {257, 20, 30},
        {511, 49, 31},
        {512, 20, 30},
        {513, 49, 31},
        {600, 17, 20},
        {1100, 33, 12},
        /* n */
        {9, 1535, 20},
        {9, 1536, 20},
        {9, 1537, 20},
        {5, 3100, 11},
    };
    unsigned v = 0;
    for (size_t s = 0; s < COUNT(shapes); s++)
        run_all_trans(shapes[s][0], shapes[s][1], shapes[s][2], &v);
    /* All three at once (about 1e8 multiply-adds: one transpose case). */
    gemm_case all = {.ta = 1,
                     .tb = 1,
                     .m = 265,
                     .n = 1580,
                     .k = 270,
                     .pad_a = 3,
                     .pad_b = 1,
                     .pad_c = 5,
                     .alpha = -2.5f,
                     .beta = 0.5f};
    run_case(&all, 0xB10C0000u);
}

Test(gemm, tall_thin)
{
    static const size_t shapes[][3] = {
        {1000, 1, 7}, {1, 2000, 3},  {2, 3, 1500},   {777, 5, 300},
        {4, 1000, 4}, {1, 1, 1000},  {1000, 300, 1}, {3, 700, 2},
        {300, 2, 65}, {1, 97, 600},  {97, 1, 600},
    };
    unsigned v = 100;
    for (size_t s = 0; s < COUNT(shapes); s++)
        run_all_trans(shapes[s][0], shapes[s][1], shapes[s][2], &v);
}

/* The products conv runs (docs/performance.md): forward M=K N=OH*OW
 * K=C*k*k, dx with A transposed, dw with B transposed (accumulating). */
Test(gemm, conv_shapes)
{
    static const gemm_case cases[] = {
        /* 3x3 conv, 64 -> 64 channels, 56x56: forward. */
        {.m = 64, .n = 3136, .k = 576, .alpha = 1.0f, .c_nan = 1},
        /* LeNet conv2: 6 -> 16 channels 5x5, 10x10 out. */
        {.m = 16, .n = 100, .k = 150, .alpha = 1.0f, .c_nan = 1},
        {.m = 16, .n = 100, .k = 150, .alpha = 1.0f, .beta = 1.0f},
        /* dx: W^T (576 x 64) times dy (64 x 196). */
        {.ta = 1, .m = 576, .n = 196, .k = 64, .alpha = 1.0f, .c_nan = 1},
        /* dw: dy (64 x 3136) times cols^T (3136 x 576), accumulated into
         * the gradient of the previous images; rows padded. */
        {.tb = 1,
         .m = 64,
         .n = 576,
         .k = 3136,
         .pad_a = 5,
         .pad_b = 3,
         .pad_c = 16,
         .alpha = 1.0f,
         .beta = 1.0f},
    };
    for (size_t s = 0; s < COUNT(cases); s++)
        run_case(&cases[s], 0xC0DE0000u + s);
}

/* Each alpha with each beta, on shapes with edge tiles and two KC slices
 * (beta applies in the first slice only), all transposes. */
Test(gemm, alpha_beta)
{
    static const size_t shapes[][3] = {
        {33, 70, 300}, {9, 50, 17}, {260, 20, 30}, {8, 48, 256}};
    static const float alphas[] = {1.0f, -2.5f};
    unsigned seed = 0;
    for (size_t s = 0; s < COUNT(shapes); s++)
        for (int t = 0; t < 4; t++)
            for (size_t ia = 0; ia < COUNT(alphas); ia++)
                for (unsigned bv = 0; bv < 3; bv++) {
                    gemm_case g = {.ta = t >> 1,
                                   .tb = t & 1,
                                   .m = shapes[s][0],
                                   .n = shapes[s][1],
                                   .k = shapes[s][2],
                                   .pad_c = bv};
                    set_scalars(&g, bv * 2);
                    g.alpha = alphas[ia];
                    run_case(&g, 0xAB000000u + seed++);
                }
}

/* Leading dimensions well past the logical widths, all transposes. */
Test(gemm, leading_dims)
{
    static const size_t shapes[][3] = {
        {1, 1, 1}, {7, 9, 5}, {17, 49, 33}, {40, 100, 300}, {300, 20, 9}};
    unsigned seed = 0;
    for (size_t s = 0; s < COUNT(shapes); s++)
        for (int t = 0; t < 4; t++) {
            gemm_case g = {.ta = t >> 1,
                           .tb = t & 1,
                           .m = shapes[s][0],
                           .n = shapes[s][1],
                           .k = shapes[s][2],
                           .pad_a = 13,
                           .pad_b = 29,
                           .pad_c = 7};
            set_scalars(&g, seed);
            run_case(&g, 0x1D000000u + seed++);
        }
}

/* m, n or k of 0, and alpha 0: no product; k 0 and alpha 0 give beta C
 * exactly, m or n 0 leave all of C's buffer alone. */
Test(gemm, degenerate)
{
    static const size_t shapes[][3] = {
        {0, 5, 7}, {5, 0, 7},  {0, 0, 7},   {0, 0, 0}, {0, 5, 0},
        {5, 0, 0}, {5, 7, 0},  {1, 1, 0},   {33, 50, 0}, {0, 100, 300},
        {60, 0, 300}, {20, 200, 0},
    };
    unsigned seed = 0;
    for (size_t s = 0; s < COUNT(shapes); s++)
        for (int t = 0; t < 4; t++)
            for (unsigned v = 0; v < 8; v++) {
                gemm_case g = {.ta = t >> 1,
                               .tb = t & 1,
                               .m = shapes[s][0],
                               .n = shapes[s][1],
                               .k = shapes[s][2],
                               .pad_a = v % 3,
                               .pad_b = v % 2,
                               .pad_c = v % 4};
                set_scalars(&g, v);
                run_case(&g, 0xDE000000u + seed++);
            }
    /* alpha 0: beta C, whatever the product would have been. */
    for (int t = 0; t < 4; t++)
        for (unsigned v = 0; v < 8; v++) {
            gemm_case g = {
                .ta = t >> 1, .tb = t & 1, .m = 19, .n = 53, .k = 40};
            set_scalars(&g, v);
            g.alpha = 0.0f;
            run_case(&g, 0xA0000000u + seed++);
        }
}

/* ---- Matrix-vector (cnn_sgemv) ------------------------------------------ */

/* y = alpha A x + beta y through each implementation, against the double
 * reference with the same bound as the GEMM (k products). A's padding
 * columns are NaN; y sits between sentinels; beta 0 starts y as NaN. */
/* impls[] past the dispatcher's three: our kernels called directly, AVX2
 * first (on an AVX-512 CPU the dispatcher never picks it, so this is
 * where it is tested), each skipped when the CPU cannot run it. */
#define GEMV_DIRECT_AVX2 ((cnn_gemm_impl)10)
#define GEMV_DIRECT_AVX512 ((cnn_gemm_impl)11)

/* The product through impl: the dispatcher, or a kernel of ours directly.
 * 0, or -1 when the CPU cannot run that kernel. */
static int gemv_via(cnn_gemm_impl impl, size_t m, size_t k, float alpha,
                    const float *a, size_t lda, const float *x, float beta,
                    float *y)
{
    gemv_simd_kind kind = impl == GEMV_DIRECT_AVX2     ? GEMV_SIMD_AVX2
                          : impl == GEMV_DIRECT_AVX512 ? GEMV_SIMD_AVX512
                                                       : GEMV_SIMD_NONE;
    if (kind == GEMV_SIMD_NONE) {
        cnn_sgemv_with(impl, m, k, alpha, a, lda, x, beta, y);
        return 0;
    }
    if (gemv_simd_best() < kind)
        return -1;
    gemv_simd(kind, m, k, alpha, a, lda, x, beta, y);
    return 0;
}

static void run_gemv(size_t m, size_t k, size_t pad, float alpha, float beta,
                     uint64_t seed)
{
    static const cnn_gemm_impl impls[] = {CNN_GEMM_AVX512, CNN_GEMM_OPENBLAS,
                                          CNN_GEMM_AUTO, GEMV_DIRECT_AVX2,
                                          GEMV_DIRECT_AVX512};
    rng r = {seed};
    size_t lda = k + pad, count;
    float *a = make_matrix(&r, m, k, lda ? lda : 1, &count);
    float *x = malloc(at_least_1(k) * sizeof *x);
    float *y0 = malloc(at_least_1(m) * sizeof *y0);
    float *y = malloc((m + 2 * GUARD) * sizeof *y);
    cr_assert(x && y0 && y);
    for (size_t j = 0; j < k; j++)
        x[j] = rng_unit(&r);
    for (size_t i = 0; i < m; i++)
        y0[i] = beta == 0.0f ? NAN : rng_unit(&r);
    for (size_t v = 0; v < sizeof impls / sizeof *impls; v++) {
        for (size_t i = 0; i < m + 2 * GUARD; i++)
            y[i] = SENTINEL;
        memcpy(y + GUARD, y0, m * sizeof *y);
        if (gemv_via(impls[v], m, k, alpha, a, lda ? lda : 1, x, beta,
                     y + GUARD) != 0)
            continue; /* this CPU cannot run that kernel */
        for (size_t i = 0; i < GUARD; i++)
            cr_assert(y[i] == SENTINEL && y[GUARD + m + i] == SENTINEL,
                      "sgemv impl %d m=%zu k=%zu: wrote outside y", impls[v],
                      m, k);
        for (size_t i = 0; i < m; i++) {
            double exact = 0.0, mag = 0.0;
            for (size_t j = 0; j < k; j++) {
                double t = (double)a[i * lda + j] * (double)x[j];
                exact += t;
                mag += fabs(t);
            }
            exact *= alpha;
            mag *= fabs((double)alpha);
            if (beta != 0.0f) {
                exact += (double)beta * (double)y0[i];
                mag += fabs((double)beta * (double)y0[i]);
            }
            double err = fabs((double)y[GUARD + i] - exact);
            cr_assert(err <= gamma_n(k + 4) * mag,
                      "sgemv impl %d m=%zu k=%zu lda=%zu alpha=%g beta=%g: "
                      "y[%zu] = %.9g, exact %.9g (error %.3g, bound %.3g)",
                      impls[v], m, k, lda, (double)alpha, (double)beta, i,
                      (double)y[GUARD + i], exact, err,
                      gamma_n(k + 4) * mag);
        }
    }
    free(a);
    free(x);
    free(y0);
    free(y);
}

Test(gemm, gemv)
{
    static const size_t ms[] = {1, 3, 4, 5, 7, 8, 17, 100};
    /* Tails of every length class for 8- and 16-lane vectors, two
     * accumulators per row: no full group, a leftover vector, both. */
    static const size_t ks[] = {1, 15, 16, 17, 48, 63, 100, 4100};
    static const float betas[] = {0.0f, 1.0f, 0.5f};
    unsigned v = 0;
    for (size_t i = 0; i < COUNT(ms); i++)
        for (size_t j = 0; j < COUNT(ks); j++, v++)
            run_gemv(ms[i], ks[j], v % 3 == 0 ? 0 : 5,
                     v % 2 ? -2.5f : 1.0f, betas[v % 3], 1000 + v);
    /* k = 0 and alpha = 0: y = beta y exactly. */
    run_gemv(9, 0, 0, 1.0f, 0.5f, 7);
    run_gemv(9, 20, 0, 0.0f, 0.0f, 8);
}

/* Rows split between calls (as dense splits them between threads) give
 * bit for bit the rows of one call, through each kernel of ours: which
 * rows a call holds never changes a row's sum. (The dispatcher may give
 * two calls of different sizes to different implementations, so a split
 * can still change bits when it moves a call to another shape class.) */
Test(gemm, gemv_split_rows)
{
    static const cnn_gemm_impl impls[] = {GEMV_DIRECT_AVX2,
                                          GEMV_DIRECT_AVX512};
    static const size_t cuts[] = {1, 4, 5, 16, 17, 36};
    const size_t m = 37, k = 1013;
    rng r = {77};
    size_t count;
    float *a = make_matrix(&r, m, k, k, &count);
    float *x = malloc(k * sizeof *x), *whole = malloc(m * sizeof *whole);
    float *parts = malloc(m * sizeof *parts);
    cr_assert(x && whole && parts);
    for (size_t j = 0; j < k; j++)
        x[j] = rng_unit(&r);
    for (size_t v = 0; v < COUNT(impls); v++) {
        if (gemv_via(impls[v], m, k, 1.0f, a, k, x, 0.0f, whole) != 0)
            continue;
        for (size_t c = 0; c < COUNT(cuts); c++) {
            size_t s = cuts[c];
            gemv_via(impls[v], s, k, 1.0f, a, k, x, 0.0f, parts);
            gemv_via(impls[v], m - s, k, 1.0f, a + s * k, k, x, 0.0f,
                     parts + s);
            cr_expect(memcmp(whole, parts, m * sizeof *whole) == 0,
                      "impl %d: rows split at %zu differ from one call",
                      (int)impls[v], s);
        }
    }
    free(a);
    free(x);
    free(whole);
    free(parts);
}

/* ---- Several vectors at once (cnn_sgemv_batch) ------------------------- */

/* Y = alpha X A^T + beta Y through impl: the dispatcher, or a kernel of
 * ours directly. 0, or -1 when the CPU cannot run that kernel. */
static int gemv_batch_via(cnn_gemm_impl impl, size_t n, size_t m, size_t k,
                          float alpha, const float *a, size_t lda,
                          const float *x, size_t ldx, float beta, float *y,
                          size_t ldy)
{
    gemv_simd_kind kind = impl == GEMV_DIRECT_AVX2     ? GEMV_SIMD_AVX2
                          : impl == GEMV_DIRECT_AVX512 ? GEMV_SIMD_AVX512
                                                       : GEMV_SIMD_NONE;
    if (kind == GEMV_SIMD_NONE) {
        cnn_sgemv_batch_with(impl, n, m, k, alpha, a, lda, x, ldx, beta, y,
                             ldy);
        return 0;
    }
    if (gemv_simd_best() < kind)
        return -1;
    cr_assert(gemv_simd_multi(kind, n, m, k, alpha, a, lda, x, ldx, beta, y,
                              ldy) == 0);
    return 0;
}

/* Every implementation against the double reference, with padded rows of
 * X, A and Y: the padding of A and X is NaN (never read), Y's padding and
 * the rows around it are sentinels (never written), beta 0 starts Y as
 * NaN (never read). */
static void run_gemv_batch(size_t n, size_t m, size_t k, size_t pad,
                           float alpha, float beta, uint64_t seed)
{
    static const cnn_gemm_impl impls[] = {CNN_GEMM_AVX512, CNN_GEMM_OPENBLAS,
                                          CNN_GEMM_AUTO, GEMV_DIRECT_AVX2,
                                          GEMV_DIRECT_AVX512};
    rng r = {seed};
    size_t lda = k + pad, ldx = k + pad, ldy = m + pad, count;
    float *a = make_matrix(&r, m, k, at_least_1(lda), &count);
    float *x = make_matrix(&r, n, k, at_least_1(ldx), &count);
    size_t yfloats = n * ldy + 2 * GUARD;
    float *y0 = malloc(yfloats * sizeof *y0), *y = malloc(yfloats * sizeof *y);
    cr_assert(a && x && y0 && y);
    for (size_t i = 0; i < yfloats; i++)
        y0[i] = SENTINEL;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++)
            y0[GUARD + i * ldy + j] = beta == 0.0f ? NAN : rng_unit(&r);
    for (size_t v = 0; v < COUNT(impls); v++) {
        memcpy(y, y0, yfloats * sizeof *y);
        if (gemv_batch_via(impls[v], n, m, k, alpha, a, at_least_1(lda), x,
                           at_least_1(ldx), beta, y + GUARD, ldy) != 0)
            continue; /* this CPU cannot run that kernel */
        for (size_t e = 0; e < yfloats; e++) {
            size_t off = e - GUARD;
            int inside = e >= GUARD && off < n * ldy && off % ldy < m;
            if (!inside)
                cr_assert(y[e] == SENTINEL,
                          "sgemv_batch impl %d n=%zu m=%zu k=%zu: wrote "
                          "outside Y (float %zu)",
                          (int)impls[v], n, m, k, e);
        }
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < m; j++) {
                double exact = 0.0, mag = 0.0;
                double y_in = (double)y0[GUARD + i * ldy + j];
                for (size_t p = 0; p < k; p++) {
                    double t = (double)a[j * lda + p] * (double)x[i * ldx + p];
                    exact += t;
                    mag += fabs(t);
                }
                exact *= alpha;
                mag *= fabs((double)alpha);
                if (beta != 0.0f) {
                    exact += (double)beta * y_in;
                    mag += fabs((double)beta * y_in);
                }
                double got = (double)y[GUARD + i * ldy + j];
                double err = fabs(got - exact);
                cr_assert(err <= gamma_n(k + 4) * mag,
                          "sgemv_batch impl %d n=%zu m=%zu k=%zu alpha=%g "
                          "beta=%g: y[%zu][%zu] = %.9g, exact %.9g (error "
                          "%.3g, bound %.3g)",
                          (int)impls[v], n, m, k, (double)alpha,
                          (double)beta, i, j, got, exact, err,
                          gamma_n(k + 4) * mag);
            }
    }
    free(a);
    free(x);
    free(y0);
    free(y);
}

Test(gemm, gemv_batch)
{
    /* Vectors: each register-block count (1-8), two groups (9, 16), past
     * the kernel's limit (17: a GEMM). Rows: full groups of 3, leftovers. */
    static const size_t ns[] = {1, 2, 3, 5, 7, 8, 9, 16, 17};
    static const size_t ms[] = {1, 2, 3, 4, 7, 100};
    static const size_t ks[] = {1, 15, 16, 17, 100, 4100};
    static const float betas[] = {0.0f, 1.0f, 0.5f};
    unsigned v = 0;
    for (size_t a = 0; a < COUNT(ns); a++)
        for (size_t b = 0; b < COUNT(ms); b++)
            for (size_t c = 0; c < COUNT(ks); c++, v++)
                run_gemv_batch(ns[a], ms[b], ks[c], v % 3 == 0 ? 0 : 5,
                               v % 2 ? -2.5f : 1.0f, betas[v % 3], 5000 + v);
    /* k = 0 and alpha = 0: Y = beta Y exactly. */
    run_gemv_batch(4, 9, 0, 0, 1.0f, 0.5f, 9);
    run_gemv_batch(4, 9, 20, 0, 0.0f, 0.0f, 10);
}

/* As gemv_split_rows, for several vectors: rows of A split between calls
 * (dense's threads) or vectors split between calls give bit for bit the
 * results of one call, through each kernel of ours. */
Test(gemm, gemv_batch_split)
{
    static const cnn_gemm_impl impls[] = {GEMV_DIRECT_AVX2,
                                          GEMV_DIRECT_AVX512};
    static const size_t cuts[] = {1, 3, 4, 16, 17, 36};
    const size_t n = 11, m = 37, k = 1013;
    rng r = {78};
    size_t count;
    float *a = make_matrix(&r, m, k, k, &count);
    float *x = make_matrix(&r, n, k, k, &count);
    float *whole = malloc(n * m * sizeof *whole);
    float *parts = malloc(n * m * sizeof *parts);
    cr_assert(a && x && whole && parts);
    for (size_t v = 0; v < COUNT(impls); v++) {
        if (gemv_batch_via(impls[v], n, m, k, 1.0f, a, k, x, k, 0.0f, whole,
                           m) != 0)
            continue;
        for (size_t c = 0; c < COUNT(cuts); c++) {
            size_t s = cuts[c];
            gemv_batch_via(impls[v], n, s, k, 1.0f, a, k, x, k, 0.0f, parts,
                           m);
            gemv_batch_via(impls[v], n, m - s, k, 1.0f, a + s * k, k, x, k,
                           0.0f, parts + s, m);
            cr_expect(memcmp(whole, parts, n * m * sizeof *whole) == 0,
                      "impl %d: rows split at %zu differ from one call",
                      (int)impls[v], s);
        }
        /* Vectors 0..4 and 5..10 in two calls. */
        gemv_batch_via(impls[v], 5, m, k, 1.0f, a, k, x, k, 0.0f, parts, m);
        gemv_batch_via(impls[v], n - 5, m, k, 1.0f, a, k, x + 5 * k, k, 0.0f,
                       parts + 5 * m, m);
        cr_expect(memcmp(whole, parts, n * m * sizeof *whole) == 0,
                  "impl %d: vectors split at 5 differ from one call",
                  (int)impls[v]);
    }
    free(a);
    free(x);
    free(whole);
    free(parts);
}

/* ---- Dispatch ------------------------------------------------------------ */

static const size_t name_shapes[][3] = {
    {1, 1, 1},    {2, 3, 4},     {3, 100, 100},  {100, 3, 100},
    {100, 100, 3}, {8, 48, 256}, {32, 32, 32},   {16, 100, 150},
    {64, 3136, 576}, {576, 196, 64}, {64, 576, 3136}, {1000, 1000, 1000},
};

/* CNN_GEMM as the library reads it: "openblas", "avx512" or anything else. */
static cnn_gemm_impl env_choice(void)
{
    const char *s = getenv("CNN_GEMM");
    if (s && strcmp(s, "openblas") == 0)
        return CNN_GEMM_OPENBLAS;
    if (s && strcmp(s, "avx512") == 0)
        return CNN_GEMM_AVX512;
    return CNN_GEMM_AUTO;
}

Test(gemm_dispatch, names)
{
    int has = cnn_gemm_has_avx512();
    cr_assert(has == 0 || has == 1, "cnn_gemm_has_avx512() = %d", has);
    cr_assert_eq(cnn_gemm_has_avx512(), has, "answer changed between calls");
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    cr_expect_eq(has, __builtin_cpu_supports("avx512f") != 0,
                 "cnn_gemm_has_avx512() = %d, the CPU says otherwise", has);
#endif
    cnn_gemm_impl env = env_choice();
    for (size_t s = 0; s < COUNT(name_shapes); s++) {
        size_t m = name_shapes[s][0], n = name_shapes[s][1],
               k = name_shapes[s][2];
        const char *name = cnn_gemm_name_for(m, n, k);
        cr_assert_not_null(name, "name for %zux%zux%zu", m, n, k);
        cr_expect(strcmp(name, "avx512") == 0 || strcmp(name, "openblas") == 0,
                  "name for %zux%zux%zu is \"%s\"", m, n, k, name);
        cr_expect_str_eq(cnn_gemm_name_for(m, n, k), name,
                         "name for %zux%zux%zu changed between calls", m, n,
                         k);
        if (!has || env == CNN_GEMM_OPENBLAS)
            cr_expect_str_eq(name, "openblas",
                             "%zux%zux%zu (has_avx512 %d, CNN_GEMM %s)", m, n,
                             k, has, getenv("CNN_GEMM"));
        else if (env == CNN_GEMM_AVX512)
            cr_expect_str_eq(name, "avx512",
                             "%zux%zux%zu with CNN_GEMM=avx512", m, n, k);
    }
    /* Unforced, on a CPU with the kernel: when OpenBLAS runs AVX-512
     * kernels itself (SkylakeX, Cooperlake, Sapphire Rapids: e.g. with
     * OPENBLAS_CORETYPE unset on an AVX-512 machine) it is kept for every
     * shape; otherwise a single multiply-add never pays for packing, and
     * the 64 x 3136 x 576 conv product (the case the kernel exists for)
     * always does. */
    const char *core = openblas_get_corename();
    int blas512 = core && (strcasecmp(core, "skylakex") == 0 ||
                           strcasecmp(core, "cooperlake") == 0 ||
                           strcasecmp(core, "sapphirerapids") == 0);
    /* That is the fixed rule; measured (CNN_GEMM_CALIBRATE not off), the
     * answer is the machine's, and follows_name checks it is obeyed. */
    const char *calib = getenv("CNN_GEMM_CALIBRATE");
    int fixed = calib && strcmp(calib, "off") == 0;
    if (!fixed) {
        cr_expect_str_eq(cnn_gemm_name_for(1, 1, 1), "openblas");
    } else if (has && env == CNN_GEMM_AUTO && blas512) {
        cr_expect_str_eq(cnn_gemm_name_for(64, 3136, 576), "openblas",
                         "OpenBLAS runs %s kernels", core);
        cr_expect_str_eq(cnn_gemm_name_for(1000, 1000, 1000), "openblas");
    } else if (has && env == CNN_GEMM_AUTO) {
        cr_expect_str_eq(cnn_gemm_name_for(1, 1, 1), "openblas");
        cr_expect_str_eq(cnn_gemm_name_for(64, 3136, 576), "avx512");
        cr_expect_str_eq(cnn_gemm_name_for(1000, 1000, 1000), "avx512");
    }
    /* Zero shapes still get a name. */
    cr_expect_not_null(cnn_gemm_name_for(0, 0, 0));
    cr_expect_not_null(cnn_gemm_name_for(0, 10, 10));
}

/* cnn_sgemm does what cnn_gemm_name_for says: bit for bit the result of the
 * named implementation. */
Test(gemm_dispatch, follows_name)
{
    for (size_t s = 0; s < COUNT(name_shapes); s++) {
        size_t m = name_shapes[s][0], n = name_shapes[s][1],
               k = name_shapes[s][2];
        if (m * n * k > (size_t)20000000)
            continue; /* keep it quick */
        rng r = {0xF0000000u + s};
        size_t ac, bc;
        float *a = make_matrix(&r, m, k, k, &ac);
        float *b = make_matrix(&r, k, n, n, &bc);
        float *c1 = malloc(m * n * sizeof *c1);
        float *c2 = malloc(m * n * sizeof *c2);
        cr_assert(c1 && c2);
        for (size_t i = 0; i < m * n; i++)
            c1[i] = c2[i] = rng_unit(&r);
        const char *name = cnn_gemm_name_for(m, n, k);
        cnn_gemm_impl impl = strcmp(name, "avx512") == 0 ? CNN_GEMM_AVX512
                                                         : CNN_GEMM_OPENBLAS;
        cnn_sgemm(0, 0, m, n, k, -2.5f, a, k, b, n, 0.5f, c1, n);
        cnn_sgemm_with(impl, 0, 0, m, n, k, -2.5f, a, k, b, n, 0.5f, c2, n);
        cr_expect(memcmp(c1, c2, m * n * sizeof *c1) == 0,
                  "%zux%zux%zu: cnn_sgemm differs from %s", m, n, k, name);
        free(c2);
        free(c1);
        free(b);
        free(a);
    }
}
