/* SPDX-License-Identifier: MIT */
/* The tensor file as safetensors.c builds it, shared with
 * tensor_file_rename.c, which renames and drops its tensors in place. Not
 * for use elsewhere. */
#ifndef CNN_CORE_TENSOR_FILE_INTERNAL_H
#define CNN_CORE_TENSOR_FILE_INTERNAL_H

#include <stddef.h>

#include "cnn/io.h"

struct cnn_tensor_file {
    char *path;
    cnn_named_tensor *tensors; /* in data order */
    size_t count;
    char *names;  /* all names, NUL-separated; tensors[i].name points here */
    float *arena; /* all tensor data */
    /* Per tensor: 64 or 32 when it was an I64 or I32 tensor (a counter,
     * never a weight), else 0. */
    unsigned char *integer;
    char **meta; /* n_meta key, value pairs */
    size_t n_meta;
};

#endif
