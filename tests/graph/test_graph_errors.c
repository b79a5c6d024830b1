/* SPDX-License-Identifier: MIT */
/* One fixture per error the loader can report: each must fail with the
 * right status, start with path:line:column of the offending node and name
 * the layer, key or value at fault. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "graph_test_util.h"

#define E(name, status, line, col, ...)                                       \
    gt_expect_error("errors/" name, status, line, col, __VA_ARGS__, NULL)

/* ---- YAML itself ----------------------------------------------------------
 */

Test(graph_errors, yaml_syntax_error)
{
    E("syntax.yaml", CNN_ERR_FORMAT, 5, 5, "YAML syntax error",
      "did not find expected ',' or '}'", "while parsing a flow mapping",
      "at 4:5");
}

Test(graph_errors, yaml_tab_indentation)
{
    E("tab_indent.yaml", CNN_ERR_FORMAT, 4, 1, "YAML syntax error", "tab");
}

Test(graph_errors, empty_file)
{
    E("empty.yaml", CNN_ERR_GRAPH, 1, 1, "no YAML document");
}

Test(graph_errors, second_document)
{
    E("two_docs.yaml", CNN_ERR_GRAPH, 6, 1, "one YAML document");
}

/* ---- structure ------------------------------------------------------------
 */

Test(graph_errors, root_not_a_mapping)
{
    E("root_kind.yaml", CNN_ERR_GRAPH, 1, 1, "must be a mapping",
      "got a sequence");
}

Test(graph_errors, layers_not_a_sequence)
{
    E("layers_kind.yaml", CNN_ERR_GRAPH, 3, 9, "layers must be a sequence",
      "got a mapping");
}

Test(graph_errors, layer_not_a_mapping)
{
    E("layer_kind.yaml", CNN_ERR_GRAPH, 5, 5, "layers[1]", "must be a mapping",
      "got a scalar");
}

Test(graph_errors, inputs_wrong_kind)
{
    E("inputs_kind.yaml", CNN_ERR_GRAPH, 5, 39, "layer 'relu2'", "inputs",
      "got a mapping");
}

Test(graph_errors, duplicate_layer_key)
{
    E("dup_key.yaml", CNN_ERR_GRAPH, 8, 5, "layer 'conv1'",
      "duplicate key 'kernel'", "first at 7:5");
}

Test(graph_errors, duplicate_top_level_key)
{
    E("dup_top_key.yaml", CNN_ERR_GRAPH, 3, 1, "duplicate key 'name'",
      "first at 1:1");
}

Test(graph_errors, unknown_top_level_key)
{
    E("unknown_top.yaml", CNN_ERR_GRAPH, 3, 1, "unknown top-level key 'layer'",
      "valid: name, input, layers, backbone, rename, train");
}

Test(graph_errors, missing_name)
{
    E("missing_name.yaml", CNN_ERR_GRAPH, 1, 1, "missing required key 'name'");
}

Test(graph_errors, missing_layers)
{
    E("missing_layers.yaml", CNN_ERR_GRAPH, 1, 1,
      "missing required key 'layers'");
}

Test(graph_errors, empty_layers)
{
    E("empty_layers.yaml", CNN_ERR_GRAPH, 3, 9, "layers is empty");
}

Test(graph_errors, missing_type)
{
    E("missing_type.yaml", CNN_ERR_GRAPH, 5, 5, "layer 'b'",
      "missing required key 'type'");
}

Test(graph_errors, invalid_layer_name)
{
    E("bad_layer_name.yaml", CNN_ERR_GRAPH, 4, 12,
      "invalid layer name '2conv'", "[A-Za-z_][A-Za-z0-9_.-]*");
}

Test(graph_errors, reserved_layer_name)
{
    E("reserved_name.yaml", CNN_ERR_GRAPH, 4, 12, "'input'", "reserved");
}

Test(graph_errors, trainable_not_bool)
{
    E("bad_trainable.yaml", CNN_ERR_GRAPH, 4, 38, "layer 'a'", "trainable",
      "maybe");
}

Test(graph_errors, train_value_not_scalar)
{
    E("train_kind.yaml", CNN_ERR_GRAPH, 7, 13, "train: schedule",
      "got a mapping");
}

/* ---- input ----------------------------------------------------------------
 */

Test(graph_errors, input_shape_not_positive)
{
    E("bad_shape.yaml", CNN_ERR_GRAPH, 2, 12, "input", "shape entry 2", "'0'");
}

Test(graph_errors, input_std_not_positive)
{
    E("bad_norm.yaml", CNN_ERR_GRAPH, 5, 15, "std entry 2", "positive", "'0'");
}

