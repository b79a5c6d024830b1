/* SPDX-License-Identifier: MIT */
/* The conformance suite, run over every plugin found in the build tree
 * (CNN_TEST_PLUGIN_ROOT/<type>/<type>.so), each loaded through the real
 * registry (cnn_plugin_get): one named test per shipped layer type (a
 * missing plugin fails its test) and one more for any other plugin built.
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
 *      Running statistics (CNN_PARAM_STATE, batch norm) have no gradient:
 *      their gradients must be exact zeros and they are not perturbed;
 *      instead their values after one forward are compared with the
 *      reference, and they start positive (one is a variance).
 * Canary bytes after every buffer the plugin writes, read-only inputs and
 * the env->workspace / env->parallel_for services are checked by harness.c.
 *
 * A plugin type without configurations here still gets the descriptor
 * checks and, when it has no required hyperparameters, a forward/backward
 * smoke run with defaults on [2,3,8,8] inputs. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cnn/graph.h"
#include "conformance_configs.h"
#include "conformance_desc.h"
#include "conformance_ops.h"
#include "harness.h"

#define CF_FD_EPS 1e-2
#define CF_FD_RTOL 1e-2
#define CF_FD_ATOL_OF_MAX 2e-3
#define CF_FD_SAMPLES 96

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
        case CF_SILU: lh_fill_uniform(rng, x, n, -8, 8); break;
        case CF_OFFSET: lh_fill_uniform(rng, x, n, 298, 302); break;
        case CF_SHIFTED: {
            size_t per = n / (size_t)L->in_shapes[i].dims[0];
            lh_fill_uniform(rng, x, n, -4, 4);
            for (size_t k = 0; k < n; k++)
                x[k] += (float)(100.0 * (double)((int)((k / per) % 3) - 1));
            break;
        }
        case CF_KINKS: {
            static const double kinks[] = {-3, -2.5, -1, 0, 1.5,
                                           2.5,  3,   6};
            for (size_t k = 0; k < n; k++) {
                double v;
                int near;
                do {
                    v = -8 + 16 * lh_rng_uniform(rng);
                    near = 0;
                    for (size_t q = 0; q < sizeof kinks / sizeof *kinks; q++)
                        near |= fabs(v - kinks[q]) < 0.05;
                } while (near);
                x[k] = (float)v;
            }
            break;
        }
        default: lh_fill_uniform(rng, x, n, -2, 2); break;
        }
    }
    /* Running statistics (CNN_PARAM_STATE) positive: one may be a
     * variance. */
    for (uint32_t j = 0; j < L->n_params; j++)
        if (L->specs[j].flags & CNN_PARAM_STATE)
            lh_fill_uniform(rng, L->p[j].data, L->p[j].n, 0.5, 1.5);
        else
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
                      s->init <= CNN_INIT_CONSTANT,
                  "%s [%s]: '%s' has init rule %d", c->type, c->label,
                  s->name, (int)s->init);
        if (s->init >= CNN_INIT_HE_NORMAL)
            cr_expect(s->fan_in >= 1 && s->fan_out >= 1,
                      "%s [%s]: '%s' fan_in %lld fan_out %lld", c->type,
                      c->label, s->name, (long long)s->fan_in,
                      (long long)s->fan_out);
        cr_expect_eq(s->flags & ~(CNN_PARAM_NO_DECAY | CNN_PARAM_STATE), 0u,
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
    if (L->in_shapes[0].dims[0] < 2 || E->batch1_skip)
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
    if (E->y_batch1.n)
        first = E->y_batch1; /* batch statistics of sample 0 alone */
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

/* ABI 1.3's memory promises, checked by doing what they allow and
 * requiring the same bits. IN_PLACE: forward over its own input, backward
 * with dx over dy and the input poisoned (it must not be read).
 * BACKWARD_IGNORES_OUTPUT: backward with the saved output poisoned. */
static float *cf_filled(size_t n, const float *from)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    cr_assert_not_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = from ? from[i] : NAN;
    return p;
}

