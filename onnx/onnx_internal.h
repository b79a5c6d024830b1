/* SPDX-License-Identifier: MIT */
/* What the files of onnx/ share: the importer's state, constant tensors,
 * the op table's row type and the helpers the op handlers call. */
#ifndef CNN_ONNX_INTERNAL_H
#define CNN_ONNX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"
#include "cnn/graph.h"
#include "cnn/params.h"
#include "cnn/tensor.h"
#include "cnn_onnx.h"
#include "onnx.pb-c.h"

/* Limits on what an untrusted model may ask for, checked before any
 * allocation that depends on it. */
#define ONNX_MAX_NODES 100000
#define ONNX_MAX_VALUES 400000
#define ONNX_MAX_NESTING 32             /* protobuf message depth */
#define ONNX_MAX_ELEMENTS (1ull << 31)  /* elements in one tensor */
#define ONNX_MAX_TOTAL_BYTES (8ull << 30) /* all tensors together */
/* Constants the import computes (folded shape arithmetic, ConstantOfShape,
 * a constant's copy under another name) are backed by no bytes of the file:
 * a few bytes could ask for gigabytes. Together they may hold this much
 * plus the initializers' bytes (room for a Cast of every fp16 weight). */
#define ONNX_MAX_COMPUTED_BYTES (256ull << 20)
#define ONNX_MAX_INPUTS 64              /* inputs of one node that we map */

/* The symbolic batch size inside a folded integer tensor (what Shape(x)[0]
 * gives before anything knows N). */
#define ONNX_DIM_BATCH INT64_MIN

/* ---- Reading (onnx_read.c) ------------------------------------------------ */

/* Unpacks a ModelProto after checking nesting depth, with an allocator that
 * refuses to spend more than a budget proportional to size. */
typedef struct onnx_model {
    Onnx__ModelProto *proto;
    ProtobufCAllocator alloc; /* counts bytes against limit */
    size_t used, limit;
    int exceeded;
} onnx_model;
cnn_status onnx_model_unpack(cnn_context *ctx, const char *origin,
                             const uint8_t *data, size_t size,
                             onnx_model **out);
void onnx_model_free(onnx_model *model);
/* Reads a whole file of at most max bytes into a malloc'd buffer. */
cnn_status onnx_read_file(cnn_context *ctx, const char *path, size_t max,
                          uint8_t **data, size_t *size);

/* ---- Constant tensors (onnx_tensor.c) ------------------------------------- */

typedef enum onnx_ctype { ONNX_C_FLOAT = 1, ONNX_C_INT = 2 } onnx_ctype;

/* A tensor whose value the importer knows: an initializer, a Constant or a
 * folded expression. Floats (float, double, half converted) or integers
 * (every integer type and bool, as int64). */
typedef struct onnx_const {
    onnx_ctype type;
    int32_t rank;
    int64_t dims[CNN_MAX_RANK];
    size_t numel;
    float *f;   /* ONNX_C_FLOAT, malloc'd */
    int64_t *i; /* ONNX_C_INT, malloc'd; ONNX_DIM_BATCH marks N */
} onnx_const;

void onnx_const_free(onnx_const *c);
/* Allocates the elements of the given type for dims (bounded by
 * ONNX_MAX_ELEMENTS); where prefixes messages. */
cnn_status onnx_const_alloc(cnn_context *ctx, const char *where, onnx_const *c,
                            onnx_ctype type, int32_t rank, const int64_t *dims);
/* Decodes a TensorProto: typed fields, raw_data or external data (read
 * below base_dir only). what names it in messages. */
cnn_status onnx_tensor_decode(cnn_context *ctx, const char *origin,
                              const char *base_dir,
                              const Onnx__TensorProto *t, const char *what,
                              onnx_const *out);
/* Name of an ONNX data type ("FLOAT16"). */
const char *onnx_dtype_name(int32_t dtype);

/* ---- The importer --------------------------------------------------------- */

