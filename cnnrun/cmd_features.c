/* SPDX-License-Identifier: MIT */
/* cnnrun features GRAPH --weights W --layer NAME --data SPEC --out F.npy:
 * one row per sample of a layer's output, for classical classifiers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "data_options.h"
#include "cnn/atomic_file.h"
#include "cnn/data.h"
#include "cnn/exec.h"
#include "cnn/io.h"
#include "commands.h"
#include "dist/dist_eval.h"
#include "linear_classes.h"
#include "model.h"
#include "rename_option.h"

static const char features_usage[] =
    "Usage: cnnrun features GRAPH --weights W --layer NAME --data SPEC\n"
    "                       --out F.npy [--labels L.npy] [--libsvm F.txt]\n"
    "Writes LAYER's output for every sample as one row of F [N, D]\n"
    "(float32), and the samples' labels as L (int32; default: F with\n"
    "'.labels.npy' for '.npy'), with the class names beside them as\n"
    "L.classes.json (for `cnnrun linear`). --libsvm also writes LIBSVM text\n"
    "('label index:value ...', indices from 1, zeros left out).\n\n"
    "  --weights FILE    weights (safetensors)\n"
    RENAME_OPTION_HELP
    "  --layer NAME      the layer whose output are the features\n"
    "  --data SPEC       dataset (see cnnrun train --help)\n"
    "  --out FILE        features (.npy)\n"
    "  --labels FILE     labels (.npy, int32)\n"
    "  --libsvm FILE     features and labels as LIBSVM text\n"
    "  --batch B         images per pass (default 100)\n"
    DATA_HELP;

enum {
    OPT_WEIGHTS = CLI_OPT_FIRST_COMMAND,
    OPT_RENAME,
    OPT_LAYER,
    OPT_DATA,
    OPT_OUT,
    OPT_LABELS,
    OPT_LIBSVM,
    OPT_BATCH
};

/* Runs batches first_batch .. first_batch + n_batches - 1 of the dataset
 * through layers 0..layer and copies that layer's output into rows; labels
 * from the dataset. */
static cnn_status extract(cnn_context *ctx, model *m, int32_t layer,
                          const cnn_dataset *ds, size_t batch, size_t first_batch,
                          size_t n_batches, float *rows, size_t width,
                          int32_t *labels)
{
    cnn_exec *ex = NULL;
    cnn_loader *loader = NULL;
    cnn_loader_options lo;
    cnn_exec_options eo = {(int64_t)batch, 0, layer, 1}; /* weights stay */
    size_t done = 0;
    cnn_status st;

    cnn_loader_options_init(&lo);
    lo.batch = batch;
    lo.mean = cnn_graph_input_mean(m->graph);
    lo.std = cnn_graph_input_std(m->graph);
    data_options_apply(&lo, ds, cnn_context_threads(ctx));
    st = cnn_loader_create(ctx, ds, &lo, &loader);
    if (st == CNN_OK)
        st = cnn_exec_create(ctx, m->graph, m->params, &eo, &ex);
    if (st == CNN_OK)
        st = cnn_loader_set_position(loader, 0, first_batch);
    for (size_t b = 0; st == CNN_OK && b < n_batches; b++) {
        cnn_tensor images;
        const int32_t *batch_labels;
        size_t n;
        const cnn_tensor *out;
        st = cnn_loader_next(loader, &images, &batch_labels, &n);
        if (st != CNN_OK || n == 0)
            break;
        st = cnn_exec_forward(ex, &images, 0, 0, (size_t)layer);
        if (st != CNN_OK)
            break;
        out = cnn_exec_output(ex, (size_t)layer);
        memcpy(rows + done * width, out->data, n * width * sizeof(float));
        memcpy(labels + done, batch_labels, n * sizeof *labels);
        done += n;
    }
    cnn_exec_destroy(ex);
    cnn_loader_destroy(loader);
    return st;
}

