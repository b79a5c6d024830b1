/* SPDX-License-Identifier: MIT */
/* Inference-time fusion (plugin ABI 1.4): a layer whose inference forward
 * is a per-channel affine map and a clamp (batch norm, relu, relu6, clip;
 * cnn_epilogue) is folded into the layer below it when that one accepts an
 * epilogue (convolution, dense, add) and is its only reader: the layer
 * below applies the map while its output is still in cache, and the
 * follower's forward is skipped, its output being the same buffer. ONNX
 * Runtime and TensorRT fold batch norm into convolution weights instead;
 * an epilogue needs no second copy of the weights and works for any
 * producer, whatever its parameters, and costs one multiply-add per
 * output element that is already in a register or L1.
 *
 * Only the layer types are involved, through their descriptors: the core
 * knows nothing of batch norm or relu. */
#ifndef CNN_EXEC_FUSE_H
#define CNN_EXEC_FUSE_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"
#include "cnn/graph.h"
#include "cnn/layer.h"
#include "cnn/params.h"

typedef struct cnn_fusion {
    size_t n;
    int32_t *fused_into; /* per layer: the layer that applies it, or -1 */
    cnn_epilogue *epi;   /* per layer: a producer's composed epilogue */
    int32_t *chain_end;  /* per layer: a producer's last follower, or -1 */
    float *floats;       /* the producers' scale and shift arrays */
    float *scratch;      /* after them: room for one follower's */
    /* Per producer: a copy of its followers' parameters when its map was
     * last computed, so that a pass recomputes the map (a square root per
     * channel of every batch norm) only after the weights changed. */
    float *seen;
    size_t *seen_at;  /* per layer: offset in seen */
    int *seen_valid;  /* per layer: seen holds the map's inputs */
} cnn_fusion;

/* May the output of layer k be replaced by a follower's (one reader, not
 * kept for the caller)? Answered by the executor. */
typedef int (*cnn_fusion_free_fn)(void *user, size_t k);

/* Plans the chains for an inference executor. CNN_EXEC_NO_FUSION=1 in the
 * environment turns fusion off (A/B measurements, bisecting a plugin's
 * wrong epilogue). Only out of memory fails. */
cnn_status cnn_fusion_plan(cnn_context *ctx, cnn_fusion *f,
                           const cnn_layer_info *info, size_t n,
                           cnn_params *params, cnn_fusion_free_fn may_replace,
                           void *user);

/* Producer p's epilogue from its followers' current parameters: computed
 * again when they differ (bit for bit) from the last pass's, since weights
 * may have been loaded or trained in between. */
cnn_status cnn_fusion_refresh(cnn_context *ctx, cnn_fusion *f,
                              const cnn_layer_info *info, cnn_params *params,
                              size_t p);

void cnn_fusion_release(cnn_fusion *f);

#endif
