/* SPDX-License-Identifier: MIT */
/* The shape check of the layers that work on whole channels of
 * [N, C, ...] (slice, channel_shuffle): rank 2..CNN_MAX_RANK, a batch of
 * 0 or more, every other dim at least 1. `who` names the layer in the
 * message. Header-only, so each plugin stays one self-contained object. */
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

#endif
