/* SPDX-License-Identifier: MIT */
/* cnnrun's linear classifier file: a safetensors file we write and validate
 * ourselves, so LIBLINEAR's own text loader (which trusts its input) never
 * sees a file from outside.
 *
 * Tensors: "weight" [classes, features] and "bias" [classes], float32; the
 * score of class c for a row x is weight[c] . x + bias[c] (accumulated in
 * double), and the prediction is the class with the highest score (the
 * lowest index on a tie). __metadata__: "format" = "cnnrun.linear",
 * "format_version" = "1", "classes" (a JSON array of the class names, one
 * per weight row), "features" (the row width, decimal), "normalize"
 * ("true": rows scaled to unit L2 norm before scoring), and the settings
 * that made it: "solver", "C", "eps", "bias_term", "liblinear_version".
 *
 * Everything is checked before a model is returned: both tensors present,
 * nothing else, shapes agreeing with the class names and the feature
 * width, every number finite, names non-empty, distinct and at most
 * LINEAR_MAX_NAME bytes, sizes within the limits below. This file needs
 * only libcnn and jansson, so a fuzzer can build it alone. */
#ifndef CNNRUN_LINEAR_MODEL_H
#define CNNRUN_LINEAR_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"

#define LINEAR_FORMAT "cnnrun.linear"
#define LINEAR_FORMAT_VERSION "1"
/* Limits: 2^16 classes, 2^26 features per row, 2^28 weights (1 GiB). */
#define LINEAR_MAX_CLASSES 65536
#define LINEAR_MAX_FEATURES (1l << 26)
#define LINEAR_MAX_WEIGHTS (1l << 28)
#define LINEAR_MAX_NAME 255

typedef struct linear_model {
    size_t classes;
    size_t features;
    char **names;   /* classes entries, owned */
    float *weight;  /* classes x features, row-major, owned */
    float *bias;    /* classes, owned */
    int normalize;  /* scale rows to unit L2 norm before scoring */
    /* Provenance, kept as text ("l2r_lr", "1", ...); owned, may be NULL. */
    char *solver;
    char *C;
    char *eps;
    char *bias_term;
    char *liblinear_version;
} linear_model;

/* Allocates names (NULL entries), weight and bias (zeroed) for the sizes;
 * checks them against the limits. */
cnn_status linear_model_alloc(cnn_context *ctx, linear_model *m,
                              size_t classes, size_t features);
void linear_model_free(linear_model *m);

/* Reads and validates path. A LIBLINEAR text model (what cnnrun wrote
 * before) is refused with a message saying how to retrain. */
cnn_status linear_model_read(cnn_context *ctx, const char *path,
                             linear_model *out);

/* The same from bytes in memory (for fuzzers); label names the bytes in
 * messages. */
cnn_status linear_model_read_memory(cnn_context *ctx, const char *label,
                                    const void *data, size_t size,
                                    linear_model *out);

/* Writes m atomically (temporary file, fsync, rename). */
cnn_status linear_model_write(cnn_context *ctx, const char *path,
                              const linear_model *m);

/* Scores of one row (features floats) for every class, in scores
 * (classes doubles); the row is normalised first when the model says so. */
void linear_model_scores(const linear_model *m, const float *row,
                         double *scores);
/* Index of the highest score (the lowest index on a tie). */
size_t linear_model_argmax(const double *scores, size_t classes);

/* Class names as a JSON array of distinct strings of 1 to LINEAR_MAX_NAME
 * bytes (at most LINEAR_MAX_CLASSES): the model's "classes" metadata and
 * the names file beside a labels file. label names the source in
 * messages. *out is a new array of n new strings. */
cnn_status linear_names_parse(cnn_context *ctx, const char *label,
                              const char *text, size_t size, char ***out,
                              size_t *n);
void linear_names_free(char **names, size_t n);

#endif
