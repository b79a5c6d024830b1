/* SPDX-License-Identifier: MIT */
/* Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions (Lavin and Gray 2015).
 *
 * Each 2x2 block of outputs ("tile") is computed from a 4x4 input patch d:
 *
 *   Y = A^T [ (G g G^T) .* (B^T d B) ] A          (.* elementwise, 4x4)
 *
 *   B^T = | 1  0 -1  0 |   G = |  1    0    0  |   A^T = | 1  1  1  0 |
 *         | 0  1  1  0 |       | 1/2  1/2  1/2 |         | 0  1 -1 -1 |
 *         | 0 -1  1  0 |       | 1/2 -1/2  1/2 |
 *         | 0  1  0 -1 |       |  0    0    1  |
 *
 * Summed over channels, the 16 elementwise products become 16 GEMMs
 * M_xi [K, tiles] = U_xi [K, C] V_xi [C, tiles], with U the transformed
 * filters and V the transformed patches: 16 * C multiply-adds per output
 * tile of each filter instead of 36 * C, so 2.25 times fewer than im2col
 * + GEMM, for a few additions in the transforms. Its transforms have
 * coefficients 0, +-1 and 1/2 only, so the rounding error stays that of a
 * plain sum of products; that is why training (forward and backward) uses
 * it. Inference with kept filters takes F(4x4, 3x3) instead where its tiles
 * fit the plane (winograd6.c: fewer multiplies again, about ten times the
 * rounding error, still a few parts in a million); both run through the
 * block loop below.
 *
 * The input gradient of a 3x3 stride-1 convolution with padding p is again
 * one: dy convolved with the filters rotated by 180 degrees and with input
 * and output channels swapped, padding 2 - p; it runs through the same code.
 *
 * Work: the filter transform (in parallel over filters), then blocks of
 * whole tile rows, each slot transforming its patches, running the 16 GEMMs
 * and transforming the result straight into the output. Along a tile row
 * the transforms are plain vector arithmetic on arrays indexed by the tile
 * column, after splitting each padded input row into its even and odd
 * columns. */
#include "gemm.h"
#include <string.h>

#include "conv_impl.h"

#include "winograd.h"

int conv_wino_applies(const conv_run *r)
{
    const conv_geom *g = &r->g;
    return conv_is_plain(r) && g->kh == 3 && g->kw == 3 && g->sh == 1 &&
           g->sw == 1 && g->ph <= 2 && g->pw <= 2 && g->c >= WINO_MIN_C &&
           r->k >= WINO_MIN_K &&
           (uint64_t)r->n * (uint64_t)g->oh * (uint64_t)g->ow >=
               WINO_MIN_PIXELS;
}

/* ---- Filter transform --------------------------------------------------- */

/* G g G^T is linear in the 9 weights of g: U[xi] = sum over e of
 * T[xi][e] g[e] with T[p q][a b] = G[p][a] G[q][b], entries 0, +-1/4, +-1/2
 * and 1 (exact in float). So the transform of every filter at once is one
 * GEMM, U [16, K C] = T [16, 9] W^T, with W the weight viewed as [K C, 9]:
 * the layout the 16 GEMMs below want, and no scalar loop over 9-float
 * filters with 16 scattered stores each, which took longer than the
 * convolution itself on VGG's 512-channel layers. For the input gradient
 * the filter is rotated by 180 degrees, which reverses e (T's columns). */
static const float wino_g[4][3] = {
    {1.0f, 0.0f, 0.0f}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f},
    {0.0f, 0.0f, 1.0f}};

void wino_filter_matrix(float t[16 * 9], int rotate)
{
    for (int p = 0; p < 4; p++)
        for (int q = 0; q < 4; q++)
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) {
                    int e = a * 3 + b;
                    t[(p * 4 + q) * 9 + (rotate ? 8 - e : e)] =
                        wino_g[p][a] * wino_g[q][b];
                }
}

