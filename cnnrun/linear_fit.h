/* SPDX-License-Identifier: MIT */
/* Training a linear model with LIBLINEAR, in memory: the rows go in as
 * LIBLINEAR's sparse nodes, and its trained model comes out as our
 * validated linear_model (LIBLINEAR's files are never written or read). */
#ifndef CNNRUN_LINEAR_FIT_H
#define CNNRUN_LINEAR_FIT_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"
#include "linear_model.h"

struct model;

typedef struct linear_fit_options {
    int solver;              /* LIBLINEAR's solver_type */
    const char *solver_name; /* stored in the model */
    double C;
    double eps;  /* 0: LIBLINEAR's default for the solver */
    double bias; /* LIBLINEAR's -B: < 0 for no bias term */
    int normalize;
} linear_fit_options;

/* The solver named name (l2r_lr, ...), or -1. names lists them all for
 * help and messages. */
int linear_solver_by_name(const char *name);
extern const char linear_solver_names[];

/* Trains on n rows of width floats with labels in [0, n_names) and stores
 * the names. Every class must have at least one row. */
cnn_status linear_fit(cnn_context *ctx, const float *rows, size_t n,
                      size_t width, const int32_t *labels,
                      const char *const *names, size_t n_names,
                      const linear_fit_options *opt, linear_model *out);

/* Copies LIBLINEAR's trained model into out, whose sizes (classes and
 * features) are already set by linear_model_alloc: the row of class k is
 * LIBLINEAR's decision function for label k, through its own accessors
 * (get_decfun_coef, get_decfun_bias), so two-class models come out as two
 * rows, w and -w. Fails when a coefficient does not fit a float. */
cnn_status linear_from_liblinear(cnn_context *ctx, const struct model *lm,
                                 linear_model *out);

#endif
