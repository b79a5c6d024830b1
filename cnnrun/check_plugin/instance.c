/* SPDX-License-Identifier: MIT */
/* One layer instance and its hook runners; see instance.h. */
#include "instance.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/plugin.h"
#include "crash.h"

void ck_shape_text(const cnn_shape *s, char *buf, size_t size)
{
    size_t used = 0;
    if (!size)
        return;
    buf[0] = '\0';
    if (s->rank < 0 || s->rank > CNN_MAX_RANK) {
        snprintf(buf, size, "(rank %d)", (int)s->rank);
        return;
    }
    for (int32_t i = 0; i < s->rank && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%lld", i ? "x" : "",
                         (long long)s->dims[i]);
        if (n < 0)
            return;
        used += (size_t)n;
    }
}

/* Appends one fault to the outcome's text. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
fault(ck_outcome *o, const char *fmt, ...)
{
    size_t used = strlen(o->fault);
    va_list ap;
    o->faults++;
    if (o->faults > 4) /* the first few say enough */
        return;
    if (used && used + 2 < sizeof o->fault) {
        memcpy(o->fault + used, "; ", 3);
        used += 2;
    }
    if (used + 1 >= sizeof o->fault)
        return;
    va_start(ap, fmt);
    vsnprintf(o->fault + used, sizeof o->fault - used, fmt, ap);
    va_end(ap);
}

static void outcome_start(ck_outcome *o)
{
    memset(o, 0, sizeof *o);
}

/* ---- Parameter declarations -------------------------------------------- */

static int name_ok(const char *name)
{
    /* The field is a fixed array: the NUL must be inside it. */
    if (!memchr(name, '\0', CNN_NAME_MAX))
        return 0;
    return cnn_plugin_name_valid(name);
}

static int init_uses_fans(cnn_init_rule r, int *needs_out)
{
    *needs_out = r == CNN_INIT_GLOROT_UNIFORM || r == CNN_INIT_GLOROT_NORMAL;
    return r != CNN_INIT_ZEROS && r != CNN_INIT_ONES && r != CNN_INIT_CONSTANT;
}

static int check_spec(const cnn_param_spec *s, uint32_t index,
                      const cnn_param_spec *all, char *why, size_t size)
{
    int ok;
    int needs_out;
    if (!name_ok(s->name)) {
        snprintf(why, size,
                 "params: parameter %u has an invalid name (expected "
                 "[a-z][a-z0-9_]{0,63}, NUL-terminated)",
                 index);
        return 0;
    }
    for (uint32_t j = 0; j < index; j++)
        if (strcmp(all[j].name, s->name) == 0) {
            snprintf(why, size, "params: parameter name '%s' is used twice",
                     s->name);
            return 0;
        }
    (void)cnn_shape_numel_checked(&s->shape, &ok);
    if (s->shape.rank < 1 || s->shape.rank > CNN_MAX_RANK || !ok) {
        snprintf(why, size, "params: parameter '%s' has rank %d (need 1..%d)",
                 s->name, (int)s->shape.rank, CNN_MAX_RANK);
        return 0;
    }
    for (int32_t d = 0; d < s->shape.rank; d++)
        if (s->shape.dims[d] < 1) {
            snprintf(why, size,
                     "params: parameter '%s' has dimension %d = %lld (need "
                     ">= 1)",
                     s->name, (int)d, (long long)s->shape.dims[d]);
            return 0;
        }
    if ((unsigned)s->init > (unsigned)CNN_INIT_CONSTANT) {
        snprintf(why, size, "params: parameter '%s' has unknown init rule %d",
                 s->name, (int)s->init);
        return 0;
    }
    if (s->init == CNN_INIT_CONSTANT && !isfinite(s->init_value)) {
        snprintf(why, size,
                 "params: parameter '%s' has a constant init value that is "
                 "not finite",
                 s->name);
        return 0;
    }
    if (init_uses_fans(s->init, &needs_out) &&
        (s->fan_in < 1 || (needs_out && s->fan_out < 1))) {
        snprintf(why, size,
                 "params: parameter '%s' uses a fan-based init rule but has "
                 "fan_in %lld, fan_out %lld",
                 s->name, (long long)s->fan_in, (long long)s->fan_out);
        return 0;
    }
    if (s->flags & ~(CNN_PARAM_NO_DECAY | CNN_PARAM_STATE)) {
        snprintf(why, size, "params: parameter '%s' has unknown flags 0x%x",
                 s->name, s->flags & ~(CNN_PARAM_NO_DECAY | CNN_PARAM_STATE));
        return 0;
    }
    return 1;
}

