/* SPDX-License-Identifier: MIT */
/* layernorm: layer normalisation over the channels (dim 1) at every other
 * index of [N, C] or [N, C, ...] (any rank >= 2). For each sample n and
 * position p (p runs over the dims after C), over the C values x[n, :, p]:
 *
 *   mean = sum x / C,  var = sum (x - mean)^2 / C   (biased)
 *   rstd = 1 / sqrt(var + eps),  xhat = (x - mean) rstd
 *   y = xhat weight[c] + bias[c]          (affine: true, the default)
 *   y = xhat                              (affine: false: no parameters)
 *
 * On [N, C] this is nn.LayerNorm(C); on [N, C, H, W] it is
 * F.layer_norm(x.permute(0, 2, 3, 1), (C,), weight, bias, eps)
 * .permute(0, 3, 1, 2): ConvNeXt's LayerNorm2d and its channels-last
 * LayerNorm around the 1x1 convolutions. weight and bias are PyTorch's
 * ([C], initialised to 1 and 0), so a state_dict maps onto them.
 *
 * Backward, with g = dy weight[c] and means over the C channels of a
 * position:
 *
 *   dx = rstd (g - mean(g) - xhat mean(g xhat))
 *   dweight[c] = sum over n, p of dy xhat,  dbias[c] = sum of dy
 *
 * Nothing is kept between calls: backward recomputes mean and rstd from
 * its inputs with forward's code, so it gets the same statistics and
 * depends only on its arguments.
 *
 * Numerics: the statistics are two passes in double (the mean, then the
 * centred squares), so a mean far larger than the spread does not cancel
 * the variance away, and every result is computed in double and rounded
 * to float once.
 *
 * Memory: the input is NCHW, so a position's C values lie a plane (the
 * product of the dims after C) apart. Rather than stride through them,
 * every pass runs over a tile of up to LN_TILE consecutive positions of one
 * sample: the outer loop over the channels, the inner one over the tile's
 * positions, contiguous in memory, with the per-position sums in small
 * arrays on the stack (vectorised by the compiler). A sample and a tile
 * make a unit; units are independent in forward and spread over the
 * host's threads.
 *
 * dweight and dbias sum over every unit. Units are split into at most
 * LN_SLOTS slots by their count alone; each slot sums its units in order
 * into its own row of env->workspace (2 C doubles a slot), and the rows
 * are added in slot order: the result does not depend on the number of
 * threads. Without the workspace the backward fails with CNN_ERR_NOMEM and
 * a message. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cnn/layer.h"

enum { HP_EPS, HP_AFFINE };

static const cnn_hparam_spec layernorm_hparams[] = {
    {"eps", CNN_HP_FLOAT, "added to the variance before the square root", 0,
     1e-5, 1e-12, 1.0, NULL},
    {"affine", CNN_HP_BOOL,
     "learn a per-channel weight (starts at 1) and bias (starts at 0)", 0, 1,
     0, 1, NULL},
};

enum { P_WEIGHT, P_BIAS, P_COUNT };

/* Positions per tile: four arrays of this many doubles on the stack. */
#define LN_TILE 128
/* At most this many slots of gradient sums (and parallel tasks). */
#define LN_SLOTS 64
/* Below this many elements a call stays on the calling thread. */
#ifndef LN_PAR_MIN
#define LN_PAR_MIN ((size_t)1 << 15)
#endif

/* ---- Shapes ------------------------------------------------------------- */

/* Rank 2..CNN_MAX_RANK, a batch of 0 or more, every other dim >= 1: sets
 * the channels and the plane (positions per sample). */