static void filter_range(void *arg, size_t s0, size_t s1)
{
    const wino_job *j = arg;
    const size_t n = (size_t)(j->kg * j->ci);
    float t[16 * 9];

    wino_filter_matrix(t, j->transpose);
    for (size_t s = s0; s < s1; s++) {
        size_t c0 = n * s / j->slots, c1 = n * (s + 1) / j->slots;
        if (c1 > c0)
            cnn_sgemm(0, 1, 16, (c1 - c0), 9, 1.0f, t, 9,
                      j->w + ((size_t)j->g0 * (size_t)j->ci + c0) * 9, 9, 0.0f,
                      j->u + c0, n);
    }
}

/* ---- Tiles --------------------------------------------------------------- */

/* Layout of a block: its tile rows side by side, each tw + 1 columns wide.
 * The extra column is a dummy tile (made of the next row's first inputs),
 * computed and thrown away: it lets every transform run as one long vector
 * loop over the whole block, where loops over a single tile row (7 to 14
 * tiles in VGG's deeper layers) spent more time starting than running. It
 * costs 1 / (tw + 1) more GEMM columns. */
size_t wino_tile_stride(const wino_job *j)
{
    return (size_t)(j->tw + (wino_m(j) + wino_taps(j) - 2) / wino_m(j));
}

/* Even and odd columns of padded input row y of channel plane src:
 * e[x] = src[y][x - pw] (0 outside), ev[i] = e[2 i], od[i] = e[2 i + 1],
 * for i in [0, tw]. */
static void split_row(const wino_job *j, const float *plane, int64_t y,
                      float *restrict ev, float *restrict od)
{
    const int64_t n = j->tw + 1, pw = j->pw, iw = j->iw;
    if (y < 0 || y >= j->ih) {
        memset(ev, 0, (size_t)n * sizeof *ev);
        memset(od, 0, (size_t)n * sizeof *od);
        return;
    }
    const float *restrict row = plane + y * iw;
    /* i in [lo, hi) has both 2 i - pw and 2 i + 1 - pw inside the row. */
    int64_t lo = (pw + 1) / 2, hi = (iw - 1 + pw) / 2;
    if (hi > n)
        hi = n;
    if (lo > hi)
        lo = hi;
    for (int64_t i = 0; i < lo; i++) {
        int64_t x0 = 2 * i - pw, x1 = x0 + 1;
        ev[i] = x0 >= 0 && x0 < iw ? row[x0] : 0.0f;
        od[i] = x1 >= 0 && x1 < iw ? row[x1] : 0.0f;
    }
    const float *restrict r2 = row + (2 * lo - pw);
    float *restrict e2 = ev + lo, *restrict o2 = od + lo;
    for (int64_t i = 0; i < hi - lo; i++) {
        e2[i] = r2[2 * i];
        o2[i] = r2[2 * i + 1];
    }
    for (int64_t i = hi; i < n; i++) {
        int64_t x0 = 2 * i - pw, x1 = x0 + 1;
        ev[i] = x0 >= 0 && x0 < iw ? row[x0] : 0.0f;
        od[i] = x1 >= 0 && x1 < iw ? row[x1] : 0.0f;
    }
}

/* Scratch floats of one slot for blocks of up to `rows` tile rows: the
 * split input rows (4 arrays of rows + 1 padded rows, plus one float each
 * for the dummy tile's read past the end) and 16 arrays of d B; the output
 * transform reuses it. */
size_t wino_scratch_floats(const wino_job *j, size_t rows)
{
    if (wino_points(j) == 36)
        return wino6_scratch_floats(j, rows);
    size_t ts = wino_tile_stride(j);
    return 4 * ((rows + 1) * ts + 1) + 16 * rows * ts;
}

/* d B for the tiles of n consecutive columns of split rows e (even input
 * columns) and o (odd): the tile at k covers e[k], o[k], e[k+1], o[k+1]:
 *   u0 = e[k] - e[k+1], u1 = o[k] + e[k+1], u2 = e[k+1] - o[k],
 *   u3 = o[k] - o[k+1]; u is [4][n]. */
