/* SPDX-License-Identifier: MIT */
/* A graph seen as a classifier: where its logits are, how many classes it
 * has, and the evaluation that train and eval share. */
#ifndef CNNRUN_CLASSIFIER_H
#define CNNRUN_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/data.h"
#include "cnn/exec.h"
#include "cnn/graph.h"
#include "cnn/params.h"

typedef struct classifier_head {
    size_t logits_layer; /* the layer whose output are the logits */
    size_t output_layer; /* the graph's output */
    int fused_softmax;   /* output is a softmax over logits_layer */
    int64_t classes;
} classifier_head;

/* Finds the logits: the input of a final probability layer (softmax), or
 * the output itself. Fails when the output is not [N, classes]. */
cnn_status classifier_head_find(cnn_context *ctx, const cnn_graph *graph,
                                classifier_head *head);

/* Checks that the dataset's labels fit the graph's outputs. */
cnn_status classifier_check_data(cnn_context *ctx, const cnn_graph *graph,
                                 const classifier_head *head,
                                 const cnn_dataset *ds);

typedef struct eval_result {
    size_t count;
    double loss;
    double top1;
    double top5;
    int64_t classes;
    int64_t *confusion; /* classes x classes, row = true, column = predicted */
} eval_result;

/* Runs the dataset through the graph in inference mode, batch at a time. */
cnn_status classifier_evaluate(cnn_context *ctx, const cnn_graph *graph,
                               cnn_params *params, const classifier_head *head,
                               const cnn_dataset *ds, size_t batch,
                               eval_result *result);
void eval_result_free(eval_result *result);

#endif
