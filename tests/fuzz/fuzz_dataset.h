/* SPDX-License-Identifier: MIT */
/* What the dataset harnesses (IDX, images) check on a dataset that opened:
 * every item's sample, label and class name is read, so a dataset whose
 * sizes disagree with its buffers shows up under ASan. */
#ifndef CNN_FUZZ_DATASET_H
#define CNN_FUZZ_DATASET_H

#include <stdint.h>
#include <stdlib.h>

#include "cnn/data.h"

/* Float samples are checked only up to this many values, so a large image
 * that the limits allow does not make the harness itself run out of
 * memory; the bytes of every sample are read whatever their size. */
#define FUZZ_MAX_FLOAT_SAMPLE ((size_t)1 << 20)

static inline void fuzz_dataset_walk(const cnn_dataset *ds)
{
    volatile float sink = 0.0f;
    cnn_shape s = cnn_dataset_sample_shape(ds);
    size_t n = cnn_shape_numel(&s);
    size_t count = cnn_dataset_size(ds);
    float *sample = n <= FUZZ_MAX_FLOAT_SAMPLE
                        ? malloc((n ? n : 1) * sizeof *sample)
                        : NULL;
    for (size_t i = 0; i < count; i++) {
        int32_t label = cnn_dataset_label(ds, i);
        const uint8_t *bytes = cnn_dataset_sample_u8(ds, i);
        if (!bytes)
            __builtin_trap(); /* every item below the size has a sample */
        if (n)
            sink += (float)bytes[0] + (float)bytes[n - 1];
        if (sample && !cnn_dataset_sample(ds, i, sample))
            __builtin_trap();
        if (sample && n)
            sink += sample[0] + sample[n - 1];
        if (cnn_dataset_class_count(ds) &&
            (label < 0 || (size_t)label >= cnn_dataset_class_count(ds)))
            __builtin_trap(); /* documented: 0 <= label < class count */
    }
    for (size_t c = 0; c < cnn_dataset_class_count(ds); c++)
        sink += (float)cnn_dataset_class_name(ds, c)[0];
    (void)sink;
    free(sample);
}

#endif