/* A value of the graph: known (a constant) or computed by a layer. */
typedef struct onnx_value {
    const char *name; /* borrowed from the model */
    int is_const;
    onnx_const c;
    int32_t layer;   /* producer: a layer index or CNN_GRAPH_INPUT */
    cnn_shape shape; /* of a computed value, dims[0] = 1 for the batch */
    /* A channel shuffle under way (Reshape [N, g, C/g, ...], then
     * Transpose perm [0, 2, 1, ...], then Reshape [N, C, ...]): 1 after
     * the first Reshape, 2 after the Transpose; the data is still the
     * producer's, unshuffled, so nothing else may read it. */
    int shuffle_stage;
    int64_t shuffle_groups;
    /* The producer's data with zero rows and columns around it (a Pad of
     * constant 0: top, left, bottom, right); shape is the padded one.
     * Only a Conv or AveragePool may read it, taking the pad as its own
     * padding, since no layer materialises it. */
    int zero_padded;
    int64_t zero_pad[4];
    /* The producer's [N, C, H, W] data seen as [N, H, W, C] (a Transpose
     * perm [0, 2, 3, 1]; shape is the NHWC one), as ConvNeXt computes its
     * layer norms, MLPs and GELUs: onnx_import_norm.c. */
    int channels_last;
    /* A step of a layer normalisation or GELU written out in elementwise
     * ops (ONNX_STEP_*), recognised whole by onnx_import_norm.c; no layer
     * computes it. step_src: the value the steps started from (an index
     * into the importer's values); step_eps: the normalisation's epsilon. */
    int step;
    size_t step_src;
    float step_eps;
} onnx_value;

enum {
    ONNX_STEP_NONE,
    /* x - mean(x), (x - mean)^2, their mean, + eps, its root */
    ONNX_STEP_LN_MEAN,
    ONNX_STEP_LN_CENTERED,
    ONNX_STEP_LN_SQUARED,
    ONNX_STEP_LN_VAR,
    ONNX_STEP_LN_VAR_EPS,
    ONNX_STEP_LN_STD,
    /* x / sqrt(2), erf of it, + 1, x times that (then times 0.5) */
    ONNX_STEP_GELU_SCALED,
    ONNX_STEP_GELU_ERF,
    ONNX_STEP_GELU_ERF1,
    ONNX_STEP_GELU_PRODUCT
};

#define ONNX_LAYER_NAME_MAX 64
#define ONNX_LAYER_HP_MAX 768
#define ONNX_LAYER_INPUTS 64

typedef struct onnx_layer {
    char name[ONNX_LAYER_NAME_MAX];
    const char *type;
    char hp[ONNX_LAYER_HP_MAX]; /* ", filters: 6, kernel: 5" */
    int32_t inputs[ONNX_LAYER_INPUTS];
    uint32_t n_inputs;
    cnn_shape shape;
    size_t first_param, n_params; /* in the importer's tensor list */
    /* MatMul then Add: the Add may give a bias-less dense its bias. */
    int dense_without_bias;
    /* Values bound to this layer's output: more than one when Identity,
     * Dropout or a no-op reshape made an alias. */
    uint32_t n_names;
    int64_t units;
} onnx_layer;

typedef struct onnx_table onnx_table; /* name -> index, open addressing */

typedef struct onnx_importer {
    cnn_context *ctx;
    const char *origin;
    const char *base_dir;
    const Onnx__ModelProto *model;
    const Onnx__GraphProto *graph;
    int64_t opset;
    onnx_value *values;
    size_t n_values, cap_values;
    onnx_table *value_index;
    onnx_table *use_counts; /* readers of each name among needed nodes */
    onnx_layer *layers;
    size_t n_layers, cap_layers;
    cnn_named_tensor *tensors; /* names and data malloc'd */
    size_t n_tensors, cap_tensors;
    onnx_table *layer_names;
    uint64_t total_bytes;    /* initializers, 8 bytes per element */
    uint64_t computed_bytes; /* see ONNX_MAX_COMPUTED_BYTES */
} onnx_importer;

/* Counts a constant of this shape, about to be computed, against the
 * budget of ONNX_MAX_COMPUTED_BYTES; refuses it, naming where, past it. */
cnn_status onnx_charge_computed(onnx_importer *im, const char *where,
                                onnx_ctype type, int32_t rank,
                                const int64_t *dims);

/* "origin: node 'name' (Op)" into buf, for messages about one node. */
void onnx_node_where(const onnx_importer *im, const Onnx__NodeProto *node,
                     char *buf, size_t size);

