/* SPDX-License-Identifier: MIT */
/* Matching a dataset's classes to a model's outputs by name, so that a
 * dataset whose class folders come in another order, lack a class, or hold
 * one the model never learnt gives the right numbers or a clear error,
 * never a silently wrong accuracy. */
#ifndef CNNRUN_CLASS_MATCH_H
#define CNNRUN_CLASS_MATCH_H

#include <stddef.h>

#include "classifier.h"
#include "cnn/data.h"

/* The names of a model's outputs, borrowed from wherever they were found;
 * names[i] may be NULL or "" for an output without a name. */
typedef struct class_names {
    const char *const *names;
    size_t count;       /* entries in names (at most the output width) */
    const char *source; /* "graph lenet5.yaml", "weights w.safetensors" */
} class_names;

/* 1 when every name is its own index ("0", "1", ...): the class names of
 * IDX data, which say nothing, so such classes match by position. */
int class_names_are_numbers(const char *const *names, size_t count);

/* Relabels ds to the model's outputs (head->classes of them) and checks
 * it: by name when the model has names and neither side's names are bare
 * numbers, else by position. Refuses, naming the classes, a dataset class
 * the model does not know, more dataset classes than outputs, and (unless
 * allow_missing) a model output the dataset has no class for. model may
 * be NULL (no names known). */
cnn_status class_match_dataset(cnn_context *ctx, const classifier_head *head,
                               const cnn_graph *graph,
                               const class_names *model, cnn_dataset *ds,
                               int allow_missing);

#endif
