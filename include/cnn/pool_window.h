/* SPDX-License-Identifier: MIT */
/* The window walk of 2-D pooling layers, for plugin authors: geometry
 * (PyTorch's and ONNX's rules for stride, asymmetric or "same" padding,
 * dilation and ceil_mode), the taps of one window clipped to the input,
 * the cell count an average divides by, and a per-plane parallel loop.
 * maxpool and avgpool use it; an LP-pool or a min-pool would too.
 * Header-only (static inline), so a plugin stays self-contained.
 *
 * Conventions: NCHW input [N, C, H, W]; output (i, j)'s window starts at
 * row i sh - pad_top and column j sw - pad_left and has taps every dh rows
 * and dw columns, kh by kw of them. A tap outside [0, H) x [0, W) is
 * padding. With ceil_mode a last, partial window counts when it starts
 * inside the input or the leading padding (PyTorch's rule, see
 * cnn_window_out_ex in cnn/layer.h). */
#ifndef CNN_POOL_WINDOW_H
#define CNN_POOL_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/layer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnn_pool_geom {
    int64_t h, w;   /* input plane */
    int64_t kh, kw; /* window taps */
    int64_t sh, sw; /* stride */
    int64_t dh, dw; /* dilation: taps dh rows, dw columns apart */
    int64_t ph, pw; /* padding before: top, left */
    int64_t pb, pr; /* padding after: bottom, right */
    int64_t oh, ow; /* output plane */
} cnn_pool_geom;

/* What a pooling layer's hyperparameters say, before an input is known. */
typedef struct cnn_pool_window {
    int64_t kh, kw, sh, sw, dh, dw; /* stride 0 means the window size */
    cnn_padding pad;                /* cnn_hparam_padding() of the value */
    int ceil_mode;
} cnn_pool_window;

/* The geometry of window wnd on input shape in (rank 4, NCHW), or an error
 * naming type and the values: padding resolved for "same"; each side's
 * padding at most half the window (PyTorch's rule, which also keeps at
 * least one real input in every window without dilation), half the
 * dilated window's span with dilation, so that ONNX's "same" padding of a
 * dilated window fits; a window that does not fit the padded input is
 * refused. */
static inline cnn_status cnn_pool_geometry(const char *type,
                                           const cnn_pool_window *wnd,
                                           const cnn_shape *in,
                                           cnn_pool_geom *g, cnn_errbuf *err)
{
    cnn_padding p = wnd->pad;
    if (in->rank != 4)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s needs a rank-4 NCHW input, got rank %d",
                              type, (int)in->rank);
    if (in->dims[0] < 0 || in->dims[1] < 1 || in->dims[2] < 1 ||
        in->dims[3] < 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s input [%lld, %lld, %lld, %lld] has an "
                              "empty dimension",
                              type, (long long)in->dims[0],
                              (long long)in->dims[1], (long long)in->dims[2],
                              (long long)in->dims[3]);
    g->h = in->dims[2];
    g->w = in->dims[3];
    g->kh = wnd->kh;
    g->kw = wnd->kw;
    g->sh = wnd->sh ? wnd->sh : wnd->kh;
    g->sw = wnd->sw ? wnd->sw : wnd->kw;
    g->dh = wnd->dh < 1 ? 1 : wnd->dh;
    g->dw = wnd->dw < 1 ? 1 : wnd->dw;
    cnn_padding_resolve(&p, g->h, g->w, g->dh * (g->kh - 1) + 1,
                        g->dw * (g->kw - 1) + 1, g->sh, g->sw);
    g->ph = p.top;
    g->pw = p.left;
    g->pb = p.bottom;
    g->pr = p.right;
    int64_t eh = g->dh * (g->kh - 1) + 1, ew = g->dw * (g->kw - 1) + 1;
    if (g->ph > eh / 2 || g->pb > eh / 2 || g->pw > ew / 2 ||
        g->pr > ew / 2)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s padding [top %lld, left %lld, bottom %lld, "
                              "right %lld] is more than half the window "
                              "%lldx%lld (%lldx%lld with dilation) on some "
                              "side",
                              type, (long long)g->ph, (long long)g->pw,
                              (long long)g->pb, (long long)g->pr,
                              (long long)g->kh, (long long)g->kw,
                              (long long)eh, (long long)ew);
    g->oh = cnn_window_out_ex(g->h, g->kh, g->sh, g->ph, g->pb, g->dh,
                              wnd->ceil_mode);
    g->ow = cnn_window_out_ex(g->w, g->kw, g->sw, g->pw, g->pr, g->dw,
                              wnd->ceil_mode);
    if (g->oh < 1 || g->ow < 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s window %lldx%lld (dilation %lldx%lld) does "
                              "not fit input %lldx%lld with padding [top "
                              "%lld, left %lld, bottom %lld, right %lld]",
                              type, (long long)g->kh, (long long)g->kw,
                              (long long)g->dh, (long long)g->dw,
                              (long long)g->h, (long long)g->w,
                              (long long)g->ph, (long long)g->pw,
                              (long long)g->pb, (long long)g->pr);
    return CNN_OK;
}