/* Fails with "origin: node 'name' (Op, opset N): message". */
cnn_status onnx_node_fail(onnx_importer *im, const Onnx__NodeProto *node,
                          cnn_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* The node's input i: NULL with a message when absent or unknown. */
onnx_value *onnx_input(onnx_importer *im, const Onnx__NodeProto *node,
                       size_t i);
/* 1 when the node has a non-empty input i. */
int onnx_has_input(const Onnx__NodeProto *node, size_t i);
/* Input i as a computed value (an error when it is a constant). */
onnx_value *onnx_input_dynamic(onnx_importer *im, const Onnx__NodeProto *node,
                               size_t i);
/* Input i as a constant (an error when computed at run time). */
onnx_const *onnx_input_const(onnx_importer *im, const Onnx__NodeProto *node,
                             size_t i, onnx_ctype type);

/* Binds output i of node to a layer's result, a constant (taken over) or
 * an existing value (an alias: the node is removed). */
cnn_status onnx_bind_layer(onnx_importer *im, const Onnx__NodeProto *node,
                           size_t i, int32_t layer);
cnn_status onnx_bind_const(onnx_importer *im, const Onnx__NodeProto *node,
                           size_t i, onnx_const *c);
cnn_status onnx_bind_alias(onnx_importer *im, const Onnx__NodeProto *node,
                           size_t i, const onnx_value *v);
/* 1 when v is read once in all (under any name) and is no graph output:
 * only then may its reader rewrite the layer that computes it. */
int onnx_read_once(onnx_importer *im, const onnx_value *v);
/* 1 when name is one of the graph's outputs. */
int onnx_is_graph_output(const onnx_importer *im, const char *name);
/* Binds the node's output 0 to the layer just added, channels-last (with
 * the NHWC shape) when like is. */
cnn_status onnx_bind_new_layer(onnx_importer *im, const Onnx__NodeProto *node,
                               const onnx_value *like);
/* The layer shape of a value: [N, C, H, W] also for a channels-last one. */
cnn_shape onnx_layer_shape_of(const onnx_value *v);
/* The value named name, or NULL. */
onnx_value *onnx_value_find(onnx_importer *im, const char *name);
/* Readers of a value in the part of the graph that is imported. */
size_t onnx_value_uses(onnx_importer *im, const onnx_value *v);

/* A new layer named after the node; hp is printf-formatted flow-style YAML
 * (", key: value" pairs). The inputs are the values' producers. */
onnx_layer *onnx_layer_add(onnx_importer *im, const Onnx__NodeProto *node,
                           const char *type, onnx_value *const *inputs,
                           size_t n_inputs, const cnn_shape *shape,
                           const char *hp_fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 7, 8)))
#endif
    ;
/* Appends to a layer's hyperparameters. */
void onnx_layer_hp(onnx_layer *layer, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Adds "<layer>.<pname>" with the given shape; data (malloc'd, numel
 * floats) is taken over, also on failure. */
cnn_status onnx_layer_param(onnx_importer *im, onnx_layer *layer,
                            const char *pname, float *data, int32_t rank,
                            const int64_t *dims);
/* A malloc'd copy of a float constant's data. */
float *onnx_const_copy(onnx_importer *im, const onnx_const *c);

/* Attributes, type-checked: a wrong type is an error naming it. */
const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *node,
                                      const char *name);
cnn_status onnx_attr_int(onnx_importer *im, const Onnx__NodeProto *node,
                         const char *name, int64_t dflt, int64_t *out);
cnn_status onnx_attr_float(onnx_importer *im, const Onnx__NodeProto *node,
                           const char *name, float dflt, float *out);
/* Up to max ints; *n = 0 when absent. */
cnn_status onnx_attr_ints(onnx_importer *im, const Onnx__NodeProto *node,
                          const char *name, int64_t *out, size_t max,
                          size_t *n);
/* A string attribute, or dflt. Copied into out (size bytes). */
cnn_status onnx_attr_string(onnx_importer *im, const Onnx__NodeProto *node,
                            const char *name, const char *dflt, char *out,
                            size_t size);

/* ---- Names (onnx_names.c) ------------------------------------------------- */

onnx_table *onnx_table_create(size_t capacity);
void onnx_table_destroy(onnx_table *t);
/* -1 when absent. */
int64_t onnx_table_get(const onnx_table *t, const char *key);
/* Stores key (copied) -> index; 0 on out of memory. Keys are unique. */
int onnx_table_put(onnx_table *t, const char *key, int64_t index);

/* A valid, unique cnnrun layer name ([a-z][a-z0-9_]*, not "input") made
 * from an ONNX node name; fallback (the layer type) when nothing is left. */
void onnx_layer_name(onnx_table *taken, const char *node_name,
                     const char *op_type, const char *fallback, char *out,
                     size_t size);
