/* SPDX-License-Identifier: MIT */
/* Optimisers against PyTorch's trajectories (fixtures from
 * tests/fixtures/gen_optim_fixtures.py), the loss against hand values, and
 * the learning-rate schedules against their formulas. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/graph.h"
#include "cnn/params.h"
#include "cnn/train.h"

#define FIX CNN_TEST_FIXTURES "/optim/"

static int read_row(FILE *f, float *values, int n)
{
    for (int i = 0; i < n; i++)
        if (fscanf(f, "%f", &values[i]) != 1)
            return 0;
    return 1;
}

static void run_case(const char *name, cnn_optim_config config, double lr)
{
    static const char yaml[] = "name: tiny\ninput: [3, 1, 1]\nlayers:\n"
                               "  - {name: fc, type: dense, units: 2}\n";
    char path[512], line[512];
    cnn_context *ctx = cnn_context_create();
    cnn_graph *graph;
    cnn_params *ps;
    cnn_optim *optim;
    float row[8], want[8];
    FILE *f;

    snprintf(path, sizeof path, FIX "%s.txt", name);
    f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    cr_assert_not_null(fgets(line, sizeof line, f)); /* the header comment */
    cr_assert_eq(cnn_graph_load_string(ctx, yaml, sizeof yaml - 1, "tiny.yaml", &graph), CNN_OK,
                 "%s", cnn_context_message(ctx));
    cr_assert_eq(cnn_params_create(ctx, graph, &ps), CNN_OK);
    cr_assert_eq(cnn_params_numel(ps), 8u);
    cr_assert(read_row(f, row, 8));
    memcpy(cnn_params_data(ps), row, sizeof row); /* weight [2,3] then bias [2] */
    cr_assert_eq(cnn_optim_create(ctx, ps, &config, &optim), CNN_OK);
    for (int step = 1; read_row(f, row, 8); step++) {
        memcpy(cnn_params_grad_data(ps), row, sizeof row);
        cnn_optim_step(optim, lr);
        cr_assert(read_row(f, want, 8));
        for (int i = 0; i < 8; i++)
            cr_assert(fabsf(cnn_params_data(ps)[i] - want[i]) <= 2e-6f * fmaxf(1.0f, fabsf(want[i])),
                      "%s step %d value %d: cnnrun %.9g, PyTorch %.9g", name, step, i,
                      (double)cnn_params_data(ps)[i], (double)want[i]);
    }
    cr_assert_eq(cnn_optim_steps(optim), 5u);
    fclose(f);
    cnn_optim_destroy(optim);
    cnn_params_destroy(ps);
    cnn_graph_destroy(graph);
    cnn_context_destroy(ctx);
}

Test(optim, sgd_matches_pytorch)
{
    run_case("sgd", (cnn_optim_config){CNN_OPTIM_SGD, 0.0, 0, 0.0, 0, 0, 0}, 0.1);
}

Test(optim, sgd_momentum_weight_decay_matches_pytorch)
{
    run_case("sgd_momentum_wd", (cnn_optim_config){CNN_OPTIM_SGD, 0.9, 0, 0.01, 0, 0, 0}, 0.05);
}

Test(optim, sgd_nesterov_matches_pytorch)
{
    run_case("sgd_nesterov", (cnn_optim_config){CNN_OPTIM_SGD, 0.9, 1, 0.001, 0, 0, 0}, 0.05);
}

Test(optim, adam_matches_pytorch)
{
    run_case("adam", (cnn_optim_config){CNN_OPTIM_ADAM, 0, 0, 0.0, 0, 0, 0}, 0.01);
}

Test(optim, adam_weight_decay_matches_pytorch)
{
    run_case("adam_wd", (cnn_optim_config){CNN_OPTIM_ADAM, 0, 0, 0.05, 0, 0, 0}, 0.003);
}

Test(loss, softmax_xent_values_and_fused_gradient)
{
    /* Row 0: logits (0, 0, 0), label 1: loss ln 3, p = 1/3 each.
     * Row 1: logits (1000, 0, -1000), label 0: huge but stable, loss ~0. */
    const float z[6] = {0, 0, 0, 1000, 0, -1000};
    const int32_t y[2] = {1, 0};
    float g[6];
    int64_t correct;
    double loss = cnn_softmax_xent(z, y, 2, 3, g, &correct);
    cr_assert(isfinite(loss));
    cr_assert(fabs(loss - log(3.0) / 2) < 1e-7, "loss %.10g", loss);
    cr_assert(fabsf(g[0] - (1.0f / 3) / 2) < 1e-7f);
    cr_assert(fabsf(g[1] - (1.0f / 3 - 1) / 2) < 1e-7f);
    cr_assert(fabsf(g[3]) < 1e-7f && fabsf(g[4]) < 1e-7f);
    cr_assert_eq(correct, 1); /* row 0's argmax is class 0, not 1 */
}

