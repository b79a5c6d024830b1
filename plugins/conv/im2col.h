/* SPDX-License-Identifier: MIT */
/* im2col / col2im for one channel of one image, over a band of output rows.
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

#endif
