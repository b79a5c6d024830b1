/* SPDX-License-Identifier: MIT */
/* The executor's hooks for data-parallel hosts: a sample offset makes a
 * part of a batch draw the dropout masks of the whole batch, and the
 * backward hook fires once per layer, top down, when that layer's
 * parameter gradients are final. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/exec.h"
#include "cnn/graph.h"
#include "cnn/params.h"

static const char yaml[] = "name: drop\ninput: [3, 2, 2]\nlayers:\n"
                           "  - {name: flat, type: flatten}\n"
                           "  - {name: fc1, type: dense, units: 16}\n"
                           "  - {name: drop, type: dropout, rate: 0.5}\n"
                           "  - {name: fc2, type: dense, units: 3}\n";

static cnn_context *ctx;
static cnn_graph *graph;
static cnn_params *params;

static void setup(void)
{
    ctx = cnn_context_create();
    cr_assert_eq(cnn_graph_load_string(ctx, yaml, sizeof yaml - 1, "drop.yaml", &graph),
                 CNN_OK, "%s", cnn_context_message(ctx));
    cr_assert_eq(cnn_params_create(ctx, graph, &params), CNN_OK);
    cnn_params_init(params, 3);
}

static void teardown(void)
{
    cnn_params_destroy(params);
    cnn_graph_destroy(graph);
    cnn_context_destroy(ctx);
}

TestSuite(exec_hooks, .init = setup, .fini = teardown);

static cnn_exec *make(int64_t batch)
{
    cnn_exec *ex;
    cnn_exec_options o = {batch, 1, -1, 0};
    cr_assert_eq(cnn_exec_create(ctx, graph, params, &o, &ex), CNN_OK, "%s",
                 cnn_context_message(ctx));
    return ex;
}

Test(exec_hooks, sample_offset_gives_the_whole_batch_masks)
{
    float x[6 * 12];
    cnn_tensor in = {cnn_shape4(6, 3, 2, 2), x}, part = {cnn_shape4(2, 3, 2, 2), x + 3 * 12};
    cnn_exec *whole = make(6), *piece = make(2);
    const cnn_tensor *a, *b;
    int zeros = 0, differs = 0;
    for (int i = 0; i < 6 * 12; i++)
        x[i] = (float)((i * 37) % 11) / 5.0f - 1.0f;
    cr_assert_eq(cnn_exec_forward(whole, &in, 1, 77, 3), CNN_OK);
    cnn_exec_set_sample_offset(piece, 3);
    cr_assert_eq(cnn_exec_forward(piece, &part, 1, 77, 3), CNN_OK);
    a = cnn_exec_output(whole, 2);
    b = cnn_exec_output(piece, 2);
    /* The same elements dropped; the kept ones equal up to the dense
     * layer's rounding, which may sum differently for another batch size. */
    for (int i = 0; i < 2 * 16; i++) {
        float u = a->data[3 * 16 + i], v = b->data[i];
        cr_assert_eq(u == 0.0f, v == 0.0f, "element %d: %g against %g", i, u, v);
        cr_assert(fabsf(u - v) <= 1e-5f * fabsf(u) + 1e-6f, "element %d: %g against %g", i,
                  u, v);
        zeros += v == 0.0f;
    }
    cr_assert(zeros > 0 && zeros < 32, "dropout dropped %d of 32", zeros);
    /* Without the offset the part draws other masks. */
    cnn_exec_set_sample_offset(piece, 0);
    cr_assert_eq(cnn_exec_forward(piece, &part, 1, 77, 3), CNN_OK);
    b = cnn_exec_output(piece, 2);
    for (int i = 0; i < 2 * 16; i++)
        differs += (a->data[3 * 16 + i] == 0.0f) != (b->data[i] == 0.0f);
    cr_assert(differs > 0);
    cnn_exec_destroy(whole);
    cnn_exec_destroy(piece);
}

typedef struct seen {
    size_t layers[8];
    size_t n;
    float *snapshot; /* gradients as they were when each hook fired */
} seen;

static cnn_status record(void *user, size_t layer)
{
    seen *s = user;
    size_t count, first = cnn_params_layer_first(params, layer, &count);
    s->layers[s->n++] = layer;
    for (size_t k = first; k < first + count; k++) {
        cnn_tensor *g = cnn_params_grad(params, k);
        size_t off = (size_t)(g->data - cnn_params_grad_data(params));
        memcpy(s->snapshot + off, g->data, cnn_shape_numel(&g->shape) * sizeof(float));
    }
    return CNN_OK;
}

Test(exec_hooks, backward_hook_top_down_with_final_gradients)
{
    float x[4 * 12], dy[4 * 3];
    cnn_tensor in = {cnn_shape4(4, 3, 2, 2), x}, grad = {cnn_shape2(4, 3), dy};
    cnn_exec *ex = make(4);
    size_t n = cnn_params_numel(params);
    seen s = {{0}, 0, calloc(n, sizeof(float))};
    for (int i = 0; i < 4 * 12; i++)
        x[i] = (float)(i % 7) - 3.0f;
    for (int i = 0; i < 4 * 3; i++)
        dy[i] = (float)(i % 5) * 0.1f - 0.2f;
    cnn_exec_set_backward_hook(ex, record, &s);
    cr_assert_eq(cnn_exec_forward(ex, &in, 1, 5, 3), CNN_OK);
    cr_assert_eq(cnn_exec_backward(ex, &grad, 3, 0), CNN_OK);
    /* flatten (layer 0) has nothing trainable below it: not visited. */
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.layers[0], 3);
    cr_assert_eq(s.layers[1], 2);
    cr_assert_eq(s.layers[2], 1);
    cr_assert_eq(memcmp(s.snapshot, cnn_params_grad_data(params), n * sizeof(float)), 0,
                 "a gradient changed after its layer's hook");
    free(s.snapshot);
    cnn_exec_destroy(ex);
}
