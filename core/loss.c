/* SPDX-License-Identifier: MIT */
/* Softmax cross-entropy, fused with its gradient p - onehot. */
#include <math.h>

#include "cnn/train.h"

double cnn_softmax_xent(const float *logits, const int32_t *labels, int64_t n,
                        int64_t classes, float *grad, int64_t *correct)
{
    double total = 0.0;
    int64_t hits = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *z = logits + i * classes;
        int32_t y = labels[i];
        float zmax = z[0];
        int64_t arg = 0;
        double sum = 0.0, lse;
        for (int64_t c = 1; c < classes; c++)
            if (z[c] > zmax) {
                zmax = z[c];
                arg = c;
            }
        for (int64_t c = 0; c < classes; c++)
            sum += exp((double)z[c] - (double)zmax);
        lse = (double)zmax + log(sum);
        total += lse - (double)z[y];
        hits += arg == y;
        if (grad) {
            float *g = grad + i * classes;
            for (int64_t c = 0; c < classes; c++) {
                double p = exp((double)z[c] - lse);
                g[c] = (float)((p - (c == y ? 1.0 : 0.0)) / (double)n);
            }
        }
    }
    if (correct)
        *correct = hits;
    return n ? total / (double)n : 0.0;
}
