/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nonfinite.h"

nonfinite_count nonfinite_scan(const float *x, size_t n)
{
    nonfinite_count c = {0, 0};
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            c.nan++;
        else if (isinf(x[i]))
            c.inf++;
    }
    return c;
}

/* Appends the first of the layer's parameters that is not finite, the
 * likeliest cause (broken or diverged weights). */
static void describe_params(cnn_params *params, size_t layer, char *msg,
                            size_t size)
{
    size_t count = 0, first = cnn_params_layer_first(params, layer, &count);
    size_t used = strlen(msg);
    for (size_t i = first; i < first + count; i++) {
        const cnn_tensor *t = cnn_params_value(params, i);
        nonfinite_count c = nonfinite_scan(t->data, cnn_shape_numel(&t->shape));
        if (c.nan || c.inf) {
            snprintf(msg + used, size - used,
                     "; its parameter '%s' holds %zu NaN and %zu infinite values",
                     cnn_params_name(params, i), c.nan, c.inf);
            return;
        }
    }
}

int nonfinite_describe(const cnn_graph *graph, cnn_params *params,
                       const cnn_exec *exec, size_t until, char *msg,
                       size_t size)
{
    for (size_t l = 0; l <= until && l < cnn_graph_layer_count(graph); l++) {
        const cnn_tensor *out = cnn_exec_output(exec, l);
        nonfinite_count c;
        cnn_layer_info info;
        if (!out || !out->data)
            continue;
        c = nonfinite_scan(out->data, cnn_shape_numel(&out->shape));
        if (!c.nan && !c.inf)
            continue;
        cnn_graph_layer_info(graph, l, &info);
        /* A layer that ran in place shows the output it overwrote too:
         * name the bottom of the chain, whose parameters are the suspects,
         * and the layer where it was seen. */
        size_t k = l;
        int32_t below;
        while ((below = cnn_exec_in_place_input(exec, k)) >= 0)
            k = (size_t)below;
        if (k != l) {
            cnn_layer_info bottom;
            cnn_graph_layer_info(graph, k, &bottom);
            snprintf(msg, size,
                     "layer '%s' (%s) is the first whose output is not finite, "
                     "or '%s' (%s), which ran in place over that output "
                     "(%zu NaN, %zu infinite of %lld values)",
                     bottom.name, bottom.type, info.name, info.type, c.nan,
                     c.inf, (long long)cnn_shape_numel(&out->shape));
        } else
            snprintf(msg, size,
                     "layer '%s' (%s) is the first whose output is not finite "
                     "(%zu NaN, %zu infinite of %lld values)",
                     info.name, info.type, c.nan, c.inf,
                     (long long)cnn_shape_numel(&out->shape));
        if (params)
            describe_params(params, k, msg, size);
        return 1;
    }
    snprintf(msg, size, "every layer's output is finite");
    return 0;
}

int nonfinite_locate(cnn_context *ctx, const cnn_graph *graph,
                     cnn_params *params, const cnn_tensor *input,
                     size_t until, char *msg, size_t size)
{
    cnn_exec *ex = NULL;
    cnn_exec_options eo = {input->shape.dims[0], 0, CNN_EXEC_KEEP_ALL, 0};
    int found = 0;
    /* Every output kept and none overwritten in place (relu over conv2's
     * output would hide which of the two went non-finite first). */
    if (cnn_exec_create(ctx, graph, params, &eo, &ex) != CNN_OK ||
        cnn_exec_forward(ex, input, 0, 0, until) != CNN_OK)
        snprintf(msg, size, "the layer could not be found (%s)",
                 cnn_context_message(ctx));
    else
        found = nonfinite_describe(graph, params, ex, until, msg, size);
    cnn_exec_destroy(ex);
    return found;
}
