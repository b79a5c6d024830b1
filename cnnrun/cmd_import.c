/* SPDX-License-Identifier: MIT */
/* cnnrun import MODEL.onnx --graph OUT.yaml --weights OUT.safetensors */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cnn_onnx.h"
#include "commands.h"
#include "model.h"

static const char import_usage[] =
    "Usage: cnnrun import MODEL.onnx --graph OUT.yaml --weights OUT.safetensors\n"
    "                     [--name NAME] [--input-shape C,H,W] [--no-check]\n"
    "Translates an ONNX model (opsets 7 to 18) into a graph file, one layer\n"
    "a line, and its weights as <layer>.<param> tensors in PyTorch's\n"
    "layouts. Constant shape arithmetic is folded; Identity and Dropout are\n"
    "removed. External data files are read from the model's folder only.\n"
    "The written graph is then loaded with its weights as a check.\n\n"
    "  --graph FILE        the graph to write (YAML)\n"
    "  --weights FILE      the weights to write (safetensors)\n"
    "  --name NAME         the graph's name (default: the model file's)\n"
    "  --input-shape C,H,W fix the input's size where the model leaves it\n"
    "                      symbolic\n"
    "  --no-check          do not load the written graph afterwards\n";

enum { OPT_GRAPH = CLI_OPT_FIRST_COMMAND, OPT_WEIGHTS, OPT_NAME, OPT_SHAPE,
       OPT_NO_CHECK };

static int parse_chw(const char *text, int64_t chw[3])
{
    char buf[96], *save = NULL, *tok;
    int n = 0;
    if (strlen(text) >= sizeof buf)
        return 0;
    strcpy(buf, text);
    for (tok = strtok_r(buf, ",x", &save); tok; tok = strtok_r(NULL, ",x", &save)) {
        long long v;
        if (n == 3 || !cli_parse_int(tok, 1, 1000000, &v))
            return 0;
        chw[n++] = v;
    }
    return n == 3;
}

int cmd_import(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"graph", required_argument, NULL, OPT_GRAPH},
        {"weights", required_argument, NULL, OPT_WEIGHTS},
        {"name", required_argument, NULL, OPT_NAME},
        {"input-shape", required_argument, NULL, OPT_SHAPE},
        {"no-check", no_argument, NULL, OPT_NO_CHECK},
        {0, 0, 0, 0}};
    cli_common common;
    cnn_onnx_import_options opt;
    const char *graph = NULL, *weights = NULL;
    int o, code = CLI_OK, check = 1;
    cnn_context *ctx;
    cnn_onnx_imported *imp = NULL;

    memset(&opt, 0, sizeof opt);
    cli_common_init(&common, "import", import_usage);
    optind = 1;
    while ((o = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (cli_common_option(&common, o, optarg, &code)) {
            if (code != CLI_OK || common.help)
                return code;
            continue;
        }
        switch (o) {
        case OPT_GRAPH: graph = optarg; break;
        case OPT_WEIGHTS: weights = optarg; break;
        case OPT_NAME: opt.graph_name = optarg; break;
        case OPT_SHAPE:
            if (!parse_chw(optarg, opt.input_chw))
                return cli_usage_error(&common, "--input-shape wants C,H,W (three whole numbers from 1 to 1000000), got '%s'", optarg);
            break;
        case OPT_NO_CHECK: check = 0; break;
        default: return cli_usage_error(&common, "unknown option");
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error(&common, "expected one MODEL.onnx file");
    if (!graph || !weights)
        return cli_usage_error(&common, "--graph and --weights are required");
    ctx = cli_context(&common);
    if (!ctx)
        return CLI_FAIL;
    if (cnn_onnx_import_file(ctx, argv[optind], &opt, &imp) != CNN_OK ||
        cnn_onnx_imported_save(ctx, imp, graph, weights) != CNN_OK) {
        code = cli_fail(&common, ctx);
        goto done;
    }
    if (check) {
        /* What a user does next: load the graph with its weights. */
        model m;
        if (model_open(ctx, graph, weights, 0, &m) != CNN_OK) {
            fprintf(stderr, "cnnrun import: wrote %s and %s, but they do not load:\n",
                    graph, weights);
            code = cli_fail(&common, ctx);
            goto done;
        }
        if (!common.quiet) {
            char count[32];
            cli_format_count(cnn_graph_param_count(m.graph), count, sizeof count);
            fprintf(stderr, "cnnrun import: %s -> %s (%zu layers), %s (%zu tensors, %s values); loads and shape-checks\n",
                    argv[optind], graph, cnn_graph_layer_count(m.graph), weights,
                    cnn_params_count(m.params), count);
        }
        model_close(&m);
    } else if (!common.quiet) {
        size_t n;
        cnn_onnx_imported_tensors(imp, &n);
        fprintf(stderr, "cnnrun import: %s -> %s (%zu layers), %s (%zu tensors)\n",
                argv[optind], graph, cnn_onnx_imported_layer_count(imp), weights, n);
    }
done:
    cnn_onnx_imported_destroy(imp);
    cnn_context_destroy(ctx);
    return code;
}
