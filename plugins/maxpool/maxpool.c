/* SPDX-License-Identifier: MIT */
/* maxpool: 2-D max pooling, as PyTorch's MaxPool2d (and ONNX MaxPool):
 * stride, padding (symmetric, [top, left, bottom, right] or "same"),
 * dilation and ceil_mode.
 *
 *   y[n, c, i, j] = max over the taps (i sh - pt + a dh, j sw - pl + b dw),
 *                   0 <= a < kh, 0 <= b < kw, of x, padding being -inf
 *   dx[n, c, p]   = sum of dy[n, c, i, j] over the windows whose maximum is p
 *
 * Each window has one maximum: the first in row-major window order among
 * equal values (a NaN wins, the first NaN if several), the one forward
 * returns. Backward recomputes it from the saved input, so the layer keeps no
 * state. Padding is at most half the window on each side, as PyTorch
 * requires (half the dilated span with dilation, so that ONNX's "same"
 * padding of a dilated window fits), so without dilation every window
 * holds a real input; a dilated window whose taps all fall in the padding
 * gives -inf and passes no gradient. The window walk is cnn/pool_window.h's. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cnn/layer.h"
#include "cnn/pool_window.h"
#include "maxpool2x2_avx512.h"
#include "maxpool_rows_avx512.h"

enum { HP_SIZE, HP_STRIDE, HP_PADDING, HP_DILATION, HP_CEIL_MODE };

static const cnn_hparam_spec maxpool_hparams[] = {
    {"size", CNN_HP_INT2, "window size, n or [h, w]", 1, 0, 1, 1024, NULL},
    {"stride", CNN_HP_INT2, "stride, n or [h, w]; 0 means the window size", 0,
     0, 0, 1024, NULL},
    {"padding", CNN_HP_PADDING,
     "-inf padding: n, [h, w], [top, left, bottom, right], valid, same or "
     "same_lower; at most half the (dilated) window per side",
     0, 0, 0, 1024, NULL},
    {"dilation", CNN_HP_INT2, "spacing of the window's taps, n or [h, w]", 0,
     1, 1, 1024, NULL},
    {"ceil_mode", CNN_HP_BOOL,
     "round the output size up: a last partial window counts if it starts "
     "inside the input or leading padding",
     0, 0, 0, 1, NULL},
};

/* The window the hyperparameters describe. */
static cnn_pool_window maxpool_window(const cnn_hparam_value *hp)
{
    cnn_pool_window w;
    w.kh = hp[HP_SIZE].i[0];
    w.kw = hp[HP_SIZE].i[1];
    w.sh = hp[HP_STRIDE].i[0];
    w.sw = hp[HP_STRIDE].i[1];
    w.dh = hp[HP_DILATION].i[0];
    w.dw = hp[HP_DILATION].i[1];
    w.pad = cnn_hparam_padding(&hp[HP_PADDING]);
    w.ceil_mode = (int)hp[HP_CEIL_MODE].i[0];
    return w;
}

static cnn_status maxpool_geometry(const cnn_hparam_value *hp,
                                   const cnn_shape *in, cnn_pool_geom *g,
                                   cnn_errbuf *err)
{
    cnn_pool_window w = maxpool_window(hp);
    return cnn_pool_geometry("maxpool", &w, in, g, err);
}

static cnn_status maxpool_infer_shape(const cnn_hparam_value *hp,
                                      const cnn_shape *inputs,
                                      uint32_t n_inputs, cnn_shape *output,
                                      cnn_errbuf *err)
{
    cnn_pool_window w = maxpool_window(hp);
    return cnn_pool_infer_shape("maxpool", &w, inputs, n_inputs, output, err);
}

typedef struct pool_run {
    cnn_pool_geom g;
    const float *x, *dy;
    float *y, *dx;
} pool_run;

/* Index in the plane of the window maximum at output (i, j), or -1 when
 * every tap of the window is padding. */