/* The count protocol: a call with no room must only report the count; the
 * second call must fill exactly that many entries. */
static int declare_params(ck_layer *L, char *why, size_t size)
{
    cnn_param_spec specs[CK_MAX_PARAMS + 1], pristine;
    char err[512] = "";
    cnn_errbuf eb = {err, sizeof err};
    uint32_t count = 0, again = 0;
    cnn_status st;

    memset(specs, 0xAB, sizeof specs);
    memcpy(&pristine, &specs[0], sizeof pristine);
    ck_crash_stage("params %s (capacity 0)", L->label);
    st = L->desc->params(&L->layer, specs, 0, &count, &eb);
    if (st != CNN_OK) {
        snprintf(why, size, "params (capacity 0) failed: %s: %s",
                 cnn_status_text(st), err[0] ? err : "(no message)");
        return 0;
    }
    if (memcmp(&specs[0], &pristine, sizeof pristine) != 0) {
        snprintf(why, size, "params wrote a spec although capacity was 0");
        return 0;
    }
    if (count > CK_MAX_PARAMS) {
        snprintf(why, size,
                 "params declares %u parameters; check-plugin handles at "
                 "most %d",
                 count, CK_MAX_PARAMS);
        return 0;
    }
    if (count == 0)
        return 1;
    ck_crash_stage("params %s (capacity %u)", L->label, count);
    st = L->desc->params(&L->layer, specs, count, &again, &eb);
    if (st != CNN_OK) {
        snprintf(why, size, "params (capacity %u) failed: %s: %s", count,
                 cnn_status_text(st), err[0] ? err : "(no message)");
        return 0;
    }
    if (again != count) {
        snprintf(why, size,
                 "params reported %u parameters, then %u for the same layer",
                 count, again);
        return 0;
    }
    if (memcmp(&specs[count], &pristine, sizeof pristine) != 0) {
        snprintf(why, size,
                 "params wrote past the %u specs it was given room "
                 "for",
                 count);
        return 0;
    }
    for (uint32_t i = 0; i < count; i++)
        if (!check_spec(&specs[i], i, specs, why, size))
            return 0;
    memcpy(L->specs, specs, count * sizeof specs[0]);
    L->n_params = count;
    return 1;
}

/* ---- Open and close ----------------------------------------------------- */

static int alloc_pair(ck_buf *a, ck_buf *b, const cnn_shape *s)
{
    int ok;
    size_t n = cnn_shape_numel_checked(s, &ok);
    return ok && ck_buf_alloc(a, n) && ck_buf_alloc(b, n);
}

