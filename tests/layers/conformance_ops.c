/* SPDX-License-Identifier: MIT */
/* Expected results per layer type; see conformance_ops.h. */
#include "conformance_ops.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"

#define CF_U (1.0 / 16777216.0) /* float32 unit roundoff, 2^-24 */

double cf_gamma(double n_terms)
{
    return 2.0 * (n_terms + 1.0) * CF_U;
}

static const char *const cf_types[] = {
    "conv",    "maxpool", "avgpool", "dense",   "softmax",   "relu", "tanh",
    "sigmoid", "flatten", "dropout", "add",     "concat",    "batchnorm",
    "leakyrelu", "prelu", "relu6", "clip", "elu", "hardswish", "hardsigmoid",
    "identity", "globalavgpool", "globalmaxpool", "logsoftmax", "mul",
    "silu", "channel_shuffle", "slice", "gelu", "layernorm", NULL};

int cf_type_known(const char *type)
{
    for (size_t i = 0; cf_types[i]; i++)
        if (strcmp(type, cf_types[i]) == 0)
            return 1;
    return 0;
}

static void cf_alloc(cf_expect *e, size_t n, double rtol)
{
    e->n = n;
    e->ref = calloc(n ? n : 1, sizeof(double));
    e->mag = calloc(n ? n : 1, sizeof(double));
    cr_assert(e->ref && e->mag);
    e->rtol = rtol;
}

/* mag = |ref|: for exact ops and relative-accuracy elementwise ops. */
static void cf_mag_abs(cf_expect *e)
{
    for (size_t i = 0; i < e->n; i++)
        e->mag[i] = fabs(e->ref[i]);
}

static size_t cf_numel(const cnn_shape *s)
{
    return cnn_shape_numel(s);
}

static void cf_param(cf_expected *E, const char *name, cnn_shape s)
{
    uint32_t j = E->n_params++;
    strcpy(E->param_names[j], name);
    E->param_shapes[j] = s;
}

static cnn_shape cf_shape1(int64_t d)
{
    return cnn_shape_make(1, &d);
}

static void cf_conv_geom(const lh_layer *L, ref_conv *g)
{
    const cnn_shape *s = &L->in_shapes[0];
    cr_assert_eq(s->rank, 4, "conv input must be rank 4");
    g->n = s->dims[0];
    g->c = s->dims[1];
    g->h = s->dims[2];
    g->w = s->dims[3];
    g->o = lh_hp(L, "filters")->i[0];
    g->kh = lh_hp(L, "kernel")->i[0];
    g->kw = lh_hp(L, "kernel")->i[1];
    g->sh = lh_hp(L, "stride")->i[0];
    g->sw = lh_hp(L, "stride")->i[1];
    g->dh = lh_hp(L, "dilation")->i[0];
    g->dw = lh_hp(L, "dilation")->i[1];
    g->groups = lh_hp(L, "groups")->i[0];
    /* "same" resolved here by its definition, not by the helper the
     * plugin uses: out = ceil(in / stride), the odd one at the end
     * (same) or the start (same_lower). */
    cnn_padding p = cnn_hparam_padding(lh_hp(L, "padding"));
    if (p.mode != CNN_PAD_EXPLICIT) {
        int64_t in[2] = {g->h, g->w}, s[2] = {g->sh, g->sw};
        int64_t k[2] = {g->dh * (g->kh - 1) + 1, g->dw * (g->kw - 1) + 1};
        int64_t lo[2], hi[2];
        for (int a = 0; a < 2; a++) {
            int64_t out = (in[a] + s[a] - 1) / s[a];
            int64_t total = (out - 1) * s[a] + k[a] - in[a];
            total = total > 0 ? total : 0;
            hi[a] = p.mode == CNN_PAD_SAME_UPPER ? (total + 1) / 2 : total / 2;
            lo[a] = total - hi[a];
        }
        p.top = lo[0], p.bottom = hi[0], p.left = lo[1], p.right = hi[1];
    }
    g->ph = p.top;
    g->pw = p.left;
    g->pb = p.bottom;
    g->pr = p.right;
    cr_assert(ref_conv_geometry(g), "test config: conv kernel does not fit");
}

/* "same" padding from its definition (ONNX auto_pad): output
 * ceil(in / stride), the total padding split evenly, the odd cell at the
 * end (SAME_UPPER) or the start (SAME_LOWER). */
static void cf_same_pad(int64_t in, int64_t k, int64_t s, int64_t d,
                        int upper, int64_t *begin, int64_t *end)
{
    int64_t out = (in + s - 1) / s;
    int64_t total = (out - 1) * s + d * (k - 1) + 1 - in;
    if (total < 0)
        total = 0;
    *begin = upper ? total / 2 : (total + 1) / 2;
    *end = total - *begin;
}

