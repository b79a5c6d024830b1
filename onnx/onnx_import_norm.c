/* SPDX-License-Identifier: MIT */
/* What ConvNeXt exports, mapped onto cnnrun's NCHW layers.
 *
 * Channels last. torchvision's ConvNeXt permutes to [N, H, W, C] for its
 * layer norms and MLPs and back after them (Transpose perm [0, 2, 3, 1],
 * then [0, 3, 1, 2]). Such a value stays the producer's NCHW data, marked
 * channels_last with its NHWC shape; only ops that mean the same thing on
 * either layout may read it: elementwise activations, a layer
 * normalisation over the last axis (the channels), a MatMul by a [C, K]
 * constant (a 1x1 convolution), its bias Add, and the Transpose back.
 *
 * Layer normalisation, as PyTorch exports it before opset 17:
 *   m = ReduceMean(x, -1); d = x - m; v = ReduceMean(d ^ 2, -1);
 *   y = d / Sqrt(v + eps) (* weight + bias)
 * and GELU (before opset 20): y = x * (Erf(x / sqrt 2) + 1) * 0.5.
 * Each step is a value no layer computes (onnx_value.step); the last makes
 * one `layernorm` or `gelu` layer, and onnx_input refuses any other reader
 * of a step. A following Mul or Add by per-channel constants is folded
 * into the layer norm's weight and bias. LayerNormalization (opset 17)
 * maps directly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static onnx_value *value_at(onnx_importer *im, size_t i)
{
    return &im->values[i];
}

static size_t index_of(onnx_importer *im, const onnx_value *v)
{
    return (size_t)(v - im->values);
}

/* The normalised axis is the last and holds the channels: channels-last
 * [N, H, W, C], or [N, C]. */
static int channels_are_last(const onnx_value *x)
{
    return !x->is_const && !x->step &&
           ((x->channels_last && x->shape.rank == 4) ||
            (!x->channels_last && x->shape.rank == 2));
}

static int64_t channels_of(const onnx_value *x)
{
    return x->shape.dims[x->shape.rank - 1];
}

/* Binds output 0 to a step of a pattern that began at src. */
static cnn_status bind_step(onnx_importer *im, const Onnx__NodeProto *node,
                            size_t src, int step, float eps)
{
    onnx_value *s = value_at(im, src), *v;
    int32_t layer = s->layer;
    uint32_t names = layer >= 0 ? im->layers[layer].n_names : 0;
    cnn_status st = onnx_bind_alias(im, node, 0, s);
    if (st != CNN_OK)
        return st;
    if (!(v = onnx_value_find(im, node->output[0])))
        return onnx_node_fail(im, node, CNN_ERR_FORMAT, "output lost");
    /* Not a name of the producer's output: no layer computes a step. */
    if (layer >= 0)
        im->layers[layer].n_names = names;
    v->step = step;
    v->step_src = src;
    v->step_eps = eps;
    v->channels_last = 0;
    return CNN_OK;
}

static int scalar_is(const onnx_value *c, double want, double tol)
{
    return c->is_const && c->c.type == ONNX_C_FLOAT && c->c.numel == 1 &&
           fabs((double)c->c.f[0] - want) <= tol;
}

static cnn_status not_a_pattern(onnx_importer *im, const Onnx__NodeProto *node)
{
    return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                          "%s of computed values is supported only as a "
                          "step of a layer normalisation over the last axis "
                          "(ReduceMean, Sub, Pow 2, ReduceMean, Add eps, "
                          "Sqrt, Div) or of GELU (Div by sqrt(2), Erf, Add "
                          "1, Mul, Mul 0.5)",
                          node->op_type);
}

/* ---- Layouts ------------------------------------------------------------ */

cnn_shape onnx_layer_shape_of(const onnx_value *v)
{
    if (!v->channels_last)
        return v->shape;
    return cnn_shape_make(4, (const int64_t[]){v->shape.dims[0],
                                               v->shape.dims[3],
                                               v->shape.dims[1],
                                               v->shape.dims[2]});
}

