/* SPDX-License-Identifier: MIT */
/* Valid graphs: shapes, parameter counts, order, settings and the hooks. */
#include <string.h>

#include <criterion/criterion.h>

#include "graph_internal.h"
#include "graph_test_util.h"

static cnn_graph *load_ok(cnn_context *ctx, const char *name)
{
    cnn_graph *graph = NULL;
    cnn_status st = cnn_graph_load(ctx, gt_fixture(name), &graph);
    cr_assert_eq(st, CNN_OK, "%s: %s", name, cnn_context_message(ctx));
    cr_assert_not_null(graph);
    return graph;
}

static void expect_shape(cnn_shape got, int32_t rank, int64_t d0, int64_t d1,
                         int64_t d2, int64_t d3)
{
    int64_t want[4] = {d0, d1, d2, d3};
    cr_assert_eq(got.rank, rank, "rank %d, want %d", got.rank, rank);
    for (int32_t i = 0; i < rank; i++)
        cr_assert_eq(got.dims[i], want[i], "dim %d: %lld, want %lld", i,
                     (long long)got.dims[i], (long long)want[i]);
}

static cnn_layer_info info_of(const cnn_graph *graph, const char *name)
{
    cnn_layer_info info;
    int32_t i = cnn_graph_find_layer(graph, name);
    cr_assert_geq(i, 0, "no layer %s", name);
    cnn_graph_layer_info(graph, (size_t)i, &info);
    cr_assert_str_eq(info.name, name);
    return info;
}