static void row_times_b(const float *restrict e, const float *restrict o,
                        float *restrict u, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        u[k] = e[k] - e[k + 1];
        u[n + k] = o[k] + e[k + 1];
        u[2 * n + k] = e[k + 1] - o[k];
        u[3 * n + k] = o[k] - o[k + 1];
    }
}

/* B^T (d B): a is [4 rows p][4 q][n]; v rows xi = 4 p + q at v + xi * ldv. */
static void col_times_bt(const float *restrict a, float *restrict v,
                         size_t ldv, size_t n)
{
    for (size_t q = 0; q < 4; q++) {
        const float *restrict a0 = a + q * n, *restrict a1 = a0 + 4 * n;
        const float *restrict a2 = a1 + 4 * n, *restrict a3 = a2 + 4 * n;
        float *restrict v0 = v + q * ldv, *restrict v1 = v0 + 4 * ldv;
        float *restrict v2 = v1 + 4 * ldv, *restrict v3 = v2 + 4 * ldv;
        for (size_t k = 0; k < n; k++) {
            v0[k] = a0[k] - a2[k];
            v1[k] = a1[k] + a2[k];
            v2[k] = a2[k] - a1[k];
            v3[k] = a1[k] - a3[k];
        }
    }
}

/* V[xi][c][col + k] = (B^T d B)[xi] for the tiles of tile rows
 * [ty0, ty0 + rows) of image img, every channel; k = row * (tw + 1) + tx. */
void wino_input_segment(const wino_job *j, size_t img, int64_t ty0,
                          size_t rows, float *v, size_t ldv, size_t col,
                          float *scratch)
{
    const size_t ts = wino_tile_stride(j), plane = (size_t)(j->ih * j->iw);
    const size_t ci = (size_t)j->ci, n = rows * ts, arr = (rows + 1) * ts + 1;
    /* Even input rows' even and odd columns, then odd rows'. */
    float *ee = scratch, *eo = ee + arr, *oe = eo + arr, *oo = oe + arr;
    float *u = oo + arr;

    ee[arr - 1] = eo[arr - 1] = oe[arr - 1] = oo[arr - 1] = 0.0f;
    for (size_t c = 0; c < ci; c++) {
        const float *src = j->in + (img * ci + c) * plane;
        int64_t y0 = 2 * ty0 - j->ph;
        for (size_t r = 0; r <= rows; r++) {
            split_row(j, src, y0 + 2 * (int64_t)r, ee + r * ts, eo + r * ts);
            split_row(j, src, y0 + 2 * (int64_t)r + 1, oe + r * ts,
                      oo + r * ts);
        }
        /* Patch row p of tile row t is input row 2 t + p: even rows for
         * p = 0, 2 (starting one row later for 2), odd rows for 1, 3. */
        row_times_b(ee, eo, u, n);
        row_times_b(oe, oo, u + 4 * n, n);
        row_times_b(ee + ts, eo + ts, u + 8 * n, n);
        row_times_b(oe + ts, oo + ts, u + 12 * n, n);
        col_times_bt(u, v + c * ldv + col, ci * ldv, n);
    }
}

/* A^T m A for n tiles: m rows xi at m + xi * ldm, results y[a * 2 + b][k]
 * (4 rows of n). */
static void tile_output(const float *restrict m, size_t ldm,
                        float *restrict y, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        float s0[4], s1[4];
        for (size_t q = 0; q < 4; q++) {
            float a = m[q * ldm + k], b = m[(4 + q) * ldm + k];
            float c = m[(8 + q) * ldm + k], d = m[(12 + q) * ldm + k];
            s0[q] = a + b + c;
            s1[q] = b - c - d;
        }
        y[k] = s0[0] + s0[1] + s0[2];
        y[n + k] = s0[1] - s0[2] - s0[3];
        y[2 * n + k] = s1[0] + s1[1] + s1[2];
        y[3 * n + k] = s1[1] - s1[2] - s1[3];
    }
}

