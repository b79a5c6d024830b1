/* SPDX-License-Identifier: MIT */
/* Image by image through the large early layers (inference).
 *
 * At batch N an early layer's output is N times one image's: MobileNetV2's
 * 96 x 112 x 112 at batch 8 is 38 MiB, past the last-level cache, so each
 * layer writes its output to memory and the next reads it back. One image
 * at a time, those outputs stay in cache from one layer to the next. An
 * inference executor of batch > 1 therefore runs its layers up to a cut
 * through a batch-1 executor of the same graph, image by image, and copies
 * the cut's output into its own buffer (core/exec.c); the layers after the
 * cut, whose outputs are small, run batched (a dense layer reads its
 * weights once for the whole batch).
 *
 * A cut is a layer c after which nothing reads the input or an output
 * older than c's, and not inside a folded chain. The cut taken is the
 * first one at or after the last large layer: one whose output over the
 * batch exceeds the threshold while one image's does not, and whose pass
 * is bound by memory rather than arithmetic (few weights per output
 * channel: MobileNetV2's pointwise and depthwise layers, not VGG-16's 3x3
 * ones, which gain nothing from the cache and lose their batched GEMMs;
 * VGG-16 at batch 8 was 2-5% slower with its first layer image by image). */
#ifndef CNN_EXEC_MICRO_H
#define CNN_EXEC_MICRO_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/graph.h"
#include "cnn/params.h"
#include "exec_fuse.h"

/* Bytes of output over the batch above which a layer is large: 8 MiB, or
 * CNN_EXEC_MICROBATCH_BYTES from the environment. */
uint64_t cnn_micro_bytes(void);

/* The cut for layers info[0, n) (sample_floats: each one's output floats
 * per image; fusion: the executor's folded chains) at this batch, or -1
 * when no layer is large or no cut follows the last large one up to the
 * output layer. */
int64_t cnn_micro_cut(const cnn_layer_info *info, size_t n,
                      size_t output_layer, const size_t *sample_floats,
                      int64_t batch, cnn_params *params,
                      const cnn_fusion *fusion, uint64_t limit);

#endif
