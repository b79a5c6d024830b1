/* SPDX-License-Identifier: MIT */
/* IDX datasets through the public cnn_dataset_open("idx:IMAGES,LABELS"):
 * the input is the image file, FUZZ_IDX_SPLIT, then the label file.
 *
 * Built twice. fuzz_idx hands both parts over as they are: the reader
 * tells gzip from plain by the magic, so gzip seeds fuzz the gzip
 * container too (truncation, trailing bytes, size fields). fuzz_idx_gzip
 * (FUZZ_IDX_GZIP) gzips each part first, so every mutation reaches the IDX
 * parser behind zlib's inflate instead of failing its CRC.
 *
 * Each input is opened twice: at its native geometry, and centered on a
 * 1 x 6 x 6 canvas with a class count of 10 given in the spec. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#include "cnn/data.h"
#include "fuzz_dataset.h"
#include "fuzz_util.h"

#define FUZZ_IDX_SPLIT "#LABELS#"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef FUZZ_IDX_GZIP
/* The gzip member of src (level 1: fuzzing wants speed, not ratio) in
 * *out (malloc'd), or 0 when zlib fails. */
static int gzip_bytes(const uint8_t *src, size_t size, uint8_t **out,
                      size_t *out_size)
{
    z_stream z = {0};
    uLong bound;
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    bound = deflateBound(&z, (uLong)size) + 32;
    *out = malloc(bound);
    if (!*out) {
        deflateEnd(&z);
        return 0;
    }
    z.next_in = (Bytef *)src;
    z.avail_in = (uInt)size;
    z.next_out = *out;
    z.avail_out = (uInt)bound;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        deflateEnd(&z);
        free(*out);
        return 0;
    }
    *out_size = z.total_out;
    deflateEnd(&z);
    return 1;
}
#endif

static void write_part(char *path, const char *name, const uint8_t *data,
                       size_t size)
{
#ifdef FUZZ_IDX_GZIP
    uint8_t *packed;
    size_t packed_size;
    if (!gzip_bytes(data, size, &packed, &packed_size)) {
        fprintf(stderr, "fuzz_idx_gzip: zlib could not compress the input\n");
        abort();
    }
    fuzz_write_file(path, name, packed, packed_size);
    free(packed);
#else
    fuzz_write_file(path, name, data, size);
#endif
}

static void open_and_walk(const char *spec, const cnn_shape *shape)
{
    cnn_dataset *ds = NULL;
    if (!fuzz_ok(cnn_dataset_open(fuzz_context(), spec, shape, &ds)))
        return;
    fuzz_dataset_walk(fuzz_context(), ds);
    cnn_dataset_destroy(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *images, *labels;
    size_t images_size, labels_size;
    char images_path[FUZZ_PATH_MAX], labels_path[FUZZ_PATH_MAX];
    char spec[2 * FUZZ_PATH_MAX + 16];
    const int64_t canvas[3] = {1, 6, 6};
    cnn_shape shape = cnn_shape_make(3, canvas);

    fuzz_split(data, size, FUZZ_IDX_SPLIT, &images, &images_size, &labels,
               &labels_size);
    write_part(images_path, "images.idx", images, images_size);
    write_part(labels_path, "labels.idx", labels, labels_size);

    snprintf(spec, sizeof spec, "idx:%s,%s", images_path, labels_path);
    open_and_walk(spec, NULL);
    snprintf(spec, sizeof spec, "idx:%s,%s,10", images_path, labels_path);
    open_and_walk(spec, &shape);
    return 0;
}
