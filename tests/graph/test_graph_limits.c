/* SPDX-License-Identifier: MIT */
/* Limits checked before libyaml builds a document: nesting depth (libyaml
 * slows quadratically with depth and its loader recurses once per level:
 * 2 MB of '[' took minutes) and file size. Each refusal must come at once,
 * name file:line:column, and say what the limit is. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "graph_test_util.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Loads text; expects refusal for depth at "origin:line:column: " within
 * a second (it took minutes before the check). */
static void expect_too_deep(const char *text, size_t length, int line,
                            int column)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = NULL;
    char where[64];
    double t0 = now();
    cnn_status st = cnn_graph_load_string(ctx, text, length, "deep.yaml", &g);
    double seconds = now() - t0;
    const char *msg = cnn_context_message(ctx);
    snprintf(where, sizeof where, "deep.yaml:%d:%d: ", line, column);
    cr_assert_eq(st, CNN_ERR_GRAPH, "status %d: %s", st, msg);
    cr_assert_null(g);
    cr_assert(strncmp(msg, where, strlen(where)) == 0 &&
                  strstr(msg, "nested more than 64 deep"),
              "message: %s (wanted it to start with %s)", msg, where);
    cr_assert_lt(seconds, 1.0, "took %.2f s", seconds);
    cnn_context_destroy(ctx);
}

static char *repeat(const char *head, const char *unit, size_t times,
                    size_t *length)
{
    size_t h = strlen(head), u = strlen(unit);
    char *text = malloc(h + u * times + 1);
    cr_assert_not_null(text);
    memcpy(text, head, h);
    for (size_t i = 0; i < times; i++)
        memcpy(text + h + i * u, unit, u);
    text[h + u * times] = '\0';
    *length = h + u * times;
    return text;
}

Test(graph_limits, two_megabytes_of_flow_sequences, .timeout = 30)
{
    size_t n;
    char *text = repeat("", "[", 2000000, &n);
    expect_too_deep(text, n, 1, 65);
    free(text);
}

Test(graph_limits, flow_mappings_under_a_key, .timeout = 30)
{
    size_t n;
    char *text = repeat("name: x\nlayers: ", "{a: ", 200000, &n);
    /* The root mapping is level 1; the 64th '{' opens level 65. */
    expect_too_deep(text, n, 2, 9 + 4 * 63);
    free(text);
}

Test(graph_limits, block_sequences_on_one_line, .timeout = 30)
{
    size_t n;
    char *text = repeat("", "- ", 1000000, &n);
    expect_too_deep(text, n, 1, 129);
    free(text);
}

Test(graph_limits, indented_block_mappings, .timeout = 30)
{
    /* a:\n b:\n  c:\n ... one level per line, one more space each. */
    char *text = malloc(200 * 210);
    size_t n = 0;
    for (int i = 0; i < 200; i++) {
        memset(text + n, ' ', (size_t)i);
        n += (size_t)i;
        n += (size_t)sprintf(text + n, "k%d:\n", i);
    }
    n += (size_t)sprintf(text + n, "%*sleaf\n", 200, "");
    expect_too_deep(text, n, 65, 65);
    free(text);
}

Test(graph_limits, sixty_four_levels_pass_the_depth_check)
{
    /* 62 nested sequences under a key of the root: 64 levels in all. The
     * graph is refused, but for its unknown key, not for depth. */
    cnn_context *ctx = gt_context();
    cnn_graph *g = NULL;
    char text[512];
    int n = snprintf(text, sizeof text,
                     "name: x\ninput: [1, 2, 2]\nlayers: [{name: r, type: "
                     "relu}]\nextra: ");
    for (int i = 0; i < 62; i++)
        text[n++] = '[';
    for (int i = 0; i < 62; i++)
        text[n++] = ']';
    text[n++] = '\n';
    cr_assert_neq(cnn_graph_load_string(ctx, text, (size_t)n, "ok.yaml", &g),
                  CNN_OK);
    cr_assert_null(strstr(cnn_context_message(ctx), "nested"), "%s",
                  cnn_context_message(ctx));
    cr_assert(strstr(cnn_context_message(ctx), "extra"), "%s",
              cnn_context_message(ctx));
    cnn_context_destroy(ctx);
}

Test(graph_limits, oversized_file_is_refused_before_reading)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = NULL;
    char path[] = "/tmp/cnn-graph-big-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    /* A sparse 1 GB file: reading it whole would take a while. */
    cr_assert_eq(ftruncate(fd, (off_t)1 << 30), 0);
    close(fd);
    cr_assert_eq(cnn_graph_load(ctx, path, &g), CNN_ERR_FORMAT);
    cr_assert(strstr(cnn_context_message(ctx), path) &&
                  strstr(cnn_context_message(ctx),
                         "1073741824 bytes is too large for a graph file"),
              "%s", cnn_context_message(ctx));
    unlink(path);
    cnn_context_destroy(ctx);
}

Test(graph_limits, too_many_nodes_in_a_flat_list, .timeout = 30)
{
    /* 600000 scalars in 1.2 MB, under the size cap and one level deep. */
    cnn_context *ctx = gt_context();
    cnn_graph *g = NULL;
    size_t n;
    char *text = repeat("name: x\nextra: [", "1,", 600000, &n);
    double t0 = now();
    cr_assert_eq(cnn_graph_load_string(ctx, text, n, "flat.yaml", &g),
                 CNN_ERR_GRAPH);
    cr_assert_lt(now() - t0, 2.0);
    cr_assert(strstr(cnn_context_message(ctx), "flat.yaml:2:") &&
                  strstr(cnn_context_message(ctx), "more than 500000 YAML nodes"),
              "%s", cnn_context_message(ctx));
    free(text);
    cnn_context_destroy(ctx);
}
