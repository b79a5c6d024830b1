/* SPDX-License-Identifier: MIT */
/* Packed datasets through the public cnn_dataset_open("pack:FILE").
 *
 * Each input is opened as it is (so the checksum and everything before it
 * are fuzzed), then again with the footer's CRC-32 recomputed over the
 * mutated bytes, so that mutations reach the checks behind the checksum
 * (names, labels, offsets, records, the image decoders) instead of all
 * failing at it. Each is opened at its native geometry and at 1 x 6 x 6,
 * whose subset "[1:3]" is taken too; a dataset that opens is walked whole
 * (fuzz_dataset.h: an encoded record that does not decode must fail with
 * a message), then split in two, which are walked after it is destroyed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cnn/data.h"
#include "fuzz_dataset.h"
#include "fuzz_util.h"

/* pack_format.h: the footer is 24 bytes, its CRC at byte 8 covers all
 * that comes before. */
#define FOOTER_BYTES 24
#define FOOTER_CRC_AT 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void open_and_walk(const char *spec, const cnn_shape *shape)
{
    cnn_dataset *ds = NULL, *train = NULL, *val = NULL;
    if (!fuzz_ok(cnn_dataset_open(fuzz_context(), spec, shape, &ds)))
        return;
    fuzz_dataset_walk(fuzz_context(), ds);
    /* The parts of a split share the pack's mapping and outlive the
     * dataset they were cut from. */
    if (!fuzz_ok(cnn_dataset_split(fuzz_context(), ds, 0.5, &train, &val))) {
        cnn_dataset_destroy(ds);
        return;
    }
    cnn_dataset_destroy(ds);
    fuzz_dataset_walk(fuzz_context(), val);
    cnn_dataset_destroy(val);
    fuzz_dataset_walk(fuzz_context(), train);
    cnn_dataset_destroy(train);
}

static void open_all_ways(const char *path)
{
    char spec[FUZZ_PATH_MAX + 16];
    const int64_t small[3] = {1, 6, 6};
    cnn_shape shape = cnn_shape_make(3, small);
    snprintf(spec, sizeof spec, "pack:%s", path);
    open_and_walk(spec, NULL);
    open_and_walk(spec, &shape);
    snprintf(spec, sizeof spec, "pack:%s[1:3]", path);
    open_and_walk(spec, &shape);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[FUZZ_PATH_MAX];
    uint8_t *fixed;
    size_t crc_at;
    uLong crc;
    fuzz_write_file(path, "input.pack", data, size);
    open_all_ways(path);
    if (size < FOOTER_BYTES || size > UINT32_MAX)
        return 0;
    fixed = malloc(size);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    crc_at = size - FOOTER_BYTES + FOOTER_CRC_AT;
    crc = crc32(crc32(0L, Z_NULL, 0), fixed, (uInt)crc_at);
    for (int i = 0; i < 4; i++)
        fixed[crc_at + (size_t)i] = (uint8_t)(crc >> (8 * i));
    if (memcmp(fixed, data, size) != 0) {
        fuzz_write_file(path, "input.pack", fixed, size);
        open_all_ways(path);
    }
    free(fixed);
    return 0;
}
