/* SPDX-License-Identifier: MIT */
/* The executor's memory plan (core/exec_plan.h) and what it may change:
 * nothing. Items whose lifetimes meet never share memory, a workspace gap
 * is free at its step, and training with shared buffers and in-place
 * layers gives bit for bit what every-buffer-its-own-memory gives
 * (CNN_EXEC_SEPARATE_BUFFERS=1, the executor before the plan). In place
 * happens exactly where the maths allows: relu after a convolution or a
 * dense layer, dropout after dense; not relu after relu (relu's backward
 * needs its own output), nor when the input has a second reader. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/exec.h"
#include "cnn/graph.h"
#include "cnn/params.h"
#include "cnn/train.h"
#include "exec_net.h"
#include "exec_plan.h"

#define LENET CNN_TEST_SOURCE_ROOT "/graphs/lenet5.yaml"

/* ---- The planner ---------------------------------------------------------- */

static uint64_t next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static size_t padded(size_t floats)
{
    return (floats + CNN_PLAN_ALIGN_FLOATS - 1) / CNN_PLAN_ALIGN_FLOATS *
           CNN_PLAN_ALIGN_FLOATS;
}

static int spans_meet(size_t a, size_t an, size_t b, size_t bn)
{
    return a < b + bn && b < a + an;
}

Test(exec_plan, disjoint_lifetimes_share_memory)
{
    cnn_plan_item it[3] = {{100, 0, 1, 0}, {100, 2, 3, 0}, {0, 0, 3, 0}};
    size_t arena = cnn_plan_place(it, 3);
    cr_assert_eq(arena, padded(100));
    cr_assert_eq(it[0].offset, 0);
    cr_assert_eq(it[1].offset, 0);
}

Test(exec_plan, meeting_lifetimes_never_overlap)
{
    enum { N = 300 };
    cnn_plan_item it[N];
    uint64_t s = 42;
    size_t total = 0, arena, bound;
    for (int i = 0; i < N; i++) {
        uint32_t a = (uint32_t)(next(&s) % 60), b = (uint32_t)(next(&s) % 60);
        it[i].floats = next(&s) % 5 == 0 ? 0 : 1 + next(&s) % 5000;
        it[i].first = a < b ? a : b;
        it[i].last = a < b ? b : a;
        total += padded(it[i].floats);
    }
    arena = cnn_plan_place(it, N);
    bound = cnn_plan_lower_bound(it, N);
    cr_assert(arena >= bound && arena <= total, "arena %zu, bound %zu, total %zu", arena,
              bound, total);
    for (int i = 0; i < N; i++) {
        if (!it[i].floats)
            continue;
        cr_assert_eq(it[i].offset % CNN_PLAN_ALIGN_FLOATS, 0);
        cr_assert(it[i].offset + it[i].floats <= arena);
        for (int j = i + 1; j < N; j++)
            if (it[j].floats && it[i].first <= it[j].last && it[j].first <= it[i].last)
                cr_assert(!spans_meet(it[i].offset, it[i].floats, it[j].offset, it[j].floats),
                          "items %d and %d live together and overlap", i, j);
    }
}

/* A chain of halving sizes: each activation read by the next layer's
 * forward and its own backward, gradients born one step before they die.
 * Greedy by size is not optimal: 12.5% above the bound here (the plans of
 * VGG-16 and ResNet-18 training at batch 8 meet their bounds exactly,
 * MobileNetV2's is 0.02% above). */
Test(exec_plan, chain_reaches_the_lower_bound)
{
    enum { L = 20 };
    cnn_plan_item it[2 * L];
    for (uint32_t l = 0; l < L; l++) {
        size_t floats = (size_t)1 << (20 - l / 2);
        it[l] = (cnn_plan_item){floats, l, 2 * L - l, 0};
        it[L + l] = (cnn_plan_item){floats, 2 * L - l - 1, 2 * L - l, 0};
    }
    it[L + L - 1].first = L; /* the loss writes the top gradient */
    size_t arena = cnn_plan_place(it, 2 * L);
    size_t bound = cnn_plan_lower_bound(it, 2 * L);
    cr_assert(arena >= bound && arena <= bound + bound / 8, "arena %zu, bound %zu", arena,
              bound);
}

