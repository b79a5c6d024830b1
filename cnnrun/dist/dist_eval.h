/* SPDX-License-Identifier: MIT */
/* Evaluation split across the ranks of a job: each rank runs a contiguous
 * run of whole batches, so every image meets the same batch as in one
 * process, and the pieces are put back together in batch order, so the
 * result equals one process's (the loss is added batch by batch). */
#ifndef CNNRUN_DIST_EVAL_H
#define CNNRUN_DIST_EVAL_H

#include <stddef.h>

#include "../classifier.h"
#include "comm.h"

/* The batches this rank handles out of n_batches: returns how many, from
 * *first. Without a job (c NULL): all of them. */
size_t dist_batch_range(const dist_comm *c, size_t n_batches, size_t *first);

/* The items (samples) that rank `rank` of `size` handles when n_items are
 * split into such runs of batches of `batch`: returns how many, from
 * *first. */
size_t dist_item_range(int rank, int size, size_t n_items, size_t batch, size_t *first);

/* classifier_evaluate over the job; every rank gets the whole result.
 * Collective: every rank calls it with the same dataset and batch. */
cnn_status dist_evaluate(dist_comm *c, cnn_context *ctx, const cnn_graph *graph,
                         cnn_params *params, const classifier_head *head,
                         const cnn_dataset *ds, size_t batch, eval_result *r);

/* Collective: returns 0 on every rank when status is CNN_OK on all, else 1
 * on every rank, after failing ranks said why (dist_say) and, on ranks
 * that did not fail, the context's message names the first failed rank. */
int dist_any_failed(dist_comm *c, cnn_context *ctx, const char *command,
                    cnn_status status);

#endif
