/* SPDX-License-Identifier: MIT */
/* Image decoding as `cnnrun predict` and folder datasets do it, through
 * the public cnn_dataset_open_files: the input is written to a file named
 * image FUZZ_IMAGE_SUFFIX (".png" for fuzz_png, ".jpg" for fuzz_jpeg) and
 * opened three times: at its native geometry, as 1 x 12 x 12 (gray) and as
 * 3 x 10 x 14 (colour), so channel conversion, scaling up and down and
 * cropping all run on every decodable input. */
#include <stdint.h>

#include "cnn/data.h"
#include "fuzz_dataset.h"
#include "fuzz_util.h"

#ifndef FUZZ_IMAGE_SUFFIX
#error "build with -DFUZZ_IMAGE_SUFFIX=\".png\" or \".jpg\""
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void open_and_walk(const char *path, const cnn_shape *shape)
{
    cnn_dataset *ds = NULL;
    const char *paths[1] = {path};
    if (!fuzz_ok(cnn_dataset_open_files(fuzz_context(), paths, 1, shape, &ds)))
        return;
    fuzz_dataset_walk(ds);
    cnn_dataset_destroy(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[FUZZ_PATH_MAX];
    const int64_t gray[3] = {1, 12, 12}, colour[3] = {3, 10, 14};
    cnn_shape gray_shape = cnn_shape_make(3, gray);
    cnn_shape colour_shape = cnn_shape_make(3, colour);
    fuzz_write_file(path, "image" FUZZ_IMAGE_SUFFIX, data, size);
    open_and_walk(path, NULL);
    open_and_walk(path, &gray_shape);
    open_and_walk(path, &colour_shape);
    return 0;
}
