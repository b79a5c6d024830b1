/* SPDX-License-Identifier: MIT */
/* For the layers that work on whole channels of [N, C, ...] (slice,
 * channel_shuffle, concat): the shape check (rank 2..CNN_MAX_RANK, a batch
 * of 0 or more, every other dim at least 1; `who` names the layer in the
 * message) and the size of a channel plane. Header-only, so each plugin
 * stays one self-contained object. */
#ifndef CNN_PLUGIN_CHANNEL_SHAPE_H
#define CNN_PLUGIN_CHANNEL_SHAPE_H

#include "cnn/layer.h"

static inline cnn_status cnn_channel_shape_check(const char *who,
                                                 const cnn_shape *s,
                                                 cnn_errbuf *err)
{
    if (s->rank < 2 || s->rank > CNN_MAX_RANK)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: input rank %d, need 2..%d "
                              "(batch, channels, ...)",
                              who, (int)s->rank, CNN_MAX_RANK);
    if (s->dims[0] < 0)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: batch size %lld is negative", who,
                              (long long)s->dims[0]);
    for (int32_t i = 1; i < s->rank; i++)
        if (s->dims[i] < 1)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "%s: input dim %d is %lld, must be >= 1",
                                  who, (int)i, (long long)s->dims[i]);
    return CNN_OK;
}

/* Floats per channel plane: the product of the dims after dim 1. */
static inline size_t cnn_channel_plane(const cnn_shape *s)
{
    size_t p = 1;
    for (int32_t i = 2; i < s->rank; i++)
        p *= (size_t)s->dims[i];
    return p;
}

#endif
