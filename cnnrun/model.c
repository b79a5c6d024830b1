/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "model.h"

cnn_status model_open(cnn_context *ctx, const char *graph_path,
                      const char *weights_path, uint64_t seed, model *m)
{
    cnn_status st;
    const char *backbone;
    memset(m, 0, sizeof *m);
    st = cnn_graph_load(ctx, graph_path, &m->graph);
    if (st == CNN_OK)
        st = cnn_params_create(ctx, m->graph, &m->params);
    if (st != CNN_OK)
        goto fail;
    cnn_params_init(m->params, seed);
    backbone = cnn_graph_backbone_weights(m->graph);
    if (backbone && !weights_path) {
        size_t loaded = 0;
        st = cnn_params_load(ctx, m->params, backbone,
                             CNN_PARAMS_ALLOW_MISSING | CNN_PARAMS_ALLOW_EXTRA,
                             &loaded);
        if (st != CNN_OK)
            goto fail;
    }
    if (weights_path) {
        st = cnn_params_load(ctx, m->params, weights_path, CNN_PARAMS_EXACT,
                             NULL);
        if (st != CNN_OK)
            goto fail;
    }
    return CNN_OK;
fail:
    model_close(m);
    return st;
}

void model_close(model *m)
{
    cnn_params_destroy(m->params);
    cnn_graph_destroy(m->graph);
    memset(m, 0, sizeof *m);
}