Test(graph_errors, input_norm_count)
{
    E("norm_count.yaml", CNN_ERR_GRAPH, 4, 9, "3 entries", "1 channels");
}

Test(graph_errors, input_unknown_key)
{
    E("input_key.yaml", CNN_ERR_GRAPH, 4, 3, "unknown key 'mena'",
      "valid: shape, mean, std, classes");
}

/* ---- layers against their plugins -----------------------------------------
 */

Test(graph_errors, unknown_key_lists_valid_ones)
{
    E("unknown_key.yaml", CNN_ERR_GRAPH, 5, 31,
      "layer 'conv2': unknown key 'filter' for type conv (valid: name, type, "
      "inputs, trainable, filters, kernel, stride, padding, dilation, groups, bias, init)");
}

Test(graph_errors, missing_required_hparam)
{
    E("missing_required.yaml", CNN_ERR_GRAPH, 5, 5, "layer 'conv1'",
      "missing required key 'filters' for type conv");
}

Test(graph_errors, hparam_out_of_bounds)
{
    E("bad_value.yaml", CNN_ERR_INVALID, 4, 51, "layer 'conv1'", "kernel", "0",
      "minimum 1");
}

Test(graph_errors, sequence_for_scalar_hparam)
{
    E("seq_for_scalar.yaml", CNN_ERR_GRAPH, 4, 40, "layer 'conv1'",
      "'filters'", "single value");
}

Test(graph_errors, unknown_type_lists_paths)
{
    E("unknown_type.yaml", CNN_ERR_NOT_FOUND, 4, 25, "layer 'conv1'", "convv",
      "tried", GRAPH_PROBE_DIR "/convv.so",
      CNN_TEST_PLUGIN_ROOT "/convv/convv.so");
}

Test(graph_errors, duplicate_layer_name)
{
    E("dup_name.yaml", CNN_ERR_GRAPH, 6, 12, "layer 'act'",
      "duplicate layer name", "dup_name.yaml:4:12");
}

Test(graph_errors, dangling_input)
{
    E("dangling.yaml", CNN_ERR_GRAPH, 6, 40, "layer 'sum'", "input 'c'",
      "not a layer");
}

Test(graph_errors, cycle)
{
    E("cycle.yaml", CNN_ERR_GRAPH, 5, 34, "layer 'b'", "cycle",
      "b -> c -> d -> b");
}

Test(graph_errors, self_cycle)
{
    E("self_cycle.yaml", CNN_ERR_GRAPH, 4, 35, "layer 'a'", "cycle", "a -> a");
}

Test(graph_errors, too_few_inputs)
{
    E("n_inputs.yaml", CNN_ERR_GRAPH, 5, 5, "layer 'sum'", "type add takes 2",
      "got 1");
}

Test(graph_errors, too_many_inputs)
{
    E("n_inputs_many.yaml", CNN_ERR_GRAPH, 5, 35, "layer 'b'",
      "type tanh takes exactly 1 input", "got 2");
}

Test(graph_errors, kernel_does_not_fit)
{
    E("shape.yaml", CNN_ERR_SHAPE, 5, 5, "layer 'conv1'",
      "kernel 5x5 does not fit input 4x4");
}

Test(graph_errors, plugin_shape_failure)
{
    E("probe_shape.yaml", CNN_ERR_SHAPE, 5, 5, "layer 'p'",
      "probe refuses shape rank 4");
}

Test(graph_errors, plugin_create_failure)
{
    /* The layer created before it must be destroyed: valgrind and ASan
     * would see its state leak. */
    E("probe_create.yaml", CNN_ERR_PLUGIN, 5, 5, "layer 'p'",
      "probe create failed on purpose");
}

Test(graph_errors, plugin_params_failure)
{
    E("probe_params.yaml", CNN_ERR_PLUGIN, 5, 5, "layer 'p'",
      "probe params failed");
}

/* ---- backbones ------------------------------------------------------------
 */

Test(graph_errors, backbone_file_missing)
{
    E("backbone_missing.yaml", CNN_ERR_NOT_FOUND, 3, 10, "backbone",
      "no_such_file.yaml", "cannot open");
}

Test(graph_errors, backbone_cut_unknown)
{
    E("backbone_cut.yaml", CNN_ERR_GRAPH, 4, 14, "cut_after", "'fc9'",
      "lenet5.yaml");
}

Test(graph_errors, head_input_after_cut)
{
    E("backbone_after_cut.yaml", CNN_ERR_GRAPH, 6, 35, "layer 'a'",
      "input 'fc3'", "after the cut", "cut_after: fc2");
}

Test(graph_errors, head_name_clashes_with_backbone)
{
    E("backbone_dup.yaml", CNN_ERR_GRAPH, 6, 12, "layer 'relu3'",
      "duplicate layer name", "lenet5.yaml:17:12");
}

