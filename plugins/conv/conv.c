/* SPDX-License-Identifier: MIT */
/* conv: 2-D convolution, a cross-correlation as in PyTorch's Conv2d.
 *
 * Shapes: x [N, C, H, W], w [K, C/G, kh, kw], b [K], y [N, K, OH, OW] with
 * G groups (input channels [g C/G, (g+1) C/G) feed filters
 * [g K/G, (g+1) K/G)), dilation (dh, dw) (taps dh rows apart: an
 * effective kernel of dh (kh - 1) + 1 rows), padding pt, pb above and below
 * (pl, pr left and right) and OH = floor((H + pt + pb - dh (kh - 1) - 1)
 * / sh) + 1 (OW likewise). Per image and group, with X = im2col(x) of
 * shape [C/G kh kw, OH OW] and W_g viewed as [K/G, C/G kh kw]:
 *
 *   forward   Y  = W X + b 1^T                               (one GEMM)
 *   bias      db[k] = sum over n, oh, ow of dy[n, k, oh, ow]
 *   weight    dW = sum over n of dY X^T; this is dw = x ⋆ dy, the valid
 *             cross-correlation of the padded input with the (stride-dilated)
 *             output gradient
 *   input     dx = col2im(W^T dY); col2im is the adjoint of im2col, so this
 *             is the full convolution of the zero-padded, stride-dilated dy
 *             with w rotated by 180°, cropped by the padding
 *
 * This file checks shapes and picks, per product and from the geometry
 * alone, the algorithm: a pointwise kernel for 1x1 stride-1 layers
 * (pointwise.c, MobileNet, AVX-512 builds), a stem kernel for 3x3
 * stride-2 layers of at most 4 channels (stem.c, AVX-512 builds), a
 * direct convolution for
 * stride 1 and few filters
 * (direct.c, LeNet), another for stride 1, many filters and small planes
 * in forward (direct_deep.c, ResNet's 14x14 and 7x7 layers, AVX-512
 * builds), Winograd F(2x2, 3x3) for 3x3 stride-1 kernels with
 * enough channels and pixels (winograd.c, winograd_dw.c; VGG), F(4x4, 3x3)
 * for those and F(2x2, 5x5) for 5x5 ones at inference, with a params
 * token, where the tiles fit the plane (winograd6.c), all for
 * groups 1, no dilation and equal padding on both sides; per-channel
 * kernels for depthwise layers (groups == C, depthwise.c; MobileNet); or
 * im2col + GEMM for anything (conv_gemm.c). All spread their work over
 * env->threads (conv_impl.h); docs/performance.md has the measurements
 * behind the rules. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/layer.h"
#include "conv_impl.h"

enum {
    HP_FILTERS,
    HP_KERNEL,
    HP_STRIDE,
    HP_PADDING,
    HP_DILATION,
    HP_GROUPS,
    HP_BIAS,
    HP_INIT
};

static const char *const conv_init_choices[] = {
    "he_uniform", "he_normal", "glorot_uniform", "torch", NULL};

static const cnn_hparam_spec conv_hparams[] = {
    {"filters", CNN_HP_INT,
     "number of output channels (a multiple of groups)", 1, 0, 1, 65536,
     NULL},
    {"kernel", CNN_HP_INT2, "kernel size, n or [h, w]", 1, 0, 1, 1024, NULL},
    {"stride", CNN_HP_INT2, "stride, n or [h, w]", 0, 1, 1, 1024, NULL},
    {"padding", CNN_HP_PADDING,
     "zero padding: n, [h, w], [top, left, bottom, right], valid, same "
     "(output ceil(in / stride), odd padding at the bottom and right) or "
     "same_lower (odd padding at the top and left)",
     0, 0, 0, 1024, NULL},
    {"dilation", CNN_HP_INT2,
     "spacing between kernel taps, n or [h, w] (1: a dense kernel)", 0, 1, 1,
     1024, NULL},
    {"groups", CNN_HP_INT,
     "channel groups: input channels and filters split into groups "
     "convolved separately (groups = input channels: depthwise; filters = "
     "m * input channels: channel multiplier m)",
     0, 1, 1, 65536, NULL},
    {"bias", CNN_HP_BOOL, "add a learned bias per output channel", 0, 1, 0, 1,
     NULL},
    {"init", CNN_HP_ENUM,
     "weight init; torch: U(+-1/sqrt(fan_in)) for weight and bias, others: "
     "bias zeros",
     0, 3, 0, 0, conv_init_choices},
};

/* Geometry from validated hyperparameters and an input shape. */
static cnn_status conv_geometry(const cnn_hparam_value *hp,
                                const cnn_shape *in, conv_geom *g,
                                cnn_errbuf *err)
{
    if (in->rank != 4)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "conv needs a rank-4 NCHW input, got rank %d",
                              (int)in->rank);
    if (in->dims[0] < 0 || in->dims[1] < 1 || in->dims[2] < 1 ||
        in->dims[3] < 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "conv input [%lld, %lld, %lld, %lld] has an "
                              "empty dimension",
                              (long long)in->dims[0], (long long)in->dims[1],
                              (long long)in->dims[2], (long long)in->dims[3]);
    int64_t groups = hp[HP_GROUPS].i[0], k = hp[HP_FILTERS].i[0];
    if (in->dims[1] % groups != 0 || k % groups != 0)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "conv groups %lld must divide both the input "
                              "channels (%lld) and filters (%lld)",
                              (long long)groups, (long long)in->dims[1],
                              (long long)k);
    g->c = in->dims[1] / groups;
    g->h = in->dims[2];
    g->w = in->dims[3];
    g->kh = hp[HP_KERNEL].i[0];
    g->kw = hp[HP_KERNEL].i[1];
    g->sh = hp[HP_STRIDE].i[0];
    g->sw = hp[HP_STRIDE].i[1];
    g->dh = hp[HP_DILATION].i[0];
    g->dw = hp[HP_DILATION].i[1];

    cnn_padding p = cnn_hparam_padding(&hp[HP_PADDING]);
    int64_t ekh = g->dh * (g->kh - 1) + 1, ekw = g->dw * (g->kw - 1) + 1;
    cnn_padding_resolve(&p, g->h, g->w, ekh, ekw, g->sh, g->sw);
    g->ph = p.top;
    g->pw = p.left;
    g->pb = p.bottom;
    g->pr = p.right;
    g->oh = cnn_window_out_ex(g->h, g->kh, g->sh, g->ph, g->pb, g->dh, 0);
    g->ow = cnn_window_out_ex(g->w, g->kw, g->sw, g->pw, g->pr, g->dw, 0);
    if (g->oh < 1 || g->ow < 1) {
        char pad[96];
        if (g->ph == g->pb && g->pw == g->pr && g->ph == g->pw)
            snprintf(pad, sizeof pad, "%lld", (long long)g->ph);
        else if (g->ph == g->pb && g->pw == g->pr)
            snprintf(pad, sizeof pad, "[%lld, %lld]", (long long)g->ph,
                     (long long)g->pw);
        else
            snprintf(pad, sizeof pad, "[%lld, %lld, %lld, %lld]",
                     (long long)g->ph, (long long)g->pw, (long long)g->pb,
                     (long long)g->pr);
        if (ekh == g->kh && ekw == g->kw)
            return cnn_layer_fail(
                err, CNN_ERR_SHAPE,
                "kernel %lldx%lld does not fit input %lldx%lld with padding "
                "%s",
                (long long)g->kh, (long long)g->kw, (long long)g->h,
                (long long)g->w, pad);
        return cnn_layer_fail(
            err, CNN_ERR_SHAPE,
            "kernel %lldx%lld with dilation [%lld, %lld] (spanning %lldx%lld) "
            "does not fit input %lldx%lld with padding %s",
            (long long)g->kh, (long long)g->kw, (long long)g->dh,
            (long long)g->dw, (long long)ekh, (long long)ekw,
            (long long)g->h, (long long)g->w, pad);
    }
    /* BLAS dimensions are int: the column matrix must be indexable. */
    if (g->c > INT_MAX / (g->kh * g->kw) || g->oh > INT_MAX / g->ow)
        return cnn_layer_fail(
            err, CNN_ERR_SHAPE,
            "conv too large for BLAS: %lld x %lldx%lld kernel elements, "
            "%lldx%lld outputs",
            (long long)g->c, (long long)g->kh, (long long)g->kw,
            (long long)g->oh, (long long)g->ow);
    return CNN_OK;
}

