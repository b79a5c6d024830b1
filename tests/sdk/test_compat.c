/* SPDX-License-Identifier: MIT */
/* ABI compatibility through a whole graph: a plugin built against an older
 * minor version (the 1.0 struct, shorter than today's) loads, runs forward
 * and backward inside a graph, and is not credited with hooks it never
 * had; a plugin from a newer major version is refused at graph load with
 * both versions in the message. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cnn/exec.h"
#include "cnn/graph.h"
#include "cnn/params.h"
#include "cnn/plugin.h"

#ifndef SDK_FIXTURE_DIR
#error "SDK_FIXTURE_DIR is defined by tests/sdk/meson.build"
#endif

static cnn_context *fixture_context(void)
{
    cnn_context *ctx = cnn_context_create();
    cr_assert_not_null(ctx);
    cr_assert_eq(cnn_context_add_plugin_dir(ctx, SDK_FIXTURE_DIR), CNN_OK);
    return ctx;
}

static cnn_graph *load(cnn_context *ctx, const char *yaml)
{
    cnn_graph *g = NULL;
    cnn_status st =
        cnn_graph_load_string(ctx, yaml, strlen(yaml), "compat.yaml", &g);
    cr_assert_eq(st, CNN_OK, "%s", cnn_context_message(ctx));
    return g;
}

/* conv 1x1 (weight 0.5, no bias), then the 1.0 plugin (y = 2x): the graph
 * computes y = x, and dL/dw = sum of 2 x g. The conv in front makes the
 * executor run the old plugin's backward. */
static const char compat_graph[] =
    "name: compat\n"
    "input: [1, 2, 3]\n"
    "layers:\n"
    "  - {name: scale, type: conv, filters: 1, kernel: 1, bias: false}\n"
    "  - {name: old, type: old_abi}\n"
    "  - {name: flat, type: flatten}\n";

Test(compat, older_minor_loads_and_runs)
{
    cnn_context *ctx = fixture_context();
    cnn_graph *g = load(ctx, compat_graph);
    cnn_params *params = NULL;
    cnn_exec *ex = NULL;
    cnn_layer_info info;
    float x[12], grad[12], *w;
    cnn_tensor in = {{4, {2, 1, 2, 3}}, x};
    cnn_tensor dy = {{2, {2, 6}}, grad};
    const cnn_tensor *y;
    cnn_exec_options opts = {2, 1, -1, 0};
    double want_dw = 0.0;

    int32_t old = cnn_graph_find_layer(g, "old");
    cr_assert(old >= 0);
    cnn_graph_layer_info(g, (size_t)old, &info);
    cr_assert_eq(cnn_plugin_abi_version(info.plugin),
                 CNN_LAYER_ABI_MAKE(1u, 0u));
    cr_assert_eq(info.descriptor->struct_size, CNN_LAYER_DESCRIPTOR_SIZE_1_0);
    cr_assert_null(info.descriptor->flops,
                   "the host read past the 1.0 struct (a flops hook)");
    cr_assert_eq(info.flops, 0, "flops %llu from a hook the plugin lacks",
                 (unsigned long long)info.flops);

    cr_assert_eq(cnn_params_create(ctx, g, &params), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cr_assert_eq(cnn_params_count(params), 1);
    w = cnn_params_data(params);
    w[0] = 0.5f;
    cr_assert_eq(cnn_exec_create(ctx, g, params, &opts, &ex), CNN_OK, "%s",
                 cnn_context_message(ctx));
    for (int i = 0; i < 12; i++) {
        x[i] = (float)(i - 5) * 0.25f;
        grad[i] = (float)(i % 4) - 1.5f;
        want_dw += 2.0 * x[i] * grad[i];
    }
    cr_assert_eq(cnn_exec_forward(ex, &in, 1, 7, cnn_graph_output_layer(g)),
                 CNN_OK, "%s", cnn_context_message(ctx));
    y = cnn_exec_output(ex, cnn_graph_output_layer(g));
    cr_assert_not_null(y);
    for (int i = 0; i < 12; i++)
        cr_assert_float_eq(y->data[i], x[i], 1e-6f, "y[%d] = %g, want %g", i,
                           (double)y->data[i], (double)x[i]);
    cr_assert_eq(cnn_exec_backward(ex, &dy, cnn_graph_output_layer(g), 0),
                 CNN_OK, "%s", cnn_context_message(ctx));
    cr_assert_float_eq(cnn_params_grad_data(params)[0], (float)want_dw, 1e-4f,
                       "dL/dw = %g, want %g",
                       (double)cnn_params_grad_data(params)[0], want_dw);

    cnn_exec_destroy(ex);
    cnn_params_destroy(params);
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

Test(compat, newer_major_refused_with_both_versions)
{
    static const char yaml[] = "name: future\n"
                               "input: [1, 2, 3]\n"
                               "layers:\n"
                               "  - {name: next, type: new_major}\n";
    cnn_context *ctx = fixture_context();
    cnn_graph *g = NULL;
    char host[64];
    const char *msg;

    cr_assert_neq(
        cnn_graph_load_string(ctx, yaml, strlen(yaml), "future.yaml", &g),
        CNN_OK, "a plugin declaring ABI 2.0 was accepted");
    cr_assert_null(g);
    msg = cnn_context_message(ctx);
    snprintf(host, sizeof host, "host supports %u.%u", CNN_LAYER_ABI_MAJOR,
             CNN_LAYER_ABI_MINOR);
    cr_assert(strstr(msg, "plugin ABI 2.0"), "no plugin version in: %s", msg);
    cr_assert(strstr(msg, host), "no host version in: %s", msg);
    cr_assert(strstr(msg, "new_major.so"), "no file in: %s", msg);
    cnn_context_destroy(ctx);
}
