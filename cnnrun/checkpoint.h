/* SPDX-License-Identifier: MIT */
/* Training checkpoints: one safetensors file holding the parameters, the
 * optimiser state (prefixed "optim."), and in its metadata the position
 * (epoch, batch, step), the seed and hashes of the graph and settings. */
#ifndef CNNRUN_CHECKPOINT_H
#define CNNRUN_CHECKPOINT_H

#include <stdint.h>

#include "cnn/params.h"
#include "cnn/train.h"

typedef struct checkpoint_position {
    uint64_t epoch; /* the epoch to continue in */
    uint64_t batch; /* the next batch of that epoch */
    uint64_t step;  /* optimiser steps done */
    uint64_t seed;
    uint64_t graph_hash;
    uint64_t settings_hash;
    uint64_t ranks; /* processes of the data-parallel job that wrote it (1: one) */
    /* What early stopping, best.safetensors and the plateau schedule
     * remember between epochs (absent in older checkpoints: NAN / 0 / 1). */
    double best;          /* best monitored value so far */
    uint64_t best_epoch;  /* 1-based epoch it was reached in; 0: none */
    uint64_t wait;        /* epochs since then */
    double lr_scale;      /* plateau schedule multiplier */
    double plateau_best;
    uint64_t plateau_bad;
    /* The running sums of the epoch in progress, so that a run resumed
     * mid-epoch reports (and monitors) the whole epoch's mean, not the
     * mean of the batches since the resume. Zero at an epoch's start. */
    double epoch_loss_sum; /* sum over samples of the loss */
    uint64_t epoch_hits;   /* correct predictions */
    uint64_t epoch_seen;   /* samples */
} checkpoint_position;

/* What a checkpoint carries besides tensors and position. */
typedef struct checkpoint_extra {
    const char *classes;  /* JSON array of class names, or NULL */
    const char *settings; /* train_config_describe text, or NULL */
} checkpoint_extra;

/* A hash of the graph's structure: layer names, types and parameter
 * shapes. */
uint64_t checkpoint_graph_hash(const cnn_graph *graph);

cnn_status checkpoint_save(cnn_context *ctx, const char *path,
                           cnn_params *params, const cnn_optim *optim,
                           const checkpoint_position *pos,
                           const checkpoint_extra *extra);

/* Loads parameters and optimiser state; refuses a checkpoint of another
 * graph or other settings, naming the settings that differ from
 * extra->settings (the current ones). *classes (may be NULL) receives the
 * checkpoint's class names (model_read_class_names), *n_classes their
 * count. */
cnn_status checkpoint_load(cnn_context *ctx, const char *path,
                           cnn_params *params, cnn_optim *optim,
                           checkpoint_position *pos,
                           const checkpoint_extra *extra, char ***classes,
                           size_t *n_classes);

/* Writes into out the lines of two "key=value" texts that differ, as
 * "lr: 0.05 in the checkpoint, 0.1 now; ..." (empty when none). */
void checkpoint_diff_settings(const char *stored, const char *now, char *out,
                              size_t size);

/* Checks a loaded position against the run about to continue it: a batch
 * inside the epoch, the step count that position implies, and a position
 * no later than the end of the run's last epoch. The error names path and the numbers. */
cnn_status checkpoint_check_position(cnn_context *ctx, const char *path,
                                     const checkpoint_position *pos,
                                     uint64_t batches_per_epoch,
                                     uint64_t epochs);

#endif
