/* SPDX-License-Identifier: MIT */
/* One image file to one dataset sample, for folder and file datasets alike
 * (so `cnnrun predict` sees exactly the sample an evaluation would): the
 * decoder of cnn/image.h converts the channels, cnn_data_resize_cover fits
 * the size. */
#include <stdlib.h>

#include "../context_internal.h"
#include "cnn/file_read.h"
#include "cnn/image.h"
#include "data_internal.h"

/* Fits the decoded img to one CHW sample at dst and frees it. */
static cnn_status fit_image(cnn_context *ctx, const char *name,
                            cnn_image img, int32_t channels, int32_t height,
                            int32_t width, uint8_t *dst)
{
    cnn_status st = CNN_OK;
    if (img.height == height && img.width == width) {
        size_t plane = (size_t)width * (size_t)height;
        for (size_t c = 0; c < (size_t)channels; c++)
            for (size_t i = 0; i < plane; i++)
                dst[c * plane + i] = img.pixels[i * (size_t)channels + c];
    } else if (!cnn_data_resize_cover(img.pixels, img.height, img.width,
                                      channels, dst, height, width)) {
        st = cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory resizing", name);
    }
    cnn_image_free(&img);
    return st;
}

cnn_status cnn_data_decode_image(cnn_context *ctx, const char *path,
                                 int32_t channels, int32_t height,
                                 int32_t width, uint8_t *dst)
{
    cnn_image img;
    cnn_status st = cnn_image_read_file(ctx, path, channels, &img);
    if (st != CNN_OK)
        return st;
    return fit_image(ctx, path, img, channels, height, width, dst);
}

cnn_status cnn_data_decode_image_bytes(cnn_context *ctx, const char *name,
                                       const void *data, size_t size,
                                       int32_t channels, int32_t height,
                                       int32_t width, uint8_t *dst)
{
    cnn_image img;
    cnn_status st = cnn_image_decode(ctx, name, data, size, channels, &img);
    if (st != CNN_OK)
        return st;
    return fit_image(ctx, name, img, channels, height, width, dst);
}

cnn_status cnn_data_image_geometry(cnn_context *ctx, const char *path,
                                   cnn_data_geometry *g)
{
    unsigned char *data;
    size_t size;
    cnn_image_info info;
    cnn_status st = cnn_file_read_all(ctx, path, CNN_IMAGE_MAX_FILE_BYTES,
                                      "image file", &data, &size);
    if (st != CNN_OK)
        return st;
    st = cnn_image_probe(ctx, path, data, size, &info);
    free(data);
    if (st != CNN_OK)
        return st;
    g->channels = info.channels;
    g->height = info.height;
    g->width = info.width;
    return CNN_OK;
}