Test(graph_load, lenet5_shapes_and_parameters)
{
    static const struct {
        const char *name, *type;
        uint64_t params;
    } want[] = {
        {"conv1", "conv", 156},  {"relu1", "relu", 0},
        {"pool1", "maxpool", 0}, {"conv2", "conv", 2416},
        {"relu2", "relu", 0},    {"pool2", "maxpool", 0},
        {"flat", "flatten", 0},  {"fc1", "dense", 48120},
        {"relu3", "relu", 0},    {"fc2", "dense", 10164},
        {"relu4", "relu", 0},    {"fc3", "dense", 850},
    };
    cnn_context *ctx = gt_context();
    cnn_graph *g = load_ok(ctx, "lenet5.yaml");
    cnn_layer_info info;

    cr_assert_str_eq(cnn_graph_name(g), "lenet5");
    cr_assert_str_eq(cnn_graph_path(g), gt_fixture("lenet5.yaml"));
    expect_shape(cnn_graph_input_shape(g), 4, 1, 1, 32, 32);
    cr_assert_eq(cnn_graph_layer_count(g), 12);
    cr_assert_eq(cnn_graph_param_count(g), 61706);
    cr_assert_eq(cnn_graph_trainable_param_count(g), 61706);
    cr_assert_eq(cnn_graph_output_layer(g), 11);
    for (size_t i = 0; i < 12; i++) {
        cnn_graph_layer_info(g, i, &info);
        cr_assert_str_eq(info.name, want[i].name);
        cr_assert_str_eq(info.type, want[i].type);
        cr_assert_eq(info.param_count, want[i].params, "%s", info.name);
        cr_assert_eq(info.n_inputs, 1);
        cr_assert_eq(info.inputs[0], (int32_t)i - 1, "%s", info.name);
        cr_assert_eq(info.trainable, 1);
        cr_assert_eq(info.from_backbone, 0);
        cr_assert_eq(info.line, 9 + (int)i);
        cr_assert_not_null(info.plugin);
        cr_assert_str_eq(info.descriptor->type_name, want[i].type);
        cr_assert_eq(info.layer->n_inputs, 1);
        cr_assert_str_eq(info.layer->name, want[i].name);
    }
    expect_shape(info_of(g, "conv1").output_shape, 4, 1, 6, 28, 28);
    expect_shape(info_of(g, "pool1").output_shape, 4, 1, 6, 14, 14);
    expect_shape(info_of(g, "conv2").output_shape, 4, 1, 16, 10, 10);
    expect_shape(info_of(g, "pool2").output_shape, 4, 1, 16, 5, 5);
    expect_shape(info_of(g, "flat").output_shape, 2, 1, 400, 0, 0);
    expect_shape(info_of(g, "fc3").output_shape, 2, 1, 10, 0, 0);
    /* The instance carries the shapes it was created with. */
    info = info_of(g, "conv2");
    expect_shape(info.layer->input_shapes[0], 4, 1, 6, 14, 14);
    cr_assert_eq(info.n_params, 2);
    cr_assert_str_eq(info.params[0].name, "weight");
    expect_shape(info.params[0].shape, 4, 16, 6, 5, 5);
    /* Hyperparameters: given ones and defaults, in descriptor order. */
    cr_assert_eq(info.layer->hparams[0].i[0], 16); /* filters */
    cr_assert_eq(info.layer->hparams[1].i[0], 5);  /* kernel */
    cr_assert_eq(info.layer->hparams[1].i[1], 5);
    cr_assert_eq(info.layer->hparams[2].i[0], 1); /* stride */
    cr_assert_eq(info.layer->hparams[3].i[0], 0); /* padding */
    cr_assert_eq(info.layer->hparams[4].i[0], 1); /* bias */
    cr_assert_gt(info_of(g, "fc1").flops, 0);
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

Test(graph_load, lenet5_input_and_settings)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = load_ok(ctx, "lenet5.yaml");
    int line = 0;
    cr_assert_not_null(cnn_graph_input_mean(g));
    cr_assert_float_eq(cnn_graph_input_mean(g)[0], 0.5f, 1e-7);
    cr_assert_float_eq(cnn_graph_input_std(g)[0], 0.25f, 1e-7);
    cr_assert_eq(cnn_graph_class_count(g), 10);
    cr_assert_str_eq(cnn_graph_class_name(g, 3), "three");
    cr_assert_null(cnn_graph_class_name(g, 10));
    cr_assert_str_eq(cnn_graph_setting(g, "epochs", &line), "2");
    cr_assert_eq(line, 22);
    cr_assert_str_eq(cnn_graph_setting(g, "batch", NULL), "64");
    cr_assert_str_eq(cnn_graph_setting(g, "lr", &line), "0.01");
    cr_assert_eq(line, 24);
    cr_assert_null(cnn_graph_setting(g, "momentum", &line));
    cr_assert_str_eq(cnn_graph_setting_key(g, 0), "epochs");
    cr_assert_str_eq(cnn_graph_setting_key(g, 2), "lr");
    cr_assert_null(cnn_graph_setting_key(g, 3));
    cr_assert_null(cnn_graph_backbone_path(g));
    cr_assert_null(cnn_graph_backbone_weights(g));
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

Test(graph_load, output_shape_for_any_batch)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = load_ok(ctx, "lenet5.yaml");
    cnn_shape s;
    cr_assert_eq(cnn_graph_output_shape(ctx, g, 6, 7, &s), CNN_OK);
    expect_shape(s, 2, 7, 400, 0, 0);
    cr_assert_eq(cnn_graph_output_shape(ctx, g, 11, 64, &s), CNN_OK);
    expect_shape(s, 2, 64, 10, 0, 0);
    cr_assert_eq(cnn_graph_output_shape(ctx, g, 1, 3, &s), CNN_OK);
    expect_shape(s, 4, 3, 6, 28, 28);
    cr_assert_eq(cnn_graph_output_shape(ctx, g, 12, 1, &s), CNN_ERR_INVALID);
    cr_assert_eq(cnn_graph_output_shape(ctx, g, 0, 0, &s), CNN_ERR_INVALID);
    /* batch 1 shapes are unchanged by the query */
    expect_shape(info_of(g, "fc3").output_shape, 2, 1, 10, 0, 0);
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

Test(graph_load, set_trainable)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = load_ok(ctx, "lenet5.yaml");
    cr_assert_eq(cnn_graph_set_trainable(ctx, g, "fc3", 0), CNN_OK);
    cr_assert_eq(cnn_graph_trainable_param_count(g), 61706 - 850);
    cr_assert_eq(info_of(g, "fc3").trainable, 0);
    cr_assert_eq(cnn_graph_set_trainable(ctx, g, "fc3", 1), CNN_OK);
    cr_assert_eq(cnn_graph_trainable_param_count(g), 61706);
    cr_assert_eq(cnn_graph_set_trainable(ctx, g, "fc9", 0), CNN_ERR_NOT_FOUND);
    cr_assert(strstr(cnn_context_message(ctx), "fc9") != NULL);
    cr_assert_eq(cnn_graph_find_layer(g, "nope"), -1);
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

Test(graph_load, dag_with_add_and_concat)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = load_ok(ctx, "dag.yaml");
    cnn_layer_info info;
    static const char *const order[] = {"stem", "branch", "act",  "sum",
                                        "side", "cat",    "flat", "out"};
    cr_assert_eq(cnn_graph_layer_count(g), 8);
    for (size_t i = 0; i < 8; i++) {
        cnn_graph_layer_info(g, i, &info);
        cr_assert_str_eq(info.name, order[i]);
    }
    info = info_of(g, "branch");
    cr_assert_eq(info.inputs[0], 0); /* inputs: stem */
    info = info_of(g, "sum");
    cr_assert_eq(info.n_inputs, 2);
    cr_assert_eq(info.inputs[0], 2); /* act */
    cr_assert_eq(info.inputs[1], 0); /* stem */
    expect_shape(info.output_shape, 4, 1, 4, 8, 8);
    info = info_of(g, "side");
    cr_assert_eq(info.inputs[0], CNN_GRAPH_INPUT);
    cr_assert_eq(info.param_count, 6); /* 1x1, no bias */
    cr_assert_eq(info.n_params, 1);
    info = info_of(g, "cat");
    cr_assert_eq(info.inputs[0], 3);
    cr_assert_eq(info.inputs[1], 4);
    expect_shape(info.output_shape, 4, 1, 6, 8, 8);
    expect_shape(info_of(g, "out").output_shape, 2, 1, 3, 0, 0);
    cr_assert_eq(cnn_graph_param_count(g), 112 + 148 + 6 + (384 * 3 + 3));
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

Test(graph_load, forward_references_are_ordered)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = load_ok(ctx, "forward_refs.yaml");
    cnn_layer_info info;
    static const char *const order[] = {"left", "right", "joined", "squash"};
    for (size_t i = 0; i < 4; i++) {
        cnn_graph_layer_info(g, i, &info);
        cr_assert_str_eq(info.name, order[i]);
    }
    info = info_of(g, "joined");
    cr_assert_eq(info.inputs[0], 0);
    cr_assert_eq(info.inputs[1], 1);
    cr_assert_eq(info.line, 6);
    cr_assert_eq(info_of(g, "left").inputs[0], CNN_GRAPH_INPUT);
    cr_assert_eq(info_of(g, "right").inputs[0], CNN_GRAPH_INPUT);
    cr_assert_eq(info_of(g, "squash").inputs[0], 2);
    cr_assert_eq(cnn_graph_output_layer(g), 3);
    expect_shape(info_of(g, "squash").output_shape, 4, 1, 2, 4, 4);
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

Test(graph_load, hooks_create_params_flops_destroy)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = load_ok(ctx, "probe.yaml");
    cnn_layer_info info = info_of(g, "p1");
    /* Six specs: more than the host's first offer of room. */
    cr_assert_eq(info.n_params, 6);
    cr_assert_str_eq(info.params[0].name, "pa");
    cr_assert_str_eq(info.params[5].name, "pf");
    expect_shape(info.params[5].shape, 2, 2, 3, 0, 0);
    cr_assert_eq(info.param_count, 36);
    cr_assert_eq(info.flops, 1030);
    cr_assert_not_null(info.layer->state);
    info = info_of(g, "p2");
    cr_assert_eq(info.param_count, 6);
    cr_assert_eq(info.trainable, 0);
    cr_assert_eq(info.inputs[0], 0);
    cr_assert_eq(cnn_graph_param_count(g), 42);
    cr_assert_eq(cnn_graph_trainable_param_count(g), 36);
    cnn_graph_destroy(g); /* frees both states: valgrind checks */
    cnn_context_destroy(ctx);
}

