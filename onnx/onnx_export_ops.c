/* SPDX-License-Identifier: MIT */
/* Export handlers, one per built-in layer type: the layer's validated
 * hyperparameters and parameters become ONNX nodes and initializers. A
 * hyperparameter a plugin version lacks reads as its default, so the same
 * code exports graphs from before and after ABI 1.2's new keys. */
#include <stdio.h>
#include <string.h>

#include "onnx_internal.h"

/* ---- Reading hyperparameters with defaults ------------------------------ */

static int64_t hp_int(const cnn_layer_info *info, const char *name,
                      int64_t dflt)
{
    const cnn_hparam_value *v = onnx_x_hp(info, name);
    return v ? v->i[0] : dflt;
}

static void hp_int2(const cnn_layer_info *info, const char *name,
                    int64_t dflt, int64_t out[2])
{
    const cnn_hparam_value *v = onnx_x_hp(info, name);
    out[0] = v ? v->i[0] : dflt;
    out[1] = v ? v->i[1] : dflt;
}

static float hp_float(const cnn_layer_info *info, const char *name,
                      double dflt)
{
    const cnn_hparam_value *v = onnx_x_hp(info, name);
    return (float)(v ? v->f : dflt);
}

static const cnn_hparam_spec *hp_spec(const cnn_layer_info *info,
                                      const char *name)
{
    const cnn_layer_descriptor *d = info->descriptor;
    for (uint32_t k = 0; k < d->n_hparams; k++)
        if (strcmp(d->hparams[k].name, name) == 0)
            return &d->hparams[k];
    return NULL;
}

/* ONNX pads [top, left, bottom, right] for the layer's input, "same"
 * resolved for the input's fixed size. */
static void pads_for(onnx_exporter *ex, const cnn_layer_info *info,
                     const int64_t k[2], const int64_t stride[2],
                     const int64_t dilation[2], int64_t pads[4])
{
    const cnn_hparam_spec *spec = hp_spec(info, "padding");
    const cnn_hparam_value *v = onnx_x_hp(info, "padding");
    cnn_padding p;
    memset(&p, 0, sizeof p);
    if (spec && v && spec->kind == CNN_HP_PADDING) {
        cnn_shape in = onnx_x_input_shape(ex, info, 0);
        p = cnn_hparam_padding(v);
        cnn_padding_resolve(&p, in.dims[2], in.dims[3],
                            dilation[0] * (k[0] - 1) + 1,
                            dilation[1] * (k[1] - 1) + 1, stride[0],
                            stride[1]);
    } else if (v) {
        p.top = p.bottom = v->i[0];
        p.left = p.right = v->i[1];
    }
    pads[0] = p.top;
    pads[1] = p.left;
    pads[2] = p.bottom;
    pads[3] = p.right;
}

static Onnx__NodeProto *unary_node(onnx_exporter *ex,
                                   const cnn_layer_info *info,
                                   const char *op_type)
{
    const char *in = onnx_x_input(ex, info, 0);
    return onnx_w_node(ex, op_type, info->name, &in, 1,
                       onnx_x_output(ex, info));
}

/* A parameter's values under the name "<layer>.<pname>", reshaped. */
static const char *param_init(onnx_exporter *ex, const cnn_layer_info *info,
                              const char *pname, int32_t rank,
                              const int64_t *dims)
{
    const cnn_tensor *t = onnx_x_param(ex, info, pname);
    char name[256];
    const char *n;
    if (!t)
        return NULL;
    snprintf(name, sizeof name, "%s.%s", info->name, pname);
    n = onnx_w_strdup(ex, name);
    if (rank)
        onnx_w_init_float(ex, n, t->data, rank, dims);
    else
        onnx_w_init_float(ex, n, t->data, t->shape.rank, t->shape.dims);
    return n;
}

