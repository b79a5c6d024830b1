/* SPDX-License-Identifier: MIT */
/* The conformance suite: one parameterized test run over every plugin found
 * in the build tree (CNN_TEST_PLUGIN_ROOT/<type>/<type>.so), each loaded
 * through the real registry (cnn_plugin_get).
 *
 * For every plugin: descriptor invariants (conformance_desc.c). Then, for
 * each configuration of its type in the table below (hyperparameters as
 * "key=value" strings through cnn_hparams_from_settings; stride 2, padding,
 * non-square kernels and inputs, batch > 1, channels > 1):
 *   1. forward against the double-precision naive reference
 *      (reference.c) with the per-op tolerance of conformance_ops.h;
 *   2. forward again: bit-identical (and every element rewritten, since the
 *      harness NaN-fills outputs first);
 *   3. forward on a smaller batch with the same layer instance;
 *   4. backward: every input gradient and parameter gradient against the
 *      double-precision reference (analytic vs analytic, tight tolerance);
 *   5. backward again bit-identical; with the parameters frozen
 *      (param_grads == NULL) and with the input gradients unwanted (NULL
 *      data) the remaining gradients are unchanged;
 *   6. central finite differences of L = sum(r * y), r = dy random, on the
 *      float32 plugin itself, for every input and parameter (sampled when
 *      large), against the plugin's analytic gradients. FD runs the float32
 *      forward, so eps is large (1e-2) and the tolerance loose (1e-2
 *      relative plus 2e-3 of the tensor's largest gradient): the tight
 *      check is 4, this one proves forward and backward are consistent
 *      independently of the reference. Inputs stay clear of kinks: relu
 *      inputs have |x| >= 0.05, maxpool inputs are distinct and 0.05 apart,
 *      so a +-1e-2 step never crosses a kink or changes an argmax.
 * Canary bytes after every buffer the plugin writes, read-only inputs and
 * the env->workspace / env->parallel_for services are checked by harness.c.
 *
 * A plugin type without configurations here still gets the descriptor
 * checks and, when it has no required hyperparameters, a forward/backward
 * smoke run with defaults on [2,3,8,8] inputs. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conformance_desc.h"
#include "conformance_ops.h"
#include "harness.h"

#define CF_FD_EPS 1e-2
#define CF_FD_RTOL 1e-2
#define CF_FD_ATOL_OF_MAX 2e-3
#define CF_FD_SAMPLES 96

enum cf_data {
    CF_UNIFORM,   /* inputs U(-2, 2) */
    CF_AWAY_ZERO, /* U(-2, 2) with |x| >= 0.05 (relu) */
    CF_DISTINCT,  /* all distinct, 0.05 apart (maxpool) */
    CF_TANH,      /* U(-2, 2) */
    CF_SIGMOID,   /* U(-3, 3) */
    CF_SHIFTED    /* U(-4, 4) + 100 (n mod 3 - 1) per sample: exp(104)
                     overflows and exp(-104) underflows float32, so softmax
                     must shift by the maximum */
};

typedef struct cf_config {
    const char *type;
    const char *label;
    const char *settings[6];
    uint32_t n_in;
    int64_t shapes[LH_MAX_INPUTS][4];
    int32_t rank;
    enum cf_data data;
    int training;
} cf_config;

