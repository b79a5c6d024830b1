/* SPDX-License-Identifier: MIT */
/* Inference-time fusion (core/exec_fuse.c, plugin ABI 1.4): batch norm,
 * relu, relu6 and clip folded into the convolution, dense or add below
 * them give the unfused executor's outputs (CNN_EXEC_NO_FUSION=1) within
 * float rounding, on every convolution algorithm a small net reaches;
 * fusion happens exactly where the maths allows (not an affine map after a
 * clamp, not two clamps whose ranges do not meet, not over an output that
 * has a second reader or that the caller keeps), never while training, and
 * follows weights changed after the executor was made. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/exec.h"
#include "cnn/graph.h"
#include "cnn/params.h"
#include "exec_net.h"

/* Depthwise, pointwise (GEMM), 3x3 on 14x14 and 7x7 (Winograd or the deep
 * direct kernel), strided im2col, a residual join and dense layers. */
static const char *const NET =
    "name: fusion\n"
    "input: {shape: [3, 28, 28]}\n"
    "layers:\n"
    "  - {name: c1, type: conv, filters: 16, kernel: 3, stride: 2, padding: 1, bias: false}\n"
    "  - {name: b1, type: batchnorm}\n"
    "  - {name: r1, type: relu6}\n"
    "  - {name: dw, type: conv, filters: 16, kernel: 3, padding: 1, groups: 16, bias: false}\n"
    "  - {name: bdw, type: batchnorm}\n"
    "  - {name: rdw, type: relu6}\n"
    "  - {name: pw, type: conv, filters: 64, kernel: 1, bias: false}\n"
    "  - {name: bpw, type: batchnorm}\n"
    "  - {name: c3, type: conv, filters: 64, kernel: 3, padding: 1}\n"
    "  - {name: b3, type: batchnorm}\n"
    "  - {name: r3, type: relu}\n"
    "  - {name: c4, type: conv, filters: 64, kernel: 3, padding: 1, bias: false}\n"
    "  - {name: b4, type: batchnorm}\n"
    "  - {name: join, type: add, inputs: [b4, bpw]}\n"
    "  - {name: rj, type: relu}\n"
    "  - {name: c5, type: conv, filters: 32, kernel: 3, stride: 2, padding: 1}\n"
    "  - {name: r5, type: relu}\n"
    "  - {name: b5, type: batchnorm}\n"
    "  - {name: c6, type: conv, filters: 32, kernel: 3, padding: 1}\n"
    "  - {name: k1, type: clip, min: -1, max: 1}\n"
    "  - {name: k2, type: clip, min: 2, max: 3}\n"
    "  - {name: flat, type: flatten}\n"
    "  - {name: fc1, type: dense, units: 40}\n"
    "  - {name: bfc, type: batchnorm}\n"
    "  - {name: rfc, type: relu}\n"
    "  - {name: fc2, type: dense, units: 10}\n";

static uint64_t next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static float uniform(uint64_t *s, float lo, float hi)
{
    return lo + (hi - lo) * (float)(next(s) % 100001) / 100000.0f;
}

/* Batch norm with statistics far from the identity, so that a fold that
 * forgot the mean, the variance or eps would show. */
static void randomise_batchnorms(net *m, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < cnn_params_count(m->params); i++) {
        const char *name = cnn_params_name(m->params, i);
        cnn_tensor *t = cnn_params_value(m->params, i);
        size_t n = cnn_shape_numel(&t->shape);
        const char *dot = strrchr(name, '.');
        if (!dot || name[0] != 'b')
            continue;
        for (size_t k = 0; k < n; k++) {
            if (strcmp(dot, ".running_var") == 0)
                t->data[k] = uniform(&s, 0.2f, 3.0f);
            else if (strcmp(dot, ".running_mean") == 0)
                t->data[k] = uniform(&s, -0.5f, 0.5f);
            else if (strcmp(dot, ".weight") == 0)
                t->data[k] = uniform(&s, 0.5f, 1.5f) * (k % 5 == 0 ? -1.0f : 1.0f);
            else
                t->data[k] = uniform(&s, -0.3f, 0.3f);
        }
    }
}

static void net_open(net *m, int training, int fusion, int32_t keep)
{
    net_load(m, NULL, NET, 5);
    randomise_batchnorms(m, 17);
    net_exec(m, 4, training, keep, fusion ? NULL : "CNN_EXEC_NO_FUSION");
}