const char *onnx_x_scalar(onnx_exporter *ex, const cnn_layer_info *info,
                          const char *suffix, float value)
{
    const char *n = onnx_x_name(ex, info, suffix);
    float *v = onnx_w_alloc(ex, sizeof *v);
    if (!v)
        return n;
    *v = value;
    onnx_w_init_float(ex, n, v, 0, NULL);
    return n;
}

/* ---- Windows ------------------------------------------------------------- */

cnn_status onnx_export_conv(onnx_exporter *ex, const cnn_layer_info *info)
{
    int64_t k[2], stride[2], dilation[2], pads[4];
    const char *in[3];
    const cnn_tensor *w = onnx_x_param(ex, info, "weight");
    int has_bias = onnx_x_param(ex, info, "bias") != NULL;
    Onnx__NodeProto *n;
    hp_int2(info, "kernel", 1, k);
    hp_int2(info, "stride", 1, stride);
    hp_int2(info, "dilation", 1, dilation);
    pads_for(ex, info, k, stride, dilation, pads);
    if (!w)
        return onnx_x_fail(ex, info, "no weight parameter");
    in[0] = onnx_x_input(ex, info, 0);
    in[1] = param_init(ex, info, "weight", 0, NULL);
    in[2] = has_bias ? param_init(ex, info, "bias", 0, NULL) : NULL;
    n = onnx_w_node(ex, "Conv", info->name, in, has_bias ? 3 : 2,
                    onnx_x_output(ex, info));
    onnx_w_attr_ints(ex, n, "kernel_shape", k, 2);
    onnx_w_attr_ints(ex, n, "strides", stride, 2);
    onnx_w_attr_ints(ex, n, "pads", pads, 4);
    onnx_w_attr_ints(ex, n, "dilations", dilation, 2);
    onnx_w_attr_int(ex, n, "group", hp_int(info, "groups", 1));
    return CNN_OK;
}

static cnn_status export_pool(onnx_exporter *ex, const cnn_layer_info *info,
                              int is_max)
{
    int64_t k[2], stride[2], dilation[2] = {1, 1}, pads[4];
    int64_t ceil_mode = hp_int(info, "ceil_mode", 0);
    Onnx__NodeProto *n;
    hp_int2(info, "size", 1, k);
    hp_int2(info, "stride", 0, stride);
    if (is_max)
        hp_int2(info, "dilation", 1, dilation);
    for (int a = 0; a < 2; a++)
        if (stride[a] == 0)
            stride[a] = k[a];
    pads_for(ex, info, k, stride, dilation, pads);
    if (ex->opset < 10 && (ceil_mode || dilation[0] != 1 || dilation[1] != 1))
        return onnx_x_fail(ex, info, "ceil_mode and dilation need opset 10 "
                                     "or later");
    n = unary_node(ex, info, is_max ? "MaxPool" : "AveragePool");
    onnx_w_attr_ints(ex, n, "kernel_shape", k, 2);
    onnx_w_attr_ints(ex, n, "strides", stride, 2);
    onnx_w_attr_ints(ex, n, "pads", pads, 4);
    if (ceil_mode)
        onnx_w_attr_int(ex, n, "ceil_mode", 1);
    if (is_max && (dilation[0] != 1 || dilation[1] != 1))
        onnx_w_attr_ints(ex, n, "dilations", dilation, 2);
    if (!is_max)
        onnx_w_attr_int(ex, n, "count_include_pad",
                        hp_int(info, "count_include_pad", 1));
    return CNN_OK;
}

cnn_status onnx_export_maxpool(onnx_exporter *ex, const cnn_layer_info *info)
{
    return export_pool(ex, info, 1);
}

cnn_status onnx_export_avgpool(onnx_exporter *ex, const cnn_layer_info *info)
{
    return export_pool(ex, info, 0);
}

cnn_status onnx_export_global_pool(onnx_exporter *ex,
                                   const cnn_layer_info *info)
{
    unary_node(ex, info, onnx_op_for_export(info->type)->onnx_op);
    return CNN_OK;
}

/* ---- Dense and normalisation --------------------------------------------- */

