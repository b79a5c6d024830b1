/* SPDX-License-Identifier: MIT */
/* Winograd F(4x4, 3x3) for the forward pass at inference (Lavin and Gray
 * 2015, interpolation points 0, +-1, +-2 and infinity).
 *
 * Each 4x4 block of outputs comes from a 6x6 input patch d:
 *
 *   Y = A^T [ (G g G^T) .* (B^T d B) ] A          (.* elementwise, 6x6)
 *
 *   B^T = | 4  0 -5  0  1  0 |   G = |  1/4     0     0  |
 *         | 0 -4 -4  1  1  0 |       | -1/6  -1/6  -1/6  |
 *         | 0  4 -4 -1  1  0 |       | -1/6   1/6  -1/6  |
 *         | 0 -2 -1  2  1  0 |       |  1/24  1/12  1/6  |
 *         | 0  2 -1 -2  1  0 |       |  1/24 -1/12  1/6  |
 *         | 0  4  0 -5  0  1 |       |   0     0     1   |
 *
 *   A^T = | 1  1  1  1  1  0 |
 *         | 0  1 -1  2 -2  0 |
 *         | 0  1  1  4  4  0 |
 *         | 0  1 -1  8 -8  1 |
 *
 * 36 GEMMs of C-long dot products per 16 outputs of each filter instead of
 * F(2x2, 3x3)'s 16 per 4 (winograd.c): 1.78 times fewer multiply-adds
 * again, 4 times fewer than im2col + GEMM. The price is rounding: the
 * transforms' coefficients (up to 8, and thirds that float cannot hold)
 * make the error about ten times that of a plain sum of products, a few
 * parts in a million of the output's magnitude on 64 to 512 channels
 * (docs/performance.md). So it runs only where its result is kept for
 * inference: with a params token, whose transformed filters conv.c keeps
 * (transformed in double, rounded once). Training keeps F(2x2, 3x3) and
 * its exact-coefficient transforms, forward and backward.
 *
 * The layout follows winograd.c: blocks of whole tile rows, one dummy tile
 * per row so each transform is one long vector loop, each padded input row
 * split into its four column phases (x mod 4) so a tile's six columns are
 * phases 0-3 at its index and phases 0-1 at the next. The output
 * transform applies the bias and the folded followers (ABI 1.4) to each
 * output row while it is in cache. */
#include "gemm.h"
#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "conv_impl.h"

#include "winograd.h"

/* Tiles whose outputs fall outside the plane are computed and dropped: at
 * most a fifth of the tiles' area (56x56, 28x28 and 112x112 planes waste
 * none; 14x14 wastes 23%, 13x13 34%). */
int conv_wino4_applies(const conv_run *r)
{
    const conv_geom *g = &r->g;
    if (!conv_wino_applies(r))
        return 0;
    uint64_t covered = (uint64_t)((g->oh + 3) / 4) * (uint64_t)((g->ow + 3) / 4) * 16u;
    uint64_t waste = covered - (uint64_t)g->oh * (uint64_t)g->ow;
    return 5 * waste <= covered;
}

/* ---- Filter transform --------------------------------------------------- */

static const double wino4_g[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1}};

size_t conv_wino4_filters_floats(const conv_run *r)
{
    return 36 * (size_t)r->k * (size_t)r->g.c;
}

/* dst[xi][k][c] = (G g G^T)[xi] of filter (k, c), in double, rounded once:
 * the [36][K][C] layout the GEMMs read. */
void conv_wino4_filters(const conv_run *r, float *dst)
{
    const size_t kc = (size_t)r->k * (size_t)r->g.c;
    for (size_t f = 0; f < kc; f++) {
        const float *g = r->w + f * 9;
        double gg[6][3]; /* G g */
        for (int p = 0; p < 6; p++)
            for (int b = 0; b < 3; b++)
                gg[p][b] = wino4_g[p][0] * g[b] + wino4_g[p][1] * g[3 + b] +
                           wino4_g[p][2] * g[6 + b];
        for (int p = 0; p < 6; p++)
            for (int q = 0; q < 6; q++)
                dst[(size_t)(p * 6 + q) * kc + f] =
                    (float)(gg[p][0] * wino4_g[q][0] +
                            gg[p][1] * wino4_g[q][1] +
                            gg[p][2] * wino4_g[q][2]);
    }
}

