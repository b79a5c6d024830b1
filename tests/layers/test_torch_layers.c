/* SPDX-License-Identifier: MIT */
/* Agreement with PyTorch: every case of tests/fixtures/layers/manifest.txt
 * (written by tests/fixtures/gen_layer_fixtures.py, the one source of truth
 * for inputs, weights and hyperparameters) is run through the real plugin
 * via the real registry and hyperparameter parser, in inference mode (in
 * training mode for cases marked @training), and its forward output, input
 * gradients and parameter gradients are compared with PyTorch's; for
 * training cases also the parameters after the forward pass (batch norm's
 * running statistics).
 *
 * Tolerance: elementwise |got - want| <= 1e-4 * max(1, |want|), i.e.
 * relative for values above 1 and absolute below. The fixtures are
 * PyTorch's float64 results rounded once to float32, so the whole budget
 * is the plugin's float32 error: at most a few hundred terms per sum here,
 * gamma_n * sum|terms| stays around 1e-5 of the values, a 10x margin. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/io.h"
#include "harness.h"

#define TT_RTOL 1e-4
#define TT_MAX_CASES 128

typedef struct tt_case {
    char name[64];
    char type[CNN_NAME_MAX];
    uint32_t n_inputs, n_params;
    char settings_buf[LH_MAX_SETTINGS][64];
    const char *settings[LH_MAX_SETTINGS];
    size_t n_settings;
    int training; /* the line ends with @training */
    int line;
} tt_case;

static const char *const tt_known_types[] = {
    "conv",    "maxpool", "avgpool", "dense", "softmax", "relu",      "tanh",
    "sigmoid", "flatten", "dropout", "add",   "concat",  "batchnorm",
    "leakyrelu", "prelu", "relu6", "clip", "elu", "hardswish", "hardsigmoid",
    "identity", "globalavgpool", "globalmaxpool", "logsoftmax", "mul",
    "silu", "channel_shuffle", "slice", "gelu", "layernorm", NULL};

/* Reads the manifest; asserts it is well formed. Returns the case count. */
static size_t tt_read_manifest(tt_case *cases, size_t capacity)
{
    const char *path = CNN_TEST_FIXTURES "/layers/manifest.txt";
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s (run gen_layer_fixtures.py)", path);
    char line[1024];
    size_t n = 0;
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        cr_assert(strchr(line, '\n') || feof(f), "%s:%d: line too long", path,
                  lineno);
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        cr_assert(n < capacity, "%s: more than %zu cases", path, capacity);
        tt_case *c = &cases[n++];
        memset(c, 0, sizeof *c);
        c->line = lineno;
        char *save = NULL;
        char *tok[4];
        for (int i = 0; i < 4; i++) {
            tok[i] = strtok_r(i ? NULL : line, " \t", &save);
            cr_assert_not_null(tok[i], "%s:%d: needs name, type, n_inputs, "
                               "n_params", path, lineno);
        }
        cr_assert(strlen(tok[0]) < sizeof c->name && strlen(tok[1]) <
                  sizeof c->type, "%s:%d: name too long", path, lineno);
        strcpy(c->name, tok[0]);
        strcpy(c->type, tok[1]);
        char *end;
        long ni = strtol(tok[2], &end, 10);
        cr_assert(*end == '\0' && ni >= 1 && ni <= LH_MAX_INPUTS,
                  "%s:%d: bad n_inputs '%s'", path, lineno, tok[2]);
        long np = strtol(tok[3], &end, 10);
        cr_assert(*end == '\0' && np >= 0 && np <= LH_MAX_PARAMS,
                  "%s:%d: bad n_params '%s'", path, lineno, tok[3]);
        c->n_inputs = (uint32_t)ni;
        c->n_params = (uint32_t)np;
        char *s;
        while ((s = strtok_r(NULL, " \t", &save)) != NULL) {
            if (s[0] == '@') {
                cr_assert(strcmp(s, "@training") == 0,
                          "%s:%d: unknown option '%s'", path, lineno, s);
                c->training = 1;
                continue;
            }
            cr_assert(c->n_settings < LH_MAX_SETTINGS &&
                      strlen(s) < sizeof c->settings_buf[0],
                      "%s:%d: too many or too long settings", path, lineno);
            strcpy(c->settings_buf[c->n_settings], s);
            c->settings[c->n_settings] = c->settings_buf[c->n_settings];
            c->n_settings++;
        }
    }
    fclose(f);
    return n;
}