cnn_status onnx_export_dense(onnx_exporter *ex, const cnn_layer_info *info)
{
    cnn_shape s = onnx_x_input_shape(ex, info, 0);
    const char *in[3];
    const cnn_tensor *b = onnx_x_param(ex, info, "bias");
    Onnx__NodeProto *n;
    in[0] = onnx_x_input(ex, info, 0);
    /* The dense plugin flattens what follows the batch itself. */
    if (s.rank != 2) {
        const char *flat = onnx_x_name(ex, info, "flatten");
        Onnx__NodeProto *f = onnx_w_node(ex, "Flatten", flat, in, 1, flat);
        onnx_w_attr_int(ex, f, "axis", 1);
        in[0] = flat;
    }
    in[1] = param_init(ex, info, "weight", 0, NULL);
    if (!in[1])
        return onnx_x_fail(ex, info, "no weight parameter");
    if (b) {
        in[2] = param_init(ex, info, "bias", 0, NULL);
    } else if (ex->opset < 11) {
        /* C is optional only from opset 11. */
        int64_t units = info->output_shape.dims[1];
        float *zeros = onnx_w_alloc(ex, (size_t)units * sizeof *zeros + 1);
        in[2] = onnx_x_name(ex, info, "zero_bias");
        if (zeros)
            onnx_w_init_float(ex, in[2], zeros, 1, &units);
    }
    n = onnx_w_node(ex, "Gemm", info->name, in,
                    b || ex->opset < 11 ? 3 : 2, onnx_x_output(ex, info));
    onnx_w_attr_int(ex, n, "transB", 1);
    return CNN_OK;
}

cnn_status onnx_export_batchnorm(onnx_exporter *ex, const cnn_layer_info *info)
{
    static const char *const names[] = {"weight", "bias", "running_mean",
                                        "running_var"};
    const char *in[5];
    Onnx__NodeProto *n;
    in[0] = onnx_x_input(ex, info, 0);
    for (int i = 0; i < 4; i++)
        if (!(in[i + 1] = param_init(ex, info, names[i], 0, NULL)))
            return onnx_x_fail(ex, info, "no %s parameter", names[i]);
    n = onnx_w_node(ex, "BatchNormalization", info->name, in, 5,
                    onnx_x_output(ex, info));
    onnx_w_attr_float(ex, n, "epsilon", hp_float(info, "eps", 1e-5));
    onnx_w_attr_float(ex, n, "momentum",
                      1.0f - hp_float(info, "momentum", 0.1));
    return CNN_OK;
}

cnn_status onnx_export_lrn(onnx_exporter *ex, const cnn_layer_info *info)
{
    int64_t size = hp_int(info, "size", 5);
    Onnx__NodeProto *n;
    if (size % 2 == 0)
        return onnx_x_fail(ex, info, "even size %lld: ONNX centres the "
                                     "window differently",
                           (long long)size);
    n = unary_node(ex, info, "LRN");
    onnx_w_attr_int(ex, n, "size", size);
    onnx_w_attr_float(ex, n, "alpha", hp_float(info, "alpha", 1e-4));
    onnx_w_attr_float(ex, n, "beta", hp_float(info, "beta", 0.75));
    onnx_w_attr_float(ex, n, "bias", hp_float(info, "k", 1.0));
    return CNN_OK;
}

/* ---- Activations ----------------------------------------------------------- */

cnn_status onnx_export_activation(onnx_exporter *ex,
                                  const cnn_layer_info *info)
{
    unary_node(ex, info, onnx_op_for_export(info->type)->onnx_op);
    return CNN_OK;
}

cnn_status onnx_export_leakyrelu(onnx_exporter *ex, const cnn_layer_info *info)
{
    Onnx__NodeProto *n = unary_node(ex, info, "LeakyRelu");
    onnx_w_attr_float(ex, n, "alpha", hp_float(info, "negative_slope", 0.01));
    return CNN_OK;
}