static void cf_pool_geom(const lh_layer *L, ref_pool *g)
{
    const cnn_shape *s = &L->in_shapes[0];
    cr_assert_eq(s->rank, 4, "pool input must be rank 4");
    memset(g, 0, sizeof *g);
    g->n = s->dims[0];
    g->c = s->dims[1];
    g->h = s->dims[2];
    g->w = s->dims[3];
    g->kh = lh_hp(L, "size")->i[0];
    g->kw = lh_hp(L, "size")->i[1];
    /* stride 0 means "the window size" (both plugins document it). */
    g->sh = lh_hp(L, "stride")->i[0] ? lh_hp(L, "stride")->i[0] : g->kh;
    g->sw = lh_hp(L, "stride")->i[1] ? lh_hp(L, "stride")->i[1] : g->kw;
    int has_dil = cnn_descriptor_hparam_index(L->desc, "dilation") >= 0;
    const cnn_hparam_value *dil = has_dil ? lh_hp(L, "dilation") : NULL;
    g->dh = dil ? dil->i[0] : 1;
    g->dw = dil ? dil->i[1] : 1;
    cnn_padding p = cnn_hparam_padding(lh_hp(L, "padding"));
    if (p.mode == CNN_PAD_EXPLICIT) {
        g->ph = p.top, g->pw = p.left, g->pb = p.bottom, g->pr = p.right;
    } else {
        int up = p.mode == CNN_PAD_SAME_UPPER;
        cf_same_pad(g->h, g->kh, g->sh, g->dh, up, &g->ph, &g->pb);
        cf_same_pad(g->w, g->kw, g->sw, g->dw, up, &g->pw, &g->pr);
    }
    g->ceil_mode = (int)lh_hp(L, "ceil_mode")->i[0];
    int has_cip =
        cnn_descriptor_hparam_index(L->desc, "count_include_pad") >= 0;
    const cnn_hparam_value *cip =
        has_cip ? lh_hp(L, "count_include_pad") : NULL;
    g->count_include_pad = cip ? (int)cip->i[0] : 1;
    cr_assert(ref_pool_geometry(g), "test config: pool window does not fit");
}

static int64_t cf_features(const cnn_shape *s)
{
    int64_t k = 1;
    for (int32_t i = 1; i < s->rank; i++)
        k *= s->dims[i];
    return k;
}

void cf_expected_shapes(const lh_layer *L, cf_expected *E)
{
    memset(E, 0, sizeof *E);
    const cnn_shape *s = &L->in_shapes[0];
    const char *t = L->type;
    if (strcmp(t, "conv") == 0) {
        ref_conv g;
        cf_conv_geom(L, &g);
        E->out_shape = cnn_shape4(g.n, g.o, g.oh, g.ow);
        int64_t cg = g.c / g.groups;
        cf_param(E, "weight", cnn_shape4(g.o, cg, g.kh, g.kw));
        if (lh_hp(L, "bias")->i[0])
            cf_param(E, "bias", cf_shape1(g.o));
        E->flops = 2u * (uint64_t)(g.n * g.o * g.oh * g.ow * cg * g.kh * g.kw);
    } else if (strcmp(t, "maxpool") == 0 || strcmp(t, "avgpool") == 0) {
        ref_pool g;
        cf_pool_geom(L, &g);
        E->out_shape = cnn_shape4(g.n, g.c, g.oh, g.ow);
    } else if (strcmp(t, "dense") == 0) {
        int64_t k = cf_features(s), m = lh_hp(L, "units")->i[0];
        E->out_shape = cnn_shape2(s->dims[0], m);
        cf_param(E, "weight", cnn_shape2(m, k));
        if (lh_hp(L, "bias")->i[0])
            cf_param(E, "bias", cf_shape1(m));
        E->flops = 2u * (uint64_t)(s->dims[0] * k * m);
    } else if (strcmp(t, "batchnorm") == 0) {
        E->out_shape = *s;
        cf_param(E, "weight", cf_shape1(s->dims[1]));
        cf_param(E, "bias", cf_shape1(s->dims[1]));
        cf_param(E, "running_mean", cf_shape1(s->dims[1]));
        cf_param(E, "running_var", cf_shape1(s->dims[1]));
        E->flops = 2u * (uint64_t)cf_numel(s);
    } else if (strcmp(t, "layernorm") == 0) {
        E->out_shape = *s;
        if (lh_hp(L, "affine")->i[0]) {
            cf_param(E, "weight", cf_shape1(s->dims[1]));
            cf_param(E, "bias", cf_shape1(s->dims[1]));
        }
        E->flops = 8u * (uint64_t)cf_numel(s);
    } else if (strcmp(t, "prelu") == 0) {
        E->out_shape = *s;
        int64_t k = lh_hp(L, "num_parameters")->i[0];
        cf_param(E, "weight", cf_shape1(k == 1 ? 1 : s->dims[1]));
    } else if (strcmp(t, "flatten") == 0) {
        /* torch.flatten: dims a..b become their product. */
        int64_t a = lh_hp(L, "start_dim")->i[0], b = lh_hp(L, "end_dim")->i[0];
        a = a < 0 ? a + s->rank : a;
        b = b < 0 ? b + s->rank : b;
        cnn_shape o = {0};
        o.rank = 0;
        for (int32_t i = 0; i < s->rank; i++) {
            if (i > a && i <= b)
                o.dims[o.rank - 1] *= s->dims[i];
            else
                o.dims[o.rank++] = s->dims[i];
        }
        E->out_shape = o;
    } else if (strcmp(t, "globalavgpool") == 0 ||
               strcmp(t, "globalmaxpool") == 0) {
        E->out_shape = *s;
        for (int32_t i = 2; i < s->rank; i++)
            E->out_shape.dims[i] = 1;
    } else if (strcmp(t, "concat") == 0) {
        E->out_shape = *s;
        for (uint32_t i = 1; i < L->n_in; i++)
            E->out_shape.dims[1] += L->in_shapes[i].dims[1];
    } else if (strcmp(t, "slice") == 0) {
        /* x[:, start:end] */
        E->out_shape = *s;
        E->out_shape.dims[1] =
            lh_hp(L, "end")->i[0] - lh_hp(L, "start")->i[0];
    } else if (strcmp(t, "mul") == 0) {
        /* the input that is not broadcast */
        int full = cnn_shape_numel(&L->in_shapes[1]) > cnn_shape_numel(s);
        E->out_shape = L->in_shapes[full];
    } else {
        /* elementwise, add and channel_shuffle: the shape of input 0 */
        E->out_shape = *s;
    }
}