static cnn_status conv_infer_shape(const cnn_hparam_value *hp,
                                   const cnn_shape *inputs, uint32_t n_inputs,
                                   cnn_shape *output, cnn_errbuf *err)
{
    conv_geom g;
    cnn_status st;

    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "conv takes 1 input, got %u", n_inputs);
    st = conv_geometry(hp, &inputs[0], &g, err);
    if (st != CNN_OK)
        return st;
    *output = cnn_shape4(inputs[0].dims[0], hp[HP_FILTERS].i[0], g.oh, g.ow);
    return CNN_OK;
}

static void conv_spec_set(cnn_param_spec *s, const char *name, cnn_shape shape,
                          cnn_init_rule init, int64_t fan_in, int64_t fan_out,
                          uint32_t flags)
{
    memset(s, 0, sizeof *s);
    strncpy(s->name, name, sizeof s->name - 1);
    s->shape = shape;
    s->init = init;
    s->fan_in = fan_in;
    s->fan_out = fan_out;
    s->flags = flags;
}

static cnn_status conv_params(const cnn_layer *layer, cnn_param_spec *specs,
                              uint32_t capacity, uint32_t *count,
                              cnn_errbuf *err)
{
    const cnn_hparam_value *hp = layer->hparams;
    int64_t k = hp[HP_FILTERS].i[0];
    int has_bias = hp[HP_BIAS].i[0] != 0;
    cnn_init_rule wrule, brule = CNN_INIT_ZEROS;
    conv_geom g;
    cnn_status st;

    if (layer->n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "conv layer '%s' takes 1 input, got %u",
                              layer->name, layer->n_inputs);
    st = conv_geometry(hp, &layer->input_shapes[0], &g, err);
    if (st != CNN_OK)
        return st;
    switch (hp[HP_INIT].i[0]) {
    case 0: wrule = CNN_INIT_HE_UNIFORM; break;
    case 1: wrule = CNN_INIT_HE_NORMAL; break;
    case 2: wrule = CNN_INIT_GLOROT_UNIFORM; break;
    default: /* "torch": PyTorch's Conv2d.reset_parameters */
        wrule = brule = CNN_INIT_FAN_IN_UNIFORM;
        break;
    }
    /* PyTorch bounds the bias with the weight's fan_in, so both carry it.
     * Its fans come from the weight's shape: fan_in C/G kh kw (g.c is per
     * group), fan_out K kh kw whatever the groups. */
    int64_t fan_in = g.c * g.kh * g.kw, fan_out = k * g.kh * g.kw;
    int64_t wdims[4] = {k, g.c, g.kh, g.kw};

    *count = has_bias ? 2u : 1u;
    if (capacity >= 1)
        conv_spec_set(&specs[0], "weight", cnn_shape_make(4, wdims), wrule,
                      fan_in, fan_out, 0);
    if (has_bias && capacity >= 2)
        conv_spec_set(&specs[1], "bias", cnn_shape_make(1, &k), brule, fan_in,
                      fan_out, CNN_PARAM_NO_DECAY);
    return CNN_OK;
}

