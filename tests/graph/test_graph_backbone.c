/* SPDX-License-Identifier: MIT */
/* Backbones: cut, freeze, inherited input, nesting, paths. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "graph_test_util.h"

static cnn_graph *load_ok(cnn_context *ctx, const char *name)
{
    cnn_graph *graph = NULL;
    cnn_status st = cnn_graph_load(ctx, gt_fixture(name), &graph);
    cr_assert_eq(st, CNN_OK, "%s: %s", name, cnn_context_message(ctx));
    return graph;
}

/* Loads text as if it were a file in the fixtures folder. */
static cnn_graph *load_text(cnn_context *ctx, const char *text)
{
    cnn_graph *graph = NULL;
    char origin[4200];
    snprintf(origin, sizeof origin, "%s", gt_fixture("inline.yaml"));
    cr_assert_eq(
        cnn_graph_load_string(ctx, text, strlen(text), origin, &graph), CNN_OK,
        "%s", cnn_context_message(ctx));
    return graph;
}

static cnn_layer_info info_of(const cnn_graph *graph, const char *name)
{
    cnn_layer_info info;
    int32_t i = cnn_graph_find_layer(graph, name);
    cr_assert_geq(i, 0, "no layer %s", name);
    cnn_graph_layer_info(graph, (size_t)i, &info);
    return info;
}

static int trainable(const cnn_graph *graph, const char *name)
{
    return info_of(graph, name).trainable;
}

Test(graph_backbone, cut_and_freeze_all)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = load_ok(ctx, "head.yaml");
    cnn_layer_info info;
    char want[4200];
    cnn_shape s;
    cr_assert_str_eq(cnn_graph_name(g), "lenet_head");
    cr_assert_eq(cnn_graph_layer_count(g), 13); /* conv1..relu4 + 2 */
    cr_assert_eq(cnn_graph_find_layer(g, "fc3"), -1);
    for (size_t i = 0; i < 11; i++) {
        cnn_graph_layer_info(g, i, &info);
        cr_assert_eq(info.from_backbone, 1, "%s", info.name);
        cr_assert_eq(info.trainable, 0, "%s", info.name);
        cr_assert_eq(info.line, 9 + (int)i, "lines come from lenet5.yaml");
    }
    info = info_of(g, "head");
    cr_assert_eq(info.from_backbone, 0);
    cr_assert_eq(info.trainable, 1);
    cr_assert_eq(info.inputs[0], cnn_graph_find_layer(g, "relu4"));
    cr_assert_eq(info.line, 11);
    cr_assert_eq(cnn_graph_param_count(g), 61706 - 850 + 255);
    cr_assert_eq(cnn_graph_trainable_param_count(g), 255);
    /* Shape and normalization from the backbone, classes overridden. */
    s = cnn_graph_input_shape(g);
    cr_assert_eq(s.dims[1], 1);
    cr_assert_eq(s.dims[2], 32);
    cr_assert_float_eq(cnn_graph_input_mean(g)[0], 0.5f, 1e-7);
    cr_assert_eq(cnn_graph_class_count(g), 3);
    cr_assert_str_eq(cnn_graph_class_name(g, 1), "dog");
    /* Settings are this file's only. */
    cr_assert_str_eq(cnn_graph_setting(g, "epochs", NULL), "5");
    cr_assert_null(cnn_graph_setting(g, "batch", NULL));
    snprintf(want, sizeof want, "%s/weights/lenet5.safetensors",
             GRAPH_FIXTURES);
    cr_assert_str_eq(cnn_graph_backbone_weights(g), want);
    cr_assert_str_eq(cnn_graph_backbone_path(g), gt_fixture("lenet5.yaml"));
    cr_assert_eq(cnn_graph_output_shape(ctx, g, 12, 5, &s), CNN_OK);
    cr_assert_eq(s.rank, 2);
    cr_assert_eq(s.dims[0], 5);
    cr_assert_eq(s.dims[1], 3);
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

Test(graph_backbone, head_names_backbone_layers_and_overrides_shape)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = load_ok(ctx, "head_skip.yaml");
    int32_t fc1 = cnn_graph_find_layer(g, "fc1");
    cr_assert_eq(cnn_graph_layer_count(g), 11);
    cr_assert_eq(cnn_graph_find_layer(g, "relu3"), -1);
    cr_assert_eq(info_of(g, "a").inputs[0], fc1);
    cr_assert_eq(info_of(g, "b").inputs[0], fc1);
    /* 1x36x36 -> conv 32 -> pool 16 -> conv 12 -> pool 6: 16*6*6 = 576 */
    cr_assert_eq(info_of(g, "fc1").param_count, 576 * 120 + 120);
    cr_assert_eq(trainable(g, "conv1"), 0);
    cr_assert_eq(trainable(g, "conv2"), 0);
    cr_assert_eq(trainable(g, "fc1"), 1);
    cr_assert_eq(trainable(g, "a"), 1);
    cr_assert_eq(trainable(g, "b"), 0); /* its own trainable: false */
    cr_assert_eq(cnn_graph_param_count(g), 156 + 2416 + 69240 + 968 + 968);
    cr_assert_eq(cnn_graph_trainable_param_count(g), 69240 + 968);
    cr_assert_eq(cnn_graph_input_shape(g).dims[2], 36);
    cr_assert_eq(cnn_graph_class_count(g), 10); /* inherited */
    cr_assert_null(cnn_graph_backbone_weights(g));
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