/* Elementwise unary ops: y = f(x), dx = dy f'(x), in double from the
 * definitions (PyTorch's rules at the kinks). ymag and gmag are the scale
 * of each result's float32 rounding error: |y| and |dx| unless a sum in
 * the op can cancel (hardswish's x / 3 + 1/2, hardsigmoid's alpha x +
 * beta, silu's 1 + x (1 - s), gelu's Phi + x phi), where it is the sum
 * of the absolute terms.
 * Inputs are finite (the harness reads a NaN output as unwritten); at
 * x = -inf these definitions give NaN (-inf * 0), as PyTorch does. */
static void cf_unary(const lh_layer *L, cf_expected *E, int training,
                     uint64_t seed)
{
    const char *t = L->type;
    size_t n = L->x[0].n;
    const float *x = L->x[0].data, *dy = L->dy.data;
    double ytol = 0.0, dxtol = 0.0, h0 = 0.0, h1 = 0.0;
    if (strcmp(t, "tanh") == 0 || strcmp(t, "sigmoid") == 0) {
        /* A few ulps for the libm call and the division; the derivative
         * from a float32 y has relative error amplified by up to ~30 on
         * the test's input ranges (|x| <= 2 for tanh, <= 3 for sigmoid). */
        ytol = 1e-6;
        dxtol = 1e-5;
    } else if (strcmp(t, "silu") == 0) {
        /* cnn_expf (1 ulp), a division and two or three multiplies, for y
         * and for dx alike: dx is computed from x, not from a rounded y. */
        ytol = 1e-6;
        dxtol = 1e-6;
    } else if (strcmp(t, "gelu") == 0) {
        /* In float (plugins/gelu), measured on every 97th float of |x| <=
         * 12.8 (erf) and 9.9 (tanh; beyond, y flushes tails to 0) against
         * double; these inputs are within 8. erf: a Chebyshev fit of erfc good to 1.2e-7,
         * two cnn_expf, a few roundings; y within 8.6 u of |y|, dx within
         * 8.3 u of |dy| (Phi + |x| phi), the scale of the sum that
         * cancels near x = -0.75. tanh: u's rounding grows by |2 u| in
         * exp(2 u), so the scales below carry a factor 1 + |2 u|; within
         * 3.1 u of those. */
        h0 = (double)lh_hp(L, "approximate")->i[0]; /* 1: tanh */
        ytol = (h0 != 0.0 ? 6 : 12) * CF_U;
        dxtol = (h0 != 0.0 ? 6 : 12) * CF_U;
    } else if (strcmp(t, "elu") == 0) {
        ytol = 1e-6; /* expm1f, expf: a few ulps, then one multiply */
        dxtol = 1e-6;
    } else if (strcmp(t, "leakyrelu") == 0 || strcmp(t, "hardswish") == 0 ||
               strcmp(t, "hardsigmoid") == 0) {
        /* The float32 rounding of the hyperparameter and two or three
         * operations. */
        ytol = 8 * CF_U;
        dxtol = 8 * CF_U;
    } else if (strcmp(t, "dropout") == 0 && training) {
        ytol = 4 * CF_U; /* one multiply or divide by 1 / (1 - rate) */
        dxtol = 4 * CF_U;
    }
    if (strcmp(t, "leakyrelu") == 0)
        h0 = lh_hp(L, "negative_slope")->f;
    else if (strcmp(t, "elu") == 0)
        h0 = lh_hp(L, "alpha")->f;
    else if (strcmp(t, "clip") == 0)
        h0 = lh_hp(L, "min")->f, h1 = lh_hp(L, "max")->f;
    else if (strcmp(t, "hardsigmoid") == 0)
        h0 = lh_hp(L, "alpha")->f, h1 = lh_hp(L, "beta")->f;
    cf_alloc(&E->y, n, ytol);
    cf_alloc(&E->dx[0], n, dxtol);
    double rate = strcmp(t, "dropout") == 0 ? lh_hp(L, "rate")->f : 0.0;
    for (size_t i = 0; i < n; i++) {
        double v = x[i], d = dy[i], y, g, ym = -1, gm = -1;
        if (strcmp(t, "relu") == 0) {
            y = v > 0 ? v : 0.0;
            g = v > 0 ? d : 0.0;
        } else if (strcmp(t, "tanh") == 0) {
            y = tanh(v);
            g = d * (1.0 - y * y);
        } else if (strcmp(t, "sigmoid") == 0) {
            y = 1.0 / (1.0 + exp(-v));
            g = d * y * (1.0 - y);
        } else if (strcmp(t, "leakyrelu") == 0) {
            y = v > 0 ? v : h0 * v;
            g = v > 0 ? d : h0 * d;
        } else if (strcmp(t, "relu6") == 0) {
            y = fmin(fmax(v, 0.0), 6.0);
            g = v > 0 && v < 6 ? d : 0.0;
        } else if (strcmp(t, "clip") == 0) {
            y = fmin(fmax(v, h0), h1);
            g = v >= h0 && v <= h1 ? d : 0.0;
        } else if (strcmp(t, "elu") == 0) {
            y = v > 0 ? v : h0 * expm1(v);
            g = v > 0 ? d : d * h0 * exp(v);
        } else if (strcmp(t, "hardswish") == 0) {
            y = v * fmin(fmax(v + 3.0, 0.0), 6.0) / 6.0;
            g = v < -3 ? 0.0 : v <= 3 ? d * (v / 3.0 + 0.5) : d;
            ym = fabs(v) * fmin(fabs(v) + 3.0, 6.0) / 6.0;
            gm = v < -3 || v > 3 ? fabs(g) : fabs(d) * (fabs(v) / 3.0 + 0.5);
        } else if (strcmp(t, "silu") == 0) {
            /* x sigmoid(x); the derivative s (1 + x (1 - s)) is 0 near
             * x = -1.28, where the sum cancels. */
            double s = 1.0 / (1.0 + exp(-v));
            y = v * s;
            g = d * s * (1.0 + v * (1.0 - s));
            gm = fabs(d) * s * (1.0 + fabs(v) * (1.0 - s));
        } else if (strcmp(t, "gelu") == 0 && h0 == 0.0) {
            /* x Phi(x), Phi(x) = erfc(-x / sqrt(2)) / 2 (1 + erf(x /
             * sqrt(2)) would lose the tail x < -3 to cancellation); the
             * derivative Phi + x phi is 0 near x = -0.75. */
            double phi_c = 0.5 * erfc(-v / sqrt(2.0));
            double pdf = exp(-0.5 * v * v) / sqrt(2.0 * M_PI);
            y = v * phi_c;
            g = d * (phi_c + v * pdf);
            gm = fabs(d) * (phi_c + fabs(v) * pdf);
        } else if (strcmp(t, "gelu") == 0) {
            /* 0.5 x (1 + tanh(u)) = x sigmoid(2 u), written so (1 + tanh
             * rounds to 0 in double below x = -7), and its derivative
             * s + 2 x s (1 - s) u'. */
            double k = sqrt(2.0 / M_PI);
            double u = k * (v + 0.044715 * v * v * v);
            double du = k * (1.0 + 3.0 * 0.044715 * v * v);
            double s = 1.0 / (1.0 + exp(-2.0 * u));
            double c = 1.0 / (1.0 + exp(2.0 * u)); /* 1 - s */
            y = v * s;
            g = d * (s + 2.0 * v * s * c * du);
            gm = fabs(d) * (s + 2.0 * fabs(v) * s * c * du);
            ym = fabs(y) * (1.0 + fabs(2.0 * u)); /* see ytol above */
            gm *= 1.0 + fabs(2.0 * u);
        } else if (strcmp(t, "hardsigmoid") == 0) {
            double z = h0 * v + h1;
            y = fmin(fmax(z, 0.0), 1.0);
            g = z > 0 && z < 1 ? h0 * d : 0.0;
            ym = z > 0 && z < 1 ? fabs(h0 * v) + fabs(h1) : fabs(y);
        } else if (strcmp(t, "dropout") == 0 && training) {
            /* Inverted dropout with the ABI's stateless hash, as the
             * plugin documents: keep iff hash(seed, i) >= rate. */
            int keep = cnn_uniform_hash(seed, i) >= rate;
            y = keep ? v / (1.0 - rate) : 0.0;
            g = keep ? d / (1.0 - rate) : 0.0;
        } else { /* flatten, identity, dropout at inference: the identity */
            y = v;
            g = d;
        }
        E->y.ref[i] = y;
        E->dx[0].ref[i] = g;
        E->y.mag[i] = ym >= 0 ? ym : fabs(y);
        E->dx[0].mag[i] = gm >= 0 ? gm : fabs(g);
    }
}