static uint64_t conv_flops(const cnn_hparam_value *hp, const cnn_shape *inputs,
                           uint32_t n_inputs, const cnn_shape *output)
{
    if (n_inputs != 1 || inputs[0].rank != 4 || output->rank != 4 ||
        hp[HP_GROUPS].i[0] < 1)
        return 0;
    /* Each output sums C/G kh kw products. */
    uint64_t macs = (uint64_t)(inputs[0].dims[1] / hp[HP_GROUPS].i[0]) *
                    (uint64_t)hp[HP_KERNEL].i[0] *
                    (uint64_t)hp[HP_KERNEL].i[1];
    for (int i = 0; i < 4; i++)
        macs *= (uint64_t)output->dims[i];
    return 2 * macs;
}

/* ---- One forward or backward call --------------------------------------- */

/* Checks the tensors the host passed against the hyperparameters and fills
 * the parts of r common to forward and backward. */
static cnn_status conv_bind(const cnn_layer *layer, const cnn_tensor *inputs,
                            uint32_t n_inputs, const cnn_tensor *params,
                            uint32_t n_params, const cnn_shape *out_shape,
                            const cnn_layer_env *env, conv_run *r,
                            cnn_errbuf *err)
{
    const cnn_hparam_value *hp = layer->hparams;
    int has_bias = hp[HP_BIAS].i[0] != 0;
    cnn_status st;

    memset(r, 0, sizeof *r);
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "conv layer '%s' takes 1 input, got %u",
                              layer->name, n_inputs);
    st = conv_geometry(hp, &inputs[0].shape, &r->g, err);
    if (st != CNN_OK)
        return st;
    r->n = inputs[0].shape.dims[0];
    r->k = hp[HP_FILTERS].i[0];
    r->groups = hp[HP_GROUPS].i[0];
    r->cin = inputs[0].shape.dims[1];
    r->kg = r->k / r->groups;
    r->ckk = r->g.c * r->g.kh * r->g.kw;
    r->ohw = r->g.oh * r->g.ow;
    r->env = env;

    cnn_shape want_y = cnn_shape4(r->n, r->k, r->g.oh, r->g.ow);
    int64_t wdims[4] = {r->k, r->g.c, r->g.kh, r->g.kw};
    cnn_shape want_w = cnn_shape_make(4, wdims);
    cnn_shape want_b = cnn_shape_make(1, &r->k);

    if (n_params != (has_bias ? 2u : 1u))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "conv layer '%s' expects %d parameters, got %u",
                              layer->name, has_bias ? 2 : 1, n_params);
    if (!cnn_shape_equal(&params[0].shape, &want_w) ||
        (has_bias && !cnn_shape_equal(&params[1].shape, &want_b)))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "conv layer '%s': parameter shapes do not match "
                              "weight [%lld, %lld, %lld, %lld], bias [%lld]",
                              layer->name, (long long)r->k, (long long)r->g.c,
                              (long long)r->g.kh, (long long)r->g.kw,
                              (long long)r->k);
    if (!cnn_shape_equal(out_shape, &want_y))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "conv layer '%s': output tensor is not "
                              "[%lld, %lld, %lld, %lld]",
                              layer->name, (long long)r->n, (long long)r->k,
                              (long long)r->g.oh, (long long)r->g.ow);
    r->name = layer->name;
    r->x = inputs[0].data;
    r->w = params[0].data;
    r->b = has_bias ? params[1].data : NULL;
    return CNN_OK;
}

