/* SPDX-License-Identifier: MIT */
/* Weight gradient of a 3x3 stride-1 convolution by Winograd F(2x2, 3x3).
 *
 * The forward pass computes, per tile, Y = A^T Z A with
 * Z[k] = sum over c of U[k][c] .* V[c] and U = T g (winograd.c). So
 *
 *   dL/dZ[k] = A dY[k] A^T                 (the 2x2 tile of dy, made 4x4)
 *   dL/dU[xi][k][c] = sum over tiles of dL/dZ[k][xi] V[c][xi]
 *   dL/dg = T^T dL/dU                      (per filter: 16 values to 9)
 *
 * The middle line is 16 GEMMs dU_xi [K, C] += M_xi [K, tiles] V_xi^T
 * [tiles, C], 16 multiply-adds per tile and weight pair instead of 36 with
 * im2col. Each slot sums its blocks into its own dU; the slots' sums are
 * added in slot order, then one GEMM with T^T gives dw.
 *
 * With A = | 1  0 |, a tile y = | y00 y01 | gives s = A y (4 rows of 2)
 *          | 1  1 |             | y10 y11 |
 *          | 1 -1 |     s0 = (y00, y01)  s1 = s0 + (y10, y11)
 *          | 0 -1 |     s2 = s0 - (y10, y11)  s3 = -(y10, y11)
 * and row i of A y A^T is (s_i0, s_i0 + s_i1, s_i0 - s_i1, -s_i1).
 * dy outside the output (odd sizes) and the blocks' dummy tiles are zero,
 * so they add nothing. */
#include "gemm.h"
#include <string.h>

#include "winograd.h"

/* Even and odd columns of output row y of plane src into e, o (tw
 * floats each; zero past the output), the dummy tile after them zero. */
static void split_dy_row(const wino_job *j, const float *src, size_t y,
                         float *restrict e, float *restrict o)
{
    const size_t tw = (size_t)j->tw, ow = (size_t)j->ow;
    const size_t full = ow / 2;
    if (y >= (size_t)j->oh) {
        memset(e, 0, (tw + 1) * sizeof *e);
        memset(o, 0, (tw + 1) * sizeof *o);
        return;
    }
    const float *restrict row = src + y * ow;
    for (size_t t = 0; t < full; t++) {
        e[t] = row[2 * t];
        o[t] = row[2 * t + 1];
    }
    if (full < tw) { /* odd width: the last tile's right column is out */
        e[full] = row[2 * full];
        o[full] = 0.0f;
    }
    e[tw] = o[tw] = 0.0f;
}

/* Rows (a, a + b, a - b, -b): one row of A dy A^T per output row. */
static void emit4(float *restrict r0, float *restrict r1, float *restrict r2,
                  float *restrict r3, const float *restrict a,
                  const float *restrict b, size_t n)
{
    for (size_t t = 0; t < n; t++) {
        r0[t] = a[t];
        r1[t] = a[t] + b[t];
        r2[t] = a[t] - b[t];
        r3[t] = -b[t];
    }
}

/* M[xi][k][col + k'] = (A dy A^T)[xi] for tile rows [ty0, ty0 + rows) of
 * image img, every output channel, dummy tiles zero. */
static void dy_segment(const wino_job *j, size_t img, int64_t ty0,
                       size_t rows, float *m, size_t ldm, size_t col,
                       float *scratch)
{
    const size_t ts = wino_tile_stride(j), n = rows * ts;
    const size_t co = (size_t)j->co, plane = (size_t)(j->oh * j->ow);
    float *e0 = scratch, *o0 = e0 + n, *e1 = o0 + n, *o1 = e1 + n;
    float *ta = o1 + n, *tb = ta + n;

    for (size_t k = 0; k < co; k++) {
        const float *src = j->dy + (img * co + k) * plane;
        for (size_t r = 0; r < rows; r++) {
            size_t y0 = 2 * ((size_t)ty0 + r);
            split_dy_row(j, src, y0, e0 + r * ts, o0 + r * ts);
            split_dy_row(j, src, y0 + 1, e1 + r * ts, o1 + r * ts);
        }
        float *mk = m + k * ldm + col;
        const size_t xs = co * ldm; /* between xi rows */
        /* s_i = (a, b): s0 = (e0, o0), s1 = s0 + (e1, o1),
         * s2 = s0 - (e1, o1), s3 = -(e1, o1). */
        emit4(mk, mk + xs, mk + 2 * xs, mk + 3 * xs, e0, o0, n);
        for (size_t t = 0; t < n; t++) {
            ta[t] = e0[t] + e1[t];
            tb[t] = o0[t] + o1[t];
        }
        emit4(mk + 4 * xs, mk + 5 * xs, mk + 6 * xs, mk + 7 * xs, ta, tb, n);
        for (size_t t = 0; t < n; t++) {
            ta[t] = e0[t] - e1[t];
            tb[t] = o0[t] - o1[t];
        }
        emit4(mk + 8 * xs, mk + 9 * xs, mk + 10 * xs, mk + 11 * xs, ta, tb,
              n);
        for (size_t t = 0; t < n; t++) {
            ta[t] = -e1[t];
            tb[t] = -o1[t];
        }
        emit4(mk + 12 * xs, mk + 13 * xs, mk + 14 * xs, mk + 15 * xs, ta, tb,
              n);
    }
}

