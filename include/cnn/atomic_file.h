/* SPDX-License-Identifier: MIT */
/* Crash-safe replacement of a file: weights, checkpoints and .npy outputs
 * inside libcnn, and any file a host writes (cnnrun's SVG, LIBSVM text).
 *
 * Bytes go to a temporary file made with mkstemp in the target's folder (so
 * the final rename stays on one file system); commit fsyncs it, renames it
 * over the target and fsyncs the folder. Until the rename succeeds the old
 * file is untouched; on any failure the temporary file is removed. Messages
 * name the target path and the system error (strerror). */
#ifndef CNN_ATOMIC_FILE_H
#define CNN_ATOMIC_FILE_H

#include <stddef.h>

#include "cnn/context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnn_atomic_file cnn_atomic_file;

/* Creates the temporary file for path. The new file gets the permission
 * bits of the file it replaces, or 0666 minus the umask for a new file.
 * On failure *out is NULL and ctx holds the message. */
cnn_status cnn_atomic_file_open(cnn_context *ctx, const char *path,
                                cnn_atomic_file **out);

/* Appends size bytes, retrying interrupted and short writes. After a
 * failure the handle stays valid: later writes return the same status and
 * do nothing, and commit reports it (then cleans up). */
cnn_status cnn_atomic_file_write(cnn_atomic_file *file, const void *data,
                                 size_t size);

/* fsync, rename over the target, fsync the folder. Always frees file. On
 * failure before the rename the temporary is removed and the old file is
 * left as it was. */
cnn_status cnn_atomic_file_commit(cnn_atomic_file *file);

/* Removes the temporary file and frees file; NULL is a no-op. */
void cnn_atomic_file_abort(cnn_atomic_file *file);

/* open + write + commit of one buffer. */
cnn_status cnn_atomic_file_write_all(cnn_context *ctx, const char *path,
                                     const void *data, size_t size);

#ifdef __cplusplus
}
#endif
#endif
