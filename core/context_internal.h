/* SPDX-License-Identifier: MIT */
/* What core files share about the context: setting errors and logging. */
#ifndef CNN_CORE_CONTEXT_INTERNAL_H
#define CNN_CORE_CONTEXT_INTERNAL_H

#include <stddef.h>

#include "cnn/context.h"

#define CNN_MESSAGE_MAX 1024

#if defined(__GNUC__)
#define CNN_PRINTF(fmt_index, first_arg)                                       \
    __attribute__((format(printf, fmt_index, first_arg)))
#else
#define CNN_PRINTF(fmt_index, first_arg)
#endif

/* Records status and a formatted one-line message on ctx; returns status so
 * callers can write `return cnn_fail(ctx, CNN_ERR_IO, "...", ...)`. */
cnn_status cnn_fail(cnn_context *ctx, cnn_status status, const char *fmt, ...)
    CNN_PRINTF(3, 4);

/* Puts "prefix: " before the message already on ctx (adds context as an
 * error travels up, e.g. the file name). Returns the status on ctx. */
cnn_status cnn_fail_prefix(cnn_context *ctx, const char *fmt, ...)
    CNN_PRINTF(2, 3);

/* A context that only collects one error message, for a library thread
 * that must not write to its caller's context (the loader's workers):
 * unlike cnn_context_create it leaves the BLAS thread count alone. Freed by
 * cnn_context_destroy; NULL when out of memory. */
cnn_context *cnn_context_create_scratch(void);

/* Sends a message to the installed logger, if any. */
void cnn_log(cnn_context *ctx, cnn_log_level level, const char *fmt, ...)
    CNN_PRINTF(3, 4);

/* The explicit plugin directories, CNN_PLUGIN_PATH entries and whether the
 * default (build tree, install) directories are searched. */
size_t cnn_context_plugin_dir_count(const cnn_context *ctx);
const char *cnn_context_plugin_dir(const cnn_context *ctx, size_t index);
int cnn_context_default_plugin_dirs(const cnn_context *ctx);

/* The default plugin directories in search order (at most 2): the build
 * tree's plugin root, whose plugins sit in <root>/<type>/<type>.so
 * (*is_tree set), only while this libcnn is the build tree's own; then the
 * install directory. */
size_t cnn_default_plugin_dirs(const char **dirs, int *is_tree);

/* The registry's per-context cache (owned by plugin_registry.c). */
struct cnn_plugin_cache;
struct cnn_plugin_cache **cnn_context_plugin_cache(cnn_context *ctx);
void cnn_plugin_cache_free(struct cnn_plugin_cache *cache);

#endif