/* PReLU: weight [C] (dim 1) or [1]; the slope's gradient sums dy x over
 * its channel's x <= 0, so its error scale is the sum of |dy x|. */
static void cf_prelu(const lh_layer *L, cf_expected *E)
{
    const cnn_shape *s = &L->in_shapes[0];
    size_t n = L->x[0].n, c = L->p[0].n, inner = 1;
    for (int32_t i = c > 1 ? 2 : 1; i < s->rank; i++)
        inner *= (size_t)s->dims[i];
    const float *x = L->x[0].data, *dy = L->dy.data, *a = L->p[0].data;
    cf_alloc(&E->y, n, 4 * CF_U);
    cf_alloc(&E->dx[0], n, 4 * CF_U);
    cf_alloc(&E->dp[0], c, cf_gamma((double)(n / c)));
    for (size_t i = 0; i < n; i++) {
        size_t k = (i / inner) % c;
        double v = x[i], d = dy[i];
        E->y.ref[i] = v > 0 ? v : a[k] * v;
        E->dx[0].ref[i] = v > 0 ? d : a[k] * d;
        if (v <= 0) {
            E->dp[0].ref[k] += v * d;
            E->dp[0].mag[k] += fabs(v * d);
        }
    }
    cf_mag_abs(&E->y);
    cf_mag_abs(&E->dx[0]);
}