Test(exec_plan, gap_is_free_at_its_step)
{
    enum { N = 120 };
    cnn_plan_item it[N];
    uint64_t s = 7;
    for (int i = 0; i < N; i++) {
        uint32_t a = (uint32_t)(next(&s) % 30), b = (uint32_t)(next(&s) % 30);
        it[i] = (cnn_plan_item){1 + next(&s) % 3000, a < b ? a : b, a < b ? b : a, 0};
    }
    size_t arena = cnn_plan_place(it, N);
    int found = 0, refused = 0;
    for (uint32_t t = 0; t < 30; t++)
        for (size_t want = 1; want < arena; want = want * 3 + 1) {
            size_t at = cnn_plan_gap(it, N, t, arena, want);
            if (at == SIZE_MAX) {
                /* No candidate start (0 or an item's end) has room. */
                size_t starts[N + 1];
                starts[0] = 0;
                for (int i = 0; i < N; i++)
                    starts[i + 1] = it[i].offset + padded(it[i].floats);
                for (int c = 0; c <= N; c++) {
                    int clash = starts[c] + want > arena;
                    for (int i = 0; i < N && !clash; i++)
                        clash = it[i].first <= t && t <= it[i].last &&
                                spans_meet(starts[c], want, it[i].offset, it[i].floats);
                    cr_assert(clash, "step %u: room for %zu at %zu was missed", t, want,
                              starts[c]);
                }
                refused++;
                continue;
            }
            found++;
            cr_assert(at + want <= arena);
            for (int i = 0; i < N; i++)
                if (it[i].first <= t && t <= it[i].last)
                    cr_assert(!spans_meet(at, want, it[i].offset, it[i].floats),
                              "step %u: gap at %zu overlaps live item %d", t, at, i);
        }
    cr_assert(found > 0 && refused > 0);
}

/* ---- The executor: shared and in place changes no result ------------------ */

static void net_open(net *m, const char *path, const char *yaml, int training,
                     int separate, int64_t batch)
{
    net_load(m, path, yaml, 11);
    net_exec(m, batch, training, -1, separate ? "CNN_EXEC_SEPARATE_BUFFERS" : NULL);
}

static size_t layer(const net *m, const char *name)
{
    int32_t l = cnn_graph_find_layer(m->graph, name);
    cr_assert(l >= 0, "no layer %s", name);
    return (size_t)l;
}

/* One training step: forward, fused softmax cross-entropy, backward from
 * `from` (skipping the softmax when it is the output), SGD at 0.05. */
static void step(net *m, const cnn_tensor *x, const int32_t *labels, int64_t classes,
                 size_t from, uint64_t seed)
{
    size_t out = cnn_graph_output_layer(m->graph);
    int64_t n = x->shape.dims[0];
    float *g = malloc((size_t)(n * classes) * sizeof(float));
    const cnn_tensor *logits;
    cnn_tensor grad;
    cr_assert_eq(cnn_exec_forward(m->ex, x, 1, seed, out), CNN_OK, "%s",
                 cnn_context_message(m->ctx));
    logits = cnn_exec_output(m->ex, from == out ? cnn_graph_layer_count(m->graph) - 2 : from);
    cr_assert_not_null(logits);
    cnn_softmax_xent(logits->data, labels, n, classes, g, NULL);
    grad.shape = cnn_shape2(n, classes);
    grad.data = g;
    cr_assert_eq(cnn_exec_backward(m->ex, &grad, from, from == out), CNN_OK, "%s",
                 cnn_context_message(m->ctx));
    float *w = cnn_params_data(m->params), *dw = cnn_params_grad_data(m->params);
    for (size_t i = 0; i < cnn_params_numel(m->params); i++)
        w[i] -= 0.05f * dw[i];
    free(g);
}

static void fill(float *x, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(next(&s) % 2001) / 1000.0f - 1.0f;
}