/* dst[2 t] = even[t] + bias, dst[2 t + 1] = odd[t] + bias for t < n. */
static void interleave_row(float *restrict dst, const float *restrict even,
                           const float *restrict odd, float bias, size_t n)
{
    for (size_t t = 0; t < n; t++) {
        dst[2 * t] = even[t] + bias;
        dst[2 * t + 1] = odd[t] + bias;
    }
}

/* out[img][o][2 ty + a][2 tx + b] = (A^T m A)[a][b] (+ bias) for the tiles
 * of tile rows [ty0, ty0 + rows), with m[xi][k] = M[xi][o - g0][col + k]. */
static void output_segment(const wino_job *j, size_t img, int64_t ty0,
                           size_t rows, const float *m, size_t ldm,
                           size_t col, float *scratch)
{
    const size_t ts = wino_tile_stride(j), tw = (size_t)j->tw, n = rows * ts;
    const size_t oplane = (size_t)(j->oh * j->ow), ow = (size_t)j->ow;
    const size_t co = (size_t)j->co, kg = (size_t)j->kg, g0 = (size_t)j->g0;
    const size_t full = ow / 2; /* tiles with both columns inside */
    float *y = scratch;

    for (size_t o = g0; o < g0 + kg; o++) {
        tile_output(m + (o - g0) * ldm + col, kg * ldm, y, n);
        float bias = j->b ? j->b[o] : 0.0f;
        float *plane = j->out + (img * co + o) * oplane;
        for (size_t r = 0; r < rows; r++) {
            int64_t ty = ty0 + (int64_t)r;
            const float *y0 = y + r * ts;
            float *dst = plane + (size_t)(2 * ty) * ow;
            interleave_row(dst, y0, y0 + n, bias, full);
            if (full < tw)
                dst[2 * full] = y0[full] + bias;
            if (2 * ty + 1 < j->oh) {
                dst += ow;
                interleave_row(dst, y0 + 2 * n, y0 + 3 * n, bias, full);
                if (full < tw)
                    dst[2 * full] = y0[2 * n + full] + bias;
            }
        }
    }
}

static void block_range(void *arg, size_t s0, size_t s1)
{
    wino_job *j = arg;
    const size_t rows_total = (size_t)(j->n * j->th), th = (size_t)j->th;
    const size_t ts = wino_tile_stride(j), points = wino_points(j);
    const size_t ldv = (size_t)j->rows_per_block * ts;
    const size_t ci = (size_t)j->ci, kg = (size_t)j->kg;
    const int six = points == 36; /* 6x6 tiles: winograd6.c */

    for (size_t s = s0; s < s1; s++) {
        float *v = j->ws + s * j->slot_floats;
        float *m = v + points * ci * ldv;
        float *scratch = m + points * kg * ldv;
        size_t b;
        while (conv_queue_take(&j->queue, s, &b)) {
            size_t r0 = b * (size_t)j->rows_per_block;
            size_t r1 = r0 + (size_t)j->rows_per_block;
            if (r1 > rows_total)
                r1 = rows_total;
            /* Segments: the block's tile rows of one image each. */
            for (size_t r = r0; r < r1;) {
                size_t img = r / th, ty = r % th;
                size_t rows = th - ty < r1 - r ? th - ty : r1 - r;
                (six ? wino6_input_segment : wino_input_segment)(
                    j, img, (int64_t)ty, rows, v, ldv, (r - r0) * ts,
                    scratch);
                r += rows;
            }
            for (size_t xi = 0; xi < points; xi++)
                cnn_sgemm(j->transpose, 0, kg, (r1 - r0) * ts, ci, 1.0f,
                          j->u + xi * kg * ci, j->transpose ? kg : ci,
                          v + xi * ci * ldv, ldv, 0.0f, m + xi * kg * ldv,
                          ldv);
            for (size_t r = r0; r < r1;) {
                size_t img = r / th, ty = r % th;
                size_t rows = th - ty < r1 - r ? th - ty : r1 - r;
                (six ? wino6_output_segment : output_segment)(
                    j, img, (int64_t)ty, rows, m, ldv, (r - r0) * ts,
                    scratch);
                r += rows;
            }
        }
    }
}

