/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "dist_eval.h"

static size_t batch_range(size_t rank, size_t size, size_t n_batches, size_t *first)
{
    size_t end = n_batches * (rank + 1) / size;
    *first = n_batches * rank / size;
    return end - *first;
}

size_t dist_batch_range(const dist_comm *c, size_t n_batches, size_t *first)
{
    return batch_range(c ? (size_t)c->rank : 0, c ? (size_t)c->size : 1, n_batches,
                       first);
}

size_t dist_item_range(int rank, int size, size_t n_items, size_t batch, size_t *first)
{
    size_t first_batch, n = batch_range((size_t)rank, (size_t)size,
                                        (n_items + batch - 1) / batch, &first_batch);
    size_t end = (first_batch + n) * batch;
    *first = first_batch * batch;
    if (end > n_items)
        end = n_items;
    return end > *first ? end - *first : 0;
}

int dist_any_failed(dist_comm *c, cnn_context *ctx, const char *command,
                    cnn_status status)
{
    int32_t mine = status != CNN_OK, *all;
    int failed = -1;
    if (!dist_active(c))
        return mine;
    all = calloc((size_t)c->size, sizeof *all);
    if (!all) {
        dist_say(c, command, "out of memory");
        c->abort(c, 1);
        return 1;
    }
    if (mine && c->rank != 0)
        dist_say(c, command, "%s", cnn_context_message(ctx));
    c->allgather(c, &mine, all, sizeof mine);
    for (int r = 0; r < c->size && failed < 0; r++)
        if (all[r])
            failed = r;
    free(all);
    if (failed >= 0 && !mine)
        cnn_context_fail(ctx, CNN_ERR_INVALID, "rank %d failed (its message is above)",
                         failed);
    return failed >= 0;
}

typedef struct part_counts {
    uint64_t count, top1, top5, n_batches;
} part_counts;

cnn_status dist_evaluate(dist_comm *c, cnn_context *ctx, const cnn_graph *graph,
                         cnn_params *params, const classifier_head *head,
                         const cnn_dataset *ds, size_t batch, eval_result *r)
{
    size_t n_batches = classifier_batch_count(ds, batch), first, mine;
    size_t classes2 = (size_t)(head->classes * head->classes);
    size_t most = (n_batches + (size_t)(c ? c->size : 1) - 1) / (size_t)(c ? c->size : 1);
    part_counts counts, *all_counts = NULL;
    double *all_losses = NULL, *losses = NULL;
    int64_t *all_confusion = NULL;
    eval_part part;
    cnn_status st;

    if (!dist_active(c))
        return classifier_evaluate(ctx, graph, params, head, ds, batch, r);
    mine = dist_batch_range(c, n_batches, &first);
    memset(&part, 0, sizeof part);
    st = eval_result_init(ctx, head, &part.result);
    part.batch_loss = calloc(most + 1, sizeof *part.batch_loss);
    all_counts = calloc((size_t)c->size, sizeof *all_counts);
    all_losses = calloc((size_t)c->size * most + 1, sizeof *all_losses);
    losses = calloc(n_batches + 1, sizeof *losses);
    all_confusion = calloc((size_t)c->size * classes2, sizeof *all_confusion);
    if (st == CNN_OK && (!part.batch_loss || !all_counts || !all_losses || !losses ||
                         !all_confusion))
        st = cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    if (st == CNN_OK)
        st = classifier_evaluate_batches(ctx, graph, params, head, ds, batch, first,
                                         mine, &part);
    if (dist_any_failed(c, ctx, "eval", st)) {
        st = CNN_ERR_INVALID;
        goto done;
    }
    counts.count = part.result.count;
    counts.top1 = part.top1;
    counts.top5 = part.top5;
    counts.n_batches = mine;
    c->allgather(c, &counts, all_counts, sizeof counts);
    c->allgather(c, part.batch_loss, all_losses, most * sizeof *all_losses);
    c->allgather(c, part.result.confusion, all_confusion, classes2 * sizeof *all_confusion);
    {
        size_t top1 = 0, top5 = 0, b = 0;
        part.result.count = 0;
        memset(part.result.confusion, 0, classes2 * sizeof *part.result.confusion);
        for (int k = 0; k < c->size; k++) {
            part.result.count += all_counts[k].count;
            top1 += all_counts[k].top1;
            top5 += all_counts[k].top5;
            /* Ranks hold consecutive runs of batches: rank order is batch
             * order. */
            for (size_t j = 0; j < all_counts[k].n_batches; j++)
                losses[b++] = all_losses[(size_t)k * most + j];
            for (size_t i = 0; i < classes2; i++)
                part.result.confusion[i] += all_confusion[(size_t)k * classes2 + i];
        }
        eval_result_finish(&part.result, losses, b, top1, top5);
    }
    *r = part.result;
    part.result.confusion = NULL;
done:
    eval_result_free(&part.result);
    free(part.batch_loss);
    free(all_counts);
    free(all_losses);
    free(losses);
    free(all_confusion);
    return st;
}
