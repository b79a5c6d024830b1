/* SPDX-License-Identifier: MIT */
/* Data-parallel gradient averaging for one training step, over any
 * dist_comm: the trainable gradients are cut into buckets (last layer
 * first, CNNRUN_BUCKET_KB each, default 256), and each bucket's sum starts
 * as soon as backward has passed below its lowest layer, while the layers
 * below still run (DDP's scheme).
 *
 * Each rank scales its loss gradient by its share of the global batch
 * (n_rank / n_global), so the plain sum of the ranks' gradients is the
 * gradient of the mean loss over the global batch. Running statistics
 * (batch norm) are averaged the same way, weighted by share, so every rank
 * keeps identical ones; a few per-step numbers (loss, hits) ride along. */
#ifndef CNNRUN_DIST_GRAD_SYNC_H
#define CNNRUN_DIST_GRAD_SYNC_H

#include <stddef.h>

#include "cnn/context.h"
#include "cnn/graph.h"
#include "cnn/params.h"
#include "comm.h"

typedef struct grad_sync grad_sync;

enum { GRAD_SYNC_MAX_STATS = 8 };

cnn_status grad_sync_create(cnn_context *ctx, dist_comm *comm,
                            const cnn_graph *graph, cnn_params *params,
                            grad_sync **out);
void grad_sync_destroy(grad_sync *s);

/* After forward, before backward: starts the sum of this rank's running
 * statistics times share and of n_stats (<= GRAD_SYNC_MAX_STATS) numbers. */
void grad_sync_begin_step(grad_sync *s, double share, const float *stats,
                          size_t n_stats);
/* For a rank with no samples in this step: zero gradients. */
void grad_sync_zero_grads(grad_sync *s);
/* cnn_exec_layer_hook: starts every bucket backward has finished. */
cnn_status grad_sync_layer_done(void *s, size_t layer);
/* After backward: starts what is left, waits for everything, and leaves
 * the summed gradients and averaged running statistics in the parameter
 * store and the summed stats in stats (GRAD_SYNC_MAX_STATS numbers; those
 * past begin_step's n_stats are 0). */
void grad_sync_finish(grad_sync *s, float *stats);

/* Running statistics that are the same on every rank already
 * (synchronised batch norm computes them from the whole batch): stop
 * averaging them, which only adds rounding. Call before the first step. */
void grad_sync_keep_state(grad_sync *s);

size_t grad_sync_bucket_count(const grad_sync *s);

#endif