#define S4(a, b, c, d) {a, b, c, d}
static const cf_config cf_configs[] = {
    {"conv", "3x3", {"filters=4", "kernel=3"}, 1, {S4(2, 3, 7, 7)}, 4,
     CF_UNIFORM, 0},
    {"conv", "stride 2, padding 1",
     {"filters=5", "kernel=3", "stride=2", "padding=1"}, 1, {S4(2, 3, 9, 9)},
     4, CF_UNIFORM, 0},
    {"conv", "non-square kernel, stride, padding and input",
     {"filters=3", "kernel=[3,5]", "stride=[2,1]", "padding=[1,2]"}, 1,
     {S4(2, 2, 8, 11)}, 4, CF_UNIFORM, 0},
    {"conv", "1x1", {"filters=6", "kernel=1"}, 1, {S4(3, 4, 5, 6)}, 4,
     CF_UNIFORM, 0},
    {"conv", "1x1 stride 2", {"filters=2", "kernel=1", "stride=2"}, 1,
     {S4(2, 3, 7, 6)}, 4, CF_UNIFORM, 0},
    {"conv", "no bias, batch 1",
     {"filters=2", "kernel=2", "stride=2", "bias=false"}, 1,
     {S4(1, 3, 6, 5)}, 4, CF_UNIFORM, 0},
    {"conv", "kernel as large as the padded input",
     {"filters=2", "kernel=5", "padding=1"}, 1, {S4(1, 2, 3, 3)}, 4,
     CF_UNIFORM, 0},
    {"conv", "many small images", {"filters=3", "kernel=3", "padding=1"}, 1,
     {S4(9, 2, 4, 4)}, 4, CF_UNIFORM, 0},
    {"conv", "stride 3, kernel 4x3, uneven",
     {"filters=4", "kernel=[4,3]", "stride=[3,2]", "padding=[0,1]"}, 1,
     {S4(2, 3, 11, 8)}, 4, CF_UNIFORM, 0},
    /* Large enough for the plugins' threaded passes (>= 2^15 floats) and
     * for conv's one-image-per-GEMM path (>= 1024 output pixels). */
    {"conv", "large output, threaded passes",
     {"filters=4", "kernel=3", "padding=1"}, 1, {S4(2, 8, 40, 36)}, 4,
     CF_UNIFORM, 0},
    {"conv", "8 images per GEMM, threaded passes",
     {"filters=5", "kernel=3", "stride=1", "padding=1"}, 1,
     {S4(8, 4, 12, 12)}, 4, CF_UNIFORM, 0},

    {"maxpool", "2x2", {"size=2"}, 1, {S4(2, 3, 8, 8)}, 4, CF_DISTINCT, 0},
    {"maxpool", "3x3 stride 2 padding 1",
     {"size=3", "stride=2", "padding=1"}, 1, {S4(2, 2, 9, 7)}, 4, CF_DISTINCT,
     0},
    {"maxpool", "non-square, overlapping",
     {"size=[3,2]", "stride=[2,1]", "padding=[1,0]"}, 1, {S4(1, 3, 7, 10)},
     4, CF_DISTINCT, 0},
    {"maxpool", "odd input, floor", {"size=2"}, 1, {S4(3, 1, 7, 9)}, 4,
     CF_DISTINCT, 0},
    {"maxpool", "2x2 stride 1", {"size=2", "stride=1"}, 1, {S4(2, 2, 5, 6)},
     4, CF_DISTINCT, 0},
    {"maxpool", "large, threaded", {"size=3", "stride=2", "padding=1"}, 1,
     {S4(2, 8, 48, 45)}, 4, CF_DISTINCT, 0},

    {"avgpool", "2x2", {"size=2"}, 1, {S4(2, 3, 8, 8)}, 4, CF_UNIFORM, 0},
    {"avgpool", "3x3 stride 2 padding 1",
     {"size=3", "stride=2", "padding=1"}, 1, {S4(2, 2, 9, 7)}, 4, CF_UNIFORM,
     0},
    {"avgpool", "non-square, overlapping",
     {"size=[3,2]", "stride=[2,1]", "padding=[1,0]"}, 1, {S4(1, 3, 7, 10)},
     4, CF_UNIFORM, 0},
    {"avgpool", "odd input, floor", {"size=2"}, 1, {S4(3, 1, 7, 9)}, 4,
     CF_UNIFORM, 0},
    {"avgpool", "large, threaded", {"size=3", "stride=2", "padding=1"}, 1,
     {S4(2, 8, 48, 45)}, 4, CF_UNIFORM, 0},

    {"dense", "rank 2", {"units=7"}, 1, {{4, 20}}, 2, CF_UNIFORM, 0},
    {"dense", "rank 4 input", {"units=5"}, 1, {S4(2, 3, 4, 4)}, 4, CF_UNIFORM,
     0},
    {"dense", "no bias", {"units=4", "bias=false"}, 1, {{3, 10}}, 2,
     CF_UNIFORM, 0},
    {"dense", "batch 1", {"units=3"}, 1, {{1, 12}}, 2, CF_UNIFORM, 0},

    {"softmax", "rank 2, shifted rows", {NULL}, 1, {{6, 10}}, 2, CF_SHIFTED,
     0},
    {"softmax", "rank 4, per pixel", {NULL}, 1, {S4(2, 5, 3, 4)}, 4,
     CF_UNIFORM, 0},
    {"softmax", "one class", {NULL}, 1, {{3, 1}}, 2, CF_UNIFORM, 0},

    {"relu", "rank 4", {NULL}, 1, {S4(2, 3, 5, 4)}, 4, CF_AWAY_ZERO, 0},
    {"relu", "rank 2", {NULL}, 1, {{3, 7}}, 2, CF_AWAY_ZERO, 0},
    {"tanh", "rank 4", {NULL}, 1, {S4(2, 3, 5, 4)}, 4, CF_TANH, 0},
    {"sigmoid", "rank 4", {NULL}, 1, {S4(2, 3, 5, 4)}, 4, CF_SIGMOID, 0},
    {"tanh", "large, threaded, partial block", {NULL}, 1, {S4(2, 4, 65, 64)},
     4, CF_TANH, 0},
    {"sigmoid", "large, threaded, partial block", {NULL}, 1,
     {S4(2, 4, 65, 64)}, 4, CF_SIGMOID, 0},
    {"relu", "large", {NULL}, 1, {S4(2, 4, 65, 64)}, 4, CF_AWAY_ZERO, 0},
    {"flatten", "rank 4", {NULL}, 1, {S4(2, 3, 4, 5)}, 4, CF_UNIFORM, 0},
    {"flatten", "rank 2", {NULL}, 1, {{3, 7}}, 2, CF_UNIFORM, 0},
    {"dropout", "inference", {"rate=0.5"}, 1, {S4(2, 3, 4, 4)}, 4, CF_UNIFORM,
     0},
    {"dropout", "training, rate 0.3", {"rate=0.3"}, 1, {S4(2, 3, 8, 8)}, 4,
     CF_UNIFORM, 1},
    {"dropout", "training, rate 0", {"rate=0"}, 1, {S4(2, 3, 4, 4)}, 4,
     CF_UNIFORM, 1},

    {"add", "two inputs", {NULL}, 2, {S4(2, 3, 4, 5), S4(2, 3, 4, 5)}, 4,
     CF_UNIFORM, 0},
    {"add", "three inputs", {NULL}, 3,
     {S4(2, 4, 3, 3), S4(2, 4, 3, 3), S4(2, 4, 3, 3)}, 4, CF_UNIFORM, 0},
    {"concat", "two inputs", {NULL}, 2, {S4(2, 3, 4, 5), S4(2, 2, 4, 5)}, 4,
     CF_UNIFORM, 0},
    {"concat", "three inputs", {NULL}, 3,
     {S4(2, 1, 3, 3), S4(2, 4, 3, 3), S4(2, 2, 3, 3)}, 4, CF_UNIFORM, 0},
    {"concat", "rank 2", {NULL}, 2, {{3, 4}, {3, 6}}, 2, CF_UNIFORM, 0},
};
#define CF_N_CONFIGS (sizeof cf_configs / sizeof cf_configs[0])

