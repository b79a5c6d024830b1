/* SPDX-License-Identifier: MIT */
/* gelu and layernorm layers as ONNX nodes: GELU written out in the
 * elementwise ops PyTorch exports before opset 20 names it, layernorm as
 * LayerNormalization from opset 17 and written out before, so that cnnrun
 * import (onnx_import_norm.c) and ONNX Runtime read them back. A
 * layernorm over the channels of [N, C, H, W] is taken channels-last and
 * back, as ConvNeXt does. */
#include <math.h>
#include <string.h>

#include "onnx_internal.h"

/* 0.5 x (1 + erf(x / sqrt 2)) */
cnn_status onnx_export_gelu(onnx_exporter *ex, const cnn_layer_info *info)
{
    const cnn_hparam_value *approx = onnx_x_hp(info, "approximate");
    const char *x = onnx_x_input(ex, info, 0), *in[2];
    const char *scaled = onnx_x_name(ex, info, "scaled");
    const char *erf = onnx_x_name(ex, info, "erf");
    const char *erf1 = onnx_x_name(ex, info, "erf1");
    const char *product = onnx_x_name(ex, info, "product");
    if (approx && approx->i[0] != 0) /* ENUM index 0: "none" */
        return onnx_x_fail(ex, info, "GELU's tanh approximation has no ONNX "
                                     "export here (only the exact form)");
    in[0] = x;
    in[1] = onnx_x_scalar(ex, info, "sqrt2", (float)sqrt(2.0));
    onnx_w_node(ex, "Div", scaled, in, 2, scaled);
    in[0] = scaled;
    onnx_w_node(ex, "Erf", erf, in, 1, erf);
    in[0] = erf;
    in[1] = onnx_x_scalar(ex, info, "one", 1.0f);
    onnx_w_node(ex, "Add", erf1, in, 2, erf1);
    in[0] = x;
    in[1] = erf1;
    onnx_w_node(ex, "Mul", product, in, 2, product);
    in[0] = product;
    in[1] = onnx_x_scalar(ex, info, "half", 0.5f);
    onnx_w_node(ex, "Mul", info->name, in, 2, onnx_x_output(ex, info));
    return CNN_OK;
}

/* Node op(a[, b]) named "<layer>_<suffix>"; its output's name. */
static const char *step(onnx_exporter *ex, const cnn_layer_info *info,
                        const char *op, const char *suffix, const char *a,
                        const char *b)
{
    const char *out = onnx_x_name(ex, info, suffix);
    const char *in[2] = {a, b};
    onnx_w_node(ex, op, out, in, b ? 2 : 1, out);
    return out;
}

static const char *mean_last(onnx_exporter *ex, const cnn_layer_info *info,
                             const char *suffix, const char *x)
{
    int64_t last = -1; /* opset < 17 here: axes an attribute */
    const char *out = onnx_x_name(ex, info, suffix);
    Onnx__NodeProto *n = onnx_w_node(ex, "ReduceMean", out, &x, 1, out);
    onnx_w_attr_ints(ex, n, "axes", &last, 1);
    return out;
}

/* What one layernorm layer needs to write its normalisation. */
typedef struct ln_export {
    const float *weight, *bias; /* [c]; 1 and 0 for affine: false */
    int64_t c;
    float eps;
    const char *out; /* the name its last node writes */
} ln_export;

/* LayerNormalization over the last axis (opset 17), named as the layer. */
static void ln_node(onnx_exporter *ex, const cnn_layer_info *info,
                    const char *x, const ln_export *l)
{
    const char *in[3] = {x, onnx_x_name(ex, info, "weight"),
                         onnx_x_name(ex, info, "bias")};
    Onnx__NodeProto *n;
    onnx_w_init_float(ex, in[1], l->weight, 1, &l->c);
    onnx_w_init_float(ex, in[2], l->bias, 1, &l->c);
    n = onnx_w_node(ex, "LayerNormalization", info->name, in, 3, l->out);
    onnx_w_attr_int(ex, n, "axis", -1);
    onnx_w_attr_float(ex, n, "epsilon", l->eps);
}