static cnn_shape channels_last_shape(const cnn_shape *nchw)
{
    return cnn_shape_make(4, (const int64_t[]){nchw->dims[0], nchw->dims[2],
                                               nchw->dims[3], nchw->dims[1]});
}

/* Transpose perm [0, 2, 3, 1] of NCHW values, and [0, 3, 1, 2] back:
 * 1 when the node is one of those (and *st says how binding went). */
int onnx_norm_transpose(onnx_importer *im, const Onnx__NodeProto *node,
                        onnx_value *x, const int64_t *perm, size_t n,
                        cnn_status *st)
{
    static const int64_t to_last[4] = {0, 2, 3, 1}, to_first[4] = {0, 3, 1, 2};
    int entering, leaving;
    onnx_value *v;
    if (n != 4 || x->shape.rank != 4 || x->shuffle_stage || x->step)
        return 0;
    entering = !x->channels_last && memcmp(perm, to_last, sizeof to_last) == 0;
    leaving = x->channels_last && memcmp(perm, to_first, sizeof to_first) == 0;
    if (!entering && !leaving)
        return 0;
    size_t xi = index_of(im, x);
    if ((*st = onnx_bind_alias(im, node, 0, x)) != CNN_OK)
        return 1;
    if (!(v = onnx_value_find(im, node->output[0]))) {
        *st = onnx_node_fail(im, node, CNN_ERR_FORMAT, "output lost");
        return 1;
    }
    x = value_at(im, xi);
    v->channels_last = entering;
    v->shape = entering ? channels_last_shape(&x->shape)
                        : onnx_layer_shape_of(x);
    return 1;
}

/* ---- Layer normalisation ------------------------------------------------ */

/* ReduceMean over the last axis, keepdims: the mean of a layer
 * normalisation's input or of its squared deviations. 1 when taken. */
int onnx_norm_reduce_mean(onnx_importer *im, const Onnx__NodeProto *node,
                          onnx_value *x, const int64_t *axes, size_t n,
                          int64_t keepdims, cnn_status *st)
{
    int last = n == 1 && (axes[0] == -1 || axes[0] == x->shape.rank - 1);
    if (x->step == ONNX_STEP_LN_SQUARED) {
        if (!last || !keepdims) {
            *st = not_a_pattern(im, node);
            return 1;
        }
        *st = bind_step(im, node, x->step_src, ONNX_STEP_LN_VAR, 0.0f);
        return 1;
    }
    if (!channels_are_last(x) || !last || !keepdims)
        return 0;
    *st = bind_step(im, node, index_of(im, x), ONNX_STEP_LN_MEAN, 0.0f);
    return 1;
}

cnn_status onnx_import_sub(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *a = onnx_input(im, node, 0), *b = onnx_input(im, node, 1);
    if (!a || !b)
        return cnn_context_status(im->ctx);
    if (b->step == ONNX_STEP_LN_MEAN && value_at(im, b->step_src) == a)
        return bind_step(im, node, b->step_src, ONNX_STEP_LN_CENTERED, 0.0f);
    return not_a_pattern(im, node);
}

cnn_status onnx_import_pow(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *a = onnx_input(im, node, 0), *b = onnx_input(im, node, 1);
    if (!a || !b)
        return cnn_context_status(im->ctx);
    if (a->step == ONNX_STEP_LN_CENTERED && scalar_is(b, 2.0, 0.0))
        return bind_step(im, node, a->step_src, ONNX_STEP_LN_SQUARED, 0.0f);
    return not_a_pattern(im, node);
}

cnn_status onnx_import_sqrt(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *a = onnx_input(im, node, 0);
    if (!a)
        return cnn_context_status(im->ctx);
    if (a->step == ONNX_STEP_LN_VAR_EPS)
        return bind_step(im, node, a->step_src, ONNX_STEP_LN_STD, a->step_eps);
    return not_a_pattern(im, node);
}

