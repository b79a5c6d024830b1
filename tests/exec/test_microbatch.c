/* SPDX-License-Identifier: MIT */
/* Inference at batch > 1 runs the layers whose outputs over the batch are
 * large image by image, through a batch-1 executor, up to a cut after
 * which only the cut's output is read (core/exec.c, "Image by image").
 * The cut is where the rule puts it (never where an older output is still
 * read); the outputs match batched passes and batch-1 passes within float
 * rounding, the same bits pass after pass, for a full and a partial
 * batch; training executors, executors keeping a layer, batch 1 and
 * CNN_EXEC_NO_MICROBATCH=1 never do it. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/exec.h"
#include "cnn/graph.h"
#include "cnn/params.h"
#include "exec_net.h"

/* Outputs per image: 8 x 24 x 24 (4608 floats) for the stem and b, 32 x
 * 24 x 24 (18432) for a, 16 x 24 x 24 (9216) for cat, which also reads
 * r0; then 2304 after the pool, 1152 after c and 10. The stem (28 weights
 * per filter), a (9) and the layers without weights that follow them are
 * bound by memory; b (32) and c (145) are not. b's folded batch norm and
 * relu end at rb. */
static const char *const NET =
    "name: micro\n"
    "input: {shape: [3, 24, 24]}\n"
    "layers:\n"
    "  - {name: stem, type: conv, filters: 8, kernel: 3, padding: 1}\n"
    "  - {name: r0, type: relu}\n"
    "  - {name: a, type: conv, filters: 32, kernel: 1}\n"
    "  - {name: ra, type: relu}\n"
    "  - {name: b, type: conv, filters: 8, kernel: 1, bias: false}\n"
    "  - {name: bn, type: batchnorm}\n"
    "  - {name: rb, type: relu}\n"
    "  - {name: cat, type: concat, inputs: [r0, rb]}\n"
    "  - {name: pool, type: maxpool, size: 2, stride: 2}\n"
    "  - {name: c, type: conv, filters: 8, kernel: 3, padding: 1}\n"
    "  - {name: flat, type: flatten}\n"
    "  - {name: fc, type: dense, units: 10}\n";

enum { BATCH = 5, C = 3, H = 24, W = 24 };

static void fill(cnn_tensor *t, int64_t n)
{
    uint64_t s = 1234;
    t->shape = cnn_shape4(n, C, H, W);
    t->data = malloc(cnn_shape_numel(&t->shape) * sizeof(float));
    cr_assert_not_null(t->data);
    for (size_t i = 0; i < cnn_shape_numel(&t->shape); i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        t->data[i] = (float)((s >> 33) % 2001) / 1000.0f - 1.0f;
    }
}

/* An inference executor on constant parameters; bytes: the image-by-image
 * threshold (NULL: the default), env set to "1" while it is made. */
static cnn_exec *open_exec(net *m, int64_t batch, int training, int32_t keep,
                           const char *bytes, const char *env)
{
    cnn_exec_options o = {batch, training, keep, 1};
    cnn_exec *ex;
    if (bytes)
        setenv("CNN_EXEC_MICROBATCH_BYTES", bytes, 1);
    if (env)
        setenv(env, "1", 1);
    cr_assert_eq(cnn_exec_create(m->ctx, m->graph, m->params, &o, &ex),
                 CNN_OK, "%s", cnn_context_message(m->ctx));
    unsetenv("CNN_EXEC_MICROBATCH_BYTES");
    if (env)
        unsetenv(env);
    return ex;
}

static size_t layer_index(net *m, const char *name)
{
    for (size_t l = 0; l < cnn_graph_layer_count(m->graph); l++) {
        cnn_layer_info li;
        cnn_graph_layer_info(m->graph, l, &li);
        if (strcmp(li.name, name) == 0)
            return l;
    }
    cr_assert_fail("no layer %s", name);
    return 0;
}

/* The graph's output for x (n images), copied. */
static float *run(net *m, cnn_exec *ex, const cnn_tensor *x)
{
    size_t out = cnn_graph_output_layer(m->graph);
    cr_assert_eq(cnn_exec_forward(ex, x, 0, 1, out), CNN_OK, "%s",
                 cnn_context_message(m->ctx));
    const cnn_tensor *y = cnn_exec_output(ex, out);
    cr_assert_not_null(y);
    cr_assert_eq(y->shape.dims[0], x->shape.dims[0]);
    size_t n = cnn_shape_numel(&y->shape);
    float *copy = malloc(n * sizeof *copy);
    cr_assert_not_null(copy);
    memcpy(copy, y->data, n * sizeof *copy);
    return copy;
}