/* infer_shape of a pooling layer: one input, [N, C, oh, ow] out. */
static inline cnn_status cnn_pool_infer_shape(const char *type,
                                              const cnn_pool_window *wnd,
                                              const cnn_shape *inputs,
                                              uint32_t n_inputs,
                                              cnn_shape *output,
                                              cnn_errbuf *err)
{
    cnn_pool_geom g;
    cnn_status st;
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE, "%s takes 1 input, got %u",
                              type, n_inputs);
    st = cnn_pool_geometry(type, wnd, &inputs[0], &g, err);
    if (st == CNN_OK)
        *output = cnn_shape4(inputs[0].dims[0], inputs[0].dims[1], g.oh, g.ow);
    return st;
}

/* Global pooling ([N, C, ...] to [N, C, 1, ...], any rank >= 3): checks
 * the input, gives the number of planes (N C) and each one's size. */
static inline cnn_status cnn_pool_global_dims(const char *type,
                                              const cnn_shape *s,
                                              size_t *planes, size_t *plane,
                                              cnn_errbuf *err)
{
    int ok;
    if (s->rank < 3 || s->rank > CNN_MAX_RANK)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s needs an input [N, C, H, ...] of rank "
                              "3..%d, got rank %d",
                              type, CNN_MAX_RANK, (int)s->rank);
    if (s->dims[0] < 0)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: batch size %lld is negative", type,
                              (long long)s->dims[0]);
    for (int32_t i = 1; i < s->rank; i++)
        if (s->dims[i] < 1)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "%s: input dim %d is %lld, must be >= 1",
                                  type, (int)i, (long long)s->dims[i]);
    (void)cnn_shape_numel_checked(s, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: input element count overflows", type);
    *planes = (size_t)s->dims[0] * (size_t)s->dims[1];
    *plane = 1;
    for (int32_t i = 2; i < s->rank; i++)
        *plane *= (size_t)s->dims[i];
    return CNN_OK;
}

/* The output shape of global pooling: every dim after C is 1. */
static inline cnn_shape cnn_pool_global_shape(const cnn_shape *in)
{
    cnn_shape o = *in;
    for (int32_t i = 2; i < o.rank; i++)
        o.dims[i] = 1;
    return o;
}

/* cnn_pool_global_dims on the input, and the output tensor's shape the
 * host passed to forward or backward checked against it. */
static inline cnn_status cnn_pool_global_check(const char *type,
                                               const cnn_layer *layer,
                                               const cnn_shape *in,
                                               const cnn_shape *out,
                                               size_t *planes, size_t *plane,
                                               cnn_errbuf *err)
{
    cnn_status st = cnn_pool_global_dims(type, in, planes, plane, err);
    cnn_shape want = cnn_pool_global_shape(in);
    if (st == CNN_OK && !cnn_shape_equal(out, &want))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s '%s': output tensor is not [%lld, %lld, 1, "
                              "...]",
                              type, layer->name, (long long)in->dims[0],
                              (long long)in->dims[1]);
    return st;
}

/* The taps [*first, *end) of output o's window along one axis that fall
 * inside the input: input index start + t d for tap t, start = o stride -
 * pad. Empty (first == end) when every tap is padding. */
static inline void cnn_pool_taps(int64_t o, int64_t stride, int64_t pad,
                                 int64_t k, int64_t d, int64_t in,
                                 int64_t *start, int64_t *first, int64_t *end)
{
    int64_t s = o * stride - pad;
    int64_t t0 = s < 0 ? (-s + d - 1) / d : 0;
    int64_t t1 = s >= in ? 0 : (in - s + d - 1) / d;
    *start = s;
    *first = t0;
    *end = t1 < k ? t1 : k;
    if (*end < *first)
        *end = *first;
}

/* How many cells output (i, j)'s window holds along one axis for an
 * average: with count_include_pad, padded cells count but cells past the
 * padded input do not (a ceil_mode window clipped to input + padding,
 * PyTorch's rule); without, only the input's cells. No dilation. */
static inline int64_t cnn_pool_avg_cells(int64_t o, int64_t stride,
                                         int64_t pad, int64_t pad_end,
                                         int64_t k, int64_t in,
                                         int include_pad)
{
    int64_t s = o * stride - pad, e = s + k;
    if (include_pad) {
        if (e > in + pad_end)
            e = in + pad_end;
    } else {
        if (s < 0)
            s = 0;
        if (e > in)
            e = in;
    }
    return e > s ? e - s : 0;
}

/* 1 when every window lies inside the input: no padding is read and no
 * ceil_mode window runs past the end (the case fast paths serve). */
static inline int cnn_pool_inside(const cnn_pool_geom *g)
{
    return g->ph == 0 && g->pw == 0 &&
           (g->oh - 1) * g->sh + g->dh * (g->kh - 1) + 1 <= g->h &&
           (g->ow - 1) * g->sw + g->dw * (g->kw - 1) + 1 <= g->w;
}

/* fn over planes [0, n) (one plane: one sample's channel), on the host's
 * threads when work (input floats) is worth spreading. */
static inline void cnn_pool_for_planes(const cnn_layer_env *env, size_t n,
                                       size_t work, cnn_range_fn fn,
                                       void *arg)
{
    if (n == 0)
        return;
    if (n > 1 && work >= ((size_t)1 << 15) && env && env->parallel_for &&
        env->threads > 1)
        env->parallel_for(env->host, n, fn, arg);
    else
        fn(arg, 0, n);
}

#ifdef __cplusplus
}
#endif
#endif