static int32_t fused(const net *m, const char *name)
{
    int32_t l = cnn_graph_find_layer(m->graph, name);
    cr_assert(l >= 0, "no layer %s", name);
    return cnn_exec_fused_into(m->ex, (size_t)l);
}

static int32_t layer(const net *m, const char *name)
{
    return cnn_graph_find_layer(m->graph, name);
}

static float *input(uint64_t seed, cnn_tensor *t)
{
    uint64_t s = seed;
    t->shape = cnn_shape4(4, 3, 28, 28);
    t->data = malloc(cnn_shape_numel(&t->shape) * sizeof(float));
    for (size_t i = 0; i < cnn_shape_numel(&t->shape); i++)
        t->data[i] = uniform(&s, -2.0f, 2.0f);
    return t->data;
}

/* The output of `until` (the graph's output when -1). */
static float *run(net *m, const cnn_tensor *x, int32_t until, size_t *n)
{
    size_t l = until < 0 ? cnn_graph_output_layer(m->graph) : (size_t)until;
    const cnn_tensor *y;
    float *copy;
    cr_assert_eq(cnn_exec_forward(m->ex, x, 0, 0, l), CNN_OK, "%s",
                 cnn_context_message(m->ctx));
    y = cnn_exec_output(m->ex, l);
    cr_assert_not_null(y);
    *n = cnn_shape_numel(&y->shape);
    copy = malloc(*n * sizeof(float));
    memcpy(copy, y->data, *n * sizeof(float));
    return copy;
}

static void expect_close(const float *got, const float *want, size_t n, const char *what)
{
    double scale = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    cr_assert(scale > 0, "%s: all zero, nothing compared", what);
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs(got[i] - want[i]) <= 1e-5 * scale + 1e-6,
                  "%s: element %zu is %.9g fused, %.9g unfused (scale %g)", what, i,
                  got[i], want[i], scale);
}

Test(fusion, folds_where_the_maths_allows)
{
    net m;
    net_open(&m, 0, 1, -1);
    cr_assert_eq(fused(&m, "b1"), layer(&m, "c1"));
    cr_assert_eq(fused(&m, "r1"), layer(&m, "c1"));
    cr_assert_eq(fused(&m, "bdw"), layer(&m, "dw"));
    cr_assert_eq(fused(&m, "rdw"), layer(&m, "dw"));
    /* bpw's output has two readers (c3 and the join): the chain ends
     * there, but pw's output, read by bpw alone, takes bpw. */
    cr_assert_eq(fused(&m, "bpw"), layer(&m, "pw"));
    cr_assert_eq(fused(&m, "b3"), layer(&m, "c3"));
    cr_assert_eq(fused(&m, "r3"), layer(&m, "c3"));
    cr_assert_eq(fused(&m, "b4"), layer(&m, "c4"));
    cr_assert_eq(fused(&m, "rj"), layer(&m, "join"));
    /* relu then batch norm: an affine map after a clamp is not one. */
    cr_assert_eq(fused(&m, "r5"), layer(&m, "c5"));
    cr_assert_eq(fused(&m, "b5"), -1);
    /* Two clamps whose ranges do not meet. */
    cr_assert_eq(fused(&m, "k1"), layer(&m, "c6"));
    cr_assert_eq(fused(&m, "k2"), -1);
    cr_assert_eq(fused(&m, "bfc"), layer(&m, "fc1"));
    cr_assert_eq(fused(&m, "rfc"), layer(&m, "fc1"));
    net_close(&m);
}

Test(fusion, same_outputs_as_unfused, .timeout = 60)
{
    net a, b;
    cnn_tensor x;
    size_t na, nb;
    net_open(&a, 0, 1, -1);
    net_open(&b, 0, 0, -1);
    cr_assert_eq(cnn_exec_fused_into(b.ex, (size_t)layer(&b, "b1")), -1);
    float *xd = input(3, &x);
    float *ya = run(&a, &x, -1, &na), *yb = run(&b, &x, -1, &nb);
    cr_assert_eq(na, nb);
    expect_close(ya, yb, na, "logits");
    /* Twice: the epilogue is recomputed, not accumulated. */
    free(ya);
    ya = run(&a, &x, -1, &na);
    expect_close(ya, yb, na, "logits, second pass");
    free(ya);
    free(yb);
    free(xd);
    net_close(&a);
    net_close(&b);
}

