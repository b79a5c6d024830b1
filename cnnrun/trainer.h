/* SPDX-License-Identifier: MIT */
/* The training loop behind `cnnrun train`. */
#ifndef CNNRUN_TRAINER_H
#define CNNRUN_TRAINER_H

#include "cnn/context.h"
#include "train_config.h"

/* Trains graph_path with cfg; returns a cnnrun exit code after printing
 * what went wrong. */
int trainer_run(cnn_context *ctx, const char *graph_path, train_config *cfg,
                int quiet);

#endif
