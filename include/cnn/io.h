/* SPDX-License-Identifier: MIT */
/* Tensor files: safetensors (named tensors, weights and checkpoints) and
 * NumPy .npy (one tensor, for cnnrun forward and features).
 *
 * Readers validate the whole file before the first tensor is read: header
 * size cap, JSON well-formed, dtype known, offsets contiguous from 0 with no
 * gap or overlap, bytes equal to shape times dtype size, no trailing bytes,
 * each name once. Writers write to a temporary file in the same folder,
 * fsync it and rename it over the target, so a crash leaves the old file. */
#ifndef CNN_IO_H
#define CNN_IO_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"
#include "cnn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest safetensors JSON header accepted. */
#define CNN_SAFETENSORS_MAX_HEADER (100u * 1024u * 1024u)
/* Most tensors in one safetensors file, counted before the JSON header is
 * parsed (VGG-16 has 32, large language models a few thousand). */
#define CNN_SAFETENSORS_MAX_TENSORS 65536u

typedef struct cnn_named_tensor {
    const char *name;
    cnn_tensor tensor;
} cnn_named_tensor;

/* A safetensors file read into memory; F32 data as is, F64, F16 and BF16
 * converted to float32; I64 and I32 too, but marked as integers. */
typedef struct cnn_tensor_file cnn_tensor_file;

cnn_status cnn_safetensors_read(cnn_context *ctx, const char *path,
                                cnn_tensor_file **out);
void cnn_tensor_file_destroy(cnn_tensor_file *file);
size_t cnn_tensor_file_count(const cnn_tensor_file *file);
/* Tensors in file order; owned by the file. */
const cnn_named_tensor *cnn_tensor_file_at(const cnn_tensor_file *file,
                                           size_t index);
/* NULL when absent. */
const cnn_named_tensor *cnn_tensor_file_find(const cnn_tensor_file *file,
                                             const char *name);
/* A __metadata__ string value, or NULL. */
const char *cnn_tensor_file_metadata(const cnn_tensor_file *file,
                                     const char *key);
const char *cnn_tensor_file_path(const cnn_tensor_file *file);
/* 64 or 32 when tensor (one of file's) was stored as I64 or I32: a counter
 * such as batch norm's num_batches_tracked, converted to float only to be
 * named; 0 for a float tensor. Parameters never load from one. */
int cnn_tensor_file_integer_bits(const cnn_tensor_file *file,
                                 const cnn_named_tensor *tensor);

/* Writes tensors as F32 in the given order. metadata is n_metadata pairs
 * of key and value strings, stored in __metadata__ (may be NULL). */
cnn_status cnn_safetensors_write(cnn_context *ctx, const char *path,
                                 const cnn_named_tensor *tensors,
                                 size_t n_tensors,
                                 const char *const *metadata,
                                 size_t n_metadata);

/* Reads a C-order .npy of float32 (float64, uint8, int32 and int64 are
 * converted; integers must be exact in float32, i.e. within 2^24).
 * out->data is malloc'd; the caller frees it with free(). */
cnn_status cnn_npy_read(cnn_context *ctx, const char *path, cnn_tensor *out);
/* Writes a float32 C-order .npy (version 1.0). */
cnn_status cnn_npy_write(cnn_context *ctx, const char *path,
                         const cnn_tensor *tensor);
/* Writes an int32 C-order 1-D .npy (labels). */
cnn_status cnn_npy_write_i32(cnn_context *ctx, const char *path,
                             const int32_t *values, size_t count);

#ifdef __cplusplus
}
#endif
#endif