static inline int64_t maxpool_argmax(const cnn_pool_geom *g,
                                     const float *plane, int64_t i, int64_t j)
{
    int64_t hs, a0, a1, ws, b0, b1;
    cnn_pool_taps(i, g->sh, g->ph, g->kh, g->dh, g->h, &hs, &a0, &a1);
    cnn_pool_taps(j, g->sw, g->pw, g->kw, g->dw, g->w, &ws, &b0, &b1);
    if (a0 == a1 || b0 == b1)
        return -1;

    int64_t best = (hs + a0 * g->dh) * g->w + ws + b0 * g->dw;
    float bv = plane[best];
    for (int64_t a = a0; a < a1; a++) {
        const float *row = plane + (hs + a * g->dh) * g->w + ws;
        for (int64_t b = b0; b < b1; b++) {
            float v = row[b * g->dw];
            /* Strict >: a tie keeps the earlier input. */
            if (v > bv || (isnan(v) && !isnan(bv))) {
                bv = v;
                best = (hs + a * g->dh) * g->w + ws + b * g->dw;
            }
        }
    }
    return best;
}

/* 1 when v replaces the running maximum m: strictly greater (a tie keeps
 * the earlier input), or the first NaN. The same test as maxpool_argmax,
 * written branch-free so that the 2x2 loops below vectorise. */
#if !defined(MAXPOOL2X2_AVX512) || !defined(MAXPOOL_ROWS_AVX512)
/* (the AVX-512 kernels have their own, maxpool_lanes_avx512.h) */
static inline int maxpool_takes(float v, float m)
{
    return (v > m) | ((v != v) & (m == m));
}
#endif

/* 2x2 windows, stride 2, no padding (LeNet's and VGG's pools): every input
 * lies in at most one window, so forward is three selects per output and
 * backward writes each dx element once, with no clearing pass. The window
 * order a b / c d is the general path's row-major order.
 *
 * With random data the selects are unpredictable branches, so they are
 * written on GCC/Clang vectors (compare masks and bitwise selects, even and
 * odd columns split by a shuffle): about six times faster than the scalar
 * loop, which still handles the row ends and other compilers. */
#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector) && defined(__AVX__)
#define MAXPOOL_VL 8
typedef float mp_vf __attribute__((vector_size(32)));
typedef int32_t mp_vi __attribute__((vector_size(32)));
#define MP_EVEN(p, q) __builtin_shufflevector(p, q, 0, 2, 4, 6, 8, 10, 12, 14)
#define MP_ODD(p, q) __builtin_shufflevector(p, q, 1, 3, 5, 7, 9, 11, 13, 15)
#define MP_LO(p, q) __builtin_shufflevector(p, q, 0, 8, 1, 9, 2, 10, 3, 11)
#define MP_HI(p, q) __builtin_shufflevector(p, q, 4, 12, 5, 13, 6, 14, 7, 15)
#elif __has_builtin(__builtin_shufflevector) &&                               \
    (defined(__SSE2__) || defined(__ARM_NEON))
#define MAXPOOL_VL 4
typedef float mp_vf __attribute__((vector_size(16)));
typedef int32_t mp_vi __attribute__((vector_size(16)));
#define MP_EVEN(p, q) __builtin_shufflevector(p, q, 0, 2, 4, 6)
#define MP_ODD(p, q) __builtin_shufflevector(p, q, 1, 3, 5, 7)
#define MP_LO(p, q) __builtin_shufflevector(p, q, 0, 4, 1, 5)
#define MP_HI(p, q) __builtin_shufflevector(p, q, 2, 6, 3, 7)
#endif
#endif

#ifdef MAXPOOL_VL
/* Macros rather than functions: vector arguments would change the calling
 * convention between -march settings (GCC's -Wpsabi). */
#define MP_TAKES(v, m) (((v) > (m)) | (((v) != (v)) & ((m) == (m))))
#define MP_SEL(c, a, b) ((mp_vf)(((c) & (mp_vi)(a)) | (~(c) & (mp_vi)(b))))
#define MP_LOAD(dst, p) memcpy(&(dst), (p), sizeof(dst))
#define MP_STORE(p, src) memcpy((p), &(src), sizeof(src))
#endif

