/* SPDX-License-Identifier: MIT */
/* lrn: local response normalisation across channels, the layer of the
 * original AlexNet (Krizhevsky et al., 2012), with the semantics of
 * PyTorch's nn.LocalResponseNorm(size, alpha, beta, k):
 *
 *   y[c] = x[c] * d[c]^-beta
 *   d[c] = k + alpha / size * sum of x[c']^2
 *          over c' = c - size/2 .. c + (size-1)/2   (integer division)
 *
 * per sample and pixel; channels outside [0, C) count as zero. With
 * s[c] = d[c]^-beta and t[c] = dy[c] x[c] s[c] / d[c], backward is
 *
 *   dx[j] = dy[j] s[j] - 2 alpha beta / size * x[j] * sum of t[c]
 *           over the c whose window holds j: c = j - (size-1)/2 .. j + size/2
 *
 * This file is the worked example of docs/plugin-abi.md ("Write your first
 * layer"), which quotes it region by region: the markers below delimit the
 * regions, and a test checks that the document and this file agree. */

/* @doc includes */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cnn/layer.h"

/* @doc hparams */
/* Hyperparameters are data: the host validates a graph's values against
 * this table (kind, bounds, required) before any hook runs. Columns: name,
 * kind, help, required, default, min, max, enum choices. */
enum { HP_SIZE, HP_ALPHA, HP_BETA, HP_K };

static const cnn_hparam_spec lrn_hparams[] = {
    {"size", CNN_HP_INT, "channels in the normalisation window", 1, 0, 1, 1024,
     NULL},
    {"alpha", CNN_HP_FLOAT, "scale of the sum of squares", 0, 1e-4, 0.0, 1e6,
     NULL},
    {"beta", CNN_HP_FLOAT, "exponent", 0, 0.75, 0.0, 16.0, NULL},
    {"k", CNN_HP_FLOAT, "additive constant (> 0)", 0, 1.0, 1e-6, 1e6, NULL},
};

/* @doc shape */
/* infer_shape must be pure: the host calls it for any batch size. LRN keeps
 * the shape; it needs a channel axis (dims[1]) and treats every later axis
 * as pixels. Errors are one line, naming the values. */
static cnn_status lrn_infer_shape(const cnn_hparam_value *hp,
                                  const cnn_shape *inputs, uint32_t n_inputs,
                                  cnn_shape *output, cnn_errbuf *err)
{
    const cnn_shape *s = &inputs[0];
    int ok;
    (void)hp;
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE, "lrn takes 1 input, got %u",
                              n_inputs);
    if (s->rank < 2 || s->rank > CNN_MAX_RANK)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "lrn needs an input [N, C, ...] of rank 2 to "
                              "%d, got rank %d",
                              CNN_MAX_RANK, (int)s->rank);
    for (int32_t i = 1; i < s->rank; i++)
        if (s->dims[i] < 1)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "lrn input dimension %d is %lld", (int)i,
                                  (long long)s->dims[i]);
    (void)cnn_shape_numel_checked(s, &ok);
    if (!ok || s->dims[0] < 0)
        return cnn_layer_fail(err, CNN_ERR_SHAPE, "lrn input is too large");
    *output = *s;
    return CNN_OK;
}

/* @doc math */
/* What one call works on. The hooks run the per-pixel work through
 * env->parallel_for: items are (sample, pixel) pairs, and each item walks
 * the channels of its pixel, so that items never share an output. */
typedef struct lrn_run {
    const float *x, *dy;
    float *y, *dx, *t;     /* t: backward's scratch, from env->workspace */
    int64_t c, pixels;     /* channels; pixels per channel */
    int64_t before, after; /* window: c - before .. c + after */
    float alpha_n, beta, k;
} lrn_run;

static lrn_run lrn_setup(const cnn_layer *layer, const cnn_shape *s)
{
    const cnn_hparam_value *hp = layer->hparams;
    lrn_run r;
    memset(&r, 0, sizeof r);
    r.c = s->dims[1];
    r.pixels = 1;
    for (int32_t i = 2; i < s->rank; i++)
        r.pixels *= s->dims[i];
    r.before = hp[HP_SIZE].i[0] / 2;
    r.after = (hp[HP_SIZE].i[0] - 1) / 2;
    r.alpha_n = (float)(hp[HP_ALPHA].f / (double)hp[HP_SIZE].i[0]);
    r.beta = (float)hp[HP_BETA].f;
    r.k = (float)hp[HP_K].f;
    return r;
}

/* d for channel ch of the pixel whose channel 0 is at x (stride: pixels). */
static float lrn_denominator(const lrn_run *r, const float *x, int64_t ch)
{
    int64_t lo = ch - r->before < 0 ? 0 : ch - r->before;
    int64_t hi = ch + r->after >= r->c ? r->c - 1 : ch + r->after;
    float sum = 0.0f;
    for (int64_t i = lo; i <= hi; i++) {
        float v = x[i * r->pixels];
        sum += v * v;
    }
    return r->k + r->alpha_n * sum;
}

/* Runs fn over items [0, n) on the host's threads when it offers them. */
static void lrn_parallel(const cnn_layer_env *env, size_t n, cnn_range_fn fn,
                         void *arg)
{
    if (env && env->parallel_for)
        env->parallel_for(env->host, n, fn, arg);
    else
        fn(arg, 0, n);
}

