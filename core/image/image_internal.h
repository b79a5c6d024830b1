/* SPDX-License-Identifier: MIT */
/* What the PNG and JPEG decoders share with the dispatcher (image.c): the
 * limit check every header goes through, and each format's entry point. */
#ifndef CNN_CORE_IMAGE_INTERNAL_H
#define CNN_CORE_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/image.h"

/* Checks a header's size against the pixel limits, and the bytes a decode
 * to out_channels would take against the machine's memory. format names
 * the format in messages ("PNG"). */
cnn_status cnn_image_check_size(cnn_context *ctx, const char *name,
                                const char *format, uint64_t width,
                                uint64_t height, int32_t out_channels);

/* Each format's decoder. With out NULL only the header is read (probe);
 * otherwise the image is decoded to `channels` (1 or 3, 0 = native).
 * info is always filled on success. */
cnn_status cnn_png_decode(cnn_context *ctx, const char *name,
                          const unsigned char *data, size_t size,
                          int32_t channels, cnn_image_info *info,
                          cnn_image *out);
/* JPEG may decode at a reduced size (libjpeg's DCT scaling by M/8): the
 * smallest that is still at least min_width x min_height (0, 0: full). */
cnn_status cnn_jpeg_decode(cnn_context *ctx, const char *name,
                           const unsigned char *data, size_t size,
                           int32_t channels, int32_t min_width,
                           int32_t min_height, cnn_image_info *info,
                           cnn_image *out);

#endif
