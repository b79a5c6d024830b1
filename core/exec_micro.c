/* SPDX-License-Identifier: MIT */
/* Where an inference executor stops running image by image (exec_micro.h
 * says why it does). */
#include "exec_micro.h"

#include <stdlib.h>

#ifndef MICRO_BYTES
#define MICRO_BYTES ((uint64_t)8 << 20)
#endif

uint64_t cnn_micro_bytes(void)
{
    const char *v = getenv("CNN_EXEC_MICROBATCH_BYTES");
    if (v && *v) {
        char *end;
        unsigned long long b = strtoull(v, &end, 10);
        if (*end == '\0')
            return b;
    }
    return MICRO_BYTES;
}

static size_t weight_floats(cnn_params *params, size_t l)
{
    size_t count, total = 0;
    size_t first = cnn_params_layer_first(params, l, &count);
    for (size_t i = first; i < first + count; i++)
        total += (size_t)cnn_shape_numel(&cnn_params_value(params, i)->shape);
    return total;
}

/* Multiply-adds per output value below which a layer is bound by the
 * memory its input and output take, not by its arithmetic (this machine:
 * 116 GFLOP/s against 25-30 GB/s). */
#ifndef MICRO_MACS_PER_OUTPUT
#define MICRO_MACS_PER_OUTPUT 32
#endif

/* Whether layer l's pass is bound by memory: its weights (its producer's
 * if it is folded into one, as VGG's relu after a conv) per output
 * channel are few, MobileNetV2's pointwise and depthwise layers, not
 * VGG's 3x3 ones, which would read their weights again for each image
 * and gain nothing from the cache. A layer without weights (pooling, add)
 * follows its first input's producer. */
static int memory_bound(const cnn_layer_info *info, cnn_params *params,
                        const cnn_fusion *fusion, size_t l)
{
    for (;;) {
        size_t by = fusion->fused_into && fusion->fused_into[l] >= 0
                        ? (size_t)fusion->fused_into[l]
                        : l;
        size_t w = weight_floats(params, by);
        int64_t channels = info[by].output_shape.dims[1];
        if (w > 0)
            return channels > 0 &&
                   w / (size_t)channels < MICRO_MACS_PER_OUTPUT;
        if (info[by].n_inputs == 0 || info[by].inputs[0] < 0)
            return 1;
        l = (size_t)info[by].inputs[0];
    }
}

/* Whether c ends its folded chain, or is in none. */
static int chain_ends_at(const cnn_fusion *fusion, size_t c)
{
    int32_t p;
    if (!fusion->chain_end)
        return 1;
    if (fusion->chain_end[c] >= 0 && fusion->chain_end[c] != (int32_t)c)
        return 0; /* a producer whose followers come after it */
    p = fusion->fused_into[c];
    return p < 0 || fusion->chain_end[p] == (int32_t)c;
}

int64_t cnn_micro_cut(const cnn_layer_info *info, size_t n,
                      size_t output_layer, const size_t *sample_floats,
                      int64_t batch, cnn_params *params,
                      const cnn_fusion *fusion, uint64_t limit)
{
    int64_t large = -1, cut = -1;
    size_t reach = 0; /* the last reader of the input or of an output
                         older than the candidate's */
    size_t *last = calloc(n, sizeof *last); /* per layer: its last reader */
    if (!last)
        return -1;
    for (size_t l = 0; l < n; l++) {
        uint64_t bytes =
            (uint64_t)sample_floats[l] * (uint64_t)batch * sizeof(float);
        /* Over the batch past the threshold, one image's within it. */
        if (bytes > limit && sample_floats[l] * sizeof(float) <= limit &&
            memory_bound(info, params, fusion, l))
            large = (int64_t)l;
        for (uint32_t j = 0; j < info[l].n_inputs; j++) {
            int32_t k = info[l].inputs[j];
            if (k < 0)
                reach = l > reach ? l : reach;
            else
                last[k] = l;
        }
    }
    for (size_t c = 0; large >= 0 && c <= output_layer && c < n; c++) {
        if (c > 0 && last[c - 1] > reach)
            reach = last[c - 1];
        if ((int64_t)c >= large && reach <= c && chain_ends_at(fusion, c)) {
            cut = (int64_t)c;
            break;
        }
    }
    free(last);
    return cut;
}