static void cf_conv(const lh_layer *L, cf_expected *E)
{
    ref_conv g;
    cf_conv_geom(L, &g);
    int bias = L->n_params == 2;
    double *x = ref_from_float(L->x[0].data, L->x[0].n, 0);
    double *xa = ref_from_float(L->x[0].data, L->x[0].n, 1);
    double *w = ref_from_float(L->p[0].data, L->p[0].n, 0);
    double *wa = ref_from_float(L->p[0].data, L->p[0].n, 1);
    double *b = bias ? ref_from_float(L->p[1].data, L->p[1].n, 0) : NULL;
    double *ba = bias ? ref_from_float(L->p[1].data, L->p[1].n, 1) : NULL;
    double *dy = ref_from_float(L->dy.data, L->dy.n, 0);
    double *dya = ref_from_float(L->dy.data, L->dy.n, 1);
    double outputs = (double)(g.n * g.oh * g.ow);
    cf_alloc(&E->y, L->y.n,
             cf_gamma((double)(g.c / g.groups * g.kh * g.kw + 1)));
    cf_alloc(&E->dx[0], L->x[0].n,
             cf_gamma((double)(g.o / g.groups * g.kh * g.kw)));
    cf_alloc(&E->dp[0], L->p[0].n, cf_gamma(outputs));
    ref_conv_forward(&g, x, w, b, E->y.ref);
    ref_conv_forward(&g, xa, wa, ba, E->y.mag);
    if (bias)
        cf_alloc(&E->dp[1], L->p[1].n, cf_gamma(outputs));
    ref_conv_backward(&g, x, w, dy, E->dx[0].ref, E->dp[0].ref,
                      bias ? E->dp[1].ref : NULL);
    ref_conv_backward(&g, xa, wa, dya, E->dx[0].mag, E->dp[0].mag,
                      bias ? E->dp[1].mag : NULL);
    free(x), free(xa), free(w), free(wa), free(b), free(ba), free(dy);
    free(dya);
}

static void cf_pool(const lh_layer *L, cf_expected *E, int is_max)
{
    ref_pool g;
    cf_pool_geom(L, &g);
    double *x = ref_from_float(L->x[0].data, L->x[0].n, 0);
    double *xa = ref_from_float(L->x[0].data, L->x[0].n, 1);
    double *dy = ref_from_float(L->dy.data, L->dy.n, 0);
    double *dya = ref_from_float(L->dy.data, L->dy.n, 1);
    double window = (double)(g.kh * g.kw);
    cf_alloc(&E->y, L->y.n, is_max ? 0.0 : cf_gamma(window + 1));
    /* Overlapping windows add up to kh * kw gradients into one input. */
    cf_alloc(&E->dx[0], L->x[0].n, cf_gamma(window + 1));
    if (is_max) {
        int64_t *arg = malloc(L->y.n * sizeof *arg);
        cr_assert_not_null(arg);
        ref_maxpool_forward(&g, x, E->y.ref, arg);
        cf_mag_abs(&E->y);
        ref_maxpool_backward(&g, arg, dy, E->dx[0].ref);
        ref_maxpool_backward(&g, arg, dya, E->dx[0].mag);
        free(arg);
    } else {
        ref_avgpool_forward(&g, x, E->y.ref);
        ref_avgpool_forward(&g, xa, E->y.mag);
        ref_avgpool_backward(&g, dy, E->dx[0].ref);
        ref_avgpool_backward(&g, dya, E->dx[0].mag);
    }
    free(x), free(xa), free(dy), free(dya);
}

static void cf_dense(const lh_layer *L, cf_expected *E)
{
    int64_t n = L->in_shapes[0].dims[0], k = cf_features(&L->in_shapes[0]);
    int64_t m = lh_hp(L, "units")->i[0];
    int bias = L->n_params == 2;
    double *x = ref_from_float(L->x[0].data, L->x[0].n, 0);
    double *xa = ref_from_float(L->x[0].data, L->x[0].n, 1);
    double *w = ref_from_float(L->p[0].data, L->p[0].n, 0);
    double *wa = ref_from_float(L->p[0].data, L->p[0].n, 1);
    double *b = bias ? ref_from_float(L->p[1].data, L->p[1].n, 0) : NULL;
    double *ba = bias ? ref_from_float(L->p[1].data, L->p[1].n, 1) : NULL;
    double *dy = ref_from_float(L->dy.data, L->dy.n, 0);
    double *dya = ref_from_float(L->dy.data, L->dy.n, 1);
    cf_alloc(&E->y, L->y.n, cf_gamma((double)(k + 1)));
    cf_alloc(&E->dx[0], L->x[0].n, cf_gamma((double)m));
    cf_alloc(&E->dp[0], L->p[0].n, cf_gamma((double)n));
    if (bias)
        cf_alloc(&E->dp[1], L->p[1].n, cf_gamma((double)n));
    ref_dense_forward(n, k, m, x, w, b, E->y.ref);
    ref_dense_forward(n, k, m, xa, wa, ba, E->y.mag);
    ref_dense_backward(n, k, m, x, w, dy, E->dx[0].ref, E->dp[0].ref,
                       bias ? E->dp[1].ref : NULL);
    ref_dense_backward(n, k, m, xa, wa, dya, E->dx[0].mag, E->dp[0].mag,
                       bias ? E->dp[1].mag : NULL);
    free(x), free(xa), free(w), free(wa), free(b), free(ba), free(dy);
    free(dya);
}

/* n, c, p of a softmax over the layer's axis: the dims before it, the
 * axis, the dims after it. */
static void cf_softmax_dims(const lh_layer *L, int64_t *n, int64_t *c,
                            int64_t *p)
{
    const cnn_shape *s = &L->in_shapes[0];
    int64_t a = lh_hp(L, "axis")->i[0];
    a = a < 0 ? a + s->rank : a;
    cr_assert(a >= 1 && a < s->rank, "test config: bad softmax axis");
    *n = 1, *p = 1;
    for (int64_t i = 0; i < a; i++)
        *n *= s->dims[i];
    *c = s->dims[a];
    for (int64_t i = a + 1; i < s->rank; i++)
        *p *= s->dims[i];
}

