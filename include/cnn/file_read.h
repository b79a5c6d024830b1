/* SPDX-License-Identifier: MIT */
/* Opening files for reading, the one way every reader of untrusted files
 * does it: only regular files are read. A FIFO would block the open (or
 * the first read) forever, a device can be endless, a directory is never
 * what was meant; each is an error naming the path and what it is.
 *
 * The path is stat'ed first (so a device is not even opened), then opened
 * with O_NONBLOCK (so a FIFO swapped in after the stat cannot block the
 * open), checked again with fstat on the descriptor (so what is read is
 * what was checked), and O_NONBLOCK is cleared before the caller reads. */
#ifndef CNN_FILE_READ_H
#define CNN_FILE_READ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cnn/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opens path read-only (close-on-exec) when it is a regular file; *fd is
 * the descriptor (the caller closes it) and *size, when not NULL, the
 * file's size. On failure *fd is -1 and ctx says why: CNN_ERR_NOT_FOUND
 * for a missing file, CNN_ERR_IO otherwise. */
cnn_status cnn_file_open_regular(cnn_context *ctx, const char *path, int *fd,
                                 uint64_t *size);

/* The same as a stdio stream opened "rb" (the caller fcloses it). */
cnn_status cnn_file_fopen_regular(cnn_context *ctx, const char *path,
                                  FILE **out, uint64_t *size);

/* Reads the whole regular file at path into a malloc'd buffer (the caller
 * frees it; one byte more than *size is allocated and set to 0, so text
 * can be used as a C string). A file larger than max_bytes is refused
 * before anything is read, the message naming `what` ("graph file") and
 * the limit; so is a file that changes size while being read. */
cnn_status cnn_file_read_all(cnn_context *ctx, const char *path,
                             size_t max_bytes, const char *what,
                             unsigned char **data, size_t *size);

#ifdef __cplusplus
}
#endif
#endif
