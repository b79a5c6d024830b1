/* SPDX-License-Identifier: MIT */
/* Winograd on 6x6 input tiles for the forward pass at inference (Lavin
 * and Gray 2015; interpolation points 0, +-1, +-2 and infinity): F(4x4,
 * 3x3) for 3x3 filters and F(2x2, 5x5) for 5x5 ones. Each m x m block of
 * outputs (m = 4 or 2) comes from a 6x6 input patch d:
 *
 *   Y = A^T [ (G g G^T) .* (B^T d B) ] A          (.* elementwise, 6x6)
 *
 *   B^T = | 4  0 -5  0  1  0 |   G (3x3) = |  1/4     0     0  |
 *         | 0 -4 -4  1  1  0 |             | -1/6  -1/6  -1/6  |
 *         | 0  4 -4 -1  1  0 |             | -1/6   1/6  -1/6  |
 *         | 0 -2 -1  2  1  0 |             |  1/24  1/12  1/6  |
 *         | 0  2 -1 -2  1  0 |             |  1/24 -1/12  1/6  |
 *         | 0  4  0 -5  0  1 |             |   0     0     1   |
 *
 *   A^T (3x3) = | 1  1  1  1  1  0 |     A^T (5x5) = the first row and
 *               | 0  1 -1  2 -2  0 |     | 0  1 -1  2 -2  1 |;
 *               | 0  1  1  4  4  0 |     G (5x5): row p is G(3x3)'s
 *               | 0  1 -1  8 -8  1 |     factor times (1 a a^2 a^3 a^4)
 *                                        for point a, and (0 0 0 0 1).
 *
 * B^T is the same for both (it depends on the points only). Per output and
 * input channel: 36/16 multiply-adds for 3x3 (against F(2x2, 3x3)'s 16/4 in
 * winograd.c and im2col's 9) and 36/4 for 5x5 (against 25), as 36 GEMMs
 * with C-long dot products. The price is rounding: the transforms'
 * coefficients (up to 8, and thirds that float cannot hold) make the error
 * about ten times that of a plain sum of products, a few parts in a
 * million of the output's magnitude on 64 to 512 channels
 * (docs/performance.md). So they run only where the result is for
 * inference: with a params token, whose transformed filters conv.c keeps
 * (transformed in double, rounded once). Training keeps F(2x2, 3x3) with
 * its exact-coefficient transforms, and im2col or the direct kernels.
 *
 * The layout follows winograd.c, whose block loop runs these too: blocks
 * of whole tile rows with dummy tiles at the end of each row so each
 * transform is one long vector loop over the block, each padded input row
 * split into its m column phases (x mod m) so that a tile's six columns
 * are phase j mod m at index tile + j / m. The output transform applies
 * the bias and the folded followers (ABI 1.4) to each output row while it
 * is in cache. */
#include "gemm.h"
#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "conv_impl.h"

#include "winograd.h"

/* Tiles whose outputs fall outside the plane are computed and dropped: at
 * most a fifth of the tiles' area. F(4x4, 3x3): 56x56, 28x28 and 112x112
 * planes waste none; 14x14 wastes 23%, 13x13 34%, both measured slower
 * than F(2x2, 3x3) at batch 8. */
static int tiles_fit(const conv_geom *g, int64_t m)
{
    uint64_t covered = (uint64_t)((g->oh + m - 1) / m) *
                       (uint64_t)((g->ow + m - 1) / m) * (uint64_t)(m * m);
    uint64_t waste = covered - (uint64_t)g->oh * (uint64_t)g->ow;
    return 5 * waste <= covered;
}

int conv_wino6_applies(const conv_run *r)
{
    const conv_geom *g = &r->g;
    if (g->kh == 3)
        return conv_wino_applies(r) && tiles_fit(g, 4);
    return conv_is_plain(r) && g->kh == 5 && g->kw == 5 && g->sh == 1 &&
           g->sw == 1 && g->c >= WINO_MIN_C && r->k >= WINO_MIN_K &&
           (uint64_t)r->n * (uint64_t)g->oh * (uint64_t)g->ow >=
               WINO_MIN_PIXELS &&
           tiles_fit(g, 2);
}