cnn_status onnx_export_elu(onnx_exporter *ex, const cnn_layer_info *info)
{
    Onnx__NodeProto *n = unary_node(ex, info, "Elu");
    onnx_w_attr_float(ex, n, "alpha", hp_float(info, "alpha", 1.0));
    return CNN_OK;
}

cnn_status onnx_export_hardsigmoid(onnx_exporter *ex,
                                   const cnn_layer_info *info)
{
    Onnx__NodeProto *n = unary_node(ex, info, "HardSigmoid");
    onnx_w_attr_float(ex, n, "alpha",
                      hp_float(info, "alpha", 0.16666666666666666));
    onnx_w_attr_float(ex, n, "beta", hp_float(info, "beta", 0.5));
    return CNN_OK;
}

cnn_status onnx_export_hardswish(onnx_exporter *ex, const cnn_layer_info *info)
{
    const char *in[2];
    Onnx__NodeProto *n;
    if (ex->opset >= 14) {
        unary_node(ex, info, "HardSwish");
        return CNN_OK;
    }
    /* Before opset 14: x * hardsigmoid(x) with PyTorch's 1/6 and 1/2. */
    in[0] = onnx_x_input(ex, info, 0);
    in[1] = onnx_x_name(ex, info, "gate");
    n = onnx_w_node(ex, "HardSigmoid", in[1], in, 1, in[1]);
    onnx_w_attr_float(ex, n, "alpha", 1.0f / 6.0f);
    onnx_w_attr_float(ex, n, "beta", 0.5f);
    onnx_w_node(ex, "Mul", info->name, in, 2, onnx_x_output(ex, info));
    return CNN_OK;
}

/* No SiLU op in the opsets cnnrun writes (to 18): x * Sigmoid(x), the two
 * nodes the importer fuses back into one silu layer. */
cnn_status onnx_export_silu(onnx_exporter *ex, const cnn_layer_info *info)
{
    const char *in[2];
    in[0] = onnx_x_input(ex, info, 0);
    in[1] = onnx_x_name(ex, info, "gate");
    onnx_w_node(ex, "Sigmoid", in[1], in, 1, in[1]);
    onnx_w_node(ex, "Mul", info->name, in, 2, onnx_x_output(ex, info));
    return CNN_OK;
}

cnn_status onnx_export_prelu(onnx_exporter *ex, const cnn_layer_info *info)
{
    const cnn_tensor *w = onnx_x_param(ex, info, "weight");
    cnn_shape s = onnx_x_input_shape(ex, info, 0);
    int64_t dims[3] = {0, 1, 1};
    const char *in[2];
    if (!w)
        return onnx_x_fail(ex, info, "no weight parameter");
    /* ONNX broadcasts the slope from the right: [C, 1, 1] for images. */
    dims[0] = w->shape.dims[0];
    in[0] = onnx_x_input(ex, info, 0);
    in[1] = param_init(ex, info, "weight", w->shape.dims[0] == 1 ? 1
                                           : s.rank == 4 ? 3 : 1, dims);
    onnx_w_node(ex, "PRelu", info->name, in, 2, onnx_x_output(ex, info));
    return CNN_OK;
}

static void clip_node(onnx_exporter *ex, const cnn_layer_info *info,
                      float lo, float hi)
{
    if (ex->opset < 11) {
        Onnx__NodeProto *n = unary_node(ex, info, "Clip");
        onnx_w_attr_float(ex, n, "min", lo);
        onnx_w_attr_float(ex, n, "max", hi);
    } else {
        const char *in[3];
        in[0] = onnx_x_input(ex, info, 0);
        in[1] = onnx_x_scalar(ex, info, "min", lo);
        in[2] = onnx_x_scalar(ex, info, "max", hi);
        onnx_w_node(ex, "Clip", info->name, in, 3, onnx_x_output(ex, info));
    }
}

