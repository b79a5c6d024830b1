/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "data_options.h"
#include "nonfinite.h"
#include "cnn/train.h"

cnn_status classifier_head_find(cnn_context *ctx, const cnn_graph *graph,
                                classifier_head *head)
{
    cnn_layer_info out;
    memset(head, 0, sizeof *head);
    head->output_layer = cnn_graph_output_layer(graph);
    head->logits_layer = head->output_layer;
    cnn_graph_layer_info(graph, head->output_layer, &out);
    if ((out.descriptor->flags & CNN_LAYER_FLAG_PROBABILITIES) &&
        out.n_inputs == 1 && out.inputs[0] >= 0) {
        head->fused_softmax = 1;
        head->logits_layer = (size_t)out.inputs[0];
    }
    if (out.output_shape.rank != 2 || out.output_shape.dims[1] < 1)
        return cnn_context_fail(ctx, CNN_ERR_GRAPH,
                                "%s: the output layer '%s' must give [N, classes] "
                                "scores to train or evaluate a classifier",
                                cnn_graph_path(graph), out.name);
    head->classes = out.output_shape.dims[1];
    {
        /* Declared names that do not fit the outputs would name the wrong
         * class on every prediction. */
        size_t declared = cnn_graph_class_count(graph);
        if (declared && (int64_t)declared != head->classes) {
            char list[400] = "";
            size_t used = 0, i;
            for (i = 0; i < declared && used + 80 < sizeof list; i++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s'%.60s'",
                                         i ? ", " : "", cnn_graph_class_name(graph, i));
            if (i < declared)
                snprintf(list + used, sizeof list - used, ", ...");
            return cnn_context_fail(ctx, CNN_ERR_GRAPH,
                                    "%s: input classes names %zu classes (%s) but "
                                    "the output layer '%s' gives %lld scores",
                                    cnn_graph_path(graph), declared, list, out.name,
                                    (long long)head->classes);
        }
    }
    return CNN_OK;
}

cnn_status classifier_check_data(cnn_context *ctx, const cnn_graph *graph,
                                 const classifier_head *head,
                                 const cnn_dataset *ds)
{
    size_t n = cnn_dataset_size(ds);
    const int32_t *labels = cnn_dataset_labels(ds);
    if ((int64_t)cnn_dataset_class_count(ds) > head->classes)
        return cnn_context_fail(ctx, CNN_ERR_SHAPE,
                                "%s has %zu classes but graph '%s' outputs %lld",
                                cnn_dataset_spec(ds), cnn_dataset_class_count(ds),
                                cnn_graph_name(graph), (long long)head->classes);
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= head->classes)
            return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                    "%s: item %zu has label %d, outside the "
                                    "graph's %lld classes",
                                    cnn_dataset_spec(ds), i, labels[i],
                                    (long long)head->classes);
    if (n == 0)
        return cnn_context_fail(ctx, CNN_ERR_FORMAT, "%s: the dataset is empty",
                                cnn_dataset_spec(ds));
    return CNN_OK;
}

static int in_top_k(const float *z, int64_t classes, int32_t label, int k)
{
    int above = 0;
    for (int64_t c = 0; c < classes; c++)
        if (z[c] > z[label] || (z[c] == z[label] && c < label))
            above++;
    return above < k;
}

cnn_status eval_result_init(cnn_context *ctx, const classifier_head *head,
                            eval_result *r)
{
    memset(r, 0, sizeof *r);
    r->classes = head->classes;
    r->confusion = calloc((size_t)(head->classes * head->classes), sizeof *r->confusion);
    if (!r->confusion)
        return cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    return CNN_OK;
}