/* Trains both for `steps` and requires identical gradients and weights. */
static void train_both(net *shared, net *separate, int64_t batch, int64_t classes,
                       size_t from, int steps)
{
    cnn_shape in_shape = cnn_graph_input_shape(shared->graph);
    in_shape.dims[0] = batch;
    size_t numel = cnn_shape_numel(&in_shape), np = cnn_params_numel(shared->params);
    float *x = malloc(numel * sizeof(float));
    int32_t labels[64];
    cnn_tensor t = {in_shape, x};
    for (int64_t i = 0; i < batch; i++)
        labels[i] = (int32_t)((i * 7) % classes);
    for (int s = 0; s < steps; s++) {
        fill(x, numel, 100 + (uint64_t)s);
        step(shared, &t, labels, classes, from, 5 + (uint64_t)s);
        step(separate, &t, labels, classes, from, 5 + (uint64_t)s);
        cr_assert(memcmp(cnn_params_grad_data(shared->params),
                         cnn_params_grad_data(separate->params), np * sizeof(float)) == 0,
                  "step %d: gradients differ from separate buffers", s);
    }
    cr_assert(memcmp(cnn_params_data(shared->params), cnn_params_data(separate->params),
                     np * sizeof(float)) == 0);
    cr_assert(cnn_exec_memory_bytes(shared->ex) < cnn_exec_memory_bytes(separate->ex),
              "shared %zu bytes, separate %zu", cnn_exec_memory_bytes(shared->ex),
              cnn_exec_memory_bytes(separate->ex));
    free(x);
}

Test(exec_plan, lenet_training_bit_identical, .timeout = 120)
{
    net a, b;
    net_open(&a, LENET, NULL, 1, 0, 32);
    net_open(&b, LENET, NULL, 1, 1, 32);
    train_both(&a, &b, 32, 10, cnn_graph_output_layer(a.graph), 4);
    /* relu after conv and after dense ran over its input. */
    cr_assert_null(cnn_exec_output(a.ex, layer(&a, "conv1")));
    cr_assert_null(cnn_exec_output(a.ex, layer(&a, "fc1")));
    cr_assert_not_null(cnn_exec_output(b.ex, layer(&b, "conv1")));
    net_close(&a);
    net_close(&b);
}

/* relu after conv: in place. relu after relu: not (r1's backward needs
 * r1's output). c2 read by r3 and by the add: r3 not in place. dense,
 * dropout, relu: one chain in place, and its gradients one buffer. */
static const char branchy[] =
    "name: branchy\ninput: [2, 6, 6]\nlayers:\n"
    "  - {name: c1, type: conv, filters: 4, kernel: 3, padding: 1}\n"
    "  - {name: r1, type: relu}\n"
    "  - {name: r2, type: relu}\n"
    "  - {name: c2, type: conv, filters: 4, kernel: 3, padding: 1}\n"
    "  - {name: r3, type: relu}\n"
    "  - {name: sum, type: add, inputs: [r3, c2]}\n"
    "  - {name: flat, type: flatten}\n"
    "  - {name: d1, type: dense, units: 12}\n"
    "  - {name: drop, type: dropout, rate: 0.3}\n"
    "  - {name: r4, type: relu}\n"
    "  - {name: d2, type: dense, units: 5}\n"
    "  - {name: prob, type: softmax}\n";