/* ---- Input transform ---------------------------------------------------- */

/* Column phases of padded input row y of plane: with e[x] = src[y][x - pw]
 * (0 outside), ph[q][i] = e[4 i + q] for i in [0, len). */
static void split_row4(const wino_job *j, const float *plane, int64_t y,
                       float *const ph[4], size_t len)
{
    const int64_t pw = j->pw, iw = j->iw, n = (int64_t)len;
    if (y < 0 || y >= j->ih) {
        for (int q = 0; q < 4; q++)
            memset(ph[q], 0, len * sizeof(float));
        return;
    }
    const float *restrict row = plane + y * iw;
    /* i in [lo, hi) has all of 4 i - pw .. 4 i + 3 - pw inside the row. */
    int64_t lo = (pw + 3) / 4, hi = (iw - 4 + pw) / 4 + 1;
    if (iw - 4 + pw < 0)
        hi = 0;
    if (hi > n)
        hi = n;
    if (lo > hi)
        lo = hi;
    for (int64_t i = 0; i < n; i++) {
        if (i == lo) {
            const float *restrict r4 = row + (4 * lo - pw);
            float *restrict p0 = ph[0] + lo, *restrict p1 = ph[1] + lo;
            float *restrict p2 = ph[2] + lo, *restrict p3 = ph[3] + lo;
            int64_t t = 0;
#if defined(__SSE2__)
            /* Four tiles' columns at once, a 4x4 transpose. */
            for (; t + 4 <= hi - lo; t += 4) {
                __m128 a = _mm_loadu_ps(r4 + 4 * t);
                __m128 b = _mm_loadu_ps(r4 + 4 * t + 4);
                __m128 c = _mm_loadu_ps(r4 + 4 * t + 8);
                __m128 d = _mm_loadu_ps(r4 + 4 * t + 12);
                _MM_TRANSPOSE4_PS(a, b, c, d);
                _mm_storeu_ps(p0 + t, a);
                _mm_storeu_ps(p1 + t, b);
                _mm_storeu_ps(p2 + t, c);
                _mm_storeu_ps(p3 + t, d);
            }
#endif
            for (; t < hi - lo; t++) {
                p0[t] = r4[4 * t];
                p1[t] = r4[4 * t + 1];
                p2[t] = r4[4 * t + 2];
                p3[t] = r4[4 * t + 3];
            }
            i = hi;
            if (i >= n)
                break;
        }
        for (int q = 0; q < 4; q++) {
            int64_t x = 4 * i + q - pw;
            ph[q][i] = x >= 0 && x < iw ? row[x] : 0.0f;
        }
    }
}

/* Scratch of one slot for blocks of up to `rows` tile rows, in G = rows + 1
 * groups of four input rows: the phases P[i][q] of input row 4 g + i (16
 * arrays of G ts + 1 floats) and their row transforms R[i][s] (24 arrays of
 * G ts); the output transform reuses it (16 arrays of rows ts). */
size_t wino4_scratch_floats(const wino_job *j, size_t rows)
{
    size_t ts = wino_tile_stride(j), groups = rows + 1;
    return 16 * (groups * ts + 1) + 24 * groups * ts;
}