static size_t cf_n_settings(const cf_config *c)
{
    size_t n = 0;
    while (n < 6 && c->settings[n])
        n++;
    return n;
}

static void cf_fill_inputs(lh_layer *L, const cf_config *c, lh_rng *rng)
{
    for (uint32_t i = 0; i < L->n_in; i++) {
        float *x = L->x[i].data;
        size_t n = L->x[i].n;
        switch (c->data) {
        case CF_AWAY_ZERO: lh_fill_away_from_zero(rng, x, n, -2, 2, 0.05); break;
        case CF_DISTINCT: lh_fill_distinct(rng, x, n, 0.05); break;
        case CF_TANH: lh_fill_uniform(rng, x, n, -2, 2); break;
        case CF_SIGMOID: lh_fill_uniform(rng, x, n, -3, 3); break;
        case CF_SHIFTED: {
            size_t per = n / (size_t)L->in_shapes[i].dims[0];
            lh_fill_uniform(rng, x, n, -4, 4);
            for (size_t k = 0; k < n; k++)
                x[k] += (float)(100.0 * (double)((int)((k / per) % 3) - 1));
            break;
        }
        default: lh_fill_uniform(rng, x, n, -2, 2); break;
        }
    }
    for (uint32_t j = 0; j < L->n_params; j++)
        lh_fill_uniform(rng, L->p[j].data, L->p[j].n, -1, 1);
    lh_fill_uniform(rng, L->dy.data, L->dy.n, -1, 1);
}