int ck_layer_open(ck_layer *L, const cnn_layer_descriptor *desc,
                  const cnn_hparam_value *hp, const cnn_shape *in_shapes,
                  uint32_t n_in, const cnn_shape *out_shape, char *why,
                  size_t why_size)
{
    char err[512] = "";
    cnn_errbuf eb = {err, sizeof err};
    size_t used = 0;
    cnn_status st;

    memset(L, 0, sizeof *L);
    ck_host_init(&L->host);
    L->desc = desc;
    L->hp = hp;
    L->n_in = n_in;
    L->out_shape = *out_shape;
    for (uint32_t i = 0; i < n_in; i++) {
        char s[64];
        L->in_shapes[i] = in_shapes[i];
        ck_shape_text(&in_shapes[i], s, sizeof s);
        if (used < sizeof L->label) {
            int n = snprintf(L->label + used, sizeof L->label - used, "%s%s",
                             i ? "+" : "", s);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    memcpy(L->in_shapes_copy, L->in_shapes, sizeof L->in_shapes);
    if (desc->n_hparams) {
        L->hp_copy = malloc(desc->n_hparams * sizeof *L->hp_copy);
        if (!L->hp_copy) {
            snprintf(why, why_size, "out of memory");
            return 0;
        }
        memcpy(L->hp_copy, hp, desc->n_hparams * sizeof *hp);
    }
    L->layer.name = "check_plugin";
    L->layer.hparams = hp;
    L->layer.input_shapes = L->in_shapes;
    L->layer.n_inputs = n_in;
    L->layer.state = NULL;

    if (desc->create) {
        ck_crash_stage("create %s", L->label);
        st = desc->create(&L->layer, &eb);
        if (st != CNN_OK) {
            snprintf(why, why_size,
                     "create failed for a shape infer_shape accepted: %s: %s",
                     cnn_status_text(st), err[0] ? err : "(no message)");
            ck_layer_close(L);
            return 0;
        }
        L->created = 1;
    }
    if (desc->params && !declare_params(L, why, why_size)) {
        ck_layer_close(L);
        return 0;
    }
    for (uint32_t i = 0; i < n_in; i++)
        if (!alloc_pair(&L->x[i], &L->dx[i], &in_shapes[i]))
            goto nomem;
    for (uint32_t i = 0; i < L->n_params; i++)
        if (!alloc_pair(&L->p[i], &L->dp[i], &L->specs[i].shape))
            goto nomem;
    if (!alloc_pair(&L->y, &L->dy, out_shape))
        goto nomem;
    return 1;
nomem:
    snprintf(why, why_size, "out of memory for the tensors of shape %s",
             L->label);
    ck_layer_close(L);
    return 0;
}

void ck_layer_close(ck_layer *L)
{
    if (L->created && L->desc->destroy) {
        ck_crash_stage("destroy %s", L->label);
        L->desc->destroy(&L->layer);
    }
    L->created = 0;
    for (uint32_t i = 0; i < CK_MAX_INPUTS; i++) {
        ck_buf_free(&L->x[i]);
        ck_buf_free(&L->dx[i]);
    }
    for (uint32_t i = 0; i < CK_MAX_PARAMS; i++) {
        ck_buf_free(&L->p[i]);
        ck_buf_free(&L->dp[i]);
    }
    ck_buf_free(&L->y);
    ck_buf_free(&L->dy);
    ck_host_free(&L->host);
    free(L->hp_copy);
    L->hp_copy = NULL;
}

/* ---- Snapshots of what a hook may only read ----------------------------- */

typedef struct snap {
    const char *what;
    uint32_t index;
    const float *src;
    float *copy;
    size_t n;
} snap;

static int snap_take(snap *s, const char *what, uint32_t index,
                     const float *src, size_t n)
{
    s->what = what;
    s->index = index;
    s->src = src;
    s->n = n;
    s->copy = malloc((n ? n : 1) * sizeof(float));
    if (!s->copy)
        return 0;
    if (n)
        memcpy(s->copy, src, n * sizeof(float));
    return 1;
}

/* Compares and frees; reports the first changed element. */
static void snap_check(snap *s, ck_outcome *o)
{
    if (!s->copy)
        return;
    if (s->n && memcmp(s->copy, s->src, s->n * sizeof(float)) != 0) {
        size_t k = 0, changed = 0;
        for (size_t i = 0; i < s->n; i++)
            if (memcmp(&s->copy[i], &s->src[i], sizeof(float)) != 0) {
                if (!changed)
                    k = i;
                changed++;
            }
        char what[64];
        if (s->index == UINT32_MAX)
            snprintf(what, sizeof what, "%s", s->what);
        else
            snprintf(what, sizeof what, "%s %u", s->what, s->index);
        fault(o,
              "modified its read-only %s: %zu element%s changed, first at "
              "%zu (%.9g -> %.9g)",
              what, changed, changed == 1 ? "" : "s", k, (double)s->copy[k],
              (double)s->src[k]);
    }
    free(s->copy);
    s->copy = NULL;
}

static void check_guards(ck_buf *b, const char *what, uint32_t index,
                         ck_outcome *o)
{
    ck_damage d;
    if (!ck_buf_guards_ok(b, &d)) {
        char text[256];
        ck_damage_text(&d, b->n, text, sizeof text);
        if (index == UINT32_MAX)
            fault(o, "%s: %s", what, text);
        else
            fault(o, "%s %u: %s", what, index, text);
    }
}

/* The layer's own description is const for every hook. */
static void check_layer_intact(ck_layer *L, ck_outcome *o)
{
    if (L->layer.hparams != L->hp || L->layer.input_shapes != L->in_shapes ||
        L->layer.n_inputs != L->n_in)
        fault(o, "changed the cnn_layer struct it was given");
    if (L->desc->n_hparams &&
        memcmp(L->hp_copy, L->hp, L->desc->n_hparams * sizeof *L->hp) != 0)
        fault(o, "modified its hyperparameter values");
    for (uint32_t i = 0; i < L->n_in; i++) {
        /* Field by field: cnn_shape has padding after rank. */
        const cnn_shape *a = &L->in_shapes_copy[i], *b = &L->in_shapes[i];
        int same = a->rank == b->rank;
        for (int d = 0; same && d < CNN_MAX_RANK; d++)
            same = a->dims[d] == b->dims[d];
        if (!same) {
            fault(o, "modified layer->input_shapes[%u]", i);
            break;
        }
    }
}

/* Every element written (the NaN fill gone) and finite. */
static void check_written(const ck_buf *b, size_t n, const char *what,
                          ck_outcome *o)
{
    size_t nan_count = 0, inf_count = 0, first_nan = 0, first_inf = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(b->data[i])) {
            if (!nan_count)
                first_nan = i;
            nan_count++;
        } else if (isinf(b->data[i])) {
            if (!inf_count)
                first_inf = i;
            inf_count++;
        }
    }
    if (nan_count)
        fault(o,
              "%s: %zu of %zu elements left unwritten or NaN (first at %zu); "
              "a hook must overwrite every element of its outputs (they are "
              "NaN-filled before the call, so accumulating into them shows "
              "here too)",
              what, nan_count, n, first_nan);
    if (inf_count)
        fault(o,
              "%s: %zu elements are infinite (first at %zu) for finite "
              "inputs",
              what, inf_count, first_inf);
}

