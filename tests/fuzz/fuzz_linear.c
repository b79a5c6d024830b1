/* SPDX-License-Identifier: MIT */
/* Linear models as `cnnrun linear eval` and `linear predict` read them:
 * linear_model_read_memory (cnnrun/linear_model.c, built into this
 * harness), then a model that loads scores a row, which reads every weight
 * and bias the reader promised. The same bytes also go through
 * linear_names_parse, the reader of class-name files (FEATURES.classes.json
 * beside a labels file, and a model's "classes" metadata). */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "linear_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void score(const linear_model *m)
{
    float *row = malloc(m->features * sizeof *row);
    double *scores = malloc(m->classes * sizeof *scores);
    volatile size_t sink;
    if (row && scores) {
        for (size_t i = 0; i < m->features; i++)
            row[i] = (float)(i % 7) - 3.0f;
        linear_model_scores(m, row, scores);
        sink = linear_model_argmax(scores, m->classes);
        if (sink >= m->classes)
            __builtin_trap(); /* argmax names a class */
        for (size_t c = 0; c < m->classes; c++)
            sink = (size_t)m->names[c][0];
        (void)sink;
    }
    free(row);
    free(scores);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cnn_context *ctx = fuzz_context();
    linear_model m;
    char **names = NULL;
    size_t n = 0;
    if (fuzz_ok(linear_model_read_memory(ctx, "fuzz.safetensors", data, size,
                                         &m))) {
        score(&m);
        linear_model_free(&m);
    }
    ctx = fuzz_context();
    if (fuzz_ok(linear_names_parse(ctx, "fuzz.classes.json", (const char *)data,
                                   size, &names, &n)))
        linear_names_free(names, n);
    return 0;
}
