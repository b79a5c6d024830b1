/* SPDX-License-Identifier: MIT */
/* avgpool: 2-D average pooling, as PyTorch's AvgPool2d (and ONNX
 * AveragePool): stride, padding (symmetric, [top, left, bottom, right] or
 * "same"), ceil_mode and count_include_pad.
 *
 *   y[n, c, i, j] = (1 / n_ij) * sum over the window (i sh - pt + a,
 *                   j sw - pl + b), 0 <= a < kh, 0 <= b < kw, of x, padding
 *                   being zeros
 *   dx[n, c, p]   = sum of dy[n, c, i, j] / n_ij over the windows holding p
 *
 * n_ij, PyTorch's divisor: with count_include_pad (PyTorch's default; ONNX's
 * default is 0) the window's cells inside input + padding, so a ceil_mode
 * window running past the padded input counts only what it covers; without,
 * only the real input cells. Padding is at most half the window per side,
 * as PyTorch requires, so n_ij >= 1. The window walk is
 * cnn/pool_window.h's. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/layer.h"
#include "cnn/pool_window.h"

enum { HP_SIZE, HP_STRIDE, HP_PADDING, HP_CEIL_MODE, HP_COUNT_INCLUDE_PAD };

static const cnn_hparam_spec avgpool_hparams[] = {
    {"size", CNN_HP_INT2, "window size, n or [h, w]", 1, 0, 1, 1024, NULL},
    {"stride", CNN_HP_INT2, "stride, n or [h, w]; 0 means the window size", 0,
     0, 0, 1024, NULL},
    {"padding", CNN_HP_PADDING,
     "zero padding: n, [h, w], [top, left, bottom, right], valid, same or "
     "same_lower; at most half the window per side",
     0, 0, 0, 1024, NULL},
    {"ceil_mode", CNN_HP_BOOL,
     "round the output size up: a last partial window counts if it starts "
     "inside the input or leading padding",
     0, 0, 0, 1, NULL},
    {"count_include_pad", CNN_HP_BOOL,
     "divide by the window's cells including padding (PyTorch's default); "
     "false: real inputs only (ONNX's default)",
     0, 1, 0, 1, NULL},
};

/* The window the hyperparameters describe (no dilation). */
static cnn_pool_window avgpool_hp_window(const cnn_hparam_value *hp)
{
    cnn_pool_window w;
    w.kh = hp[HP_SIZE].i[0];
    w.kw = hp[HP_SIZE].i[1];
    w.sh = hp[HP_STRIDE].i[0];
    w.sw = hp[HP_STRIDE].i[1];
    w.dh = 1;
    w.dw = 1;
    w.pad = cnn_hparam_padding(&hp[HP_PADDING]);
    w.ceil_mode = (int)hp[HP_CEIL_MODE].i[0];
    return w;
}

static cnn_status avgpool_geometry(const cnn_hparam_value *hp,
                                   const cnn_shape *in, cnn_pool_geom *g,
                                   cnn_errbuf *err)
{
    cnn_pool_window w = avgpool_hp_window(hp);
    return cnn_pool_geometry("avgpool", &w, in, g, err);
}

static cnn_status avgpool_infer_shape(const cnn_hparam_value *hp,
                                      const cnn_shape *inputs,
                                      uint32_t n_inputs, cnn_shape *output,
                                      cnn_errbuf *err)
{
    cnn_pool_window w = avgpool_hp_window(hp);
    return cnn_pool_infer_shape("avgpool", &w, inputs, n_inputs, output, err);
}

typedef struct pool_run {
    cnn_pool_geom g;
    int include_pad;
    const float *x, *dy;
    float *y, *dx;
} pool_run;

/* The window of output (i, j), clipped to the input (rows [*h0, *h1),
 * columns [*w0, *w1)), and 1 / its divisor. */