/* A layernorm layer over x's channels, weight 1 and bias 0 until a Mul
 * and an Add fold theirs in (LayerNormalization: given). */
static cnn_status add_layernorm(onnx_importer *im, const Onnx__NodeProto *node,
                                onnx_value *x, float eps, const float *scale,
                                const float *bias)
{
    int64_t c = channels_of(x);
    cnn_shape shape = onnx_layer_shape_of(x);
    float *w, *b;
    onnx_layer *l;
    cnn_status st;
    if (!(eps > 0.0f) || !isfinite(eps))
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "epsilon %g is not a positive number",
                              (double)eps);
    l = onnx_layer_add(im, node, "layernorm", &x, 1, &shape, "%s", "");
    if (!l)
        return cnn_context_status(im->ctx);
    if (eps != 1e-5f)
        onnx_layer_hp(l, ", eps: %.9g", (double)eps);
    w = malloc((size_t)c * sizeof *w + 1);
    b = malloc((size_t)c * sizeof *b + 1);
    if (w && b)
        for (int64_t k = 0; k < c; k++) {
            w[k] = scale ? scale[k] : 1.0f;
            b[k] = bias ? bias[k] : 0.0f;
        }
    if ((st = onnx_layer_param(im, l, "weight", w, 1, &c)) != CNN_OK) {
        free(b);
        return st;
    }
    if ((st = onnx_layer_param(im, l, "bias", b, 1, &c)) != CNN_OK)
        return st;
    return onnx_bind_new_layer(im, node, x);
}

cnn_status onnx_import_div(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *a = onnx_input(im, node, 0), *b = onnx_input(im, node, 1);
    if (!a || !b)
        return cnn_context_status(im->ctx);
    if (a->step == ONNX_STEP_LN_CENTERED && b->step == ONNX_STEP_LN_STD &&
        a->step_src == b->step_src)
        return add_layernorm(im, node, value_at(im, a->step_src), b->step_eps,
                             NULL, NULL);
    if (!a->is_const && !a->step && scalar_is(b, sqrt(2.0), 1e-6))
        return bind_step(im, node, index_of(im, a), ONNX_STEP_GELU_SCALED,
                         0.0f);
    return not_a_pattern(im, node);
}

/* LayerNormalization (opset 17) over the last axis of [N, C] or of
 * channels-last values. */
cnn_status onnx_import_layernorm(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *x = onnx_input_dynamic(im, node, 0);
    onnx_const *scale, *bias = NULL;
    int64_t axis, stash;
    float eps;
    cnn_status st;
    if (!x || !(scale = onnx_input_const(im, node, 1, ONNX_C_FLOAT)))
        return cnn_context_status(im->ctx);
    if (onnx_has_input(node, 2) &&
        !(bias = onnx_input_const(im, node, 2, ONNX_C_FLOAT)))
        return cnn_context_status(im->ctx);
    if ((st = onnx_attr_int(im, node, "axis", -1, &axis)) != CNN_OK ||
        (st = onnx_attr_float(im, node, "epsilon", 1e-5f, &eps)) != CNN_OK ||
        (st = onnx_attr_int(im, node, "stash_type", 1, &stash)) != CNN_OK)
        return st;
    if (node->n_output > 1)
        for (size_t k = 1; k < node->n_output; k++)
            if (node->output[k] && node->output[k][0])
                return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                      "the mean and inverse deviation "
                                      "outputs are not supported");
    if (!channels_are_last(x) ||
        (axis != -1 && axis != x->shape.rank - 1))
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "only a normalisation over the channels is "
                              "supported: the last axis of [N, C] or of "
                              "[N, H, W, C] made by a Transpose perm "
                              "[0, 2, 3, 1]");
    if (scale->numel != (size_t)channels_of(x) ||
        (bias && bias->numel != (size_t)channels_of(x)))
        return onnx_node_fail(im, node, CNN_ERR_SHAPE,
                              "scale and bias must have %lld values",
                              (long long)channels_of(x));
    return add_layernorm(im, node, x, eps, scale->f, bias ? bias->f : NULL);
}

