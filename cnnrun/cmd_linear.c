/* SPDX-License-Identifier: MIT */
/* cnnrun linear train|eval|predict: a LIBLINEAR classifier on features
 * written by `cnnrun features`, the classical half of transfer learning.
 * Models are our own validated safetensors files (linear_model.h);
 * LIBLINEAR only trains, in memory (linear_fit.h). */
#include <jansson.h>
#include <linear.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cnn/io.h"
#include "commands.h"
#include "linear_classes.h"
#include "linear_fit.h"
#include "linear_model.h"

static const char linear_usage[] =
    "Usage: cnnrun linear train FEATURES.npy --labels L.npy --out M.safetensors\n"
    "                           [--classes NAMES.json] [--C C] [--solver NAME]\n"
    "                           [--bias B] [--no-normalize]\n"
    "       cnnrun linear eval M.safetensors FEATURES.npy --labels L.npy\n"
    "                          [--classes NAMES.json] [--json]\n"
    "       cnnrun linear predict M.safetensors FEATURES.npy [--top K] [--json]\n"
    "Trains, evaluates or applies a linear classifier (LIBLINEAR) on feature\n"
    "rows from `cnnrun features`. Rows are scaled to unit L2 norm unless\n"
    "--no-normalize, the same way whenever the model is used.\n"
    "The model is a safetensors file: weight [classes, features], bias, and\n"
    "the class names, feature width and solver settings (docs/linear-models.md).\n"
    "Data of another width than the model's is refused. Class names come\n"
    "from --classes, else from L.classes.json beside L.npy (which `cnnrun\n"
    "features` writes), else the labels' numbers; eval maps the data's\n"
    "classes to the model's by name. predict prints, per row, the row index\n"
    "and the top classes with their scores, tab-separated.\n\n"
    "  --labels FILE     labels (.npy, whole numbers from 0)\n"
    "  --classes FILE    class names: a JSON array, label i naming class i\n"
    "  --out FILE        the model to write (.safetensors)\n"
    "  --C C             inverse regularisation strength (default 1)\n"
    "  --solver NAME     l2r_lr (default), l2r_l2loss_svc_dual, l2r_l2loss_svc,\n"
    "                    l2r_l1loss_svc_dual, mcsvm_cs, l1r_l2loss_svc, l1r_lr,\n"
    "                    l2r_lr_dual\n"
    "  --bias B          learn a bias term on a constant feature B (LIBLINEAR's\n"
    "                    -B; default: no bias term)\n"
    "  --no-normalize    use the rows as they are\n"
    "  --top K           predict: classes shown per row (default 1)\n"
    "  --json            eval: accuracy and confusion; predict: the rows\n";

enum {
    OPT_LABELS = CLI_OPT_FIRST_COMMAND,
    OPT_CLASSES,
    OPT_OUT,
    OPT_C,
    OPT_SOLVER,
    OPT_BIAS,
    OPT_NO_NORMALIZE,
    OPT_TOP,
    OPT_JSON
};

/* The text confusion matrix stops being readable, and the JSON one being
 * small, past these. */
#define TEXT_CONFUSION_MAX 32
#define JSON_CONFUSION_MAX 1024

typedef struct linear_args {
    const char *labels;
    const char *classes;
    const char *out;
    linear_fit_options fit;
    long long top;
    int json;
} linear_args;

/* Feature rows [N, D], every value finite. */
static int load_features(const cli_common *common, cnn_context *ctx,
                         const char *path, cnn_tensor *f)
{
    size_t n, width;
    memset(f, 0, sizeof *f);
    if (cnn_npy_read(ctx, path, f) != CNN_OK)
        return cli_fail(common, ctx);
    if (f->shape.rank != 2 || f->shape.dims[0] < 1 || f->shape.dims[1] < 1)
        return cli_failf(common, "%s: features must be a 2-D [N, D] array with N, D >= 1",
                         path);
    n = (size_t)f->shape.dims[0];
    width = (size_t)f->shape.dims[1];
    for (size_t i = 0; i < n * width; i++)
        if (!isfinite(f->data[i]))
            return cli_failf(common, "%s: row %zu, column %zu is %g", path,
                             i / width, i % width, (double)f->data[i]);
    return CLI_OK;
}

/* n labels, whole numbers in [0, limit); what the limit means goes into the
 * message. */