static void cf_backward_with(lh_layer *L, const cf_config *c, float *const *in,
                             const float *y, const float *dy, float *const *dx,
                             float *const *dp)
{
    cnn_tensor ti[LH_MAX_INPUTS], tp[LH_MAX_PARAMS], tdx[LH_MAX_INPUTS],
        tdp[LH_MAX_PARAMS], ty = {L->out_shape, (float *)y},
        tdy = {L->out_shape, (float *)dy};
    cnn_backward_args a;
    cnn_errbuf eb = {L->err, sizeof L->err};
    for (uint32_t i = 0; i < L->n_in; i++) {
        ti[i] = (cnn_tensor){L->in_shapes[i], in[i]};
        tdx[i] = (cnn_tensor){L->in_shapes[i], dx[i]};
    }
    for (uint32_t j = 0; j < L->n_params; j++) {
        tp[j] = (cnn_tensor){L->specs[j].shape, L->p[j].data};
        tdp[j] = (cnn_tensor){L->specs[j].shape, dp[j]};
    }
    memset(&a, 0, sizeof a);
    a.inputs = ti;
    a.n_inputs = L->n_in;
    a.output = &ty;
    a.output_grad = &tdy;
    a.input_grads = tdx;
    a.params = L->n_params ? tp : NULL;
    a.n_params = L->n_params;
    a.param_grads = L->n_params ? tdp : NULL;
    a.training = c->training;
    a.seed = 11;
    a.env = &L->host.env;
    cr_assert_eq(L->desc->backward(&L->layer, &a, &eb), CNN_OK, "%s [%s]: %s", c->type,
                 c->label, L->err);
    cr_assert(lh_host_end_hook(&L->host));
}

static void cf_check_memory_promises(lh_layer *L, const cf_config *c, float *const *dx1,
                                     float *const *dp1)
{
    uint32_t flags = L->desc->flags;
    size_t ny = cnn_shape_numel(&L->out_shape);
    float *in[LH_MAX_INPUTS], *dx[LH_MAX_INPUTS], *dp[LH_MAX_PARAMS];
    if (!(flags & (CNN_LAYER_FLAG_IN_PLACE | CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT)))
        return;
    lh_forward(L, c->training, 11); /* L->y: the separate-buffer result */
    for (uint32_t j = 0; j < L->n_params; j++)
        dp[j] = cf_filled(L->p[j].n, NULL);
    if (flags & CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT) {
        float *poison = cf_filled(ny, NULL);
        for (uint32_t i = 0; i < L->n_in; i++) {
            in[i] = L->x[i].data;
            dx[i] = cf_filled(L->x[i].n, NULL);
        }
        cf_backward_with(L, c, in, poison, L->dy.data, dx, dp);
        for (uint32_t i = 0; i < L->n_in; i++) {
            cr_expect(memcmp(dx[i], dx1[i], L->x[i].n * sizeof(float)) == 0,
                      "%s [%s]: declares BACKWARD_IGNORES_OUTPUT but dx%u depends on "
                      "the output",
                      c->type, c->label, i);
            free(dx[i]);
        }
        for (uint32_t j = 0; j < L->n_params; j++)
            cr_expect(memcmp(dp[j], dp1[j], L->p[j].n * sizeof(float)) == 0,
                      "%s [%s]: declares BACKWARD_IGNORES_OUTPUT but d%s depends on "
                      "the output",
                      c->type, c->label, L->specs[j].name);
        free(poison);
    }
    if (flags & CNN_LAYER_FLAG_IN_PLACE) {
        cnn_tensor t[1];
        cnn_forward_args a;
        cnn_errbuf eb = {L->err, sizeof L->err};
        cr_assert_eq(L->n_in, 1);
        cr_assert_eq(L->x[0].n, ny, "%s: in place but %zu inputs for %zu outputs",
                     c->type, L->x[0].n, ny);
        float *buf = cf_filled(ny, L->x[0].data);
        cnn_tensor out = {L->out_shape, buf};
        t[0] = (cnn_tensor){L->in_shapes[0], buf};
        memset(&a, 0, sizeof a);
        a.inputs = t;
        a.n_inputs = 1;
        a.output = &out;
        a.training = c->training;
        a.seed = 11;
        a.env = &L->host.env;
        cr_assert_eq(L->desc->forward(&L->layer, &a, &eb), CNN_OK, "%s", L->err);
        cr_assert(lh_host_end_hook(&L->host));
        cr_expect(memcmp(buf, L->y.data, ny * sizeof(float)) == 0,
                  "%s [%s]: forward in place differs", c->type, c->label);
        /* Backward: dx written over a copy of dy, the input poisoned. */
        float *poison = cf_filled(ny, NULL), *g = cf_filled(ny, L->dy.data);
        in[0] = poison;
        dx[0] = g;
        cf_backward_with(L, c, in, L->y.data, g, dx, dp);
        cr_expect(memcmp(g, dx1[0], ny * sizeof(float)) == 0,
                  "%s [%s]: backward with dx over dy, or without the input, differs",
                  c->type, c->label);
        free(poison);
        free(g);
        free(buf);
    }
    for (uint32_t j = 0; j < L->n_params; j++)
        free(dp[j]);
}

