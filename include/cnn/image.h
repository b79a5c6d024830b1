/* SPDX-License-Identifier: MIT */
/* Image decoding: PNG (libpng) and JPEG (libjpeg-turbo), the two formats
 * cnnrun reads, for folder datasets, `cnnrun predict` and `features` alike.
 *
 * The format is told by the file's first bytes, never by its name; any
 * other format is an error that names it. The header is checked before
 * any pixel is decoded: at most CNN_IMAGE_MAX_SIDE pixels per side and
 * CNN_IMAGE_MAX_PIXELS in all, and the decoded bytes must fit in the
 * machine's memory. Channels are converted by the libraries' own
 * transforms: alpha (and PNG transparency) is dropped, 16-bit samples are
 * scaled to 8 bits, palettes expanded, gray replicated to RGB, and colour
 * turned into gray as ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B).
 * Decoder errors never exit: both libraries report through error managers
 * that return here, and libjpeg's warnings (a truncated or corrupt stream
 * it would otherwise fill with gray) are errors too. The library prints
 * nothing. */
#ifndef CNN_IMAGE_H
#define CNN_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 64 Mpixel (8192 x 8192): a 24-bit decode of 192 MB. */
#define CNN_IMAGE_MAX_PIXELS (1u << 26)
#define CNN_IMAGE_MAX_SIDE 16384
/* Image files larger than this are refused before they are read. */
#define CNN_IMAGE_MAX_FILE_BYTES (256u * 1024u * 1024u)

typedef enum cnn_image_format {
    CNN_IMAGE_PNG = 1,
    CNN_IMAGE_JPEG = 2
} cnn_image_format;

typedef struct cnn_image_info {
    cnn_image_format format;
    int32_t width, height;
    int32_t channels; /* native: 1 for gray (with or without alpha), else 3 */
} cnn_image_info;

/* A decoded image: height rows of width pixels of `channels` interleaved
 * 8-bit samples (HWC). pixels is malloc'd; cnn_image_free releases it. */
typedef struct cnn_image {
    int32_t width, height, channels;
    uint8_t *pixels;
} cnn_image;

/* Reads the header of the encoded image in data[0, size) (the bytes of a
 * file; `name` is what messages call it) and checks it against the limits.
 * Decodes no pixel. */
cnn_status cnn_image_probe(cnn_context *ctx, const char *name,
                           const void *data, size_t size,
                           cnn_image_info *info);

/* Decodes the image in data[0, size) to `channels` channels (1 or 3; 0
 * keeps the native count of cnn_image_probe). On failure out is zeroed and
 * ctx names `name` and the reason. data is only read; the call is safe on
 * any bytes (this is the fuzzers' entry point). */
cnn_status cnn_image_decode(cnn_context *ctx, const char *name,
                            const void *data, size_t size, int32_t channels,
                            cnn_image *out);

/* cnn_image_decode, except that a JPEG may come out smaller than the
 * file's size: libjpeg-turbo's DCT scaling by M/8 (M in 1..8), the smallest
 * M whose output is at least min_width x min_height (so a caller that
 * shrinks anyway decodes a fraction of the pixels). PNG always decodes at
 * full size. info gets the file's own (unscaled) header; out->width and
 * out->height tell the size decoded. min_width = min_height = 0 is a full
 * decode. */
cnn_status cnn_image_decode_reduced(cnn_context *ctx, const char *name,
                                    const void *data, size_t size,
                                    int32_t channels, int32_t min_width,
                                    int32_t min_height, cnn_image_info *info,
                                    cnn_image *out);

/* cnn_image_decode of the regular file at path (at most
 * CNN_IMAGE_MAX_FILE_BYTES). */
cnn_status cnn_image_read_file(cnn_context *ctx, const char *path,
                               int32_t channels, cnn_image *out);

/* Frees out->pixels and zeroes out; NULL is a no-op. */
void cnn_image_free(cnn_image *image);

#ifdef __cplusplus
}
#endif
#endif