#ifndef MAXPOOL2X2_AVX512 /* else maxpool2x2_avx512.c */
static void maxpool2_forward_plane(const cnn_pool_geom *g, const float *x,
                                   float *restrict y)
{
    const size_t w = (size_t)g->w, ow = (size_t)g->ow;

    for (int64_t i = 0; i < g->oh; i++) {
        const float *r0 = x + (size_t)(2 * i) * w, *r1 = r0 + w;
        float *yo = y + (size_t)i * ow;
        size_t j = 0;
#ifdef MAXPOOL_VL
        for (; j < ow; j += MAXPOOL_VL) {
            /* A short last block goes through zero-padded copies, so the
             * row end costs no mispredicted scalar branches either. */
            float t0[2 * MAXPOOL_VL] = {0}, t1[2 * MAXPOOL_VL] = {0};
            size_t nj = ow - j < MAXPOOL_VL ? ow - j : MAXPOOL_VL;
            const float *s0 = r0 + 2 * j, *s1 = r1 + 2 * j;
            mp_vf p0, p1, q0, q1;
            if (nj < MAXPOOL_VL) {
                memcpy(t0, s0, 2 * nj * sizeof *t0);
                memcpy(t1, s1, 2 * nj * sizeof *t1);
                s0 = t0;
                s1 = t1;
            }
            MP_LOAD(p0, s0);
            MP_LOAD(p1, s0 + MAXPOOL_VL);
            MP_LOAD(q0, s1);
            MP_LOAD(q1, s1 + MAXPOOL_VL);
            mp_vf a = MP_EVEN(p0, p1), b = MP_ODD(p0, p1);
            mp_vf c = MP_EVEN(q0, q1), d = MP_ODD(q0, q1);
            mp_vf m = MP_SEL(MP_TAKES(b, a), b, a);
            m = MP_SEL(MP_TAKES(c, m), c, m);
            m = MP_SEL(MP_TAKES(d, m), d, m);
            if (nj == MAXPOOL_VL) {
                MP_STORE(yo + j, m);
            } else {
                MP_STORE(t0, m);
                memcpy(yo + j, t0, nj * sizeof *yo);
            }
        }
#endif
        for (; j < ow; j++) {
            float m = r0[2 * j], v = r0[2 * j + 1];
            m = maxpool_takes(v, m) ? v : m;
            v = r1[2 * j];
            m = maxpool_takes(v, m) ? v : m;
            v = r1[2 * j + 1];
            m = maxpool_takes(v, m) ? v : m;
            yo[j] = m;
        }
    }
}

static void maxpool2_backward_plane(const cnn_pool_geom *g, const float *x,
                                    const float *dy, float *restrict dx)
{
    const size_t w = (size_t)g->w, ow = (size_t)g->ow;

    for (int64_t i = 0; i < g->oh; i++) {
        const float *r0 = x + (size_t)(2 * i) * w, *r1 = r0 + w;
        float *d0 = dx + (size_t)(2 * i) * w, *d1 = d0 + w;
        const float *dyo = dy + (size_t)i * ow;
        size_t j = 0;
#ifdef MAXPOOL_VL
        for (; j < ow; j += MAXPOOL_VL) {
            float t0[2 * MAXPOOL_VL] = {0}, t1[2 * MAXPOOL_VL] = {0};
            float tg[MAXPOOL_VL] = {0};
            size_t nj = ow - j < MAXPOOL_VL ? ow - j : MAXPOOL_VL;
            const float *s0 = r0 + 2 * j, *s1 = r1 + 2 * j, *sg = dyo + j;
            mp_vf p0, p1, q0, q1, gr;
            if (nj < MAXPOOL_VL) {
                memcpy(t0, s0, 2 * nj * sizeof *t0);
                memcpy(t1, s1, 2 * nj * sizeof *t1);
                memcpy(tg, sg, nj * sizeof *tg);
                s0 = t0;
                s1 = t1;
                sg = tg;
            }
            MP_LOAD(p0, s0);
            MP_LOAD(p1, s0 + MAXPOOL_VL);
            MP_LOAD(q0, s1);
            MP_LOAD(q1, s1 + MAXPOOL_VL);
            MP_LOAD(gr, sg);
            mp_vf a = MP_EVEN(p0, p1), b = MP_ODD(p0, p1);
            mp_vf c = MP_EVEN(q0, q1), d = MP_ODD(q0, q1);
            mp_vi tb = MP_TAKES(b, a);
            mp_vf m = MP_SEL(tb, b, a);
            mp_vi tc = MP_TAKES(c, m);
            m = MP_SEL(tc, c, m);
            mp_vi td = MP_TAKES(d, m);
            /* The last window element that took the maximum wins. */
            mp_vi gi = (mp_vi)gr;
            mp_vf ga = (mp_vf)(~(tb | tc | td) & gi);
            mp_vf gb = (mp_vf)(tb & ~tc & ~td & gi);
            mp_vf gc = (mp_vf)(tc & ~td & gi);
            mp_vf gd = (mp_vf)(td & gi);
            mp_vf o0 = MP_LO(ga, gb), o1 = MP_HI(ga, gb);
            mp_vf o2 = MP_LO(gc, gd), o3 = MP_HI(gc, gd);
            float *e0 = nj == MAXPOOL_VL ? d0 + 2 * j : t0;
            float *e1 = nj == MAXPOOL_VL ? d1 + 2 * j : t1;
            MP_STORE(e0, o0);
            MP_STORE(e0 + MAXPOOL_VL, o1);
            MP_STORE(e1, o2);
            MP_STORE(e1 + MAXPOOL_VL, o3);
            if (nj < MAXPOOL_VL) {
                memcpy(d0 + 2 * j, t0, 2 * nj * sizeof *d0);
                memcpy(d1 + 2 * j, t1, 2 * nj * sizeof *d1);
            }
        }
#endif
        for (; j < ow; j++) {
            float a = r0[2 * j], b = r0[2 * j + 1];
            float c = r1[2 * j], d = r1[2 * j + 1], gr = dyo[j];
            int tb = maxpool_takes(b, a);
            float m = tb ? b : a;
            int tc = maxpool_takes(c, m);
            m = tc ? c : m;
            int td = maxpool_takes(d, m);
            /* The last window element that took the maximum wins. */
            int kd = td, kc = tc & !td, kb = tb & !tc & !td;
            int ka = !tb & !tc & !td;
            d0[2 * j] = ka ? gr : 0.0f;
            d0[2 * j + 1] = kb ? gr : 0.0f;
            d1[2 * j] = kc ? gr : 0.0f;
            d1[2 * j + 1] = kd ? gr : 0.0f;
        }
    }
    maxpool2_zero_unreached(g, dx);
}
#endif