/* Slot layout: V [16][C][ldv] | M [16][K][ldv] | scratch | dU [16][K][C]. */
static float *slot_du(const wino_job *j, float *slot)
{
    size_t ldv = (size_t)j->rows_per_block * wino_tile_stride(j);
    return slot + 16 * (size_t)(j->ci + j->co) * ldv +
           wino_scratch_floats(j, (size_t)j->rows_per_block);
}

static void dw_block_range(void *arg, size_t s0, size_t s1)
{
    const wino_job *j = arg;
    const size_t rows_total = (size_t)(j->n * j->th), th = (size_t)j->th;
    const size_t ts = wino_tile_stride(j), tw = (size_t)j->tw;
    const size_t ldv = (size_t)j->rows_per_block * ts;
    const size_t ci = (size_t)j->ci, co = (size_t)j->co;

    for (size_t s = s0; s < s1; s++) {
        float *v = j->ws + s * j->slot_floats;
        float *m = v + 16 * ci * ldv;
        float *scratch = m + 16 * co * ldv;
        float *du = slot_du(j, v);
        size_t b0 = (size_t)j->blocks * s / j->slots;
        size_t b1 = (size_t)j->blocks * (s + 1) / j->slots;
        int first = 1;
        for (size_t b = b0; b < b1; b++) {
            size_t r0 = b * (size_t)j->rows_per_block;
            size_t r1 = r0 + (size_t)j->rows_per_block;
            if (r1 > rows_total)
                r1 = rows_total;
            for (size_t r = r0; r < r1;) {
                size_t img = r / th, ty = r % th;
                size_t rows = th - ty < r1 - r ? th - ty : r1 - r;
                size_t col = (r - r0) * ts;
                wino_input_segment(j, img, (int64_t)ty, rows, v, ldv, col,
                                   scratch);
                /* Dummy tiles of V to zero too: 0 * inf would be NaN. */
                for (size_t xc = 0; xc < 16 * ci; xc++)
                    for (size_t q = 0; q < rows; q++)
                        v[xc * ldv + col + q * ts + tw] = 0.0f;
                dy_segment(j, img, (int64_t)ty, rows, m, ldv, col, scratch);
                r += rows;
            }
            for (int xi = 0; xi < 16; xi++)
                cnn_sgemm(0, 1, co, ci, ((r1 - r0) * ts), 1.0f,
                          m + (size_t)xi * co * ldv, ldv,
                          v + (size_t)xi * ci * ldv, ldv, first ? 0.0f : 1.0f,
                          du + (size_t)xi * co * ci, ci);
            first = 0;
        }
        if (first) /* no blocks: contributes nothing */
            memset(du, 0, 16 * co * ci * sizeof *du);
    }
}

/* dU of slot 0 += the other slots', in slot order; items are xi rows. */
static void du_sum_range(void *arg, size_t x0, size_t x1)
{
    const wino_job *j = arg;
    const size_t kc = (size_t)(j->co * j->ci);
    float *d0 = slot_du(j, j->ws);
    for (size_t x = x0; x < x1; x++)
        for (size_t s = 1; s < j->slots; s++) {
            const float *ds = slot_du(j, j->ws + s * j->slot_floats);
            for (size_t i = x * kc; i < (x + 1) * kc; i++)
                d0[i] += ds[i];
        }
}

/* dw [K C][9] = dU^T [K C][16] T [16][9], split over the slots by rows. */
static void dw_out_range(void *arg, size_t s0, size_t s1)
{
    const wino_job *j = arg;
    const size_t kc = (size_t)(j->co * j->ci);
    const float *du = slot_du(j, j->ws);
    float t[16 * 9];
    wino_filter_matrix(t, 0);
    for (size_t s = s0; s < s1; s++) {
        size_t a = kc * s / j->slots, b = kc * (s + 1) / j->slots;
        if (b > a)
            cnn_sgemm(1, 0, (b - a), 9, 16, 1.0f, du + a, kc, t, 9, 0.0f,
                      j->out + a * 9, 9);
    }
}

cnn_status conv_wino_backward_dw(conv_run *r, cnn_errbuf *err)
{
    const cnn_layer_env *env = r->env;
    wino_job j;
    float *ws;

    wino_job_init(&j, r);
    j.dy = r->dy;
    j.out = r->dw;
    j.kg = j.co;
    wino_plan(&j, r, 16 * (size_t)(j.co * j.ci));
    ws = env && env->workspace
             ? env->workspace(env->host, j.slots * j.slot_floats)
             : NULL;
    if (!ws) { /* short of workspace: im2col + GEMM for dw */
        float *dx = r->dx;
        r->dx = NULL;
        cnn_status st = conv_gemm_backward(r, err);
        r->dx = dx;
        return st;
    }
    j.ws = ws;
    if (j.slots > 1) {
        env->parallel_for(env->host, j.slots, dw_block_range, &j);
        env->parallel_for(env->host, 16, du_sum_range, &j);
        env->parallel_for(env->host, j.slots, dw_out_range, &j);
    } else {
        dw_block_range(&j, 0, 1);
        dw_out_range(&j, 0, 1);
    }
    return CNN_OK;
}