/* Image by image through batch-1 executors: what the first images of x
 * give there, 10 outputs each. */
static float *run_one_by_one(net *m, const cnn_tensor *x)
{
    int64_t n = x->shape.dims[0];
    float *all = malloc((size_t)n * 10 * sizeof *all);
    cnn_exec *ex = open_exec(m, 1, 0, -1, NULL, NULL);
    cr_assert_not_null(all);
    cr_assert_eq(cnn_exec_per_image_until(ex), -1);
    for (int64_t i = 0; i < n; i++) {
        cnn_tensor one = *x;
        one.shape.dims[0] = 1;
        one.data = x->data + (size_t)i * C * H * W;
        float *y = run(m, ex, &one);
        memcpy(all + (size_t)i * 10, y, 10 * sizeof *y);
        free(y);
    }
    cnn_exec_destroy(ex);
    return all;
}

static void expect_close(const float *got, const float *want, size_t n)
{
    double scale = 0.0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)want[i]));
    cr_assert(scale > 0.0);
    for (size_t i = 0; i < n; i++)
        cr_expect(fabs((double)got[i] - (double)want[i]) <= 1e-5 * scale,
                  "output %zu: %.9g image by image, %.9g batched", i,
                  (double)got[i], (double)want[i]);
}

Test(microbatch, cut_where_only_its_output_is_read_outputs_match)
{
    net m;
    cnn_tensor x;
    net_load(&m, NULL, NET, 3);
    fill(&x, BATCH);

    /* Over a batch of 5: a's output 368640 bytes, cat's 184320, the
     * stem's and b's 92160, the pool's 46080, c's 23040. Over 200000 only
     * a's is large; r0's output is read by cat, so the first cut after a
     * is cat, not ra (a's chain end) or anything before. */
    cnn_exec *micro = open_exec(&m, BATCH, 0, -1, "200000", NULL);
    cr_assert_eq(cnn_exec_per_image_until(micro),
                 (int64_t)layer_index(&m, "cat"));
    /* Over 30000 the pool's output is large too (cat's is, but so is one
     * image's; c is not bound by memory), and the cut is the pool. */
    cnn_exec *later = open_exec(&m, BATCH, 0, -1, "30000", NULL);
    cr_assert_eq(cnn_exec_per_image_until(later),
                 (int64_t)layer_index(&m, "pool"));
    /* The default, 8 MiB: nothing here is large. */
    cnn_exec *small = open_exec(&m, BATCH, 0, -1, NULL, NULL);
    cr_assert_eq(cnn_exec_per_image_until(small), -1);
    cnn_exec_destroy(small);
    cnn_exec *plain = open_exec(&m, BATCH, 0, -1, "200000",
                                "CNN_EXEC_NO_MICROBATCH");
    cr_assert_eq(cnn_exec_per_image_until(plain), -1);

    float *got = run(&m, micro, &x);
    float *again = run(&m, micro, &x);
    float *got_later = run(&m, later, &x);
    float *want = run(&m, plain, &x);
    float *one_by_one = run_one_by_one(&m, &x);
    expect_close(got, want, BATCH * 10);
    expect_close(got_later, want, BATCH * 10);
    cr_expect(memcmp(got, again, BATCH * 10 * sizeof *got) == 0,
              "two passes image by image differ");
    /* The layers after the cut at batch 5 and at batch 1 may sum in
     * other orders (the dense layer's GEMM against its GEMV). */
    expect_close(got, one_by_one, BATCH * 10);

    /* A pass that stops at the cut, after full ones: its output is the
     * pass's, as without image by image. */
    size_t cat = layer_index(&m, "cat");
    cr_assert_eq(cnn_exec_forward(micro, &x, 0, 1, cat), CNN_OK);
    cr_assert_eq(cnn_exec_forward(plain, &x, 0, 1, cat), CNN_OK);
    const cnn_tensor *cut_got = cnn_exec_output(micro, cat);
    const cnn_tensor *cut_want = cnn_exec_output(plain, cat);
    cr_assert_not_null(cut_got, "the cut's output after a pass to it");
    cr_assert_not_null(cut_want);
    expect_close(cut_got->data, cut_want->data,
                 cnn_shape_numel(&cut_want->shape));

    /* A partial batch: 2 of 5 images. */
    cnn_tensor two = x;
    two.shape.dims[0] = 2;
    float *got2 = run(&m, micro, &two);
    expect_close(got2, want, 2 * 10);

    free(got);
    free(again);
    free(got_later);
    free(want);
    free(one_by_one);
    free(got2);
    cnn_exec_destroy(micro);
    cnn_exec_destroy(later);
    cnn_exec_destroy(plain);
    free(x.data);
    net_close(&m);
}