void wino_run_blocks(wino_job *j)
{
    const cnn_layer_env *env = j->env;
    conv_queue_init(&j->queue, (size_t)j->blocks, j->slots);
    if (j->slots > 1)
        env->parallel_for(env->host, j->slots, block_range, j);
    else
        block_range(j, 0, 1);
}

void wino_job_init(wino_job *j, const conv_run *r)
{
    memset(j, 0, sizeof *j);
    j->in = r->x;
    j->n = r->n;
    j->ci = r->g.c;
    j->ih = r->g.h;
    j->iw = r->g.w;
    j->co = r->k;
    j->oh = r->g.oh;
    j->ow = r->g.ow;
    j->ph = r->g.ph;
    j->pw = r->g.pw;
}

void wino_plan(wino_job *j, const conv_run *r, size_t extra)
{
    const cnn_layer_env *env = r->env;
    uint64_t macs = (uint64_t)j->n * (uint64_t)j->co * (uint64_t)j->oh *
                    (uint64_t)j->ow * (uint64_t)j->ci *
                    (uint64_t)(wino_taps(j) * wino_taps(j));
    size_t rows_total, ldv, tiles, max_rows;

    const int64_t m = wino_m(j);
    const size_t points = wino_points(j);

    j->env = env;
    j->th = (j->oh + m - 1) / m;
    j->tw = (j->ow + m - 1) / m;
    rows_total = (size_t)(j->n * j->th);
    tiles = WINO_SLOT_FLOATS / (points * (size_t)(j->ci + j->kg));
    max_rows = tiles / wino_tile_stride(j);
    if (max_rows < 1)
        max_rows = 1;
    /* Enough blocks for every thread. */
    if (env && env->threads > 1 && macs >= CONV_PAR_MIN_MACS) {
        size_t cap = (rows_total + (size_t)env->threads - 1) /
                     (size_t)env->threads;
        if (max_rows > cap)
            max_rows = cap;
    }
    /* Blocks of equal size: a short last block would run thin GEMMs. */
    j->blocks = (int64_t)((rows_total + max_rows - 1) / max_rows);
    /* A whole number of blocks per thread: 3 blocks on 2 threads left one
     * idle for a third of the layer. Two threads, batch 8, Zen 4: AlexNet's
     * conv3-5 13.1, 20.5, 12.9 -> 10.2, 15.7, 9.8 ms; ResNet-18's pass 138
     * -> 125 ms. */
    if (env && env->threads > 1 && macs >= CONV_PAR_MIN_MACS) {
        int64_t t = env->threads;
        j->blocks = (j->blocks + t - 1) / t * t;
        if (j->blocks > (int64_t)rows_total)
            j->blocks = (int64_t)rows_total;
    }
    j->rows_per_block =
        (int64_t)((rows_total + (size_t)j->blocks - 1) / (size_t)j->blocks);
    /* Rounding up may leave blocks past the last row (14 rows in 6 blocks
     * of 3): drop them. */
    j->blocks = (int64_t)((rows_total + (size_t)j->rows_per_block - 1) /
                          (size_t)j->rows_per_block);
    j->slots = conv_slots(r, (size_t)j->blocks, macs);
    ldv = (size_t)j->rows_per_block * wino_tile_stride(j);
    j->slot_floats = points * (size_t)(j->ci + j->kg) * ldv +
                     wino_scratch_floats(j, (size_t)j->rows_per_block) +
                     extra;
    j->slot_floats = (j->slot_floats + 15) / 16 * 16; /* 64-byte aligned */
}

/* Output channel groups of kg filters (the input gradient keeps one: its
 * filters are read transposed, and training is not memory-bound here). */