/* B^T applied across six vectors of n: o[p][k] = (B^T (i0 .. i5)[k])[p]. */
static void times_bt4(const float *restrict i0, const float *restrict i1,
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
 * [ty0, ty0 + rows) of image img, every channel; k = row * (tw + 1) + tx. */
void wino4_input_segment(const wino_job *j, size_t img, int64_t ty0,
                         size_t rows, float *v, size_t ldv, size_t col,
                         float *scratch)
{
    const size_t ts = wino_tile_stride(j), plane = (size_t)(j->ih * j->iw);
    const size_t ci = (size_t)j->ci, groups = rows + 1;
    const size_t gl = groups * ts, n = rows * ts, plen = gl + 1;
    float *p = scratch, *rt = scratch + 16 * plen;

    for (size_t a = 0; a < 16; a++)
        p[a * plen + gl] = 0.0f; /* read by the last dummy tile only */
    for (size_t c = 0; c < ci; c++) {
        const float *src = j->in + (img * ci + c) * plane;
        for (size_t g = 0; g < groups; g++)
            for (int i = 0; i < 4; i++) {
                float *ph[4];
                for (int q = 0; q < 4; q++)
                    ph[q] = p + (size_t)(i * 4 + q) * plen + g * ts;
                split_row4(j, src, 4 * (ty0 + (int64_t)g) + i - j->ph, ph,
                           ts);
            }
        /* Along rows: the tile at k has columns p0..p3 at k, p0, p1 at
         * k + 1. */
        for (int i = 0; i < 4; i++) {
            const float *pi = p + (size_t)i * 4 * plen;
            float *ri = rt + (size_t)i * 6 * gl;
            times_bt4(pi, pi + plen, pi + 2 * plen, pi + 3 * plen, pi + 1,
                      pi + plen + 1, ri, ri + gl, ri + 2 * gl, ri + 3 * gl,
                      ri + 4 * gl, ri + 5 * gl, gl);
        }
        /* Patch row p of tile row t is input row 4 t + p: rows 0-3 of the
         * group, then rows 0-1 of the next (one group, ts columns, on). */
        for (size_t q = 0; q < 6; q++) {
            const float *r0 = rt + q * gl;
            float *v0 = v + (q * ci + c) * ldv + col;
            const size_t lp = 6 * ci * ldv; /* from V row p to p + 1 */
            times_bt4(r0, r0 + 6 * gl, r0 + 12 * gl, r0 + 18 * gl, r0 + ts,
                      r0 + 6 * gl + ts, v0, v0 + lp, v0 + 2 * lp, v0 + 3 * lp,
                      v0 + 4 * lp, v0 + 5 * lp, n);
        }
    }
}

/* ---- Output transform --------------------------------------------------- */

/* A^T applied across six vectors of n: o[a][k] = (A^T (i0 .. i5)[k])[a]. */
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

/* A^T m A for n tiles: m rows xi at m + xi * ldm, results y[a * 4 + b][k]
 * (16 rows of n), through w[a][q][k] (24 rows of n after y). Two passes of
 * whole-row vector loops: one loop over the tiles doing both kept 24
 * partial sums per tile and ran scalar. */
static void tile_output4(const float *m, size_t ldm, float *y, size_t n)
{
    float *w = y + 16 * n;
    for (size_t q = 0; q < 6; q++)
        times_at4(m + q * ldm, m + (6 + q) * ldm, m + (12 + q) * ldm,
                  m + (18 + q) * ldm, m + (24 + q) * ldm, m + (30 + q) * ldm,
                  w + q * n, w + (6 + q) * n, w + (12 + q) * n,
                  w + (18 + q) * n, n);
    for (size_t a = 0; a < 4; a++) {
        const float *wa = w + a * 6 * n;
        times_at4(wa, wa + n, wa + 2 * n, wa + 3 * n, wa + 4 * n, wa + 5 * n,
                  y + a * 4 * n, y + (a * 4 + 1) * n, y + (a * 4 + 2) * n,
                  y + (a * 4 + 3) * n, n);
    }
}

/* dst[4 t + b] = yb[t] + bias for t < n, b < 4, then the folded
 * followers of channel o (ep may be NULL). */
static void interleave_row4(float *restrict dst, const float *restrict y0,
                            const float *restrict y1,
                            const float *restrict y2,
                            const float *restrict y3, float bias, size_t n,
                            const cnn_epilogue *ep, int64_t o)
{
    size_t t = 0;
#if defined(__SSE2__)
    /* Four tiles at once, a 4x4 transpose; the map as conv_ep512_apply
     * does it (max and min return their second operand for NaN). */
    const __m128 vb = _mm_set1_ps(bias);
    const int affine = ep && ep->affine;
    const __m128 s = _mm_set1_ps(affine ? ep->scale[o] : 1.0f);
    const __m128 sh = _mm_set1_ps(affine ? ep->shift[o] : 0.0f);
    const __m128 lo = _mm_set1_ps(ep ? ep->lo : -HUGE_VALF);
    const __m128 hi = _mm_set1_ps(ep ? ep->hi : HUGE_VALF);
    for (; t + 4 <= n; t += 4) {
        __m128 v[4] = {_mm_add_ps(_mm_loadu_ps(y0 + t), vb),
                       _mm_add_ps(_mm_loadu_ps(y1 + t), vb),
                       _mm_add_ps(_mm_loadu_ps(y2 + t), vb),
                       _mm_add_ps(_mm_loadu_ps(y3 + t), vb)};
        _MM_TRANSPOSE4_PS(v[0], v[1], v[2], v[3]);
        for (int i = 0; i < 4; i++) {
            if (ep) {
                if (affine)
                    v[i] = _mm_add_ps(_mm_mul_ps(v[i], s), sh);
                v[i] = _mm_min_ps(hi, _mm_max_ps(lo, v[i]));
            }
            _mm_storeu_ps(dst + 4 * (t + (size_t)i), v[i]);
        }
    }
#endif
    for (size_t u = t; u < n; u++) {
        dst[4 * u] = y0[u] + bias;
        dst[4 * u + 1] = y1[u] + bias;
        dst[4 * u + 2] = y2[u] + bias;
        dst[4 * u + 3] = y3[u] + bias;
    }
    if (ep && t < n)
        cnn_epilogue_apply(ep, o, dst + 4 * t, 4 * (n - t));
}

/* out[img][o][4 ty + a][4 tx + b] = (A^T m A)[a][b] + bias, then the
 * folded followers, for the tiles of tile rows [ty0, ty0 + rows), with
 * m[xi][k] = M[xi][o][col + k]. */
void wino4_output_segment(const wino_job *j, size_t img, int64_t ty0,
                          size_t rows, const float *m, size_t ldm, size_t col,
                          float *scratch)
{
    const size_t ts = wino_tile_stride(j), n = rows * ts;
    const size_t ow = (size_t)j->ow, oplane = (size_t)(j->oh * j->ow);
    const size_t co = (size_t)j->co, kg = (size_t)j->kg;
    const size_t full = ow / 4, rest = ow - 4 * full;
    float *y = scratch;

    for (size_t o = 0; o < kg; o++) {
        tile_output4(m + o * ldm + col, kg * ldm, y, n);
        float bias = j->b ? j->b[o] : 0.0f;
        float *plane = j->out + (img * co + o) * oplane;
        for (size_t r = 0; r < rows; r++) {
            for (size_t a = 0; a < 4; a++) {
                int64_t oy = 4 * (ty0 + (int64_t)r) + (int64_t)a;
                if (oy >= j->oh)
                    break;
                const float *ya = y + a * 4 * n + r * ts;
                float *dst = plane + (size_t)oy * ow;
                interleave_row4(dst, ya, ya + n, ya + 2 * n, ya + 3 * n, bias,
                                full, j->ep, (int64_t)o);
                for (size_t b = 0; b < rest; b++)
                    dst[4 * full + b] = ya[b * n + full] + bias;
                if (j->ep && rest)
                    cnn_epilogue_apply(j->ep, (int64_t)o, dst + 4 * full,
                                       rest);
            }
        }
    }
}

cnn_status conv_wino4_forward(conv_run *r, const float *filters,
                              cnn_errbuf *err)
{
    const cnn_layer_env *env = r->env;
    wino_job j;

    wino_job_init(&j, r);
    j.tile = 4;
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
    if (!j.ws) /* short of workspace */
        return conv_wino_forward_with(r, NULL, err);
    wino_run_blocks(&j);
    r->epilogue_done = 1;
    return CNN_OK;
}