static inline float avgpool_window(const pool_run *r, int64_t i, int64_t j,
                                   int64_t *h0, int64_t *h1, int64_t *w0,
                                   int64_t *w1)
{
    const cnn_pool_geom *g = &r->g;
    int64_t hs, ws;
    cnn_pool_taps(i, g->sh, g->ph, g->kh, 1, g->h, &hs, h0, h1);
    cnn_pool_taps(j, g->sw, g->pw, g->kw, 1, g->w, &ws, w0, w1);
    *h0 += hs;
    *h1 += hs;
    *w0 += ws;
    *w1 += ws;
    int64_t n = cnn_pool_avg_cells(i, g->sh, g->ph, g->pb, g->kh, g->h,
                                   r->include_pad) *
                cnn_pool_avg_cells(j, g->sw, g->pw, g->pr, g->kw, g->w,
                                   r->include_pad);
    return n > 0 ? 1.0f / (float)n : 0.0f;
}

static void avgpool_forward_range(void *arg, size_t begin, size_t end)
{
    const pool_run *r = arg;
    const cnn_pool_geom *g = &r->g;
    size_t in_plane = (size_t)(g->h * g->w);
    size_t out_plane = (size_t)(g->oh * g->ow);

    for (size_t pl = begin; pl < end; pl++) {
        const float *x = r->x + pl * in_plane;
        float *y = r->y + pl * out_plane;
        for (int64_t i = 0; i < g->oh; i++) {
            for (int64_t j = 0; j < g->ow; j++) {
                int64_t h0, h1, w0, w1;
                float s = 0.0f;
                float inv = avgpool_window(r, i, j, &h0, &h1, &w0, &w1);
                for (int64_t a = h0; a < h1; a++)
                    for (int64_t b = w0; b < w1; b++)
                        s += x[a * g->w + b];
                *y++ = s * inv;
            }
        }
    }
}

/* Every window inside the input (cnn_pool_inside): the divisor is kh kw in
 * both count modes and no window needs clipping, so the per-output
 * geometry above is skipped. The sum runs in the same order, so results
 * are the same bits. DenseNet's 2x2 stride-2 transitions took 1.6 ms of
 * a batch-1 pass through the general loop. */
static inline __attribute__((always_inline)) void
avgpool_inside_plane(const cnn_pool_geom *g, const float *x, float *y,
                     int64_t kh, int64_t kw, int64_t sh, int64_t sw)
{
    const float inv = 1.0f / (float)(kh * kw);
    for (int64_t i = 0; i < g->oh; i++) {
        const float *row = x + i * sh * g->w;
        for (int64_t j = 0; j < g->ow; j++) {
            float s = 0.0f;
            for (int64_t a = 0; a < kh; a++)
                for (int64_t b = 0; b < kw; b++)
                    s += row[a * g->w + j * sw + b];
            *y++ = s * inv;
        }
    }
}

static void avgpool_forward_inside(void *arg, size_t begin, size_t end)
{
    const pool_run *r = arg;
    const cnn_pool_geom *g = &r->g;
    size_t in_plane = (size_t)(g->h * g->w);
    size_t out_plane = (size_t)(g->oh * g->ow);
    const int two = g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2;

    for (size_t pl = begin; pl < end; pl++) {
        const float *x = r->x + pl * in_plane;
        float *y = r->y + pl * out_plane;
        if (two) /* constants, so the compiler unrolls the window */
            avgpool_inside_plane(g, x, y, 2, 2, 2, 2);
        else
            avgpool_inside_plane(g, x, y, g->kh, g->kw, g->sh, g->sw);
    }
}

/* Padded windows (or ceil_mode's clipped ones): each plane is copied into
 * a zero-bordered buffer that holds every window whole, then summed as the
 * inside path sums, over the buffer's rows. The border's zeros leave each
 * partial sum as it was (the sum starts from +0), and the divisor of each
 * output is the per-window loop's, made once per call for all planes: the
 * results are the bits of avgpool_forward_range. Inception v3's 3x3
 * stride-1 padding-1 pools (count_include_pad) took 1.4-2.2 ms each
 * through that loop, 12.8 of its 68 ms at batch 1. */
typedef struct padded_run {
    const pool_run *r;
    int64_t hp, wp;   /* the buffer's rows and columns */
    const float *inv; /* [oh ow]: 1 / each output's divisor */
} padded_run;

