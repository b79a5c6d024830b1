/* SPDX-License-Identifier: MIT */
/* cnnrun train GRAPH --data SPEC --out W.safetensors [settings] */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "rename_option.h"
#include "commands.h"
#include "dist/comm.h"
#include "trainer.h"
#include "train_config.h"

static const char train_usage[] =
    "Usage: cnnrun train GRAPH --data SPEC --out W.safetensors [OPTIONS]\n"
    "Trains the graph with softmax cross-entropy. Every option may also be\n"
    "set in the graph's train: section (key with '_' for '-'); the command\n"
    "line wins.\n\n"
    "  --data SPEC          training data: fashion-mnist:train, idx:IMG,LBL,\n"
    "                       folder:DIR, pack:FILE (cnnrun pack); '@N' takes the\n"
    "                       first N, '[A:B]' a slice\n"
    "                       (folders: of a fixed stratified shuffle)\n"
    "  --val SPEC           validation data, evaluated after every epoch\n"
    "  --val-split F        hold out a stratified fraction F of --data instead\n"
    "  --allow-missing-classes  data may lack some of the model's classes\n"
    "  --epochs N           (default 1)\n"
    "  --batch B            (default 64)\n"
    "  --optimizer sgd|adam|adamw (default sgd)\n"
    "  --lr X               base learning rate (default 0.01 for sgd,\n"
    "                       0.001 for adam and adamw)\n"
    "  --momentum M         SGD momentum (default 0.9)\n"
    "  --nesterov           Nesterov momentum\n"
    "  --weight-decay W     L2 on weights (biases exempt); adamw: decoupled\n"
    "                       decay (default 0.01)\n"
    "  --label-smoothing E  cross-entropy against (1-E) one-hot + E/classes\n"
    "  --class-weights W    'balanced' or one weight per class, comma-separated\n"
    "  --schedule constant|step|cosine|plateau   (default constant)\n"
    "  --warmup E           linear warm-up over E epochs\n"
    "  --step-epochs E      step schedule period (default epochs/3)\n"
    "  --gamma G            step and plateau factor (default 0.1)\n"
    "  --plateau-patience N plateau: epochs without improvement of --monitor\n"
    "                       before the rate is multiplied by G (default 5)\n"
    "  --monitor M          val_loss, val_acc, loss or acc (default val_loss\n"
    "                       with validation data, else loss)\n"
    "  --early-stop N       stop when --monitor has not improved for N epochs\n"
    "  --seed S             initialisation, shuffling, augmentation, dropout\n"
    "  --flip               random horizontal flips\n"
    "  --crop-padding P     random crops of the image padded by P\n"
    "  --augment imagenet   RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3)\n"
    "                       and --flip at full resolution, then resize;\n"
    "                       validation: resize then centre crop (0.875)\n"
    "  --center-crop F      share of the covering image kept at validation\n"
    "  --loader-threads N   decoding threads for image folders and encoded\n"
    "                       packs (default:\n"
    "                       the cores left by --threads, 1 to 8)\n"
    "  --skip-bad-images    drop images that fail to decode, count them at\n"
    "                       the end of each epoch (default: stop, naming\n"
    "                       the file)\n"
    "  --drop-last          skip each epoch's final short batch (batch\n"
    "                       norm cannot train on a batch of one sample)\n"
    "  --sync-bn            under mpirun: batch norm's statistics over the\n"
    "                       whole batch, not each rank's share (same model\n"
    "                       as one process; docs/distributed.md)\n"
    "  --init W             start from these weights (by name; others keep\n"
    "                       their initialisation)\n"
    "  --rename FILE|FROM=TO  rename the tensors of --init and of the\n"
    "                       backbone's weights as they load: a rename file\n"
    "                       (graphs/renames/) or one rule; '*' once a side\n"
    "                       is a wildcard, FROM= drops (repeatable)\n"
    "  --out W              final weights (safetensors)\n"
    "  --checkpoint-dir D   write D/last.safetensors after every epoch, and\n"
    "                       D/best.safetensors when --monitor improves\n"
    "  --checkpoint-every N also every N steps\n"
    "  --resume FILE        continue exactly from a checkpoint\n"
    "  --log FILE           metrics as JSON lines\n"
    "  --log-every N        a metrics line every N steps (default 100)\n";