/* ---- GELU --------------------------------------------------------------- */

cnn_status onnx_import_erf(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *a = onnx_input(im, node, 0);
    if (!a)
        return cnn_context_status(im->ctx);
    if (a->step == ONNX_STEP_GELU_SCALED)
        return bind_step(im, node, a->step_src, ONNX_STEP_GELU_ERF, 0.0f);
    return not_a_pattern(im, node);
}

/* ---- Add and Mul: steps, and constants folded into the layer below ------ */

/* A per-channel constant: numel C, every axis but the channels' 1. */
static int per_channel(const onnx_const *c, int64_t channels,
                       int channel_axis_from_end)
{
    if (c->type != ONNX_C_FLOAT || c->numel != (size_t)channels)
        return 0;
    for (int32_t d = 0; d < c->rank; d++)
        if (d != c->rank - 1 - channel_axis_from_end && c->dims[d] != 1)
            return 0;
    return c->rank > channel_axis_from_end;
}

static float *layer_param(onnx_importer *im, const onnx_layer *l, size_t k)
{
    return k < l->n_params ? im->tensors[l->first_param + k].tensor.data : NULL;
}

/* Add of a computed value a and a constant b: 1 when taken. */
int onnx_norm_add(onnx_importer *im, const Onnx__NodeProto *node,
                  onnx_value *a, onnx_value *b, cnn_status *st)
{
    onnx_layer *l;
    if (b->step && !a->step) { /* the step first */
        onnx_value *t = a;
        a = b;
        b = t;
    }
    l = a->layer >= 0 ? &im->layers[a->layer] : NULL;
    if (a->step == ONNX_STEP_LN_VAR) {
        if (!b->is_const || b->c.type != ONNX_C_FLOAT || b->c.numel != 1)
            *st = not_a_pattern(im, node);
        else
            *st = bind_step(im, node, a->step_src, ONNX_STEP_LN_VAR_EPS,
                            b->c.f[0]);
        return 1;
    }
    if (a->step == ONNX_STEP_GELU_ERF) {
        if (!scalar_is(b, 1.0, 0.0))
            *st = not_a_pattern(im, node);
        else
            *st = bind_step(im, node, a->step_src, ONNX_STEP_GELU_ERF1, 0.0f);
        return 1;
    }
    /* A layer norm's bias, after it or after its weight's Mul. */
    if (l && strcmp(l->type, "layernorm") == 0 && l->n_params == 2 &&
        onnx_read_once(im, a) && b->is_const &&
        per_channel(&b->c, l->shape.dims[1],
                    a->shape.rank == 4 && !a->channels_last ? 2 : 0)) {
        float *bias = layer_param(im, l, 1);
        for (size_t k = 0; k < b->c.numel; k++)
            bias[k] += b->c.f[k];
        *st = onnx_bind_alias(im, node, 0, a);
        return 1;
    }
    if (a->step || b->step) { /* a step read other than as its next one */
        *st = not_a_pattern(im, node);
        return 1;
    }
    return 0;
}

/* Mul: GELU's steps, and a per-channel constant folded into the layer
 * norm, convolution or dense layer that computed the other operand
 * (ConvNeXt's layer scale). 1 when taken. */