static inline __attribute__((always_inline)) void
avgpool_padded_plane(const cnn_pool_geom *g, const float *buf, int64_t wp,
                     const float *inv, float *y, int64_t kh, int64_t kw,
                     int64_t sh, int64_t sw)
{
    for (int64_t i = 0; i < g->oh; i++, y += g->ow, inv += g->ow) {
        const float *row = buf + i * sh * wp;
        for (int64_t j = 0; j < g->ow; j++) {
            float s = 0.0f;
            for (int64_t a = 0; a < kh; a++)
                for (int64_t b = 0; b < kw; b++)
                    s += row[a * wp + j * sw + b];
            y[j] = s * inv[j];
        }
    }
}

static void avgpool_forward_padded(void *arg, size_t begin, size_t end)
{
    const padded_run *pr = arg;
    const pool_run *r = pr->r;
    const cnn_pool_geom *g = &r->g;
    const size_t in_plane = (size_t)(g->h * g->w);
    const size_t out_plane = (size_t)(g->oh * g->ow);
    const int three = g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1;
    float *buf = calloc((size_t)(pr->hp * pr->wp), sizeof *buf);

    if (!buf) { /* the per-window loop needs no memory */
        avgpool_forward_range((void *)r, begin, end);
        return;
    }
    for (size_t pl = begin; pl < end; pl++) {
        const float *x = r->x + pl * in_plane;
        float *y = r->y + pl * out_plane;
        /* Only the interior is written: the border stays zero. */
        for (int64_t a = 0; a < g->h; a++)
            memcpy(buf + (a + g->ph) * pr->wp + g->pw, x + a * g->w,
                   (size_t)g->w * sizeof *buf);
        if (three) /* constants, so the compiler unrolls the window */
            avgpool_padded_plane(g, buf, pr->wp, pr->inv, y, 3, 3, 1, 1);
        else
            avgpool_padded_plane(g, buf, pr->wp, pr->inv, y, g->kh, g->kw,
                                 g->sh, g->sw);
    }
    free(buf);
}

/* Runs the padded path; 0 (nothing done) without memory for it. */
static int avgpool_run_padded(const cnn_layer_env *env, const pool_run *r,
                              size_t planes, size_t work)
{
    const cnn_pool_geom *g = &r->g;
    padded_run pr = {r, 0, 0, NULL};
    float *inv = malloc((size_t)(g->oh * g->ow) * sizeof *inv + 1);
    int64_t need_h = (g->oh - 1) * g->sh + g->kh;
    int64_t need_w = (g->ow - 1) * g->sw + g->kw;

    if (!inv)
        return 0;
    pr.hp = g->h + g->ph + g->pb > need_h ? g->h + g->ph + g->pb : need_h;
    pr.wp = g->w + g->pw + g->pr > need_w ? g->w + g->pw + g->pr : need_w;
    for (int64_t i = 0; i < g->oh; i++)
        for (int64_t j = 0; j < g->ow; j++) {
            int64_t h0, h1, w0, w1;
            inv[i * g->ow + j] = avgpool_window(r, i, j, &h0, &h1, &w0, &w1);
        }
    pr.inv = inv;
    cnn_pool_for_planes(env, planes, work, avgpool_forward_padded, &pr);
    free(inv);
    return 1;
}

static void avgpool_backward_range(void *arg, size_t begin, size_t end)
{
    const pool_run *r = arg;
    const cnn_pool_geom *g = &r->g;
    size_t in_plane = (size_t)(g->h * g->w);
    size_t out_plane = (size_t)(g->oh * g->ow);

    for (size_t pl = begin; pl < end; pl++) {
        const float *dy = r->dy + pl * out_plane;
        float *dx = r->dx + pl * in_plane;
        memset(dx, 0, in_plane * sizeof *dx);
        for (int64_t i = 0; i < g->oh; i++) {
            for (int64_t j = 0; j < g->ow; j++) {
                int64_t h0, h1, w0, w1;
                float inv = avgpool_window(r, i, j, &h0, &h1, &w0, &w1);
                float d = *dy++ * inv;
                for (int64_t a = h0; a < h1; a++)
                    for (int64_t b = w0; b < w1; b++)
                        dx[a * g->w + b] += d;
            }
        }
    }
}