/* got vs expected under the op's tolerance; reports the worst element. */
static void cf_check(const cf_config *c, const char *what, const float *got,
                     const cf_expect *e)
{
    size_t bad = 0, worst = 0;
    double worst_ratio = -1.0;
    for (size_t i = 0; i < e->n; i++) {
        double d = fabs((double)got[i] - e->ref[i]);
        double tol = e->rtol * e->mag[i];
        if (!(d <= tol)) {
            bad++;
            double ratio = tol > 0 ? d / tol : INFINITY;
            if (isnan(ratio) || ratio > worst_ratio) {
                worst_ratio = isnan(ratio) ? INFINITY : ratio;
                worst = i;
            }
        }
    }
    cr_expect(bad == 0,
              "%s [%s]: %s: %zu of %zu elements off the double reference; "
              "worst [%zu]: got %.9g, want %.9g (tolerance %.3g = %.3g * "
              "%.3g)",
              c->type, c->label, what, bad, e->n, worst,
              bad ? (double)got[worst] : 0.0, bad ? e->ref[worst] : 0.0,
              bad ? e->rtol * e->mag[worst] : 0.0, e->rtol,
              bad ? e->mag[worst] : 0.0);
}

/* Finite differences of L = sum(r y) over one float tensor t (an input or
 * a parameter of L), against the analytic gradient g. */
static void cf_fd_tensor(lh_layer *L, const cf_config *c, const char *what,
                         float *t, size_t n, const float *g)
{
    double gmax = 0.0;
    for (size_t i = 0; i < n; i++)
        gmax = fmax(gmax, fabs((double)g[i]));
    size_t samples = n < CF_FD_SAMPLES ? n : CF_FD_SAMPLES;
    size_t bad = 0, worst = 0;
    double worst_fd = 0.0, worst_excess = -1.0;
    for (size_t s = 0; s < samples; s++) {
        size_t i = samples == n ? s : s * n / samples;
        float keep = t[i];
        float hi = (float)((double)keep + CF_FD_EPS);
        float lo = (float)((double)keep - CF_FD_EPS);
        t[i] = hi;
        lh_forward(L, c->training, 11);
        double fhi = lh_linear_functional(L, L->dy.data);
        t[i] = lo;
        lh_forward(L, c->training, 11);
        double flo = lh_linear_functional(L, L->dy.data);
        t[i] = keep;
        /* Divide by the step actually taken after float rounding. */
        double fd = (fhi - flo) / ((double)hi - (double)lo);
        double a = g[i];
        double tol = CF_FD_RTOL * fabs(a) + CF_FD_ATOL_OF_MAX * fmax(1, gmax);
        double err = fabs(fd - a);
        if (!(err <= tol)) {
            bad++;
            if (err / tol > worst_excess) {
                worst_excess = err / tol;
                worst = i;
                worst_fd = fd;
            }
        }
    }
    cr_expect(bad == 0,
              "%s [%s]: %s: %zu of %zu sampled elements disagree with "
              "central finite differences (eps %g); worst [%zu]: analytic "
              "%.7g, finite difference %.7g",
              c->type, c->label, what, bad, samples, CF_FD_EPS, worst,
              bad ? (double)g[worst] : 0.0, worst_fd);
}

static float *cf_copy(const lh_buf *b)
{
    float *p = malloc((b->n ? b->n : 1) * sizeof *p);
    cr_assert_not_null(p);
    memcpy(p, b->data, b->n * sizeof *p);
    return p;
}

static int cf_same(const float *a, const lh_buf *b)
{
    return memcmp(a, b->data, b->n * sizeof(float)) == 0;
}

