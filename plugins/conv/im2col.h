/* SPDX-License-Identifier: MIT */
/* im2col / col2im: for one channel plane over a band of output rows, and as
 * parallel passes over a chunk of images of one conv call.
 *
 * The column matrix has one row per (channel, ki, kj) and one column per
 * output pixel. Row (c * kh + ki) * kw + kj, column oh * ow + ow_ holds
 * x[c][oh * sh - ph + ki][ow_ * sw - pw + kj], or 0 where that falls in the
 * padding. A band [oh0, oh1) of output rows fills (oh1 - oh0) * ow columns, so
 * a convolution can be cut into GEMMs of bounded size without changing the
 * layout within a band. */
#ifndef CNN_PLUGIN_CONV_IM2COL_H
#define CNN_PLUGIN_CONV_IM2COL_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/layer.h"

typedef struct conv_geom {
    int64_t c, h, w;  /* input channels, height, width */
    int64_t kh, kw;   /* kernel */
    int64_t sh, sw;   /* stride */
    int64_t ph, pw;   /* zero padding */
    int64_t oh, ow;   /* output height, width */
} conv_geom;

/* Writes the kh * kw rows of channel plane x_c (h * w floats) for output rows
 * [oh0, oh1): row r of the channel starts at dst + r * ld. Every element of
 * those rows in the band is written. */
void conv_im2col_channel(const conv_geom *g, const float *x_c, int64_t oh0,
                         int64_t oh1, float *dst, size_t ld);

/* The adjoint: adds the kh * kw rows of the channel (row r at col + r * ld,
 * covering output rows [oh0, oh1)) back into the plane dx_c, which it does not
 * clear. */
void conv_col2im_channel(const conv_geom *g, const float *col, size_t ld,
                         int64_t oh0, int64_t oh1, float *dx_c);

/* One forward or backward call of the layer, as the passes see it. */
typedef struct conv_run {
    conv_geom g;
    int64_t n, k, ckk, ohw;
    const float *x, *w, *b; /* b NULL without bias */
    float *y;               /* forward */
    const float *dy;        /* backward */
    float *dx, *dw, *db;    /* backward; NULL when not wanted */
    /* The chunk being processed: images [n0, n0 + cnt), output rows
     * [oh0, oh1) of each; its column matrix col has ld = cols columns. */
    int64_t n0, cnt, oh0, oh1;
    float *col;
    float *mat; /* [K, cols]: batched forward output or gathered dy */
    size_t cols;
    const cnn_layer_env *env;
} conv_run;

/* Range functions for env->parallel_for over (image in chunk, channel)
 * items, channel fastest: im2col of the chunk into col, and col2im of col into
 * dx (clearing each dx plane on the image's first band). */
void conv_im2col_range(void *arg, size_t begin, size_t end);
void conv_col2im_range(void *arg, size_t begin, size_t end);

#endif