/* ---- Filter transform --------------------------------------------------- */

/* G's rows for 3x3 filters: factor f_p times (1 a a^2) for point a. */
static const double wino6_factor[5] = {1.0 / 4, -1.0 / 6, -1.0 / 6,
                                       1.0 / 24, 1.0 / 24};
static const double wino6_point[5] = {0, 1, -1, 2, -2};

/* G [6][taps]: factor times powers of the point; infinity's row picks the
 * last tap. */
static void wino6_g(double g[6][5], int taps)
{
    for (int p = 0; p < 6; p++)
        for (int e = 0; e < taps; e++) {
            double v = p == 5 ? (e == taps - 1) : wino6_factor[p];
            for (int i = 0; p < 5 && i < e; i++)
                v *= wino6_point[p];
            g[p][e] = v;
        }
}

size_t conv_wino6_filters_floats(const conv_run *r)
{
    return 36 * (size_t)r->k * (size_t)r->g.c;
}

/* dst[xi][k][c] = (G g G^T)[xi] of filter (k, c), in double, rounded once:
 * the [36][K][C] layout the GEMMs read. */
void conv_wino6_filters(const conv_run *r, float *dst)
{
    const int taps = (int)r->g.kh;
    const size_t kc = (size_t)r->k * (size_t)r->g.c;
    double gm[6][5];

    wino6_g(gm, taps);
    for (size_t f = 0; f < kc; f++) {
        const float *g = r->w + f * (size_t)(taps * taps);
        double gg[6][5]; /* G g */
        for (int p = 0; p < 6; p++)
            for (int b = 0; b < taps; b++) {
                double sum = 0.0;
                for (int e = 0; e < taps; e++)
                    sum += gm[p][e] * g[e * taps + b];
                gg[p][b] = sum;
            }
        for (int p = 0; p < 6; p++)
            for (int q = 0; q < 6; q++) {
                double sum = 0.0;
                for (int b = 0; b < taps; b++)
                    sum += gg[p][b] * gm[q][b];
                dst[(size_t)(p * 6 + q) * kc + f] = (float)sum;
            }
    }
}

/* ---- Input transform ---------------------------------------------------- */

/* ph[q][i] = row[m i + q - pw], 0 outside the row, for i in [i0, i1). */
static void split_edge(const float *row, int64_t iw, int64_t pw, int64_t m,
                       float *const ph[4], int64_t i0, int64_t i1)
{
    for (int64_t i = i0; i < i1; i++)
        for (int64_t q = 0; q < m; q++) {
            int64_t x = m * i + q - pw;
            ph[q][i] = x >= 0 && x < iw ? row[x] : 0.0f;
        }
}

/* ph[q][at + t] = src[4 t + q] for t < cnt, q < 4. */
static void deinterleave4(const float *restrict src, float *const ph[4],
                          int64_t at, int64_t cnt)
{
    float *restrict p0 = ph[0] + at, *restrict p1 = ph[1] + at;
    float *restrict p2 = ph[2] + at, *restrict p3 = ph[3] + at;
    int64_t t = 0;
#if defined(__SSE2__)
    /* Four tiles' columns at once, a 4x4 transpose. */
    for (; t + 4 <= cnt; t += 4) {
        __m128 a = _mm_loadu_ps(src + 4 * t);
        __m128 b = _mm_loadu_ps(src + 4 * t + 4);
        __m128 c = _mm_loadu_ps(src + 4 * t + 8);
        __m128 d = _mm_loadu_ps(src + 4 * t + 12);
        _MM_TRANSPOSE4_PS(a, b, c, d);
        _mm_storeu_ps(p0 + t, a);
        _mm_storeu_ps(p1 + t, b);
        _mm_storeu_ps(p2 + t, c);
        _mm_storeu_ps(p3 + t, d);
    }
#endif
    for (; t < cnt; t++) {
        p0[t] = src[4 * t];
        p1[t] = src[4 * t + 1];
        p2[t] = src[4 * t + 2];
        p3[t] = src[4 * t + 3];
    }
}