static void cf_check_specs(const lh_layer *L, const cf_config *c,
                           const cf_expected *E)
{
    cr_assert_eq(L->n_params, E->n_params,
                 "%s [%s]: declares %u parameter tensors, expected %u",
                 c->type, c->label, L->n_params, E->n_params);
    for (uint32_t j = 0; j < L->n_params; j++) {
        cr_expect_str_eq(L->specs[j].name, E->param_names[j],
                         "%s [%s]: parameter %u", c->type, c->label, j);
        cr_expect(cnn_shape_equal(&L->specs[j].shape, &E->param_shapes[j]),
                  "%s [%s]: parameter '%s' has the wrong (non-PyTorch) shape",
                  c->type, c->label, L->specs[j].name);
        const cnn_param_spec *s = &L->specs[j];
        cr_expect(s->init >= CNN_INIT_ZEROS &&
                      s->init <= CNN_INIT_FAN_IN_UNIFORM,
                  "%s [%s]: '%s' has init rule %d", c->type, c->label,
                  s->name, (int)s->init);
        if (s->init >= CNN_INIT_HE_NORMAL)
            cr_expect(s->fan_in >= 1 && s->fan_out >= 1,
                      "%s [%s]: '%s' fan_in %lld fan_out %lld", c->type,
                      c->label, s->name, (long long)s->fan_in,
                      (long long)s->fan_out);
        cr_expect_eq(s->flags & ~CNN_PARAM_NO_DECAY, 0u,
                     "%s [%s]: '%s' unknown flags", c->type, c->label,
                     s->name);
    }
    cr_expect(cnn_shape_equal(&L->out_shape, &E->out_shape),
              "%s [%s]: infer_shape gave rank %d [%lld,%lld,%lld,%lld]",
              c->type, c->label, (int)L->out_shape.rank,
              (long long)L->out_shape.dims[0], (long long)L->out_shape.dims[1],
              (long long)L->out_shape.dims[2],
              (long long)L->out_shape.dims[3]);
    if (L->desc->flops && E->flops)
        cr_expect_eq(L->desc->flops(L->hp, L->in_shapes, L->n_in,
                                    &L->out_shape),
                     E->flops, "%s [%s]: flops", c->type, c->label);
}

/* Forward with batch 1 on the same instance: the ABI lets the batch vary
 * after create. Compared with the reference's first sample. */
static void cf_check_small_batch(lh_layer *L, const cf_config *c,
                                 const cf_expected *E)
{
    if (L->in_shapes[0].dims[0] < 2)
        return;
    size_t per = L->y.n / (size_t)L->out_shape.dims[0];
    lh_buf out;
    lh_buf_alloc(&out, per);
    lh_buf_fill(&out, NAN);
    lh_forward_batch(L, c->training, 11, 1, out.data);
    cr_expect(lh_buf_canary_ok(&out),
              "%s [%s]: batch-1 forward wrote past its output", c->type,
              c->label);
    cf_expect first = E->y;
    first.n = per;
    cf_check(c, "forward with batch 1", out.data, &first);
    lh_buf_free(&out);
}

/* Workspace pressure: the host refuses the largest request the plugin made
 * (as when memory is short) but grants anything smaller. The plugin may
 * fail with CNN_ERR_NOMEM and a message, or fall back to a smaller
 * workspace (conv cuts its GEMMs into bands) and then must still be right. */
static void cf_workspace_pressure(lh_layer *L, const cf_config *c,
                                  const cf_expected *E)
{
    char what[96];
    lh_forward(L, c->training, 11);
    size_t fmax = L->host.last_ws_max;
    lh_backward(L, NULL, 1, c->training, 11);
    size_t bmax = L->host.last_ws_max;
    L->allow_nomem = 1;
    if (fmax > 1) {
        L->host.ws_limit = fmax - 1;
        lh_forward(L, c->training, 11);
        if (L->last_status == CNN_OK)
            cf_check(c, "forward with less workspace", L->y.data, &E->y);
        else
            cr_log_info("%s [%s]: forward refused with %zu floats: %s",
                        c->type, c->label, fmax - 1, L->err);
        L->host.ws_limit = 0;
    }
    if (bmax > 1) {
        L->host.ws_limit = 0;
        lh_forward(L, c->training, 11);
        L->host.ws_limit = bmax - 1;
        lh_backward(L, NULL, 1, c->training, 11);
        if (L->last_status == CNN_OK) {
            for (uint32_t i = 0; i < L->n_in; i++) {
                snprintf(what, sizeof what,
                         "input gradient %u with less workspace", i);
                cf_check(c, what, L->dx[i].data, &E->dx[i]);
            }
            for (uint32_t j = 0; j < L->n_params; j++) {
                snprintf(what, sizeof what, "gradient of %s with less "
                         "workspace", L->specs[j].name);
                cf_check(c, what, L->dp[j].data, &E->dp[j]);
            }
        } else {
            cr_log_info("%s [%s]: backward refused with %zu floats: %s",
                        c->type, c->label, bmax - 1, L->err);
        }
    }
    L->host.ws_limit = 0;
    L->allow_nomem = 0;
    L->last_status = CNN_OK;
}

