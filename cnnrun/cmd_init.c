/* SPDX-License-Identifier: MIT */
/* cnnrun init GRAPH --seed S --out W.safetensors */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "cnn/graph.h"
#include "cnn/params.h"
#include "commands.h"
#include "model.h"

static const char init_usage[] =
    "Usage: cnnrun init GRAPH --out W.safetensors [--seed S]\n"
    "Writes initial weights drawn by each layer's declared rule (He, Glorot\n"
    "or PyTorch's default), reproducible from the seed. A graph with a\n"
    "backbone takes the backbone's weights where it names them.\n\n"
    "  --out FILE        weights file to write (safetensors)\n"
    "  --seed S          random seed (default 0)\n";

enum { OPT_OUT = CLI_OPT_FIRST_COMMAND, OPT_SEED };

int cmd_init(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"out", required_argument, NULL, OPT_OUT},
        {"seed", required_argument, NULL, OPT_SEED},
        {0, 0, 0, 0}};
    cli_common common;
    const char *out = NULL;
    uint64_t seed = 0;
    int opt, code;
    cnn_context *ctx;
    model m;

    cli_common_init(&common, "init", init_usage);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (cli_common_option(&common, opt, optarg, &code)) {
            if (code != CLI_OK || common.help)
                return code;
            continue;
        }
        if (opt == OPT_OUT)
            out = optarg;
        else if (opt == OPT_SEED && !cli_parse_u64(optarg, &seed))
            return cli_usage_error(&common, "--seed wants a whole number >= 0, got '%s'", optarg);
    }
    if (optind + 1 != argc)
        return cli_usage_error(&common, "expected one GRAPH file");
    if (!out)
        return cli_usage_error(&common, "--out is required");
    ctx = cli_context(&common);
    if (!ctx)
        return CLI_FAIL;
    code = CLI_OK;
    if (model_open(ctx, argv[optind], NULL, seed, &m) != CNN_OK) {
        code = cli_fail(&common, ctx);
    } else {
        char seed_text[32];
        const char *meta[] = {"graph", cnn_graph_name(m.graph), "seed", seed_text,
                              "producer", "cnnrun init"};
        snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)seed);
        if (cli_make_parent_dirs(ctx, out) != CNN_OK ||
            cnn_params_save(ctx, m.params, out, meta, 3) != CNN_OK)
            code = cli_fail(&common, ctx);
        else if (!common.quiet)
            fprintf(stderr, "cnnrun init: wrote %zu tensors (%zu values) to %s\n",
                    cnn_params_count(m.params), cnn_params_numel(m.params), out);
    }
    model_close(&m);
    cnn_context_destroy(ctx);
    return code;
}