static void cf_softmax(const lh_layer *L, cf_expected *E)
{
    int64_t n, c, p;
    cf_softmax_dims(L, &n, &c, &p);
    double *x = ref_from_float(L->x[0].data, L->x[0].n, 0);
    double *dy = ref_from_float(L->dy.data, L->dy.n, 0);
    /* exp(x - m) has relative error ~ (|x - m| + 2) u: the rounding of
     * x - m is amplified by exp; with |x - m| <= 16 and c <= 10 in the
     * configs, (16 + 2 + c) u * 2 < 1e-5. Backward adds c terms of dy y. */
    cf_alloc(&E->y, L->y.n, 1e-5);
    cf_alloc(&E->dx[0], L->x[0].n, 2e-5);
    ref_softmax_forward(n, c, p, x, E->y.ref);
    cf_mag_abs(&E->y);
    ref_softmax_backward(n, c, p, E->y.ref, dy, E->dx[0].ref, E->dx[0].mag);
    free(x), free(dy);
}

/* log softmax from the softmax reference: y = log(softmax), and
 * dx = dy - softmax * sum(dy) over the axis. y = x - m - log(s) is a
 * difference, so its error scale is |x| + |m| + |log s|, bounded here by
 * |x| plus the row's largest |x| plus log c; dx's is |dy| + softmax sum
 * |dy|. */
static void cf_logsoftmax(const lh_layer *L, cf_expected *E)
{
    int64_t n, c, p;
    cf_softmax_dims(L, &n, &c, &p);
    size_t total = L->x[0].n;
    double *x = ref_from_float(L->x[0].data, total, 0);
    double *dy = ref_from_float(L->dy.data, total, 0);
    double *sm = calloc(total ? total : 1, sizeof *sm);
    cr_assert_not_null(sm);
    ref_softmax_forward(n, c, p, x, sm);
    cf_alloc(&E->y, total, 1e-5);
    cf_alloc(&E->dx[0], total, 1e-5);
    for (int64_t a = 0; a < n; a++)
        for (int64_t q = 0; q < p; q++) {
            size_t base = (size_t)(a * c * p + q);
            double sum = 0.0, asum = 0.0, xmax = 0.0;
            for (int64_t j = 0; j < c; j++) {
                size_t k = base + (size_t)(j * p);
                sum += dy[k];
                asum += fabs(dy[k]);
                xmax = fmax(xmax, fabs(x[k]));
            }
            for (int64_t j = 0; j < c; j++) {
                size_t k = base + (size_t)(j * p);
                E->y.ref[k] = log(sm[k]);
                E->y.mag[k] = fabs(x[k]) + xmax + log((double)c) + 1.0;
                E->dx[0].ref[k] = dy[k] - sm[k] * sum;
                E->dx[0].mag[k] = fabs(dy[k]) + sm[k] * asum;
            }
        }
    free(x), free(dy), free(sm);
}

/* Global pools: one value per plane (every dim after C). */
static void cf_global_pool(const lh_layer *L, cf_expected *E, int is_max)
{
    size_t planes = L->y.n, plane = planes ? L->x[0].n / planes : 0;
    const float *x = L->x[0].data, *dy = L->dy.data;
    cf_alloc(&E->y, planes, is_max ? 0.0 : cf_gamma((double)plane));
    cf_alloc(&E->dx[0], L->x[0].n, is_max ? 0.0 : 4 * CF_U);
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * plane;
        if (is_max) {
            size_t at = 0;
            for (size_t i = 1; i < plane; i++)
                if (xp[i] > xp[at])
                    at = i;
            E->y.ref[pl] = xp[at];
            E->y.mag[pl] = fabs((double)xp[at]);
            E->dx[0].ref[pl * plane + at] = dy[pl];
        } else {
            double s = 0.0, sa = 0.0;
            for (size_t i = 0; i < plane; i++) {
                s += xp[i];
                sa += fabs((double)xp[i]);
            }
            E->y.ref[pl] = s / (double)plane;
            E->y.mag[pl] = sa / (double)plane;
            for (size_t i = 0; i < plane; i++)
                E->dx[0].ref[pl * plane + i] = dy[pl] / (double)plane;
        }
    }
    cf_mag_abs(&E->dx[0]);
}

/* mul: y = a b with b the same shape as a or [N, C, 1, ...], given as
 * either input; the broadcast b's gradient sums dy a over each plane. */
static void cf_mul(const lh_layer *L, cf_expected *E)
{
    uint32_t fa = L->x[1].n > L->x[0].n, fb = 1 - fa;
    size_t n = L->x[fa].n, nb = L->x[fb].n, plane = nb ? n / nb : 0;
    const float *a = L->x[fa].data, *b = L->x[fb].data, *dy = L->dy.data;
    cf_alloc(&E->y, n, 2 * CF_U);
    cf_alloc(&E->dx[fa], n, 2 * CF_U);
    cf_alloc(&E->dx[fb], nb, plane > 1 ? cf_gamma((double)plane) : 2 * CF_U);
    for (size_t i = 0; i < n; i++) {
        size_t k = i / plane;
        E->y.ref[i] = (double)a[i] * b[k];
        E->dx[fa].ref[i] = (double)dy[i] * b[k];
        E->dx[fb].ref[k] += (double)dy[i] * a[i];
        E->dx[fb].mag[k] += fabs((double)dy[i] * a[i]);
    }
    cf_mag_abs(&E->y);
    cf_mag_abs(&E->dx[fa]);
}

