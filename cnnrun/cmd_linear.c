/* SPDX-License-Identifier: MIT */
/* cnnrun linear train|eval: a LIBLINEAR classifier on features written by
 * `cnnrun features`, the classical half of transfer learning. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linear.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cnn/io.h"
#include "commands.h"

static const char linear_usage[] =
    "Usage: cnnrun linear train FEATURES.npy --labels L.npy --out M.liblinear\n"
    "                           [--C C] [--solver NAME] [--no-normalize]\n"
    "       cnnrun linear eval M.liblinear FEATURES.npy --labels L.npy [--json]\n"
    "Trains or evaluates a LIBLINEAR linear classifier on feature rows\n"
    "(from `cnnrun features`). Rows are scaled to unit L2 norm unless\n"
    "--no-normalize, the same way at training and evaluation.\n\n"
    "  --labels FILE     labels (.npy, integers)\n"
    "  --out FILE        the model to write (LIBLINEAR's text format)\n"
    "  --C C             inverse regularisation strength (default 1)\n"
    "  --solver NAME     l2r_lr (default), l2r_l2loss_svc_dual, l2r_l2loss_svc,\n"
    "                    l2r_l1loss_svc_dual, mcsvm_cs, l1r_l2loss_svc, l1r_lr\n"
    "  --no-normalize    use the rows as they are\n"
    "  --json            eval: one JSON object with accuracy and confusion\n";

enum {
    OPT_LABELS = CLI_OPT_FIRST_COMMAND,
    OPT_OUT,
    OPT_C,
    OPT_SOLVER,
    OPT_NO_NORMALIZE,
    OPT_JSON
};

static const struct {
    const char *name;
    int type;
} solvers[] = {
    {"l2r_lr", L2R_LR},
    {"l2r_l2loss_svc_dual", L2R_L2LOSS_SVC_DUAL},
    {"l2r_l2loss_svc", L2R_L2LOSS_SVC},
    {"l2r_l1loss_svc_dual", L2R_L1LOSS_SVC_DUAL},
    {"mcsvm_cs", MCSVM_CS},
    {"l1r_l2loss_svc", L1R_L2LOSS_SVC},
    {"l1r_lr", L1R_LR},
};

static void quiet_print(const char *s)
{
    (void)s; /* LIBLINEAR's progress dots are not for our users */
}

/* Feature rows as LIBLINEAR's sparse nodes, zeros left out, optionally
 * scaled to unit norm; one -1 terminator per row. */
typedef struct sparse_rows {
    struct feature_node **rows;
    struct feature_node *nodes;
    double *y;
    size_t n;
    int64_t width;
} sparse_rows;

