/* SPDX-License-Identifier: MIT */
/* Test images written with libpng and libjpeg, in every layout the
 * decoder must handle: gray, gray+alpha, RGB, RGBA and palette PNG at 1 to
 * 16 bits, interlaced or not, with or without a gAMA chunk; gray and
 * colour JPEG, baseline or progressive. Each aborts the test on failure. */
#ifndef CNN_TESTS_IMAGE_WRITE_H
#define CNN_TESTS_IMAGE_WRITE_H

#include <stddef.h>
#include <stdint.h>

typedef struct iw_png {
    int color_type;  /* PNG_COLOR_TYPE_* */
    int bit_depth;   /* 1, 2, 4, 8 or 16 */
    int interlace;   /* 0 or 1 (Adam7) */
    double gamma;    /* > 0: write a gAMA chunk */
    /* samples: height rows of width pixels of the type's channel count,
     * one uint16_t per sample (values within the bit depth); for palette
     * images one index per pixel, and palette/n_palette the colours (RGB
     * triplets) with trns/n_trns their alphas. */
    const uint16_t *samples;
    const uint8_t *palette;
    int n_palette;
    const uint8_t *trns;
    int n_trns;
} iw_png;

void iw_write_png(const char *path, int width, int height, const iw_png *spec);
/* An 8-bit image of 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA)
 * interleaved channels. */
void iw_write_png8(const char *path, int width, int height, int channels,
                   const uint8_t *pixels);
/* channels 1 (gray) or 3 (RGB, stored as YCbCr); quality 1..100. */
void iw_write_jpeg(const char *path, int width, int height, int channels,
                   const uint8_t *pixels, int quality, int progressive);

#endif
