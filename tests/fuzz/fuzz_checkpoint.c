/* SPDX-License-Identifier: MIT */
/* Training checkpoints as `cnnrun train --resume` reads them: the host's
 * checkpoint_load (cnnrun/checkpoint.c, built into this harness) into the
 * parameters and SGD-with-momentum state of a small fixed graph (a
 * convolution, batch norm with its running statistics, a dense layer).
 * The expected graph hash is the graph's own and the settings hash a fixed
 * value, so seeds written for this graph get past the identity checks and
 * mutations reach the tensor loading behind them.
 *
 * FUZZ_CHECKPOINT_WRITE_SEED=PATH makes the harness write one valid
 * checkpoint of its graph to PATH and exit (tests/fuzz/make_seeds.py uses
 * it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cnn/graph.h"
#include "fuzz_util.h"
#include "model.h"

#define FUZZ_SETTINGS_HASH 0x5eedc0ffee123457ull

static const char graph_yaml[] =
    "name: fuzz_checkpoint\n"
    "input: [1, 5, 5]\n"
    "layers:\n"
    "  - {name: conv1, type: conv, filters: 2, kernel: 3}\n"
    "  - {name: bn1, type: batchnorm}\n"
    "  - {name: fc1, type: dense, units: 3}\n";

static cnn_graph *graph;
static cnn_params *params;
static cnn_optim *optim;
static uint64_t graph_hash;
/* The class names and settings text a training run stores; the reader
 * compares the settings with these. */
static const checkpoint_extra seed_extra = {"[\"cat\", \"dog\"]", "lr=0.1\nmomentum=0.9"};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_checkpoint: %s: %s\n", what,
            cnn_context_message(fuzz_context()));
    abort();
}

static checkpoint_position expected(void)
{
    checkpoint_position pos = {0};
    pos.graph_hash = graph_hash;
    pos.settings_hash = FUZZ_SETTINGS_HASH;
    return pos;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    cnn_context *ctx = fuzz_context();
    cnn_optim_config cfg = {0};
    const char *seed_path = getenv("FUZZ_CHECKPOINT_WRITE_SEED");
    (void)argc, (void)argv;
    cfg.kind = CNN_OPTIM_SGD;
    cfg.momentum = 0.9;
    if (cnn_graph_load_string(ctx, graph_yaml, strlen(graph_yaml),
                              "fuzz_checkpoint.yaml", &graph) != CNN_OK)
        die("graph");
    if (cnn_params_create(ctx, graph, &params) != CNN_OK)
        die("parameters");
    if (cnn_optim_create(ctx, params, &cfg, &optim) != CNN_OK)
        die("optimiser");
    graph_hash = checkpoint_graph_hash(graph);
    if (seed_path) {
        checkpoint_position pos = expected();
        char **classes = NULL;
        size_t n_classes = 0;
        pos.epoch = 1;
        pos.batch = 2;
        pos.step = 7;
        pos.seed = 42;
        cnn_params_init(params, 1);
        if (checkpoint_save(ctx, seed_path, params, optim, &pos, &seed_extra) != CNN_OK)
            die(seed_path);
        /* A seed that its own reader refuses would fuzz nothing. */
        pos = expected();
        if (checkpoint_load(ctx, seed_path, params, optim, &pos, &seed_extra, &classes,
                            &n_classes) != CNN_OK ||
            pos.step != 7 || n_classes != 2)
            die("the seed just written does not load");
        model_free_class_names(classes, n_classes);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[FUZZ_PATH_MAX];
    checkpoint_position pos = expected();
    char **classes = NULL;
    size_t n_classes = 0;
    fuzz_write_file(path, "last.safetensors", data, size);
    if (fuzz_ok(checkpoint_load(fuzz_context(), path, params, optim, &pos, &seed_extra,
                                &classes, &n_classes)))
        model_free_class_names(classes, n_classes);
    return 0;
}