static const char inline_graph[] =
    "name: inline\n"
    "input: {shape: [3, 9, 11]}\n"
    "layers:\n"
    "  - {name: c, type: conv, filters: 2, kernel: [3, 5], stride: [2, 1]}\n"
    "  - name: pool\n"
    "    type: avgpool\n"
    "    size: [2, 1]\n";

Test(graph_load, from_string)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = NULL;
    cr_assert_eq(cnn_graph_load_string(ctx, inline_graph,
                                       sizeof inline_graph - 1, "inline.yaml",
                                       &g),
                 CNN_OK, "%s", cnn_context_message(ctx));
    cr_assert_str_eq(cnn_graph_path(g), "inline.yaml");
    cr_assert_null(cnn_graph_input_mean(g));
    cr_assert_eq(cnn_graph_class_count(g), 0);
    cr_assert_null(cnn_graph_setting_key(g, 0));
    expect_shape(info_of(g, "c").output_shape, 4, 1, 2, 4, 7);
    expect_shape(info_of(g, "pool").output_shape, 4, 1, 2, 2, 7);
    cr_assert_eq(info_of(g, "pool").line, 5);
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

Test(graph_load, from_string_errors_name_the_origin)
{
    static const char text[] = "name: x\ninput: [1, 4, 4]\nlayers:\n"
                               "  - {name: a, type: relu, rate: 2}\n";
    cnn_context *ctx = gt_context();
    cnn_graph *g = (cnn_graph *)1;
    cr_assert_eq(
        cnn_graph_load_string(ctx, text, sizeof text - 1, "mem.yaml", &g),
        CNN_ERR_GRAPH);
    cr_assert_null(g);
    cr_assert_str_eq(cnn_context_message(ctx),
                     "mem.yaml:4:27: layer 'a': unknown key 'rate' for type "
                     "relu (valid: name, type, inputs, trainable)");
    cr_assert_eq(cnn_graph_load_string(ctx, text, 5, NULL, &g), CNN_ERR_GRAPH);
    cr_assert(strncmp(cnn_context_message(ctx), "<string>:1:", 11) == 0, "%s",
              cnn_context_message(ctx));
    cnn_context_destroy(ctx);
}

