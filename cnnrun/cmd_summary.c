/* SPDX-License-Identifier: MIT */
/* cnnrun summary GRAPH [--json]: shapes, parameters and FLOPs per layer. */
#include <jansson.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "classifier.h"
#include "cli.h"
#include "cnn/graph.h"
#include "commands.h"

static const char summary_usage[] =
    "Usage: cnnrun summary GRAPH [--json]\n"
    "Prints each layer's name, type, output shape, parameter count and\n"
    "FLOPs, then the totals. Layers from a backbone are marked 'B', frozen\n"
    "ones 'F'.\n\n"
    "  --json            one JSON object instead of the table\n";

enum { OPT_JSON = CLI_OPT_FIRST_COMMAND };

static uint64_t total_flops(const cnn_graph *graph)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < cnn_graph_layer_count(graph); i++) {
        cnn_layer_info info;
        cnn_graph_layer_info(graph, i, &info);
        sum += info.flops;
    }
    return sum;
}

static void print_table(const cnn_graph *graph)
{
    char shape[96], count[32], flops[32];
    cnn_shape in = cnn_graph_input_shape(graph);
    uint64_t total = cnn_graph_param_count(graph);
    uint64_t trainable = cnn_graph_trainable_param_count(graph);

    cli_format_shape(&in, shape, sizeof shape);
    printf("Graph: %s (%s)\nInput: %s\n\n", cnn_graph_name(graph),
           cnn_graph_path(graph), shape);
    printf("%-22s %-15s %-16s %14s %16s  %s\n", "Layer", "Type",
           "Output shape", "Params", "FLOPs", "");
    for (int i = 0; i < 95; i++)
        putchar('-');
    putchar('\n');
    for (size_t i = 0; i < cnn_graph_layer_count(graph); i++) {
        cnn_layer_info info;
        char mark[4] = "";
        cnn_graph_layer_info(graph, i, &info);
        cli_format_shape(&info.output_shape, shape, sizeof shape);
        cli_format_count(info.param_count, count, sizeof count);
        cli_format_flops(info.flops, flops, sizeof flops);
        if (info.from_backbone)
            strcat(mark, "B");
        if (!info.trainable && info.param_count)
            strcat(mark, "F");
        printf("%-22s %-15s %-16s %14s %16s  %s\n", info.name, info.type,
               shape, count, flops, mark);
    }
    for (int i = 0; i < 95; i++)
        putchar('-');
    putchar('\n');
    cli_format_count(total, count, sizeof count);
    printf("Total params: %s\n", count);
    cli_format_count(trainable, count, sizeof count);
    printf("Trainable params: %s\n", count);
    cli_format_count(total - trainable, count, sizeof count);
    printf("Non-trainable params: %s\n", count);
    cli_format_flops(total_flops(graph), flops, sizeof flops);
    printf("Forward FLOPs per image: %s\n", flops);
}

static json_t *shape_json(const cnn_shape *s)
{
    json_t *a = json_array();
    for (int32_t i = 1; i < s->rank; i++)
        json_array_append_new(a, json_integer(s->dims[i]));
    return a;
}

static int print_json(const cnn_graph *graph)
{
    json_t *root = json_object();
    json_t *layers = json_array();
    cnn_shape in = cnn_graph_input_shape(graph);
    uint64_t total = cnn_graph_param_count(graph);
    uint64_t trainable = cnn_graph_trainable_param_count(graph);
    char *text;

    json_object_set_new(root, "name", json_string(cnn_graph_name(graph)));
    json_object_set_new(root, "input_shape", shape_json(&in));
    for (size_t i = 0; i < cnn_graph_layer_count(graph); i++) {
        cnn_layer_info info;
        json_t *l = json_object();
        json_t *inputs = json_array();
        cnn_graph_layer_info(graph, i, &info);
        json_object_set_new(l, "name", json_string(info.name));
        json_object_set_new(l, "type", json_string(info.type));
        json_object_set_new(l, "output_shape", shape_json(&info.output_shape));
        json_object_set_new(l, "params", json_integer((json_int_t)info.param_count));
        json_object_set_new(l, "flops", json_integer((json_int_t)info.flops));
        json_object_set_new(l, "trainable", json_boolean(info.trainable));
        json_object_set_new(l, "from_backbone", json_boolean(info.from_backbone));
        for (uint32_t j = 0; j < info.n_inputs; j++) {
            cnn_layer_info src;
            if (info.inputs[j] < 0) {
                json_array_append_new(inputs, json_string("input"));
                continue;
            }
            cnn_graph_layer_info(graph, (size_t)info.inputs[j], &src);
            json_array_append_new(inputs, json_string(src.name));
        }
        json_object_set_new(l, "inputs", inputs);
        json_array_append_new(layers, l);
    }
    json_object_set_new(root, "layers", layers);
    json_object_set_new(root, "total_params", json_integer((json_int_t)total));
    json_object_set_new(root, "trainable_params", json_integer((json_int_t)trainable));
    json_object_set_new(root, "non_trainable_params",
                        json_integer((json_int_t)(total - trainable)));
    json_object_set_new(root, "flops", json_integer((json_int_t)total_flops(graph)));
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        return 0;
    puts(text);
    free(text);
    return 1;
}

int cmd_summary(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS, {"json", no_argument, NULL, OPT_JSON}, {0, 0, 0, 0}};
    cli_common common;
    int json = 0, opt, code;
    cnn_context *ctx;
    cnn_graph *graph = NULL;

    cli_common_init(&common, "summary", summary_usage);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (cli_common_option(&common, opt, optarg, &code)) {
            if (code != CLI_OK || common.help)
                return code;
            continue;
        }
        if (opt == OPT_JSON)
            json = 1;
    }
    if (optind + 1 != argc)
        return cli_usage_error(&common, "expected one GRAPH file");
    ctx = cli_context(&common);
    if (!ctx)
        return CLI_FAIL;
    if (cnn_graph_load(ctx, argv[optind], &graph) != CNN_OK) {
        code = cli_fail(&common, ctx);
    } else {
        code = CLI_OK;
        if (json) {
            if (!print_json(graph))
                code = cli_failf(&common, "out of memory writing JSON");
        } else {
            print_table(graph);
        }
        /* Declared class names that do not fit the output width are an
         * error for every command that runs the graph: say so here too,
         * after the table that shows the width. */
        if (cnn_graph_class_count(graph) > 0) {
            classifier_head head;
            if (classifier_head_find(ctx, graph, &head) != CNN_OK)
                code = cli_fail(&common, ctx);
        }
    }
    cnn_graph_destroy(graph);
    cnn_context_destroy(ctx);
    return code;
}
