/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

void cli_common_init(cli_common *common, const char *command,
                     const char *usage)
{
    memset(common, 0, sizeof *common);
    common->command = command;
    common->usage = usage;
    common->threads = 1;
}

int cli_common_option(cli_common *common, int opt, const char *arg,
                      int *exit_code)
{
    long long value;
    *exit_code = CLI_OK;
    switch (opt) {
    case CLI_OPT_PLUGIN_DIR:
        if (common->n_plugin_dirs == CLI_MAX_PLUGIN_DIRS) {
            *exit_code = cli_usage_error(common, "too many --plugin-dir");
            return 1;
        }
        common->plugin_dirs[common->n_plugin_dirs++] = arg;
        return 1;
    case CLI_OPT_THREADS:
        if (!cli_parse_int(arg, 1, 1024, &value)) {
            *exit_code = cli_usage_error(
                common, "--threads wants a whole number from 1 to 1024, got '%s'",
                arg);
            return 1;
        }
        common->threads = (int)value;
        return 1;
    case CLI_OPT_HELP:
        common->help = 1;
        fputs(common->usage, stdout);
        fputs(CLI_COMMON_HELP, stdout);
        return 1;
    case CLI_OPT_QUIET:
        common->quiet = 1;
        return 1;
    case '?':
        *exit_code = CLI_USAGE; /* getopt already said what was wrong */
        fprintf(stderr, "Try 'cnnrun %s --help'.\n", common->command);
        return 1;
    default:
        return 0;
    }
}

int cli_usage_error(const cli_common *common, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cnnrun %s: error: ", common->command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'cnnrun %s --help'.\n", common->command);
    return CLI_USAGE;
}

int cli_fail(const cli_common *common, const cnn_context *ctx)
{
    fprintf(stderr, "cnnrun %s: error: %s\n", common->command,
            cnn_context_message(ctx));
    return CLI_FAIL;
}

int cli_failf(const cli_common *common, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cnnrun %s: error: ", common->command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_FAIL;
}

static void log_to_stderr(void *user, cnn_log_level level, const char *msg)
{
    const cli_common *common = user;
    if (level == CNN_LOG_DEBUG)
        return;
    fprintf(stderr, "cnnrun %s: %s%s\n", common->command,
            level == CNN_LOG_WARN ? "warning: " : "", msg);
}

cnn_context *cli_context(const cli_common *common)
{
    cnn_context *ctx = cnn_context_create();
    if (!ctx) {
        fprintf(stderr, "cnnrun %s: error: out of memory\n", common->command);
        return NULL;
    }
    if (!common->quiet)
        cnn_context_set_logger(ctx, log_to_stderr, (void *)common);
    for (size_t i = 0; i < common->n_plugin_dirs; i++)
        if (cnn_context_add_plugin_dir(ctx, common->plugin_dirs[i]) != CNN_OK)
            goto fail;
    if (cnn_context_use_env_plugin_path(ctx) != CNN_OK ||
        cnn_context_set_threads(ctx, common->threads) != CNN_OK)
        goto fail;
    return ctx;
fail:
    cli_fail(common, ctx);
    cnn_context_destroy(ctx);
    return NULL;
}

int cli_parse_int(const char *text, long long min, long long max,
                  long long *out)
{
    char *end;
    long long v;
    if (!text || !*text)
        return 0;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno || *end || v < min || v > max)
        return 0;
    *out = v;
    return 1;
}

int cli_parse_u64(const char *text, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (!text || !*text || *text == '-')
        return 0;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno || *end)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

int cli_parse_double(const char *text, double min, double max, double *out)
{
    char *end;
    double v;
    if (!text || !*text)
        return 0;
    errno = 0;
    v = strtod(text, &end);
    if (errno || *end || !isfinite(v) || v < min || v > max)
        return 0;
    *out = v;
    return 1;
}

void cli_format_count(uint64_t value, char *buf, size_t size)
{
    char digits[32];
    size_t n = (size_t)snprintf(digits, sizeof digits, "%llu",
                                (unsigned long long)value);
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0 && o + 2 < size)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o < size ? o : size - 1] = '\0';
}

void cli_format_shape(const cnn_shape *shape, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int32_t i = 1; i < shape->rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld",
                                 i > 1 ? "x" : "", (long long)shape->dims[i]);
}

void cli_format_flops(uint64_t flops, char *buf, size_t size)
{
    double f = (double)flops;
    if (f >= 1e9)
        snprintf(buf, size, "%.2f GFLOPs", f / 1e9);
    else if (f >= 1e6)
        snprintf(buf, size, "%.2f MFLOPs", f / 1e6);
    else if (f >= 1e3)
        snprintf(buf, size, "%.2f kFLOPs", f / 1e3);
    else
        snprintf(buf, size, "%.0f FLOPs", f);
}

cnn_status cli_make_dirs(cnn_context *ctx, const char *path)
{
    char buf[4096];
    size_t len = strlen(path);
    struct stat st;
    if (len == 0 || len >= sizeof buf)
        return cnn_context_fail(ctx, CNN_ERR_INVALID, "'%s': bad folder name", path);
    memcpy(buf, path, len + 1);
    /* Each prefix ending before a '/', then the whole path. */
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (stat(buf, &st) != 0) {
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return cnn_context_fail(ctx, CNN_ERR_IO, "%s: cannot create the folder: %s",
                                        buf, strerror(errno));
        } else if (!S_ISDIR(st.st_mode)) {
            return cnn_context_fail(ctx, CNN_ERR_IO, "%s: exists and is not a folder", buf);
        }
        buf[i] = i < len ? '/' : '\0';
    }
    return CNN_OK;
}

cnn_status cli_make_parent_dirs(cnn_context *ctx, const char *path)
{
    char buf[4096];
    char *slash;
    if (strlen(path) >= sizeof buf)
        return cnn_context_fail(ctx, CNN_ERR_INVALID, "'%s': path too long", path);
    strcpy(buf, path);
    slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return CNN_OK;
    *slash = '\0';
    return cli_make_dirs(ctx, buf);
}
