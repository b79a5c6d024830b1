/* SPDX-License-Identifier: MIT */
/* The exporter's driver: a loaded graph and its parameters become a
 * ModelProto (input "input" [N, C, H, W] and output "output" with a
 * symbolic batch "N"), each layer through its type's row of the op table,
 * then packed and written atomically. A layer type without a row (a
 * third-party plugin) is refused by name. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/atomic_file.h"
#include "onnx_internal.h"

void onnx_w_arena_free(onnx_exporter *ex);

cnn_status onnx_x_fail(onnx_exporter *ex, const cnn_layer_info *info,
                       const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ex->failed = 2;
    return cnn_context_fail(ex->ctx, CNN_ERR_UNSUPPORTED,
                            "%s: layer '%s' (%s): %s (ONNX opset %d)",
                            cnn_graph_path(ex->graph), info->name, info->type,
                            msg, ex->opset);
}

const char *onnx_x_input(onnx_exporter *ex, const cnn_layer_info *info,
                         uint32_t i)
{
    int32_t in = info->inputs[i];
    return ex->value_names[in < 0 ? 0 : (size_t)in + 1];
}

const char *onnx_x_output(onnx_exporter *ex, const cnn_layer_info *info)
{
    (void)info;
    return ex->value_names[ex->layer + 1];
}

const char *onnx_x_name(onnx_exporter *ex, const cnn_layer_info *info,
                        const char *suffix)
{
    size_t n = strlen(info->name) + strlen(suffix) + 2;
    char *p = onnx_w_alloc(ex, n);
    if (p)
        snprintf(p, n, "%s/%s", info->name, suffix);
    return p ? p : "";
}

const cnn_hparam_value *onnx_x_hp(const cnn_layer_info *info,
                                  const char *name)
{
    const cnn_layer_descriptor *d = info->descriptor;
    for (uint32_t k = 0; k < d->n_hparams; k++)
        if (strcmp(d->hparams[k].name, name) == 0)
            return &info->layer->hparams[k];
    return NULL;
}

const cnn_tensor *onnx_x_param(onnx_exporter *ex, const cnn_layer_info *info,
                               const char *pname)
{
    char name[256];
    int64_t i;
    snprintf(name, sizeof name, "%s.%s", info->name, pname);
    i = cnn_params_find(ex->params, name);
    return i < 0 ? NULL : cnn_params_value(ex->params, (size_t)i);
}

cnn_shape onnx_x_input_shape(onnx_exporter *ex, const cnn_layer_info *info,
                             uint32_t i)
{
    int32_t in = info->inputs[i];
    if (in < 0)
        return cnn_graph_input_shape(ex->graph);
    {
        cnn_layer_info p;
        cnn_graph_layer_info(ex->graph, (size_t)in, &p);
        return p.output_shape;
    }
}

static int ir_version_for(int opset)
{
    return opset <= 8 ? 3 : opset == 9 ? 4 : opset == 10 ? 5
           : opset == 11 ? 6 : opset <= 14 ? 7 : 8;
}

/* A tensor type [N, dims[1..]] with N symbolic. */
static Onnx__ValueInfoProto *value_info(onnx_exporter *ex, const char *name,
                                        const cnn_shape *s)
{
    Onnx__ValueInfoProto *v = onnx_w_alloc(ex, sizeof *v);
    Onnx__TypeProto *t = onnx_w_alloc(ex, sizeof *t);
    Onnx__TypeProto__Tensor *tt = onnx_w_alloc(ex, sizeof *tt);
    Onnx__TensorShapeProto *sh = onnx_w_alloc(ex, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dims =
        onnx_w_alloc(ex, (size_t)(s->rank + 1) * sizeof *dims);
    if (!v || !t || !tt || !sh || !dims)
        return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(t);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int32_t d = 0; d < s->rank; d++) {
        Onnx__TensorShapeProto__Dimension *dim = onnx_w_alloc(ex, sizeof *dim);
        if (!dim)
            return NULL;
        onnx__tensor_shape_proto__dimension__init(dim);
        if (d == 0) {
            dim->value_case =
                ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dim->dim_param = onnx_w_strdup(ex, "N");
        } else {
            dim->value_case =
                ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim->dim_value = s->dims[d];
        }
        dims[d] = dim;
    }
    sh->dim = dims;
    sh->n_dim = (size_t)s->rank;
    tt->has_elem_type = 1;
    tt->elem_type = 1;
    tt->shape = sh;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    v->name = onnx_w_strdup(ex, name);
    v->type = t;
    return v;
}