Test(graph_errors, freeze_unknown_layer)
{
    E("backbone_freeze.yaml", CNN_ERR_GRAPH, 5, 19, "freeze", "'fc3'",
      "not a kept backbone layer");
}

Test(graph_errors, freeze_wrong_form)
{
    E("backbone_freeze_kind.yaml", CNN_ERR_GRAPH, 4, 11, "freeze",
      "all_but_last", "'some'");
}

Test(graph_errors, backbone_unknown_key)
{
    E("backbone_key.yaml", CNN_ERR_GRAPH, 4, 3, "unknown key 'cut'",
      "valid: graph, weights, cut_after, freeze");
}

Test(graph_errors, backbone_recursion)
{
    E("backbone_loop.yaml", CNN_ERR_GRAPH, 3, 10, "more than 8 nested");
}

Test(graph_errors, head_shape_error)
{
    E("backbone_shape.yaml", CNN_ERR_SHAPE, 8, 5, "layer 'conv9'",
      "kernel 7x7 does not fit input 3x3");
}

/* An error inside the backbone file names that file, not the head. */
Test(graph_errors, error_inside_backbone)
{
    cnn_context *ctx = gt_context();
    cnn_graph *graph = NULL;
    char want[4200];
    cnn_status st =
        cnn_graph_load(ctx, gt_fixture("errors/backbone_inner.yaml"), &graph);
    cr_assert_eq(st, CNN_ERR_GRAPH);
    cr_assert_null(graph);
    snprintf(want, sizeof want, "%s:5:31: layer 'conv2': unknown key 'filter'",
             gt_fixture("errors/unknown_key.yaml"));
    cr_assert(strstr(cnn_context_message(ctx), want) != NULL, "%s",
              cnn_context_message(ctx));
    snprintf(want, sizeof want, "(backbone of %s:3:10)",
             gt_fixture("errors/backbone_inner.yaml"));
    cr_assert(strstr(cnn_context_message(ctx), want) != NULL, "%s",
              cnn_context_message(ctx));
    cnn_context_destroy(ctx);
}

/* ---- aliases --------------------------------------------------------------
 */

Test(graph_errors, alias_of_a_mapping)
{
    E("alias_mapping.yaml", CNN_ERR_GRAPH, 4, 5, "mapping",
      "used again through an alias");
}

Test(graph_errors, recursive_alias)
{
    E("alias_recursive.yaml", CNN_ERR_GRAPH, 3, 9, "sequence",
      "used again through an alias");
}

/* A long scalar repeated through aliases must not multiply memory. */
Test(graph_errors, scalar_alias_budget)
{
    enum { LONG = 70000, USES = 12 };
    const size_t size = LONG + 64 * USES + 256;
    char *text = malloc(size);
    size_t n = 0;
    cnn_context *ctx = gt_context();
    cnn_graph *g = NULL;
    cr_assert_not_null(text);
    n += (size_t)snprintf(text + n, size - n, "name: bomb\ninput: [1, 2, 2]\n"
                                   "layers: [{name: a, type: relu}]\n"
                                   "train:\n  k0: &s ");
    memset(text + n, 'x', LONG);
    n += LONG;
    for (int i = 1; i <= USES; i++)
        n += (size_t)snprintf(text + n, size - n, "\n  k%d: *s", i);
    cr_assert_eq(cnn_graph_load_string(ctx, text, n, "bomb.yaml", &g),
                 CNN_ERR_GRAPH);
    cr_assert_null(g);
    cr_assert(
        strncmp(cnn_context_message(ctx), "bomb.yaml:5:7: aliases", 22) == 0,
        "%s", cnn_context_message(ctx));
    free(text);
    cnn_context_destroy(ctx);
}

/* ---- limits ---------------------------------------------------------------
 */

Test(graph_errors, too_many_keys)
{
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "name: keys\ninput: [1, 2, 2]\n"
                                     "layers: [{name: a, type: relu}]\n"
                                     "train: {");
    cnn_context *ctx = gt_context();
    cnn_graph *g = NULL;
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%sk%d: 1", i ? ", " : "", i);
    n += (size_t)snprintf(text + n, sizeof text - n, "}\n");
    cr_assert_eq(cnn_graph_load_string(ctx, text, n, "keys.yaml", &g),
                 CNN_ERR_GRAPH);
    cr_assert(strstr(cnn_context_message(ctx), "keys.yaml:4:8: ") != NULL &&
                  strstr(cnn_context_message(ctx), "more than 256 keys"),
              "%s", cnn_context_message(ctx));
    cnn_context_destroy(ctx);
}