cnn_status classifier_evaluate_batches(cnn_context *ctx, const cnn_graph *graph,
                                       cnn_params *params, const classifier_head *head,
                                       const cnn_dataset *ds, size_t batch,
                                       size_t first_batch, size_t n_batches,
                                       eval_part *part)
{
    cnn_exec *ex = NULL;
    cnn_loader *loader = NULL;
    cnn_loader_options lo;
    /* The weights stay while this executor lives (it is made per call). */
    cnn_exec_options eo = {(int64_t)batch, 0, (int32_t)head->logits_layer, 1};
    eval_result *r = &part->result;
    cnn_status st;

    if (n_batches == 0)
        return CNN_OK;
    cnn_loader_options_init(&lo);
    lo.batch = batch;
    lo.mean = cnn_graph_input_mean(graph);
    lo.std = cnn_graph_input_std(graph);
    data_options_apply(&lo, ds, cnn_context_threads(ctx));
    st = cnn_loader_create(ctx, ds, &lo, &loader);
    if (st == CNN_OK)
        st = cnn_exec_create(ctx, graph, params, &eo, &ex);
    if (st == CNN_OK)
        st = cnn_loader_set_position(loader, 0, first_batch);
    for (size_t b = 0; st == CNN_OK && b < n_batches; b++) {
        cnn_tensor images;
        const int32_t *labels;
        size_t n;
        const cnn_tensor *logits;
        st = cnn_loader_next(loader, &images, &labels, &n);
        if (st != CNN_OK || n == 0)
            break;
        st = cnn_exec_forward(ex, &images, 0, 0, head->logits_layer);
        if (st != CNN_OK)
            break;
        logits = cnn_exec_output(ex, head->logits_layer);
        {
            /* A NaN score would make a meaningless loss and accuracy. */
            nonfinite_count bad = nonfinite_scan(logits->data, n * (size_t)head->classes);
            if (bad.nan || bad.inf) {
                char where[768];
                size_t item = first_batch * batch + r->count;
                const char *path = cnn_dataset_item_path(ds, item);
                nonfinite_locate(ctx, graph, params, &images, head->logits_layer,
                                 where, sizeof where);
                st = cnn_context_fail(ctx, CNN_ERR_INVALID,
                                      "graph '%s' gives scores that are not finite "
                                      "for %s item %zu%s%s%s: %s",
                                      cnn_graph_name(graph), cnn_dataset_spec(ds),
                                      item, path ? " (" : "", path ? path : "",
                                      path ? ")" : "", where);
                break;
            }
        }
        part->batch_loss[b] = cnn_softmax_xent(logits->data, labels, (int64_t)n,
                                               head->classes, NULL, NULL) * (double)n;
        for (size_t i = 0; i < n; i++) {
            const float *z = logits->data + i * (size_t)head->classes;
            int64_t best = 0;
            for (int64_t c = 1; c < head->classes; c++)
                if (z[c] > z[best])
                    best = c;
            r->confusion[labels[i] * head->classes + best]++;
            part->top1 += best == labels[i];
            part->top5 += in_top_k(z, head->classes, labels[i], 5);
        }
        r->count += n;
    }
    cnn_exec_destroy(ex);
    cnn_loader_destroy(loader);
    return st;
}

void eval_result_finish(eval_result *r, const double *batch_loss,
                        size_t n_batches, size_t top1, size_t top5)
{
    double loss_sum = 0.0;
    /* Batch after batch, as one process adds them. */
    for (size_t b = 0; b < n_batches; b++)
        loss_sum += batch_loss[b];
    r->loss = r->count ? loss_sum / (double)r->count : NAN;
    r->top1 = r->count ? (double)top1 / (double)r->count : 0.0;
    r->top5 = r->count ? (double)top5 / (double)r->count : 0.0;
}

size_t classifier_batch_count(const cnn_dataset *ds, size_t batch)
{
    return (cnn_dataset_size(ds) + batch - 1) / batch;
}

cnn_status classifier_evaluate(cnn_context *ctx, const cnn_graph *graph,
                               cnn_params *params, const classifier_head *head,
                               const cnn_dataset *ds, size_t batch,
                               eval_result *r)
{
    size_t n_batches = classifier_batch_count(ds, batch);
    eval_part part;
    cnn_status st;

    memset(&part, 0, sizeof part);
    st = eval_result_init(ctx, head, &part.result);
    part.batch_loss = calloc(n_batches + 1, sizeof *part.batch_loss);
    if (st == CNN_OK && !part.batch_loss)
        st = cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    if (st == CNN_OK)
        st = classifier_evaluate_batches(ctx, graph, params, head, ds, batch, 0,
                                         n_batches, &part);
    if (st == CNN_OK)
        eval_result_finish(&part.result, part.batch_loss, n_batches, part.top1,
                           part.top5);
    free(part.batch_loss);
    if (st != CNN_OK) {
        eval_result_free(&part.result);
        memset(r, 0, sizeof *r);
        return st;
    }
    *r = part.result;
    return CNN_OK;
}

void eval_result_free(eval_result *r)
{
    free(r->confusion);
    r->confusion = NULL;
}