/* The same in the ops PyTorch writes before opset 17; the Div, which
 * makes the layer on import, carries the layer's name. */
static void ln_written_out(onnx_exporter *ex, const cnn_layer_info *info,
                           const char *x, const ln_export *l)
{
    const char *d, *v, *in[2];
    const char *normed = onnx_x_name(ex, info, "normed");
    const char *wn = onnx_x_name(ex, info, "weight");
    const char *bn = onnx_x_name(ex, info, "bias");
    d = step(ex, info, "Sub", "centered", x, mean_last(ex, info, "mean", x));
    v = step(ex, info, "Pow", "squared", d,
             onnx_x_scalar(ex, info, "two", 2.0f));
    v = step(ex, info, "Add", "var_eps", mean_last(ex, info, "var", v),
             onnx_x_scalar(ex, info, "eps", l->eps));
    in[0] = d;
    in[1] = step(ex, info, "Sqrt", "std", v, NULL);
    onnx_w_node(ex, "Div", info->name, in, 2, normed);
    onnx_w_init_float(ex, wn, l->weight, 1, &l->c);
    onnx_w_init_float(ex, bn, l->bias, 1, &l->c);
    in[0] = step(ex, info, "Mul", "scaled", normed, wn);
    in[1] = bn;
    onnx_w_node(ex, "Add", onnx_x_name(ex, info, "shifted"), in, 2, l->out);
}

cnn_status onnx_export_layernorm(onnx_exporter *ex, const cnn_layer_info *info)
{
    static const int64_t to_last[4] = {0, 2, 3, 1}, to_first[4] = {0, 3, 1, 2};
    cnn_shape s = onnx_x_input_shape(ex, info, 0);
    const cnn_hparam_value *affine = onnx_x_hp(info, "affine");
    const cnn_hparam_value *eps = onnx_x_hp(info, "eps");
    const char *x = onnx_x_input(ex, info, 0);
    ln_export l = {NULL, NULL, s.rank >= 2 ? s.dims[1] : 0,
                   (float)(eps ? eps->f : 1e-5), NULL};
    Onnx__NodeProto *n;
    if (s.rank != 2 && s.rank != 4)
        return onnx_x_fail(ex, info, "only [N, C] and [N, C, H, W] inputs "
                                     "are exported");
    if (!affine || affine->i[0]) {
        const cnn_tensor *w = onnx_x_param(ex, info, "weight");
        const cnn_tensor *b = onnx_x_param(ex, info, "bias");
        if (!w || !b)
            return onnx_x_fail(ex, info, "no weight or bias parameter");
        l.weight = w->data;
        l.bias = b->data;
    } else { /* ONNX has no affine-free form: weight 1, bias 0 */
        float *ones = onnx_w_alloc(ex, (size_t)l.c * sizeof *ones + 1);
        float *zeros = onnx_w_alloc(ex, (size_t)l.c * sizeof *zeros + 1);
        if (!ones || !zeros)
            return onnx_x_fail(ex, info, "out of memory");
        for (int64_t k = 0; k < l.c; k++) {
            ones[k] = 1.0f;
            zeros[k] = 0.0f;
        }
        l.weight = ones;
        l.bias = zeros;
    }
    if (s.rank == 4) {
        const char *t = onnx_x_name(ex, info, "to_last");
        n = onnx_w_node(ex, "Transpose", t, &x, 1, t);
        onnx_w_attr_ints(ex, n, "perm", to_last, 4);
        x = t;
    }
    l.out = s.rank == 4 ? onnx_x_name(ex, info, "channels_last")
                        : onnx_x_output(ex, info);
    if (ex->opset >= 17)
        ln_node(ex, info, x, &l);
    else
        ln_written_out(ex, info, x, &l);
    if (s.rank == 4) {
        n = onnx_w_node(ex, "Transpose", onnx_x_name(ex, info, "to_first"),
                        &l.out, 1, onnx_x_output(ex, info));
        onnx_w_attr_ints(ex, n, "perm", to_first, 4);
    }
    return CNN_OK;
}
