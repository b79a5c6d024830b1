/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rename_option.h"

int rename_option_add(rename_option *opt, const char *arg)
{
    if (opt->count == RENAME_OPTION_MAX)
        return 0;
    opt->args[opt->count++] = arg;
    return 1;
}

/* FROM=TO as one rule; "FROM=" and "FROM=~" drop. */
static cnn_status add_rule(cnn_context *ctx, cnn_rename_map *map,
                           const char *arg)
{
    const char *eq = strchr(arg, '=');
    char origin[600], *from;
    cnn_status st;
    snprintf(origin, sizeof origin, "--rename %s", arg);
    if (!eq)
        return cnn_context_fail(ctx, CNN_ERR_INVALID,
                                "--rename %s: no such rename file, and not a "
                                "FROM=TO rule",
                                arg);
    from = malloc((size_t)(eq - arg) + 1);
    if (!from)
        return cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    memcpy(from, arg, (size_t)(eq - arg));
    from[eq - arg] = '\0';
    st = cnn_rename_map_add(ctx, map, from,
                            !eq[1] || !strcmp(eq + 1, "~") ? NULL : eq + 1,
                            origin);
    free(from);
    return st;
}

cnn_status rename_option_build(cnn_context *ctx, const rename_option *opt,
                               cnn_rename_map **out)
{
    cnn_rename_map *map = NULL;
    cnn_status st;
    *out = NULL;
    if (!opt || !opt->count)
        return CNN_OK;
    st = cnn_rename_map_create(ctx, &map);
    for (size_t i = 0; st == CNN_OK && i < opt->count; i++) {
        struct stat info;
        if (stat(opt->args[i], &info) == 0)
            st = cnn_rename_map_load(ctx, map, opt->args[i]);
        else
            st = add_rule(ctx, map, opt->args[i]);
    }
    if (st != CNN_OK) {
        cnn_rename_map_destroy(map);
        return st;
    }
    *out = map;
    return CNN_OK;
}
