/* SPDX-License-Identifier: MIT */
/* cnnrun export GRAPH --weights W.safetensors --out MODEL.onnx [--opset N] */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cnn_onnx.h"
#include "commands.h"
#include "model.h"

#define STR2(x) #x
#define STR(x) STR2(x)

static const char export_usage[] =
    "Usage: cnnrun export GRAPH --weights W.safetensors --out MODEL.onnx\n"
    "                     [--opset N]\n"
    "Writes the graph with its weights as an ONNX model: input \"input\"\n"
    "[N, C, H, W], output \"output\", the batch size N left free. The graph's\n"
    "mean/std are not part of the model (apply them to its input).\n\n"
    "  --weights FILE    weights (safetensors), every parameter required\n"
    "  --out FILE        the model to write\n"
    "  --opset N         ONNX opset, " STR(CNN_ONNX_EXPORT_MIN_OPSET) " to "
    STR(CNN_ONNX_EXPORT_MAX_OPSET) " (default " STR(CNN_ONNX_EXPORT_DEFAULT_OPSET) ")\n";

enum { OPT_WEIGHTS = CLI_OPT_FIRST_COMMAND, OPT_OUT, OPT_OPSET };

int cmd_export(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"weights", required_argument, NULL, OPT_WEIGHTS},
        {"out", required_argument, NULL, OPT_OUT},
        {"opset", required_argument, NULL, OPT_OPSET},
        {0, 0, 0, 0}};
    cli_common common;
    cnn_onnx_export_options opt = {0};
    const char *weights = NULL, *out = NULL;
    long long opset;
    int o, code = CLI_OK;
    cnn_context *ctx;
    model m;

    cli_common_init(&common, "export", export_usage);
    optind = 1;
    while ((o = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (cli_common_option(&common, o, optarg, &code)) {
            if (code != CLI_OK || common.help)
                return code;
            continue;
        }
        switch (o) {
        case OPT_WEIGHTS: weights = optarg; break;
        case OPT_OUT: out = optarg; break;
        case OPT_OPSET:
            if (!cli_parse_int(optarg, CNN_ONNX_EXPORT_MIN_OPSET, CNN_ONNX_EXPORT_MAX_OPSET, &opset))
                return cli_usage_error(&common, "--opset wants a whole number from %d to %d, got '%s'",
                                       CNN_ONNX_EXPORT_MIN_OPSET, CNN_ONNX_EXPORT_MAX_OPSET, optarg);
            opt.opset = (int)opset;
            break;
        default: return cli_usage_error(&common, "unknown option");
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error(&common, "expected one GRAPH file");
    if (!weights || !out)
        return cli_usage_error(&common, "--weights and --out are required");
    ctx = cli_context(&common);
    if (!ctx)
        return CLI_FAIL;
    if (model_open(ctx, argv[optind], weights, 0, &m) != CNN_OK) {
        code = cli_fail(&common, ctx);
    } else {
        if (cnn_onnx_export_file(ctx, m.graph, m.params, &opt, out) != CNN_OK)
            code = cli_fail(&common, ctx);
        else if (!common.quiet)
            fprintf(stderr, "cnnrun export: wrote %s (%zu layers, opset %d)\n", out,
                    cnn_graph_layer_count(m.graph),
                    opt.opset ? opt.opset : CNN_ONNX_EXPORT_DEFAULT_OPSET);
        model_close(&m);
    }
    cnn_context_destroy(ctx);
    return code;
}