/* @doc forward */
/* forward writes every element of the output and nothing else. */
static void lrn_forward_range(void *arg, size_t begin, size_t end)
{
    const lrn_run *r = arg;
    for (size_t item = begin; item < end; item++) {
        size_t n = item / (size_t)r->pixels, p = item % (size_t)r->pixels;
        size_t base = n * (size_t)(r->c * r->pixels) + p;
        const float *x = r->x + base;
        float *y = r->y + base;
        for (int64_t ch = 0; ch < r->c; ch++) {
            float d = lrn_denominator(r, x, ch);
            y[ch * r->pixels] = x[ch * r->pixels] * powf(d, -r->beta);
        }
    }
}

static cnn_status lrn_forward(const cnn_layer *layer,
                              const cnn_forward_args *args, cnn_errbuf *err)
{
    const cnn_shape *s = &args->inputs[0].shape;
    lrn_run r;
    if (!cnn_shape_equal(s, &args->output->shape))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "lrn '%s': output shape differs from the input's",
                              layer->name);
    r = lrn_setup(layer, s);
    r.x = args->inputs[0].data;
    r.y = args->output->data;
    lrn_parallel(args->env, (size_t)(s->dims[0] * r.pixels), lrn_forward_range,
                 &r);
    return CNN_OK;
}

/* @doc backward */
/* backward overwrites dx (never accumulates), and skips it when the host
 * does not want it (data NULL: the layer sits right after the graph input).
 * LRN has no parameters, so there are no parameter gradients to fill. */
static void lrn_backward_range(void *arg, size_t begin, size_t end)
{
    const lrn_run *r = arg;
    float scale = 2.0f * r->alpha_n * r->beta;
    for (size_t item = begin; item < end; item++) {
        size_t n = item / (size_t)r->pixels, p = item % (size_t)r->pixels;
        size_t base = n * (size_t)(r->c * r->pixels) + p;
        const float *x = r->x + base, *dy = r->dy + base;
        float *dx = r->dx + base, *t = r->t + base;
        /* Pass 1: t[c] and the direct term dy * s. */
        for (int64_t ch = 0; ch < r->c; ch++) {
            int64_t i = ch * r->pixels;
            float d = lrn_denominator(r, x, ch);
            float s = powf(d, -r->beta);
            t[i] = dy[i] * x[i] * s / d;
            dx[i] = dy[i] * s;
        }
        /* Pass 2: each x[j] also sits in the windows of its neighbours. */
        for (int64_t j = 0; j < r->c; j++) {
            int64_t lo = j - r->after < 0 ? 0 : j - r->after;
            int64_t hi = j + r->before >= r->c ? r->c - 1 : j + r->before;
            float sum = 0.0f;
            for (int64_t ch = lo; ch <= hi; ch++)
                sum += t[ch * r->pixels];
            dx[j * r->pixels] -= scale * x[j * r->pixels] * sum;
        }
    }
}

static cnn_status lrn_backward(const cnn_layer *layer,
                               const cnn_backward_args *args, cnn_errbuf *err)
{
    const cnn_shape *s = &args->inputs[0].shape;
    size_t numel = cnn_shape_numel(s);
    lrn_run r;
    if (!args->input_grads || !args->input_grads[0].data)
        return CNN_OK;
    r = lrn_setup(layer, s);
    r.x = args->inputs[0].data;
    r.dy = args->output_grad->data;
    r.dx = args->input_grads[0].data;
    /* Scratch belongs to the host: ask once, for everything this call
     * needs; it is valid until the hook returns. */
    r.t = args->env && args->env->workspace
              ? args->env->workspace(args->env->host, numel)
              : NULL;
    if (!r.t && numel)
        return cnn_layer_fail(err, CNN_ERR_NOMEM,
                              "lrn '%s': no workspace for %zu floats",
                              layer->name, numel);
    lrn_parallel(args->env, (size_t)(s->dims[0] * r.pixels), lrn_backward_range,
                 &r);
    return CNN_OK;
}

/* @doc flops */
/* Optional (ABI 1.1): work per forward pass, for `cnnrun summary`. */
static uint64_t lrn_flops(const cnn_hparam_value *hp, const cnn_shape *inputs,
                          uint32_t n_inputs, const cnn_shape *output)
{
    (void)n_inputs;
    (void)output;
    /* A square and an add per window element, then scale, pow, multiply. */
    return cnn_shape_numel(&inputs[0]) * (uint64_t)(2 * hp[HP_SIZE].i[0] + 3);
}

/* @doc descriptor */
/* The descriptor ties it together; CNN_LAYER_PLUGIN exports it as the one
 * symbol the host looks up. No create/destroy: LRN keeps no state between
 * calls, and no params hook: it learns nothing. */
static const cnn_layer_descriptor lrn_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "lrn",
    .summary = "local response normalisation across channels (AlexNet)",
    .hparams = lrn_hparams,
    .n_hparams = sizeof lrn_hparams / sizeof lrn_hparams[0],
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = 0,
    .infer_shape = lrn_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = lrn_forward,
    .backward = lrn_backward,
    .destroy = NULL,
    .flops = lrn_flops,
};

CNN_LAYER_PLUGIN(lrn_descriptor)
