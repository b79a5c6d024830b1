/* SPDX-License-Identifier: MIT */
/* A graph's parameters and their gradients, each in one contiguous array so
 * that initialising, saving and optimiser steps are single loops.
 *
 * Parameter i of the store is parameter j of some layer; its public name is
 * "<layer>.<param>" (e.g. "conv1.weight") in PyTorch's layout. */
#ifndef CNN_PARAMS_H
#define CNN_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"
#include "cnn/graph.h"
#include "cnn/io.h"
#include "cnn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnn_params cnn_params;

/* Allocates zeroed parameters and gradients for every layer of graph. The
 * graph must outlive the store. */
cnn_status cnn_params_create(cnn_context *ctx, const cnn_graph *graph,
                             cnn_params **out);
void cnn_params_destroy(cnn_params *params);

/* Draws every parameter from its declared rule, reproducibly from seed. */
void cnn_params_init(cnn_params *params, uint64_t seed);

/* How strictly a weights file must match the graph. */
#define CNN_PARAMS_EXACT 0u         /* every parameter, nothing else */
#define CNN_PARAMS_ALLOW_MISSING 1u /* parameters absent keep their values */
#define CNN_PARAMS_ALLOW_EXTRA 2u   /* tensors the graph lacks are ignored */

/* Loads tensors by name from a safetensors file. Shapes must match: a
 * mismatch names the tensor and both shapes. Everything is checked before
 * anything is copied, so a refused file changes nothing. *loaded (may be
 * NULL) receives how many tensors were taken. */
cnn_status cnn_params_load(cnn_context *ctx, cnn_params *params,
                           const char *path, unsigned flags, size_t *loaded);
/* The same from a file already read (see cnn/io.h). */
cnn_status cnn_params_load_file(cnn_context *ctx, cnn_params *params,
                                const cnn_tensor_file *file,
                                unsigned flags, size_t *loaded);
/* Saves every parameter (atomic write), with optional metadata pairs. */
cnn_status cnn_params_save(cnn_context *ctx, const cnn_params *params,
                           const char *path, const char *const *metadata,
                           size_t n_metadata);

size_t cnn_params_count(const cnn_params *params); /* tensors */
size_t cnn_params_numel(const cnn_params *params); /* floats in all tensors */
/* Name, value and gradient views of tensor i, owned by the store. */
const char *cnn_params_name(const cnn_params *params, size_t i);
cnn_tensor *cnn_params_value(cnn_params *params, size_t i);
cnn_tensor *cnn_params_grad(cnn_params *params, size_t i);
const cnn_param_spec *cnn_params_spec(const cnn_params *params, size_t i);
size_t cnn_params_layer(const cnn_params *params, size_t i);
/* Index of the named tensor, or -1. */
int64_t cnn_params_find(const cnn_params *params, const char *name);
/* All values and all gradients as flat arrays of cnn_params_numel floats,
 * tensor after tensor. */
float *cnn_params_data(cnn_params *params);
float *cnn_params_grad_data(cnn_params *params);
/* Tensor i's values, for layer-ordered access: the first index of layer l's
 * tensors and how many it has. */
size_t cnn_params_layer_first(const cnn_params *params, size_t layer,
                              size_t *count);
/* 1 when tensor i belongs to a trainable layer and is not a running
 * statistic (CNN_PARAM_STATE): the tensors the optimiser updates. */
int cnn_params_trainable(const cnn_params *params, size_t i);

#ifdef __cplusplus
}
#endif
#endif