int onnx_norm_mul(onnx_importer *im, const Onnx__NodeProto *node,
                  onnx_value *a, onnx_value *b, cnn_status *st)
{
    for (int k = 0; k < 2; k++) {
        onnx_value *x = k ? b : a, *s = k ? a : b;
        if (s->step == ONNX_STEP_GELU_ERF1 && value_at(im, s->step_src) == x) {
            *st = bind_step(im, node, s->step_src, ONNX_STEP_GELU_PRODUCT,
                            0.0f);
            return 1;
        }
        if (x->step == ONNX_STEP_GELU_PRODUCT) {
            onnx_value *src = value_at(im, x->step_src);
            cnn_shape shape = onnx_layer_shape_of(src);
            if (!scalar_is(s, 0.5, 0.0)) {
                *st = not_a_pattern(im, node);
                return 1;
            }
            if (!onnx_layer_add(im, node, "gelu", &src, 1, &shape, "%s", "")) {
                *st = cnn_context_status(im->ctx);
                return 1;
            }
            *st = onnx_bind_new_layer(im, node, src);
            return 1;
        }
    }
    if (a->step || b->step) { /* a step read other than as its next one */
        *st = not_a_pattern(im, node);
        return 1;
    }
    if (a->is_const) {
        onnx_value *t = a;
        a = b;
        b = t;
    }
    if (a->is_const || !b->is_const || a->layer < 0)
        return 0;
    onnx_layer *l = &im->layers[a->layer];
    /* [C] multiplies the channels of channels-last and [N, C] values,
     * [C, 1, 1] those of NCHW ones. */
    int from_end = a->shape.rank == 4 && !a->channels_last ? 2 : 0;
    int64_t channels = l->shape.dims[1];
    float *w, *bias;
    size_t per_filter;
    if (!onnx_read_once(im, a) || !per_channel(&b->c, channels, from_end))
        return 0;
    if (strcmp(l->type, "layernorm") == 0 && l->n_params == 2) {
        w = layer_param(im, l, 0);
        bias = layer_param(im, l, 1);
        per_filter = 1;
    } else if ((strcmp(l->type, "conv") == 0 ||
                strcmp(l->type, "dense") == 0) &&
               l->n_params >= 1) {
        const cnn_tensor *t = &im->tensors[l->first_param].tensor;
        w = t->data;
        bias = layer_param(im, l, 1);
        per_filter = cnn_shape_numel(&t->shape) / (size_t)channels;
    } else {
        return 0;
    }
    for (int64_t c = 0; c < channels; c++) {
        float f = b->c.f[c];
        for (size_t i = 0; i < per_filter; i++)
            w[(size_t)c * per_filter + i] *= f;
        if (bias)
            bias[c] *= f;
    }
    *st = onnx_bind_alias(im, node, 0, a);
    return 1;
}

/* ---- MatMul over channels ----------------------------------------------- */

/* Channels-last [N, H, W, C] times a [C, K] constant: a 1x1 convolution
 * with K filters (an Add after it may give it a bias). 1 when taken. */
int onnx_norm_matmul(onnx_importer *im, const Onnx__NodeProto *node,
                     onnx_value *x, const onnx_const *b, cnn_status *st)
{
    int64_t c, k;
    cnn_shape shape;
    onnx_layer *l;
    float *w;
    if (!x->channels_last)
        return 0;
    c = channels_of(x);
    if (b->rank != 2 || b->dims[0] != c) {
        *st = onnx_node_fail(im, node, CNN_ERR_SHAPE,
                             "the constant operand must be [%lld, K]",
                             (long long)c);
        return 1;
    }
    k = b->dims[1];
    shape = onnx_layer_shape_of(x);
    shape.dims[1] = k;
    l = onnx_layer_add(im, node, "conv", &x, 1, &shape,
                       ", filters: %lld, kernel: 1", (long long)k);
    if (!l) {
        *st = cnn_context_status(im->ctx);
        return 1;
    }
    w = malloc((size_t)(k * c) * sizeof *w + 1);
    if (w)
        for (int64_t o = 0; o < k; o++)
            for (int64_t i = 0; i < c; i++)
                w[o * c + i] = b->f[i * k + o];
    if ((*st = onnx_layer_param(im, l, "weight", w, 4,
                                (const int64_t[]){k, c, 1, 1})) != CNN_OK)
        return 1;
    l->dense_without_bias = 1; /* the bias Add after it */
    l->units = k;
    *st = onnx_bind_new_layer(im, node, x);
    return 1;
}
