/* SPDX-License-Identifier: MIT */
/* Executors on constant parameters (cnn_exec_options.constant_params,
 * plugin ABI 1.5's params_token): the convolution then keeps its filters
 * repacked (filter_lanes.c) or Winograd-transformed between passes. The
 * outputs are those of an executor without the promise, within float
 * rounding (other algorithms run), the same bits pass after pass, exactly
 * the plain executor's with CNN_EXEC_NO_PREPACK=1, and a new executor on
 * changed weights follows them although the graph, and so the layers'
 * state, is the same. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/exec.h"
#include "cnn/graph.h"
#include "cnn/params.h"
#include "exec_net.h"

/* Winograd (16x16 over a batch of 4), filter lanes (strided, 7x7 and 5x5
 * layers of 32 filters or more, an 11x11 stem), pointwise and depthwise
 * layers that keep nothing, with batch norm and relu folded in. */
static const char *const NET =
    "name: constant\n"
    "input: {shape: [3, 31, 31]}\n"
    "layers:\n"
    "  - {name: stem, type: conv, filters: 40, kernel: 11, stride: 2, padding: 5}\n"
    "  - {name: r0, type: relu}\n"
    "  - {name: w1, type: conv, filters: 48, kernel: 3, padding: 1, bias: false}\n"
    "  - {name: b1, type: batchnorm}\n"
    "  - {name: r1, type: relu}\n"
    "  - {name: dw, type: conv, filters: 48, kernel: 3, padding: 1, groups: 48}\n"
    "  - {name: pw, type: conv, filters: 64, kernel: 1}\n"
    "  - {name: s2, type: conv, filters: 72, kernel: 3, stride: 2, padding: 1}\n"
    "  - {name: b2, type: batchnorm}\n"
    "  - {name: r2, type: relu}\n"
    "  - {name: f5, type: conv, filters: 96, kernel: 5, padding: 2}\n"
    "  - {name: p7, type: conv, filters: 33, kernel: 1}\n"
    "  - {name: flat, type: flatten}\n"
    "  - {name: fc, type: dense, units: 10}\n";

enum { BATCH = 4 };

static void open_exec(net *m, int constant, const char *env)
{
    cnn_exec_options o = {BATCH, 0, -1, constant};
    if (env)
        setenv(env, "1", 1);
    cr_assert_eq(cnn_exec_create(m->ctx, m->graph, m->params, &o, &m->ex),
                 CNN_OK, "%s", cnn_context_message(m->ctx));
    if (env)
        unsetenv(env);
}

static float *input(cnn_tensor *t)
{
    uint64_t s = 99;
    t->shape = cnn_shape4(BATCH, 3, 31, 31);
    t->data = malloc(cnn_shape_numel(&t->shape) * sizeof(float));
    cr_assert_not_null(t->data);
    for (size_t i = 0; i < cnn_shape_numel(&t->shape); i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        t->data[i] = (float)((s >> 33) % 2001) / 1000.0f - 1.0f;
    }
    return t->data;
}

/* A copy of the graph's output for x. */
static float *run(net *m, const cnn_tensor *x, size_t *n)
{
    size_t out = cnn_graph_output_layer(m->graph);
    cr_assert_eq(cnn_exec_forward(m->ex, x, 0, 1, out), CNN_OK, "%s",
                 cnn_context_message(m->ctx));
    const cnn_tensor *y = cnn_exec_output(m->ex, out);
    cr_assert_not_null(y);
    *n = cnn_shape_numel(&y->shape);
    float *copy = malloc(*n * sizeof *copy);
    cr_assert_not_null(copy);
    memcpy(copy, y->data, *n * sizeof *copy);
    return copy;
}

/* The output of one pass of a new executor, which is then destroyed. */
static float *one_pass(net *m, int constant, const char *env,
                       const cnn_tensor *x, size_t *n)
{
    open_exec(m, constant, env);
    float *y = run(m, x, n);
    cnn_exec_destroy(m->ex);
    m->ex = NULL;
    return y;
}

static void expect_close(const float *got, const float *want, size_t n,
                         const char *what)
{
    double scale = 0.0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)want[i]));
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs((double)got[i] - (double)want[i]) <= 1e-5 * (1.0 + scale),
                  "%s: output %zu is %.9g, without the promise %.9g", what, i,
                  (double)got[i], (double)want[i]);
}

static void change_weights(net *m)
{
    for (size_t i = 0; i < cnn_params_count(m->params); i++) {
        cnn_tensor *t = cnn_params_value(m->params, i);
        const char *name = cnn_params_name(m->params, i);
        if (strstr(name, "running_")) /* keep the variances positive */
            continue;
        for (size_t k = 0; k < cnn_shape_numel(&t->shape); k++)
            t->data[k] = -0.75f * t->data[k] + 0.01f * (float)(k % 7);
    }
}

Test(constant_params, same_outputs_and_new_weights_followed)
{
    net m;
    cnn_tensor x;
    size_t n, n2;
    net_load(&m, NULL, NET, 7);
    input(&x);

    float *plain = one_pass(&m, 0, NULL, &x, &n);

    open_exec(&m, 1, NULL);
    float *kept = run(&m, &x, &n2);
    cr_assert_eq(n, n2);
    expect_close(kept, plain, n, "constant params");
    float *again = run(&m, &x, &n2);
    cr_expect(memcmp(kept, again, n * sizeof *kept) == 0,
              "two passes on constant params differ");
    cnn_exec_destroy(m.ex);
    m.ex = NULL;

    float *off = one_pass(&m, 1, "CNN_EXEC_NO_PREPACK", &x, &n2);
    cr_expect(memcmp(off, plain, n * sizeof *off) == 0,
              "CNN_EXEC_NO_PREPACK=1 gives other outputs than no promise");

    /* New weights, a new executor on the same graph: nothing kept from the
     * old ones may be used. */
    float *kept_old = one_pass(&m, 1, NULL, &x, &n2); /* keeps old filters */
    cr_expect(memcmp(kept_old, kept, n * sizeof *kept) == 0,
              "a second executor on constant params differs from the first");
    change_weights(&m);
    /* The promising executor first: a pass without a token may drop what
     * the layers kept. */
    float *kept2 = one_pass(&m, 1, NULL, &x, &n2);
    float *plain2 = one_pass(&m, 0, NULL, &x, &n2);
    expect_close(kept2, plain2, n, "constant params after new weights");
    double moved = 0.0;
    for (size_t i = 0; i < n; i++)
        moved = fmax(moved, fabs((double)plain2[i] - (double)plain[i]));
    cr_expect(moved > 1e-3, "the new weights did not change the output");

    free(plain);
    free(kept);
    free(again);
    free(off);
    free(plain2);
    free(kept2);
    free(kept_old);
    free(x.data);
    net_close(&m);
}
