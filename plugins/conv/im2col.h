/* SPDX-License-Identifier: MIT */
/* im2col / col2im for one image over a band of output rows.
 *
 * The column matrix has one row per (channel, ki, kj) and one column per
 * output pixel of the band. Row (c * kh + ki) * kw + kj, column
 * (oh - oh0) * ow + ow_ holds
 * x[c][oh * sh - ph + ki * dh][ow_ * sw - pw + kj * dw], or 0 where that
 * falls in the padding (ph, pw: the top and left padding; the bottom and
 * right padding only decide oh and ow). For a grouped convolution the
 * caller passes one group's channels: x at the group's first channel and
 * c = channels per group. A band [oh0, oh1) fills
 * (oh1 - oh0) * ow columns, so a convolution can be cut into GEMMs of bounded
 * size without changing the layout within a band. */
#ifndef CNN_PLUGIN_CONV_IM2COL_H
#define CNN_PLUGIN_CONV_IM2COL_H

#include <stddef.h>
#include <stdint.h>

typedef struct conv_geom {
    int64_t c, h, w;  /* input channels (of one group), height, width */
    int64_t kh, kw;   /* kernel */
    int64_t sh, sw;   /* stride */
    int64_t ph, pw;   /* zero padding at the top and left */
    int64_t pb, pr;   /* ... at the bottom and right */
    int64_t dh, dw;   /* dilation: taps dh rows, dw columns apart */
    int64_t oh, ow;   /* output height, width */
} conv_geom;

/* Writes every element of the column matrix of image x (c * h * w floats)
 * for output rows [oh0, oh1); the matrix has c * kh * kw rows of
 * (oh1 - oh0) * ow floats, contiguous. */
void conv_im2col(const conv_geom *g, const float *x, int64_t oh0, int64_t oh1,
                 float *col);

/* The adjoint: adds the column matrix of output rows [oh0, oh1) (laid out
 * as conv_im2col writes it) into image dx, which it does not clear. */
void conv_col2im(const conv_geom *g, const float *col, int64_t oh0,
                 int64_t oh1, float *dx);

#endif
