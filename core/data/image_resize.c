/* SPDX-License-Identifier: MIT */
/* Fitting decoded images to the sample geometry.
 *
 * Resizing is separable: each output coordinate along an axis is a short
 * list of (source index, weight) taps, computed once per axis. Shrinking
 * uses area weights (each source pixel weighs by how much of it the output
 * pixel covers), so thin lines survive downscaling instead of aliasing;
 * enlarging uses bilinear interpolation with half-pixel centers (PyTorch's
 * align_corners=False). Only the columns and rows the center crop keeps are
 * computed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

void cnn_data_place_centered(const uint8_t *src, int32_t rows, int32_t cols,
                             uint8_t *dst, int32_t channels, int32_t height,
                             int32_t width)
{
    /* Offsets of the source in the canvas: negative when the source is
     * larger, which crops it; odd differences put the extra row at the
     * bottom (and column at the right). */
    int32_t oy = (height - rows) / 2, ox = (width - cols) / 2;
    int32_t y0 = oy > 0 ? oy : 0, y1 = oy + rows < height ? oy + rows : height;
    int32_t x0 = ox > 0 ? ox : 0, x1 = ox + cols < width ? ox + cols : width;
    size_t plane = (size_t)height * (size_t)width;
    for (int32_t y = y0; y < y1; y++)
        memcpy(dst + (size_t)y * (size_t)width + (size_t)x0,
               src + (size_t)(y - oy) * (size_t)cols + (size_t)(x0 - ox),
               (size_t)(x1 - x0));
    for (int32_t c = 1; c < channels; c++)
        memcpy(dst + (size_t)c * plane, dst, plane);
}

/* The taps of one axis: out_len outputs, each taps[o * max_taps + k] with
 * index first[o] + k and weight weight[o * max_taps + k], count[o] taps. */
typedef struct axis_taps {
    int32_t max_taps;
    int32_t *first;
    int32_t *count;
    float *weight;
} axis_taps;

static void taps_free(axis_taps *t)
{
    free(t->first);
    free(t->count);
    free(t->weight);
}

/* src_len source pixels scaled to scaled_len, of which outputs
 * offset .. offset + out_len - 1 are kept. */
static int taps_build(axis_taps *t, int32_t src_len, int32_t scaled_len,
                      int32_t offset, int32_t out_len)
{
    double ratio = (double)src_len / (double)scaled_len; /* source per out */
    int shrink = scaled_len < src_len;
    t->max_taps = shrink ? (int32_t)ceil(ratio) + 1 : 2;
    t->first = malloc((size_t)out_len * sizeof *t->first);
    t->count = malloc((size_t)out_len * sizeof *t->count);
    t->weight = calloc((size_t)out_len * (size_t)t->max_taps,
                       sizeof *t->weight);
    if (!t->first || !t->count || !t->weight) {
        taps_free(t);
        return 0;
    }
    for (int32_t o = 0; o < out_len; o++) {
        double p = (double)(o + offset);
        float *w = t->weight + (size_t)o * (size_t)t->max_taps;
        if (shrink) {
            /* Output pixel p covers [p * ratio, (p + 1) * ratio). */
            double lo = p * ratio, hi = (p + 1) * ratio;
            int32_t i0 = (int32_t)floor(lo);
            int32_t i1 = (int32_t)ceil(hi);
            int32_t n = 0;
            if (i1 > src_len)
                i1 = src_len;
            for (int32_t i = i0; i < i1 && n < t->max_taps; i++) {
                double a = lo > i ? lo : i;
                double b = hi < i + 1 ? hi : i + 1;
                w[n++] = (float)((b - a) / ratio);
            }
            t->first[o] = i0;
            t->count[o] = n;
        } else {
            double u = (p + 0.5) * ratio - 0.5;
            int32_t i0;
            double f;
            if (u < 0)
                u = 0;
            if (u > src_len - 1)
                u = src_len - 1;
            i0 = (int32_t)floor(u);
            f = u - i0;
            t->first[o] = i0;
            if (i0 + 1 < src_len && f > 0) {
                t->count[o] = 2;
                w[0] = (float)(1 - f);
                w[1] = (float)f;
            } else {
                t->count[o] = 1;
                w[0] = 1.0f;
            }
        }
    }
    return 1;
}

/* The scaled size that just covers height x width, keeping the aspect
 * ratio: the binding axis gets the target exactly, the other is truncated
 * (as torchvision's Resize), which keeps it >= its target. */
