/* SPDX-License-Identifier: MIT */
/* Checks for one set of input shapes: infer_shape, create, params, and the
 * contract of forward and backward (memory, completeness, determinism,
 * gradients that are not wanted), then the finite-difference comparison of
 * gradient.c. Every forward here runs in training mode with one seed, the
 * way a trainer calls it, so that backward may rely on forward's random
 * choices; inference mode gets its own memory check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_plugin.h"
#include "crash.h"

/* ---- Test data ---------------------------------------------------------- */

uint64_t ck_rng_next(ck_rng *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double ck_rng_uniform(ck_rng *r)
{
    return (double)(ck_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double ck_fill_levels(ck_rng *r, float *x, size_t n, double lo, double hi)
{
    const size_t max_levels = 1024;
    size_t k;
    if (n == 0)
        return hi - lo;
    /* k levels, k even, level j in the middle of the j-th of k equal cells:
     * no value is at the middle of the range (0 for [-1, 1]), where relu
     * has its kink, and no two values of a small tensor tie, where maxpool
     * has one. Small tensors take n of the k levels in random order. */
    k = n < max_levels ? n + (n & 1) : max_levels;
    if (n <= max_levels) {
        float *levels = x;
        float spare = 0.0f;
        /* For odd n the one level left over lives in spare. */
        for (size_t i = 0; i < k; i++) {
            float v = (float)(lo + (hi - lo) * ((double)i + 0.5) / (double)k);
            if (i < n)
                levels[i] = v;
            else
                spare = v;
        }
        for (size_t i = k; i > 1; i--) {
            size_t j = (size_t)(ck_rng_next(r) % i);
            float *a = i - 1 < n ? &levels[i - 1] : &spare;
            float *b = j < n ? &levels[j] : &spare;
            float t = *a;
            *a = *b;
            *b = t;
        }
    } else {
        for (size_t i = 0; i < n; i++)
            x[i] =
                (float)(lo + (hi - lo) * ((double)(ck_rng_next(r) % k) + 0.5) /
                                 (double)k);
    }
    return (hi - lo) / (double)k;
}

/* ---- infer_shape -------------------------------------------------------- */

static cnn_status infer(const cnn_layer_descriptor *d,
                        const cnn_hparam_value *hp, const cnn_shape *in,
                        uint32_t n_in, cnn_shape *out, char *err, size_t size)
{
    cnn_errbuf eb = {err, size};
    err[0] = '\0';
    memset(out, 0, sizeof *out);
    ck_crash_stage("infer_shape");
    return d->infer_shape(hp, in, n_in, out, &eb);
}

/* infer_shape's answer for in, checked; 0 after a report line when the
 * shape is rejected (SKIP) or the answer is wrong (FAIL). */
static int check_infer(ck_report *r, const cnn_layer_descriptor *d,
                       const cnn_hparam_value *hp, const cnn_shape *in,
                       uint32_t n_in, const char *label, cnn_shape *out)
{
    char name[160], err[512], got[128], again_text[128];
    cnn_shape again, moved[CK_MAX_INPUTS];
    cnn_status st;
    int ok;
    size_t numel;

    snprintf(name, sizeof name, "infer_shape %s", label);
    st = infer(d, hp, in, n_in, out, err, sizeof err);
    if (st != CNN_OK) {
        if (!err[0]) {
            ck_report_add(r, CK_FAIL, name,
                          "rejected the shape (%s) without a message; write "
                          "one line with cnn_layer_fail",
                          cnn_status_text(st));
            return 0;
        }
        ck_report_add(r, CK_SKIP, name, "rejected: %s", err);
        return 0;
    }
    ck_shape_text(out, got, sizeof got);
    numel = cnn_shape_numel_checked(out, &ok);
    (void)numel;
    if (out->rank < 1 || out->rank > CNN_MAX_RANK || !ok) {
        ck_report_add(r, CK_FAIL, name, "returned an invalid shape %s", got);
        return 0;
    }
    for (int32_t i = 1; i < out->rank; i++)
        if (out->dims[i] < 1) {
            ck_report_add(r, CK_FAIL, name,
                          "returned %s with an empty dimension %d", got,
                          (int)i);
            return 0;
        }
    if (out->dims[0] != in[0].dims[0]) {
        ck_report_add(r, CK_FAIL, name,
                      "returned %s: the batch (dims[0]) must stay %lld", got,
                      (long long)in[0].dims[0]);
        return 0;
    }
    /* Pure: the same answer again, and for another batch the same shape
     * with that batch (the executor asks for any batch size). */
    st = infer(d, hp, in, n_in, &again, err, sizeof err);
    if (st != CNN_OK || !cnn_shape_equal(&again, out)) {
        ck_report_add(r, CK_FAIL, name,
                      "is not pure: a second call on the same shapes gave %s",
                      st != CNN_OK ? err : "another shape");
        return 0;
    }
    for (uint32_t i = 0; i < n_in; i++) {
        moved[i] = in[i];
        moved[i].dims[0] = in[i].dims[0] + 2;
    }
    st = infer(d, hp, moved, n_in, &again, err, sizeof err);
    again.dims[0] -= 2;
    if (st != CNN_OK || !cnn_shape_equal(&again, out)) {
        again.dims[0] += 2;
        ck_shape_text(&again, again_text, sizeof again_text);
        ck_report_add(r, CK_FAIL, name,
                      "does not follow the batch: batch %lld gave %s, batch "
                      "%lld gave %s",
                      (long long)in[0].dims[0], got,
                      (long long)moved[0].dims[0],
                      st != CNN_OK ? err : again_text);
        return 0;
    }
    if (d->flops) {
        uint64_t flops = d->flops(hp, in, n_in, out);
        ck_report_add(r, CK_PASS, name, "-> %s, flops hook says %llu", got,
                      (unsigned long long)flops);
    } else {
        ck_report_add(r, CK_PASS, name, "-> %s", got);
    }
    return 1;
}

/* ---- Helpers for the hook checks --------------------------------------- */

/* Reports a FAIL line when the hook call failed or broke the contract;
 * returns 1 then, 0 when the call was clean (nothing reported). */
int ck_hook_failed(ck_report *r, const char *name, const ck_outcome *o)
{
    if (o->status != CNN_OK && o->faults == 0) {
        ck_report_add(r, CK_FAIL, name, "failed: %s: %s",
                      cnn_status_text(o->status), o->error);
        return 1;
    }
    if (o->faults) {
        ck_report_add(r, CK_FAIL, name, "%s%s%s%s", o->fault,
                      o->faults > 4 ? "; and more" : "",
                      o->status != CNN_OK ? "; it also failed: " : "",
                      o->status != CNN_OK ? o->error : "");
        return 1;
    }
    return 0;
}

/* failed(), or a PASS line with pass_text; 1 when clean. */
static int judge(ck_report *r, const char *name, const ck_outcome *o,
                 const char *pass_text)
{
    if (ck_hook_failed(r, name, o))
        return 0;
    ck_report_add(r, CK_PASS, name, "%s", pass_text);
    return 1;
}

/* First differing element of two float arrays, by bits; n when equal. */
static size_t first_difference(const float *a, const float *b, size_t n,
                               size_t *count, double *max_diff)
{
    size_t first = n;
    *count = 0;
    *max_diff = 0.0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            double diff = fabs((double)a[i] - (double)b[i]);
            if (first == n)
                first = i;
            (*count)++;
            if (!(diff <= *max_diff))
                *max_diff = diff;
        }
    return first;
}

/* Compares two runs' results; 1 when bitwise identical, else a FAIL line
 * naming the tensor and the first difference. */
static int same_or_report(ck_report *r, const char *name, const char *what,
                          const float *a, const float *b, size_t n)
{
    size_t count;
    double max_diff;
    size_t first = first_difference(a, b, n, &count, &max_diff);
    if (first == n)
        return 1;
    ck_report_add(r, CK_FAIL, name,
                  "%s differ between two runs on identical inputs: %zu of "
                  "%zu elements, first at %zu (%.9g then %.9g), max |diff| "
                  "%.3g; results must not depend on time, call count, "
                  "uninitialised memory or chunk order",
                  what, count, n, first, (double)a[first], (double)b[first],
                  max_diff);
    return 0;
}

/* Copies of the gradients of one backward call. */
typedef struct grads {
    float *dx[CK_MAX_INPUTS];
    float *dp[CK_MAX_PARAMS];
} grads;

static void grads_free(grads *g)
{
    for (uint32_t i = 0; i < CK_MAX_INPUTS; i++)
        free(g->dx[i]);
    for (uint32_t i = 0; i < CK_MAX_PARAMS; i++)
        free(g->dp[i]);
    memset(g, 0, sizeof *g);
}

static float *copy_floats(const float *src, size_t n)
{
    float *c = malloc((n ? n : 1) * sizeof *c);
    if (c && n)
        memcpy(c, src, n * sizeof *c);
    return c;
}

static int grads_take(grads *g, const ck_layer *L)
{
    for (uint32_t i = 0; i < L->n_in; i++)
        if (!(g->dx[i] = copy_floats(L->dx[i].data, L->dx[i].n)))
            return 0;
    for (uint32_t i = 0; i < L->n_params; i++)
        if (!(g->dp[i] = copy_floats(L->dp[i].data, L->dp[i].n)))
            return 0;
    return 1;
}

/* ---- The hook checks ---------------------------------------------------- */

static void report_params(ck_report *r, const ck_layer *L)
{
    static const char *const rules[] = {
        "zeros",          "ones",          "he_normal",      "he_uniform",
        "glorot_uniform", "glorot_normal", "fan_in_uniform", "constant"};
    char text[1024] = "";
    size_t used = 0;
    for (uint32_t i = 0; i < L->n_params && used < sizeof text; i++) {
        char s[64];
        int n;
        ck_shape_text(&L->specs[i].shape, s, sizeof s);
        n = snprintf(
            text + used, sizeof text - used, "%s%s %s (%s%s%s)", i ? ", " : "",
            L->specs[i].name, s,
            (size_t)L->specs[i].init < sizeof rules / sizeof *rules
                ? rules[L->specs[i].init]
                : "unknown rule",
            L->specs[i].flags & CNN_PARAM_NO_DECAY ? ", no decay" : "",
            L->specs[i].flags & CNN_PARAM_STATE ? ", state" : "");
        used += n > 0 ? (size_t)n : 0;
    }
    ck_report_add(r, CK_PASS, "params", "%s",
                  L->n_params ? text : "none declared");
}

/* Forward in inference mode and with a smaller batch: memory checks only
 * (neither has to equal the training-mode output). */
static void check_other_forwards(ck_report *r, ck_layer *L, uint64_t seed)
{
    char name[192], err[512];
    ck_outcome o;
    ck_buf out;
    cnn_shape small_in[CK_MAX_INPUTS], small_out;

    snprintf(name, sizeof name, "forward %s, inference", L->label);
    if (!ck_buf_alloc(&out, L->y.n)) {
        ck_report_add(r, CK_FAIL, name, "out of memory");
        return;
    }
    ck_forward(L, &out, NULL, &L->out_shape, 0, seed, 1, &o);
    judge(r, name, &o, "all outputs written and finite; guards intact");
    ck_buf_free(&out);

    if (L->in_shapes[0].dims[0] < 2)
        return;
    for (uint32_t i = 0; i < L->n_in; i++) {
        small_in[i] = L->in_shapes[i];
        small_in[i].dims[0] = 1;
    }
    snprintf(name, sizeof name, "forward %s, batch 1", L->label);
    if (infer(L->desc, L->hp, small_in, L->n_in, &small_out, err, sizeof err) !=
        CNN_OK) {
        ck_report_add(r, CK_FAIL, name,
                      "infer_shape rejects batch 1 after accepting batch "
                      "%lld: %s",
                      (long long)L->in_shapes[0].dims[0], err);
        return;
    }
    /* An exact-size output, so that writing the created batch's worth of
     * elements hits the guard. */
    if (!ck_buf_alloc(&out, cnn_shape_numel(&small_out))) {
        ck_report_add(r, CK_FAIL, name, "out of memory");
        return;
    }
    ck_forward(L, &out, small_in, &small_out, 1, seed, 1, &o);
    judge(r, name, &o,
          "a smaller batch than at create: all outputs written; guards "
          "intact");
    ck_buf_free(&out);
}

/* Backward with input gradients not wanted, and with frozen parameters:
 * it must cope, and the gradients it still computes must not change. */
static void check_unwanted(ck_report *r, ck_layer *L, const grads *ref,
                           uint64_t seed)
{
    char name[192];
    int none[CK_MAX_INPUTS] = {0};
    ck_outcome o;
    uint32_t changed = UINT32_MAX;

    snprintf(name, sizeof name, "backward %s, input grads not wanted",
             L->label);
    ck_backward(L, none, 1, seed, &o);
    if (!ck_hook_failed(r, name, &o)) {
        for (uint32_t i = 0; i < L->n_params && changed == UINT32_MAX; i++)
            if (memcmp(L->dp[i].data, ref->dp[i], L->dp[i].n * sizeof(float)) !=
                0)
                changed = i;
        if (changed != UINT32_MAX)
            ck_report_add(r, CK_FAIL, name,
                          "the gradient of '%s' changed when the input "
                          "gradients were not wanted",
                          L->specs[changed].name);
        else
            ck_report_add(r, CK_PASS, name,
                          "NULL input gradient data: skipped%s",
                          L->n_params ? ", parameter gradients unchanged" : "");
    }
    if (!L->n_params)
        return;
    snprintf(name, sizeof name, "backward %s, frozen parameters", L->label);
    ck_backward(L, NULL, 0, seed, &o);
    if (ck_hook_failed(r, name, &o))
        return;
    for (uint32_t i = 0; i < L->n_in && changed == UINT32_MAX; i++)
        if (memcmp(L->dx[i].data, ref->dx[i], L->dx[i].n * sizeof(float)) != 0)
            changed = i;
    if (changed != UINT32_MAX)
        ck_report_add(r, CK_FAIL, name,
                      "input gradient %u changed when the parameters were "
                      "frozen",
                      changed);
    else
        ck_report_add(r, CK_PASS, name,
                      "param_grads NULL: input gradients unchanged");
}

#define FORWARD_OK                                                             \
    "all outputs written and finite; guards intact; inputs and parameters "   \
    "unchanged"

/* 1 when the layer declares a running statistic (CNN_PARAM_STATE). */
static int has_state(const ck_layer *L)
{
    for (uint32_t i = 0; i < L->n_params; i++)
        if (L->specs[i].flags & CNN_PARAM_STATE)
            return 1;
    return 0;
}

int ck_check_shape(ck_report *r, const ck_options *opt,
                   const cnn_layer_descriptor *d, const cnn_hparam_value *hp,
                   const cnn_shape *in, uint32_t n_in, int first, uint64_t seed)
{
    char label[128] = "", name[192], why[512];
    double spacing_x[CK_MAX_INPUTS], spacing_p[CK_MAX_PARAMS];
    cnn_shape out;
    ck_layer L;
    ck_outcome o;
    ck_buf y2;
    grads ref;
    ck_rng rng = {seed};
    int same_f = 0, same_b = 0;
    size_t used = 0;

    for (uint32_t i = 0; i < n_in && used < sizeof label; i++) {
        char s[64];
        int n;
        ck_shape_text(&in[i], s, sizeof s);
        n = snprintf(label + used, sizeof label - used, "%s%s", i ? "+" : "",
                     s);
        used += n > 0 ? (size_t)n : 0;
    }
    if (!check_infer(r, d, hp, in, n_in, label, &out))
        return 0;
    snprintf(name, sizeof name, "create %s", label);
    if (!ck_layer_open(&L, d, hp, in, n_in, &out, why, sizeof why)) {
        ck_report_add(r, CK_FAIL, name, "%s", why);
        return 1;
    }
    if (first)
        report_params(r, &L);

    for (uint32_t i = 0; i < n_in; i++)
        spacing_x[i] = ck_fill_levels(&rng, L.x[i].data, L.x[i].n, -1.0, 1.0);
    /* Running statistics (CNN_PARAM_STATE) get positive values: one may
     * be a variance, which inference takes the square root of. */
    for (uint32_t i = 0; i < L.n_params; i++)
        spacing_p[i] =
            L.specs[i].flags & CNN_PARAM_STATE
                ? ck_fill_levels(&rng, L.p[i].data, L.p[i].n, 0.5, 1.5)
                : ck_fill_levels(&rng, L.p[i].data, L.p[i].n, -1.0, 1.0);
    for (size_t i = 0; i < L.dy.n; i++)
        L.dy.data[i] = (float)(2.0 * ck_rng_uniform(&rng) - 1.0);

    memset(&ref, 0, sizeof ref);
    memset(&y2, 0, sizeof y2);
    snprintf(name, sizeof name, "forward %s", label);
    ck_forward(&L, &L.y, NULL, &L.out_shape, 1, seed, 1, &o);
    if (!judge(r, name, &o,
               has_state(&L) ? FORWARD_OK " (state parameters may update)"
                             : FORWARD_OK))
        goto done;

    snprintf(name, sizeof name, "repeat forward %s", label);
    if (!ck_buf_alloc(&y2, L.y.n)) {
        ck_report_add(r, CK_FAIL, name, "out of memory");
        goto done;
    }
    L.host.pf_reverse = 1;
    ck_forward(&L, &y2, NULL, &L.out_shape, 1, seed, 1, &o);
    L.host.pf_reverse = 0;
    if (!ck_hook_failed(r, name, &o) &&
        (same_f = same_or_report(r, name, "outputs", L.y.data, y2.data, L.y.n)))
        ck_report_add(r, CK_PASS, name,
                      "bitwise identical outputs (parallel_for chunks run in "
                      "another order)");

    check_other_forwards(r, &L, seed);
    ck_check_epilogue(r, &L, seed);
    ck_check_params_token(r, &L, seed);

    snprintf(name, sizeof name, "backward %s", label);
    ck_backward(&L, NULL, 1, seed, &o);
    if (!judge(r, name, &o,
               "every gradient element written and finite; guards intact; "
               "inputs, parameters, output and dy unchanged"))
        goto done;
    if (!grads_take(&ref, &L)) {
        ck_report_add(r, CK_FAIL, name, "out of memory");
        goto done;
    }
    snprintf(name, sizeof name, "repeat backward %s", label);
    L.host.pf_reverse = 1;
    ck_backward(&L, NULL, 1, seed, &o);
    L.host.pf_reverse = 0;
    if (!ck_hook_failed(r, name, &o)) {
        same_b = 1;
        for (uint32_t i = 0; i < L.n_in && same_b; i++)
            same_b = same_or_report(r, name, "input gradients", ref.dx[i],
                                    L.dx[i].data, L.dx[i].n);
        for (uint32_t i = 0; i < L.n_params && same_b; i++)
            same_b = same_or_report(r, name, "parameter gradients", ref.dp[i],
                                    L.dp[i].data, L.dp[i].n);
        if (same_b)
            ck_report_add(r, CK_PASS, name,
                          "bitwise identical gradients (parallel_for chunks "
                          "run in another order)");
    }
    check_unwanted(r, &L, &ref, seed);

    if (!same_f || !same_b) {
        snprintf(name, sizeof name, "gradients %s", label);
        ck_report_add(r, CK_SKIP, name,
                      "not compared: forward or backward is not "
                      "deterministic");
        goto done;
    }
    ck_check_gradients(r, opt, &L, ref.dx, ref.dp, spacing_x, spacing_p, seed);
done:
    grads_free(&ref);
    ck_buf_free(&y2);
    ck_layer_close(&L);
    return 1;
}