static cnn_status name_values(onnx_exporter *ex, size_t n_layers)
{
    size_t last = cnn_graph_output_layer(ex->graph);
    ex->value_names = onnx_w_alloc(ex, (n_layers + 1) * sizeof(char *));
    if (!ex->value_names)
        return CNN_ERR_NOMEM;
    ex->value_names[0] = onnx_w_strdup(ex, "input");
    for (size_t l = 0; l < n_layers; l++) {
        cnn_layer_info info;
        cnn_graph_layer_info(ex->graph, l, &info);
        if (l == last)
            ex->value_names[l + 1] = onnx_w_strdup(ex, "output");
        else if (strcmp(info.name, "output") == 0)
            ex->value_names[l + 1] = onnx_w_strdup(ex, "output.value");
        else
            ex->value_names[l + 1] = onnx_w_strdup(ex, info.name);
    }
    return ex->failed ? CNN_ERR_NOMEM : CNN_OK;
}

cnn_status cnn_onnx_export_buffer(cnn_context *ctx, const cnn_graph *graph,
                                  cnn_params *params,
                                  const cnn_onnx_export_options *options,
                                  uint8_t **bytes, size_t *size)
{
    onnx_exporter ex;
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};
    Onnx__ValueInfoProto *in_vi, *out_vi;
    size_t n_layers = cnn_graph_layer_count(graph);
    cnn_status st = CNN_OK;

    *bytes = NULL;
    *size = 0;
    memset(&ex, 0, sizeof ex);
    ex.ctx = ctx;
    ex.graph = graph;
    ex.params = params;
    ex.opset = options && options->opset ? options->opset
                                          : CNN_ONNX_EXPORT_DEFAULT_OPSET;
    ex.g = &g;
    if (ex.opset < CNN_ONNX_EXPORT_MIN_OPSET ||
        ex.opset > CNN_ONNX_EXPORT_MAX_OPSET)
        return cnn_context_fail(ctx, CNN_ERR_INVALID,
                                "opset %d: cnnrun exports opsets %d to %d",
                                ex.opset, CNN_ONNX_EXPORT_MIN_OPSET,
                                CNN_ONNX_EXPORT_MAX_OPSET);
    /* Every layer type must have a row before anything is built. */
    for (size_t l = 0; l < n_layers; l++) {
        cnn_layer_info info;
        cnn_graph_layer_info(graph, l, &info);
        if (!onnx_op_for_export(info.type))
            return cnn_context_fail(
                ctx, CNN_ERR_UNSUPPORTED,
                "%s: layer '%s' has type '%s', which has no ONNX export "
                "(a third-party plugin?); built-in types export", 
                cnn_graph_path(graph), info.name, info.type);
    }
    if (name_values(&ex, n_layers) != CNN_OK) {
        st = cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t l = 0; l < n_layers && st == CNN_OK; l++) {
        cnn_layer_info info;
        cnn_graph_layer_info(graph, l, &info);
        ex.layer = l;
        st = onnx_op_for_export(info.type)->export_(&ex, &info);
        if (st == CNN_OK && ex.failed)
            st = cnn_context_fail(ctx, CNN_ERR_NOMEM,
                                  "out of memory exporting layer '%s'",
                                  info.name);
    }
    if (st != CNN_OK)
        goto done;
    {
        cnn_shape in = cnn_graph_input_shape(graph), out;
        cnn_layer_info last;
        cnn_graph_layer_info(graph, cnn_graph_output_layer(graph), &last);
        out = last.output_shape;
        in_vi = value_info(&ex, "input", &in);
        out_vi = value_info(&ex, "output", &out);
    }
    g.name = onnx_w_strdup(&ex, cnn_graph_name(graph));
    g.input = onnx_w_alloc(&ex, sizeof *g.input);
    g.output = onnx_w_alloc(&ex, sizeof *g.output);
    if (ex.failed || !in_vi || !out_vi || !g.input || !g.output) {
        st = cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        goto done;
    }
    g.input[0] = in_vi;
    g.n_input = 1;
    g.output[0] = out_vi;
    g.n_output = 1;
    opset.domain = (char *)"";
    opset.has_version = 1;
    opset.version = ex.opset;
    model.has_ir_version = 1;
    model.ir_version = ir_version_for(ex.opset);
    model.producer_name = (char *)"cnnrun";
    model.producer_version = (char *)cnn_version();
    model.opset_import = opsets;
    model.n_opset_import = 1;
    model.graph = &g;
    *size = onnx__model_proto__get_packed_size(&model);
    *bytes = malloc(*size + 1);
    if (!*bytes) {
        st = cnn_context_fail(ctx, CNN_ERR_NOMEM,
                              "out of memory for a %zu-byte model", *size);
        *size = 0;
        goto done;
    }
    onnx__model_proto__pack(&model, *bytes);
done:
    onnx_w_arena_free(&ex);
    return st;
}

cnn_status cnn_onnx_export_file(cnn_context *ctx, const cnn_graph *graph,
                                cnn_params *params,
                                const cnn_onnx_export_options *options,
                                const char *path)
{
    uint8_t *bytes;
    size_t size;
    cnn_status st = cnn_onnx_export_buffer(ctx, graph, params, options, &bytes,
                                           &size);
    if (st != CNN_OK)
        return st;
    st = cnn_atomic_file_write_all(ctx, path, bytes, size);
    free(bytes);
    return st;
}
