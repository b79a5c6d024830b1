/* SPDX-License-Identifier: MIT */
/* Running statistics (CNN_PARAM_STATE, batch norm's running_mean and
 * running_var) through the core: never trainable, skipped by the
 * optimiser (no update, no state, no weight decay), counted as
 * non-trainable, updated by a training forward only, and left alone by a
 * frozen layer, which the executor runs as in inference. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "cnn/exec.h"
#include "cnn/graph.h"
#include "cnn/params.h"
#include "cnn/train.h"

/* [N, 3, 2, 2] -> batchnorm -> flatten -> dense(2). */
static const char bn_yaml[] = "name: bn_tiny\ninput: [3, 2, 2]\nlayers:\n"
                              "  - {name: bn, type: batchnorm}\n"
                              "  - {name: flatten, type: flatten}\n"
                              "  - {name: fc, type: dense, units: 2}\n";

enum { W, B, RM, RV, FW, FB };
#define N 4
#define C 3
#define P 4 /* H * W */

typedef struct fixture {
    cnn_context *ctx;
    cnn_graph *graph;
    cnn_params *ps;
    float x[N * C * P];
} fixture;

static void open_fixture(fixture *f)
{
    memset(f, 0, sizeof *f);
    f->ctx = cnn_context_create();
    cr_assert_not_null(f->ctx);
    cr_assert_eq(cnn_graph_load_string(f->ctx, bn_yaml, sizeof bn_yaml - 1,
                                       "bn_tiny.yaml", &f->graph),
                 CNN_OK, "%s", cnn_context_message(f->ctx));
    cr_assert_eq(cnn_params_create(f->ctx, f->graph, &f->ps), CNN_OK, "%s",
                 cnn_context_message(f->ctx));
    cnn_params_init(f->ps, 5);
    cr_assert_eq(cnn_params_count(f->ps), 6u);
    cr_assert_str_eq(cnn_params_name(f->ps, RM), "bn.running_mean");
    cr_assert_str_eq(cnn_params_name(f->ps, RV), "bn.running_var");
    /* A different mean and spread per channel. */
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < P; p++)
                f->x[(n * C + c) * P + p] =
                    (float)(c + 1) * (float)((n * P + p) % 5 - 2) * 0.5f +
                    (float)c;
}

static void close_fixture(fixture *f)
{
    cnn_params_destroy(f->ps);
    cnn_graph_destroy(f->graph);
    cnn_context_destroy(f->ctx);
}

static float *value(fixture *f, size_t i)
{
    return cnn_params_value(f->ps, i)->data;
}

Test(state_params, not_trainable_and_counted_as_such)
{
    fixture f;
    open_fixture(&f);
    cr_expect_eq(cnn_params_trainable(f.ps, W), 1);
    cr_expect_eq(cnn_params_trainable(f.ps, B), 1);
    cr_expect_eq(cnn_params_trainable(f.ps, RM), 0);
    cr_expect_eq(cnn_params_trainable(f.ps, RV), 0);
    cr_expect_eq(cnn_params_trainable(f.ps, FW), 1);
    cr_expect(cnn_params_spec(f.ps, RM)->flags & CNN_PARAM_STATE);
    /* bn: 4 x 3, of which 2 x 3 trained; fc: 12 x 2 + 2. */
    cr_expect_eq(cnn_graph_param_count(f.graph), 12u + 26u);
    cr_expect_eq(cnn_graph_trainable_param_count(f.graph), 6u + 26u);
    for (int c = 0; c < C; c++) {
        cr_expect_eq(value(&f, W)[c], 1.0f);
        cr_expect_eq(value(&f, B)[c], 0.0f);
        cr_expect_eq(value(&f, RM)[c], 0.0f);
        cr_expect_eq(value(&f, RV)[c], 1.0f);
    }
    close_fixture(&f);
}

/* Gradients of 1 everywhere and weight decay: a slot for a running
 * statistic would move it. */
static void optimiser_leaves_state(cnn_optim_kind kind)
{
    fixture f;
    cnn_optim *o;
    cnn_optim_config cfg = {kind, 0.9, 0, 0.1, 0, 0, 0};
    open_fixture(&f);
    cr_assert_eq(cnn_optim_create(f.ctx, f.ps, &cfg, &o), CNN_OK);
    for (size_t i = 0; i < cnn_params_numel(f.ps); i++)
        cnn_params_grad_data(f.ps)[i] = 1.0f;
    for (size_t k = 0; k < cnn_optim_state_count(o); k++)
        cr_expect(strstr(cnn_optim_state(o, k)->name, "running") == NULL,
                  "optimiser state '%s' for a running statistic",
                  cnn_optim_state(o, k)->name);
    cr_expect_eq(cnn_optim_state_count(o), kind == CNN_OPTIM_ADAM ? 8u : 4u);
    cnn_optim_step(o, 0.1);
    cnn_optim_step(o, 0.1);
    for (int c = 0; c < C; c++) {
        cr_expect_eq(value(&f, RM)[c], 0.0f, "running_mean moved");
        cr_expect_eq(value(&f, RV)[c], 1.0f, "running_var moved");
        cr_expect_neq(value(&f, W)[c], 1.0f, "weight did not move");
    }
    cnn_optim_destroy(o);
    close_fixture(&f);
}

Test(state_params, sgd_skips_state) { optimiser_leaves_state(CNN_OPTIM_SGD); }
Test(state_params, adam_skips_state) { optimiser_leaves_state(CNN_OPTIM_ADAM); }