static void tt_load(cnn_context *ctx, const tt_case *c, const char *suffix,
                    cnn_tensor *out)
{
    char path[512];
    int len = snprintf(path, sizeof path, "%s/layers/%s.%s.npy",
                       CNN_TEST_FIXTURES, c->name, suffix);
    cr_assert(len > 0 && (size_t)len < sizeof path);
    cnn_status st = cnn_npy_read(ctx, path, out);
    cr_assert_eq(st, CNN_OK, "case %s: reading %s: %s", c->name, path,
                 cnn_context_message(ctx));
}

static void tt_shape_str(const cnn_shape *s, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < s->rank && used < size; i++) {
        int k = snprintf(buf + used, size - used, i ? "x%lld" : "%lld",
                         (long long)s->dims[i]);
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

/* Compares a plugin result with a fixture tensor; expects (does not stop
 * at) a mismatch so that every tensor of a failing case gets reported. */
static void tt_compare(const tt_case *c, const char *what, const float *got,
                       const cnn_shape *got_shape, const cnn_tensor *want)
{
    char gs[96], ws[96];
    tt_shape_str(got_shape, gs, sizeof gs);
    tt_shape_str(&want->shape, ws, sizeof ws);
    size_t n = cnn_tensor_numel(want);
    cr_expect(cnn_shape_equal(got_shape, &want->shape),
              "case %s (%s): %s shape %s, PyTorch %s", c->name, c->type, what,
              gs, ws);
    if (!cnn_shape_equal(got_shape, &want->shape))
        return;
    size_t bad = 0, worst = 0;
    double worst_excess = -1.0;
    for (size_t i = 0; i < n; i++) {
        double b = want->data[i], a = got[i];
        double tol = TT_RTOL * fmax(1.0, fabs(b));
        double d = fabs(a - b);
        if (!(d <= tol)) {
            bad++;
            double ex = isnan(d) ? INFINITY : d / tol;
            if (ex > worst_excess) {
                worst_excess = ex;
                worst = i;
            }
        }
    }
    cr_expect(bad == 0,
              "case %s (%s, line %d): %s: %zu of %zu elements differ from "
              "PyTorch by more than 1e-4*max(1,|want|); worst at flat index "
              "%zu: got %.9g, want %.9g",
              c->name, c->type, c->line, what, bad, n, worst,
              bad ? (double)got[worst] : 0.0,
              bad ? (double)want->data[worst] : 0.0);
}

static void tt_run_case(cnn_context *ctx, const tt_case *c)
{
    cnn_tensor x[LH_MAX_INPUTS], p[LH_MAX_PARAMS];
    cnn_shape shapes[LH_MAX_INPUTS];
    char suffix[16];
    for (uint32_t i = 0; i < c->n_inputs; i++) {
        snprintf(suffix, sizeof suffix, "x%u", i);
        tt_load(ctx, c, suffix, &x[i]);
        shapes[i] = x[i].shape;
    }
    lh_layer L;
    lh_layer_open(&L, ctx, c->type, c->settings, c->n_settings, shapes,
                  c->n_inputs);
    cr_assert_eq(L.n_params, c->n_params,
                 "case %s: plugin declares %u parameters, fixture has %u",
                 c->name, L.n_params, c->n_params);
    for (uint32_t i = 0; i < c->n_inputs; i++)
        memcpy(L.x[i].data, x[i].data, L.x[i].n * sizeof(float));
    for (uint32_t j = 0; j < c->n_params; j++) {
        snprintf(suffix, sizeof suffix, "p%u", j);
        tt_load(ctx, c, suffix, &p[j]);
        char gs[96], ws[96];
        tt_shape_str(&L.specs[j].shape, gs, sizeof gs);
        tt_shape_str(&p[j].shape, ws, sizeof ws);
        cr_assert(cnn_shape_equal(&L.specs[j].shape, &p[j].shape),
                  "case %s: parameter %u ('%s') is %s, PyTorch's is %s",
                  c->name, j, L.specs[j].name, gs, ws);
        memcpy(L.p[j].data, p[j].data, L.p[j].n * sizeof(float));
    }

    cnn_tensor y, dy;
    tt_load(ctx, c, "y", &y);
    tt_load(ctx, c, "dy", &dy);
    cr_assert(cnn_shape_equal(&L.out_shape, &y.shape),
              "case %s: infer_shape disagrees with PyTorch's output shape",
              c->name);
    lh_forward(&L, c->training, 7);
    tt_compare(c, "forward output", L.y.data, &L.out_shape, &y);
    for (uint32_t j = 0; c->training && j < c->n_params; j++) {
        cnn_tensor pa;
        char what[96];
        snprintf(suffix, sizeof suffix, "pa%u", j);
        snprintf(what, sizeof what, "%s after the forward pass",
                 L.specs[j].name);
        tt_load(ctx, c, suffix, &pa);
        tt_compare(c, what, L.p[j].data, &L.specs[j].shape, &pa);
        free(pa.data);
    }

    memcpy(L.dy.data, dy.data, L.dy.n * sizeof(float));
    lh_backward(&L, NULL, 1, c->training, 7);
    for (uint32_t i = 0; i < c->n_inputs; i++) {
        cnn_tensor dx;
        char what[32];
        snprintf(suffix, sizeof suffix, "dx%u", i);
        snprintf(what, sizeof what, "input gradient %u", i);
        tt_load(ctx, c, suffix, &dx);
        tt_compare(c, what, L.dx[i].data, &L.in_shapes[i], &dx);
        free(dx.data);
    }
    for (uint32_t j = 0; j < c->n_params; j++) {
        cnn_tensor dp;
        char what[96];
        snprintf(suffix, sizeof suffix, "dp%u", j);
        snprintf(what, sizeof what, "gradient of %s", L.specs[j].name);
        tt_load(ctx, c, suffix, &dp);
        tt_compare(c, what, L.dp[j].data, &L.specs[j].shape, &dp);
        free(dp.data);
        free(p[j].data);
    }
    for (uint32_t i = 0; i < c->n_inputs; i++)
        free(x[i].data);
    free(y.data);
    free(dy.data);
    lh_layer_close(&L);
}

/* Runs every manifest case of one type; asserts there is at least one. */
static void tt_run_type(const char *type)
{
    static tt_case cases[TT_MAX_CASES];
    size_t n = tt_read_manifest(cases, TT_MAX_CASES);
    cnn_context *ctx = lh_context();
    size_t ran = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cases[i].type, type) != 0)
            continue;
        tt_run_case(ctx, &cases[i]);
        ran++;
    }
    cnn_context_destroy(ctx);
    cr_assert(ran > 0, "no fixture case for '%s' in the manifest", type);
}

