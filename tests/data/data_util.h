/* SPDX-License-Identifier: MIT */
/* Test helpers for the data layer: a scratch folder per test, and writers
 * for IDX (plain and gzip) and PNG/JPEG files, so every fixture is made at
 * run time from values the test knows. */
#ifndef CNN_TEST_DATA_UTIL_H
#define CNN_TEST_DATA_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"
#include "cnn/data.h"

/* A fresh folder under $TMPDIR (or /tmp); removed by du_rmtree. */
char *du_tempdir(void);
void du_rmtree(const char *dir);
/* dir/name in a static ring of buffers (valid for the next 7 calls). */
const char *du_path(const char *dir, const char *name);
void du_mkdir(const char *path);

void du_write(const char *path, const void *data, size_t n);
/* The same bytes, gzip-compressed. */
void du_write_gz(const char *path, const void *data, size_t n);
/* Reads a whole file (malloc'd). */
unsigned char *du_read(const char *path, size_t *n);

/* IDX ubyte images: count x rows x cols, pixel(i, y, x) from fn (or the
 * default pattern du_pixel). malloc'd, length in *n. */
uint8_t du_pixel(uint32_t i, uint32_t y, uint32_t x);
unsigned char *du_idx_images(uint32_t count, uint32_t rows, uint32_t cols,
                             size_t *n);
/* IDX labels: ubyte (type 0x08) or int32 (0x0C) values. */
unsigned char *du_idx_labels(const int32_t *labels, uint32_t count, int type,
                             size_t *n);

/* Gray (channels 1) or RGB (3) PNG / JPEG of w x h from interleaved data. */
void du_write_png(const char *path, int w, int h, int channels,
                  const uint8_t *pixels);
void du_write_jpg(const char *path, int w, int h, int channels,
                  const uint8_t *pixels);

/* Sample i of ds as bytes (cnn_dataset_sample_u8, asserted to succeed),
 * in a static ring of buffers valid for the next 7 calls. */
const uint8_t *du_sample_u8(const cnn_dataset *ds, size_t i);
/* The float sample (cnn_dataset_sample), asserted to succeed. */
void du_sample(const cnn_dataset *ds, size_t i, float *out);

/* Opens spec and asserts failure whose message contains every non-NULL
 * needle; returns the status. */
cnn_status du_expect_fail(const char *spec, const cnn_shape *shape,
                          const char *n1, const char *n2, const char *n3);

#endif