static cnn_status ln_geometry(const cnn_shape *s, int64_t *c, size_t *plane,
                              cnn_errbuf *err)
{
    int ok;
    if (s->rank < 2 || s->rank > CNN_MAX_RANK)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "layernorm: input rank %d, need 2..%d ([N, C] "
                              "or [N, C, ...], normalised over C)",
                              (int)s->rank, CNN_MAX_RANK);
    if (s->dims[0] < 0)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "layernorm: batch size %lld is negative",
                              (long long)s->dims[0]);
    if (s->dims[1] < 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "layernorm: the input has %lld channels (dim "
                              "1), need at least 1",
                              (long long)s->dims[1]);
    for (int32_t i = 2; i < s->rank; i++)
        if (s->dims[i] < 1)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "layernorm: input dim %d is %lld, must be "
                                  ">= 1",
                                  (int)i, (long long)s->dims[i]);
    (void)cnn_shape_numel_checked(s, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "layernorm: input element count overflows");
    *c = s->dims[1];
    *plane = 1;
    for (int32_t i = 2; i < s->rank; i++)
        *plane *= (size_t)s->dims[i];
    return CNN_OK;
}

static cnn_status layernorm_infer_shape(const cnn_hparam_value *hp,
                                        const cnn_shape *inputs,
                                        uint32_t n_inputs, cnn_shape *output,
                                        cnn_errbuf *err)
{
    int64_t c;
    size_t plane;
    cnn_status st;
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "layernorm: takes 1 input, got %u", n_inputs);
    if (!(hp[HP_EPS].f > 0.0)) /* the host enforces the bound; be sure */
        return cnn_layer_fail(err, CNN_ERR_INVALID,
                              "layernorm: eps %g must be > 0", hp[HP_EPS].f);
    st = ln_geometry(&inputs[0], &c, &plane, err);
    if (st == CNN_OK)
        *output = inputs[0];
    return st;
}

static void ln_spec(cnn_param_spec *s, const char *name, int64_t c,
                    cnn_init_rule init)
{
    memset(s, 0, sizeof *s);
    strcpy(s->name, name);
    s->shape.rank = 1;
    s->shape.dims[0] = c;
    s->init = init;
    s->fan_in = c;
    s->fan_out = c;
    s->flags = CNN_PARAM_NO_DECAY;
}

static cnn_status layernorm_params(const cnn_layer *layer,
                                   cnn_param_spec *specs, uint32_t capacity,
                                   uint32_t *count, cnn_errbuf *err)
{
    int64_t c;
    size_t plane;
    cnn_status st;
    if (layer->n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "layernorm '%s': takes 1 input, got %u",
                              layer->name, layer->n_inputs);
    st = ln_geometry(&layer->input_shapes[0], &c, &plane, err);
    if (st != CNN_OK)
        return st;
    *count = layer->hparams[HP_AFFINE].i[0] ? P_COUNT : 0;
    if (capacity < *count)
        return CNN_OK;
    if (*count) { /* PyTorch's names, order and initial values */
        ln_spec(&specs[P_WEIGHT], "weight", c, CNN_INIT_ONES);
        ln_spec(&specs[P_BIAS], "bias", c, CNN_INIT_ZEROS);
    }
    return CNN_OK;
}

/* ---- One call ----------------------------------------------------------- */

typedef struct ln_run {
    int64_t n, c;
    size_t plane;        /* positions per sample */
    size_t tiles, units; /* tiles per sample; n * tiles */
    size_t slots;        /* backward: units split into this many slots */
    double eps;
    const float *x, *dy;
    const float *weight, *bias; /* NULL: affine false */
    float *y, *dx;              /* dx NULL: not wanted */
    double *acc; /* backward with dweight: slots rows of [dweight, dbias] */
} ln_run;