Test(exec_plan, in_place_only_where_the_maths_allows, .timeout = 60)
{
    net a, b;
    net_open(&a, NULL, branchy, 1, 0, 6);
    net_open(&b, NULL, branchy, 1, 1, 6);
    train_both(&a, &b, 6, 5, cnn_graph_output_layer(a.graph), 3);
    /* After the last step's forward; backward has since reused memory, so
     * run a forward again. */
    cnn_shape s = cnn_graph_input_shape(a.graph);
    float x[6 * 72];
    s.dims[0] = 6;
    fill(x, 6 * 72, 9);
    cnn_tensor t = {s, x};
    cr_assert_eq(cnn_exec_forward(a.ex, &t, 1, 3, cnn_graph_output_layer(a.graph)), CNN_OK);
    cr_assert_null(cnn_exec_output(a.ex, layer(&a, "c1")), "relu after conv: in place");
    cr_assert_not_null(cnn_exec_output(a.ex, layer(&a, "r1")), "relu after relu: not");
    cr_assert_not_null(cnn_exec_output(a.ex, layer(&a, "c2")), "two readers: not");
    cr_assert_not_null(cnn_exec_output(a.ex, layer(&a, "r3")));
    cr_assert_null(cnn_exec_output(a.ex, layer(&a, "d1")), "dropout after dense: in place");
    cr_assert_null(cnn_exec_output(a.ex, layer(&a, "drop")), "relu after dropout: in place");
    cr_assert_not_null(cnn_exec_output(a.ex, layer(&a, "r4")));
    net_close(&a);
    net_close(&b);
}

/* Backward from a layer the main plan did not expect (it plans for the
 * softmax and its input): the gradients get a plan of their own. */
Test(exec_plan, backward_from_another_layer, .timeout = 60)
{
    net a, b;
    net_open(&a, NULL, branchy, 1, 0, 4);
    net_open(&b, NULL, branchy, 1, 1, 4);
    /* From the add (4 channels of 6 x 6 = 144 "classes"), twice: the
     * second call reuses the plan made by the first. */
    train_both(&a, &b, 4, 144, layer(&a, "sum"), 2);
    net_close(&a);
    net_close(&b);
}

/* Backward frees what it has finished with for gradients: a second one
 * needs a new forward, and says so. */
Test(exec_plan, second_backward_needs_a_forward, .timeout = 60)
{
    net a;
    net_open(&a, LENET, NULL, 1, 0, 2);
    cnn_shape s = cnn_graph_input_shape(a.graph);
    s.dims[0] = 2;
    float x[2 * 28 * 28], dy[2 * 10] = {0.5f, -0.5f};
    fill(x, 2 * 28 * 28, 1);
    cnn_tensor t = {s, x}, g = {cnn_shape2(2, 10), dy};
    size_t out = cnn_graph_output_layer(a.graph);
    cr_assert_eq(cnn_exec_forward(a.ex, &t, 1, 0, out), CNN_OK);
    cr_assert_eq(cnn_exec_backward(a.ex, &g, out, 1), CNN_OK);
    cr_assert_eq(cnn_exec_backward(a.ex, &g, out, 1), CNN_ERR_INVALID);
    cr_assert(strstr(cnn_context_message(a.ctx), "run forward again"), "%s",
              cnn_context_message(a.ctx));
    cr_assert_eq(cnn_exec_forward(a.ex, &t, 1, 0, out), CNN_OK);
    cr_assert_eq(cnn_exec_backward(a.ex, &g, out, 1), CNN_OK);
    net_close(&a);
}

Test(exec_plan, inference_unchanged, .timeout = 60)
{
    net a, b;
    net_open(&a, LENET, NULL, 0, 0, 8);
    net_open(&b, LENET, NULL, 0, 1, 8);
    cnn_shape s = cnn_graph_input_shape(a.graph);
    s.dims[0] = 8;
    float *x = malloc(cnn_shape_numel(&s) * sizeof(float));
    fill(x, cnn_shape_numel(&s), 3);
    cnn_tensor t = {s, x};
    size_t out = cnn_graph_output_layer(a.graph);
    cr_assert_eq(cnn_exec_forward(a.ex, &t, 0, 0, out), CNN_OK);
    cr_assert_eq(cnn_exec_forward(b.ex, &t, 0, 0, out), CNN_OK);
    cr_assert(memcmp(cnn_exec_output(a.ex, out)->data, cnn_exec_output(b.ex, out)->data,
                     8 * 10 * sizeof(float)) == 0);
    cr_assert(cnn_exec_memory_bytes(a.ex) < cnn_exec_memory_bytes(b.ex));
    free(x);
    net_close(&a);
    net_close(&b);
}
