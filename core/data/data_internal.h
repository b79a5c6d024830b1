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
    char **paths;          /* count, folder and file datasets, else NULL */
    /* Streamed (folder and file datasets): pixels stays NULL and a sample
     * is decoded from paths[i] whenever it is asked for; only the index
     * (paths, labels, file sizes) is kept in memory. */
    int streamed;
    int64_t *file_sizes;   /* count, bytes at indexing time; folder and
                            * file datasets only */
    /* Packs: the mapped file (pack_file.c), shared by the datasets cut from
     * it, one reference each, and records[i], the pack record of item i
     * (count of them). Raw packs: pixels points at the first record in the
     * mapping (not freed). Encoded packs are streamed: pixels stays NULL
     * and item i is decoded from its record whenever it is asked for. */
    struct cnn_data_pack_file *pack;
    size_t *records;
};

/* The uint8 CHW sample of item i of an in-memory (not streamed) dataset. */
static inline const uint8_t *cnn_data_item_pixels(const cnn_dataset *ds,
                                                  size_t i)
{
    return ds->pixels + (ds->records ? ds->records[i] : i) * ds->sample_bytes;
}

/* How a streamed image becomes a sample: the box of the source image that
 * is kept, whether it is mirrored, and the RandomResizedCrop draws. */
typedef struct cnn_data_view {
    double center;       /* (0, 1]: share of the covering box kept (eval's
                          * resize-then-centre-crop; 1 = the whole cover) */
    int random_crop;     /* RandomResizedCrop instead of the centre box */
    double scale[2];     /* its area range, share of the image */
    double ratio[2];     /* its aspect (width / height) range */
    int flip;            /* mirror the box before resizing */
    uint64_t seed, epoch, index; /* key of the crop's random numbers */
} cnn_data_view;

/* A box of a source image, in its pixels. */
typedef struct cnn_data_box {
    int32_t x, y, w, h;
} cnn_data_box;

/* The random numbers RandomResizedCrop asks for, in torchvision's order.
 * kind CNN_DATA_DRAW_AREA: uniform in [lo, hi) (share of the area);
 * CNN_DATA_DRAW_ASPECT: exp(uniform in [log lo, log hi)); CNN_DATA_DRAW_INT:
 * an integer in [0, hi). */
enum { CNN_DATA_DRAW_AREA, CNN_DATA_DRAW_ASPECT, CNN_DATA_DRAW_INT };
typedef double (*cnn_data_draw_fn)(void *state, int kind, double lo,
                                   double hi);

/* torchvision's RandomResizedCrop.get_params on a width x height image:
 * 10 tries of an area share and an aspect; the first box that fits is
 * placed uniformly; else the centre crop clamped to the ratio range. */
void cnn_data_random_resized_box(int32_t width, int32_t height,
                                 const double scale[2], const double ratio[2],
                                 cnn_data_draw_fn draw, void *state,
                                 cnn_data_box *box);

/* The same with the loader's random numbers, keyed (seed, epoch, index). */
void cnn_data_random_resized_box_seeded(int32_t width, int32_t height,
                                        const double scale[2],
                                        const double ratio[2], uint64_t seed,
                                        uint64_t epoch, uint64_t index,
                                        cnn_data_box *box);

/* The sample of a streamed dataset's item i through view (NULL: the plain
 * sample of "Sample geometry" in cnn/data.h), into dst (sample_bytes);
 * an in-memory dataset's item is copied. Errors name the file (or the
 * pack and record). Safe from any thread with its own ctx. */
cnn_status cnn_data_load_item(cnn_context *ctx, const cnn_dataset *ds,
                              size_t i, const cnn_data_view *view,
                              uint8_t *dst);

/* Decodes the image file at path through view (NULL = plain) into one
 * channels x height x width CHW sample. */
cnn_status cnn_data_load_image(cnn_context *ctx, const char *path,
                               int32_t channels, int32_t height,
                               int32_t width, const cnn_data_view *view,
                               uint8_t *dst);

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
 * (with or without alpha), else 3, and the image's own size; the file's
 * size in bytes into *file_bytes unless NULL. */
cnn_status cnn_data_image_geometry(cnn_context *ctx, const char *path,
                                   cnn_data_geometry *g, int64_t *file_bytes);

/* cnn_data_load_image of an image already in memory: data[0, size) holds
 * the encoded PNG or JPEG bytes; errors name `path`. */
cnn_status cnn_data_load_image_bytes(cnn_context *ctx, const char *path,
                                     const void *data, size_t size,
                                     int32_t channels, int32_t height,
                                     int32_t width, const cnn_data_view *view,
                                     uint8_t *dst);

/* Opens a packed dataset file (cnn/pack.h) into ds, validating all of it
 * first (pack_read.c). */
cnn_status cnn_data_open_pack(cnn_context *ctx, cnn_dataset *ds,
                              const char *path,
                              const cnn_data_subset *subset,
                              const cnn_data_geometry *geometry);

/* ---- the shared mapping of a pack file (pack_file.c) ---- */

typedef struct cnn_data_pack_file cnn_data_pack_file;

/* The longest "FILE: record N" an encoded record's errors are named by. */
#define CNN_DATA_PACK_NAME_MAX 4200

/* Maps the regular file at path read-only, holding one reference. Checks
 * only that it is a regular file of at least a pack's head and footer. */
cnn_status cnn_data_pack_file_map(cnn_context *ctx, const char *path,
                                  cnn_data_pack_file **out);
/* One more reference (thread-safe); returns f. */
cnn_data_pack_file *cnn_data_pack_file_retain(cnn_data_pack_file *f);
/* Drops a reference (thread-safe), unmapping the file with the last one;
 * NULL is a no-op. */
void cnn_data_pack_file_release(cnn_data_pack_file *f);
/* The mapped bytes and their count. */
const uint8_t *cnn_data_pack_file_bytes(const cnn_data_pack_file *f,
                                        size_t *size);
/* Advice on the pages covering [at, at + n): read them ahead, or let them
 * go from the process (they are read back in when next touched). */
void cnn_data_pack_file_prefetch(const cnn_data_pack_file *f, size_t at,
                                 size_t n);
void cnn_data_pack_file_drop(const cnn_data_pack_file *f, size_t at,
                             size_t n);
/* Encoded packs: where the records start and the count + 1 checked record
 * offsets (owned by f from here). */
void cnn_data_pack_file_set_records(cnn_data_pack_file *f, size_t records_at,
                                    uint64_t *offsets, size_t count);
/* The bytes of encoded record `record`; 0 past the last. */
size_t cnn_data_pack_file_record_bytes(const cnn_data_pack_file *f,
                                       size_t record);
/* Decodes encoded record `record` through view (NULL = plain) into one
 * CHW sample, exactly as cnn_data_load_image does a folder's file; errors
 * name "FILE: record N". Safe from any thread with its own ctx. */
cnn_status cnn_data_pack_file_load(cnn_context *ctx,
                                   cnn_data_pack_file *f, size_t record,
                                   int32_t channels, int32_t height,
                                   int32_t width, const cnn_data_view *view,
                                   uint8_t *dst);

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

/* Scales rows x cols to exactly height x width (aspect not kept, as
 * RandomResizedCrop), same filters. Returns 0 when memory is exhausted. */
int cnn_data_resize_stretch(const uint8_t *src, int32_t rows, int32_t cols,
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
