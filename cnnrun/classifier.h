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

/* The pieces classifier_evaluate is made of, for splitting the work across
 * processes (dist/dist_eval.c) with the same result as one process. */
typedef struct eval_part {
    eval_result result; /* count and confusion accumulate here */
    double *batch_loss; /* per batch evaluated: mean loss x images */
    size_t top1, top5;  /* hits */
} eval_part;

/* Batches of `batch` images in dataset order. */
size_t classifier_batch_count(const cnn_dataset *ds, size_t batch);
/* Zeroed result with a confusion matrix for head's classes. */
cnn_status eval_result_init(cnn_context *ctx, const classifier_head *head,
                            eval_result *result);
/* Evaluates batches first_batch .. first_batch + n_batches - 1, writing
 * part->batch_loss[0 .. n_batches-1] and adding to the rest of part. */
cnn_status classifier_evaluate_batches(cnn_context *ctx, const cnn_graph *graph,
                                       cnn_params *params, const classifier_head *head,
                                       const cnn_dataset *ds, size_t batch,
                                       size_t first_batch, size_t n_batches,
                                       eval_part *part);
/* Mean loss (batch losses added in order), top-1 and top-5 from counts. */
void eval_result_finish(eval_result *result, const double *batch_loss,
                        size_t n_batches, size_t top1, size_t top5);

#endif