static int write_libsvm(const cli_common *common, cnn_context *ctx,
                        const char *path, const float *rows, size_t n,
                        size_t width, const int32_t *labels)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    int ok;
    if (!f)
        return cli_failf(common, "out of memory for the LIBSVM text");
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%d", labels[i]);
        for (size_t j = 0; j < width; j++)
            if (rows[i * width + j] != 0.0f)
                fprintf(f, " %zu:%.8g", j + 1, (double)rows[i * width + j]);
        fputc('\n', f);
    }
    ok = fclose(f) == 0;
    if (!ok) {
        free(text);
        return cli_failf(common, "out of memory for the LIBSVM text");
    }
    /* Temporary name, fsync, rename: a crash never leaves half a file. */
    ok = cnn_atomic_file_write_all(ctx, path, text, size) == CNN_OK;
    free(text);
    return ok ? CLI_OK : cli_fail(common, ctx);
}

/* The dataset's class names beside the labels (L.classes.json), so that
 * `cnnrun linear` stores them with the model it trains. */
static int write_class_names(const cli_common *common, cnn_context *ctx,
                             const cnn_dataset *ds, const char *labels_path)
{
    size_t n = cnn_dataset_class_count(ds);
    const char **names = malloc((n ? n : 1) * sizeof *names);
    char *path = linear_classes_path(labels_path);
    int code = CLI_OK;
    if (!names || !path)
        code = cli_failf(common, "out of memory");
    for (size_t i = 0; code == CLI_OK && i < n; i++)
        names[i] = cnn_dataset_class_name(ds, i);
    if (code == CLI_OK && n > 0 &&
        linear_classes_write(ctx, path, names, n) != CNN_OK)
        code = cli_fail(common, ctx);
    free(names);
    free(path);
    return code;
}