cnn_status onnx_export_clip(onnx_exporter *ex, const cnn_layer_info *info)
{
    clip_node(ex, info, hp_float(info, "min", -3.4028234663852886e38),
              hp_float(info, "max", 3.4028234663852886e38));
    return CNN_OK;
}

cnn_status onnx_export_relu6(onnx_exporter *ex, const cnn_layer_info *info)
{
    clip_node(ex, info, 0.0f, 6.0f);
    return CNN_OK;
}

cnn_status onnx_export_softmax(onnx_exporter *ex, const cnn_layer_info *info)
{
    cnn_shape s = onnx_x_input_shape(ex, info, 0);
    int64_t axis = hp_int(info, "axis", 1);
    Onnx__NodeProto *n;
    if (axis < 0)
        axis += s.rank;
    if (ex->opset < 13)
        for (int32_t d = (int32_t)axis + 1; d < s.rank; d++)
            if (s.dims[d] != 1)
                return onnx_x_fail(ex, info,
                                   "before opset 13 ONNX normalises every "
                                   "axis from %lld on; export with --opset "
                                   "13 or later", (long long)axis);
    n = unary_node(ex, info, onnx_op_for_export(info->type)->onnx_op);
    onnx_w_attr_int(ex, n, "axis", axis);
    return CNN_OK;
}

/* ---- Shapes and joins ------------------------------------------------------ */

/* Channels [start, end): Slice on axis 1, its bounds inputs from opset 10,
 * attributes before. */
cnn_status onnx_export_slice(onnx_exporter *ex, const cnn_layer_info *info)
{
    int64_t start = hp_int(info, "start", 0), end = hp_int(info, "end", 0);
    int64_t axis = 1, one = 1;
    const char *in[4];
    in[0] = onnx_x_input(ex, info, 0);
    if (ex->opset < 10) {
        Onnx__NodeProto *n = unary_node(ex, info, "Slice");
        onnx_w_attr_ints(ex, n, "starts", &start, 1);
        onnx_w_attr_ints(ex, n, "ends", &end, 1);
        onnx_w_attr_ints(ex, n, "axes", &axis, 1);
        return CNN_OK;
    }
    in[1] = onnx_x_name(ex, info, "starts");
    in[2] = onnx_x_name(ex, info, "ends");
    in[3] = onnx_x_name(ex, info, "axes");
    onnx_w_init_int64(ex, in[1], &start, 1, &one);
    onnx_w_init_int64(ex, in[2], &end, 1, &one);
    onnx_w_init_int64(ex, in[3], &axis, 1, &one);
    onnx_w_node(ex, "Slice", info->name, in, 4, onnx_x_output(ex, info));
    return CNN_OK;
}

/* ONNX has no shuffle op: [N, g, C/g, rest], swap axes 1 and 2, back to
 * [N, C, rest], as PyTorch exports nn.ChannelShuffle; cnnrun's import
 * reads the three nodes back as one layer. */
cnn_status onnx_export_channel_shuffle(onnx_exporter *ex,
                                       const cnn_layer_info *info)
{
    cnn_shape s = onnx_x_input_shape(ex, info, 0);
    int64_t g = hp_int(info, "groups", 1);
    int64_t split[CNN_MAX_RANK + 1], back[CNN_MAX_RANK], perm[CNN_MAX_RANK + 1];
    int64_t n_split = s.rank + 1, n_back = s.rank;
    const char *in[2], *grouped, *swapped;
    if (s.rank < 2 || s.rank >= CNN_MAX_RANK || g < 1 || s.dims[1] % g)
        return onnx_x_fail(ex, info, "input shape and groups do not make a "
                                     "channel shuffle");
    if (g == 1) { /* moves nothing */
        unary_node(ex, info, "Identity");
        return CNN_OK;
    }
    split[0] = back[0] = 0; /* 0 copies the batch */
    split[1] = g;
    split[2] = s.dims[1] / g;
    back[1] = s.dims[1];
    for (int32_t d = 2; d < s.rank; d++)
        split[d + 1] = back[d] = s.dims[d];
    for (int64_t d = 0; d < n_split; d++)
        perm[d] = d == 1 ? 2 : d == 2 ? 1 : d;
    grouped = onnx_x_name(ex, info, "grouped");
    swapped = onnx_x_name(ex, info, "swapped");
    in[0] = onnx_x_input(ex, info, 0);
    in[1] = onnx_x_name(ex, info, "split_shape");
    onnx_w_init_int64(ex, in[1], split, 1, &n_split);
    onnx_w_node(ex, "Reshape", grouped, in, 2, grouped);
    in[0] = grouped;
    Onnx__NodeProto *t = onnx_w_node(ex, "Transpose", swapped, in, 1, swapped);
    onnx_w_attr_ints(ex, t, "perm", perm, (size_t)n_split);
    in[0] = swapped;
    in[1] = onnx_x_name(ex, info, "shape");
    onnx_w_init_int64(ex, in[1], back, 1, &n_back);
    onnx_w_node(ex, "Reshape", info->name, in, 2, onnx_x_output(ex, info));
    return CNN_OK;
}