Test(graph_backbone, nested_backbones_all_but_last)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = load_ok(ctx, "head_nested.yaml");
    cr_assert_eq(cnn_graph_layer_count(g), 13);
    cr_assert_eq(cnn_graph_find_layer(g, "prob"), -1);
    cr_assert_eq(info_of(g, "head").from_backbone, 1);
    cr_assert_eq(info_of(g, "conv1").from_backbone, 1);
    cr_assert_eq(info_of(g, "extra").from_backbone, 0);
    /* The last two layers with parameters train, whatever head.yaml's own
     * freeze said; the rest are frozen. */
    cr_assert_eq(trainable(g, "head"), 1);
    cr_assert_eq(trainable(g, "fc2"), 1);
    cr_assert_eq(trainable(g, "fc1"), 0);
    cr_assert_eq(trainable(g, "conv1"), 0);
    cr_assert_eq(cnn_graph_trainable_param_count(g), 255 + 10164);
    cr_assert_eq(cnn_graph_param_count(g), 61706 - 850 + 255);
    cr_assert_eq(cnn_graph_class_count(g), 3); /* head.yaml's classes */
    cr_assert_str_eq(cnn_graph_backbone_path(g), gt_fixture("head.yaml"));
    cr_assert_null(cnn_graph_backbone_weights(g));
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

Test(graph_backbone, backbone_without_head_layers)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = load_ok(ctx, "backbone_only.yaml");
    cnn_layer_info info;
    cr_assert_eq(cnn_graph_layer_count(g), 6);
    cnn_graph_layer_info(g, cnn_graph_output_layer(g), &info);
    cr_assert_str_eq(info.name, "pool2");
    cr_assert_eq(info.output_shape.dims[1], 16);
    cr_assert_eq(info.output_shape.dims[3], 5);
    cr_assert_eq(cnn_graph_param_count(g), 156 + 2416);
    cr_assert_eq(cnn_graph_trainable_param_count(g), 156 + 2416);
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

Test(graph_backbone, own_trainable_flag_survives_freeze_none)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g =
        load_text(ctx, "name: t\n"
                       "backbone: {graph: small.yaml, cut_after: flat,"
                       " freeze: none}\n"
                       "layers:\n"
                       "  - {name: out, type: dense, units: 5}\n");
    cr_assert_eq(trainable(g, "c1"), 1);
    cr_assert_eq(trainable(g, "c2"), 0);
    cr_assert_eq(trainable(g, "out"), 1);
    cr_assert_eq(info_of(g, "out").param_count, 4 * 5 + 5);
    cr_assert_float_eq(cnn_graph_input_mean(g)[2], 0.3f, 1e-7);
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

Test(graph_backbone, all_but_last_zero_freezes_everything)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = load_text(ctx, "name: t\n"
                                  "backbone:\n"
                                  "  graph: small.yaml\n"
                                  "  freeze: {all_but_last: 0}\n");
    cr_assert_eq(cnn_graph_layer_count(g), 7); /* the whole backbone */
    cr_assert_eq(cnn_graph_trainable_param_count(g), 0);
    cr_assert_gt(cnn_graph_param_count(g), 0);
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

Test(graph_backbone, normalization_override_must_match_channels)
{
    static const char text[] = "name: t\n"
                               "backbone: {graph: small.yaml}\n"
                               "input:\n"
                               "  mean: [0.5]\n"
                               "  std: [0.5]\n";
    cnn_context *ctx = gt_context();
    cnn_graph *g = NULL;
    char origin[4200];
    snprintf(origin, sizeof origin, "%s", gt_fixture("inline.yaml"));
    cr_assert_eq(cnn_graph_load_string(ctx, text, sizeof text - 1, origin, &g),
                 CNN_ERR_GRAPH);
    cr_assert(strstr(cnn_context_message(ctx),
                     "inline.yaml:4:9: input: mean "
                     "and std have 1 entries but "
                     "the input has 3 channels") != NULL,
              "%s", cnn_context_message(ctx));
    cr_assert(strstr(cnn_context_message(ctx), "small.yaml:4:10") != NULL,
              "%s", cnn_context_message(ctx));
    cnn_context_destroy(ctx);
}
