/* SPDX-License-Identifier: MIT */
/* Writing packed dataset files, read back with the "pack:FILE" dataset
 * spec (cnn/data.h). A pack holds a dataset's records, labels and class
 * names in one checksummed file (docs/pack-format.md):
 *
 *   raw      every record is one sample already at its final geometry,
 *            C x H x W uint8 in CHW order: reading memory-maps the file
 *            and decodes nothing;
 *   encoded  every record is the bytes of a PNG or JPEG file, decoded from
 *            the mapping whenever its sample is needed, exactly as a folder
 *            dataset decodes its files (so the sample size, the
 *            full-resolution augmentation and the centre crop are chosen
 *            at reading time, and memory does not grow with the file).
 *
 * The writer appends records in order to a temporary file that replaces
 * the target only on commit (cnn/atomic_file.h), so a failed or
 * interrupted pack never leaves a partial file under the target's name. */
#ifndef CNN_PACK_H
#define CNN_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cnn_pack_kind {
    CNN_PACK_RAW = 1,
    CNN_PACK_ENCODED = 2
} cnn_pack_kind;

typedef struct cnn_pack_writer cnn_pack_writer;

/* What a pack holds. Raw: channels 1 or 3, height and width 1 to
 * CNN_DATA_MAX_SIDE. Encoded: channels, height and width 0. Every label
 * is below n_classes (1 or more); class names are non-empty and at most
 * 4096 bytes without a NUL. All are copied. */
typedef struct cnn_pack_header {
    cnn_pack_kind kind;
    size_t count;
    int32_t channels, height, width;
    size_t n_classes;
    const char *const *class_names;
    const int32_t *labels; /* count */
} cnn_pack_header;

/* Checks the header and starts writing path. On failure *out is NULL and
 * ctx names path and the field at fault. */
cnn_status cnn_pack_writer_open(cnn_context *ctx, const char *path,
                                const cnn_pack_header *header,
                                cnn_pack_writer **out);
/* Appends the next record: raw, exactly channels * height * width bytes;
 * encoded, 1 to CNN_IMAGE_MAX_FILE_BYTES bytes (not checked to decode
 * here: the caller decides which files go in). At most count records. */
cnn_status cnn_pack_writer_add(cnn_pack_writer *w, const void *record,
                               size_t size);
/* Writes the offsets and footer and replaces the target; fails unless
 * exactly count records were added. Always frees w. */
cnn_status cnn_pack_writer_commit(cnn_pack_writer *w);
/* Drops the temporary file and frees w; NULL is a no-op. */
void cnn_pack_writer_abort(cnn_pack_writer *w);

#ifdef __cplusplus
}
#endif
#endif
