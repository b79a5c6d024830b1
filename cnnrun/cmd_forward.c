/* SPDX-License-Identifier: MIT */
/* cnnrun forward GRAPH --weights W --input X.npy --output Y.npy [--until L] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cnn/exec.h"
#include "cnn/io.h"
#include "commands.h"
#include "model.h"
#include "rename_option.h"
#include "nonfinite.h"

static const char forward_usage[] =
    "Usage: cnnrun forward GRAPH --weights W.safetensors --input X.npy\n"
    "                      --output Y.npy [--until LAYER] [--batch B]\n"
    "Runs the float32 batch X [N, C, H, W] through the graph in inference\n"
    "mode and writes the output (or LAYER's output) as Y.\n\n"
    "  --weights FILE    weights (safetensors), every parameter required\n"
    RENAME_OPTION_HELP
    "  --input FILE      input tensor (.npy, float32, C order)\n"
    "  --output FILE     output tensor to write (.npy)\n"
    "  --until LAYER     stop after this layer and write its output\n"
    "  --batch B         images per pass (default 32)\n";

enum {
    OPT_WEIGHTS = CLI_OPT_FIRST_COMMAND,
    OPT_RENAME,
    OPT_INPUT,
    OPT_OUTPUT,
    OPT_UNTIL,
    OPT_BATCH
};

static cnn_status run(cnn_context *ctx, model *m, const cnn_tensor *x,
                      int32_t until, int64_t batch, cnn_tensor *y)
{
    cnn_exec *ex = NULL;
    cnn_exec_options opts = {batch, 0, until, 1}; /* weights stay */
    int64_t n = x->shape.dims[0];
    size_t per_in = cnn_shape_numel(&x->shape) / (size_t)(n ? n : 1);
    size_t per_out;
    cnn_status st;

    st = cnn_graph_output_shape(ctx, m->graph, (size_t)until, n, &y->shape);
    if (st != CNN_OK)
        return st;
    per_out = cnn_shape_numel(&y->shape) / (size_t)n;
    y->data = malloc(cnn_shape_numel(&y->shape) * sizeof(float) + 1);
    if (!y->data)
        return cnn_context_fail(ctx, CNN_ERR_NOMEM,
                                "out of memory for the output tensor");
    st = cnn_exec_create(ctx, m->graph, m->params, &opts, &ex);
    for (int64_t i = 0; st == CNN_OK && i < n; i += batch) {
        cnn_tensor chunk = *x;
        const cnn_tensor *out;
        chunk.shape.dims[0] = n - i < batch ? n - i : batch;
        chunk.data = x->data + (size_t)i * per_in;
        st = cnn_exec_forward(ex, &chunk, 0, 0, (size_t)until);
        if (st != CNN_OK)
            break;
        out = cnn_exec_output(ex, (size_t)until);
        memcpy(y->data + (size_t)i * per_out, out->data,
               (size_t)chunk.shape.dims[0] * per_out * sizeof(float));
    }
    cnn_exec_destroy(ex);
    return st;
}

/* The output is written either way (to be inspected), but values that are
 * not finite are never silent: a warning names the first image and the
 * first layer where they appear, and the exit status is 1. */