/* ABI 1.4's epilogue promises, checked by doing what they allow. A layer
 * accepting an epilogue must give, in inference mode, its own output with
 * the map applied (a random per-channel affine map and a clamp that cuts
 * both ends); a layer describing itself as one must give at inference
 * exactly the map of its input. */
static void cf_apply_map(const cnn_epilogue *ep, const cnn_shape *s, float *y)
{
    size_t n = cnn_shape_numel(s), planes = (size_t)(s->dims[0] * s->dims[1]);
    size_t plane = planes ? n / planes : 0;
    for (size_t p = 0; p < planes; p++)
        cnn_epilogue_apply(ep, (int64_t)(p % (size_t)s->dims[1]), y + p * plane,
                           plane);
}

/* Forward in inference with an epilogue (or NULL) and a params token (or
 * 0) into y, as the host calls it. */
static void cf_forward_with(lh_layer *L, uint64_t token, const cnn_epilogue *ep,
                             float *y)
{
    cnn_tensor in[LH_MAX_INPUTS], params[LH_MAX_PARAMS];
    cnn_tensor out = {L->out_shape, y};
    cnn_forward_args a;
    cnn_errbuf eb = {L->err, sizeof L->err};
    for (uint32_t i = 0; i < L->n_in; i++)
        in[i] = (cnn_tensor){L->in_shapes[i], L->x[i].data};
    for (uint32_t j = 0; j < L->n_params; j++)
        params[j] = (cnn_tensor){L->specs[j].shape, L->p[j].data};
    memset(&a, 0, sizeof a);
    a.inputs = in;
    a.n_inputs = L->n_in;
    a.params = params;
    a.n_params = L->n_params;
    a.output = &out;
    a.seed = 11;
    a.env = &L->host.env;
    a.epilogue = ep;
    a.params_token = token;
    cr_assert_eq(L->desc->forward(&L->layer, &a, &eb), CNN_OK, "%s", L->err);
    cr_assert(lh_host_end_hook(&L->host));
}

/* Forward with a random per-channel map and a clamp cutting both ends
 * (and the params token, or 0) gives `plain`, the output without them,
 * with the map applied. */
static void cf_expect_mapped(lh_layer *L, const cf_config *c,
                             const float *plain, uint64_t token, lh_rng *rng,
                             const char *what)
{
    size_t ny = cnn_shape_numel(&L->out_shape);
    int64_t channels = L->out_shape.dims[1];
    float *scale = cf_filled((size_t)channels, NULL);
    float *shift = cf_filled((size_t)channels, NULL);
    cnn_epilogue ep = {channels, scale, shift, -0.3f, 0.8f, 1};
    for (int64_t k = 0; k < channels; k++) {
        scale[k] = (float)(lh_rng_uniform(rng) * 2.0 - 1.0);
        shift[k] = (float)(lh_rng_uniform(rng) - 0.5);
    }
    float *want = cf_filled(ny, plain), *got = cf_filled(ny, NULL);
    cf_apply_map(&ep, &L->out_shape, want);
    cf_forward_with(L, token, &ep, got);
    for (size_t i = 0; i < ny; i++)
        cr_assert(fabsf(got[i] - want[i]) <= 1e-5f * (1.0f + fabsf(want[i])),
                  "%s [%s]: %s gives %.9g at %zu, the output with the map "
                  "applied %.9g",
                  c->type, c->label, what, got[i], i, want[i]);
    free(want);
    free(got);
    free(scale);
    free(shift);
}

