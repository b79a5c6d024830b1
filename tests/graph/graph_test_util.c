/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "graph_test_util.h"

cnn_context *gt_context(void)
{
    cnn_context *ctx = cnn_context_create();
    cr_assert_not_null(ctx);
    cr_assert_eq(cnn_context_add_plugin_dir(ctx, GRAPH_PROBE_DIR), CNN_OK);
    return ctx;
}

const char *gt_fixture(const char *name)
{
    static char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", GRAPH_FIXTURES, name);
    cr_assert(n > 0 && (size_t)n < sizeof path);
    return path;
}

void gt_expect_error(const char *name, cnn_status status, int line, int column,
                     ...)
{
    cnn_context *ctx = gt_context();
    cnn_graph *graph = (cnn_graph *)1;
    char prefix[4200];
    const char *msg;
    const char *word;
    va_list ap;
    cnn_status st = cnn_graph_load(ctx, gt_fixture(name), &graph);
    msg = cnn_context_message(ctx);
    cr_assert_neq(st, CNN_OK, "%s loaded but should fail", name);
    cr_assert_null(graph, "%s: *out must be NULL on failure", name);
    cr_assert_eq(st, status, "%s: status %d (%s), want %d; message: %s", name,
                 st, cnn_status_text(st), status, msg);
    cr_assert_eq(cnn_context_status(ctx), st);
    snprintf(prefix, sizeof prefix, "%s:%d:%d: ", gt_fixture(name), line,
             column);
    cr_assert(strncmp(msg, prefix, strlen(prefix)) == 0,
              "message does not start with '%s': %s", prefix, msg);
    va_start(ap, column);
    while ((word = va_arg(ap, const char *)) != NULL)
        cr_assert(strstr(msg, word) != NULL, "'%s' missing from: %s", word,
                  msg);
    va_end(ap);
    cr_assert(strchr(msg, '\n') == NULL, "message has a newline: %s", msg);
    cnn_context_destroy(ctx);
}