/* ph[q][at + t] = src[2 t + q] for t < cnt, q < 2. */
static void deinterleave2(const float *restrict src, float *const ph[4],
                          int64_t at, int64_t cnt)
{
    float *restrict p0 = ph[0] + at, *restrict p1 = ph[1] + at;
    for (int64_t t = 0; t < cnt; t++) {
        p0[t] = src[2 * t];
        p1[t] = src[2 * t + 1];
    }
}

/* Column phases of padded input row y of plane: with e[x] = src[y][x - pw]
 * (0 outside), ph[q][i] = e[m i + q] for q < m, i in [0, len). */
static void split_row(const wino_job *j, const float *plane, int64_t y,
                      float *const ph[4], size_t len)
{
    const int64_t m = wino_m(j), pw = j->pw, iw = j->iw, n = (int64_t)len;
    if (y < 0 || y >= j->ih) {
        for (int64_t q = 0; q < m; q++)
            memset(ph[q], 0, len * sizeof(float));
        return;
    }
    const float *row = plane + y * iw;
    /* i in [lo, hi) has all of m i - pw .. m i + m - 1 - pw inside the
     * row: no bounds to check there. */
    int64_t lo = (pw + m - 1) / m;
    int64_t hi = iw - m + pw >= 0 ? (iw - m + pw) / m + 1 : 0;
    if (hi > n)
        hi = n;
    if (lo > hi)
        lo = hi;
    split_edge(row, iw, pw, m, ph, 0, lo);
    split_edge(row, iw, pw, m, ph, hi, n);
    if (hi > lo && m == 4)
        deinterleave4(row + (4 * lo - pw), ph, lo, hi - lo);
    else if (hi > lo)
        deinterleave2(row + (2 * lo - pw), ph, lo, hi - lo);
}

/* Tile columns (and rows) past its own that a tile's 6-wide patch reaches
 * into: 5 / m, 1 for 3x3 (m = 4), 2 for 5x5 (m = 2). */
static size_t reach(const wino_job *j)
{
    return (size_t)(5 / wino_m(j));
}

/* Scratch of one slot for blocks of up to `rows` tile rows, in G = rows +
 * reach groups of m input rows: the phases P[i][q] of input row m g + i
 * (m^2 arrays of G ts + reach floats) and their row transforms R[i][s] (6m
 * arrays of G ts); the output transform reuses it (m^2 + 6m arrays of
 * rows ts). */
size_t wino6_scratch_floats(const wino_job *j, size_t rows)
{
    size_t ts = wino_tile_stride(j), m = (size_t)wino_m(j);
    size_t groups = rows + reach(j);
    return m * m * (groups * ts + reach(j)) + 6 * m * groups * ts;
}

/* B^T applied across six vectors of n: o[p][k] = (B^T (i0 .. i5)[k])[p]. */
static void times_bt(const float *restrict i0, const float *restrict i1,
                     const float *restrict i2, const float *restrict i3,
                     const float *restrict i4, const float *restrict i5,
                     float *restrict o0, float *restrict o1,
                     float *restrict o2, float *restrict o3,
                     float *restrict o4, float *restrict o5, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        float d0 = i0[k], d1 = i1[k], d2 = i2[k], d3 = i3[k];
        float d4 = i4[k], d5 = i5[k];
        float t0 = d4 - 4.0f * d2, t1 = d3 - 4.0f * d1;
        float t2 = d4 - d2, t3 = 2.0f * (d3 - d1);
        o0[k] = 4.0f * d0 - 5.0f * d2 + d4;
        o1[k] = t0 + t1;
        o2[k] = t0 - t1;
        o3[k] = t2 + t3;
        o4[k] = t2 - t3;
        o5[k] = 4.0f * d1 - 5.0f * d3 + d5;
    }
}