static void cf_run_config(cnn_context *ctx, const cf_config *c, uint64_t seed)
{
    cnn_shape shapes[LH_MAX_INPUTS];
    for (uint32_t i = 0; i < c->n_in; i++)
        shapes[i] = cnn_shape_make(c->rank, c->shapes[i]);
    lh_layer L;
    lh_layer_open(&L, ctx, c->type, c->settings, cf_n_settings(c), shapes,
                  c->n_in);
    cf_expected E;
    cf_expected_shapes(&L, &E);
    cf_check_specs(&L, c, &E);
    lh_rng rng = {seed};
    cf_fill_inputs(&L, c, &rng);
    cf_expected_compute(&L, c->training, 11, &E);

    lh_forward(&L, c->training, 11);
    cf_check(c, "forward", L.y.data, &E.y);
    float *y1 = cf_copy(&L.y);
    lh_forward(&L, c->training, 11);
    cr_expect(cf_same(y1, &L.y), "%s [%s]: two forward passes differ",
              c->type, c->label);
    cf_check_small_batch(&L, c, &E);
    lh_forward(&L, c->training, 11);

    lh_backward(&L, NULL, 1, c->training, 11);
    float *dx1[LH_MAX_INPUTS], *dp1[LH_MAX_PARAMS];
    char what[96];
    for (uint32_t i = 0; i < L.n_in; i++) {
        snprintf(what, sizeof what, "input gradient %u", i);
        cf_check(c, what, L.dx[i].data, &E.dx[i]);
        dx1[i] = cf_copy(&L.dx[i]);
    }
    for (uint32_t j = 0; j < L.n_params; j++) {
        snprintf(what, sizeof what, "gradient of %s", L.specs[j].name);
        cf_check(c, what, L.dp[j].data, &E.dp[j]);
        dp1[j] = cf_copy(&L.dp[j]);
    }
    lh_backward(&L, NULL, 1, c->training, 11);
    for (uint32_t i = 0; i < L.n_in; i++)
        cr_expect(cf_same(dx1[i], &L.dx[i]),
                  "%s [%s]: two backward passes differ in dx%u", c->type,
                  c->label, i);
    for (uint32_t j = 0; j < L.n_params; j++)
        cr_expect(cf_same(dp1[j], &L.dp[j]),
                  "%s [%s]: two backward passes differ in d%s", c->type,
                  c->label, L.specs[j].name);
    if (L.n_params) {
        lh_backward(&L, NULL, 0, c->training, 11); /* frozen */
        for (uint32_t i = 0; i < L.n_in; i++)
            cr_expect(cf_same(dx1[i], &L.dx[i]),
                      "%s [%s]: dx%u changes when the layer is frozen",
                      c->type, c->label, i);
    }
    int none[LH_MAX_INPUTS] = {0};
    lh_backward(&L, none, 1, c->training, 11); /* no input gradient wanted */
    for (uint32_t j = 0; j < L.n_params; j++)
        cr_expect(cf_same(dp1[j], &L.dp[j]),
                  "%s [%s]: d%s changes when dx is not wanted", c->type,
                  c->label, L.specs[j].name);

    cf_workspace_pressure(&L, c, &E);

    for (uint32_t i = 0; i < L.n_in; i++) {
        snprintf(what, sizeof what, "input %u", i);
        cf_fd_tensor(&L, c, what, L.x[i].data, L.x[i].n, dx1[i]);
        free(dx1[i]);
    }
    for (uint32_t j = 0; j < L.n_params; j++) {
        cf_fd_tensor(&L, c, L.specs[j].name, L.p[j].data, L.p[j].n, dp1[j]);
        free(dp1[j]);
    }
    free(y1);
    cf_expected_free(&E);
    lh_layer_close(&L);
}

/* Dropout in training: the mask follows the seed, ~rate of the elements
 * are dropped, another seed gives another mask. */
