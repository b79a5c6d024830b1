/* SPDX-License-Identifier: MIT */
/* Image decoding (PNG through libpng, JPEG through libjpeg-turbo): the
 * in-memory entry points of cnn/image.h, cnn_image_probe and
 * cnn_image_decode at the native channel count, as gray and as colour,
 * every decoded byte read; then, for an input that decodes, the path
 * `cnnrun predict` and folder datasets take (cnn_dataset_open_files on the
 * input written as image FUZZ_IMAGE_SUFFIX), at 1 x 12 x 12 and
 * 3 x 10 x 14, so channel conversion, scaling up and down and cropping run
 * too. fuzz_png and fuzz_jpeg are this file with their own seeds and
 * dictionaries (the decoder chooses by content, not by name). */
#include <stdint.h>

#include "cnn/data.h"
#include "cnn/image.h"
#include "fuzz_dataset.h"
#include "fuzz_util.h"

#ifndef FUZZ_IMAGE_SUFFIX
#error "build with -DFUZZ_IMAGE_SUFFIX=\".png\" or \".jpg\""
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decodes at `channels` (0 = native); 1 when it decoded. */
static int decode(const uint8_t *data, size_t size, int32_t channels)
{
    cnn_image img;
    volatile unsigned sink = 0;
    size_t n;
    if (!fuzz_ok(cnn_image_decode(fuzz_context(), "fuzz" FUZZ_IMAGE_SUFFIX,
                                  data, size, channels, &img)))
        return 0;
    if (img.width <= 0 || img.height <= 0 ||
        (channels && img.channels != channels))
        __builtin_trap(); /* the decoder promised this geometry */
    n = (size_t)img.width * (size_t)img.height * (size_t)img.channels;
    for (size_t i = 0; i < n; i += 61)
        sink += img.pixels[i];
    sink += img.pixels[n - 1];
    (void)sink;
    cnn_image_free(&img);
    return 1;
}

static void open_and_walk(const char *path, const cnn_shape *shape)
{
    cnn_dataset *ds = NULL;
    const char *paths[1] = {path};
    if (!fuzz_ok(cnn_dataset_open_files(fuzz_context(), paths, 1, shape, &ds)))
        return;
    fuzz_dataset_walk(fuzz_context(), ds);
    cnn_dataset_destroy(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[FUZZ_PATH_MAX];
    cnn_image_info info;
    const int64_t gray[3] = {1, 12, 12}, colour[3] = {3, 10, 14};
    cnn_shape gray_shape = cnn_shape_make(3, gray);
    cnn_shape colour_shape = cnn_shape_make(3, colour);
    int decoded;

    (void)fuzz_ok(cnn_image_probe(fuzz_context(), "fuzz" FUZZ_IMAGE_SUFFIX,
                                  data, size, &info));
    decoded = decode(data, size, 0);
    decoded |= decode(data, size, 1);
    decoded |= decode(data, size, 3);
    if (!decoded)
        return 0;
    fuzz_write_file(path, "image" FUZZ_IMAGE_SUFFIX, data, size);
    open_and_walk(path, &gray_shape);
    open_and_walk(path, &colour_shape);
    return 0;
}