/* direct.c computes an output row over the padded width Wp; where that
 * wastes more than a quarter of its lanes and the pointwise tiles can
 * multiply the column matrix (AVX-512, a small filter bank), im2col
 * through those tiles is faster. LeNet's conv2 (10 of 14 columns), one
 * thread, Zen 4: 0.069 -> 0.064 ms at batch 8, 0.010 -> 0.008 ms at batch
 * 1 (with a params token filter lanes takes it first: 0.039 and 0.005);
 * its conv1 (28 of 32) stays with direct.c, 0.030 against 0.048 ms. */
static int direct_wastes(const conv_run *r)
{
    const conv_geom *g = &r->g;
    return conv_pw_band_applies(r) && 4 * g->ow < 3 * (g->w + g->pw + g->pr);
}

conv_algorithm conv_pick_ungrouped(const conv_run *r)
{
    if (conv_pw_applies(r))
        return CONV_ALG_POINTWISE;
    if (conv_direct_applies(r) && !direct_wastes(r))
        return CONV_ALG_DIRECT;
    if (conv_deep_applies(r))
        return CONV_ALG_DEEP;
    if (conv_wino_applies(r))
        return CONV_ALG_WINOGRAD;
    return CONV_ALG_GEMM;
}

cnn_status conv_forward_ungrouped(conv_run *r, const float *wino_filters,
                                  cnn_errbuf *err)
{
    switch (conv_pick_ungrouped(r)) {
    case CONV_ALG_POINTWISE:
        return conv_pw_forward(r, err);
    case CONV_ALG_DIRECT:
        return conv_direct_forward(r, err);
    case CONV_ALG_DEEP:
        return conv_deep_forward(r, err);
    case CONV_ALG_WINOGRAD:
        return conv_wino_forward_with(r, wino_filters, err);
    case CONV_ALG_GEMM:
        break;
    }
    return conv_gemm_forward(r, err);
}

/* Filters in another form than the layer's, kept between calls while the
 * host passes the same params_token and weight pointer (ABI 1.5: the
 * values behind a token never change). */
typedef struct conv_cached {
    uint64_t token;
    const float *source;
    float *data;
    size_t floats;
} conv_cached;