static int check_finite(cnn_context *ctx, model *m,
                        const cnn_tensor *x, const cnn_tensor *y, size_t layer,
                        const char *input)
{
    size_t n = (size_t)x->shape.dims[0];
    size_t per_in = cnn_shape_numel(&x->shape) / n, per_out = cnn_shape_numel(&y->shape) / n;
    nonfinite_count total = nonfinite_scan(y->data, cnn_shape_numel(&y->shape));
    char where[768];
    if (!total.nan && !total.inf)
        return CLI_OK;
    for (size_t i = 0; i < n; i++) {
        nonfinite_count row = nonfinite_scan(y->data + i * per_out, per_out);
        nonfinite_count in = nonfinite_scan(x->data + i * per_in, per_in);
        cnn_tensor one = *x;
        if (!row.nan && !row.inf)
            continue;
        if (in.nan || in.inf) {
            snprintf(where, sizeof where, "the input itself holds %zu NaN and %zu "
                     "infinite values", in.nan, in.inf);
        } else {
            one.shape.dims[0] = 1;
            one.data = x->data + i * per_in;
            nonfinite_locate(ctx, m->graph, m->params, &one, layer, where, sizeof where);
        }
        fprintf(stderr, "cnnrun forward: warning: the output holds %zu NaN and %zu "
                "infinite values; the first is in image %zu of %s: %s\n",
                total.nan, total.inf, i, input, where);
        break;
    }
    return CLI_FAIL;
}

int cmd_forward(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"weights", required_argument, NULL, OPT_WEIGHTS},
        {"rename", required_argument, NULL, OPT_RENAME},
        {"input", required_argument, NULL, OPT_INPUT},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"batch", required_argument, NULL, OPT_BATCH},
        {0, 0, 0, 0}};
    cli_common common;
    const char *weights = NULL, *input = NULL, *output = NULL, *until = NULL;
    long long batch = 32;
    int opt, code = CLI_OK;
    cnn_context *ctx;
    model m = {0};
    rename_option renames = {0};
    cnn_rename_map *rename = NULL;
    cnn_tensor x = {0}, y = {0};

    cli_common_init(&common, "forward", forward_usage);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (cli_common_option(&common, opt, optarg, &code)) {
            if (code != CLI_OK || common.help)
                return code;
            continue;
        }
        switch (opt) {
        case OPT_WEIGHTS: weights = optarg; break;
        case OPT_RENAME:
            if (!rename_option_add(&renames, optarg))
                return cli_usage_error(&common, "more than %d --rename options", RENAME_OPTION_MAX);
            break;
        case OPT_INPUT: input = optarg; break;
        case OPT_OUTPUT: output = optarg; break;
        case OPT_UNTIL: until = optarg; break;
        case OPT_BATCH:
            if (!cli_parse_int(optarg, 1, 65536, &batch))
                return cli_usage_error(&common, "--batch wants a whole number from 1 to 65536, got '%s'", optarg);
            break;
        default: break;
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error(&common, "expected one GRAPH file");
    if (!weights || !input || !output)
        return cli_usage_error(&common, "--weights, --input and --output are required");
    ctx = cli_context(&common);
    if (!ctx)
        return CLI_FAIL;
    if ((rename_option_build(ctx, &renames, &rename) != CNN_OK ||
         model_open_renamed(ctx, argv[optind], weights, 0, rename, &m) != CNN_OK) ||
        cnn_npy_read(ctx, input, &x) != CNN_OK) {
        code = cli_fail(&common, ctx);
        goto done;
    }
    {
        int32_t layer = (int32_t)cnn_graph_output_layer(m.graph);
        if (until) {
            layer = cnn_graph_find_layer(m.graph, until);
            if (layer < 0) {
                code = cli_failf(&common, "%s: no layer named '%s'", argv[optind], until);
                goto done;
            }
        }
        if (x.shape.rank != 4 || x.shape.dims[0] < 1) {
            code = cli_failf(&common, "%s: input must be a 4-D [N, C, H, W] array with N >= 1", input);
            goto done;
        }
        if (run(ctx, &m, &x, layer, batch, &y) != CNN_OK ||
            cli_make_parent_dirs(ctx, output) != CNN_OK ||
            cnn_npy_write(ctx, output, &y) != CNN_OK)
            code = cli_fail(&common, ctx);
        else
            code = check_finite(ctx, &m, &x, &y, (size_t)layer, input);
    }
done:
    free(x.data);
    free(y.data);
    cnn_rename_map_destroy(rename);
    model_close(&m);
    cnn_context_destroy(ctx);
    return code;
}