/* V[xi][c][col + k] = (B^T d B)[xi] for the tiles of tile rows
 * [ty0, ty0 + rows) of image img, every channel; k = row * ts + tx. */
void wino6_input_segment(const wino_job *j, size_t img, int64_t ty0,
                         size_t rows, float *v, size_t ldv, size_t col,
                         float *scratch)
{
    const size_t ts = wino_tile_stride(j), plane = (size_t)(j->ih * j->iw);
    const size_t m = (size_t)wino_m(j), ci = (size_t)j->ci;
    const size_t groups = rows + reach(j), gl = groups * ts, n = rows * ts;
    const size_t plen = gl + reach(j);
    float *p = scratch, *rt = scratch + m * m * plen;

    for (size_t a = 0; a < m * m; a++)
        for (size_t e = gl; e < plen; e++)
            p[a * plen + e] = 0.0f; /* read by the last dummy tiles only */
    for (size_t c = 0; c < ci; c++) {
        const float *src = j->in + (img * ci + c) * plane;
        for (size_t g = 0; g < groups; g++)
            for (size_t i = 0; i < m; i++) {
                float *ph[4];
                for (size_t q = 0; q < m; q++)
                    ph[q] = p + (i * m + q) * plen + g * ts;
                split_row(j, src,
                          (int64_t)m * (ty0 + (int64_t)g) + (int64_t)i - j->ph,
                          ph, ts);
            }
        /* Along rows: the tile at k has column x (of 6) in phase x mod m at
         * k + x / m. */
        for (size_t i = 0; i < m; i++) {
            const float *pi = p + i * m * plen;
            const float *in[6];
            float *ri = rt + i * 6 * gl;
            for (size_t x = 0; x < 6; x++)
                in[x] = pi + (x % m) * plen + x / m;
            times_bt(in[0], in[1], in[2], in[3], in[4], in[5], ri, ri + gl,
                     ri + 2 * gl, ri + 3 * gl, ri + 4 * gl, ri + 5 * gl, gl);
        }
        /* Down columns: patch row y of tile row t is input row m t + y, in
         * phase y mod m of group t + y / m (ts columns on per group). */
        const size_t lp = 6 * ci * ldv; /* from V row p to p + 1 */
        for (size_t q = 0; q < 6; q++) {
            const float *in[6];
            float *v0 = v + (q * ci + c) * ldv + col;
            for (size_t y = 0; y < 6; y++)
                in[y] = rt + ((y % m) * 6 + q) * gl + (y / m) * ts;
            times_bt(in[0], in[1], in[2], in[3], in[4], in[5], v0, v0 + lp,
                     v0 + 2 * lp, v0 + 3 * lp, v0 + 4 * lp, v0 + 5 * lp, n);
        }
    }
}

/* ---- Output transform --------------------------------------------------- */

/* A^T (3x3 filters) across six vectors of n: o[a][k] = (A^T (i0 .. i5)[k])[a]. */
static void times_at4(const float *restrict i0, const float *restrict i1,
                      const float *restrict i2, const float *restrict i3,
                      const float *restrict i4, const float *restrict i5,
                      float *restrict o0, float *restrict o1,
                      float *restrict o2, float *restrict o3, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        float s = i1[k] + i2[k], t = i1[k] - i2[k];
        float u = i3[k] + i4[k], d = i3[k] - i4[k];
        o0[k] = i0[k] + s + u;
        o1[k] = t + 2.0f * d;
        o2[k] = s + 4.0f * u;
        o3[k] = t + 8.0f * d + i5[k];
    }
}