static int load_labels(const cli_common *common, cnn_context *ctx,
                       const char *path, size_t n, size_t limit,
                       const char *limit_why, int32_t **out)
{
    cnn_tensor l = {0};
    int code = CLI_OK;
    *out = NULL;
    if (cnn_npy_read(ctx, path, &l) != CNN_OK)
        return cli_fail(common, ctx);
    if (cnn_shape_numel(&l.shape) != n) {
        code = cli_failf(common, "%s has %zu labels but the features have %zu rows",
                         path, cnn_shape_numel(&l.shape), n);
        goto done;
    }
    *out = malloc(n * sizeof **out + 1);
    if (!*out) {
        code = cli_failf(common, "out of memory for %zu labels", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        float v = l.data[i];
        /* Compared as floats before any conversion: a label of 2^31 must
         * be refused, not wrapped. */
        if (!(v >= 0.0f) || v != floorf(v) || v >= (float)limit) {
            code = cli_failf(common,
                             "%s: label %g (row %zu) is not a whole number from 0 "
                             "to %zu (%s)",
                             path, (double)v, i, limit - 1, limit_why);
            goto done;
        }
        (*out)[i] = (int32_t)v;
    }
done:
    if (code != CLI_OK) {
        free(*out);
        *out = NULL;
    }
    free(l.data);
    return code;
}

/* Class names of the labels: --classes, else the file beside the labels;
 * *names is NULL when neither exists. */
static int load_names(const cli_common *common, cnn_context *ctx,
                      const linear_args *a, char ***names, size_t *n,
                      const char **source)
{
    char *beside = NULL;
    int found = 0;
    cnn_status st;
    if (a->classes) {
        *source = a->classes;
        st = linear_classes_read(ctx, a->classes, 0, names, n, &found);
    } else {
        beside = linear_classes_path(a->labels);
        if (!beside)
            return cli_failf(common, "out of memory");
        *source = NULL;
        st = linear_classes_read(ctx, beside, 1, names, n, &found);
        free(beside);
    }
    if (st != CNN_OK)
        return cli_fail(common, ctx);
    if (found && *n == 0)
        return cli_failf(common, "the class names file for %s is empty", a->labels);
    return CLI_OK;
}

static int linear_train(const cli_common *common, cnn_context *ctx,
                        const char *fpath, const linear_args *a)
{
    cnn_tensor f;
    int32_t *labels = NULL;
    char **names = NULL;
    size_t n_names = 0, n, width;
    const char *source;
    linear_model m = {0};
    int code;

    if ((code = load_features(common, ctx, fpath, &f)) != CLI_OK)
        goto done;
    n = (size_t)f.shape.dims[0];
    width = (size_t)f.shape.dims[1];
    if ((code = load_names(common, ctx, a, &names, &n_names, &source)) != CLI_OK)
        goto done;
    code = load_labels(common, ctx, a->labels, n, names ? n_names : LINEAR_MAX_CLASSES,
                       names ? "the number of class names" : "the class limit",
                       &labels);
    if (code != CLI_OK)
        goto done;
    if (!names) {
        /* No names anywhere: the labels' numbers are the names, as for an
         * idx: dataset. */
        int32_t top = 0;
        for (size_t i = 0; i < n; i++)
            if (labels[i] > top)
                top = labels[i];
        n_names = (size_t)top + 1;
        names = calloc(n_names, sizeof *names);
        for (size_t k = 0; names && k < n_names; k++) {
            char buf[24];
            snprintf(buf, sizeof buf, "%zu", k);
            if (!(names[k] = strdup(buf)))
                break;
        }
        if (!names || !names[n_names - 1]) {
            code = cli_failf(common, "out of memory");
            goto done;
        }
        if (!common->quiet)
            fprintf(stderr, "cnnrun linear: note: no class names for %s (give "
                            "--classes, or keep the .classes.json `cnnrun "
                            "features` writes beside it): classes are named by "
                            "their numbers\n",
                    a->labels);
    }
    if (linear_fit(ctx, f.data, n, width, labels, (const char *const *)names,
                   n_names, &a->fit, &m) != CNN_OK ||
        linear_model_write(ctx, a->out, &m) != CNN_OK) {
        code = cli_fail(common, ctx);
        goto done;
    }
    if (!common->quiet)
        fprintf(stderr, "cnnrun linear: trained on %zu rows x %zu features, %zu classes -> %s\n",
                n, width, n_names, a->out);
done:
    linear_model_free(&m);
    linear_names_free(names, n_names);
    free(labels);
    free(f.data);
    return code;
}

/* Reads the model and features and checks that their widths agree. */
static int open_model_and_rows(const cli_common *common, cnn_context *ctx,
                               const char *mpath, const char *fpath,
                               linear_model *m, cnn_tensor *f)
{
    int code;
    memset(f, 0, sizeof *f);
    if (linear_model_read(ctx, mpath, m) != CNN_OK)
        return cli_fail(common, ctx);
    if ((code = load_features(common, ctx, fpath, f)) != CLI_OK)
        return code;
    if ((size_t)f->shape.dims[1] != m->features)
        return cli_failf(common,
                         "%s has %lld features per row but the model %s was "
                         "trained on %zu",
                         fpath, (long long)f->shape.dims[1], mpath, m->features);
    return CLI_OK;
}

/* For each class of the data, the model's class of that name. */
static int map_classes(const cli_common *common, const linear_model *m,
                       char **names, size_t n_names, const char *source,
                       size_t *map)
{
    for (size_t d = 0; d < n_names; d++) {
        size_t k = 0;
        while (k < m->classes && strcmp(m->names[k], names[d]) != 0)
            k++;
        if (k == m->classes) {
            fprintf(stderr, "cnnrun linear: error: the data's class '%s' (label "
                            "%zu, named in %s) is not one of the model's %zu classes:",
                    names[d], d, source, m->classes);
            for (size_t j = 0; j < m->classes && j < 20; j++)
                fprintf(stderr, " %s", m->names[j]);
            fprintf(stderr, "%s\n", m->classes > 20 ? " ..." : "");
            return CLI_FAIL;
        }
        map[d] = k;
    }
    (void)common;
    return CLI_OK;
}

static int print_eval_json(const linear_model *m, size_t n, size_t hits,
                           const int64_t *confusion)
{
    json_t *o = json_object(), *names = json_array();
    char *text;
    json_object_set_new(o, "count", json_integer((json_int_t)n));
    json_object_set_new(o, "top1", json_real((double)hits / (double)n));
    for (size_t c = 0; c < m->classes; c++)
        json_array_append_new(names, json_string(m->names[c]));
    json_object_set_new(o, "classes", names);
    if (confusion) {
        json_t *rows = json_array();
        for (size_t t = 0; t < m->classes; t++) {
            json_t *row = json_array();
            for (size_t p = 0; p < m->classes; p++)
                json_array_append_new(row, json_integer(confusion[t * m->classes + p]));
            json_array_append_new(rows, row);
        }
        json_object_set_new(o, "confusion", rows);
    }
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text)
        return 0;
    puts(text);
    free(text);
    return 1;
}

