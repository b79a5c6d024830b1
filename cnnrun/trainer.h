/* SPDX-License-Identifier: MIT */
/* The training loop behind `cnnrun train`. */
#ifndef CNNRUN_TRAINER_H
#define CNNRUN_TRAINER_H

#include "cnn/context.h"
#include "dist/comm.h"
#include "train_config.h"

/* Trains graph_path with cfg; returns a cnnrun exit code after printing
 * what went wrong. With comm (NULL: one process), as one rank of a
 * data-parallel job: this rank's share of every batch, gradients summed
 * over the ranks, and only rank 0 prints and writes files. */
int trainer_run(cnn_context *ctx, const char *graph_path, train_config *cfg,
                int quiet, dist_comm *comm);

#endif