/* A^T (5x5 filters) across six vectors of n. */
static void times_at2(const float *restrict i0, const float *restrict i1,
                      const float *restrict i2, const float *restrict i3,
                      const float *restrict i4, const float *restrict i5,
                      float *restrict o0, float *restrict o1, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        o0[k] = i0[k] + i1[k] + i2[k] + i3[k] + i4[k];
        o1[k] = i1[k] - i2[k] + 2.0f * (i3[k] - i4[k]) + i5[k];
    }
}

/* o[a] = (A^T (in[0] .. in[5]))[a], a < m, across n. */
static void times_at(size_t m, const float *const in[6], float *const o[4],
                     size_t n)
{
    if (m == 4)
        times_at4(in[0], in[1], in[2], in[3], in[4], in[5], o[0], o[1], o[2],
                  o[3], n);
    else
        times_at2(in[0], in[1], in[2], in[3], in[4], in[5], o[0], o[1], n);
}

/* A^T m A for n tiles: m rows xi at m + xi * ldm, results y[a * m + b][k]
 * (m^2 rows of n), through w[a][q][k] (6m rows of n after y). Two passes
 * of whole-row vector loops: one loop over the tiles doing both kept 24
 * partial sums per tile and ran scalar. */
static void tile_output(size_t mt, const float *mm, size_t ldm, float *y,
                        size_t n)
{
    float *w = y + mt * mt * n;
    const float *in[6];
    float *out[4];
    for (size_t q = 0; q < 6; q++) {
        for (size_t p = 0; p < 6; p++)
            in[p] = mm + (p * 6 + q) * ldm;
        for (size_t a = 0; a < mt; a++)
            out[a] = w + (a * 6 + q) * n;
        times_at(mt, in, out, n);
    }
    for (size_t a = 0; a < mt; a++) {
        for (size_t q = 0; q < 6; q++)
            in[q] = w + (a * 6 + q) * n;
        for (size_t b = 0; b < mt; b++)
            out[b] = y + (a * mt + b) * n;
        times_at(mt, in, out, n);
    }
}

/* The folded followers' map on four vectors, as conv_ep512_apply does it
 * (max and min return their second operand for NaN). */
#if defined(__SSE2__)
typedef struct ep128 {
    const cnn_epilogue *ep;
    int affine;
    __m128 s, t, lo, hi;
} ep128;

static ep128 ep128_make(const cnn_epilogue *ep, int64_t o)
{
    ep128 e;
    e.ep = ep;
    e.affine = ep && ep->affine;
    e.s = _mm_set1_ps(e.affine ? ep->scale[o] : 1.0f);
    e.t = _mm_set1_ps(e.affine ? ep->shift[o] : 0.0f);
    e.lo = _mm_set1_ps(ep ? ep->lo : -HUGE_VALF);
    e.hi = _mm_set1_ps(ep ? ep->hi : HUGE_VALF);
    return e;
}

static inline __m128 ep128_apply(const ep128 *e, __m128 v)
{
    if (!e->ep)
        return v;
    if (e->affine)
        v = _mm_add_ps(_mm_mul_ps(v, e->s), e->t);
    return _mm_min_ps(e->hi, _mm_max_ps(e->lo, v));
}
#endif

/* dst[m t + b] = y[b][t] + bias for t < n, b < m, then the folded
 * followers of channel o (ep may be NULL). */