static void print_eval_text(const linear_model *m, size_t n, size_t hits,
                            const int64_t *confusion)
{
    printf("Samples: %zu\nAccuracy: %.2f%%\n", n, 100.0 * (double)hits / (double)n);
    if (!confusion || m->classes > TEXT_CONFUSION_MAX) {
        printf("(confusion matrix left out for %zu classes; --json has it up "
               "to %d)\n", m->classes, JSON_CONFUSION_MAX);
        return;
    }
    printf("\nConfusion matrix (rows: true, columns: predicted)\n   ");
    for (size_t c = 0; c < m->classes; c++)
        printf(" %6zu", c);
    putchar('\n');
    for (size_t t = 0; t < m->classes; t++) {
        printf("%2zu ", t);
        for (size_t p = 0; p < m->classes; p++)
            printf(" %6lld", (long long)confusion[t * m->classes + p]);
        printf("  %s\n", m->names[t]);
    }
}

static int linear_eval(const cli_common *common, cnn_context *ctx,
                       const char *mpath, const char *fpath, const linear_args *a)
{
    linear_model m = {0};
    cnn_tensor f = {0};
    int32_t *labels = NULL;
    char **names = NULL;
    size_t n_names = 0, hits = 0, n, *map = NULL;
    const char *source;
    int64_t *confusion = NULL;
    double *scores = NULL;
    char source_buf[64];
    int code;

    if ((code = open_model_and_rows(common, ctx, mpath, fpath, &m, &f)) != CLI_OK)
        goto done;
    n = (size_t)f.shape.dims[0];
    if ((code = load_names(common, ctx, a, &names, &n_names, &source)) != CLI_OK)
        goto done;
    if (names) {
        char *beside = source ? NULL : linear_classes_path(a->labels);
        snprintf(source_buf, sizeof source_buf, "%s", source ? source : beside ? beside : "");
        free(beside);
        map = malloc(n_names * sizeof *map);
        if (!map) {
            code = cli_failf(common, "out of memory");
            goto done;
        }
        if ((code = map_classes(common, &m, names, n_names, source_buf, map)) != CLI_OK)
            goto done;
    }
    code = load_labels(common, ctx, a->labels, n, names ? n_names : m.classes,
                       names ? "the number of class names" : "the model's classes",
                       &labels);
    if (code != CLI_OK)
        goto done;
    scores = malloc(m.classes * sizeof *scores);
    if (m.classes <= JSON_CONFUSION_MAX)
        confusion = calloc(m.classes * m.classes, sizeof *confusion);
    if (!scores || (m.classes <= JSON_CONFUSION_MAX && !confusion)) {
        code = cli_failf(common, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        size_t truth = map ? map[labels[i]] : (size_t)labels[i], predicted;
        linear_model_scores(&m, f.data + i * m.features, scores);
        predicted = linear_model_argmax(scores, m.classes);
        hits += predicted == truth;
        if (confusion)
            confusion[truth * m.classes + predicted]++;
    }
    if (a->json) {
        if (!print_eval_json(&m, n, hits, confusion))
            code = cli_failf(common, "out of memory");
    } else {
        print_eval_text(&m, n, hits, confusion);
    }
done:
    free(scores);
    free(confusion);
    free(map);
    linear_names_free(names, n_names);
    free(labels);
    free(f.data);
    linear_model_free(&m);
    return code;
}

/* The k best classes of a row, best first (ties: the lower index). */
static void top_classes(const double *scores, size_t classes, size_t k, size_t *best)
{
    for (size_t r = 0; r < k; r++) {
        size_t pick = classes;
        for (size_t c = 0; c < classes; c++) {
            int taken = 0;
            for (size_t q = 0; q < r && !taken; q++)
                taken = best[q] == c;
            if (!taken && (pick == classes || scores[c] > scores[pick]))
                pick = c;
        }
        best[r] = pick;
    }
}

static int linear_predict(const cli_common *common, cnn_context *ctx,
                          const char *mpath, const char *fpath, const linear_args *a)
{
    linear_model m = {0};
    cnn_tensor f = {0};
    double *scores = NULL;
    size_t *best = NULL, k, n;
    json_t *all = NULL;
    int code;

    if ((code = open_model_and_rows(common, ctx, mpath, fpath, &m, &f)) != CLI_OK)
        goto done;
    n = (size_t)f.shape.dims[0];
    if ((size_t)a->top > m.classes) {
        code = cli_failf(common, "--top %lld is more than the model's %zu classes",
                         a->top, m.classes);
        goto done;
    }
    k = (size_t)a->top;
    scores = malloc(m.classes * sizeof *scores);
    best = malloc(k * sizeof *best);
    all = a->json ? json_array() : NULL;
    if (!scores || !best || (a->json && !all)) {
        code = cli_failf(common, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *top = a->json ? json_array() : NULL;
        linear_model_scores(&m, f.data + i * m.features, scores);
        top_classes(scores, m.classes, k, best);
        if (!a->json)
            printf("%zu", i);
        for (size_t r = 0; r < k; r++) {
            if (a->json) {
                json_t *e = json_object();
                json_object_set_new(e, "class", json_string(m.names[best[r]]));
                json_object_set_new(e, "index", json_integer((json_int_t)best[r]));
                json_object_set_new(e, "score", json_real(scores[best[r]]));
                json_array_append_new(top, e);
            } else {
                printf("\t%s\t%.6g", m.names[best[r]], scores[best[r]]);
            }
        }
        if (a->json) {
            json_t *row = json_object();
            json_object_set_new(row, "row", json_integer((json_int_t)i));
            json_object_set_new(row, "top", top);
            json_array_append_new(all, row);
        } else {
            putchar('\n');
        }
    }
    if (a->json) {
        char *text = json_dumps(all, JSON_COMPACT);
        if (!text) {
            code = cli_failf(common, "out of memory");
            goto done;
        }
        puts(text);
        free(text);
    }
done:
    json_decref(all);
    free(scores);
    free(best);
    free(f.data);
    linear_model_free(&m);
    return code;
}

int cmd_linear(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"labels", required_argument, NULL, OPT_LABELS},
        {"classes", required_argument, NULL, OPT_CLASSES},
        {"out", required_argument, NULL, OPT_OUT},
        {"C", required_argument, NULL, OPT_C},
        {"solver", required_argument, NULL, OPT_SOLVER},
        {"bias", required_argument, NULL, OPT_BIAS},
        {"no-normalize", no_argument, NULL, OPT_NO_NORMALIZE},
        {"top", required_argument, NULL, OPT_TOP},
        {"json", no_argument, NULL, OPT_JSON},
        {0, 0, 0, 0}};
    cli_common common;
    linear_args a;
    const char *action;
    int opt, code = CLI_OK, nargs;
    cnn_context *ctx;

    memset(&a, 0, sizeof a);
    a.fit.solver = L2R_LR;
    a.fit.solver_name = "l2r_lr";
    a.fit.C = 1.0;
    a.fit.bias = -1.0;
    a.fit.normalize = 1;
    a.top = 1;
    cli_common_init(&common, "linear", linear_usage);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (cli_common_option(&common, opt, optarg, &code)) {
            if (code != CLI_OK || common.help)
                return code;
            continue;
        }
        switch (opt) {
        case OPT_LABELS: a.labels = optarg; break;
        case OPT_CLASSES: a.classes = optarg; break;
        case OPT_OUT: a.out = optarg; break;
        case OPT_NO_NORMALIZE: a.fit.normalize = 0; break;
        case OPT_JSON: a.json = 1; break;
        case OPT_C:
            if (!cli_parse_double(optarg, 1e-9, 1e9, &a.fit.C))
                return cli_usage_error(&common, "--C wants a number from 1e-9 to 1e9, got '%s'", optarg);
            break;
        case OPT_BIAS:
            if (!cli_parse_double(optarg, 0.0, 1e6, &a.fit.bias))
                return cli_usage_error(&common, "--bias wants a number from 0 to 1e6, got '%s'", optarg);
            break;
        case OPT_TOP:
            if (!cli_parse_int(optarg, 1, LINEAR_MAX_CLASSES, &a.top))
                return cli_usage_error(&common, "--top wants a whole number from 1 to %d, got '%s'",
                                       LINEAR_MAX_CLASSES, optarg);
            break;
        case OPT_SOLVER:
            a.fit.solver = linear_solver_by_name(optarg);
            if (a.fit.solver < 0)
                return cli_usage_error(&common, "unknown --solver '%s' (one of %s)", optarg,
                                       linear_solver_names);
            a.fit.solver_name = optarg;
            break;
        default: break;
        }
    }
    if (optind >= argc)
        return cli_usage_error(&common, "expected 'train', 'eval' or 'predict'");
    action = argv[optind];
    nargs = argc - optind - 1;
    if (!strcmp(action, "train")) {
        if (nargs != 1 || !a.out || !a.labels)
            return cli_usage_error(&common, "usage: linear train FEATURES.npy --labels L.npy --out M.safetensors");
    } else if (!strcmp(action, "eval")) {
        if (nargs != 2 || !a.labels)
            return cli_usage_error(&common, "usage: linear eval MODEL FEATURES.npy --labels L.npy");
    } else if (!strcmp(action, "predict")) {
        if (nargs != 2)
            return cli_usage_error(&common, "usage: linear predict MODEL FEATURES.npy");
    } else {
        return cli_usage_error(&common, "unknown action '%s' (train, eval or predict)", action);
    }
    ctx = cli_context(&common);
    if (!ctx)
        return CLI_FAIL;
    if (!strcmp(action, "train"))
        code = linear_train(&common, ctx, argv[optind + 1], &a);
    else if (!strcmp(action, "eval"))
        code = linear_eval(&common, ctx, argv[optind + 1], argv[optind + 2], &a);
    else
        code = linear_predict(&common, ctx, argv[optind + 1], argv[optind + 2], &a);
    cnn_context_destroy(ctx);
    return code;
}
