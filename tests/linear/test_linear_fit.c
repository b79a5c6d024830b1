/* SPDX-License-Identifier: MIT */
/* Our linear model file gives LIBLINEAR's own decision values: a model
 * trained by LIBLINEAR, copied into linear_model (float32 rows, one per
 * class, two for a two-class model) and scored by linear_model_scores,
 * agrees with LIBLINEAR's predict_values on every row, for each solver
 * family, with and without a bias term, with classes first seen out of
 * order; and the file round-trips through disk and memory unchanged. */
#include <criterion/criterion.h>
#include <linear.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linear_fit.h"
#include "linear_model.h"

#define ROWS 120
#define WIDTH 9

static void quiet(const char *s)
{
    (void)s;
}

/* Deterministic rows around one centre per class; labels start with the
 * last class so LIBLINEAR's label order differs from ours. */
static void make_data(size_t classes, float *rows, int32_t *labels)
{
    unsigned s = 12345;
    for (size_t i = 0; i < ROWS; i++) {
        labels[i] = (int32_t)((classes - 1 + i) % classes);
        for (size_t j = 0; j < WIDTH; j++) {
            s = s * 1103515245u + 12345u;
            rows[i * WIDTH + j] = (float)((s >> 8) % 1000) / 1000.0f +
                                  (j % classes == (size_t)labels[i] ? 0.7f : 0.0f);
        }
    }
}

static void check_against_liblinear(int solver, size_t classes, double bias,
                                    int normalize)
{
    float rows[ROWS * WIDTH];
    int32_t labels[ROWS];
    struct feature_node nodes[ROWS][WIDTH + 2], *x[ROWS];
    double y[ROWS], dec[16], scores[16];
    struct problem prob = {ROWS, WIDTH + (bias >= 0), y, x, bias};
    struct parameter param;
    struct model *lm;
    linear_model m;
    cnn_context *ctx = cnn_context_create();
    int label[16];

    make_data(classes, rows, labels);
    for (size_t i = 0; i < ROWS; i++) {
        double norm = 0, scale = 1;
        size_t k = 0;
        for (size_t j = 0; j < WIDTH; j++)
            norm += (double)rows[i * WIDTH + j] * rows[i * WIDTH + j];
        if (normalize)
            scale = 1 / sqrt(norm);
        for (size_t j = 0; j < WIDTH; j++)
            nodes[i][k++] = (struct feature_node){(int)j + 1, rows[i * WIDTH + j] * scale};
        if (bias >= 0)
            nodes[i][k++] = (struct feature_node){WIDTH + 1, bias};
        nodes[i][k].index = -1;
        x[i] = nodes[i];
        y[i] = labels[i];
    }
    memset(&param, 0, sizeof param);
    param.solver_type = solver;
    param.C = 1;
    param.eps = 0.01;
    set_print_string_function(quiet);
    cr_assert_null(check_parameter(&prob, &param));
    lm = train(&prob, &param);
    cr_assert_eq(linear_model_alloc(ctx, &m, classes, WIDTH), CNN_OK);
    m.normalize = normalize;
    cr_assert_eq(linear_from_liblinear(ctx, lm, &m), CNN_OK, "%s",
                 cnn_context_message(ctx));
    get_labels(lm, label);
    cr_assert_eq(label[0], (int)classes - 1, "first label seen is the last class");
    for (size_t i = 0; i < ROWS; i++) {
        double predicted = predict_values(lm, x[i], dec);
        linear_model_scores(&m, rows + i * WIDTH, scores);
        if (classes == 2 && solver != MCSVM_CS) {
            /* One decision value: > 0 means label[0]. */
            cr_assert_float_eq(scores[label[0]], dec[0], 1e-5, "row %zu", i);
            cr_assert_float_eq(scores[label[1]], -dec[0], 1e-5, "row %zu", i);
        } else {
            for (size_t c = 0; c < classes; c++)
                cr_assert_float_eq(scores[label[c]], dec[c], 1e-5,
                                   "row %zu class %d: ours %g, LIBLINEAR %g", i,
                                   label[c], scores[label[c]], dec[c]);
        }
        cr_assert_eq(linear_model_argmax(scores, classes), (size_t)predicted,
                     "row %zu: ours %zu, LIBLINEAR %g", i,
                     linear_model_argmax(scores, classes), predicted);
    }
    free_and_destroy_model(&lm);
    linear_model_free(&m);
    cnn_context_destroy(ctx);
}

Test(linear_fit, logistic_regression_four_classes)
{
    check_against_liblinear(L2R_LR, 4, -1, 1);
    check_against_liblinear(L2R_LR, 4, 1, 0);
}

Test(linear_fit, two_classes_one_weight_vector)
{
    check_against_liblinear(L2R_LR, 2, -1, 1);
    check_against_liblinear(L2R_L2LOSS_SVC_DUAL, 2, 2.5, 1);
}

Test(linear_fit, svm_solvers)
{
    check_against_liblinear(L2R_L2LOSS_SVC_DUAL, 3, 1, 1);
    check_against_liblinear(MCSVM_CS, 3, -1, 1);
    check_against_liblinear(MCSVM_CS, 2, 1, 1);
    check_against_liblinear(L1R_LR, 3, 1, 0);
}

Test(linear_model, round_trip_disk_and_memory)
{
    float rows[ROWS * WIDTH];
    int32_t labels[ROWS];
    const char *names[3] = {"zebra", "ant", "cat"};
    linear_fit_options opt = {L2R_LR, "l2r_lr", 1.0, 0, 1.0, 1};
    linear_model a, b, c;
    char path[] = "/tmp/linear-rt-XXXXXX";
    cnn_context *ctx = cnn_context_create();
    FILE *f;
    char *bytes;
    long size;
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    make_data(3, rows, labels);
    cr_assert_eq(linear_fit(ctx, rows, ROWS, WIDTH, labels, names, 3, &opt, &a),
                 CNN_OK, "%s", cnn_context_message(ctx));
    cr_assert_eq(linear_model_write(ctx, path, &a), CNN_OK, "%s", cnn_context_message(ctx));
    cr_assert_eq(linear_model_read(ctx, path, &b), CNN_OK, "%s", cnn_context_message(ctx));
    f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    bytes = malloc((size_t)size);
    cr_assert_eq(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    cr_assert_eq(linear_model_read_memory(ctx, "bytes", bytes, (size_t)size, &c),
                 CNN_OK, "%s", cnn_context_message(ctx));
    for (linear_model *m = &b; m; m = m == &b ? &c : NULL) {
        cr_assert_eq(m->classes, 3);
        cr_assert_eq(m->features, WIDTH);
        cr_assert_eq(m->normalize, 1);
        for (size_t k = 0; k < 3; k++)
            cr_assert_str_eq(m->names[k], names[k]);
        cr_assert_eq(memcmp(m->weight, a.weight, 3 * WIDTH * sizeof(float)), 0);
        cr_assert_eq(memcmp(m->bias, a.bias, 3 * sizeof(float)), 0);
        cr_assert_str_eq(m->solver, "l2r_lr");
        cr_assert_str_eq(m->bias_term, "1");
    }
    /* A truncated copy in memory is refused, never read past its end. */
    cr_assert_neq(linear_model_read_memory(ctx, "cut", bytes, (size_t)size - 5, &c), CNN_OK);
    cr_assert_neq(linear_model_read_memory(ctx, "empty", bytes, 0, &c), CNN_OK);
    free(bytes);
    linear_model_free(&a);
    linear_model_free(&b);
    linear_model_free(&c);
    unlink(path);
    cnn_context_destroy(ctx);
}