/* Widest padded row (the span of a plane's windows along a row) the
 * separable forward below handles: a stack buffer. */
#define MAXPOOL_ROW_MAX 4096

/* Any window without dilation, padded or not (AlexNet's 3x3 stride 2,
 * ResNet's 3x3 stride 2 padding 1): the maximum over a window is the
 * maximum over its columns of the maxima over its rows, so each output row
 * first takes the element-wise maximum of the kh input rows its windows
 * cover (a loop that vectorises), into a row buffer that holds -inf where
 * the windows reach into the padding, then the kw-wide maxima along that
 * buffer (maxpool_rows_avx512.c with AVX-512). Rows in the padding are
 * skipped rather than read as -inf. Only values are needed in forward, and
 * maxpool_takes gives the same value as maxpool_argmax: the maximum, NaN
 * when the window holds one, -inf from the padding only when every real
 * tap is -inf too. Five to six times faster than the per-window scan
 * without padding; with padding (ResNet-18's pool, 64 x 112 x 112) the
 * per-window scan took 6.5 ms. */
static int64_t maxpool_row_span(const cnn_pool_geom *g)
{
    return (g->ow - 1) * g->sw + g->kw;
}

static int maxpool_is_separable(const cnn_pool_geom *g)
{
    return g->dh == 1 && g->dw == 1 && maxpool_row_span(g) <= MAXPOOL_ROW_MAX;
}

/* y[j] = max over b < kw of row[j sw + b], j < ow. */
static void maxpool_row_windows(const float *row, int64_t ow, int64_t kw,
                                int64_t sw, float *y)
{
#ifdef MAXPOOL_ROWS_AVX512
    maxpool_row_windows_avx512(row, ow, kw, sw, y);
#else
    for (int64_t j = 0; j < ow; j++) {
        const float *win = row + j * sw;
        float m = win[0];
        for (int64_t b = 1; b < kw; b++)
            m = maxpool_takes(win[b], m) ? win[b] : m;
        y[j] = m;
    }
#endif
}

