/* SPDX-License-Identifier: MIT */
/* A whole LeNet-5 (graphs/lenet5.yaml) against PyTorch: the softmax output,
 * an intermediate layer, the loss and every parameter gradient of the mean
 * cross-entropy, from fixtures made by tests/fixtures/gen_lenet_fixtures.py.
 * Also: the inference executor (with its reused buffers) agrees with the
 * training one, frozen layers get no gradient and stay untouched, and
 * loading refuses a shape mismatch naming both shapes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/exec.h"
#include "cnn/graph.h"
#include "cnn/io.h"
#include "cnn/params.h"
#include "cnn/train.h"

#define FIX CNN_TEST_FIXTURES "/lenet/"
#define GRAPH CNN_TEST_SOURCE_ROOT "/graphs/lenet5.yaml"

static cnn_context *ctx;
static cnn_graph *graph;
static cnn_params *params;

static void setup(void)
{
    ctx = cnn_context_create();
    cr_assert_not_null(ctx);
    cr_assert_eq(cnn_graph_load(ctx, GRAPH, &graph), CNN_OK, "%s", cnn_context_message(ctx));
    cr_assert_eq(cnn_params_create(ctx, graph, &params), CNN_OK, "%s", cnn_context_message(ctx));
    cr_assert_eq(cnn_params_load(ctx, params, FIX "weights.safetensors", CNN_PARAMS_EXACT, NULL),
                 CNN_OK, "%s", cnn_context_message(ctx));
}

static void teardown(void)
{
    cnn_params_destroy(params);
    cnn_graph_destroy(graph);
    cnn_context_destroy(ctx);
}

TestSuite(lenet_torch, .init = setup, .fini = teardown, .timeout = 120);

static cnn_tensor load(const char *path)
{
    cnn_tensor t;
    cr_assert_eq(cnn_npy_read(ctx, path, &t), CNN_OK, "%s", cnn_context_message(ctx));
    return t;
}

/* |got - want| <= 1e-4 * max(1, |want|) elementwise: relative above 1,
 * absolute below, as PyTorch's own gradcheck-style comparisons do. */
static void assert_close(const char *what, const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double tol = 1e-4 * fmax(1.0, fabs((double)want[i]));
        cr_assert(fabs((double)got[i] - (double)want[i]) <= tol,
                  "%s[%zu]: cnnrun %.8g, PyTorch %.8g", what, i, (double)got[i],
                  (double)want[i]);
    }
}

static size_t layer(const char *name)
{
    int32_t i = cnn_graph_find_layer(graph, name);
    cr_assert(i >= 0, "no layer %s", name);
    return (size_t)i;
}