static void cf_add(const lh_layer *L, cf_expected *E)
{
    size_t n = L->y.n;
    cf_alloc(&E->y, n, cf_gamma((double)L->n_in));
    for (uint32_t k = 0; k < L->n_in; k++) {
        cf_alloc(&E->dx[k], n, 0.0);
        for (size_t i = 0; i < n; i++) {
            E->y.ref[i] += (double)L->x[k].data[i];
            E->y.mag[i] += fabs((double)L->x[k].data[i]);
            E->dx[k].ref[i] = L->dy.data[i];
        }
        cf_mag_abs(&E->dx[k]);
    }
}

static void cf_concat(const lh_layer *L, cf_expected *E)
{
    int64_t c[LH_MAX_INPUTS], p = 1;
    double *xs[LH_MAX_INPUTS];
    const cnn_shape *s = &L->in_shapes[0];
    for (int32_t i = 2; i < s->rank; i++)
        p *= s->dims[i];
    for (uint32_t k = 0; k < L->n_in; k++) {
        c[k] = L->in_shapes[k].dims[1];
        xs[k] = ref_from_float(L->x[k].data, L->x[k].n, 0);
        cf_alloc(&E->dx[k], L->x[k].n, 0.0);
    }
    double *dxs[LH_MAX_INPUTS];
    for (uint32_t k = 0; k < L->n_in; k++)
        dxs[k] = E->dx[k].ref;
    double *dy = ref_from_float(L->dy.data, L->dy.n, 0);
    cf_alloc(&E->y, L->y.n, 0.0);
    ref_concat_forward(s->dims[0], p, L->n_in, c, (const double *const *)xs,
                       E->y.ref);
    ref_concat_backward(s->dims[0], p, L->n_in, c, dy, dxs);
    cf_mag_abs(&E->y);
    for (uint32_t k = 0; k < L->n_in; k++) {
        cf_mag_abs(&E->dx[k]);
        free(xs[k]);
    }
    free(dy);
}

/* channel_shuffle and slice: [N, C, P] with P every dim after C; both
 * directions are copies (and slice's zeros), so exact: rtol 0. */
static void cf_channels(const lh_layer *L, cf_expected *E, int shuffle)
{
    const cnn_shape *s = &L->in_shapes[0];
    int64_t n = s->dims[0], c = s->dims[1], p = 1;
    for (int32_t i = 2; i < s->rank; i++)
        p *= s->dims[i];
    double *x = ref_from_float(L->x[0].data, L->x[0].n, 0);
    double *dy = ref_from_float(L->dy.data, L->dy.n, 0);
    cf_alloc(&E->y, L->y.n, 0.0);
    cf_alloc(&E->dx[0], L->x[0].n, 0.0);
    if (shuffle) {
        int64_t g = lh_hp(L, "groups")->i[0];
        ref_channel_shuffle_forward(n, c, p, g, x, E->y.ref);
        ref_channel_shuffle_backward(n, c, p, g, dy, E->dx[0].ref);
    } else {
        int64_t a = lh_hp(L, "start")->i[0], b = lh_hp(L, "end")->i[0];
        ref_slice_forward(n, c, p, a, b, x, E->y.ref);
        ref_slice_backward(n, c, p, a, b, dy, E->dx[0].ref);
    }
    cf_mag_abs(&E->y);
    cf_mag_abs(&E->dx[0]);
    free(x), free(dy);
}

/* Batch norm: every result is computed in double by the plugin and
 * rounded once to float32, so a few ulps of the sum of absolute terms. The
 * running statistics have no gradient (zeros, exactly); the values they
 * take after one forward are checked instead. */
static void cf_batchnorm(const lh_layer *L, cf_expected *E, int training)
{
    const cnn_shape *s = &L->in_shapes[0];
    int64_t pixels = s->rank == 4 ? s->dims[2] * s->dims[3] : 1;
    ref_bn g = {s->dims[0], s->dims[1], pixels,
                lh_hp(L, "eps")->f, lh_hp(L, "momentum")->f, training};
    size_t c = (size_t)g.c;
    double rtol = 16 * CF_U;
    double *x = ref_from_float(L->x[0].data, L->x[0].n, 0);
    double *dy = ref_from_float(L->dy.data, L->dy.n, 0);
    double *p[4];
    for (int j = 0; j < 4; j++)
        p[j] = ref_from_float(L->p[j].data, L->p[j].n, 0);
    double *mean = calloc(c, sizeof *mean);
    double *invstd = calloc(c, sizeof *invstd);
    cr_assert(mean && invstd);
    cf_alloc(&E->y, L->y.n, rtol);
    cf_alloc(&E->dx[0], L->x[0].n, rtol);
    cf_alloc(&E->dp[0], c, rtol);
    cf_alloc(&E->dp[1], c, rtol);
    cf_alloc(&E->dp[2], c, 0.0);
    cf_alloc(&E->dp[3], c, 0.0);
    cf_alloc(&E->p_after[2], c, rtol);
    cf_alloc(&E->p_after[3], c, rtol);
    ref_bn_stats(&g, x, p[2], p[3], mean, invstd, E->p_after[2].ref,
                 E->p_after[3].ref);
    for (size_t k = 0; k < c; k++) {
        double mo = training ? g.momentum : 0.0;
        E->p_after[2].mag[k] =
            fabs(E->p_after[2].ref[k]) + mo * fabs(mean[k]) + fabs(p[2][k]);
        E->p_after[3].mag[k] = fabs(E->p_after[3].ref[k]);
    }
    ref_bn_forward(&g, x, mean, invstd, p[0], p[1], E->y.ref, E->y.mag);
    ref_bn_backward(&g, x, mean, invstd, p[0], dy, E->dx[0].ref,
                    E->dx[0].mag, E->dp[0].ref, E->dp[0].mag, E->dp[1].ref,
                    E->dp[1].mag);
    if (training) {
        /* Sample 0 alone has its own statistics. */
        ref_bn g1 = g;
        g1.n = 1;
        if (g.n == 1) {
            /* the first sample of y is the whole of y */
        } else if (g.p < 2) {
            E->batch1_skip = 1;
        } else {
            size_t per = L->y.n / (size_t)g.n;
            cf_alloc(&E->y_batch1, per, rtol);
            ref_bn_stats(&g1, x, p[2], p[3], mean, invstd, NULL, NULL);
            ref_bn_forward(&g1, x, mean, invstd, p[0], p[1], E->y_batch1.ref,
                           E->y_batch1.mag);
        }
    }
    free(x), free(dy), free(mean), free(invstd);
    for (int j = 0; j < 4; j++)
        free(p[j]);
}