static void cf_dropout_statistics(cnn_context *ctx)
{
    const char *set[] = {"rate=0.25"};
    cnn_shape s = cnn_shape4(4, 8, 16, 16);
    lh_layer L;
    lh_layer_open(&L, ctx, "dropout", set, 1, &s, 1);
    lh_fill_uniform(&(lh_rng){5}, L.x[0].data, L.x[0].n, 0.5, 1.5);
    lh_forward(&L, 1, 100);
    size_t zeros = 0;
    for (size_t i = 0; i < L.y.n; i++)
        zeros += L.y.data[i] == 0.0f;
    double n = (double)L.y.n, sd = sqrt(n * 0.25 * 0.75);
    cr_expect(fabs((double)zeros - 0.25 * n) < 6 * sd,
              "dropout rate 0.25 dropped %zu of %.0f", zeros, n);
    float *a = cf_copy(&L.y);
    lh_forward(&L, 1, 101);
    cr_expect(!cf_same(a, &L.y), "dropout: seeds 100 and 101 give one mask");
    free(a);
    lh_layer_close(&L);
}

static void cf_smoke(cnn_context *ctx, const cnn_layer_descriptor *d,
                     const char *type)
{
    for (uint32_t k = 0; k < d->n_hparams; k++)
        if (d->hparams[k].required)
            return; /* cannot guess a value */
    cnn_shape s[LH_MAX_INPUTS] = {{0}};
    uint32_t n_in = d->min_inputs < LH_MAX_INPUTS ? d->min_inputs
                                                  : LH_MAX_INPUTS;
    for (uint32_t i = 0; i < n_in; i++)
        s[i] = cnn_shape4(2, 3, 8, 8);
    lh_layer L;
    lh_layer_open(&L, ctx, type, NULL, 0, s, n_in);
    lh_rng rng = {99};
    for (uint32_t i = 0; i < n_in; i++)
        lh_fill_uniform(&rng, L.x[i].data, L.x[i].n, -2, 2);
    for (uint32_t j = 0; j < L.n_params; j++)
        lh_fill_uniform(&rng, L.p[j].data, L.p[j].n, -1, 1);
    lh_fill_uniform(&rng, L.dy.data, L.dy.n, -1, 1);
    lh_forward(&L, 0, 3);
    float *y1 = cf_copy(&L.y);
    lh_forward(&L, 0, 3);
    cr_expect(cf_same(y1, &L.y), "%s: two forward passes differ", type);
    for (size_t i = 0; i < L.y.n; i++)
        cr_expect(isfinite(L.y.data[i]), "%s: y[%zu] not finite", type, i);
    lh_backward(&L, NULL, 1, 0, 3);
    free(y1);
    lh_layer_close(&L);
}

/* ---- The plugin list ---------------------------------------------------- */

typedef struct cf_plugin_param {
    char type[CNN_NAME_MAX];
} cf_plugin_param;

