/* SPDX-License-Identifier: MIT */
/* im2col / col2im, one channel plane at a time, and the passes that run them
 * over a chunk of a conv call.
 *
 * For each kernel column kj the output columns whose input column lies inside
 * the image form one interval [lo, hi), computed once; the inner loops then
 * run over that interval without bounds tests (a plain copy or add when the
 * stride is 1), and the padded ends are filled with zeros separately. */
#include "im2col.h"

#include <string.h>

/* Output columns ow with 0 <= ow * sw - pw + kj < w, as [*lo, *hi). */
static void valid_cols(const conv_geom *g, int64_t kj, int64_t *lo,
                       int64_t *hi)
{
    int64_t first = g->pw - kj; /* smallest ow * sw allowed */
    int64_t last = g->w - 1 + g->pw - kj; /* largest ow * sw allowed */
    int64_t l, h;

    l = first > 0 ? (first + g->sw - 1) / g->sw : 0;
    h = last >= 0 ? last / g->sw + 1 : 0;
    if (h > g->ow)
        h = g->ow;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

void conv_im2col_channel(const conv_geom *g, const float *x_c, int64_t oh0,
                         int64_t oh1, float *dst, size_t ld)
{
    const int64_t ow = g->ow, sw = g->sw;

    for (int64_t ki = 0; ki < g->kh; ki++) {
        for (int64_t kj = 0; kj < g->kw; kj++) {
            float *row = dst + (size_t)(ki * g->kw + kj) * ld;
            int64_t lo, hi;

            valid_cols(g, kj, &lo, &hi);
            for (int64_t oh = oh0; oh < oh1; oh++) {
                float *out = row + (size_t)((oh - oh0) * ow);
                int64_t ih = oh * g->sh - g->ph + ki;

                if (ih < 0 || ih >= g->h || lo == hi) {
                    memset(out, 0, (size_t)ow * sizeof *out);
                    continue;
                }
                /* Input index of output column 0; may be negative, so it is
                 * only used after adding a column in [lo, hi). */
                int64_t base = ih * g->w - g->pw + kj;

                if (lo > 0)
                    memset(out, 0, (size_t)lo * sizeof *out);
                if (sw == 1) {
                    memcpy(out + lo, x_c + (base + lo),
                           (size_t)(hi - lo) * sizeof *out);
                } else {
                    for (int64_t j = lo; j < hi; j++)
                        out[j] = x_c[base + j * sw];
                }
                if (hi < ow)
                    memset(out + hi, 0, (size_t)(ow - hi) * sizeof *out);
            }
        }
    }
}

void conv_col2im_channel(const conv_geom *g, const float *col, size_t ld,
                         int64_t oh0, int64_t oh1, float *dx_c)
{
    const int64_t ow = g->ow, sw = g->sw;

    for (int64_t ki = 0; ki < g->kh; ki++) {
        for (int64_t kj = 0; kj < g->kw; kj++) {
            const float *row = col + (size_t)(ki * g->kw + kj) * ld;
            int64_t lo, hi;

            valid_cols(g, kj, &lo, &hi);
            if (lo == hi)
                continue;
            for (int64_t oh = oh0; oh < oh1; oh++) {
                int64_t ih = oh * g->sh - g->ph + ki;

                if (ih < 0 || ih >= g->h)
                    continue;
                const float *src = row + (size_t)((oh - oh0) * ow);
                int64_t base = ih * g->w - g->pw + kj;

                if (sw == 1) {
                    float *out = dx_c + (base + lo);
                    for (int64_t j = 0; j < hi - lo; j++)
                        out[j] += src[lo + j];
                } else {
                    for (int64_t j = lo; j < hi; j++)
                        dx_c[base + j * sw] += src[j];
                }
            }
        }
    }
}

void conv_im2col_range(void *arg, size_t begin, size_t end)
{
    const conv_run *r = arg;
    const conv_geom *g = &r->g;
    size_t band = (size_t)((r->oh1 - r->oh0) * g->ow);
    size_t plane = (size_t)(g->h * g->w);

    for (size_t i = begin; i < end; i++) {
        size_t img = i / (size_t)g->c, c = i % (size_t)g->c;
        const float *x_c =
            r->x + ((size_t)r->n0 + img) * (size_t)g->c * plane + c * plane;
        float *dst =
            r->col + c * (size_t)(g->kh * g->kw) * r->cols + img * band;
        conv_im2col_channel(g, x_c, r->oh0, r->oh1, dst, r->cols);
    }
}

void conv_col2im_range(void *arg, size_t begin, size_t end)
{
    const conv_run *r = arg;
    const conv_geom *g = &r->g;
    size_t band = (size_t)((r->oh1 - r->oh0) * g->ow);
    size_t plane = (size_t)(g->h * g->w);

    for (size_t i = begin; i < end; i++) {
        size_t img = i / (size_t)g->c, c = i % (size_t)g->c;
        float *dx_c =
            r->dx + ((size_t)r->n0 + img) * (size_t)g->c * plane + c * plane;
        const float *src =
            r->col + c * (size_t)(g->kh * g->kw) * r->cols + img * band;
        if (r->oh0 == 0) /* first band of this image: dx is overwritten */
            memset(dx_c, 0, plane * sizeof *dx_c);
        conv_col2im_channel(g, src, r->cols, r->oh0, r->oh1, dx_c);
    }
}