static void interleave_row(size_t mt, float *restrict dst,
                           const float *const y[4], float bias, size_t n,
                           const cnn_epilogue *ep, int64_t o)
{
    size_t t = 0;
#if defined(__SSE2__)
    const ep128 e = ep128_make(ep, o);
    const __m128 vb = _mm_set1_ps(bias);
    if (mt == 4) {
        /* Four tiles at once, a 4x4 transpose. */
        for (; t + 4 <= n; t += 4) {
            __m128 v[4];
            for (int b = 0; b < 4; b++)
                v[b] = _mm_add_ps(_mm_loadu_ps(y[b] + t), vb);
            _MM_TRANSPOSE4_PS(v[0], v[1], v[2], v[3]);
            for (size_t i = 0; i < 4; i++)
                _mm_storeu_ps(dst + 4 * (t + i), ep128_apply(&e, v[i]));
        }
    } else {
        for (; t + 4 <= n; t += 4) {
            __m128 a = _mm_add_ps(_mm_loadu_ps(y[0] + t), vb);
            __m128 b = _mm_add_ps(_mm_loadu_ps(y[1] + t), vb);
            _mm_storeu_ps(dst + 2 * t,
                          ep128_apply(&e, _mm_unpacklo_ps(a, b)));
            _mm_storeu_ps(dst + 2 * t + 4,
                          ep128_apply(&e, _mm_unpackhi_ps(a, b)));
        }
    }
#endif
    for (size_t u = t; u < n; u++)
        for (size_t b = 0; b < mt; b++)
            dst[mt * u + b] = y[b][u] + bias;
    if (ep && t < n)
        cnn_epilogue_apply(ep, o, dst + mt * t, mt * (n - t));
}

/* out[img][o][m ty + a][m tx + b] = (A^T m A)[a][b] + bias, then the
 * folded followers, for the tiles of tile rows [ty0, ty0 + rows), with
 * m[xi][k] = M[xi][o][col + k]. */
void wino6_output_segment(const wino_job *j, size_t img, int64_t ty0,
                          size_t rows, const float *m, size_t ldm, size_t col,
                          float *scratch)
{
    const size_t ts = wino_tile_stride(j), n = rows * ts;
    const size_t mt = (size_t)wino_m(j);
    const size_t ow = (size_t)j->ow, oplane = (size_t)(j->oh * j->ow);
    const size_t co = (size_t)j->co, kg = (size_t)j->kg;
    const size_t full = ow / mt, rest = ow - mt * full;
    float *y = scratch;

    for (size_t o = 0; o < kg; o++) {
        tile_output(mt, m + o * ldm + col, kg * ldm, y, n);
        float bias = j->b ? j->b[o] : 0.0f;
        float *plane = j->out + (img * co + o) * oplane;
        for (size_t r = 0; r < rows; r++) {
            for (size_t a = 0; a < mt; a++) {
                int64_t oy = (int64_t)mt * (ty0 + (int64_t)r) + (int64_t)a;
                if (oy >= j->oh)
                    break;
                const float *ya[4];
                for (size_t b = 0; b < mt; b++)
                    ya[b] = y + (a * mt + b) * n + r * ts;
                float *dst = plane + (size_t)oy * ow;
                interleave_row(mt, dst, ya, bias, full, j->ep, (int64_t)o);
                for (size_t b = 0; b < rest; b++)
                    dst[mt * full + b] = ya[b][full] + bias;
                if (j->ep && rest)
                    cnn_epilogue_apply(j->ep, (int64_t)o, dst + mt * full,
                                       rest);
            }
        }
    }
}

cnn_status conv_wino6_forward(conv_run *r, const float *filters,
                              cnn_errbuf *err)
{
    const cnn_layer_env *env = r->env;
    wino_job j;

    wino_job_init(&j, r);
    j.taps = (int)r->g.kh;
    j.tile = j.taps == 3 ? 4 : 2;
    j.out = r->y;
    j.w = r->w;
    j.b = r->b;
    j.ep = r->ep;
    j.kg = j.co;
    j.u = (float *)filters; /* the job only reads u */
    wino_plan(&j, r, 0);
    j.ws = env && env->workspace
               ? env->workspace(env->host, j.slots * j.slot_floats)
               : NULL;
    if (!j.ws) { /* short of workspace */
        if (j.taps == 3)
            return conv_wino_forward_with(r, NULL, err);
        return conv_gemm_forward(r, err);
    }
    wino_run_blocks(&j);
    r->epilogue_done = 1;
    return CNN_OK;
}