static void maxpool_forward_plane_separable(const cnn_pool_geom *g,
                                            const float *x, float *y)
{
    float rowmax[MAXPOOL_ROW_MAX];
    const int64_t span = maxpool_row_span(g), w = g->w;
    /* Buffer column t is input column t - pw: [0, lead) and [lead + n,
     * span) are padding, n input columns are read. */
    const int64_t lead = g->pw < span ? g->pw : span;
    const int64_t n = w < span - lead ? w : span - lead;

    for (int64_t t = 0; t < lead; t++)
        rowmax[t] = -INFINITY;
    for (int64_t t = lead + n; t < span; t++)
        rowmax[t] = -INFINITY;
    for (int64_t i = 0; i < g->oh; i++, y += g->ow) {
        int64_t s = i * g->sh - g->ph;
        int64_t r0 = s < 0 ? 0 : s, r1 = s + g->kh < g->h ? s + g->kh : g->h;
        if (r0 >= r1 || n <= 0) { /* the window holds no input: -inf */
            for (int64_t j = 0; j < g->ow; j++)
                y[j] = -INFINITY;
            continue;
        }
        float *buf = rowmax + lead;
        /* The rows output row i + 4 adds (at i = 0 also those before),
         * ahead of their use: at batch > 1 the input comes from memory,
         * and over rows of a few cache lines the prefetchers did not keep
         * up (ResNet-18's pool, 64 x 112 x 112 at batch 8, one thread, Zen
         * 5: 6.4 -> 1.8-2.1 ms, 4 -> 13 GB/s of input). */
        for (int64_t r = i == 0 ? r1 : r1 + 3 * g->sh;
             r < r1 + 4 * g->sh && r < g->h; r++)
            for (int64_t b = 0; b < n; b += 16)
                __builtin_prefetch(x + (size_t)r * (size_t)w + b);
#ifdef MAXPOOL_ROWS_AVX512
        maxpool_col_max_avx512(x, w, r0, r1, n, buf);
#else
        memcpy(buf, x + (size_t)r0 * (size_t)w, (size_t)n * sizeof *buf);
        for (int64_t r = r0 + 1; r < r1; r++) {
            const float *row = x + (size_t)r * (size_t)w;
            for (int64_t b = 0; b < n; b++)
                buf[b] = maxpool_takes(row[b], buf[b]) ? row[b] : buf[b];
        }
#endif
        maxpool_row_windows(rowmax, g->ow, g->kw, g->sw, y);
    }
}

/* ceil_mode changes nothing when the input's sides are even. */
static int maxpool_is_2x2(const cnn_pool_geom *g)
{
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 &&
           g->dh == 1 && g->dw == 1 && cnn_pool_inside(g);
}

static void maxpool_forward_range(void *arg, size_t begin, size_t end)
{
    const pool_run *r = arg;
    const cnn_pool_geom *g = &r->g;
    size_t in_plane = (size_t)(g->h * g->w), out_plane = (size_t)(g->oh * g->ow);

    if (maxpool_is_2x2(g)) {
        for (size_t pl = begin; pl < end; pl++)
#ifdef MAXPOOL2X2_AVX512
            maxpool2_forward_plane_avx512(g, r->x + pl * in_plane,
                                          r->y + pl * out_plane);
#else
            maxpool2_forward_plane(g, r->x + pl * in_plane,
                                   r->y + pl * out_plane);
#endif
        return;
    }
    if (maxpool_is_separable(g)) {
        for (size_t pl = begin; pl < end; pl++)
            maxpool_forward_plane_separable(g, r->x + pl * in_plane,
                                            r->y + pl * out_plane);
        return;
    }
    for (size_t pl = begin; pl < end; pl++) {
        const float *x = r->x + pl * in_plane;
        float *y = r->y + pl * out_plane;
        for (int64_t i = 0; i < g->oh; i++)
            for (int64_t j = 0; j < g->ow; j++) {
                int64_t k = maxpool_argmax(g, x, i, j);
                *y++ = k < 0 ? -INFINITY : x[k];
            }
    }
}

