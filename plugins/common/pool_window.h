/* SPDX-License-Identifier: MIT */
/* What maxpool and avgpool share: their hyperparameters' order and the
 * window geometry (PyTorch's floor mode, padding at most half the window).
 * Header-only, so each plugin stays one self-contained shared object. */
#ifndef CNN_PLUGINS_POOL_WINDOW_H
#define CNN_PLUGINS_POOL_WINDOW_H

#include <stdint.h>

#include "cnn/layer.h"

/* Both pools declare size, stride, padding in this order. */
enum { HP_SIZE, HP_STRIDE, HP_PADDING };

typedef struct pool_geom {
    int64_t h, w, kh, kw, sh, sw, ph, pw, oh, ow;
} pool_geom;

static inline cnn_status pool_geometry(const char *type,
                                       const cnn_hparam_value *hp,
                                       const cnn_shape *in, pool_geom *g,
                                       cnn_errbuf *err)
{
    if (in->rank != 4)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s needs a rank-4 NCHW input, got rank %d",
                              type, (int)in->rank);
    if (in->dims[0] < 0 || in->dims[1] < 1 || in->dims[2] < 1 ||
        in->dims[3] < 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s input [%lld, %lld, %lld, %lld] has an "
                              "empty dimension",
                              type,
                              (long long)in->dims[0], (long long)in->dims[1],
                              (long long)in->dims[2], (long long)in->dims[3]);
    g->h = in->dims[2];
    g->w = in->dims[3];
    g->kh = hp[HP_SIZE].i[0];
    g->kw = hp[HP_SIZE].i[1];
    g->sh = hp[HP_STRIDE].i[0] ? hp[HP_STRIDE].i[0] : g->kh;
    g->sw = hp[HP_STRIDE].i[1] ? hp[HP_STRIDE].i[1] : g->kw;
    g->ph = hp[HP_PADDING].i[0];
    g->pw = hp[HP_PADDING].i[1];
    if (g->ph > g->kh / 2 || g->pw > g->kw / 2)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s padding %lldx%lld is more than half "
                              "the window %lldx%lld",
                              type,
                              (long long)g->ph, (long long)g->pw,
                              (long long)g->kh, (long long)g->kw);
    g->oh = cnn_window_out(g->h, g->kh, g->sh, g->ph);
    g->ow = cnn_window_out(g->w, g->kw, g->sw, g->pw);
    if (g->oh < 1 || g->ow < 1) {
        if (g->ph == g->pw)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "window %lldx%lld does not fit input "
                                  "%lldx%lld with padding %lld",
                                  (long long)g->kh, (long long)g->kw,
                                  (long long)g->h, (long long)g->w,
                                  (long long)g->ph);
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "window %lldx%lld does not fit input %lldx%lld "
                              "with padding %lldx%lld",
                              (long long)g->kh, (long long)g->kw,
                              (long long)g->h, (long long)g->w,
                              (long long)g->ph, (long long)g->pw);
    }
    return CNN_OK;
}

static inline cnn_status pool_infer_shape(const char *type,
                                          const cnn_hparam_value *hp,
                                          const cnn_shape *inputs,
                                          uint32_t n_inputs, cnn_shape *output,
                                          cnn_errbuf *err)
{
    pool_geom g = {0};
    cnn_status st;

    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s takes 1 input, got %u", type, n_inputs);
    st = pool_geometry(type, hp, &inputs[0], &g, err);
    if (st != CNN_OK)
        return st;
    *output = cnn_shape4(inputs[0].dims[0], inputs[0].dims[1], g.oh, g.ow);
    return CNN_OK;
}

#endif
