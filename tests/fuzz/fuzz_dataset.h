/* SPDX-License-Identifier: MIT */
/* What the dataset harnesses (IDX, images) check on a dataset that opened:
 * every item's sample, label and class name is read, so a dataset whose
 * sizes disagree with its buffers shows up under ASan. An in-memory
 * dataset's samples must all be there; a streamed one's are decoded here,
 * where a hostile file may fail, with a message and never a crash. */
#ifndef CNN_FUZZ_DATASET_H
#define CNN_FUZZ_DATASET_H

#include <stdint.h>
#include <stdlib.h>

#include "cnn/data.h"

/* Float samples are checked only up to this many values, so a large image
 * that the limits allow does not make the harness itself run out of
 * memory; the bytes of every sample are read whatever their size. */
#define FUZZ_MAX_FLOAT_SAMPLE ((size_t)1 << 20)

static inline void fuzz_dataset_walk(cnn_context *ctx, const cnn_dataset *ds)
{
    volatile float sink = 0.0f;
    cnn_shape s = cnn_dataset_sample_shape(ds);
    size_t n = cnn_shape_numel(&s);
    size_t count = cnn_dataset_size(ds);
    float *sample = n <= FUZZ_MAX_FLOAT_SAMPLE
                        ? malloc((n ? n : 1) * sizeof *sample)
                        : NULL;
    uint8_t *bytes = malloc(n ? n : 1);
    int streamed = cnn_dataset_streamed(ds);
    if (!bytes)
        abort();
    for (size_t i = 0; i < count; i++) {
        int32_t label = cnn_dataset_label(ds, i);
        if (cnn_dataset_sample_u8(ctx, ds, i, bytes) != CNN_OK) {
            if (!streamed || !cnn_context_message(ctx)[0])
                __builtin_trap(); /* in memory: every item has a sample */
            continue;
        }
        if (n)
            sink += (float)bytes[0] + (float)bytes[n - 1];
        if (sample && cnn_dataset_sample(ctx, ds, i, sample) != CNN_OK)
            __builtin_trap(); /* decoded once, decodes again */
        if (sample && n)
            sink += sample[0] + sample[n - 1];
        if (cnn_dataset_class_count(ds) &&
            (label < 0 || (size_t)label >= cnn_dataset_class_count(ds)))
            __builtin_trap(); /* documented: 0 <= label < class count */
    }
    for (size_t c = 0; c < cnn_dataset_class_count(ds); c++)
        sink += (float)cnn_dataset_class_name(ds, c)[0];
    (void)sink;
    free(bytes);
    free(sample);
}

#endif
