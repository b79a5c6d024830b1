/* SPDX-License-Identifier: MIT */
/* The library context: last error, plugin search path, logging, threads.
 *
 * Every libcnn call that can fail takes a context, returns a cnn_status and,
 * on failure, leaves a one-line message on the context naming the file, line,
 * layer or value at fault. The library never prints, exits or aborts on user
 * input; messages reach the host through cnn_context_message and the logger.
 * A context and the objects made from it are used from one thread at a time. */
#ifndef CNN_CONTEXT_H
#define CNN_CONTEXT_H

#include "cnn/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnn_context cnn_context;

typedef enum cnn_log_level {
    CNN_LOG_DEBUG = 0,
    CNN_LOG_INFO = 1,
    CNN_LOG_WARN = 2
} cnn_log_level;

/* msg is borrowed for the duration of the call; one line, no newline. */
typedef void (*cnn_log_fn)(void *user, cnn_log_level level, const char *msg);

/* A new context, or NULL when memory is exhausted. Reads no environment:
 * see cnn_context_use_env_plugin_path. */
cnn_context *cnn_context_create(void);
void cnn_context_destroy(cnn_context *ctx);

/* The message of the last failure ("" if none); owned by the context, valid
 * until the next call that fails or clears it. */
const char *cnn_context_message(const cnn_context *ctx);
cnn_status cnn_context_status(const cnn_context *ctx);
void cnn_context_clear_error(cnn_context *ctx);
/* Records a failure of the host's own (say, an allocation in a tool) so
 * that one path reports every error. Returns status. */
cnn_status cnn_context_fail(cnn_context *ctx, cnn_status status,
                            const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Installs the logger; NULL silences the library (the default). */
void cnn_context_set_logger(cnn_context *ctx, cnn_log_fn fn, void *user);
/* Sends a formatted line to the installed logger (for hosts and tools that
 * want their messages to go where the library's go). */
void cnn_context_log(cnn_context *ctx, cnn_log_level level, const char *fmt,
                     ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Plugin search order: directories added here, in order; then the entries of
 * CNN_PLUGIN_PATH (when cnn_context_use_env_plugin_path was called); then the
 * build tree's plugins; then the installed plugin directory. The directory
 * string is copied. */
cnn_status cnn_context_add_plugin_dir(cnn_context *ctx, const char *dir);
/* Reads CNN_PLUGIN_PATH (colon-separated) now. */
cnn_status cnn_context_use_env_plugin_path(cnn_context *ctx);
/* Disables the build-tree and install directories (tests of the search). */
void cnn_context_set_default_plugin_dirs(cnn_context *ctx, int enabled);

/* Thread budget for the whole process (BLAS and parallel loops); >= 1. */
cnn_status cnn_context_set_threads(cnn_context *ctx, int threads);
int cnn_context_threads(const cnn_context *ctx);

/* Library version string, e.g. "0.1.0". */
const char *cnn_version(void);

#ifdef __cplusplus
}
#endif
#endif