static void cf_check_epilogue(lh_layer *L, const cf_config *c, lh_rng *rng)
{
    size_t ny = cnn_shape_numel(&L->out_shape);
    int64_t channels = L->out_shape.rank >= 2 ? L->out_shape.dims[1] : 0;
    float *scale = cf_filled(channels ? (size_t)channels : 1, NULL);
    float *shift = cf_filled(channels ? (size_t)channels : 1, NULL);
    cnn_epilogue ep = {channels, scale, shift, -0.3f, 0.8f, 1};
    cnn_errbuf eb = {L->err, sizeof L->err};
    if (!channels || !ny)
        goto done;
    lh_forward(L, 0, 11); /* inference: the reference */
    if (L->desc->flags & CNN_LAYER_FLAG_ACCEPTS_EPILOGUE)
        cf_expect_mapped(L, c, L->y.data, 0, rng, "forward with an epilogue");
    if (L->desc->epilogue && L->n_in == 1 &&
        cnn_shape_equal(&L->in_shapes[0], &L->out_shape)) {
        cnn_tensor params[LH_MAX_PARAMS];
        for (uint32_t j = 0; j < L->n_params; j++)
            params[j] = (cnn_tensor){L->specs[j].shape, L->p[j].data};
        cnn_epilogue_identity(&ep);
        if (L->desc->epilogue(&L->layer, params, L->n_params, &ep, &eb) == CNN_OK) {
            float *mapped = cf_filled(ny, L->x[0].data);
            for (int64_t k = 0; k < channels; k++) /* as the host reads it */
                ep.affine |= scale[k] != 1.0f || shift[k] != 0.0f;
            cf_apply_map(&ep, &L->out_shape, mapped);
            for (size_t i = 0; i < ny; i++)
                cr_assert(fabsf(mapped[i] - L->y.data[i]) <=
                              1e-5f * (1.0f + fabsf(L->y.data[i])),
                          "%s [%s]: the epilogue it describes gives %.9g at %zu, "
                          "its inference forward %.9g",
                          c->type, c->label, mapped[i], i, L->y.data[i]);
            free(mapped);
        }
    }
done:
    free(scale);
    free(shift);
}

/* ABI 1.5's params_token: with one, a layer may keep data derived from
 * its parameters (conv's repacked filters) between calls. Checked by doing
 * what it allows: the output with a token is the reference's, again at a
 * second call, with an epilogue too; and a new token sees new values. */
static void cf_check_params_token(lh_layer *L, const cf_config *c,
                                  const cf_expected *E, lh_rng *rng)
{
    static uint64_t next_token = (uint64_t)1 << 40;
    size_t ny = cnn_shape_numel(&L->out_shape);
    int64_t channels = L->out_shape.rank >= 2 ? L->out_shape.dims[1] : 0;
    if (c->training || !ny || !L->n_params)
        return;
    uint64_t token = next_token++;
    float *got = cf_filled(ny, NULL);
    cf_forward_with(L, token, NULL, got);
    cf_check(c, "forward with a params token", got, &E->y);
    float *again = cf_filled(ny, NULL);
    cf_forward_with(L, token, NULL, again);
    cr_expect(memcmp(got, again, ny * sizeof *got) == 0,
              "%s [%s]: two forward passes with one params token differ",
              c->type, c->label);
    if (channels && (L->desc->flags & CNN_LAYER_FLAG_ACCEPTS_EPILOGUE))
        cf_expect_mapped(L, c, got, token, rng,
                         "forward with a params token and an epilogue");
    /* New values under a new token: the result follows them. */
    float *saved[LH_MAX_PARAMS];
    for (uint32_t j = 0; j < L->n_params; j++) {
        saved[j] = cf_filled(L->p[j].n, L->p[j].data);
        if (!(L->specs[j].flags & CNN_PARAM_STATE))
            for (size_t i = 0; i < L->p[j].n; i++)
                L->p[j].data[i] = L->p[j].data[i] * -0.5f + 0.01f;
    }
    /* The new token first: a call without one may drop what was kept. */
    cf_forward_with(L, next_token++, NULL, again);
    lh_forward(L, 0, 11); /* no token: the reference for the new values */
    for (size_t i = 0; i < ny; i++)
        cr_assert(fabsf(again[i] - L->y.data[i]) <= 1e-4f * (1.0f + fabsf(L->y.data[i])),
                  "%s [%s]: after the parameters changed, forward with a new "
                  "params token gives %.9g at %zu, without a token %.9g",
                  c->type, c->label, again[i], i, L->y.data[i]);
    for (uint32_t j = 0; j < L->n_params; j++) {
        memcpy(L->p[j].data, saved[j], L->p[j].n * sizeof(float));
        free(saved[j]);
    }
    free(got);
    free(again);
}