/* The layer's state: its filters repacked for filter_lanes.c and
 * pointwise.c, and transformed for Winograd. */
typedef struct conv_state {
    conv_cached lanes, pointwise, wino, wino6;
} conv_state;

static cnn_status conv_create(cnn_layer *layer, cnn_errbuf *err)
{
    layer->state = calloc(1, sizeof(conv_state));
    if (!layer->state)
        return cnn_layer_fail(err, CNN_ERR_NOMEM,
                              "conv layer '%s': out of memory", layer->name);
    return CNN_OK;
}

static void cached_drop(conv_cached *c)
{
    free(c->data);
    memset(c, 0, sizeof *c);
}

static void conv_destroy(cnn_layer *layer)
{
    conv_state *st = layer->state;
    if (st) {
        cached_drop(&st->lanes);
        cached_drop(&st->pointwise);
        cached_drop(&st->wino);
        cached_drop(&st->wino6);
    }
    free(st);
    layer->state = NULL;
}

/* c's filters for this call, made again by `make` (into `floats` floats)
 * if the token or the weights moved; NULL when they cannot be had (no
 * token, no memory): the caller then takes another algorithm. */
static const float *cached_filters(conv_cached *c, const cnn_forward_args *a,
                                   const conv_run *r, size_t floats,
                                   void (*make)(const conv_run *, float *))
{
    if (c->data && c->token == a->params_token && c->source == r->w &&
        c->floats == floats)
        return c->data;
    cached_drop(c);
    size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    c->data = aligned_alloc(64, bytes ? bytes : 64);
    if (!c->data)
        return NULL;
    make(r, c->data);
    c->token = a->params_token;
    c->source = r->w;
    c->floats = floats;
    return c->data;
}

/* Winograd on 6x6 tiles at inference (winograd6.c): a 3x3 layer that
 * would take F(2x2, 3x3) (not the direct or pointwise kernels), or a 5x5
 * one, where the tiles fit the plane. */
static int wino6_wanted(const conv_run *r)
{
    if (!conv_wino6_applies(r))
        return 0;
    return r->g.kh != 3 || conv_pick_ungrouped(r) == CONV_ALG_WINOGRAD;
}

static cnn_status conv_forward(const cnn_layer *layer,
                               const cnn_forward_args *a, cnn_errbuf *err)
{
    conv_state *state = layer->state;
    const float *filters;
    conv_run r;
    cnn_status st;

    st = conv_bind(layer, a->inputs, a->n_inputs, a->params, a->n_params,
                   &a->output->shape, a->env, &r, err);
    if (st != CNN_OK)
        return st;
    r.y = a->output->data;
    r.ep = a->epilogue;
    if (r.n == 0)
        return CNN_OK;
    if (state && !a->params_token) { /* training, or weights that may move */
        cached_drop(&state->lanes);
        cached_drop(&state->pointwise);
        cached_drop(&state->wino);
        cached_drop(&state->wino6);
    }
    if (conv_dwr_applies(&r))
        st = conv_dwr_forward(&r, err);
    else if (conv_dw_applies(&r))
        st = conv_dw_forward(&r, err);
    else if (conv_stem_applies(&r))
        st = conv_stem_forward(&r, err);
    else if (conv_pws_applies(&r))
        st = conv_pws_forward(&r, err);
    else if (state && a->params_token && wino6_wanted(&r) &&
             (filters = cached_filters(&state->wino6, a, &r,
                                       conv_wino6_filters_floats(&r),
                                       conv_wino6_filters)))
        st = conv_wino6_forward(&r, filters, err);
    else if (state && a->params_token && conv_pw_applies(&r) &&
             (filters = cached_filters(&state->pointwise, a, &r,
                                       conv_pw_packed_floats(&r),
                                       conv_pw_pack)))
        st = conv_pw_forward_with(&r, filters, err);
    else if (state && a->params_token && conv_fl_applies(&r) &&
             (filters = cached_filters(&state->lanes, a, &r,
                                       conv_fl_packed_floats(&r),
                                       conv_fl_pack)))
        st = conv_fl_forward(&r, filters, err);
    else if (conv_grouped_applies(&r))
        st = conv_grouped_forward(&r, err);
    else
        /* Kept Winograd filters save the transform: VGG-16's 28x28 layers
         * at batch 1, 27.6-28.0 -> 26.1 ms. */
        st = conv_forward_ungrouped(
            &r,
            state && a->params_token &&
                    conv_pick_ungrouped(&r) == CONV_ALG_WINOGRAD
                ? cached_filters(&state->wino, a, &r,
                                 conv_wino_filters_floats(&r),
                                 conv_wino_filters)
                : NULL,
            err);
    if (st == CNN_OK && r.ep && !r.epilogue_done)
        conv_epilogue_all(&r);
    return st;
}

