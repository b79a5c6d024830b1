/* SPDX-License-Identifier: MIT */
/* im2col / col2im for one image and a band of output rows.
 *
 * For each kernel column kj the output columns whose input column lies inside
 * the image form one interval [lo, hi), computed once; the inner loops then
 * run over that interval without bounds tests (a plain copy or add when the
 * stride is 1), and the padded ends are filled with zeros separately.
 *
 * The copies are short (LeNet's rows are 10 to 28 floats), so they are done
 * inline in 8-float blocks: a libc memcpy/memset call per row cost more than
 * the copy itself (a quarter of LeNet's conv time went to call overhead). */
#include "im2col.h"

#include <string.h>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* Output columns ow with 0 <= ow * sw - pw + kj * dw < w, as [*lo, *hi). */
static void valid_cols(const conv_geom *g, int64_t kj, int64_t *lo,
                       int64_t *hi)
{
    int64_t first = g->pw - kj * g->dw; /* smallest ow * sw allowed */
    int64_t last = g->w - 1 + g->pw - kj * g->dw; /* largest allowed */
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

/* Fixed-size memcpy/memset compile to vector moves. A row of n >= 4 floats
 * is covered by whole blocks and one last block that overlaps the one
 * before it (rewriting a few floats with the same values), so no scalar
 * tail loop runs. */
static inline void copy_row(float *restrict d, const float *restrict s,
                            size_t n)
{
#ifdef __AVX512F__
    /* One masked 16-float move per 16 floats: LeNet's 10-float rows in
     * one load and one store instead of two of each. */
    for (size_t i = 0; i < n; i += 16) {
        size_t left = n - i;
        __mmask16 m = left >= 16 ? (__mmask16)0xFFFF
                                 : (__mmask16)((1u << left) - 1u);
        _mm512_mask_storeu_ps(d + i, m, _mm512_maskz_loadu_ps(m, s + i));
    }
    return;
#endif
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 < n; i += 8)
            memcpy(d + i, s + i, 8 * sizeof *d);
        memcpy(d + n - 8, s + n - 8, 8 * sizeof *d);
    } else if (n >= 4) {
        memcpy(d, s, 4 * sizeof *d);
        memcpy(d + n - 4, s + n - 4, 4 * sizeof *d);
    } else {
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    }
}

static inline void zero_row(float *d, size_t n)
{
    static const float zeros[8];
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 < n; i += 8)
            memcpy(d + i, zeros, sizeof zeros);
        memcpy(d + n - 8, zeros, sizeof zeros);
    } else if (n >= 4) {
        memcpy(d, zeros, 4 * sizeof *d);
        memcpy(d + n - 4, zeros, 4 * sizeof *d);
    } else {
        for (size_t i = 0; i < n; i++)
            d[i] = 0.0f;
    }
}

/* d[j] = s[j * stride]: with the common strides as constants the loop
 * vectorises (AlexNet's first layer, stride 4, spent a fifth of its time
 * in the scalar gather). */
static inline void gather_row(float *restrict d, const float *restrict s,
                              size_t n, size_t stride)
{
    switch (stride) {
    case 2:
        for (size_t j = 0; j < n; j++)
            d[j] = s[2 * j];
        break;
    case 4:
        for (size_t j = 0; j < n; j++)
            d[j] = s[4 * j];
        break;
    default:
        for (size_t j = 0; j < n; j++)
            d[j] = s[j * stride];
        break;
    }
}

static inline void add_row(float *restrict d, const float *restrict s,
                           size_t n)
{
    for (size_t i = 0; i < n; i++)
        d[i] += s[i];
}

/* Output rows oh in [oh0, oh1) whose input row oh * sh - ph + ki * dh lies
 * in the image, as [*lo, *hi). */
