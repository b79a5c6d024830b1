/* SPDX-License-Identifier: MIT */
/* torchvision 0.14's ResNet-18, MobileNetV2 and SqueezeNet 1.1 at reduced
 * width, in graphs written by scripts/torchvision-graphs.py (the generator
 * of graphs/resnet18.yaml, mobilenetv2.yaml and squeezenet1_1.yaml), against
 * PyTorch's outputs from tests/fixtures/gen_torchvision_fixtures.py: the
 * logits and one inner layer, in eval mode, within 1e-4 relative. Exercises
 * residual adds, batch norm, grouped (depthwise) convolution, relu6, Fire's
 * concatenation, ceil-mode pooling and global average pooling together. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/exec.h"
#include "cnn/graph.h"
#include "cnn/io.h"
#include "cnn/params.h"

#define FIX CNN_TEST_FIXTURES "/torchvision/"

typedef struct net_case {
    char name[32];
    char logits_layer[32]; /* the layer feeding the final softmax */
} net_case;

static void assert_close(const char *net, const char *what, const cnn_tensor *got,
                         const cnn_tensor *want)
{
    size_t n = cnn_shape_numel(&want->shape);
    cr_assert(cnn_shape_equal(&got->shape, &want->shape) ||
                  cnn_shape_numel(&got->shape) == n,
              "%s %s: %zu values, PyTorch %zu", net, what, cnn_shape_numel(&got->shape), n);
    for (size_t i = 0; i < n; i++) {
        double tol = 1e-4 * fmax(1.0, fabs((double)want->data[i]));
        cr_assert(fabs((double)got->data[i] - (double)want->data[i]) <= tol,
                  "%s %s[%zu]: cnnrun %.8g, PyTorch %.8g", net, what, i,
                  (double)got->data[i], (double)want->data[i]);
    }
}

ParameterizedTestParameters(torchvision, forward_matches_pytorch)
{
    static net_case cases[] = {
        {"resnet18", "fc"},
        {"mobilenetv2", "classifier_1"},
        {"squeezenet1_1", "flatten"},
    };
    return cr_make_param_array(net_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(net_case *c, torchvision, forward_matches_pytorch, .timeout = 120)
{
    char path[512], mid_name[64] = "";
    cnn_context *ctx = cnn_context_create();
    cnn_graph *graph;
    cnn_params *params;
    cnn_exec *ex;
    cnn_tensor x, logits, mid;
    int32_t mid_layer, out_layer;
    FILE *f;

    cr_assert_not_null(ctx);
    snprintf(path, sizeof path, FIX "%s/graph.yaml", c->name);
    cr_assert_eq(cnn_graph_load(ctx, path, &graph), CNN_OK, "%s", cnn_context_message(ctx));
    cr_assert_eq(cnn_params_create(ctx, graph, &params), CNN_OK, "%s", cnn_context_message(ctx));
    snprintf(path, sizeof path, FIX "%s/weights.safetensors", c->name);
    cr_assert_eq(cnn_params_load(ctx, params, path, CNN_PARAMS_EXACT, NULL), CNN_OK, "%s",
                 cnn_context_message(ctx));
    snprintf(path, sizeof path, FIX "%s/x.npy", c->name);
    cr_assert_eq(cnn_npy_read(ctx, path, &x), CNN_OK, "%s", cnn_context_message(ctx));
    snprintf(path, sizeof path, FIX "%s/logits.npy", c->name);
    cr_assert_eq(cnn_npy_read(ctx, path, &logits), CNN_OK, "%s", cnn_context_message(ctx));
    snprintf(path, sizeof path, FIX "%s/mid.npy", c->name);
    cr_assert_eq(cnn_npy_read(ctx, path, &mid), CNN_OK, "%s", cnn_context_message(ctx));
    snprintf(path, sizeof path, FIX "%s/mid.txt", c->name);
    f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    cr_assert(fscanf(f, "%63s", mid_name) == 1);
    fclose(f);

    mid_layer = cnn_graph_find_layer(graph, mid_name);
    out_layer = cnn_graph_find_layer(graph, c->logits_layer);
    cr_assert(mid_layer >= 0 && out_layer >= 0, "%s: layers %s and %s", c->name, mid_name,
              c->logits_layer);
    /* A training executor keeps every layer's output readable; the pass
     * itself runs in inference mode (batch norm's running statistics, no
     * dropout), as PyTorch's eval() does. */
    {
        cnn_exec_options opts = {x.shape.dims[0], 1, -1, 0};
        cr_assert_eq(cnn_exec_create(ctx, graph, params, &opts, &ex), CNN_OK, "%s",
                     cnn_context_message(ctx));
        cr_assert_eq(cnn_exec_forward(ex, &x, 0, 0, (size_t)out_layer), CNN_OK, "%s",
                     cnn_context_message(ctx));
        assert_close(c->name, "logits", cnn_exec_output(ex, (size_t)out_layer), &logits);
        assert_close(c->name, mid_name, cnn_exec_output(ex, (size_t)mid_layer), &mid);
        cnn_exec_destroy(ex);
    }
    free(x.data);
    free(logits.data);
    free(mid.data);
    cnn_params_destroy(params);
    cnn_graph_destroy(graph);
    cnn_context_destroy(ctx);
}