Test(torch, manifest_types_all_tested)
{
    static tt_case cases[TT_MAX_CASES];
    size_t n = tt_read_manifest(cases, TT_MAX_CASES);
    cr_assert(n > 0);
    for (size_t i = 0; i < n; i++) {
        int known = 0;
        for (size_t k = 0; tt_known_types[k]; k++)
            known |= strcmp(cases[i].type, tt_known_types[k]) == 0;
        cr_expect(known, "manifest case %s has type '%s' with no test here",
                  cases[i].name, cases[i].type);
        for (size_t j = 0; j < i; j++)
            cr_expect(strcmp(cases[i].name, cases[j].name) != 0,
                      "manifest case %s appears twice", cases[i].name);
    }
}

Test(torch, conv) { tt_run_type("conv"); }
Test(torch, maxpool) { tt_run_type("maxpool"); }
Test(torch, avgpool) { tt_run_type("avgpool"); }
Test(torch, dense) { tt_run_type("dense"); }
Test(torch, softmax) { tt_run_type("softmax"); }
Test(torch, relu) { tt_run_type("relu"); }
Test(torch, tanh) { tt_run_type("tanh"); }
Test(torch, sigmoid) { tt_run_type("sigmoid"); }
Test(torch, flatten) { tt_run_type("flatten"); }
Test(torch, dropout) { tt_run_type("dropout"); }
Test(torch, add) { tt_run_type("add"); }
Test(torch, concat) { tt_run_type("concat"); }
Test(torch, batchnorm) { tt_run_type("batchnorm"); }
Test(torch, leakyrelu) { tt_run_type("leakyrelu"); }
Test(torch, prelu) { tt_run_type("prelu"); }
Test(torch, relu6) { tt_run_type("relu6"); }
Test(torch, clip) { tt_run_type("clip"); }
Test(torch, elu) { tt_run_type("elu"); }
Test(torch, hardswish) { tt_run_type("hardswish"); }
Test(torch, hardsigmoid) { tt_run_type("hardsigmoid"); }
Test(torch, identity) { tt_run_type("identity"); }
Test(torch, globalavgpool) { tt_run_type("globalavgpool"); }
Test(torch, globalmaxpool) { tt_run_type("globalmaxpool"); }
Test(torch, logsoftmax) { tt_run_type("logsoftmax"); }
Test(torch, mul) { tt_run_type("mul"); }
Test(torch, silu) { tt_run_type("silu"); }
Test(torch, channel_shuffle) { tt_run_type("channel_shuffle"); }
Test(torch, slice) { tt_run_type("slice"); }
Test(torch, gelu) { tt_run_type("gelu"); }
Test(torch, layernorm) { tt_run_type("layernorm"); }