static cnn_status conv_backward(const cnn_layer *layer,
                                const cnn_backward_args *a, cnn_errbuf *err)
{
    conv_run r;
    cnn_status st;

    st = conv_bind(layer, a->inputs, a->n_inputs, a->params, a->n_params,
                   &a->output_grad->shape, a->env, &r, err);
    if (st != CNN_OK)
        return st;
    r.dy = a->output_grad->data;
    if (a->input_grads && a->input_grads[0].data) {
        if (!cnn_shape_equal(&a->input_grads[0].shape, &a->inputs[0].shape))
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "conv layer '%s': input gradient shape "
                                  "differs from the input's",
                                  layer->name);
        r.dx = a->input_grads[0].data;
    }
    if (a->param_grads) {
        if (!cnn_shape_equal(&a->param_grads[0].shape, &a->params[0].shape) ||
            (r.b && !cnn_shape_equal(&a->param_grads[1].shape,
                                     &a->params[1].shape)))
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "conv layer '%s': parameter gradient shapes "
                                  "differ from the parameters'",
                                  layer->name);
        r.dw = a->param_grads[0].data;
        r.db = r.b ? a->param_grads[1].data : NULL;
    }

    int depthwise = r.n > 0 && conv_dw_applies(&r);
    if (r.db && !depthwise) /* the depthwise dw pass sums db itself */
        conv_bias_grad(&r);
    if (r.n == 0 && r.dw)
        memset(r.dw, 0, (size_t)r.k * (size_t)r.ckk * sizeof *r.dw);
    if (r.n == 0 || (!r.dw && !r.dx))
        return CNN_OK;
    if (depthwise)
        return conv_dw_backward(&r, err);
    /* Each product's algorithm follows from the geometry alone, so dx never
     * depends on whether dw is wanted (a frozen layer gives the same bits),
     * nor dw on whether dx is. */
    int dx_direct = conv_direct_dx_applies(&r);
    int dw_direct = conv_direct_dw_applies(&r);
    int wino = conv_wino_applies(&r);
    float *dw = r.dw;
    if (r.dx && (dx_direct || wino)) {
        /* The direct pass does dw too when dw also goes the direct way. */
        r.dw = dx_direct && dw_direct ? dw : NULL;
        st = dx_direct ? conv_direct_backward(&r, err)
                       : conv_wino_backward_dx(&r, err);
        if (st != CNN_OK || r.dw || !dw)
            return st;
        r.dx = NULL;
        r.dw = dw;
    }
    if (r.dw && (dw_direct || wino)) {
        if (r.dx) { /* dx the im2col way, on its own */
            r.dw = NULL;
            st = conv_gemm_backward(&r, err);
            if (st != CNN_OK)
                return st;
            r.dw = dw;
            r.dx = NULL;
        }
        return dw_direct ? conv_direct_backward(&r, err)
                         : conv_wino_backward_dw(&r, err);
    }
    return conv_gemm_backward(&r, err);
}

static const cnn_layer_descriptor conv_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "conv",
    .summary = "2-D convolution with groups, dilation and asymmetric or "
               "\"same\" padding (im2col + GEMM, direct, Winograd or "
               "depthwise kernels), PyTorch Conv2d layout",
    .hparams = conv_hparams,
    .n_hparams = sizeof conv_hparams / sizeof conv_hparams[0],
    .min_inputs = 1,
    .max_inputs = 1,
    /* backward needs the inputs, never the output (ABI 1.3) */
    .flags = CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT |
             CNN_LAYER_FLAG_ACCEPTS_EPILOGUE,
    .infer_shape = conv_infer_shape,
    .create = conv_create,
    .params = conv_params,
    .forward = conv_forward,
    .backward = conv_backward,
    .destroy = conv_destroy,
    .flops = conv_flops,
};

CNN_LAYER_PLUGIN(conv_descriptor)