static void wino_groups(wino_job *j)
{
    j->kg = j->co;
    if (!j->transpose && 16 * (size_t)j->co * (size_t)j->ci > WINO_U_FLOATS) {
        size_t kg = WINO_U_FLOATS / (16 * (size_t)j->ci);
        kg -= kg % 16;
        j->kg = kg < 16 ? 16 : (int64_t)kg;
        if (j->kg > j->co)
            j->kg = j->co;
    }
}

/* Plans the job, gets the workspace and runs it; CNN_ERR_NOMEM (without a
 * message) when the workspace is refused, so the caller can fall back.
 * With `filters` (conv_wino_filters' layout) the filter transform is not
 * redone. */
static cnn_status wino_run(wino_job *j, const conv_run *r,
                           const float *filters)
{
    const cnn_layer_env *env = r->env;
    size_t ufloats, need;
    float *buf;

    wino_groups(j);
    wino_plan(j, r, 0);
    ufloats = filters ? 0 : 16 * (size_t)j->kg * (size_t)j->ci;
    ufloats = (ufloats + 15) / 16 * 16;
    need = ufloats + j->slots * j->slot_floats;
    buf = env && env->workspace ? env->workspace(env->host, need) : NULL;
    if (!buf)
        return CNN_ERR_NOMEM;
    j->u = buf;
    j->ws = buf + ufloats;

    for (j->g0 = 0; j->g0 < j->co; j->g0 += j->kg) {
        if (j->g0 + j->kg > j->co)
            j->kg = j->co - j->g0; /* last, narrower group */
        if (filters) /* the job only reads u */
            j->u = (float *)(filters + 16 * (size_t)j->g0 * (size_t)j->ci);
        else if (j->slots > 1)
            env->parallel_for(env->host, j->slots, filter_range, j);
        else
            filter_range(j, 0, 1);
        wino_run_blocks(j);
    }
    return CNN_OK;
}

size_t conv_wino_filters_floats(const conv_run *r)
{
    return 16 * (size_t)r->k * (size_t)r->g.c;
}

void conv_wino_filters(const conv_run *r, float *dst)
{
    wino_job j;
    memset(&j, 0, sizeof j);
    j.w = r->w;
    j.co = r->k;
    j.ci = r->g.c;
    j.slots = 1;
    wino_groups(&j);
    for (j.g0 = 0; j.g0 < j.co; j.g0 += j.kg) {
        if (j.g0 + j.kg > j.co)
            j.kg = j.co - j.g0;
        j.u = dst + 16 * (size_t)j.g0 * (size_t)j.ci;
        filter_range(&j, 0, 1);
    }
}

cnn_status conv_wino_forward_with(conv_run *r, const float *filters,
                                  cnn_errbuf *err)
{
    wino_job j;
    wino_job_init(&j, r);
    j.out = r->y;
    j.w = r->w;
    j.b = r->b;
    if (wino_run(&j, r, filters) == CNN_OK)
        return CNN_OK;
    return conv_gemm_forward(r, err); /* short of workspace */
}


cnn_status conv_wino_backward_dx(conv_run *r, cnn_errbuf *err)
{
    wino_job j;
    memset(&j, 0, sizeof j);
    j.in = r->dy;
    j.out = r->dx;
    j.w = r->w;
    j.transpose = 1;
    j.n = r->n;
    j.ci = r->k;
    j.ih = r->g.oh;
    j.iw = r->g.ow;
    j.co = r->g.c;
    j.oh = r->g.h;
    j.ow = r->g.w;
    j.ph = 2 - r->g.ph;
    j.pw = 2 - r->g.pw;
    if (wino_run(&j, r, NULL) == CNN_OK)
        return CNN_OK;
    /* Short of workspace: the GEMM path computes dx alone; the caller then
     * runs it again for dw. */
    float *dw = r->dw;
    r->dw = NULL;
    cnn_status st = conv_gemm_backward(r, err);
    r->dw = dw;
    return st;
}