cnn_status onnx_export_flatten(onnx_exporter *ex, const cnn_layer_info *info)
{
    cnn_shape s = onnx_x_input_shape(ex, info, 0);
    int64_t start = hp_int(info, "start_dim", 1), end = hp_int(info, "end_dim", -1);
    int64_t shape[CNN_MAX_RANK];
    int32_t o = 0;
    const char *in[2];
    if (start < 0)
        start += s.rank;
    if (end < 0)
        end += s.rank;
    if (start == 1 && end == s.rank - 1) {
        Onnx__NodeProto *n = unary_node(ex, info, "Flatten");
        onnx_w_attr_int(ex, n, "axis", 1);
        return CNN_OK;
    }
    /* 0 keeps an axis (the batch), -1 is the merged run. */
    for (int32_t d = 0; d < start; d++)
        shape[o++] = 0;
    shape[o++] = -1;
    for (int32_t d = (int32_t)end + 1; d < s.rank; d++)
        shape[o++] = s.dims[d];
    in[0] = onnx_x_input(ex, info, 0);
    in[1] = onnx_x_name(ex, info, "shape");
    {
        int64_t n = o;
        onnx_w_init_int64(ex, in[1], shape, 1, &n);
    }
    onnx_w_node(ex, "Reshape", info->name, in, 2, onnx_x_output(ex, info));
    return CNN_OK;
}

cnn_status onnx_export_identity(onnx_exporter *ex, const cnn_layer_info *info)
{
    unary_node(ex, info, "Identity");
    return CNN_OK;
}

static void join_node(onnx_exporter *ex, const cnn_layer_info *info,
                      const char *op2, const char *opn, int64_t axis)
{
    const char *in[64];
    uint32_t n = info->n_inputs < 64 ? info->n_inputs : 64;
    Onnx__NodeProto *node;
    for (uint32_t i = 0; i < n; i++)
        in[i] = onnx_x_input(ex, info, i);
    node = onnx_w_node(ex, n == 2 ? op2 : opn, info->name, in, n,
                       onnx_x_output(ex, info));
    if (axis >= 0)
        onnx_w_attr_int(ex, node, "axis", axis);
}

cnn_status onnx_export_add(onnx_exporter *ex, const cnn_layer_info *info)
{
    join_node(ex, info, "Add", "Sum", -1);
    return CNN_OK;
}

cnn_status onnx_export_mul(onnx_exporter *ex, const cnn_layer_info *info)
{
    if (info->n_inputs != 2)
        return onnx_x_fail(ex, info, "%u inputs, 2 expected",
                           (unsigned)info->n_inputs);
    join_node(ex, info, "Mul", "Mul", -1);
    return CNN_OK;
}

cnn_status onnx_export_concat(onnx_exporter *ex, const cnn_layer_info *info)
{
    join_node(ex, info, "Concat", "Concat", 1);
    return CNN_OK;
}