/* A graph name from a file path: "resnet18" from "dir/resnet18.onnx". */
void onnx_graph_name(const char *path, char *out, size_t size);

/* ---- Constant folding (onnx_fold.c) --------------------------------------- */

/* 1 when op is one that folding can evaluate when its inputs are known. */
int onnx_fold_op(const char *op_type);
/* Folds node if every input it needs is known; *folded says whether it
 * did (0: a computed input, the node must be mapped to a layer). */
cnn_status onnx_fold(onnx_importer *im, const Onnx__NodeProto *node,
                     int *folded);

/* ---- The op table (onnx_ops.c) -------------------------------------------- */

typedef cnn_status (*onnx_import_fn)(onnx_importer *im,
                                     const Onnx__NodeProto *node);

typedef struct onnx_exporter onnx_exporter;
typedef cnn_status (*onnx_export_fn)(onnx_exporter *ex,
                                     const cnn_layer_info *info);

typedef struct onnx_op {
    const char *onnx_op;    /* NULL: export-only row */
    const char *layer_type; /* NULL: removed on import (Identity) */
    const char *attributes; /* the attributes import understands, ","-list */
    onnx_import_fn import;  /* NULL: export-only row */
    onnx_export_fn export_; /* NULL: this row is one way only */
} onnx_op;

extern const onnx_op onnx_ops[];
extern const size_t onnx_ops_count;
const onnx_op *onnx_op_for_import(const char *op_type);
const onnx_op *onnx_op_for_export(const char *layer_type);

/* Import handlers (onnx_import_ops.c) and export handlers
 * (onnx_export_ops.c) the table names. */
#define ONNX_IMPORT_FN(n) cnn_status onnx_import_##n(onnx_importer *, const Onnx__NodeProto *)
ONNX_IMPORT_FN(conv);
ONNX_IMPORT_FN(maxpool);
ONNX_IMPORT_FN(avgpool);
ONNX_IMPORT_FN(global_pool);
ONNX_IMPORT_FN(reduce_spatial);
ONNX_IMPORT_FN(slice);
ONNX_IMPORT_FN(split);
ONNX_IMPORT_FN(transpose);
ONNX_IMPORT_FN(gemm);
ONNX_IMPORT_FN(matmul);
ONNX_IMPORT_FN(batchnorm);
ONNX_IMPORT_FN(activation);
ONNX_IMPORT_FN(leakyrelu);
ONNX_IMPORT_FN(prelu);
ONNX_IMPORT_FN(clip);
ONNX_IMPORT_FN(hardsigmoid);
ONNX_IMPORT_FN(elu);
ONNX_IMPORT_FN(softmax);
ONNX_IMPORT_FN(flatten);
ONNX_IMPORT_FN(reshape);
ONNX_IMPORT_FN(squeeze);
ONNX_IMPORT_FN(passthrough);
ONNX_IMPORT_FN(add);
ONNX_IMPORT_FN(mul);
ONNX_IMPORT_FN(concat);
ONNX_IMPORT_FN(lrn);
ONNX_IMPORT_FN(pad);
ONNX_IMPORT_FN(sum);
/* onnx_import_norm.c: ConvNeXt's channels-last layer norms, MLPs, GELUs */
ONNX_IMPORT_FN(sub);
ONNX_IMPORT_FN(pow);
ONNX_IMPORT_FN(sqrt);
ONNX_IMPORT_FN(div);
ONNX_IMPORT_FN(erf);
ONNX_IMPORT_FN(layernorm);
/* Hooks of the handlers above into Transpose, ReduceMean, Add, Mul and
 * MatMul: 1 when the node was taken (*st: how it went), 0 to go on. */
int onnx_norm_transpose(onnx_importer *im, const Onnx__NodeProto *node,
                        onnx_value *x, const int64_t *perm, size_t n,
                        cnn_status *st);
int onnx_norm_reduce_mean(onnx_importer *im, const Onnx__NodeProto *node,
                          onnx_value *x, const int64_t *axes, size_t n,
                          int64_t keepdims, cnn_status *st);
int onnx_norm_add(onnx_importer *im, const Onnx__NodeProto *node,
                  onnx_value *a, onnx_value *b, cnn_status *st);
int onnx_norm_mul(onnx_importer *im, const Onnx__NodeProto *node,
                  onnx_value *a, onnx_value *b, cnn_status *st);
