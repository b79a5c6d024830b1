/* SPDX-License-Identifier: MIT */
/* cnnrun eval GRAPH --weights W --data SPEC [--json] */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "class_match.h"
#include "classifier.h"
#include "cli.h"
#include "data_options.h"
#include "commands.h"
#include "dist/dist_eval.h"
#include "model.h"
#include "rename_option.h"

static const char eval_usage[] =
    "Usage: cnnrun eval GRAPH --weights W.safetensors --data SPEC [--json]\n"
    "Loss, top-1 and top-5 accuracy (top-5 from 6 classes up), per-class\n"
    "precision, recall and F1, and the confusion matrix (rows: true class,\n"
    "columns: predicted). The data's classes are matched to the model's by\n"
    "name (the graph's input classes, else those stored with the weights);\n"
    "a class the model does not know is an error.\n\n"
    "  --weights FILE    trained weights, or a training checkpoint\n"
    RENAME_OPTION_HELP
    "  --data SPEC       dataset (see cnnrun train --help)\n"
    "  --batch B         images per pass (default 100)\n"
    "  --allow-missing-classes  accept data that lacks some of the model's\n"
    "                    classes (they get no support)\n"
    "  --json            one JSON object\n"
    DATA_HELP;

enum {
    OPT_WEIGHTS = CLI_OPT_FIRST_COMMAND,
    OPT_RENAME,
    OPT_DATA,
    OPT_BATCH,
    OPT_JSON,
    OPT_ALLOW_MISSING
};

typedef struct class_stats {
    double precision, recall, f1;
    int64_t support;
} class_stats;

static class_stats stats_of(const eval_result *r, int64_t c)
{
    class_stats s = {0, 0, 0, 0};
    int64_t tp = r->confusion[c * r->classes + c], predicted = 0;
    for (int64_t k = 0; k < r->classes; k++) {
        s.support += r->confusion[c * r->classes + k];
        predicted += r->confusion[k * r->classes + c];
    }
    s.precision = predicted ? (double)tp / (double)predicted : 0.0;
    s.recall = s.support ? (double)tp / (double)s.support : 0.0;
    s.f1 = s.precision + s.recall > 0
               ? 2 * s.precision * s.recall / (s.precision + s.recall)
               : 0.0;
    return s;
}

static const char *class_name(const cnn_dataset *ds, int64_t c, char *buf, size_t size)
{
    const char *name = cnn_dataset_class_name(ds, (size_t)c);
    if (name)
        return name;
    snprintf(buf, size, "%lld", (long long)c);
    return buf;
}

static void print_text(const eval_result *r, const cnn_dataset *ds)
{
    char buf[32];
    printf("Images: %zu\nLoss: %.4f\nTop-1 accuracy: %.2f%%\n", r->count, r->loss,
           100 * r->top1);
    /* With 5 classes or fewer every label is in the top 5. */
    if (r->classes > 5)
        printf("Top-5 accuracy: %.2f%%\n", 100 * r->top5);
    putchar('\n');
    printf("%-16s %9s %9s %9s %8s\n", "Class", "Precision", "Recall", "F1", "Support");
    for (int64_t c = 0; c < r->classes; c++) {
        class_stats s = stats_of(r, c);
        printf("%-16.16s %9.4f %9.4f %9.4f %8lld\n", class_name(ds, c, buf, sizeof buf),
               s.precision, s.recall, s.f1, (long long)s.support);
    }
    printf("\nConfusion matrix (rows: true, columns: predicted)\n%-16s", "");
    for (int64_t c = 0; c < r->classes; c++)
        printf(" %6lld", (long long)c);
    putchar('\n');
    for (int64_t t = 0; t < r->classes; t++) {
        printf("%2lld %-13.13s", (long long)t, class_name(ds, t, buf, sizeof buf));
        for (int64_t p = 0; p < r->classes; p++)
            printf(" %6lld", (long long)r->confusion[t * r->classes + p]);
        putchar('\n');
    }
}

