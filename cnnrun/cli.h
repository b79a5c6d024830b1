/* SPDX-License-Identifier: MIT */
/* What every cnnrun subcommand shares: exit codes, common options, the
 * context set-up and error printing. */
#ifndef CNNRUN_CLI_H
#define CNNRUN_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"
#include "cnn/tensor.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Long-option values for the options every subcommand accepts. */
enum {
    CLI_OPT_PLUGIN_DIR = 1000,
    CLI_OPT_THREADS,
    CLI_OPT_HELP,
    CLI_OPT_QUIET,
    CLI_OPT_FIRST_COMMAND /* subcommands number their own options from here */
};

#define CLI_COMMON_OPTIONS                                                     \
    {"plugin-dir", required_argument, NULL, CLI_OPT_PLUGIN_DIR},               \
        {"threads", required_argument, NULL, CLI_OPT_THREADS},                 \
        {"help", no_argument, NULL, CLI_OPT_HELP},                             \
        {"quiet", no_argument, NULL, CLI_OPT_QUIET}

#define CLI_COMMON_HELP                                                        \
    "Common options:\n"                                                        \
    "  --plugin-dir DIR  search DIR for layer plugins first (repeatable)\n"    \
    "  --threads T       threads for the whole process (default: 1)\n"         \
    "  --quiet           print only results and errors\n"                      \
    "  --help            show this help\n"

#define CLI_MAX_PLUGIN_DIRS 32

typedef struct cli_common {
    const char *command; /* "summary", for messages */
    const char *usage;   /* the subcommand's help text */
    const char *plugin_dirs[CLI_MAX_PLUGIN_DIRS];
    size_t n_plugin_dirs;
    int threads;
    int quiet;
    int help;
} cli_common;

void cli_common_init(cli_common *common, const char *command,
                     const char *usage);
/* Handles a common option; returns 1 when opt was one, 0 when not, and
 * CLI_USAGE through *exit_code on a bad value. */
int cli_common_option(cli_common *common, int opt, const char *arg,
                      int *exit_code);
/* Prints "cnnrun COMMAND: error: ..." and the usage hint; returns CLI_USAGE. */
int cli_usage_error(const cli_common *common, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Prints the context's message; returns CLI_FAIL. */
int cli_fail(const cli_common *common, const cnn_context *ctx);
/* Prints a formatted failure; returns CLI_FAIL. */
int cli_failf(const cli_common *common, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* A context with the common options applied (plugin dirs, CNN_PLUGIN_PATH,
 * threads, a logger on stderr unless quiet). NULL after printing an error. */
cnn_context *cli_context(const cli_common *common);

/* Creates the folders leading to path (as mkdir -p on its dirname), so an
 * output such as runs/a/metrics.jsonl can be written in a fresh clone.
 * cli_make_dirs creates path itself too. The message names the folder. */
cnn_status cli_make_parent_dirs(cnn_context *ctx, const char *path);
cnn_status cli_make_dirs(cnn_context *ctx, const char *path);

/* Parsers that reject trailing junk and out-of-range values. */
int cli_parse_int(const char *text, long long min, long long max,
                  long long *out);
int cli_parse_u64(const char *text, uint64_t *out);
int cli_parse_double(const char *text, double min, double max, double *out);

/* "61,706" */
void cli_format_count(uint64_t value, char *buf, size_t size);
/* "6x28x28" from a shape, leaving out the batch dimension. */
void cli_format_shape(const cnn_shape *shape, char *buf, size_t size);
/* "1.23 GFLOPs", "456.0 MFLOPs" */
void cli_format_flops(uint64_t flops, char *buf, size_t size);

#endif
