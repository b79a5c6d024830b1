/* SPDX-License-Identifier: MIT */
/* The op table: every ONNX op the importer maps, the cnnrun layer type it
 * becomes, the attributes it understands, and, on the row that owns a layer
 * type, how that type is exported. Both directions read this one table, so
 * a new op is one row plus its handlers and tests. */
#include <string.h>

#include "onnx_internal.h"

#define A_WINDOW "auto_pad,dilations,kernel_shape,pads,strides"

const onnx_op onnx_ops[] = {
    /* onnx op, layer type, attributes, import, export */
    {"Conv", "conv", A_WINDOW ",group", onnx_import_conv, onnx_export_conv},
    {"MaxPool", "maxpool", A_WINDOW ",ceil_mode,storage_order",
     onnx_import_maxpool, onnx_export_maxpool},
    {"AveragePool", "avgpool", A_WINDOW ",ceil_mode,count_include_pad",
     onnx_import_avgpool, onnx_export_avgpool},
    {"GlobalAveragePool", "globalavgpool", "", onnx_import_global_pool,
     onnx_export_global_pool},
    {"GlobalMaxPool", "globalmaxpool", "", onnx_import_global_pool,
     onnx_export_global_pool},
    /* over H and W only: the global pools, flattened unless keepdims */
    {"ReduceMean", "globalavgpool", "axes,keepdims,noop_with_empty_axes",
     onnx_import_reduce_spatial, NULL},
    {"ReduceMax", "globalmaxpool", "axes,keepdims,noop_with_empty_axes",
     onnx_import_reduce_spatial, NULL},
    {"Gemm", "dense", "alpha,beta,transA,transB", onnx_import_gemm,
     onnx_export_dense},
    {"MatMul", "dense", "", onnx_import_matmul, NULL},
    {"BatchNormalization", "batchnorm",
     "epsilon,momentum,spatial,training_mode,is_test,consumed_inputs",
     onnx_import_batchnorm, onnx_export_batchnorm},
    {"Relu", "relu", "", onnx_import_activation, onnx_export_activation},
    {"Sigmoid", "sigmoid", "", onnx_import_activation, onnx_export_activation},
    {"Tanh", "tanh", "", onnx_import_activation, onnx_export_activation},
    {"HardSwish", "hardswish", "", onnx_import_activation,
     onnx_export_hardswish},
    {"LeakyRelu", "leakyrelu", "alpha", onnx_import_leakyrelu,
     onnx_export_leakyrelu},
    {"PRelu", "prelu", "", onnx_import_prelu, onnx_export_prelu},
    {"Clip", "clip", "min,max", onnx_import_clip, onnx_export_clip},
    {NULL, "relu6", NULL, NULL, onnx_export_relu6},
    {NULL, "silu", NULL, NULL, onnx_export_silu}, /* imported from Mul */
    {"HardSigmoid", "hardsigmoid", "alpha,beta", onnx_import_hardsigmoid,
     onnx_export_hardsigmoid},
    {"Elu", "elu", "alpha", onnx_import_elu, onnx_export_elu},
    {"Softmax", "softmax", "axis", onnx_import_softmax, onnx_export_softmax},
    {"LogSoftmax", "logsoftmax", "axis", onnx_import_softmax,
     onnx_export_softmax},
    {"Flatten", "flatten", "axis", onnx_import_flatten, onnx_export_flatten},
    {"Reshape", "flatten", "allowzero", onnx_import_reshape, NULL},
    {"Squeeze", "flatten", "axes", onnx_import_squeeze, NULL},
    {"Dropout", "dropout", "ratio,seed,is_test", onnx_import_passthrough,
     onnx_export_identity},
    {"Identity", "identity", "", onnx_import_passthrough,
     onnx_export_identity},
    {"Add", "add", "", onnx_import_add, onnx_export_add},
    {"Mul", "mul", "", onnx_import_mul, onnx_export_mul},
    {"Concat", "concat", "axis", onnx_import_concat, onnx_export_concat},
    {"Sum", "add", "", onnx_import_sum, NULL},
    {"Pad", NULL, "mode,pads,value", onnx_import_pad, NULL},
    /* layer norms and GELU written out elementwise (ConvNeXt) */
    {"Sub", NULL, "", onnx_import_sub, NULL},
    {"Pow", NULL, "", onnx_import_pow, NULL},
    {"Sqrt", NULL, "", onnx_import_sqrt, NULL},
    {"Div", NULL, "", onnx_import_div, NULL},
    {"Erf", "gelu", "", onnx_import_erf, NULL},
    {NULL, "gelu", NULL, NULL, onnx_export_gelu},
    {"LayerNormalization", "layernorm", "axis,epsilon,stash_type",
     onnx_import_layernorm, onnx_export_layernorm},
    {"Slice", "slice", "starts,ends,axes", onnx_import_slice,
     onnx_export_slice},
    {"Split", "slice", "axis,split,num_outputs", onnx_import_split, NULL},
    /* Reshape, Transpose, Reshape: a channel shuffle (ShuffleNet) */
    {"Transpose", "channel_shuffle", "perm", onnx_import_transpose,
     onnx_export_channel_shuffle},
    {"LRN", "lrn", "alpha,beta,bias,size", onnx_import_lrn, onnx_export_lrn},
};
const size_t onnx_ops_count = sizeof onnx_ops / sizeof *onnx_ops;

const onnx_op *onnx_op_for_import(const char *op_type)
{
    for (size_t i = 0; i < onnx_ops_count; i++)
        if (onnx_ops[i].onnx_op && strcmp(onnx_ops[i].onnx_op, op_type) == 0)
            return &onnx_ops[i];
    return NULL;
}

const onnx_op *onnx_op_for_export(const char *layer_type)
{
    for (size_t i = 0; i < onnx_ops_count; i++)
        if (onnx_ops[i].export_ &&
            strcmp(onnx_ops[i].layer_type, layer_type) == 0)
            return &onnx_ops[i];
    return NULL;
}

const char *cnn_onnx_supported_ops(void)
{
    /* Built once from the table; the folded shape ops are listed too. */
    static char list[1024];
    if (!list[0]) {
        size_t len = 0;
        for (size_t i = 0; i < onnx_ops_count; i++) {
            const char *name = onnx_ops[i].onnx_op;
            size_t n;
            if (!name)
                continue;
            n = strlen(name);
            if (len + n + 3 >= sizeof list)
                break;
            if (len) {
                memcpy(list + len, ", ", 2);
                len += 2;
            }
            memcpy(list + len, name, n);
            len += n;
        }
        {
            static const char folded[] =
                " (and, on constants: Constant, Shape, Gather, Unsqueeze, "
                "Squeeze, Concat, Cast, Slice, Transpose, ConstantOfShape, "
                "Add, Sub, Mul, Div)";
            if (len + sizeof folded < sizeof list)
                memcpy(list + len, folded, sizeof folded);
        }
    }
    return list;
}
