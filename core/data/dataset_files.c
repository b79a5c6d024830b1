/* SPDX-License-Identifier: MIT */
/* Datasets of image files named one by one (cnnrun predict): the files in
 * the caller's order, streamed exactly as folder datasets stream theirs, so
 * a prediction sees the same sample an evaluation of the same image would.
 * Each file is read and its header checked at open (so a bad name fails
 * before any work); pixels are decoded when a batch needs them. They carry
 * no labels or classes: every label is 0 and the class count 0. */
#include <stdlib.h>
#include <string.h>

#include "../context_internal.h"
#include "data_internal.h"

static cnn_status open_files(cnn_context *ctx, cnn_dataset *ds,
                             const char *const *paths, size_t n,
                             const cnn_shape *sample_shape)
{
    cnn_data_geometry g;
    cnn_status st = cnn_data_parse_geometry(ctx, sample_shape, &g);
    if (st != CNN_OK)
        return cnn_fail_prefix(ctx, "image files");
    for (size_t i = 0; i < n; i++)
        if (!paths[i] || !*paths[i])
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "image file %zu of %zu has %s name", i + 1, n,
                            paths[i] ? "an empty" : "a NULL");
    if (g.native) {
        st = cnn_data_image_geometry(ctx, paths[0], &g, NULL);
        if (st != CNN_OK)
            return st;
    }
    ds->streamed = 1;
    st = cnn_data_alloc_samples(ctx, ds, n, g.channels, g.height, g.width);
    if (st != CNN_OK)
        return st;
    ds->paths = calloc(n, sizeof *ds->paths);
    ds->file_sizes = calloc(n, sizeof *ds->file_sizes);
    if (!ds->paths || !ds->file_sizes)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory for %zu paths", n);
    for (size_t i = 0; i < n; i++) {
        cnn_data_geometry probe;
        ds->paths[i] = cnn_data_strdup(paths[i]);
        if (!ds->paths[i])
            return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory",
                            paths[i]);
        st = cnn_data_image_geometry(ctx, paths[i], &probe,
                                     &ds->file_sizes[i]);
        if (st != CNN_OK)
            return st;
    }
    return CNN_OK;
}

cnn_status cnn_dataset_open_files(cnn_context *ctx, const char *const *paths,
                                  size_t n_paths,
                                  const cnn_shape *sample_shape,
                                  cnn_dataset **out)
{
    cnn_dataset *ds;
    cnn_status st;
    if (!out)
        return cnn_fail(ctx, CNN_ERR_INVALID, "image files: NULL output");
    *out = NULL;
    if (!paths || n_paths == 0)
        return cnn_fail(ctx, CNN_ERR_INVALID, "image files: none given");
    ds = calloc(1, sizeof *ds);
    if (ds)
        ds->spec = cnn_data_strdup("files");
    if (!ds || !ds->spec) {
        cnn_dataset_destroy(ds);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    st = open_files(ctx, ds, paths, n_paths, sample_shape);
    if (st != CNN_OK) {
        cnn_dataset_destroy(ds);
        return st;
    }
    *out = ds;
    return CNN_OK;
}