/* Validates the input and output shapes the host passed. */
static cnn_status avgpool_bind(const cnn_layer *layer, const cnn_tensor *inputs,
                               uint32_t n_inputs, const cnn_shape *out,
                               pool_run *r, cnn_errbuf *err)
{
    cnn_status st;

    memset(r, 0, sizeof *r);
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "avgpool layer '%s' takes 1 input, got %u",
                              layer->name, n_inputs);
    st = avgpool_geometry(layer->hparams, &inputs[0].shape, &r->g, err);
    if (st != CNN_OK)
        return st;
    r->include_pad = (int)layer->hparams[HP_COUNT_INCLUDE_PAD].i[0];
    cnn_shape want = cnn_shape4(inputs[0].shape.dims[0],
                                inputs[0].shape.dims[1], r->g.oh, r->g.ow);
    if (!cnn_shape_equal(out, &want))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "avgpool layer '%s': output tensor is not "
                              "[%lld, %lld, %lld, %lld]",
                              layer->name, (long long)want.dims[0],
                              (long long)want.dims[1], (long long)want.dims[2],
                              (long long)want.dims[3]);
    r->x = inputs[0].data;
    return CNN_OK;
}

static cnn_status avgpool_forward(const cnn_layer *layer,
                                  const cnn_forward_args *a, cnn_errbuf *err)
{
    pool_run r;
    cnn_status st = avgpool_bind(layer, a->inputs, a->n_inputs,
                                 &a->output->shape, &r, err);
    if (st != CNN_OK)
        return st;
    r.y = a->output->data;
    size_t planes = (size_t)(a->inputs[0].shape.dims[0] *
                             a->inputs[0].shape.dims[1]);
    if (cnn_pool_inside(&r.g))
        cnn_pool_for_planes(a->env, planes, cnn_tensor_numel(&a->inputs[0]),
                            avgpool_forward_inside, &r);
    else if (!avgpool_run_padded(a->env, &r, planes,
                                 cnn_tensor_numel(&a->inputs[0])))
        cnn_pool_for_planes(a->env, planes, cnn_tensor_numel(&a->inputs[0]),
                            avgpool_forward_range, &r);
    return CNN_OK;
}

static cnn_status avgpool_backward(const cnn_layer *layer,
                                   const cnn_backward_args *a, cnn_errbuf *err)
{
    pool_run r;
    cnn_status st = avgpool_bind(layer, a->inputs, a->n_inputs,
                                 &a->output_grad->shape, &r, err);
    if (st != CNN_OK)
        return st;
    if (!a->input_grads || !a->input_grads[0].data)
        return CNN_OK;
    if (!cnn_shape_equal(&a->input_grads[0].shape, &a->inputs[0].shape))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "avgpool layer '%s': input gradient shape "
                              "differs from the input's",
                              layer->name);
    r.dy = a->output_grad->data;
    r.dx = a->input_grads[0].data;
    size_t planes = (size_t)(a->inputs[0].shape.dims[0] *
                             a->inputs[0].shape.dims[1]);
    cnn_pool_for_planes(a->env, planes, cnn_tensor_numel(&a->inputs[0]),
                  avgpool_backward_range, &r);
    return CNN_OK;
}

static const cnn_layer_descriptor avgpool_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "avgpool",
    .summary = "2-D average pooling, PyTorch AvgPool2d semantics (padding, "
               "ceil_mode, count_include_pad)",
    .hparams = avgpool_hparams,
    .n_hparams = sizeof avgpool_hparams / sizeof avgpool_hparams[0],
    .min_inputs = 1,
    .max_inputs = 1,
    /* backward needs the inputs, never the output (ABI 1.3) */
    .flags = CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT,
    .infer_shape = avgpool_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(avgpool_descriptor)