Test(schedule, constant_step_cosine_and_warmup)
{
    cnn_schedule s = {CNN_SCHEDULE_CONSTANT, 0.1, 0, 10, 0, 0};
    cr_assert_float_eq(cnn_schedule_lr(&s, 7.5), 0.1, 1e-12);
    s.kind = CNN_SCHEDULE_COSINE;
    cr_assert_float_eq(cnn_schedule_lr(&s, 0.0), 0.1, 1e-12);
    cr_assert_float_eq(cnn_schedule_lr(&s, 5.0), 0.05, 1e-12);
    cr_assert_float_eq(cnn_schedule_lr(&s, 10.0), 0.0, 1e-12);
    s.kind = CNN_SCHEDULE_STEP;
    s.step_epochs = 3;
    s.gamma = 0.5;
    cr_assert_float_eq(cnn_schedule_lr(&s, 2.9), 0.1, 1e-12);
    cr_assert_float_eq(cnn_schedule_lr(&s, 3.0), 0.05, 1e-12);
    cr_assert_float_eq(cnn_schedule_lr(&s, 6.5), 0.025, 1e-12);
    s.kind = CNN_SCHEDULE_CONSTANT;
    s.warmup_epochs = 2;
    cr_assert_float_eq(cnn_schedule_lr(&s, 0.5), 0.025, 1e-12);
    cr_assert_float_eq(cnn_schedule_lr(&s, 2.0), 0.1, 1e-12);
}

Test(optim, adamw_matches_pytorch)
{
    run_case("adamw", (cnn_optim_config){CNN_OPTIM_ADAMW, 0, 0, 0.1, 0, 0, 0}, 0.01);
}

Test(loss, weights_and_label_smoothing_match_pytorch)
{
    char path[4096];
    float z[20], w[5], want[20], g[20];
    int32_t y[4];
    FILE *f;
    snprintf(path, sizeof path, "%s/optim/xent.txt", CNN_TEST_FIXTURES);
    f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    cr_assert(read_row(f, z, 20));
    cr_assert_eq(fscanf(f, "%d %d %d %d", &y[0], &y[1], &y[2], &y[3]), 4);
    cr_assert(read_row(f, w, 5));
    for (int k = 0; k < 6; k++) {
        double eps, torch_loss, loss;
        int weighted;
        int64_t correct;
        cr_assert_eq(fscanf(f, "%lf %d %lf", &eps, &weighted, &torch_loss), 3);
        cr_assert(read_row(f, want, 20));
        loss = cnn_softmax_xent_ex(z, y, 4, 5, weighted ? w : NULL, eps, g, &correct);
        cr_assert(fabs(loss - torch_loss) < 1e-5 * fmax(1.0, fabs(torch_loss)),
                  "eps %g weighted %d: loss %.9g, PyTorch %.9g", eps, weighted, loss, torch_loss);
        for (int i = 0; i < 20; i++)
            cr_assert(fabsf(g[i] - want[i]) < 1e-6f, "eps %g weighted %d: grad[%d] %.9g vs %.9g",
                      eps, weighted, i, g[i], want[i]);
    }
    fclose(f);
}

Test(schedule, plateau_matches_pytorch)
{
    char path[4096];
    double metric, lr;
    cnn_plateau p;
    int rows = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/optim/plateau.txt", CNN_TEST_FIXTURES);
    f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    cnn_plateau_init(&p, 0.5, 2, 0);
    while (fscanf(f, "%lf %lf", &metric, &lr) == 2) {
        cnn_plateau_update(&p, metric);
        cr_assert_float_eq(p.scale, lr, 1e-12, "row %d: scale %g, PyTorch %g", rows, p.scale, lr);
        rows++;
    }
    fclose(f);
    cr_assert_eq(rows, 13);
    /* Accuracies: higher is better, and NaN never improves. */
    cnn_plateau_init(&p, 0.1, 0, 1);
    cr_assert_eq(cnn_plateau_update(&p, 0.5), 0);
    cr_assert_eq(cnn_plateau_update(&p, 0.6), 0);
    cr_assert_eq(cnn_plateau_update(&p, NAN), 1);
    cr_assert_float_eq(p.scale, 0.1, 1e-12);
}