static void cf_run_config(cnn_context *ctx, const cf_config *c, uint64_t seed)
{
    cnn_shape shapes[LH_MAX_INPUTS];
    for (uint32_t i = 0; i < c->n_in; i++)
        shapes[i] = cnn_shape_make(c->rank, c->shapes[i]);
    lh_layer L;
    char what[96];
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
    for (uint32_t j = 0; j < L.n_params; j++)
        if (E.p_after[j].n) {
            snprintf(what, sizeof what, "%s after one forward",
                     L.specs[j].name);
            cf_check(c, what, L.p[j].data, &E.p_after[j]);
        }
    float *y1 = cf_copy(&L.y);
    lh_forward(&L, c->training, 11);
    cr_expect(cf_same(y1, &L.y), "%s [%s]: two forward passes differ",
              c->type, c->label);
    cf_check_small_batch(&L, c, &E);
    lh_forward(&L, c->training, 11);

    lh_backward(&L, NULL, 1, c->training, 11);
    float *dx1[LH_MAX_INPUTS], *dp1[LH_MAX_PARAMS];
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
    cf_check_memory_promises(&L, c, dx1, dp1);
    cf_check_epilogue(&L, c, &rng);
    cf_check_params_token(&L, c, &E, &rng);

    for (uint32_t i = 0; i < L.n_in; i++) {
        snprintf(what, sizeof what, "input %u", i);
        cf_fd_tensor(&L, c, what, L.x[i].data, L.x[i].n, dx1[i]);
        free(dx1[i]);
    }
    /* A running statistic has no gradient (checked to be zeros above),
     * even where the inference output depends on it. */
    for (uint32_t j = 0; j < L.n_params; j++) {
        if (!(L.specs[j].flags & CNN_PARAM_STATE))
            cf_fd_tensor(&L, c, L.specs[j].name, L.p[j].data, L.p[j].n,
                         dp1[j]);
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

typedef struct cf_plugin_name {
    char type[CNN_NAME_MAX];
} cf_plugin_name;

/* Types with a built <root>/<type>/<type>.so, in name order. */
static size_t cf_discover(cf_plugin_name *out, size_t capacity)
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
            cf_plugin_name t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

#define CF_MAX_PLUGINS 64

/* The layer types the project ships; each gets its own named test. */
static const char *const cf_builtin[] = {
    "conv",    "maxpool", "avgpool", "dense", "softmax", "relu",      "tanh",
    "sigmoid", "flatten", "dropout", "add",   "concat",  "batchnorm",
    "leakyrelu", "prelu", "relu6", "clip", "elu", "hardswish", "hardsigmoid",
    "identity", "globalavgpool", "globalmaxpool", "logsoftmax", "mul",
    "silu", "channel_shuffle", "slice", "gelu", "layernorm", NULL};

/* The whole suite for one plugin type. */
static void cf_conformance(const char *type)
{
    cnn_context *ctx = lh_context();
    const cnn_plugin *plugin = NULL;
    cr_assert_eq(cnn_plugin_get(ctx, type, &plugin), CNN_OK,
                 "cnn_plugin_get(%s): %s", type, cnn_context_message(ctx));
    const char *path = cnn_plugin_path(plugin);
    char want[1024];
    snprintf(want, sizeof want, "%s/%s/%s.so", CNN_TEST_PLUGIN_ROOT, type,
             type);
    cr_expect(path && strcmp(path, want) == 0,
              "%s: the registry loaded %s, expected %s", type,
              path ? path : "(null)", want);
    const cnn_layer_descriptor *d = cnn_plugin_descriptor(plugin);
    cf_check_descriptor(ctx, plugin, d, type);
    size_t ran = 0;
    for (size_t i = 0; i < cf_n_configs; i++) {
        if (strcmp(cf_configs[i].type, type) != 0)
            continue;
        cf_run_config(ctx, &cf_configs[i], 1000 + i);
        ran++;
    }
    if (strcmp(type, "dropout") == 0)
        cf_dropout_statistics(ctx);
    if (ran == 0) {
        cr_log_warn("%s: no configurations in the table; descriptor checks "
                    "and a smoke run only",
                    type);
        cf_smoke(ctx, d, type);
    }
    cnn_context_destroy(ctx);
}

Test(conformance, conv, .timeout = 300) { cf_conformance("conv"); }
Test(conformance, maxpool, .timeout = 300) { cf_conformance("maxpool"); }
Test(conformance, avgpool, .timeout = 300) { cf_conformance("avgpool"); }
Test(conformance, dense, .timeout = 300) { cf_conformance("dense"); }
Test(conformance, softmax, .timeout = 300) { cf_conformance("softmax"); }
Test(conformance, relu, .timeout = 300) { cf_conformance("relu"); }
Test(conformance, tanh, .timeout = 300) { cf_conformance("tanh"); }
Test(conformance, sigmoid, .timeout = 300) { cf_conformance("sigmoid"); }
Test(conformance, flatten, .timeout = 300) { cf_conformance("flatten"); }
Test(conformance, dropout, .timeout = 300) { cf_conformance("dropout"); }
Test(conformance, add, .timeout = 300) { cf_conformance("add"); }
Test(conformance, concat, .timeout = 300) { cf_conformance("concat"); }
Test(conformance, batchnorm, .timeout = 300) { cf_conformance("batchnorm"); }
Test(conformance, leakyrelu, .timeout = 300) { cf_conformance("leakyrelu"); }
Test(conformance, prelu, .timeout = 300) { cf_conformance("prelu"); }
Test(conformance, relu6, .timeout = 300) { cf_conformance("relu6"); }
Test(conformance, clip, .timeout = 300) { cf_conformance("clip"); }
Test(conformance, elu, .timeout = 300) { cf_conformance("elu"); }
Test(conformance, hardswish, .timeout = 300) { cf_conformance("hardswish"); }
Test(conformance, hardsigmoid, .timeout = 300)
{
    cf_conformance("hardsigmoid");
}
Test(conformance, identity, .timeout = 300) { cf_conformance("identity"); }
Test(conformance, globalavgpool, .timeout = 300)
{
    cf_conformance("globalavgpool");
}
Test(conformance, globalmaxpool, .timeout = 300)
{
    cf_conformance("globalmaxpool");
}
Test(conformance, logsoftmax, .timeout = 300)
{
    cf_conformance("logsoftmax");
}
Test(conformance, mul, .timeout = 300) { cf_conformance("mul"); }
Test(conformance, silu, .timeout = 300) { cf_conformance("silu"); }
Test(conformance, channel_shuffle, .timeout = 300)
{
    cf_conformance("channel_shuffle");
}
Test(conformance, slice, .timeout = 300) { cf_conformance("slice"); }
Test(conformance, gelu, .timeout = 300) { cf_conformance("gelu"); }
Test(conformance, layernorm, .timeout = 300) { cf_conformance("layernorm"); }

/* A graph whose one layer has a bad value is refused at load with
 * `status` and a message holding every one of the NULL-terminated words
 * (the layer's name, the values at fault). */
static void cf_expect_refused(const char *layer, cnn_status status, ...)
{
    char yaml[512];
    int len = snprintf(yaml, sizeof yaml,
                       "name: bad\ninput: [8, 3, 2]\nlayers:\n"
                       "  - %s\n",
                       layer);
    cr_assert(len > 0 && (size_t)len < sizeof yaml);
    cnn_context *ctx = lh_context();
    cnn_graph *g = NULL;
    cnn_status st =
        cnn_graph_load_string(ctx, yaml, (size_t)len, "bad.yaml", &g);
    const char *msg = cnn_context_message(ctx);
    cr_expect_eq(st, status, "%s: status %d, want %d: %s", layer, (int)st,
                 (int)status, msg);
    va_list ap;
    va_start(ap, status);
    for (const char *w; (w = va_arg(ap, const char *)) != NULL;)
        cr_expect(strstr(msg, w), "%s: the message lacks '%s': %s", layer, w,
                  msg);
    va_end(ap);
    if (st == CNN_OK)
        cnn_graph_destroy(g);
    cnn_context_destroy(ctx);
}

Test(conformance, channel_shuffle_refuses_bad_groups)
{
    cf_expect_refused("{name: shuf, type: channel_shuffle, groups: 3}",
                      CNN_ERR_SHAPE, "layer 'shuf'", "groups 3",
                      "8 channels", NULL);
    cf_expect_refused("{name: shuf, type: channel_shuffle, groups: 0}",
                      CNN_ERR_INVALID, "shuf", "groups", "minimum 1", NULL);
    cf_expect_refused("{name: shuf, type: channel_shuffle}", CNN_ERR_GRAPH,
                      "layer 'shuf'", "missing required key 'groups'", NULL);
    /* and a good one loads */
    cf_expect_refused("{name: shuf, type: channel_shuffle, groups: 4}",
                      CNN_OK, NULL);
}

Test(conformance, slice_refuses_bad_bounds)
{
    cf_expect_refused("{name: half, type: slice, start: 4, end: 9}",
                      CNN_ERR_SHAPE, "layer 'half'", "end 9", "8 channels",
                      NULL);
    cf_expect_refused("{name: half, type: slice, start: 5, end: 5}",
                      CNN_ERR_SHAPE, "layer 'half'", "start 5", "end 5",
                      NULL);
    cf_expect_refused("{name: half, type: slice, start: 6, end: 2}",
                      CNN_ERR_SHAPE, "layer 'half'", "start 6", "end 2",
                      NULL);
    cf_expect_refused("{name: half, type: slice, start: -1, end: 4}",
                      CNN_ERR_INVALID, "half", "start", "minimum 0", NULL);
    cf_expect_refused("{name: half, type: slice, start: 2}", CNN_ERR_GRAPH,
                      "layer 'half'", "missing required key 'end'", NULL);
    cf_expect_refused("{name: half, type: slice, start: 4, end: 8}", CNN_OK,
                      NULL);
}

Test(conformance, gelu_layernorm_refuse_bad_values)
{
    cf_expect_refused("{name: act, type: gelu, approximate: fast}",
                      CNN_ERR_INVALID, "act", "approximate", "\"fast\"",
                      "none, tanh", NULL);
    cf_expect_refused("{name: ln, type: layernorm, eps: 0}", CNN_ERR_INVALID,
                      "ln", "eps", "minimum", NULL);
    cf_expect_refused("{name: ln, type: layernorm, eps: -1e-5}",
                      CNN_ERR_INVALID, "ln", "eps", "minimum", NULL);
    cf_expect_refused("{name: ln, type: layernorm, affine: maybe}",
                      CNN_ERR_INVALID, "ln", "affine", NULL);
    /* and good ones load */
    cf_expect_refused("{name: act, type: gelu, approximate: tanh}", CNN_OK,
                      NULL);
    cf_expect_refused("{name: ln, type: layernorm, eps: 1e-6, affine: false}",
                      CNN_OK, NULL);
}

/* Every other plugin built in the tree (a new layer type, a third-party
 * one): descriptor checks and, without required hyperparameters, a smoke
 * run. Adding a folder under plugins/ is enough to be covered here. */
Test(conformance, every_other_built_plugin, .timeout = 300)
{
    cf_plugin_name found[CF_MAX_PLUGINS];
    size_t n = cf_discover(found, CF_MAX_PLUGINS);
    cr_assert(n > 0, "no plugin built under %s", CNN_TEST_PLUGIN_ROOT);
    for (size_t i = 0; i < n; i++) {
        int builtin = 0;
        for (size_t k = 0; cf_builtin[k]; k++)
            builtin |= strcmp(found[i].type, cf_builtin[k]) == 0;
        if (!builtin)
            cf_conformance(found[i].type);
    }
}

typedef struct cf_scan_result {
    cf_plugin_name seen[CF_MAX_PLUGINS];
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
    cf_plugin_name found[CF_MAX_PLUGINS];
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
    for (size_t i = 0; i < cf_n_configs; i++) {
        cr_expect(cf_type_known(cf_configs[i].type), "config %zu: %s", i,
                  cf_configs[i].type);
        cr_expect(cf_configs[i].n_in >= 1 &&
                  cf_configs[i].n_in <= LH_MAX_INPUTS);
    }
}
