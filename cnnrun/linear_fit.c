/* SPDX-License-Identifier: MIT */
/* LIBLINEAR training in memory; see linear_fit.h. */
#include "linear_fit.h"

#include <float.h>
#include <linear.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    {"l2r_lr_dual", L2R_LR_DUAL},
};

const char linear_solver_names[] =
    "l2r_lr, l2r_l2loss_svc_dual, l2r_l2loss_svc, l2r_l1loss_svc_dual, "
    "mcsvm_cs, l1r_l2loss_svc, l1r_lr, l2r_lr_dual";

int linear_solver_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof solvers / sizeof *solvers; i++)
        if (strcmp(name, solvers[i].name) == 0)
            return solvers[i].type;
    return -1;
}

static void quiet_print(const char *s)
{
    (void)s; /* LIBLINEAR's progress dots are not for our users */
}

/* Rows as LIBLINEAR's sparse nodes, zeros left out, optionally scaled to
 * unit norm (the same scaling linear_model_scores applies), the bias
 * feature when there is one, and a -1 terminator per row. */
typedef struct sparse_rows {
    struct feature_node **rows;
    struct feature_node *nodes;
    double *y;
} sparse_rows;

static void sparse_free(sparse_rows *s)
{
    free(s->rows);
    free(s->nodes);
    free(s->y);
}

static int sparse_make(const float *rows, size_t n, size_t width,
                       const int32_t *labels, int normalize, double bias,
                       sparse_rows *s)
{
    size_t nnz = 0, k = 0;
    for (size_t i = 0; i < n * width; i++)
        nnz += rows[i] != 0.0f;
    s->rows = calloc(n + 1, sizeof *s->rows);
    s->nodes = calloc(nnz + 2 * n + 1, sizeof *s->nodes);
    s->y = calloc(n + 1, sizeof *s->y);
    if (!s->rows || !s->nodes || !s->y)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const float *row = rows + i * width;
        double norm = 0.0, scale = 1.0;
        for (size_t j = 0; j < width; j++)
            norm += (double)row[j] * row[j];
        if (normalize && norm > 0)
            scale = 1.0 / sqrt(norm);
        s->y[i] = labels[i];
        s->rows[i] = &s->nodes[k];
        for (size_t j = 0; j < width; j++)
            if (row[j] != 0.0f) {
                s->nodes[k].index = (int)(j + 1);
                s->nodes[k].value = (double)row[j] * scale;
                k++;
            }
        /* LIBLINEAR's bias term is one more feature, index width + 1,
         * whose value is the bias in every row. */
        if (bias >= 0) {
            s->nodes[k].index = (int)(width + 1);
            s->nodes[k].value = bias;
            k++;
        }
        s->nodes[k++].index = -1;
    }
    return 1;
}

cnn_status linear_from_liblinear(cnn_context *ctx, const struct model *lm,
                                 linear_model *out)
{
    int nr_class = get_nr_class(lm);
    int *label = malloc((size_t)(nr_class > 0 ? nr_class : 1) * sizeof *label);
    if (!label)
        return cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    get_labels(lm, label);
    for (int i = 0; i < nr_class; i++) {
        size_t k = (size_t)label[i];
        if (label[i] < 0 || k >= out->classes) {
            free(label);
            return cnn_context_fail(ctx, CNN_ERR_INVALID,
                                    "LIBLINEAR returned label %d outside the "
                                    "%zu classes",
                                    label[i], out->classes);
        }
        for (size_t j = 0; j < out->features; j++) {
            double w = get_decfun_coef(lm, (int)(j + 1), i);
            if (!(fabs(w) <= FLT_MAX)) {
                free(label);
                return cnn_context_fail(ctx, CNN_ERR_NUMERIC,
                                        "LIBLINEAR's weight for class %zu, "
                                        "feature %zu is %g, which no float "
                                        "holds",
                                        k, j, w);
            }
            out->weight[k * out->features + j] = (float)w;
        }
        out->bias[k] = (float)get_decfun_bias(lm, i);
    }
    free(label);
    return CNN_OK;
}

static char *format_double(double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", v);
    return strdup(buf);
}

cnn_status linear_fit(cnn_context *ctx, const float *rows, size_t n,
                      size_t width, const int32_t *labels,
                      const char *const *names, size_t n_names,
                      const linear_fit_options *opt, linear_model *out)
{
    sparse_rows s = {0};
    struct problem prob;
    struct parameter param;
    struct model *lm;
    const char *why;
    size_t *count;
    char version[32];
    cnn_status st;

    memset(out, 0, sizeof *out);
    if (n > INT32_MAX)
        return cnn_context_fail(ctx, CNN_ERR_INVALID,
                                "%zu rows are more than LIBLINEAR takes", n);
    st = linear_model_alloc(ctx, out, n_names, width);
    if (st != CNN_OK)
        return st;
    count = calloc(n_names, sizeof *count);
    if (!count) {
        linear_model_free(out);
        return cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        count[labels[i]]++;
    for (size_t k = 0; k < n_names; k++)
        if (count[k] == 0) {
            free(count);
            linear_model_free(out);
            /* LIBLINEAR would learn nothing for it, and a row of zeros
             * would still win ties: refuse rather than guess. */
            return cnn_context_fail(ctx, CNN_ERR_INVALID,
                                    "class '%s' (label %zu) has no training "
                                    "rows; every one of the %zu classes needs "
                                    "at least one",
                                    names[k], k, n_names);
        }
    free(count);
    if (!sparse_make(rows, n, width, labels, opt->normalize, opt->bias, &s)) {
        sparse_free(&s);
        linear_model_free(out);
        return cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory for %zu rows",
                                n);
    }
    memset(&prob, 0, sizeof prob);
    prob.l = (int)n;
    /* With a bias term LIBLINEAR counts it as one more feature. */
    prob.n = (int)width + (opt->bias >= 0);
    prob.y = s.y;
    prob.x = s.rows;
    prob.bias = opt->bias;
    memset(&param, 0, sizeof param);
    param.solver_type = opt->solver;
    param.C = opt->C;
    param.eps = opt->eps > 0 ? opt->eps
                : opt->solver == L2R_LR || opt->solver == L2R_L2LOSS_SVC ? 0.01
                                                                        : 0.1;
    param.p = 0.1;
    set_print_string_function(quiet_print);
    why = check_parameter(&prob, &param);
    if (why) {
        sparse_free(&s);
        linear_model_free(out);
        return cnn_context_fail(ctx, CNN_ERR_INVALID,
                                "LIBLINEAR refuses the settings: %s", why);
    }
    lm = train(&prob, &param);
    sparse_free(&s);
    if (!lm) {
        linear_model_free(out);
        return cnn_context_fail(ctx, CNN_ERR_NOMEM, "LIBLINEAR failed to train");
    }
    st = linear_from_liblinear(ctx, lm, out);
    free_and_destroy_model(&lm);
    for (size_t k = 0; st == CNN_OK && k < n_names; k++)
        if (!(out->names[k] = strdup(names[k])))
            st = cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    snprintf(version, sizeof version, "%d", liblinear_version);
    out->normalize = opt->normalize;
    if (st == CNN_OK &&
        (!(out->solver = strdup(opt->solver_name)) ||
         !(out->C = format_double(opt->C)) ||
         !(out->eps = format_double(param.eps)) ||
         !(out->bias_term = format_double(opt->bias)) ||
         !(out->liblinear_version = strdup(version))))
        st = cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    if (st != CNN_OK)
        linear_model_free(out);
    return st;
}