static cnn_status ln_setup(const cnn_layer *layer, const cnn_tensor *x,
                           const cnn_shape *out, const cnn_tensor *params,
                           uint32_t n_params, ln_run *r, cnn_errbuf *err)
{
    static const char *const names[P_COUNT] = {"weight", "bias"};
    uint32_t want = layer->hparams[HP_AFFINE].i[0] ? P_COUNT : 0;
    cnn_status st;
    memset(r, 0, sizeof *r);
    st = ln_geometry(&x->shape, &r->c, &r->plane, err);
    if (st != CNN_OK)
        return st;
    if (!cnn_shape_equal(&x->shape, out))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "layernorm '%s': output (or its gradient) is "
                              "not shaped like the input",
                              layer->name);
    if (n_params != want || (want && !params))
        return cnn_layer_fail(err, CNN_ERR_INVALID,
                              "layernorm '%s': got %u parameter tensors, "
                              "want %u",
                              layer->name, n_params, want);
    for (uint32_t i = 0; i < want; i++)
        if (params[i].shape.rank != 1 || params[i].shape.dims[0] != r->c)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "layernorm '%s': %s is not [%lld] for an "
                                  "input of %lld channels",
                                  layer->name, names[i], (long long)r->c,
                                  (long long)r->c);
    r->n = x->shape.dims[0];
    r->tiles = (r->plane + LN_TILE - 1) / LN_TILE;
    r->units = (size_t)r->n * r->tiles;
    r->slots = r->units < LN_SLOTS ? r->units : LN_SLOTS;
    r->eps = layer->hparams[HP_EPS].f;
    r->x = x->data;
    if (want) {
        r->weight = params[P_WEIGHT].data;
        r->bias = params[P_BIAS].data;
    }
    return CNN_OK;
}

/* Unit u: its first element (channel 0 of its first position) and its
 * number of positions. */
static size_t ln_unit(const ln_run *r, size_t u, size_t *np)
{
    size_t s = u / r->tiles, p0 = (u % r->tiles) * LN_TILE;
    size_t left = r->plane - p0;
    *np = left < LN_TILE ? left : LN_TILE;
    return s * (size_t)r->c * r->plane + p0;
}

/* Mean and rstd of the np positions at x (channel c at x + c plane). */
static void ln_stats(const ln_run *r, const float *x, size_t np,
                     double *restrict mean, double *restrict rstd)
{
    const size_t plane = r->plane;
    const double inv_c = 1.0 / (double)r->c;
    for (size_t t = 0; t < np; t++)
        mean[t] = rstd[t] = 0.0;
    for (int64_t ch = 0; ch < r->c; ch++) {
        const float *restrict row = x + (size_t)ch * plane;
        for (size_t t = 0; t < np; t++)
            mean[t] += (double)row[t];
    }
    for (size_t t = 0; t < np; t++)
        mean[t] *= inv_c;
    for (int64_t ch = 0; ch < r->c; ch++) {
        const float *restrict row = x + (size_t)ch * plane;
        for (size_t t = 0; t < np; t++) {
            double d = (double)row[t] - mean[t];
            rstd[t] += d * d;
        }
    }
    for (size_t t = 0; t < np; t++)
        rstd[t] = 1.0 / sqrt(rstd[t] * inv_c + r->eps);
}

static void ln_forward_unit(const ln_run *r, size_t u)
{
    double mean[LN_TILE], rstd[LN_TILE];
    size_t np, at = ln_unit(r, u, &np);
    ln_stats(r, r->x + at, np, mean, rstd);
    for (int64_t ch = 0; ch < r->c; ch++) {
        size_t off = at + (size_t)ch * r->plane;
        const float *restrict x = r->x + off;
        float *restrict y = r->y + off;
        if (!r->weight) {
            for (size_t t = 0; t < np; t++)
                y[t] = (float)(((double)x[t] - mean[t]) * rstd[t]);
            continue;
        }
        double w = r->weight[ch], b = r->bias[ch];
        for (size_t t = 0; t < np; t++)
            y[t] = (float)(((double)x[t] - mean[t]) * rstd[t] * w + b);
    }
}

static void ln_forward_range(void *arg, size_t begin, size_t end)
{
    const ln_run *r = arg;
    for (size_t u = begin; u < end; u++)
        ln_forward_unit(r, u);
}

