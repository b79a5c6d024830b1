/* SPDX-License-Identifier: MIT */
/* --rename FILE|FROM=TO (repeatable), shared by the commands that load
 * weights (forward, eval, predict, features, train's --init and backbone):
 * the arguments are kept while getopt runs, then turned into one rename
 * map once there is a context to report errors on. */
#ifndef CNNRUN_RENAME_OPTION_H
#define CNNRUN_RENAME_OPTION_H

#include <stddef.h>

#include "cnn/context.h"
#include "cnn/rename.h"

#define RENAME_OPTION_MAX 64

#define RENAME_OPTION_HELP                                                     \
    "  --rename FILE|FROM=TO  rename the weights' tensors as they load: a\n"  \
    "                    rename file (graphs/renames/) or one rule; '*' once\n" \
    "                    a side is a wildcard, FROM= drops (repeatable; tried\n" \
    "                    before the graph's own rename: rules)\n"

typedef struct rename_option {
    const char *args[RENAME_OPTION_MAX];
    size_t count;
} rename_option;

/* Keeps arg; 0 when RENAME_OPTION_MAX are kept already. */
int rename_option_add(rename_option *opt, const char *arg);

/* The rules of every argument in order: an argument naming an existing
 * file is a rename file, else FROM=TO is one rule (TO empty or ~ drops).
 * *out is NULL when there were none. Errors name the argument. */
cnn_status rename_option_build(cnn_context *ctx, const rename_option *opt,
                               cnn_rename_map **out);

#endif