/* A running statistic (CNN_PARAM_STATE) has no gradient: backward writes
 * zeros for it. */
static void check_zero(const ck_buf *b, const char *what, ck_outcome *o)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->data[i] != 0.0f && !isnan(b->data[i])) {
            fault(o,
                  "%s: element %zu is %.9g; a state parameter (a running "
                  "statistic) has no gradient, backward must write zeros",
                  what, i, (double)b->data[i]);
            return;
        }
}

static void end_hook(ck_layer *L, ck_outcome *o)
{
    char why[300];
    if (!ck_host_end_hook(&L->host, why, sizeof why))
        fault(o, "%s", why);
}

/* ---- Forward ------------------------------------------------------------ */

void ck_forward(ck_layer *L, ck_buf *out, const cnn_shape *in_shapes,
                const cnn_shape *out_shape, int training, uint64_t seed,
                int full_checks, ck_outcome *o)
{
    cnn_tensor in[CK_MAX_INPUTS], par[CK_MAX_PARAMS], y;
    snap snaps[CK_MAX_INPUTS + CK_MAX_PARAMS];
    size_t ns = 0;
    cnn_errbuf eb = {o->error, sizeof o->error};
    cnn_forward_args a;

    outcome_start(o);
    memset(snaps, 0, sizeof snaps);
    for (uint32_t i = 0; i < L->n_in; i++) {
        in[i].shape = in_shapes ? in_shapes[i] : L->in_shapes[i];
        in[i].data = L->x[i].data;
        if (full_checks && !snap_take(&snaps[ns++], "input", i, in[i].data,
                                      cnn_tensor_numel(&in[i])))
            goto nomem;
    }
    for (uint32_t i = 0; i < L->n_params; i++) {
        par[i].shape = L->specs[i].shape;
        par[i].data = L->p[i].data;
        /* A running statistic may change in a training-mode forward (and
         * only there); every other parameter is read-only. */
        if (training && (L->specs[i].flags & CNN_PARAM_STATE))
            continue;
        if (full_checks &&
            !snap_take(&snaps[ns++], "parameter", i, par[i].data, L->p[i].n))
            goto nomem;
    }
    y.shape = *out_shape;
    y.data = out->data;
    if (full_checks)
        ck_buf_fill(out, NAN);

    memset(&a, 0, sizeof a);
    a.inputs = in;
    a.n_inputs = L->n_in;
    a.params = L->n_params ? par : NULL;
    a.n_params = L->n_params;
    a.output = &y;
    a.training = training;
    a.seed = seed;
    a.env = &L->host.env;
    a.epilogue = training ? NULL : L->epilogue;
    a.params_token = training ? 0 : L->params_token;
    ck_crash_stage("forward %s (%s)", L->label,
                   training ? "training" : "inference");
    o->status = L->desc->forward(&L->layer, &a, &eb);
    if (o->status != CNN_OK && !o->error[0])
        snprintf(o->error, sizeof o->error, "(no message)");

    end_hook(L, o);
    check_guards(out, "output", UINT32_MAX, o);
    for (uint32_t i = 0; i < L->n_in; i++)
        check_guards(&L->x[i], "input", i, o);
    for (uint32_t i = 0; i < L->n_params; i++)
        check_guards(&L->p[i], "parameter", i, o);
    for (size_t i = 0; i < ns; i++)
        snap_check(&snaps[i], o);
    check_layer_intact(L, o);
    if (full_checks && o->status == CNN_OK)
        check_written(out, cnn_shape_numel(out_shape), "output", o);
    return;
nomem:
    for (size_t i = 0; i < ns; i++)
        free(snaps[i].copy);
    o->status = CNN_ERR_NOMEM;
    snprintf(o->error, sizeof o->error, "check-plugin ran out of memory");
}

