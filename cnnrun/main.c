/* SPDX-License-Identifier: MIT */
/* cnnrun: summarize, run, train, evaluate and benchmark graph files. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cnn/context.h"
#include "cnn/layer.h"
#include "commands.h"
#include "fatal_signal.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

static const command commands[] = {
    {"summary", cmd_summary, "per-layer shapes, parameters and FLOPs"},
    {"init", cmd_init, "write initial weights, reproducible from a seed"},
    {"forward", cmd_forward, "run a batch through a graph (.npy in and out)"},
    {"train", cmd_train, "train on a dataset, with checkpoints and logs"},
    {"eval", cmd_eval, "loss, accuracy, per-class scores, confusion matrix"},
    {"predict", cmd_predict, "the most probable classes of image files"},
    {"features", cmd_features, "write a layer's outputs as feature rows"},
    {"linear", cmd_linear, "train or evaluate LIBLINEAR on feature rows"},
    {"plot", cmd_plot, "draw loss and accuracy curves from a metrics log"},
    {"plugins", cmd_plugins, "list the layer plugins found, or describe one"},
    {"pack", cmd_pack, "write a dataset as one packed, checksummed file"},
    {"bench", cmd_bench, "per-layer time, GFLOP/s, images/s and memory"},
    {"check-plugin", cmd_check_plugin, "check a layer plugin: ABI, memory, gradients"},
#ifdef CNNRUN_HAVE_ONNX
    {"import", cmd_import, "an ONNX model to a graph file and weights"},
    {"export", cmd_export, "a graph and its weights to an ONNX model"},
#endif
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: cnnrun COMMAND [OPTIONS] ...\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\nRun 'cnnrun COMMAND --help' for a command's options.\n"
                 "Exit status: 0 success, 1 bad input or failure, 2 bad "
                 "usage.\n");
}

/* Results go to stdout (summaries, --json, predictions): a write that
 * failed there (a full disk, a closed pipe's EIO) must not exit 0 with a
 * truncated result. stdio may hold the error until the final flush, so it
 * is checked here, once, for every command. */
static int finish_stdout(const char *command, int code)
{
    int failed = fflush(stdout) != 0 || ferror(stdout);
    int err = failed ? errno : 0;
    if (fclose(stdout) != 0 && !failed) {
        failed = 1;
        err = errno;
    }
    if (!failed)
        return code;
    fprintf(stderr, "cnnrun %s: error: cannot write the output: %s\n", command,
            err ? strerror(err) : "write error");
    return code == CLI_OK ? CLI_FAIL : code;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return finish_stdout("help", CLI_OK);
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("cnnrun %s (layer ABI %u.%u)\n", cnn_version(),
               CNN_LAYER_ABI_MAJOR_OF(CNN_LAYER_ABI_VERSION),
               CNN_LAYER_ABI_MINOR_OF(CNN_LAYER_ABI_VERSION));
        return finish_stdout("--version", CLI_OK);
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            /* A plugin that crashes is named, with its layer and hook,
             * before the process dies of the signal. */
            fatal_signal_install_host(commands[i].name);
            return finish_stdout(commands[i].name,
                                 commands[i].run(argc - 1, argv + 1));
        }
    fprintf(stderr, "cnnrun: error: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