/* One unit's backward: dx (when wanted) and its terms of dweight and dbias
 * added to acc (when given). */
static void ln_backward_unit(const ln_run *r, size_t u, double *acc)
{
    double mean[LN_TILE], rstd[LN_TILE], sg[LN_TILE], sgx[LN_TILE];
    size_t np, at = ln_unit(r, u, &np);
    const double inv_c = 1.0 / (double)r->c;
    ln_stats(r, r->x + at, np, mean, rstd);
    for (size_t t = 0; t < np; t++)
        sg[t] = sgx[t] = 0.0;
    for (int64_t ch = 0; ch < r->c; ch++) {
        size_t off = at + (size_t)ch * r->plane;
        const float *restrict x = r->x + off, *restrict dy = r->dy + off;
        double w = r->weight ? (double)r->weight[ch] : 1.0;
        if (r->dx)
            for (size_t t = 0; t < np; t++) {
                double xhat = ((double)x[t] - mean[t]) * rstd[t];
                double g = (double)dy[t] * w;
                sg[t] += g;
                sgx[t] += g * xhat;
            }
        if (acc) {
            /* Two lanes each: independent additions, a fixed order. */
            double a0 = 0.0, a1 = 0.0, b0 = 0.0, b1 = 0.0;
            size_t t = 0;
            for (; t + 2 <= np; t += 2) {
                a0 += (double)dy[t] * (((double)x[t] - mean[t]) * rstd[t]);
                a1 += (double)dy[t + 1] *
                      (((double)x[t + 1] - mean[t + 1]) * rstd[t + 1]);
                b0 += (double)dy[t];
                b1 += (double)dy[t + 1];
            }
            for (; t < np; t++) {
                a0 += (double)dy[t] * (((double)x[t] - mean[t]) * rstd[t]);
                b0 += (double)dy[t];
            }
            acc[ch] += a0 + a1;
            acc[r->c + ch] += b0 + b1;
        }
    }
    if (!r->dx)
        return;
    for (size_t t = 0; t < np; t++) {
        sg[t] *= inv_c;
        sgx[t] *= inv_c;
    }
    for (int64_t ch = 0; ch < r->c; ch++) {
        size_t off = at + (size_t)ch * r->plane;
        const float *restrict x = r->x + off, *restrict dy = r->dy + off;
        float *restrict dx = r->dx + off;
        double w = r->weight ? (double)r->weight[ch] : 1.0;
        for (size_t t = 0; t < np; t++) {
            double xhat = ((double)x[t] - mean[t]) * rstd[t];
            double g = (double)dy[t] * w;
            dx[t] = (float)(rstd[t] * (g - sg[t] - xhat * sgx[t]));
        }
    }
}

/* Slots [begin, end): each runs its units in order into its own row. */
static void ln_backward_range(void *arg, size_t begin, size_t end)
{
    const ln_run *r = arg;
    for (size_t s = begin; s < end; s++) {
        size_t u0 = r->units * s / r->slots;
        size_t u1 = r->units * (s + 1) / r->slots;
        double *acc = r->acc ? r->acc + s * 2 * (size_t)r->c : NULL;
        if (acc)
            for (int64_t k = 0; k < 2 * r->c; k++)
                acc[k] = 0.0;
        for (size_t u = u0; u < u1; u++)
            ln_backward_unit(r, u, acc);
    }
}

/* n tasks on the host's threads when the call is large enough. */
static void ln_parallel(const cnn_layer_env *env, const ln_run *r, size_t n,
                        cnn_range_fn fn)
{
    size_t numel = (size_t)r->n * (size_t)r->c * r->plane;
    if (env && env->parallel_for && env->threads > 1 && n > 1 &&
        numel >= LN_PAR_MIN)
        env->parallel_for(env->host, n, fn, (void *)r);
    else if (n)
        fn((void *)r, 0, n);
}