static void valid_rows(const conv_geom *g, int64_t ki, int64_t oh0,
                       int64_t oh1, int64_t *lo, int64_t *hi)
{
    int64_t first = g->ph - ki * g->dh, last = g->h - 1 + g->ph - ki * g->dh;
    int64_t l = first > 0 ? (first + g->sh - 1) / g->sh : 0;
    int64_t h = last >= 0 ? last / g->sh + 1 : 0;
    if (l < oh0)
        l = oh0;
    if (h > oh1)
        h = oh1;
    if (h < oh0) /* every valid row lies above the band */
        h = oh0;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

void conv_im2col(const conv_geom *g, const float *x, int64_t oh0, int64_t oh1,
                 float *col)
{
    const size_t ow = (size_t)g->ow, sw = (size_t)g->sw;
    const size_t cols = (size_t)(oh1 - oh0) * ow;
    const size_t plane = (size_t)(g->h * g->w);
    const size_t step = (size_t)(g->sh * g->w); /* input, per output row */

    for (int64_t c = 0; c < g->c; c++) {
        const float *x_c = x + (size_t)c * plane;
        for (int64_t ki = 0; ki < g->kh; ki++) {
            int64_t r0, r1;
            valid_rows(g, ki, oh0, oh1, &r0, &r1);
            for (int64_t kj = 0; kj < g->kw; kj++) {
                float *row = col + (size_t)((c * g->kh + ki) * g->kw + kj) *
                                       cols;
                int64_t lo_, hi_;
                valid_cols(g, kj, &lo_, &hi_);
                const size_t lo = (size_t)lo_, hi = (size_t)hi_;

                /* Rows above and below the image, and the whole row when
                 * no column is inside: zeros in one run each. */
                if (lo == hi) {
                    zero_row(row, cols);
                    continue;
                }
                zero_row(row, (size_t)(r0 - oh0) * ow);
                zero_row(row + (size_t)(r1 - oh0) * ow,
                         (size_t)(oh1 - r1) * ow);
                if (r0 == r1)
                    continue;
                float *out = row + (size_t)(r0 - oh0) * ow;
                /* The input of output (r0, lo): inside the image, unlike
                 * that of column 0 when there is padding. */
                const float *in =
                    x_c + (r0 * g->sh - g->ph + ki * g->dh) * g->w +
                    ((int64_t)lo * g->sw - g->pw + kj * g->dw);
                if (sw == 1 && lo == 0 && hi == ow) {
                    for (int64_t oh = r0; oh < r1; oh++, out += ow, in += step)
                        copy_row(out, in, ow);
                } else if (sw == 1) {
                    for (int64_t oh = r0; oh < r1;
                         oh++, out += ow, in += step) {
                        zero_row(out, lo);
                        copy_row(out + lo, in, hi - lo);
                        zero_row(out + hi, ow - hi);
                    }
                } else {
                    for (int64_t oh = r0; oh < r1;
                         oh++, out += ow, in += step) {
                        zero_row(out, lo);
                        gather_row(out + lo, in, hi - lo, sw);
                        zero_row(out + hi, ow - hi);
                    }
                }
            }
        }
    }
}

void conv_col2im(const conv_geom *g, const float *col, int64_t oh0,
                 int64_t oh1, float *dx)
{
    const size_t ow = (size_t)g->ow, sw = (size_t)g->sw;
    const size_t cols = (size_t)(oh1 - oh0) * ow;
    const size_t plane = (size_t)(g->h * g->w);
    const size_t step = (size_t)(g->sh * g->w);

    for (int64_t c = 0; c < g->c; c++) {
        float *dx_c = dx + (size_t)c * plane;
        for (int64_t ki = 0; ki < g->kh; ki++) {
            int64_t r0, r1;
            valid_rows(g, ki, oh0, oh1, &r0, &r1);
            if (r0 == r1)
                continue;
            for (int64_t kj = 0; kj < g->kw; kj++) {
                int64_t lo_, hi_;
                valid_cols(g, kj, &lo_, &hi_);
                const size_t lo = (size_t)lo_, hi = (size_t)hi_;
                if (lo == hi)
                    continue;
                const float *src =
                    col + (size_t)((c * g->kh + ki) * g->kw + kj) * cols +
                    (size_t)(r0 - oh0) * ow;
                /* dx of output (r0, lo), inside the image. */
                float *out = dx_c +
                             (r0 * g->sh - g->ph + ki * g->dh) * g->w +
                             ((int64_t)lo * g->sw - g->pw + kj * g->dw);
                if (sw == 1) {
                    for (int64_t oh = r0; oh < r1;
                         oh++, src += ow, out += step)
                        add_row(out, src + lo, hi - lo);
                } else {
                    for (int64_t oh = r0; oh < r1;
                         oh++, src += ow, out += step)
                        for (size_t j = lo; j < hi; j++)
                            out[(j - lo) * sw] += src[j];
                }
            }
        }
    }
}