static int print_json(const eval_result *r, const cnn_dataset *ds)
{
    json_t *o = json_object(), *conf = json_array(), *classes = json_array();
    char buf[32], *text;
    json_object_set_new(o, "count", json_integer((json_int_t)r->count));
    json_object_set_new(o, "loss", json_real(r->loss));
    json_object_set_new(o, "top1", json_real(r->top1));
    if (r->classes > 5)
        json_object_set_new(o, "top5", json_real(r->top5));
    for (int64_t t = 0; t < r->classes; t++) {
        json_t *row = json_array(), *c = json_object();
        class_stats s = stats_of(r, t);
        for (int64_t p = 0; p < r->classes; p++)
            json_array_append_new(row, json_integer(r->confusion[t * r->classes + p]));
        json_array_append_new(conf, row);
        json_object_set_new(c, "name", json_string(class_name(ds, t, buf, sizeof buf)));
        json_object_set_new(c, "precision", json_real(s.precision));
        json_object_set_new(c, "recall", json_real(s.recall));
        json_object_set_new(c, "f1", json_real(s.f1));
        json_object_set_new(c, "support", json_integer(s.support));
        json_array_append_new(classes, c);
    }
    json_object_set_new(o, "classes", classes);
    json_object_set_new(o, "confusion", conf);
    text = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
    json_decref(o);
    if (!text)
        return 0;
    puts(text);
    free(text);
    return 1;
}

int cmd_eval(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        DATA_OPTIONS,
        {"weights", required_argument, NULL, OPT_WEIGHTS},
        {"rename", required_argument, NULL, OPT_RENAME},
        {"data", required_argument, NULL, OPT_DATA},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"json", no_argument, NULL, OPT_JSON},
        {"allow-missing-classes", no_argument, NULL, OPT_ALLOW_MISSING},
        {0, 0, 0, 0}};
    cli_common common;
    const char *weights = NULL, *data = NULL;
    long long batch = 100;
    int json = 0, allow_missing = 0, opt, code = CLI_OK;
    cnn_context *ctx;
    model m = {0};
    rename_option renames = {0};
    cnn_rename_map *rename = NULL;
    classifier_head head;
    cnn_dataset *ds = NULL;
    eval_result r = {0};
    int failed;
    /* Under mpirun each rank evaluates a run of whole batches (same result
     * as one process); only rank 0 is heard. */
    dist_comm *comm = dist_open("eval", &failed);

    if (failed)
        return CLI_FAIL;
    cli_common_init(&common, "eval", eval_usage);
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
        if (opt == OPT_WEIGHTS)
            weights = optarg;
        else if (opt == OPT_RENAME && !rename_option_add(&renames, optarg))
            return cli_usage_error(&common, "more than %d --rename options", RENAME_OPTION_MAX);
        else if (opt == OPT_DATA)
            data = optarg;
        else if (opt == OPT_JSON)
            json = 1;
        else if (opt == OPT_ALLOW_MISSING)
            allow_missing = 1;
        else if (opt == OPT_BATCH && !cli_parse_int(optarg, 1, 65536, &batch))
            return cli_usage_error(&common, "--batch wants a whole number from 1 to 65536, got '%s'", optarg);
    }
    if (optind + 1 != argc)
        return cli_usage_error(&common, "expected one GRAPH file");
    if (!weights || !data)
        return cli_usage_error(&common, "--weights and --data are required");
    ctx = cli_context(&common);
    if (!ctx)
        return CLI_FAIL;
    {
        cnn_shape in;
        class_names names = {0};
        if ((rename_option_build(ctx, &renames, &rename) != CNN_OK ||
         model_open_renamed(ctx, argv[optind], weights, 0, rename, &m) != CNN_OK) ||
            classifier_head_find(ctx, m.graph, &head) != CNN_OK ||
            (in = cnn_graph_input_shape(m.graph),
             cnn_dataset_open(ctx, data, &in, &ds)) != CNN_OK ||
            (model_class_view(&m, &names),
             class_match_dataset(ctx, &head, m.graph, &names, ds, allow_missing)) != CNN_OK)
            code = cli_fail(&common, ctx);
        code = dist_agree(comm, "eval", code, code ? cnn_context_message(ctx) : NULL);
        if (code != CLI_OK) {
            /* said above */
        } else if (dist_evaluate(comm, ctx, m.graph, m.params, &head, ds, (size_t)batch,
                                 &r) != CNN_OK) {
            code = cli_fail(&common, ctx);
        } else if (comm && comm->rank != 0) {
            /* rank 0 reports */
        } else if (json) {
            if (!print_json(&r, ds))
                code = cli_failf(&common, "out of memory");
        } else {
            print_text(&r, ds);
        }
    }
    eval_result_free(&r);
    cnn_dataset_destroy(ds);
    cnn_rename_map_destroy(rename);
    model_close(&m);
    cnn_context_destroy(ctx);
    dist_close(comm);
    return code;
}