static cnn_status layernorm_forward(const cnn_layer *layer,
                                    const cnn_forward_args *args,
                                    cnn_errbuf *err)
{
    ln_run r;
    cnn_status st = ln_setup(layer, &args->inputs[0], &args->output->shape,
                             args->params, args->n_params, &r, err);
    if (st != CNN_OK)
        return st;
    r.y = args->output->data;
    ln_parallel(args->env, &r, r.units, ln_forward_range);
    return CNN_OK;
}

static cnn_status layernorm_backward(const cnn_layer *layer,
                                     const cnn_backward_args *args,
                                     cnn_errbuf *err)
{
    ln_run r;
    float *dweight = NULL, *dbias = NULL;
    const cnn_layer_env *env = args->env;
    cnn_status st = ln_setup(layer, &args->inputs[0],
                             &args->output_grad->shape, args->params,
                             args->n_params, &r, err);
    if (st != CNN_OK)
        return st;
    r.dy = args->output_grad->data;
    r.dx = args->input_grads ? args->input_grads[0].data : NULL;
    if (r.weight && args->param_grads) {
        dweight = args->param_grads[P_WEIGHT].data;
        dbias = args->param_grads[P_BIAS].data;
    }
    if (dweight && r.slots) {
        size_t n = r.slots * 2 * (size_t)r.c; /* doubles */
        float *ws = env && env->workspace ? env->workspace(env->host, 2 * n)
                                          : NULL;
        if (!ws)
            return cnn_layer_fail(err, CNN_ERR_NOMEM,
                                  "layernorm '%s': no workspace for %zu "
                                  "partial sums of the weight and bias "
                                  "gradients",
                                  layer->name, n);
        r.acc = (double *)(void *)ws; /* 64-byte aligned: fits doubles */
    }
    if (r.dx || r.acc)
        ln_parallel(env, &r, r.slots, ln_backward_range);
    if (dweight)
        for (int64_t ch = 0; ch < r.c; ch++) {
            double dw = 0.0, db = 0.0;
            for (size_t s = 0; s < r.slots; s++) {
                dw += r.acc[s * 2 * (size_t)r.c + (size_t)ch];
                db += r.acc[s * 2 * (size_t)r.c + (size_t)(r.c + ch)];
            }
            dweight[ch] = (float)dw;
            dbias[ch] = (float)db;
        }
    return CNN_OK;
}

/* Per element: the two statistics passes (an add; a subtract and a
 * multiply-add) and the normalisation (a subtract, a multiply and a
 * multiply-add), each multiply-add counted as two. */
static uint64_t layernorm_flops(const cnn_hparam_value *hp,
                                const cnn_shape *inputs, uint32_t n_inputs,
                                const cnn_shape *output)
{
    int ok;
    (void)hp;
    (void)output;
    if (n_inputs != 1 || inputs[0].rank < 2)
        return 0;
    size_t n = cnn_shape_numel_checked(&inputs[0], &ok);
    return ok ? 8u * (uint64_t)n : 0;
}

static const cnn_layer_descriptor layernorm_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "layernorm",
    .summary = "layer normalisation over the channels (dim 1) at every "
               "position (PyTorch's LayerNorm on [N, C], ConvNeXt's "
               "LayerNorm2d)",
    .hparams = layernorm_hparams,
    .n_hparams = sizeof layernorm_hparams / sizeof layernorm_hparams[0],
    .min_inputs = 1,
    .max_inputs = 1,
    /* backward needs the inputs, never the output (ABI 1.3) */
    .flags = CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT,
    .infer_shape = layernorm_infer_shape,
    .create = NULL,
    .params = layernorm_params,
    .forward = layernorm_forward,
    .backward = layernorm_backward,
    .destroy = NULL,
    .flops = layernorm_flops,
    .epilogue = NULL,
};

CNN_LAYER_PLUGIN(layernorm_descriptor)