/* ---- Backward ----------------------------------------------------------- */

void ck_backward(ck_layer *L, const int *want_dx, int want_dp, uint64_t seed,
                 ck_outcome *o)
{
    cnn_tensor in[CK_MAX_INPUTS], par[CK_MAX_PARAMS], dx[CK_MAX_INPUTS],
        dp[CK_MAX_PARAMS], y, dy;
    snap snaps[CK_MAX_INPUTS + CK_MAX_PARAMS + 2];
    size_t ns = 0;
    cnn_errbuf eb = {o->error, sizeof o->error};
    cnn_backward_args a;

    outcome_start(o);
    memset(snaps, 0, sizeof snaps);
    for (uint32_t i = 0; i < L->n_in; i++) {
        int want = want_dx ? want_dx[i] : 1;
        in[i].shape = L->in_shapes[i];
        in[i].data = L->x[i].data;
        if (!snap_take(&snaps[ns++], "input", i, in[i].data, L->x[i].n))
            goto nomem;
        ck_buf_fill(&L->dx[i], NAN);
        dx[i].shape = L->in_shapes[i];
        dx[i].data = want ? L->dx[i].data : NULL;
    }
    for (uint32_t i = 0; i < L->n_params; i++) {
        par[i].shape = L->specs[i].shape;
        par[i].data = L->p[i].data;
        if (!snap_take(&snaps[ns++], "parameter", i, par[i].data, L->p[i].n))
            goto nomem;
        ck_buf_fill(&L->dp[i], NAN);
        dp[i].shape = L->specs[i].shape;
        dp[i].data = L->dp[i].data;
    }
    y.shape = L->out_shape;
    y.data = L->y.data;
    dy.shape = L->out_shape;
    dy.data = L->dy.data;
    if (!snap_take(&snaps[ns++], "saved output", UINT32_MAX, y.data, L->y.n) ||
        !snap_take(&snaps[ns++], "output gradient", UINT32_MAX, dy.data,
                   L->dy.n))
        goto nomem;

    memset(&a, 0, sizeof a);
    a.inputs = in;
    a.n_inputs = L->n_in;
    a.output = &y;
    a.output_grad = &dy;
    a.input_grads = dx;
    a.params = L->n_params ? par : NULL;
    a.n_params = L->n_params;
    a.param_grads = (want_dp && L->n_params) ? dp : NULL;
    a.training = 1;
    a.seed = seed;
    a.env = &L->host.env;
    ck_crash_stage("backward %s", L->label);
    o->status = L->desc->backward(&L->layer, &a, &eb);
    if (o->status != CNN_OK && !o->error[0])
        snprintf(o->error, sizeof o->error, "(no message)");

    end_hook(L, o);
    for (uint32_t i = 0; i < L->n_in; i++) {
        check_guards(&L->dx[i], "input gradient", i, o);
        check_guards(&L->x[i], "input", i, o);
    }
    for (uint32_t i = 0; i < L->n_params; i++) {
        check_guards(&L->dp[i], "parameter gradient", i, o);
        check_guards(&L->p[i], "parameter", i, o);
    }
    check_guards(&L->y, "saved output", UINT32_MAX, o);
    check_guards(&L->dy, "output gradient", UINT32_MAX, o);
    for (size_t i = 0; i < ns; i++)
        snap_check(&snaps[i], o);
    check_layer_intact(L, o);
    if (o->status != CNN_OK)
        return;
    for (uint32_t i = 0; i < L->n_in; i++) {
        char what[64];
        if (want_dx && !want_dx[i])
            continue;
        snprintf(what, sizeof what, "input gradient %u", i);
        check_written(&L->dx[i], L->dx[i].n, what, o);
    }
    for (uint32_t i = 0; want_dp && i < L->n_params; i++) {
        char what[CNN_NAME_MAX + 32];
        snprintf(what, sizeof what, "gradient of '%s'", L->specs[i].name);
        check_written(&L->dp[i], L->dp[i].n, what, o);
        if (L->specs[i].flags & CNN_PARAM_STATE)
            check_zero(&L->dp[i], what, o);
    }
    return;
nomem:
    for (size_t i = 0; i < ns; i++)
        free(snaps[i].copy);
    o->status = CNN_ERR_NOMEM;
    snprintf(o->error, sizeof o->error, "check-plugin ran out of memory");
}
