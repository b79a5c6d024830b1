/* SPDX-License-Identifier: MIT */
/* ONNX translation: a model file to a cnnrun graph (YAML text) plus named
 * weights, and a loaded graph with its weights to a model file.
 *
 * This folder owns the ONNX side and nothing else: it parses protobuf with
 * protobuf-c (bindings generated at build time from Debian's onnx.proto),
 * maps ops to layer types through one table that both directions read
 * (onnx_ops.c), and never runs a network. It calls libcnn only for what every
 * tool uses: contexts and messages, the graph and parameter views (export),
 * safetensors writing and the atomic file writer. The core knows nothing of
 * it.
 *
 * ONNX files are untrusted input: sizes are checked before allocation,
 * protobuf nesting and total unpacked memory are bounded, external data is
 * read only from files inside the model's folder, and every failure is a
 * status with a one-line message on the context naming the file, the node,
 * its op and the value at fault. */
#ifndef CNN_ONNX_H
#define CNN_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"
#include "cnn/graph.h"
#include "cnn/io.h"
#include "cnn/params.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest model file read (protobuf's own limit is 2 GiB; larger weights
 * belong in external data files). */
#define CNN_ONNX_MAX_FILE (2047u * 1024u * 1024u)
/* Opsets of the default domain the importer understands. */
#define CNN_ONNX_MIN_OPSET 7
#define CNN_ONNX_MAX_OPSET 18
/* Opsets the exporter can write, and its default. */
#define CNN_ONNX_EXPORT_MIN_OPSET 9
#define CNN_ONNX_EXPORT_MAX_OPSET 18
#define CNN_ONNX_EXPORT_DEFAULT_OPSET 17

typedef struct cnn_onnx_import_options {
    /* Names the model in messages and in the YAML's header comment. */
    const char *origin;
    /* Folder that external data files are read from; NULL refuses models
     * with external data (the in-memory entry point has no folder). */
    const char *base_dir;
    /* Fixes the input's C, H, W where the model leaves them symbolic (or
     * overrides them); 0 keeps the model's value. */
    int64_t input_chw[3];
    /* The graph's name: in the YAML; NULL derives it from origin. */
    const char *graph_name;
} cnn_onnx_import_options;

/* The result of an import: the graph as YAML text and its weights. */
typedef struct cnn_onnx_imported cnn_onnx_imported;

/* Translates a model held in memory (the fuzzing entry point): nothing is
 * read from disk unless options->base_dir allows external data. On failure
 * *out is NULL and ctx holds the message. data is only read. */
cnn_status cnn_onnx_import_buffer(cnn_context *ctx, const void *data,
                                  size_t size,
                                  const cnn_onnx_import_options *options,
                                  cnn_onnx_imported **out);
/* Reads path (size-checked) and translates it; external data is looked up
 * next to it. options may be NULL. */
cnn_status cnn_onnx_import_file(cnn_context *ctx, const char *path,
                                const cnn_onnx_import_options *options,
                                cnn_onnx_imported **out);
void cnn_onnx_imported_destroy(cnn_onnx_imported *imported);

/* The YAML text (NUL-terminated, owned by imported). */
const char *cnn_onnx_imported_yaml(const cnn_onnx_imported *imported,
                                   size_t *length);
/* The weights, "<layer>.<param>" in PyTorch's layouts, owned by imported. */
const cnn_named_tensor *cnn_onnx_imported_tensors(
    const cnn_onnx_imported *imported, size_t *count);
size_t cnn_onnx_imported_layer_count(const cnn_onnx_imported *imported);

/* Writes the YAML and the safetensors file, each atomically. */
cnn_status cnn_onnx_imported_save(cnn_context *ctx,
                                  const cnn_onnx_imported *imported,
                                  const char *graph_path,
                                  const char *weights_path);

typedef struct cnn_onnx_export_options {
    int opset; /* 0: CNN_ONNX_EXPORT_DEFAULT_OPSET */
} cnn_onnx_export_options;

/* Serialises graph with the values in params as an ONNX model with a
 * symbolic batch dimension "N": input "input" [N, C, H, W], output "output".
 * A layer type without an ONNX mapping (a third-party plugin) is an error
 * naming the layer and its type. *bytes is malloc'd; free() it. */
cnn_status cnn_onnx_export_buffer(cnn_context *ctx, const cnn_graph *graph,
                                  cnn_params *params,
                                  const cnn_onnx_export_options *options,
                                  uint8_t **bytes, size_t *size);
/* The same, written atomically to path. */
cnn_status cnn_onnx_export_file(cnn_context *ctx, const cnn_graph *graph,
                                cnn_params *params,
                                const cnn_onnx_export_options *options,
                                const char *path);

/* The ONNX ops the importer maps, comma-separated (for messages, --help). */
const char *cnn_onnx_supported_ops(void);

#ifdef __cplusplus
}
#endif
#endif
