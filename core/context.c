/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "context_internal.h"
#include "thread_pool.h"

struct cnn_context {
    cnn_status status;
    char message[CNN_MESSAGE_MAX];
    cnn_log_fn log_fn;
    void *log_user;
    char **plugin_dirs;
    size_t n_plugin_dirs;
    int default_plugin_dirs;
    int threads;
    cnn_thread_pool *pool; /* started by the first parallel_for */
    struct cnn_plugin_cache *plugins;
};

cnn_context *cnn_context_create(void)
{
    cnn_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->default_plugin_dirs = 1;
    ctx->threads = 1;
    /* A budget of one thread holds for BLAS too (cnn_context_set_threads). */
    openblas_set_num_threads(1);
    return ctx;
}

cnn_context *cnn_context_create_scratch(void)
{
    cnn_context *ctx = calloc(1, sizeof *ctx);
    if (ctx) {
        ctx->default_plugin_dirs = 1;
        ctx->threads = 1;
    }
    return ctx;
}

void cnn_context_destroy(cnn_context *ctx)
{
    if (!ctx)
        return;
    cnn_plugin_cache_free(ctx->plugins);
    cnn_thread_pool_destroy(ctx->pool);
    for (size_t i = 0; i < ctx->n_plugin_dirs; i++)
        free(ctx->plugin_dirs[i]);
    free(ctx->plugin_dirs);
    free(ctx);
}

const char *cnn_context_message(const cnn_context *ctx)
{
    return ctx ? ctx->message : "no context";
}

cnn_status cnn_context_status(const cnn_context *ctx)
{
    return ctx ? ctx->status : CNN_ERR_INVALID;
}

void cnn_context_clear_error(cnn_context *ctx)
{
    ctx->status = CNN_OK;
    ctx->message[0] = '\0';
}

void cnn_context_set_logger(cnn_context *ctx, cnn_log_fn fn, void *user)
{
    ctx->log_fn = fn;
    ctx->log_user = user;
}

cnn_status cnn_fail(cnn_context *ctx, cnn_status status, const char *fmt, ...)
{
    va_list ap;
    if (!ctx)
        return status;
    ctx->status = status;
    va_start(ap, fmt);
    vsnprintf(ctx->message, sizeof ctx->message, fmt, ap);
    va_end(ap);
    return status;
}

cnn_status cnn_context_fail(cnn_context *ctx, cnn_status status,
                            const char *fmt, ...)
{
    va_list ap;
    if (!ctx)
        return status;
    ctx->status = status;
    va_start(ap, fmt);
    vsnprintf(ctx->message, sizeof ctx->message, fmt, ap);
    va_end(ap);
    return status;
}

cnn_status cnn_fail_prefix(cnn_context *ctx, const char *fmt, ...)
{
    char joined[CNN_MESSAGE_MAX];
    size_t used;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(joined, sizeof joined, fmt, ap);
    va_end(ap);
    used = strlen(joined);
    /* Append ": " and the old message by hand: snprintf with two bounded
     * strings draws truncation warnings that would be errors in CI. */
    for (const char *p = ": "; *p && used + 1 < sizeof joined; p++)
        joined[used++] = *p;
    for (const char *p = ctx->message; *p && used + 1 < sizeof joined; p++)
        joined[used++] = *p;
    joined[used] = '\0';
    memcpy(ctx->message, joined, used + 1);
    if (ctx->status == CNN_OK)
        ctx->status = CNN_ERR_INVALID;
    return ctx->status;
}

void cnn_log(cnn_context *ctx, cnn_log_level level, const char *fmt, ...)
{
    char line[CNN_MESSAGE_MAX];
    va_list ap;
    if (!ctx || !ctx->log_fn)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ctx->log_fn(ctx->log_user, level, line);
}

void cnn_context_log(cnn_context *ctx, cnn_log_level level, const char *fmt,
                     ...)
{
    char line[CNN_MESSAGE_MAX];
    va_list ap;
    if (!ctx || !ctx->log_fn)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ctx->log_fn(ctx->log_user, level, line);
}

static cnn_status add_dir(cnn_context *ctx, const char *dir, size_t length)
{
    char **grown;
    char *copy;
    if (length == 0)
        return CNN_OK; /* an empty PATH entry means nothing here */
    copy = malloc(length + 1);
    if (!copy)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    memcpy(copy, dir, length);
    copy[length] = '\0';
    grown = realloc(ctx->plugin_dirs,
                    (ctx->n_plugin_dirs + 1) * sizeof *ctx->plugin_dirs);
    if (!grown) {
        free(copy);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    ctx->plugin_dirs = grown;
    ctx->plugin_dirs[ctx->n_plugin_dirs++] = copy;
    return CNN_OK;
}

cnn_status cnn_context_add_plugin_dir(cnn_context *ctx, const char *dir)
{
    if (!dir || !*dir)
        return cnn_fail(ctx, CNN_ERR_INVALID, "empty plugin directory");
    return add_dir(ctx, dir, strlen(dir));
}

cnn_status cnn_context_use_env_plugin_path(cnn_context *ctx)
{
    const char *path = getenv("CNN_PLUGIN_PATH");
    while (path && *path) {
        const char *colon = strchr(path, ':');
        size_t length = colon ? (size_t)(colon - path) : strlen(path);
        cnn_status st = add_dir(ctx, path, length);
        if (st != CNN_OK)
            return st;
        path = colon ? colon + 1 : NULL;
    }
    return CNN_OK;
}

void cnn_context_set_default_plugin_dirs(cnn_context *ctx, int enabled)
{
    ctx->default_plugin_dirs = enabled != 0;
}

size_t cnn_context_plugin_dir_count(const cnn_context *ctx)
{
    return ctx->n_plugin_dirs;
}

const char *cnn_context_plugin_dir(const cnn_context *ctx, size_t index)
{
    return index < ctx->n_plugin_dirs ? ctx->plugin_dirs[index] : NULL;
}

int cnn_context_default_plugin_dirs(const cnn_context *ctx)
{
    return ctx->default_plugin_dirs;
}

struct cnn_plugin_cache **cnn_context_plugin_cache(cnn_context *ctx)
{
    return &ctx->plugins;
}

cnn_status cnn_context_set_threads(cnn_context *ctx, int threads)
{
    if (threads < 1 || threads > 1024)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "threads must be between 1 and 1024, got %d", threads);
    ctx->threads = threads;
    /* One threading layer for the process: our pool owns all `threads`
     * threads (parallel_for, and the plugins split big GEMMs across it), so
     * OpenBLAS stays at one thread, running on whichever pool thread calls
     * it. Two layers would oversubscribe the cores, and OpenBLAS's workers
     * spin for a while after each call, stealing the core from ours. See
     * core/thread_pool.h and docs/performance.md. */
    openblas_set_num_threads(1);
    if (ctx->pool && cnn_thread_pool_threads(ctx->pool) != threads) {
        cnn_thread_pool_destroy(ctx->pool);
        ctx->pool = NULL;
    }
    return CNN_OK;
}

cnn_thread_pool *cnn_context_thread_pool(cnn_context *ctx)
{
    if (!ctx || ctx->threads < 2)
        return NULL;
    if (!ctx->pool)
        ctx->pool = cnn_thread_pool_create(ctx->threads);
    return ctx->pool;
}

int cnn_context_threads(const cnn_context *ctx)
{
    return ctx->threads;
}

const char *cnn_version(void)
{
    return CNN_VERSION;
}
