/* SPDX-License-Identifier: MIT */
/* Softmax cross-entropy, fused with its gradient p - onehot. */
#include <math.h>

#include "cnn/train.h"

/* log(sum exp z) of one row, shifted by its maximum so exp never
 * overflows; *arg gets the first largest entry. */
static double log_sum_exp(const float *z, int64_t classes, int64_t *arg)
{
    float zmax = z[0];
    double sum = 0.0;
    *arg = 0;
    for (int64_t c = 1; c < classes; c++)
        if (z[c] > zmax) {
            zmax = z[c];
            *arg = c;
        }
    for (int64_t c = 0; c < classes; c++)
        sum += exp((double)z[c] - (double)zmax);
    return (double)zmax + log(sum);
}

double cnn_softmax_xent(const float *logits, const int32_t *labels, int64_t n,
                        int64_t classes, float *grad, int64_t *correct)
{
    double total = 0.0;
    int64_t hits = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *z = logits + i * classes;
        int32_t y = labels[i];
        int64_t arg;
        double lse = log_sum_exp(z, classes, &arg);
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

double cnn_softmax_xent_ex(const float *logits, const int32_t *labels,
                           int64_t n, int64_t classes,
                           const float *class_weights, double smoothing,
                           float *grad, int64_t *correct)
{
    double total = 0.0, weight_sum = 0.0, w_all = 0.0;
    const double share = smoothing / (double)classes;
    int64_t hits = 0;
    if (!class_weights && smoothing == 0.0)
        return cnn_softmax_xent(logits, labels, n, classes, grad, correct);
    for (int64_t c = 0; c < classes; c++)
        w_all += class_weights ? (double)class_weights[c] : 1.0;
    for (int64_t i = 0; i < n; i++)
        weight_sum += class_weights ? (double)class_weights[labels[i]] : 1.0;
    for (int64_t i = 0; i < n; i++) {
        const float *z = logits + i * classes;
        int32_t y = labels[i];
        double wy = class_weights ? (double)class_weights[y] : 1.0;
        int64_t arg;
        double lse = log_sum_exp(z, classes, &arg), smooth = 0.0;
        for (int64_t c = 0; c < classes; c++)
            smooth += (class_weights ? (double)class_weights[c] : 1.0) * (lse - (double)z[c]);
        total += (1.0 - smoothing) * wy * (lse - (double)z[y]) + share * smooth;
        hits += arg == y;
        if (grad) {
            /* d(-log p_k)/dz_j = p_j - [j == k], summed with the weights:
             * (1-eps) w_y (p - onehot_y) + eps/C (p sum_c w_c - w). */
            float *g = grad + i * classes;
            for (int64_t c = 0; c < classes; c++) {
                double p = exp((double)z[c] - lse);
                double wc = class_weights ? (double)class_weights[c] : 1.0;
                double d = (1.0 - smoothing) * wy * (p - (c == y ? 1.0 : 0.0)) +
                           share * (p * w_all - wc);
                g[c] = (float)(d / weight_sum);
            }
        }
    }
    if (correct)
        *correct = hits;
    return n && weight_sum > 0 ? total / weight_sum : 0.0;
}