static cnn_exec *training_exec(fixture *f)
{
    cnn_exec_options eo = {N, 1, -1, 0};
    cnn_exec *ex;
    cr_assert_eq(cnn_exec_create(f->ctx, f->graph, f->ps, &eo, &ex), CNN_OK,
                 "%s", cnn_context_message(f->ctx));
    return ex;
}

static cnn_tensor input(fixture *f)
{
    cnn_tensor t;
    t.shape = cnn_shape4(N, C, 2, 2);
    t.data = f->x;
    return t;
}

Test(state_params, training_forward_updates_inference_does_not)
{
    fixture f;
    open_fixture(&f);
    cnn_exec *ex = training_exec(&f);
    cnn_tensor in = input(&f);
    cr_assert_eq(cnn_exec_forward(ex, &in, 0, 1, 0), CNN_OK);
    for (int c = 0; c < C; c++)
        cr_expect_eq(value(&f, RM)[c], 0.0f);
    cr_assert_eq(cnn_exec_forward(ex, &in, 1, 1, 0), CNN_OK, "%s",
                 cnn_context_message(f.ctx));
    for (int c = 0; c < C; c++) {
        double s = 0.0, ss = 0.0;
        for (int n = 0; n < N; n++)
            for (int p = 0; p < P; p++)
                s += f.x[(n * C + c) * P + p];
        double mean = s / (N * P);
        for (int n = 0; n < N; n++)
            for (int p = 0; p < P; p++) {
                double d = f.x[(n * C + c) * P + p] - mean;
                ss += d * d;
            }
        double rm = 0.1 * mean, rv = 0.9 + 0.1 * ss / (N * P - 1);
        cr_expect(fabs(value(&f, RM)[c] - rm) <= 1e-6 * fmax(1, fabs(rm)),
                  "channel %d: running_mean %g, want %g", c,
                  (double)value(&f, RM)[c], rm);
        cr_expect(fabs(value(&f, RV)[c] - rv) <= 1e-6 * fmax(1, rv),
                  "channel %d: running_var %g, want %g", c,
                  (double)value(&f, RV)[c], rv);
    }
    cnn_exec_destroy(ex);
    close_fixture(&f);
}

/* A frozen batch norm runs as in inference inside a training pass: the
 * running statistics normalise and stay bit-identical, backward leaves its
 * gradients alone and still reaches nothing below (it is the first layer),
 * while the trainable head gets its gradients. */
Test(state_params, frozen_layer_runs_in_inference_mode)
{
    fixture f;
    open_fixture(&f);
    /* Statistics far from the batch's, so the two modes differ. */
    for (int c = 0; c < C; c++) {
        value(&f, RM)[c] = 0.25f * (float)c;
        value(&f, RV)[c] = 2.0f + (float)c;
    }
    float rm0[C], rv0[C], want[N * C * P];
    memcpy(rm0, value(&f, RM), sizeof rm0);
    memcpy(rv0, value(&f, RV), sizeof rv0);
    cr_assert_eq(cnn_graph_set_trainable(f.ctx, f.graph, "bn", 0), CNN_OK);
    cnn_exec *ex = training_exec(&f);
    cnn_tensor in = input(&f);

    cr_assert_eq(cnn_exec_forward(ex, &in, 0, 1, 0), CNN_OK);
    memcpy(want, cnn_exec_output(ex, 0)->data, sizeof want);
    cr_assert_eq(cnn_exec_forward(ex, &in, 1, 1, 2), CNN_OK, "%s",
                 cnn_context_message(f.ctx));
    cr_expect(memcmp(want, cnn_exec_output(ex, 0)->data, sizeof want) == 0,
              "a frozen batch norm normalised with batch statistics");
    cr_expect(memcmp(rm0, value(&f, RM), sizeof rm0) == 0 &&
                  memcmp(rv0, value(&f, RV), sizeof rv0) == 0,
              "a frozen batch norm updated its running statistics");

    for (size_t i = 0; i < cnn_params_numel(f.ps); i++)
        cnn_params_grad_data(f.ps)[i] = 12345.0f;
    float dy[N * 2];
    for (int i = 0; i < N * 2; i++)
        dy[i] = 0.25f * (float)(i % 3) - 0.2f;
    cnn_tensor g = {cnn_shape2(N, 2), dy};
    cr_assert_eq(cnn_exec_backward(ex, &g, 2, 0), CNN_OK, "%s",
                 cnn_context_message(f.ctx));
    for (int c = 0; c < C; c++)
        cr_expect_eq(cnn_params_grad(f.ps, W)->data[c], 12345.0f,
                     "frozen bn.weight got a gradient");
    cr_expect_neq(cnn_params_grad(f.ps, FW)->data[0], 12345.0f,
                  "the trainable head got no gradient");

    /* Trainable again: batch statistics, and the running ones move. */
    cr_assert_eq(cnn_graph_set_trainable(f.ctx, f.graph, "bn", 1), CNN_OK);
    cnn_exec_destroy(ex);
    ex = training_exec(&f);
    cr_assert_eq(cnn_exec_forward(ex, &in, 1, 1, 2), CNN_OK);
    cr_expect(memcmp(want, cnn_exec_output(ex, 0)->data, sizeof want) != 0);
    cr_expect(memcmp(rm0, value(&f, RM), sizeof rm0) != 0);
    cnn_exec_destroy(ex);
    close_fixture(&f);
}