Test(microbatch, never_in_training_before_a_kept_layer_or_at_batch_1)
{
    net m;
    net_load(&m, NULL, NET, 3);
    cnn_exec *train = open_exec(&m, BATCH, 1, -1, "1", NULL);
    cnn_exec *keep = open_exec(&m, BATCH, 0, 2, "200000", NULL);
    cnn_exec *all = open_exec(&m, BATCH, 0, CNN_EXEC_KEEP_ALL, "1", NULL);
    cnn_exec *one = open_exec(&m, 1, 0, -1, "1", NULL);
    cr_expect_eq(cnn_exec_per_image_until(train), -1);
    cr_expect_eq(cnn_exec_per_image_until(keep), -1);
    cr_expect_eq(cnn_exec_per_image_until(all), -1);
    cr_expect_eq(cnn_exec_per_image_until(one), -1);
    cnn_exec_destroy(train);
    cnn_exec_destroy(keep);
    cnn_exec_destroy(all);
    cnn_exec_destroy(one);
    net_close(&m);
}

/* Keeping the cut itself or a later layer (features, eval's logits): the
 * kept output is there after the pass, and the same as without. */
Test(microbatch, a_kept_layer_at_or_after_the_cut)
{
    net m;
    cnn_tensor x;
    net_load(&m, NULL, NET, 3);
    fill(&x, BATCH);
    size_t cat = layer_index(&m, "cat"), c = layer_index(&m, "c");
    cnn_exec *at = open_exec(&m, BATCH, 0, (int32_t)cat, "200000", NULL);
    cnn_exec *after = open_exec(&m, BATCH, 0, (int32_t)c, "200000", NULL);
    cnn_exec *plain = open_exec(&m, BATCH, 0, (int32_t)cat, "200000",
                                "CNN_EXEC_NO_MICROBATCH");
    cr_assert_eq(cnn_exec_per_image_until(at), (int64_t)cat);
    cr_assert_eq(cnn_exec_per_image_until(after), (int64_t)cat);
    cr_assert_eq(cnn_exec_forward(at, &x, 0, 1, cat), CNN_OK);
    cr_assert_eq(cnn_exec_forward(plain, &x, 0, 1, cat), CNN_OK);
    const cnn_tensor *want = cnn_exec_output(plain, cat);
    const cnn_tensor *got = cnn_exec_output(at, cat);
    cr_assert(want && got);
    expect_close(got->data, want->data, cnn_shape_numel(&want->shape));
    /* A pass to the end with the cut kept also keeps it. */
    size_t out = cnn_graph_output_layer(m.graph);
    cr_assert_eq(cnn_exec_forward(at, &x, 0, 1, out), CNN_OK);
    got = cnn_exec_output(at, cat);
    cr_assert_not_null(got);
    expect_close(got->data, want->data, cnn_shape_numel(&want->shape));
    cr_assert_eq(cnn_exec_forward(after, &x, 0, 1, c), CNN_OK);
    cr_assert_eq(cnn_exec_forward(plain, &x, 0, 1, c), CNN_OK);
    want = cnn_exec_output(plain, c);
    got = cnn_exec_output(after, c);
    cr_assert(want && got);
    expect_close(got->data, want->data, cnn_shape_numel(&want->shape));
    cnn_exec_destroy(at);
    cnn_exec_destroy(after);
    cnn_exec_destroy(plain);
    free(x.data);
    net_close(&m);
}