int onnx_norm_matmul(onnx_importer *im, const Onnx__NodeProto *node,
                     onnx_value *x, const onnx_const *b, cnn_status *st);

/* ---- Export (onnx_export.c, onnx_export_ops.c, onnx_write.c) -------------- */

struct onnx_exporter {
    cnn_context *ctx;
    const cnn_graph *graph;
    cnn_params *params;
    int opset;
    Onnx__GraphProto *g; /* being built; owned by the exporter's arena */
    size_t layer;        /* the layer being exported */
    /* ONNX value names of each layer's output (index + 1; 0 = input). */
    char **value_names;
    void *arena;         /* every allocation of the model, freed at once */
    int failed;
};

/* Arena-backed builders; NULL (and ex->failed) on out of memory. */
char *onnx_w_strdup(onnx_exporter *ex, const char *s);
Onnx__NodeProto *onnx_w_node(onnx_exporter *ex, const char *op_type,
                             const char *name, const char *const *inputs,
                             size_t n_inputs, const char *output);
void onnx_w_attr_int(onnx_exporter *ex, Onnx__NodeProto *n, const char *name,
                     int64_t v);
void onnx_w_attr_float(onnx_exporter *ex, Onnx__NodeProto *n,
                       const char *name, float v);
void onnx_w_attr_ints(onnx_exporter *ex, Onnx__NodeProto *n, const char *name,
                      const int64_t *v, size_t count);
/* An initializer of floats (copied) or int64s. */
void onnx_w_init_float(onnx_exporter *ex, const char *name, const float *data,
                       int32_t rank, const int64_t *dims);
void onnx_w_init_int64(onnx_exporter *ex, const char *name,
                       const int64_t *data, int32_t rank, const int64_t *dims);
void *onnx_w_alloc(onnx_exporter *ex, size_t size);

/* Helpers for export handlers: the layer's input and output value names,
 * a hyperparameter by name, and a parameter's values. */
const char *onnx_x_input(onnx_exporter *ex, const cnn_layer_info *info,
                         uint32_t i);
const char *onnx_x_output(onnx_exporter *ex, const cnn_layer_info *info);
/* A helper value name unique to the layer: "<layer>/<suffix>". */
const char *onnx_x_name(onnx_exporter *ex, const cnn_layer_info *info,
                        const char *suffix);
const cnn_hparam_value *onnx_x_hp(const cnn_layer_info *info,
                                  const char *name);
const cnn_tensor *onnx_x_param(onnx_exporter *ex, const cnn_layer_info *info,
                               const char *pname);
/* A float scalar initializer named "<layer>_<suffix>"; its name. */
const char *onnx_x_scalar(onnx_exporter *ex, const cnn_layer_info *info,
                          const char *suffix, float value);
/* Shape of input i with batch 1. */
cnn_shape onnx_x_input_shape(onnx_exporter *ex, const cnn_layer_info *info,
                             uint32_t i);
cnn_status onnx_x_fail(onnx_exporter *ex, const cnn_layer_info *info,
                       const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#define ONNX_EXPORT_FN(n) cnn_status onnx_export_##n(onnx_exporter *, const cnn_layer_info *)
ONNX_EXPORT_FN(conv);
ONNX_EXPORT_FN(gelu);      /* onnx_export_norm.c */
ONNX_EXPORT_FN(layernorm); /* onnx_export_norm.c */
ONNX_EXPORT_FN(maxpool);
ONNX_EXPORT_FN(avgpool);
ONNX_EXPORT_FN(global_pool);
ONNX_EXPORT_FN(dense);
ONNX_EXPORT_FN(batchnorm);
ONNX_EXPORT_FN(activation);
ONNX_EXPORT_FN(leakyrelu);
ONNX_EXPORT_FN(prelu);
ONNX_EXPORT_FN(clip);
ONNX_EXPORT_FN(relu6);
ONNX_EXPORT_FN(hardswish);
ONNX_EXPORT_FN(silu);
ONNX_EXPORT_FN(slice);
ONNX_EXPORT_FN(channel_shuffle);
ONNX_EXPORT_FN(hardsigmoid);
ONNX_EXPORT_FN(elu);
ONNX_EXPORT_FN(softmax);
ONNX_EXPORT_FN(flatten);
ONNX_EXPORT_FN(identity);
ONNX_EXPORT_FN(add);
ONNX_EXPORT_FN(mul);
ONNX_EXPORT_FN(concat);
ONNX_EXPORT_FN(lrn);

#endif