int cmd_features(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        DATA_OPTIONS,
        {"weights", required_argument, NULL, OPT_WEIGHTS},
        {"rename", required_argument, NULL, OPT_RENAME},
        {"layer", required_argument, NULL, OPT_LAYER},
        {"data", required_argument, NULL, OPT_DATA},
        {"out", required_argument, NULL, OPT_OUT},
        {"labels", required_argument, NULL, OPT_LABELS},
        {"libsvm", required_argument, NULL, OPT_LIBSVM},
        {"batch", required_argument, NULL, OPT_BATCH},
        {0, 0, 0, 0}};
    cli_common common;
    const char *weights = NULL, *layer_name = NULL, *data = NULL, *out = NULL;
    const char *labels_path = NULL, *libsvm = NULL;
    char labels_default[4096];
    long long batch = 100;
    int opt, code = CLI_OK;
    cnn_context *ctx;
    model m = {0};
    rename_option renames = {0};
    cnn_rename_map *rename = NULL;
    cnn_dataset *ds = NULL;
    float *rows = NULL;
    int32_t *labels = NULL;
    int failed;
    /* Under mpirun each rank extracts a run of whole batches and rank 0
     * writes the rows of all, in dataset order. */
    dist_comm *comm = dist_open("features", &failed);

    if (failed)
        return CLI_FAIL;
    cli_common_init(&common, "features", features_usage);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (cli_common_option(&common, opt, optarg, &code)) {
            if (code != CLI_OK || common.help)
                return code;
            continue;
        }
        if (data_options_parse(opt, optarg, common.command, &code)) {
            if (code)
                return CLI_USAGE;
            continue;
        }
        switch (opt) {
        case OPT_WEIGHTS: weights = optarg; break;
        case OPT_RENAME:
            if (!rename_option_add(&renames, optarg))
                return cli_usage_error(&common, "more than %d --rename options", RENAME_OPTION_MAX);
            break;
        case OPT_LAYER: layer_name = optarg; break;
        case OPT_DATA: data = optarg; break;
        case OPT_OUT: out = optarg; break;
        case OPT_LABELS: labels_path = optarg; break;
        case OPT_LIBSVM: libsvm = optarg; break;
        case OPT_BATCH:
            if (!cli_parse_int(optarg, 1, 65536, &batch))
                return cli_usage_error(&common, "--batch wants a whole number from 1 to 65536, got '%s'", optarg);
            break;
        default: break;
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error(&common, "expected one GRAPH file");
    if (!weights || !layer_name || !data || !out)
        return cli_usage_error(&common, "--weights, --layer, --data and --out are required");
    if (!labels_path) {
        size_t len = strlen(out);
        if (len > 4 && strcmp(out + len - 4, ".npy") == 0)
            snprintf(labels_default, sizeof labels_default, "%.*s.labels.npy", (int)(len - 4), out);
        else
            snprintf(labels_default, sizeof labels_default, "%s.labels.npy", out);
        labels_path = labels_default;
    }
    ctx = cli_context(&common);
    if (!ctx)
        return CLI_FAIL;
    if ((rename_option_build(ctx, &renames, &rename) != CNN_OK ||
         model_open_renamed(ctx, argv[optind], weights, 0, rename, &m) != CNN_OK))
        code = cli_fail(&common, ctx);
    if (dist_agree(comm, "features", code, code ? cnn_context_message(ctx) : NULL) != CLI_OK) {
        code = CLI_FAIL;
        goto done;
    }
    {
        int32_t layer = cnn_graph_find_layer(m.graph, layer_name);
        cnn_shape in = cnn_graph_input_shape(m.graph);
        cnn_layer_info info;
        size_t n, width, first, mine, *counts = NULL;
        cnn_tensor ft;
        if (layer < 0) {
            code = cli_failf(&common, "%s: no layer named '%s'", argv[optind], layer_name);
            goto done;
        }
        if (cnn_dataset_open(ctx, data, &in, &ds) != CNN_OK)
            code = cli_fail(&common, ctx);
        if (dist_agree(comm, "features", code, code ? cnn_context_message(ctx) : NULL) != CLI_OK) {
            code = CLI_FAIL;
            goto done;
        }
        cnn_graph_layer_info(m.graph, (size_t)layer, &info);
        n = cnn_dataset_size(ds);
        width = cnn_shape_numel(&info.output_shape);
        rows = malloc(n * width * sizeof *rows + 1);
        labels = malloc(n * sizeof *labels + 1);
        if (!rows || !labels) {
            code = cli_failf(&common, "out of memory for %zu x %zu features", n, width);
            goto done;
        }
        {
            size_t n_batches = classifier_batch_count(ds, (size_t)batch);
            cnn_status st;
            mine = dist_batch_range(comm, n_batches, &first);
            /* This rank's rows go after those of the ranks before it. */
            st = extract(ctx, &m, layer, ds, (size_t)batch, first, mine,
                         rows + first * (size_t)batch * width, width,
                         labels + first * (size_t)batch);
            if (dist_any_failed(comm, ctx, "features", st)) {
                code = cli_fail(&common, ctx);
                goto done;
            }
        }
        if (dist_active(comm)) {
            /* Every rank knows every rank's rows: whole batches, in order. */
            counts = calloc((size_t)comm->size, sizeof *counts);
            if (!counts) {
                dist_say(comm, "features", "out of memory");
                comm->abort(comm, CLI_FAIL);
            }
            for (int r = 0; r < comm->size; r++) {
                size_t r_first;
                counts[r] = dist_item_range(r, comm->size, n, (size_t)batch, &r_first);
            }
            comm->gather(comm, rows + first * (size_t)batch * width, counts,
                         width * sizeof *rows, rows);
            comm->gather(comm, labels + first * (size_t)batch, counts, sizeof *labels, labels);
            free(counts);
            if (comm->rank != 0)
                goto done; /* rank 0 writes */
        }
        ft.shape = cnn_shape2((int64_t)n, (int64_t)width);
        ft.data = rows;
        if (cli_make_parent_dirs(ctx, out) != CNN_OK ||
            cli_make_parent_dirs(ctx, labels_path) != CNN_OK ||
            (libsvm && cli_make_parent_dirs(ctx, libsvm) != CNN_OK) ||
            cnn_npy_write(ctx, out, &ft) != CNN_OK ||
            cnn_npy_write_i32(ctx, labels_path, labels, n) != CNN_OK) {
            code = cli_fail(&common, ctx);
            goto done;
        }
        if ((code = write_class_names(&common, ctx, ds, labels_path)) != CLI_OK)
            goto done;
        if (libsvm && (code = write_libsvm(&common, ctx, libsvm, rows, n, width, labels)) != CLI_OK)
            goto done;
        if (!common.quiet)
            fprintf(stderr, "cnnrun features: %zu samples x %zu features of layer '%s' -> %s, labels -> %s%s%s\n",
                    n, width, layer_name, out, labels_path, libsvm ? ", LIBSVM -> " : "",
                    libsvm ? libsvm : "");
    }
done:
    free(rows);
    free(labels);
    cnn_dataset_destroy(ds);
    cnn_rename_map_destroy(rename);
    model_close(&m);
    cnn_context_destroy(ctx);
    dist_close(comm);
    return code;
}