/* Keeping a producer's output (cnnrun forward --until, features) leaves
 * it unfused: the caller reads what the convolution computed. */
Test(fusion, kept_output_is_not_folded)
{
    net a, b;
    cnn_tensor x;
    size_t na, nb;
    net_open(&b, 0, 0, -1);
    net_open(&a, 0, 1, layer(&b, "c3"));
    cr_assert_eq(fused(&a, "b3"), -1);
    cr_assert_eq(fused(&a, "r3"), -1);
    cr_assert_eq(fused(&a, "b1"), layer(&a, "c1"));
    float *xd = input(4, &x);
    net_close(&b);
    net_open(&b, 0, 0, layer(&a, "c3"));
    float *ya = run(&a, &x, layer(&a, "c3"), &na), *yb = run(&b, &x, layer(&b, "c3"), &nb);
    cr_assert_eq(na, nb);
    expect_close(ya, yb, na, "c3's own output");
    free(ya);
    free(yb);
    free(xd);
    net_close(&a);
    net_close(&b);
}

/* Weights loaded or trained after the executor was made take effect. */
Test(fusion, follows_changed_weights)
{
    net a, b;
    cnn_tensor x;
    size_t na, nb;
    net_open(&a, 0, 1, -1);
    net_open(&b, 0, 0, -1);
    float *xd = input(5, &x);
    float *y0 = run(&a, &x, -1, &na);
    randomise_batchnorms(&a, 99);
    randomise_batchnorms(&b, 99);
    float *ya = run(&a, &x, -1, &na), *yb = run(&b, &x, -1, &nb);
    expect_close(ya, yb, na, "logits after new batch-norm statistics");
    int moved = 0;
    for (size_t i = 0; i < na; i++)
        moved |= ya[i] != y0[i];
    cr_assert(moved, "the new statistics changed nothing");
    free(y0);
    free(ya);
    free(yb);
    free(xd);
    net_close(&a);
    net_close(&b);
}

Test(fusion, never_while_training)
{
    net m;
    net_open(&m, 1, 1, -1);
    for (size_t l = 0; l < cnn_graph_layer_count(m.graph); l++)
        cr_assert_eq(cnn_exec_fused_into(m.ex, l), -1);
    net_close(&m);
}

/* A producer whose followers come later in the order (another branch
 * between them): once it has run with their map, its buffer holds their
 * output, so its own output must read as gone, not as its value. */
Test(fusion, producer_output_is_gone_after_its_epilogue)
{
    static const char *const branches =
        "name: branches\n"
        "input: {shape: [3, 8, 8]}\n"
        "layers:\n"
        "  - {name: a, type: conv, filters: 4, kernel: 3, padding: 1}\n"
        "  - {name: b, type: conv, inputs: input, filters: 4, kernel: 1}\n"
        "  - {name: ba, type: batchnorm, inputs: a}\n"
        "  - {name: j, type: add, inputs: [ba, b]}\n";
    cnn_context *ctx = cnn_context_create();
    cnn_graph *graph;
    cnn_params *params;
    cnn_exec *ex;
    cnn_exec_options o = {2, 0, -1, 0};
    cnn_tensor x;
    cr_assert_eq(cnn_graph_load_string(ctx, branches, strlen(branches), "b.yaml", &graph),
                 CNN_OK, "%s", cnn_context_message(ctx));
    cr_assert_eq(cnn_params_create(ctx, graph, &params), CNN_OK);
    cnn_params_init(params, 3);
    cr_assert_eq(cnn_exec_create(ctx, graph, params, &o, &ex), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cr_assert_eq(cnn_exec_fused_into(ex, 2), 0, "ba folds into a");
    x.shape = cnn_shape4(2, 3, 8, 8);
    x.data = calloc(cnn_shape_numel(&x.shape), sizeof(float));
    for (size_t i = 0; i < cnn_shape_numel(&x.shape); i++)
        x.data[i] = (float)(i % 7) - 3.0f;
    cr_assert_eq(cnn_exec_forward(ex, &x, 0, 0, 1), CNN_OK, "%s", cnn_context_message(ctx));
    cr_assert_null(cnn_exec_output(ex, 0), "a's buffer holds ba's output");
    free(x.data);
    cnn_exec_destroy(ex);
    cnn_params_destroy(params);
    cnn_graph_destroy(graph);
    cnn_context_destroy(ctx);
}