int cmd_train(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"data", required_argument, NULL, 'S'},
        {"val", required_argument, NULL, 'S'},
        {"epochs", required_argument, NULL, 'S'},
        {"batch", required_argument, NULL, 'S'},
        {"optimizer", required_argument, NULL, 'S'},
        {"lr", required_argument, NULL, 'S'},
        {"momentum", required_argument, NULL, 'S'},
        {"nesterov", no_argument, NULL, 'S'},
        {"weight-decay", required_argument, NULL, 'S'},
        {"schedule", required_argument, NULL, 'S'},
        {"warmup", required_argument, NULL, 'S'},
        {"step-epochs", required_argument, NULL, 'S'},
        {"gamma", required_argument, NULL, 'S'},
        {"seed", required_argument, NULL, 'S'},
        {"init", required_argument, NULL, 'S'},
        {"rename", required_argument, NULL, 'R'},
        {"out", required_argument, NULL, 'S'},
        {"checkpoint-dir", required_argument, NULL, 'S'},
        {"checkpoint-every", required_argument, NULL, 'S'},
        {"resume", required_argument, NULL, 'S'},
        {"log", required_argument, NULL, 'S'},
        {"log-every", required_argument, NULL, 'S'},
        {"flip", no_argument, NULL, 'S'},
        {"crop-padding", required_argument, NULL, 'S'},
        {"augment", required_argument, NULL, 'S'},
        {"center-crop", required_argument, NULL, 'S'},
        {"loader-threads", required_argument, NULL, 'S'},
        {"skip-bad-images", no_argument, NULL, 'S'},
        {"drop-last", no_argument, NULL, 'S'},
        {"sync-bn", no_argument, NULL, 'S'},
        {"val-split", required_argument, NULL, 'S'},
        {"allow-missing-classes", no_argument, NULL, 'S'},
        {"monitor", required_argument, NULL, 'S'},
        {"early-stop", required_argument, NULL, 'S'},
        {"plateau-patience", required_argument, NULL, 'S'},
        {"label-smoothing", required_argument, NULL, 'S'},
        {"class-weights", required_argument, NULL, 'S'},
        {0, 0, 0, 0}};
    enum { MAX_SET = 64 };
    char keys[MAX_SET][32];
    const char *values[MAX_SET];
    size_t n_set = 0;
    cli_common common;
    train_config cfg;
    rename_option renames = {0};
    cnn_rename_map *rename = NULL;
    cnn_graph *probe = NULL;
    cnn_context *ctx;
    int opt, index, code, failed;
    /* Under mpirun: one rank of a data-parallel job (docs/distributed.md);
     * from here on only rank 0 is heard. */
    dist_comm *comm = dist_open("train", &failed);

    if (failed)
        return CLI_FAIL;
    cli_common_init(&common, "train", train_usage);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, &index)) != -1) {
        if (cli_common_option(&common, opt, optarg, &code)) {
            if (code != CLI_OK || common.help)
                return code;
            continue;
        }
        if (opt == 'R' && !rename_option_add(&renames, optarg))
            return cli_usage_error(&common, "more than %d --rename options", RENAME_OPTION_MAX);
        if (opt != 'S' || n_set == MAX_SET)
            continue;
        /* --weight-decay sets the key weight_decay. */
        snprintf(keys[n_set], sizeof keys[n_set], "%s", options[index].name);
        for (char *p = keys[n_set]; *p; p++)
            if (*p == '-')
                *p = '_';
        values[n_set++] = options[index].has_arg ? optarg : "true";
    }
    if (optind + 1 != argc)
        return cli_usage_error(&common, "expected one GRAPH file");
    ctx = cli_context(&common);
    if (!ctx)
        return CLI_FAIL;
    train_config_defaults(&cfg);
    /* The graph's train: section first, then the flags over it. */
    if (cnn_graph_load(ctx, argv[optind], &probe) != CNN_OK) {
        code = cli_fail(&common, ctx);
        goto done;
    }
    code = CLI_FAIL;
    if (!train_config_from_graph(&cfg, probe))
        goto done;
    for (size_t i = 0; i < n_set; i++) {
        char origin[48];
        snprintf(origin, sizeof origin, "--%s", options[0].name ? keys[i] : "");
        for (char *p = origin; *p; p++)
            if (*p == '_')
                *p = '-';
        /* A bad value on the command line is bad usage (exit 2). */
        if (!train_config_set(&cfg, keys[i], values[i], origin)) {
            code = CLI_USAGE;
            goto done;
        }
    }
    if (!train_config_check(&cfg)) {
        code = CLI_USAGE;
        goto done;
    }
    if (rename_option_build(ctx, &renames, &rename) != CNN_OK) {
        code = cli_fail(&common, ctx);
        goto done;
    }
    cfg.rename = rename;
    code = trainer_run(ctx, argv[optind], &cfg, common.quiet, comm);
done:
    cnn_rename_map_destroy(rename);
    /* cfg may point into the probe graph's settings until here. */
    cnn_graph_destroy(probe);
    cnn_context_destroy(ctx);
    dist_close(comm);
    return code;
}