/* Layer norm: computed in double by the plugin and rounded once to
 * float32, like batch norm, so a few ulps of the sum of absolute terms;
 * the statistics are per sample, so sample 0 alone gives the first sample
 * of y (the batch-1 check needs nothing of its own). */
static void cf_layernorm(const lh_layer *L, cf_expected *E)
{
    const cnn_shape *s = &L->in_shapes[0];
    int64_t p = 1;
    for (int32_t i = 2; i < s->rank; i++)
        p *= s->dims[i];
    ref_ln g = {s->dims[0], s->dims[1], p, lh_hp(L, "eps")->f};
    int affine = L->n_params == 2;
    size_t c = (size_t)g.c;
    double rtol = 16 * CF_U;
    double *x = ref_from_float(L->x[0].data, L->x[0].n, 0);
    double *dy = ref_from_float(L->dy.data, L->dy.n, 0);
    double *w = affine ? ref_from_float(L->p[0].data, c, 0) : NULL;
    double *b = affine ? ref_from_float(L->p[1].data, c, 0) : NULL;
    cf_alloc(&E->y, L->y.n, rtol);
    cf_alloc(&E->dx[0], L->x[0].n, rtol);
    if (affine) {
        cf_alloc(&E->dp[0], c, rtol);
        cf_alloc(&E->dp[1], c, rtol);
    }
    ref_ln_forward(&g, x, w, b, E->y.ref, E->y.mag);
    ref_ln_backward(&g, x, w, dy, E->dx[0].ref, E->dx[0].mag,
                    affine ? E->dp[0].ref : NULL, affine ? E->dp[0].mag : NULL,
                    affine ? E->dp[1].ref : NULL,
                    affine ? E->dp[1].mag : NULL);
    free(x), free(dy), free(w), free(b);
}

void cf_expected_compute(const lh_layer *L, int training, uint64_t seed,
                         cf_expected *E)
{
    cf_expected_shapes(L, E);
    cr_assert(cf_numel(&E->out_shape) == L->y.n);
    const char *t = L->type;
    if (strcmp(t, "conv") == 0)
        cf_conv(L, E);
    else if (strcmp(t, "maxpool") == 0)
        cf_pool(L, E, 1);
    else if (strcmp(t, "avgpool") == 0)
        cf_pool(L, E, 0);
    else if (strcmp(t, "dense") == 0)
        cf_dense(L, E);
    else if (strcmp(t, "softmax") == 0)
        cf_softmax(L, E);
    else if (strcmp(t, "add") == 0)
        cf_add(L, E);
    else if (strcmp(t, "concat") == 0)
        cf_concat(L, E);
    else if (strcmp(t, "batchnorm") == 0)
        cf_batchnorm(L, E, training);
    else if (strcmp(t, "prelu") == 0)
        cf_prelu(L, E);
    else if (strcmp(t, "layernorm") == 0)
        cf_layernorm(L, E);
    else if (strcmp(t, "logsoftmax") == 0)
        cf_logsoftmax(L, E);
    else if (strcmp(t, "globalavgpool") == 0)
        cf_global_pool(L, E, 0);
    else if (strcmp(t, "globalmaxpool") == 0)
        cf_global_pool(L, E, 1);
    else if (strcmp(t, "mul") == 0)
        cf_mul(L, E);
    else if (strcmp(t, "channel_shuffle") == 0)
        cf_channels(L, E, 1);
    else if (strcmp(t, "slice") == 0)
        cf_channels(L, E, 0);
    else
        cf_unary(L, E, training, seed);
}

static void cf_expect_free(cf_expect *e)
{
    free(e->ref);
    free(e->mag);
    e->ref = e->mag = NULL;
}

void cf_expected_free(cf_expected *E)
{
    cf_expect_free(&E->y);
    for (size_t i = 0; i < LH_MAX_INPUTS; i++)
        cf_expect_free(&E->dx[i]);
    for (size_t i = 0; i < LH_MAX_PARAMS; i++) {
        cf_expect_free(&E->dp[i]);
        cf_expect_free(&E->p_after[i]);
    }
    cf_expect_free(&E->y_batch1);
}