/* Types with a built <root>/<type>/<type>.so, in name order. */
static size_t cf_discover(cf_plugin_param *out, size_t capacity)
{
    DIR *dir = opendir(CNN_TEST_PLUGIN_ROOT);
    if (!dir)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL && n < capacity) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= CNN_NAME_MAX)
            continue;
        char path[1024];
        struct stat st;
        int len = snprintf(path, sizeof path, "%s/%s/%s.so",
                           CNN_TEST_PLUGIN_ROOT, e->d_name, e->d_name);
        if (len < 0 || (size_t)len >= sizeof path || stat(path, &st) != 0)
            continue;
        strcpy(out[n++].type, e->d_name);
    }
    closedir(dir);
    for (size_t i = 1; i < n; i++) /* insertion sort: stable test order */
        for (size_t j = i; j > 0 && strcmp(out[j - 1].type, out[j].type) > 0;
             j--) {
            cf_plugin_param t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

#define CF_MAX_PLUGINS 64
static cf_plugin_param cf_found[CF_MAX_PLUGINS];

ParameterizedTestParameters(conformance, plugin)
{
    size_t n = cf_discover(cf_found, CF_MAX_PLUGINS);
    return cr_make_param_array(cf_plugin_param, cf_found, n);
}

ParameterizedTest(cf_plugin_param *p, conformance, plugin, .timeout = 300)
{
    cnn_context *ctx = lh_context();
    const cnn_plugin *plugin = NULL;
    cr_assert_eq(cnn_plugin_get(ctx, p->type, &plugin), CNN_OK,
                 "cnn_plugin_get(%s): %s", p->type, cnn_context_message(ctx));
    const char *path = cnn_plugin_path(plugin);
    char want[1024];
    snprintf(want, sizeof want, "%s/%s/%s.so", CNN_TEST_PLUGIN_ROOT, p->type,
             p->type);
    cr_expect(path && strcmp(path, want) == 0,
              "%s: the registry loaded %s, expected %s", p->type,
              path ? path : "(null)", want);
    const cnn_layer_descriptor *d = cnn_plugin_descriptor(plugin);
    cf_check_descriptor(ctx, plugin, d, p->type);
    size_t ran = 0;
    for (size_t i = 0; i < CF_N_CONFIGS; i++) {
        if (strcmp(cf_configs[i].type, p->type) != 0)
            continue;
        cf_run_config(ctx, &cf_configs[i], 1000 + i);
        ran++;
    }
    if (strcmp(p->type, "dropout") == 0)
        cf_dropout_statistics(ctx);
    if (ran == 0) {
        cr_log_warn("%s: no configurations in the table; smoke run only",
                    p->type);
        cf_smoke(ctx, d, p->type);
    } else {
        cr_expect(cf_type_known(p->type));
    }
    cnn_context_destroy(ctx);
}

/* The layer types the project ships must all be built and found. */
Test(conformance, builtin_plugins_are_built)
{
    static const char *const expected[] = {
        "conv",    "maxpool", "avgpool", "dense", "softmax", "relu", "tanh",
        "sigmoid", "flatten", "dropout", "add",   "concat",  NULL};
    cf_plugin_param found[CF_MAX_PLUGINS];
    size_t n = cf_discover(found, CF_MAX_PLUGINS);
    for (size_t k = 0; expected[k]; k++) {
        int ok = 0;
        for (size_t i = 0; i < n; i++)
            ok |= strcmp(found[i].type, expected[k]) == 0;
        cr_expect(ok, "plugin '%s' is not built under %s", expected[k],
                  CNN_TEST_PLUGIN_ROOT);
    }
}

typedef struct cf_scan_result {
    cf_plugin_param seen[CF_MAX_PLUGINS];
    size_t n;
    size_t failures;
} cf_scan_result;

static void cf_scan_cb(void *user, const char *type, const char *path,
                       const cnn_plugin *plugin, const char *message)
{
    cf_scan_result *r = user;
    (void)path;
    if (!plugin) {
        cr_log_error("scan: %s failed to load: %s", type ? type : "?",
                     message ? message : "");
        r->failures++;
        return;
    }
    if (r->n < CF_MAX_PLUGINS && strlen(type) < CNN_NAME_MAX)
        strcpy(r->seen[r->n++].type, type);
}

/* The registry's own scan of the default (build-tree) directories reports
 * every plugin this suite found on disk, loaded. */
Test(conformance, registry_scan_agrees)
{
    cnn_context *ctx = cnn_context_create();
    cr_assert_not_null(ctx);
    cf_scan_result r;
    memset(&r, 0, sizeof r);
    cr_assert_eq(cnn_plugin_scan(ctx, cf_scan_cb, &r), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cf_plugin_param found[CF_MAX_PLUGINS];
    size_t n = cf_discover(found, CF_MAX_PLUGINS);
    cr_expect(n > 0, "no plugin under %s", CNN_TEST_PLUGIN_ROOT);
    cr_expect_eq(r.failures, 0u, "the scan failed to load some plugins");
    for (size_t i = 0; i < n; i++) {
        int ok = 0;
        for (size_t k = 0; k < r.n; k++)
            ok |= strcmp(r.seen[k].type, found[i].type) == 0;
        cr_expect(ok, "cnn_plugin_scan did not report '%s'", found[i].type);
    }
    cnn_context_destroy(ctx);
}

/* Every configuration names a type the suite knows how to check. */
Test(conformance, config_table_sane)
{
    for (size_t i = 0; i < CF_N_CONFIGS; i++) {
        cr_expect(cf_type_known(cf_configs[i].type), "config %zu: %s", i,
                  cf_configs[i].type);
        cr_expect(cf_configs[i].n_in >= 1 &&
                  cf_configs[i].n_in <= LH_MAX_INPUTS);
    }
}