static void cover_size(int32_t rows, int32_t cols, int32_t height,
                       int32_t width, int32_t *sh, int32_t *sw)
{
    if ((int64_t)width * rows >= (int64_t)height * cols) {
        *sw = width;
        *sh = (int32_t)((int64_t)rows * width / cols);
        if (*sh < height)
            *sh = height;
    } else {
        *sh = height;
        *sw = (int32_t)((int64_t)cols * height / rows);
        if (*sw < width)
            *sw = width;
    }
}

/* Scales rows x cols to sh x sw and keeps the centred height x width. */
static int resize_to(const uint8_t *src, int32_t rows, int32_t cols,
                     int32_t channels, uint8_t *dst, int32_t height,
                     int32_t width, int32_t sh, int32_t sw)
{
    int32_t y_lo, y_hi;
    axis_taps tx, ty;
    float *tmp;
    size_t plane = (size_t)height * (size_t)width;
    memset(&tx, 0, sizeof tx);
    memset(&ty, 0, sizeof ty);
    if (!taps_build(&tx, cols, sw, (sw - width) / 2, width))
        return 0;
    if (!taps_build(&ty, rows, sh, (sh - height) / 2, height)) {
        taps_free(&tx);
        return 0;
    }
    /* Horizontal pass over the source rows y_lo .. y_hi - 1 that the
     * vertical taps read, into (y_hi - y_lo) x width x channels. */
    y_lo = ty.first[0];
    y_hi = y_lo + 1;
    for (int32_t y = 0; y < height; y++) {
        if (ty.first[y] < y_lo)
            y_lo = ty.first[y];
        if (ty.first[y] + ty.count[y] > y_hi)
            y_hi = ty.first[y] + ty.count[y];
    }
    tmp = malloc((size_t)(y_hi - y_lo) * (size_t)width * (size_t)channels *
                 sizeof *tmp);
    if (!tmp) {
        taps_free(&tx);
        taps_free(&ty);
        return 0;
    }
    for (int32_t y = y_lo; y < y_hi; y++) {
        const uint8_t *row = src + (size_t)y * (size_t)cols * (size_t)channels;
        float *out =
            tmp + (size_t)(y - y_lo) * (size_t)width * (size_t)channels;
        for (int32_t x = 0; x < width; x++) {
            const float *w = tx.weight + (size_t)x * (size_t)tx.max_taps;
            const uint8_t *s = row + (size_t)tx.first[x] * (size_t)channels;
            for (int32_t c = 0; c < channels; c++) {
                float acc = 0;
                for (int32_t k = 0; k < tx.count[x]; k++)
                    acc += w[k] * (float)s[(size_t)k * (size_t)channels +
                                           (size_t)c];
                out[(size_t)x * (size_t)channels + (size_t)c] = acc;
            }
        }
    }
    /* Vertical pass into CHW planes, rounded to the nearest byte. */
    for (int32_t y = 0; y < height; y++) {
        const float *w = ty.weight + (size_t)y * (size_t)ty.max_taps;
        for (int32_t x = 0; x < width; x++) {
            for (int32_t c = 0; c < channels; c++) {
                float acc = 0;
                for (int32_t k = 0; k < ty.count[y]; k++)
                    acc += w[k] *
                           tmp[((size_t)(ty.first[y] + k - y_lo) *
                                    (size_t)width +
                                (size_t)x) * (size_t)channels + (size_t)c];
                acc += 0.5f;
                dst[(size_t)c * plane + (size_t)y * (size_t)width +
                    (size_t)x] = acc <= 0      ? 0
                                 : acc >= 255 ? 255
                                              : (uint8_t)acc;
            }
        }
    }
    free(tmp);
    taps_free(&tx);
    taps_free(&ty);
    return 1;
}

int cnn_data_resize_cover(const uint8_t *src, int32_t rows, int32_t cols,
                          int32_t channels, uint8_t *dst, int32_t height,
                          int32_t width)
{
    int32_t sh, sw;
    cover_size(rows, cols, height, width, &sh, &sw);
    return resize_to(src, rows, cols, channels, dst, height, width, sh, sw);
}

int cnn_data_resize_stretch(const uint8_t *src, int32_t rows, int32_t cols,
                            int32_t channels, uint8_t *dst, int32_t height,
                            int32_t width)
{
    return resize_to(src, rows, cols, channels, dst, height, width, height,
                     width);
}
