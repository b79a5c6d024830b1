/* SPDX-License-Identifier: MIT */
/* Finding where NaN or infinity first appears in a forward pass, so that
 * forward, eval, predict and train can say which layer broke instead of
 * printing "nan" or a meaningless accuracy with exit status 0. */
#ifndef CNNRUN_NONFINITE_H
#define CNNRUN_NONFINITE_H

#include <stddef.h>

#include "cnn/exec.h"
#include "cnn/graph.h"
#include "cnn/params.h"

/* Counts of the values of a float array that are NaN and infinite. */
typedef struct nonfinite_count {
    size_t nan, inf;
} nonfinite_count;

nonfinite_count nonfinite_scan(const float *x, size_t n);

/* Describes, into msg, the first layer (in run order, up to `until`) whose
 * output from the executor's last forward pass holds a NaN or infinite
 * value: "layer 'conv1' (conv) is the first whose output is not finite (6
 * NaN ...); its parameter 'conv1.weight' is not finite". The executor must
 * keep every output (one created for training). Returns 0 when every
 * output is finite (msg then says so). */
int nonfinite_describe(const cnn_graph *graph, cnn_params *params,
                       const cnn_exec *exec, size_t until, char *msg,
                       size_t size);

/* The same for an input that gave a non-finite result through an
 * inference executor: reruns it (n images) through one that keeps every
 * output. On an error of its own, msg says so. */
int nonfinite_locate(cnn_context *ctx, const cnn_graph *graph,
                     cnn_params *params, const cnn_tensor *input,
                     size_t until, char *msg, size_t size);

#endif