static void maxpool_backward_range(void *arg, size_t begin, size_t end)
{
    const pool_run *r = arg;
    const cnn_pool_geom *g = &r->g;
    size_t in_plane = (size_t)(g->h * g->w), out_plane = (size_t)(g->oh * g->ow);

    if (maxpool_is_2x2(g)) {
        for (size_t pl = begin; pl < end; pl++)
#ifdef MAXPOOL2X2_AVX512
            maxpool2_backward_plane_avx512(g, r->x + pl * in_plane,
                                           r->dy + pl * out_plane,
                                           r->dx + pl * in_plane);
#else
            maxpool2_backward_plane(g, r->x + pl * in_plane,
                                    r->dy + pl * out_plane,
                                    r->dx + pl * in_plane);
#endif
        return;
    }
    for (size_t pl = begin; pl < end; pl++) {
        const float *x = r->x + pl * in_plane;
        const float *dy = r->dy + pl * out_plane;
        float *dx = r->dx + pl * in_plane;
        memset(dx, 0, in_plane * sizeof *dx);
        for (int64_t i = 0; i < g->oh; i++)
            for (int64_t j = 0; j < g->ow; j++, dy++) {
                int64_t k = maxpool_argmax(g, x, i, j);
                if (k >= 0)
                    dx[k] += *dy;
            }
    }
}

/* Validates the input and output shapes the host passed. */
static cnn_status maxpool_bind(const cnn_layer *layer, const cnn_tensor *inputs,
                               uint32_t n_inputs, const cnn_shape *out,
                               pool_run *r, cnn_errbuf *err)
{
    cnn_status st;

    memset(r, 0, sizeof *r);
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "maxpool layer '%s' takes 1 input, got %u",
                              layer->name, n_inputs);
    st = maxpool_geometry(layer->hparams, &inputs[0].shape, &r->g, err);
    if (st != CNN_OK)
        return st;
    cnn_shape want = cnn_shape4(inputs[0].shape.dims[0],
                                inputs[0].shape.dims[1], r->g.oh, r->g.ow);
    if (!cnn_shape_equal(out, &want))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "maxpool layer '%s': output tensor is not "
                              "[%lld, %lld, %lld, %lld]",
                              layer->name, (long long)want.dims[0],
                              (long long)want.dims[1], (long long)want.dims[2],
                              (long long)want.dims[3]);
    r->x = inputs[0].data;
    return CNN_OK;
}

static cnn_status maxpool_forward(const cnn_layer *layer,
                                  const cnn_forward_args *a, cnn_errbuf *err)
{
    pool_run r;
    cnn_status st = maxpool_bind(layer, a->inputs, a->n_inputs,
                                 &a->output->shape, &r, err);
    if (st != CNN_OK)
        return st;
    r.y = a->output->data;
    size_t planes = (size_t)(a->inputs[0].shape.dims[0] *
                             a->inputs[0].shape.dims[1]);
    cnn_pool_for_planes(a->env, planes, cnn_tensor_numel(&a->inputs[0]),
                  maxpool_forward_range, &r);
    return CNN_OK;
}

static cnn_status maxpool_backward(const cnn_layer *layer,
                                   const cnn_backward_args *a, cnn_errbuf *err)
{
    pool_run r;
    cnn_status st = maxpool_bind(layer, a->inputs, a->n_inputs,
                                 &a->output_grad->shape, &r, err);
    if (st != CNN_OK)
        return st;
    if (!a->input_grads || !a->input_grads[0].data)
        return CNN_OK;
    if (!cnn_shape_equal(&a->input_grads[0].shape, &a->inputs[0].shape))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "maxpool layer '%s': input gradient shape "
                              "differs from the input's",
                              layer->name);
    r.dy = a->output_grad->data;
    r.dx = a->input_grads[0].data;
    size_t planes = (size_t)(a->inputs[0].shape.dims[0] *
                             a->inputs[0].shape.dims[1]);
    cnn_pool_for_planes(a->env, planes, cnn_tensor_numel(&a->inputs[0]),
                  maxpool_backward_range, &r);
    return CNN_OK;
}

static const cnn_layer_descriptor maxpool_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "maxpool",
    .summary = "2-D max pooling, PyTorch MaxPool2d semantics (padding, dilation, "
               "ceil_mode)",
    .hparams = maxpool_hparams,
    .n_hparams = sizeof maxpool_hparams / sizeof maxpool_hparams[0],
    .min_inputs = 1,
    .max_inputs = 1,
    /* backward needs the inputs, never the output (ABI 1.3) */
    .flags = CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT,
    .infer_shape = maxpool_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(maxpool_descriptor)
