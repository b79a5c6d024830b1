/* SPDX-License-Identifier: MIT */
/* maxpool: 2-D max pooling, as PyTorch's MaxPool2d (floor mode, dilation 1).
 *
 *   y[n, c, i, j] = max over the window (i sh - ph + a, j sw - pw + b),
 *                   0 <= a < kh, 0 <= b < kw, of x, padding being -inf
 *   dx[n, c, p]   = sum of dy[n, c, i, j] over the windows whose maximum is p
 *
 * Each window has one maximum: the first in row-major window order among
 * equal values (a NaN wins, the first NaN if several), the one forward
 * returns. Backward recomputes it from the saved input, so the layer keeps no
 * state. Padding is at most half the window, as PyTorch requires, so every
 * window holds at least one real input. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cnn/layer.h"
#include "maxpool2x2_avx512.h"
#include "pool_window.h"

static const cnn_hparam_spec maxpool_hparams[] = {
    {"size", CNN_HP_INT2, "window size, n or [h, w]", 1, 0, 1, 1024, NULL},
    {"stride", CNN_HP_INT2, "stride, n or [h, w]; 0 means the window size", 0,
     0, 0, 1024, NULL},
    {"padding", CNN_HP_INT2,
     "-inf padding on each side, n or [h, w]; at most half the window", 0, 0,
     0, 1024, NULL},
};

/* Below this many input floats, a pass is not worth spreading on threads. */
#ifndef POOL_PAR_MIN_WORK
#define POOL_PAR_MIN_WORK ((size_t)1 << 15)
#endif

static cnn_status maxpool_infer_shape(const cnn_hparam_value *hp,
                                 const cnn_shape *inputs,
                                 uint32_t n_inputs, cnn_shape *output,
                                 cnn_errbuf *err)
{
    return pool_infer_shape("maxpool", hp, inputs, n_inputs, output, err);
}

typedef struct pool_run {
    pool_geom g;
    const float *x, *dy;
    float *y, *dx;
} pool_run;

/* Index in the plane of the window maximum at output (i, j). */
static inline size_t maxpool_argmax(const pool_geom *g, const float *plane,
                                    int64_t i, int64_t j)
{
    int64_t h0 = i * g->sh - g->ph, w0 = j * g->sw - g->pw;
    int64_t h1 = h0 + g->kh < g->h ? h0 + g->kh : g->h;
    int64_t w1 = w0 + g->kw < g->w ? w0 + g->kw : g->w;
    if (h0 < 0)
        h0 = 0;
    if (w0 < 0)
        w0 = 0;

    size_t best = (size_t)(h0 * g->w + w0);
    float bv = plane[best];
    for (int64_t a = h0; a < h1; a++) {
        const float *row = plane + a * g->w;
        for (int64_t b = w0; b < w1; b++) {
            float v = row[b];
            /* Strict >: a tie keeps the earlier input. */
            if (v > bv || (isnan(v) && !isnan(bv))) {
                bv = v;
                best = (size_t)(a * g->w + b);
            }
        }
    }
    return best;
}

/* 1 when v replaces the running maximum m: strictly greater (a tie keeps
 * the earlier input), or the first NaN. The same test as maxpool_argmax,
 * written branch-free so that the 2x2 loops below vectorise. */
static inline int maxpool_takes(float v, float m)
{
    return (v > m) | ((v != v) & (m == m));
}

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
static void maxpool2_forward_plane(const pool_geom *g, const float *x,
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

static void maxpool2_backward_plane(const pool_geom *g, const float *x,
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

/* Widest input row the separable forward below handles (a stack buffer). */
#define MAXPOOL_ROW_MAX 4096

/* Any window without padding (AlexNet's 3x3 stride 2): the maximum over a
 * window is the maximum over its columns of the maxima over its rows, so
 * each output row first takes the element-wise maximum of its kh input rows
 * (a loop that vectorises), then the kw-wide maxima along that row. Only
 * values are needed in forward, and maxpool_takes gives the same value as
 * maxpool_argmax (NaN when the window holds one). Five to six times faster
 * than the per-window scan. */
static int maxpool_is_separable(const pool_geom *g)
{
    return g->ph == 0 && g->pw == 0 && g->w <= MAXPOOL_ROW_MAX;
}

static void maxpool_forward_plane_separable(const pool_geom *g,
                                            const float *x, float *y)
{
    float rowmax[MAXPOOL_ROW_MAX];
    const size_t w = (size_t)g->w;
    for (int64_t i = 0; i < g->oh; i++) {
        const float *r0 = x + (size_t)(i * g->sh) * w;
        memcpy(rowmax, r0, w * sizeof *rowmax);
        for (int64_t a = 1; a < g->kh; a++) {
            const float *row = r0 + (size_t)a * w;
            for (size_t b = 0; b < w; b++)
                rowmax[b] = maxpool_takes(row[b], rowmax[b]) ? row[b] : rowmax[b];
        }
        for (int64_t j = 0; j < g->ow; j++) {
            const float *win = rowmax + j * g->sw;
            float m = win[0];
            for (int64_t b = 1; b < g->kw; b++)
                m = maxpool_takes(win[b], m) ? win[b] : m;
            *y++ = m;
        }
    }
}

static int maxpool_is_2x2(const pool_geom *g)
{
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 &&
           g->ph == 0 && g->pw == 0;
}

static void maxpool_forward_range(void *arg, size_t begin, size_t end)
{
    const pool_run *r = arg;
    const pool_geom *g = &r->g;
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
            for (int64_t j = 0; j < g->ow; j++)
                *y++ = x[maxpool_argmax(g, x, i, j)];
    }
}

static void maxpool_backward_range(void *arg, size_t begin, size_t end)
{
    const pool_run *r = arg;
    const pool_geom *g = &r->g;
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
            for (int64_t j = 0; j < g->ow; j++)
                dx[maxpool_argmax(g, x, i, j)] += *dy++;
    }
}

static void pool_parallel(const cnn_layer_env *env, size_t n, size_t work,
                          cnn_range_fn fn, void *arg)
{
    if (n == 0)
        return;
    if (n > 1 && work >= POOL_PAR_MIN_WORK && env && env->parallel_for &&
        env->threads > 1)
        env->parallel_for(env->host, n, fn, arg);
    else
        fn(arg, 0, n);
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
    st = pool_geometry("maxpool", layer->hparams, &inputs[0].shape, &r->g, err);
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
    pool_parallel(a->env, planes, cnn_tensor_numel(&a->inputs[0]),
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
    pool_parallel(a->env, planes, cnn_tensor_numel(&a->inputs[0]),
                  maxpool_backward_range, &r);
    return CNN_OK;
}

static const cnn_layer_descriptor maxpool_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "maxpool",
    .summary = "2-D max pooling, PyTorch MaxPool2d semantics (floor mode)",
    .hparams = maxpool_hparams,
    .n_hparams = sizeof maxpool_hparams / sizeof maxpool_hparams[0],
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = 0,
    .infer_shape = maxpool_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(maxpool_descriptor)