Test(graph_load, missing_file)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = (cnn_graph *)1;
    cr_assert_eq(cnn_graph_load(ctx, gt_fixture("nope.yaml"), &g),
                 CNN_ERR_NOT_FOUND);
    cr_assert_null(g);
    cr_assert(strstr(cnn_context_message(ctx), "nope.yaml") != NULL);
    cr_assert_eq(cnn_graph_load(ctx, "", &g), CNN_ERR_INVALID);
    cnn_context_destroy(ctx);
}

Test(graph_load, graph_name_and_scalars)
{
    /* Quoted and plain scalars alike; a graph name may start with a digit;
     * true/false are booleans for trainable and for bool hyperparameters. */
    static const char text[] =
        "name: \"3net\"\n"
        "input: [1, 6, 6]\n"
        "layers:\n"
        "  - {name: 'c.1', type: conv, filters: '2', kernel: 3, bias: False}\n"
        "  - {name: _d-2, type: dropout, rate: 0.25, trainable: FALSE}\n";
    cnn_context *ctx = gt_context();
    cnn_graph *g = NULL;
    cr_assert_eq(
        cnn_graph_load_string(ctx, text, sizeof text - 1, "q.yaml", &g),
        CNN_OK, "%s", cnn_context_message(ctx));
    cr_assert_str_eq(cnn_graph_name(g), "3net");
    cr_assert_eq(info_of(g, "c.1").param_count, 18);
    cr_assert_eq(info_of(g, "_d-2").trainable, 0);
    cr_assert_float_eq(info_of(g, "_d-2").layer->hparams[0].f, 0.25, 1e-12);
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

Test(graph_load, scalar_aliases)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = load_ok(ctx, "aliases.yaml");
    cr_assert_eq(info_of(g, "c2").layer->hparams[0].i[0], 4);
    cr_assert_eq(info_of(g, "c2").layer->hparams[1].i[1], 3);
    expect_shape(info_of(g, "c2").output_shape, 4, 1, 4, 8, 8);
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

/* What the executor uses: the same instances the public info points at,
 * writable, with their descriptors and source positions. */
Test(graph_load, internal_layer_access)
{
    cnn_context *ctx = gt_context();
    cnn_graph *g = load_ok(ctx, "probe.yaml");
    for (size_t i = 0; i < cnn_graph_layer_count(g); i++) {
        cnn_layer_info info;
        cnn_graph_layer *l = cnn_graph_layer_at(g, i);
        cnn_graph_layer_info(g, i, &info);
        cr_assert_eq(cnn_graph_layer_instance(g, i), info.layer);
        cr_assert_eq(cnn_graph_layer_descriptor(g, i), info.descriptor);
        cr_assert_str_eq(l->file, gt_fixture("probe.yaml"));
        cr_assert_eq(l->line, 4 + (int)i);
        cr_assert_eq(l->column, 5);
        cr_assert_eq(l->created, 1);
    }
    cr_assert_null(cnn_graph_layer_at(g, 2));
    cr_assert_null(cnn_graph_layer_instance(g, 2));
    cr_assert_null(cnn_graph_layer_descriptor(g, 2));
    cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}
