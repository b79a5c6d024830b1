/* SPDX-License-Identifier: MIT */
/* The class names that go with a labels file: `cnnrun features` writes them
 * beside the labels (L.npy -> L.classes.json, a JSON array of names, label
 * i naming class i), and `cnnrun linear` reads them from there, so a linear
 * model stores the names of the classes it learnt. */
#ifndef CNNRUN_LINEAR_CLASSES_H
#define CNNRUN_LINEAR_CLASSES_H

#include <stddef.h>

#include "cnn/context.h"

/* "L.classes.json" for "L.npy" (or for "L": "L.classes.json"); malloc'd,
 * NULL when memory is exhausted. */
char *linear_classes_path(const char *labels_path);

/* Writes names atomically as a JSON array to path. */
cnn_status linear_classes_write(cnn_context *ctx, const char *path,
                                const char *const *names, size_t n);

/* Reads path (a regular file of at most 16 MiB) into *names. *found is 0,
 * with CNN_OK and nothing read, when path does not exist and missing_ok. */
cnn_status linear_classes_read(cnn_context *ctx, const char *path,
                               int missing_ok, char ***names, size_t *n,
                               int *found);

#endif
