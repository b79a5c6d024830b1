/* SPDX-License-Identifier: MIT */
/* What the files of core/data/ share: the dataset struct, the parsed spec
 * parts handed to each format's opener, and the image placement helpers. */
#ifndef CNN_CORE_DATA_INTERNAL_H
#define CNN_CORE_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/data.h"

struct cnn_dataset {
    char *spec;
    size_t count;
    int32_t channels, height, width;
    size_t sample_bytes;   /* channels * height * width */
    uint8_t *pixels;       /* count samples, CHW planes, uint8 */
    size_t capacity;       /* samples pixels has room for (while opening) */
    int32_t *labels;       /* count */
    size_t n_classes;
    char **class_names;    /* n_classes, each malloc'd */
    char **paths;          /* count, folder datasets only, else NULL */
    /* Raw packs: the memory-mapped file pixels point into (unmapped, not
     * freed, by cnn_dataset_destroy); NULL otherwise. */
    void *mapping;
    size_t mapping_bytes;
};

/* The "@N" or "[A:B]" suffix of a spec. */
typedef struct cnn_data_subset {
    int present;
    size_t begin;
    size_t end;
    int has_end; /* [A:] runs to the end */
} cnn_data_subset;

/* The sample geometry asked for; native = keep the data's own. */
typedef struct cnn_data_geometry {
    int native;
    int32_t channels, height, width;
} cnn_data_geometry;

/* Turns the subset into [*begin, *end) of an item list of total items;
 * fails (naming the file or folder `what`) when it reaches past the end or
 * selects nothing. */
cnn_status cnn_data_subset_resolve(cnn_context *ctx,
                                   const cnn_data_subset *subset,
                                   size_t total, const char *what,
                                   size_t *begin, size_t *end);

/* Sets the geometry and count on ds and allocates the labels, with
 * overflow-checked sizes. Pixels come from cnn_data_reserve. */
cnn_status cnn_data_alloc_samples(cnn_context *ctx, cnn_dataset *ds,
                                  size_t count, int32_t channels,
                                  int32_t height, int32_t width);

/* Makes room for the first `items` samples (<= count), zeroed. Storage
 * grows as data actually arrives, so a hostile header that promises huge
 * sizes fails as truncated instead of asking for terabytes up front. */
cnn_status cnn_data_reserve(cnn_context *ctx, cnn_dataset *ds, size_t items);

/* Sets class names "0", "1", ... n-1. */
cnn_status cnn_data_numbered_classes(cnn_context *ctx, cnn_dataset *ds,
                                     size_t n);

/* A copy of s (NULL when memory is exhausted). */
char *cnn_data_strdup(const char *s);

/* Opens IDX images and labels into ds. n_classes 0 infers the class count
 * from the labels; the class names are left to the caller when
 * names_given, else numbered. */
cnn_status cnn_data_open_idx(cnn_context *ctx, cnn_dataset *ds,
                             const char *images_path,
                             const char *labels_path, size_t n_classes,
                             const cnn_data_subset *subset,
                             const cnn_data_geometry *geometry);

/* Opens a folder-per-class image dataset into ds. */
cnn_status cnn_data_open_folder(cnn_context *ctx, cnn_dataset *ds,
                                const char *dir,
                                const cnn_data_subset *subset,
                                const cnn_data_geometry *geometry);

/* Checks a sample_shape as cnn_dataset_open takes it (NULL = native) and
 * turns it into a geometry. */
cnn_status cnn_data_parse_geometry(cnn_context *ctx, const cnn_shape *shape,
                                   cnn_data_geometry *g);

/* The native geometry of the PNG or JPEG file at path: 1 channel for gray
 * (with or without alpha), else 3, and the image's own size. */
cnn_status cnn_data_image_geometry(cnn_context *ctx, const char *path,
                                   cnn_data_geometry *g);

/* Decodes the PNG or JPEG file at path into one channels x height x width
 * CHW sample at dst: channels converted by cnn/image.h, size fitted with
 * cnn_data_resize_cover. Folder and file datasets share it so an image
 * gives the same sample whichever way it is opened. Errors name path. */
cnn_status cnn_data_decode_image(cnn_context *ctx, const char *path,
                                 int32_t channels, int32_t height,
                                 int32_t width, uint8_t *dst);

/* cnn_data_decode_image of the encoded PNG or JPEG bytes data[0, size);
 * errors name `name`. */
cnn_status cnn_data_decode_image_bytes(cnn_context *ctx, const char *name,
                                       const void *data, size_t size,
                                       int32_t channels, int32_t height,
                                       int32_t width, uint8_t *dst);

/* Opens a packed dataset file (cnn/pack.h) into ds, validating all of it
 * first (pack_read.c). */
cnn_status cnn_data_open_pack(cnn_context *ctx, cnn_dataset *ds,
                              const char *path,
                              const cnn_data_subset *subset,
                              const cnn_data_geometry *geometry);

/* Releases ds->mapping. */
void cnn_data_unmap(cnn_dataset *ds);

/* Places a rows x cols gray image centered on a height x width canvas
 * (already zero), cropping what overflows, into `channels` identical CHW
 * planes of dst. */
void cnn_data_place_centered(const uint8_t *src, int32_t rows, int32_t cols,
                             uint8_t *dst, int32_t channels, int32_t height,
                             int32_t width);

/* Scales an interleaved (HWC) rows x cols image of `channels` channels,
 * keeping its aspect ratio, to just cover height x width (area averaging
 * when shrinking an axis, bilinear when enlarging it), center-crops it and
 * writes CHW planes to dst. Returns 0 when memory is exhausted, else 1. */
int cnn_data_resize_cover(const uint8_t *src, int32_t rows, int32_t cols,
                          int32_t channels, uint8_t *dst, int32_t height,
                          int32_t width);

/* The seed of the folder order; fixed, so a folder's "@N" is the same
 * selection on every run and machine. */
#define CNN_DATA_FOLDER_ORDER_SEED 0x5eed

/* Writes into order (n entries) a permutation of the n items with the
 * given labels (each in [0, n_classes)): each class shuffled with seed,
 * classes interleaved in proportion to their sizes, so every prefix holds
 * each class in about its share. Returns 0 when memory is exhausted. */
int cnn_data_stratified_order(const int32_t *labels, size_t n,
                              size_t n_classes, uint64_t seed, size_t *order);

/* a * b into *out; 0 on overflow. */
static inline int cnn_data_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

#endif