static int load_rows(const cli_common *common, cnn_context *ctx, const char *fpath,
                     const char *lpath, int normalize, sparse_rows *s)
{
    cnn_tensor f = {0}, l = {0};
    size_t nnz = 0, k = 0;
    int ok = 0;
    memset(s, 0, sizeof *s);
    if (cnn_npy_read(ctx, fpath, &f) != CNN_OK || cnn_npy_read(ctx, lpath, &l) != CNN_OK) {
        cli_fail(common, ctx);
        goto done;
    }
    if (f.shape.rank != 2) {
        cli_failf(common, "%s: features must be a 2-D [N, D] array", fpath);
        goto done;
    }
    s->n = (size_t)f.shape.dims[0];
    s->width = f.shape.dims[1];
    if (cnn_shape_numel(&l.shape) != s->n) {
        cli_failf(common, "%s has %zu labels but %s has %zu rows", lpath,
                  cnn_shape_numel(&l.shape), fpath, s->n);
        goto done;
    }
    for (size_t i = 0; i < s->n * (size_t)s->width; i++) {
        if (!isfinite(f.data[i])) {
            cli_failf(common, "%s: row %zu, column %zu is %g", fpath,
                      i / (size_t)s->width, i % (size_t)s->width, (double)f.data[i]);
            goto done;
        }
        nnz += f.data[i] != 0.0f;
    }
    s->rows = calloc(s->n + 1, sizeof *s->rows);
    s->nodes = calloc(nnz + s->n + 1, sizeof *s->nodes);
    s->y = calloc(s->n + 1, sizeof *s->y);
    if (!s->rows || !s->nodes || !s->y) {
        cli_failf(common, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < s->n; i++) {
        const float *row = f.data + i * (size_t)s->width;
        double norm = 0.0, scale = 1.0;
        if (l.data[i] != floorf(l.data[i])) {
            cli_failf(common, "%s: label %zu is %g, not a whole number", lpath, i, (double)l.data[i]);
            goto done;
        }
        s->y[i] = l.data[i];
        for (int64_t j = 0; j < s->width; j++)
            norm += (double)row[j] * row[j];
        if (normalize && norm > 0)
            scale = 1.0 / sqrt(norm);
        s->rows[i] = &s->nodes[k];
        for (int64_t j = 0; j < s->width; j++)
            if (row[j] != 0.0f) {
                s->nodes[k].index = (int)(j + 1);
                s->nodes[k].value = row[j] * scale;
                k++;
            }
        s->nodes[k++].index = -1;
    }
    ok = 1;
done:
    free(f.data);
    free(l.data);
    return ok;
}

static void free_rows(sparse_rows *s)
{
    free(s->rows);
    free(s->nodes);
    free(s->y);
}

static int save_atomically(const cli_common *common, const char *path,
                           const struct model *model)
{
    char tmp[4096];
    int fd;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (save_model(tmp, model) != 0) {
        remove(tmp);
        return cli_failf(common, "%s: cannot write the model", tmp);
    }
    fd = open(tmp, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        if (fd >= 0)
            close(fd);
        remove(tmp);
        return cli_failf(common, "%s: cannot sync: %s", tmp, strerror(errno));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return cli_failf(common, "%s: cannot rename into place: %s", path, strerror(errno));
    }
    return CLI_OK;
}

static int linear_train(cli_common *common, cnn_context *ctx, const char *fpath,
                        const char *lpath, const char *out, double C, int solver,
                        int normalize)
{
    sparse_rows s;
    struct problem prob;
    struct parameter param;
    struct model *model;
    const char *problem_text;
    int code;
    if (!load_rows(common, ctx, fpath, lpath, normalize, &s)) {
        free_rows(&s);
        return CLI_FAIL;
    }
    memset(&prob, 0, sizeof prob);
    prob.l = (int)s.n;
    prob.n = (int)s.width;
    prob.y = s.y;
    prob.x = s.rows;
    prob.bias = -1;
    memset(&param, 0, sizeof param);
    param.solver_type = solver;
    param.C = C;
    param.eps = solver == L2R_LR || solver == L2R_L2LOSS_SVC ? 0.01 : 0.1;
    param.p = 0.1;
    set_print_string_function(quiet_print);
    problem_text = check_parameter(&prob, &param);
    if (problem_text) {
        free_rows(&s);
        return cli_failf(common, "LIBLINEAR refuses the settings: %s", problem_text);
    }
    model = train(&prob, &param);
    code = save_atomically(common, out, model);
    if (code == CLI_OK && !common->quiet)
        fprintf(stderr, "cnnrun linear: trained on %zu rows x %lld features, %d classes -> %s\n",
                s.n, (long long)s.width, get_nr_class(model), out);
    free_and_destroy_model(&model);
    free_rows(&s);
    return code;
}

static int linear_eval(cli_common *common, cnn_context *ctx, const char *mpath,
                       const char *fpath, const char *lpath, int normalize, int json)
{
    sparse_rows s;
    struct model *model = load_model(mpath);
    int classes = 0, code = CLI_OK;
    size_t hits = 0;
    int64_t *confusion;
    if (!model)
        return cli_failf(common, "%s: not a LIBLINEAR model (or unreadable)", mpath);
    if (!load_rows(common, ctx, fpath, lpath, normalize, &s)) {
        free_rows(&s);
        free_and_destroy_model(&model);
        return CLI_FAIL;
    }
    for (size_t i = 0; i < s.n; i++)
        if ((int)s.y[i] + 1 > classes)
            classes = (int)s.y[i] + 1;
    for (int c = 0; c < get_nr_class(model); c++)
        if (model->label[c] + 1 > classes)
            classes = model->label[c] + 1;
    confusion = calloc((size_t)classes * (size_t)classes + 1, sizeof *confusion);
    if (!confusion || classes > 100000) {
        free(confusion);
        free_rows(&s);
        free_and_destroy_model(&model);
        return cli_failf(common, "labels out of range");
    }
    for (size_t i = 0; i < s.n; i++) {
        int predicted = (int)predict(model, s.rows[i]);
        int truth = (int)s.y[i];
        if (truth >= 0 && predicted >= 0)
            confusion[(size_t)truth * (size_t)classes + (size_t)predicted]++;
        hits += predicted == truth;
    }
    if (json) {
        json_t *o = json_object(), *m = json_array();
        char *text;
        json_object_set_new(o, "count", json_integer((json_int_t)s.n));
        json_object_set_new(o, "top1", json_real(s.n ? (double)hits / (double)s.n : 0.0));
        for (int t = 0; t < classes; t++) {
            json_t *row = json_array();
            for (int p = 0; p < classes; p++)
                json_array_append_new(row, json_integer(confusion[t * classes + p]));
            json_array_append_new(m, row);
        }
        json_object_set_new(o, "confusion", m);
        text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (text)
            puts(text);
        else
            code = cli_failf(common, "out of memory");
        free(text);
    } else {
        printf("Samples: %zu\nAccuracy: %.2f%%\n\nConfusion matrix (rows: true, columns: predicted)\n   ",
               s.n, s.n ? 100.0 * (double)hits / (double)s.n : 0.0);
        for (int c = 0; c < classes; c++)
            printf(" %6d", c);
        putchar('\n');
        for (int t = 0; t < classes; t++) {
            printf("%2d ", t);
            for (int p = 0; p < classes; p++)
                printf(" %6lld", (long long)confusion[t * classes + p]);
            putchar('\n');
        }
    }
    free(confusion);
    free_rows(&s);
    free_and_destroy_model(&model);
    return code;
}

int cmd_linear(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"labels", required_argument, NULL, OPT_LABELS},
        {"out", required_argument, NULL, OPT_OUT},
        {"C", required_argument, NULL, OPT_C},
        {"solver", required_argument, NULL, OPT_SOLVER},
        {"no-normalize", no_argument, NULL, OPT_NO_NORMALIZE},
        {"json", no_argument, NULL, OPT_JSON},
        {0, 0, 0, 0}};
    cli_common common;
    const char *labels = NULL, *out = NULL, *action;
    double C = 1.0;
    int solver = L2R_LR, normalize = 1, json = 0, opt, code = CLI_OK;
    cnn_context *ctx;

    cli_common_init(&common, "linear", linear_usage);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (cli_common_option(&common, opt, optarg, &code)) {
            if (code != CLI_OK || common.help)
                return code;
            continue;
        }
        switch (opt) {
        case OPT_LABELS: labels = optarg; break;
        case OPT_OUT: out = optarg; break;
        case OPT_NO_NORMALIZE: normalize = 0; break;
        case OPT_JSON: json = 1; break;
        case OPT_C:
            if (!cli_parse_double(optarg, 1e-9, 1e9, &C))
                return cli_usage_error(&common, "--C wants a number from 1e-9 to 1e9, got '%s'", optarg);
            break;
        case OPT_SOLVER: {
            size_t i;
            for (i = 0; i < sizeof solvers / sizeof *solvers; i++)
                if (!strcmp(optarg, solvers[i].name))
                    break;
            if (i == sizeof solvers / sizeof *solvers)
                return cli_usage_error(&common, "unknown --solver '%s' (see --help)", optarg);
            solver = solvers[i].type;
            break;
        }
        default: break;
        }
    }
    if (optind >= argc)
        return cli_usage_error(&common, "expected 'train' or 'eval'");
    action = argv[optind];
    if (!labels)
        return cli_usage_error(&common, "--labels is required");
    if (!strcmp(action, "train")) {
        if (optind + 2 != argc || !out)
            return cli_usage_error(&common, "usage: linear train FEATURES.npy --labels L.npy --out M");
    } else if (!strcmp(action, "eval")) {
        if (optind + 3 != argc)
            return cli_usage_error(&common, "usage: linear eval MODEL FEATURES.npy --labels L.npy");
    } else {
        return cli_usage_error(&common, "unknown action '%s' (train or eval)", action);
    }
    ctx = cli_context(&common);
    if (!ctx)
        return CLI_FAIL;
    if (!strcmp(action, "train"))
        code = linear_train(&common, ctx, argv[optind + 1], labels, out, C, solver, normalize);
    else
        code = linear_eval(&common, ctx, argv[optind + 1], argv[optind + 2], labels, normalize, json);
    cnn_context_destroy(ctx);
    return code;
}
