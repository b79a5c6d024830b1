/* SPDX-License-Identifier: MIT */
/* What every libFuzzer harness of tests/fuzz/ shares: one quiet library
 * context for the whole process, and a private scratch folder where inputs
 * are written for the readers that only take a path. */
#ifndef CNN_FUZZ_UTIL_H
#define CNN_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"

/* The process's context: silent (no logger), one thread, built-in plugins
 * of this build tree. Created on first use; aborts when that fails, since
 * a harness without a context cannot test anything. Its error state is
 * cleared on every call. */
cnn_context *fuzz_context(void);

/* st == CNN_OK. With FUZZ_VERBOSE set in the environment a failure's
 * message is printed to stderr, to see why a seed or a reproducer was
 * refused. */
int fuzz_ok(cnn_status st);

/* Room for a path that fuzz_write_file returns. */
#define FUZZ_PATH_MAX 4352

/* Writes size bytes to `name` inside the process's scratch folder
 * (created on first use under $TMPDIR, else /dev/shm or /tmp, removed at
 * exit), stores its full path in path (FUZZ_PATH_MAX bytes) and returns
 * path. Rewriting one file per input is as fast as a memfd and, unlike a
 * memfd, keeps the file name's suffix (image decoders may choose by it).
 * Aborts on a write error: the input never reached the reader, so carrying
 * on would report nothing real. */
const char *fuzz_write_file(char *path, const char *name, const uint8_t *data,
                            size_t size);

/* The whole input up to the first occurrence of sep, and the rest after it;
 * without sep, all of it is the first part and the second is empty. For
 * harnesses whose reader takes two files (IDX images and labels). */
void fuzz_split(const uint8_t *data, size_t size, const char *sep,
                const uint8_t **first, size_t *first_size,
                const uint8_t **second, size_t *second_size);

#endif