Test(lenet_torch, forward_backward_and_loss_match)
{
    cnn_tensor x = load(FIX "x.npy"), labels_f = load(FIX "labels.npy");
    cnn_tensor probs = load(FIX "probs.npy"), pool2 = load(FIX "pool2.npy");
    cnn_tensor loss_ref = load(FIX "loss.npy");
    int64_t n = x.shape.dims[0];
    int32_t labels[16];
    float grad[16 * 10];
    cnn_exec *ex;
    cnn_exec_options opts = {n, 1, -1, 0};
    cnn_tensor_file *grads;
    cnn_tensor dlogits;
    double loss;

    for (int64_t i = 0; i < n; i++)
        labels[i] = (int32_t)labels_f.data[i];
    cr_assert_eq(cnn_exec_create(ctx, graph, params, &opts, &ex), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cr_assert_eq(cnn_exec_forward(ex, &x, 1, 0, cnn_graph_output_layer(graph)), CNN_OK, "%s",
                 cnn_context_message(ctx));
    assert_close("probs", cnn_exec_output(ex, cnn_graph_output_layer(graph))->data, probs.data,
                 cnn_shape_numel(&probs.shape));
    assert_close("pool2", cnn_exec_output(ex, layer("pool2"))->data, pool2.data,
                 cnn_shape_numel(&pool2.shape));

    loss = cnn_softmax_xent(cnn_exec_output(ex, layer("fc3"))->data, labels, n, 10, grad, NULL);
    cr_assert(fabs(loss - loss_ref.data[0]) <= 1e-5 * fabs(loss_ref.data[0]), "loss %.8g vs %.8g",
              loss, (double)loss_ref.data[0]);
    dlogits.shape = cnn_shape2(n, 10);
    dlogits.data = grad;
    cr_assert_eq(cnn_exec_backward(ex, &dlogits, cnn_graph_output_layer(graph), 1), CNN_OK, "%s",
                 cnn_context_message(ctx));

    cr_assert_eq(cnn_safetensors_read(ctx, FIX "grads.safetensors", &grads), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cr_assert_eq(cnn_tensor_file_count(grads), cnn_params_count(params));
    for (size_t i = 0; i < cnn_params_count(params); i++) {
        const cnn_named_tensor *want = cnn_tensor_file_find(grads, cnn_params_name(params, i));
        cnn_tensor *got = cnn_params_grad(params, i);
        cr_assert_not_null(want, "no reference gradient for %s", cnn_params_name(params, i));
        cr_assert(cnn_shape_equal(&want->tensor.shape, &got->shape));
        assert_close(cnn_params_name(params, i), got->data, want->tensor.data,
                     cnn_shape_numel(&got->shape));
    }
    cnn_tensor_file_destroy(grads);
    cnn_exec_destroy(ex);
    free(x.data);
    free(labels_f.data);
    free(probs.data);
    free(pool2.data);
    free(loss_ref.data);
}

Test(lenet_torch, inference_plan_agrees_with_training_buffers)
{
    cnn_tensor x = load(FIX "x.npy");
    int64_t n = x.shape.dims[0];
    size_t out = cnn_graph_output_layer(graph);
    cnn_exec *train, *infer, *until;
    cnn_exec_options t = {n, 1, -1, 0}, i = {n, 0, -1, 0}, u = {n, 0, (int32_t)layer("pool2"), 0};
    size_t numel;
    cr_assert_eq(cnn_exec_create(ctx, graph, params, &t, &train), CNN_OK);
    cr_assert_eq(cnn_exec_create(ctx, graph, params, &i, &infer), CNN_OK);
    cr_assert_eq(cnn_exec_create(ctx, graph, params, &u, &until), CNN_OK);
    cr_assert_eq(cnn_exec_forward(train, &x, 0, 0, out), CNN_OK);
    cr_assert_eq(cnn_exec_forward(infer, &x, 0, 0, out), CNN_OK);
    cr_assert_eq(cnn_exec_forward(until, &x, 0, 0, layer("pool2")), CNN_OK);
    numel = cnn_shape_numel(&cnn_exec_output(train, out)->shape);
    cr_assert_arr_eq(cnn_exec_output(train, out)->data, cnn_exec_output(infer, out)->data,
                     numel * sizeof(float));
    numel = cnn_shape_numel(&cnn_exec_output(train, layer("pool2"))->shape);
    cr_assert_arr_eq(cnn_exec_output(train, layer("pool2"))->data,
                     cnn_exec_output(until, layer("pool2"))->data, numel * sizeof(float));
    /* Reusing buffers is the point of the plan: inference holds less. */
    cr_assert_lt(cnn_exec_memory_bytes(infer), cnn_exec_memory_bytes(train));
    cnn_exec_destroy(train);
    cnn_exec_destroy(infer);
    cnn_exec_destroy(until);
    free(x.data);
}

Test(lenet_torch, frozen_layers_get_no_gradient_and_no_update)
{
    cnn_tensor x = load(FIX "x.npy");
    int64_t n = x.shape.dims[0];
    int32_t labels[16] = {0};
    float grad[16 * 10];
    cnn_exec *ex;
    cnn_exec_options opts = {n, 1, -1, 0};
    cnn_optim *optim;
    cnn_optim_config oc = {CNN_OPTIM_SGD, 0.9, 0, 0.0, 0, 0, 0};
    cnn_tensor dlogits;
    size_t first, count;
    float *before;

    cr_assert_eq(cnn_graph_set_trainable(ctx, graph, "conv1", 0), CNN_OK);
    cr_assert_eq(cnn_graph_set_trainable(ctx, graph, "conv2", 0), CNN_OK);
    cr_assert_eq(cnn_graph_set_trainable(ctx, graph, "fc1", 0), CNN_OK);
    cr_assert_eq(cnn_graph_trainable_param_count(graph), 10164u + 850u);
    before = malloc(cnn_params_numel(params) * sizeof(float));
    memcpy(before, cnn_params_data(params), cnn_params_numel(params) * sizeof(float));
    /* Poison the frozen gradients: backward must not write them. */
    for (size_t i = 0; i < cnn_params_numel(params); i++)
        cnn_params_grad_data(params)[i] = 12345.0f;
    cr_assert_eq(cnn_exec_create(ctx, graph, params, &opts, &ex), CNN_OK);
    cr_assert_eq(cnn_optim_create(ctx, params, &oc, &optim), CNN_OK);
    for (int step = 0; step < 3; step++) {
        cr_assert_eq(cnn_exec_forward(ex, &x, 1, 0, cnn_graph_output_layer(graph)), CNN_OK);
        cnn_softmax_xent(cnn_exec_output(ex, layer("fc3"))->data, labels, n, 10, grad, NULL);
        dlogits.shape = cnn_shape2(n, 10);
        dlogits.data = grad;
        cr_assert_eq(cnn_exec_backward(ex, &dlogits, cnn_graph_output_layer(graph), 1), CNN_OK);
        cnn_optim_step(optim, 0.1);
    }
    for (const char *const *name = (const char *const[]){"conv1", "conv2", "fc1", NULL}; *name;
         name++) {
        first = cnn_params_layer_first(params, layer(*name), &count);
        for (size_t k = first; k < first + count; k++) {
            size_t off = (size_t)(cnn_params_value(params, k)->data - cnn_params_data(params));
            size_t len = cnn_shape_numel(&cnn_params_value(params, k)->shape);
            cr_assert_arr_eq(cnn_params_value(params, k)->data, before + off, len * sizeof(float),
                             "frozen %s changed", cnn_params_name(params, k));
            for (size_t e = 0; e < len; e++)
                cr_assert_eq(cnn_params_grad(params, k)->data[e], 12345.0f,
                             "frozen %s got a gradient", cnn_params_name(params, k));
        }
    }
    /* The trainable layers did learn. */
    first = cnn_params_layer_first(params, layer("fc3"), &count);
    cr_assert(memcmp(cnn_params_value(params, first)->data,
                     before + (cnn_params_value(params, first)->data - cnn_params_data(params)),
                     cnn_shape_numel(&cnn_params_value(params, first)->shape) * sizeof(float)) != 0,
              "fc3.weight did not change");
    cr_assert_eq(cnn_optim_state_count(optim), 4u, "momentum only for fc2 and fc3's tensors");
    cnn_optim_destroy(optim);
    cnn_exec_destroy(ex);
    free(before);
    free(x.data);
}

Test(lenet_torch, shape_mismatch_names_both_shapes)
{
    cnn_graph *other;
    cnn_params *ps;
    static const char yaml[] =
        "name: wide\ninput: [1, 28, 28]\nlayers:\n"
        "  - {name: conv1, type: conv, filters: 8, kernel: 5, padding: 2}\n";
    cr_assert_eq(cnn_graph_load_string(ctx, yaml, sizeof yaml - 1, "wide.yaml", &other), CNN_OK,
                 "%s", cnn_context_message(ctx));
    cr_assert_eq(cnn_params_create(ctx, other, &ps), CNN_OK);
    cr_assert_eq(cnn_params_load(ctx, ps, FIX "weights.safetensors",
                                 CNN_PARAMS_ALLOW_EXTRA | CNN_PARAMS_ALLOW_MISSING, NULL),
                 CNN_ERR_SHAPE);
    cr_assert(strstr(cnn_context_message(ctx), "conv1.weight"), "%s", cnn_context_message(ctx));
    cr_assert(strstr(cnn_context_message(ctx), "[6, 1, 5, 5]"), "%s", cnn_context_message(ctx));
    cr_assert(strstr(cnn_context_message(ctx), "[8, 1, 5, 5]"), "%s", cnn_context_message(ctx));
    cnn_params_destroy(ps);
    cnn_graph_destroy(other);
}
