/* SPDX-License-Identifier: MIT */
/* dense: fully connected layer, y = x W^T + b (PyTorch's nn.Linear).
 *
 * The input may have any rank >= 2; everything after the batch dimension is
 * one feature vector in C,H,W order, so a dense layer after a convolution
 * needs no explicit flatten. Weight is [units, in_features] and bias [units],
 * PyTorch's layout, so state_dicts convert by renaming keys only.
 *
 * Gradients, with x [N, K], W [M, K], dy [N, M]:
 *   dx = dy W        dW = dy^T x        db = sum over n of dy
 * Products go through the plugins' GEMM (plugins/common/gemm: our kernels
 * or OpenBLAS, whichever measured faster on this machine for the shape),
 * single-threaded inside env->parallel_for slots that split the output
 * features (and, for dx, the input features). At batch 1 the forward pass
 * is a matrix-vector product bound by memory: cnn_sgemv streams each
 * slot's rows of W once (docs/performance.md, "Dense layers at batch 1"). */
#include <cblas.h>

#include "gemm.h"
#include <limits.h>
#include <string.h>

#include "cnn/layer.h"

enum { HP_UNITS, HP_BIAS, HP_INIT };
enum { INIT_HE_UNIFORM, INIT_HE_NORMAL, INIT_GLOROT_UNIFORM, INIT_TORCH };

static const char *const dense_init_choices[] = {
    "he_uniform", "he_normal", "glorot_uniform", "torch", NULL};

static const cnn_hparam_spec dense_hparams[] = {
    {"units", CNN_HP_INT, "number of output features", 1, 0, 1, 16777216,
     NULL},
    {"bias", CNN_HP_BOOL, "add a learned bias", 0, 1, 0, 1, NULL},
    {"init", CNN_HP_ENUM,
     "weight init; torch = U(+-1/sqrt(fan_in)) for weight and bias, "
     "others zero the bias",
     0, INIT_TORCH, 0, 0, dense_init_choices},
};

/* Features per sample: the product of dims[1..], checked to fit a BLAS int
 * because every GEMM dimension here is one. */
static cnn_status dense_features(const cnn_shape *s, int64_t *features,
                                 cnn_errbuf *err)
{
    if (s->rank < 2 || s->rank > CNN_MAX_RANK)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "dense: input rank %d, need 2..%d "
                              "(batch first)",
                              (int)s->rank, CNN_MAX_RANK);
    if (s->dims[0] < 0 || s->dims[0] > INT_MAX)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "dense: batch size %lld out of range 0..%d",
                              (long long)s->dims[0], INT_MAX);
    int64_t k = 1;
    for (int32_t i = 1; i < s->rank; i++) {
        if (s->dims[i] < 1)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "dense: input dim %d is %lld, must be >= 1",
                                  (int)i, (long long)s->dims[i]);
        if (k > INT_MAX / s->dims[i])
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "dense: input features exceed %d at dim %d",
                                  INT_MAX, (int)i);
        k *= s->dims[i];
    }
    *features = k;
    return CNN_OK;
}

static cnn_status dense_infer_shape(const cnn_hparam_value *hp,
                                    const cnn_shape *inputs, uint32_t n_inputs,
                                    cnn_shape *output, cnn_errbuf *err)
{
    int64_t k = 0;
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "dense: takes 1 input, got %u", n_inputs);
    cnn_status st = dense_features(&inputs[0], &k, err);
    if (st != CNN_OK)
        return st;
    int64_t units = hp[HP_UNITS].i[0];
    if (units < 1 || units > 16777216)
        return cnn_layer_fail(err, CNN_ERR_INVALID,
                              "dense: units %lld out of range 1..16777216",
                              (long long)units);
    if (k > (int64_t)(SIZE_MAX / sizeof(float)) / units)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "dense: weight %lldx%lld is too large",
                              (long long)units, (long long)k);
    *output = cnn_shape2(inputs[0].dims[0], units);
    return CNN_OK;
}

static cnn_status dense_params(const cnn_layer *layer, cnn_param_spec *specs,
                               uint32_t capacity, uint32_t *count,
                               cnn_errbuf *err)
{
    const cnn_hparam_value *hp = layer->hparams;
    int64_t k = 0;
    if (layer->n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "dense '%s': takes 1 input, got %u", layer->name,
                              layer->n_inputs);
    cnn_status st = dense_features(&layer->input_shapes[0], &k, err);
    if (st != CNN_OK)
        return st;
    int64_t units = hp[HP_UNITS].i[0];
    int has_bias = hp[HP_BIAS].i[0] != 0;
    int64_t init = hp[HP_INIT].i[0];
    cnn_init_rule wrule;
    switch (init) {
    case INIT_HE_UNIFORM: wrule = CNN_INIT_HE_UNIFORM; break;
    case INIT_HE_NORMAL: wrule = CNN_INIT_HE_NORMAL; break;
    case INIT_GLOROT_UNIFORM: wrule = CNN_INIT_GLOROT_UNIFORM; break;
    case INIT_TORCH: wrule = CNN_INIT_FAN_IN_UNIFORM; break;
    default:
        return cnn_layer_fail(err, CNN_ERR_INVALID,
                              "dense '%s': init index %lld unknown",
                              layer->name, (long long)init);
    }

    *count = has_bias ? 2u : 1u;
    if (capacity >= 1) {
        cnn_param_spec *w = &specs[0];
        memset(w, 0, sizeof *w);
        strcpy(w->name, "weight");
        w->shape = cnn_shape2(units, k);
        w->init = wrule;
        w->fan_in = k;
        w->fan_out = units;
        w->flags = 0;
    }
    if (has_bias && capacity >= 2) {
        cnn_param_spec *b = &specs[1];
        memset(b, 0, sizeof *b);
        strcpy(b->name, "bias");
        b->shape.rank = 1;
        b->shape.dims[0] = units;
        /* PyTorch draws the bias from U(+-1/sqrt(fan_in)) too. */
        b->init = init == INIT_TORCH ? CNN_INIT_FAN_IN_UNIFORM : CNN_INIT_ZEROS;
        b->fan_in = k;
        b->fan_out = units;
        b->flags = CNN_PARAM_NO_DECAY;
    }
    return CNN_OK;
}

/* Shapes of one call, checked against the parameters actually passed: the
 * host should never get this wrong, but a mismatch here would be an
 * out-of-bounds BLAS call, so it is worth one comparison per call. */
typedef struct dense_dims {
    int n, k, m;
    const float *w, *b;
} dense_dims;

static cnn_status dense_check(const cnn_layer *layer, const cnn_tensor *x,
                              const cnn_tensor *params, uint32_t n_params,
                              const cnn_tensor *y, dense_dims *d,
                              cnn_errbuf *err)
{
    int64_t k = 0;
    cnn_status st = dense_features(&x->shape, &k, err);
    if (st != CNN_OK)
        return st;
    int has_bias = layer->hparams[HP_BIAS].i[0] != 0;
    int64_t units = layer->hparams[HP_UNITS].i[0];
    uint32_t want = has_bias ? 2u : 1u;
    if (n_params != want || params == NULL)
        return cnn_layer_fail(err, CNN_ERR_INVALID,
                              "dense '%s': got %u parameter tensors, want %u",
                              layer->name, n_params, want);
    const cnn_shape *ws = &params[0].shape;
    if (ws->rank != 2 || ws->dims[0] != units || ws->dims[1] != k)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "dense '%s': weight is not %lldx%lld",
                              layer->name, (long long)units, (long long)k);
    if (has_bias && (params[1].shape.rank != 1 ||
                     params[1].shape.dims[0] != units))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "dense '%s': bias is not [%lld]", layer->name,
                              (long long)units);
    if (y->shape.rank != 2 || y->shape.dims[0] != x->shape.dims[0] ||
        y->shape.dims[1] != units)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "dense '%s': output is not %lldx%lld",
                              layer->name, (long long)x->shape.dims[0],
                              (long long)units);
    d->n = (int)x->shape.dims[0];
    d->k = (int)k;
    d->m = (int)units;
    d->w = params[0].data;
    d->b = has_bias ? params[1].data : NULL;
    return CNN_OK;
}

/* ---- Threads ------------------------------------------------------------ */

/* Below this many multiply-adds a call runs on the calling thread. */
#ifndef DENSE_PAR_MIN_MACS
#define DENSE_PAR_MIN_MACS ((uint64_t)1 << 16)
#endif

/* One call, split into slots: forward, dW and db by output features (rows
 * of W), dx by input features (columns of W). Every slot calls BLAS on its
 * own block, so the blocks are disjoint and nothing is reduced; with n = 1
 * each slot runs sgemv on its rows of W, which splits the memory traffic
 * that bounds a batch-1 layer. */
typedef struct dense_run {
    dense_dims d;
    const float *x, *dy;
    float *y, *dx, *dw, *db;
    size_t slots;
    const cnn_epilogue *ep; /* forward at inference, or NULL */
} dense_run;

/* Slot s's share of [0, total): boundaries rounded to the nearest
 * multiple of 16 so that every block but the last fills whole GEMM
 * micro-tiles (LeNet's 120 units split 64 + 56, not 48 + 72). */
static size_t dense_cut(size_t total, size_t s, size_t slots)
{
    if (s >= slots)
        return total;
    size_t b = (total * s / slots + 8) / 16 * 16;
    return b < total ? b : total;
}

/* Blocks of output features: one per thread, or four per thread for
 * layers of 256 or more units per thread, so that a thread the OS
 * preempts (the machine may be shared) holds up a quarter of its share
 * while the others take the rest (the pool hands out blocks one at a
 * time). */
static size_t dense_slots(const cnn_layer_env *env, const dense_dims *d)
{
    uint64_t macs = (uint64_t)d->n * (uint64_t)d->m * (uint64_t)d->k;
    size_t s, blocks = ((size_t)d->m + 15) / 16;
    if (!env || !env->parallel_for || env->threads < 2 ||
        macs < DENSE_PAR_MIN_MACS)
        return 1;
    s = (size_t)env->threads;
    if ((size_t)d->m >= 256 * s)
        s *= 4;
    return s < blocks ? s : blocks;
}

static void dense_run_slots(const cnn_layer_env *env, dense_run *r,
                            cnn_range_fn fn)
{
    if (r->slots > 1)
        env->parallel_for(env->host, r->slots, fn, r);
    else
        fn(r, 0, 1);
}

/* y[i, j] = the epilogue of feature j (its channel) of y[i, j], for
 * features [m0, m1). */
static void dense_epilogue(const cnn_epilogue *ep, float *y, int64_t n,
                           size_t m, size_t m0, size_t m1)
{
    const float lo = ep->lo, hi = ep->hi;
    for (size_t i = 0; i < (size_t)n; i++) {
        float *restrict row = y + i * m;
        for (size_t j = m0; j < m1; j++) {
            float v = ep->affine ? row[j] * ep->scale[j] + ep->shift[j] : row[j];
            v = v < lo ? lo : v;
            row[j] = v > hi ? hi : v;
        }
    }
}

/* y[:, m0:m1] = x W[m0:m1]^T + b[m0:m1]: the bias first, so the GEMM adds
 * it for free (beta = 1). */
static void dense_forward_slot(void *arg, size_t s0, size_t s1)
{
    const dense_run *r = arg;
    const dense_dims *d = &r->d;
    const size_t m = (size_t)d->m, k = (size_t)d->k;

    for (size_t s = s0; s < s1; s++) {
        size_t m0 = dense_cut(m, s, r->slots);
        size_t m1 = dense_cut(m, s + 1, r->slots);
        float beta = 0.0f;
        if (m1 <= m0)
            continue;
        if (d->b) {
            for (size_t i = 0; i < (size_t)d->n; i++)
                memcpy(r->y + i * m + m0, d->b + m0,
                       (m1 - m0) * sizeof *r->y);
            beta = 1.0f;
        }
        if (d->n == 1)
            cnn_sgemv(m1 - m0, k, 1.0f, d->w + m0 * k, k, r->x, beta,
                      r->y + m0);
        else /* a small batch streams W once; larger ones pack it */
            cnn_sgemv_batch((size_t)d->n, m1 - m0, k, 1.0f, d->w + m0 * k, k,
                            r->x, k, beta, r->y + m0, m);
        if (r->ep) /* a folded relu or batch norm (ABI 1.4) */
            dense_epilogue(r->ep, r->y, d->n, m, m0, m1);
    }
}

static cnn_status dense_forward(const cnn_layer *layer,
                                const cnn_forward_args *args, cnn_errbuf *err)
{
    dense_run r;
    memset(&r, 0, sizeof r);
    cnn_status st = dense_check(layer, &args->inputs[0], args->params,
                                args->n_params, args->output, &r.d, err);
    if (st != CNN_OK)
        return st;
    if (r.d.n == 0)
        return CNN_OK;
    r.x = args->inputs[0].data;
    r.y = args->output->data;
    r.ep = args->epilogue;
    r.slots = dense_slots(args->env, &r.d);
    dense_run_slots(args->env, &r, dense_forward_slot);
    return CNN_OK;
}

/* dW[m0:m1] = dy[:, m0:m1]^T x, db[m0:m1] = column sums of dy, and
 * dx[:, k0:k1] = dy W[:, k0:k1]. */
static void dense_backward_slot(void *arg, size_t s0, size_t s1)
{
    const dense_run *r = arg;
    const dense_dims *d = &r->d;
    const size_t m = (size_t)d->m, k = (size_t)d->k;

    for (size_t s = s0; s < s1; s++) {
        size_t m0 = dense_cut(m, s, r->slots);
        size_t m1 = dense_cut(m, s + 1, r->slots);
        size_t k0 = dense_cut(k, s, r->slots);
        size_t k1 = dense_cut(k, s + 1, r->slots);

        if (r->dw && m1 > m0)
            cnn_sgemm(1, 0, (m1 - m0), d->k, d->n, 1.0f, r->dy + m0, d->m,
                      r->x, d->k, 0.0f, r->dw + m0 * k, d->k);
        if (r->db && m1 > m0) {
            float *restrict db = r->db + m0;
            memset(db, 0, (m1 - m0) * sizeof *db);
            for (size_t i = 0; i < (size_t)d->n; i++) {
                const float *restrict row = r->dy + i * m + m0;
                for (size_t j = 0; j < m1 - m0; j++)
                    db[j] += row[j];
            }
        }
        if (r->dx && k1 > k0) {
            if (d->n == 1)
                cblas_sgemv(CblasRowMajor, CblasTrans, d->m, (int)(k1 - k0),
                            1.0f, d->w + k0, d->k, r->dy, 1, 0.0f,
                            r->dx + k0, 1);
            else
                cnn_sgemm(0, 0, d->n, (k1 - k0), d->m, 1.0f, r->dy, d->m,
                          d->w + k0, d->k, 0.0f, r->dx + k0, d->k);
        }
    }
}

static cnn_status dense_backward(const cnn_layer *layer,
                                 const cnn_backward_args *args,
                                 cnn_errbuf *err)
{
    dense_run r;
    memset(&r, 0, sizeof r);
    cnn_status st = dense_check(layer, &args->inputs[0], args->params,
                                args->n_params, args->output_grad, &r.d, err);
    if (st != CNN_OK)
        return st;
    r.x = args->inputs[0].data;
    r.dy = args->output_grad->data;
    r.dx = args->input_grads ? args->input_grads[0].data : NULL;
    if (args->param_grads) {
        r.dw = args->param_grads[0].data;
        r.db = r.d.b ? args->param_grads[1].data : NULL;
    }
    if (r.d.n == 0) {
        if (r.dw)
            memset(r.dw, 0, (size_t)r.d.m * (size_t)r.d.k * sizeof *r.dw);
        if (r.db)
            memset(r.db, 0, (size_t)r.d.m * sizeof *r.db);
        return CNN_OK;
    }
    if (!r.dw && !r.dx)
        return CNN_OK;
    r.slots = dense_slots(args->env, &r.d);
    dense_run_slots(args->env, &r, dense_backward_slot);
    return CNN_OK;
}

static uint64_t dense_flops(const cnn_hparam_value *hp,
                            const cnn_shape *inputs, uint32_t n_inputs,
                            const cnn_shape *output)
{
    (void)output;
    if (n_inputs != 1 || inputs[0].rank < 2)
        return 0;
    uint64_t f = 1;
    for (int32_t i = 1; i < inputs[0].rank && i < CNN_MAX_RANK; i++)
        f *= (uint64_t)(inputs[0].dims[i] > 0 ? inputs[0].dims[i] : 0);
    uint64_t n = (uint64_t)(inputs[0].dims[0] > 0 ? inputs[0].dims[0] : 0);
    return 2u * n * f * (uint64_t)hp[HP_UNITS].i[0];
}

static const cnn_layer_descriptor dense_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "dense",
    .summary = "fully connected: y = x W^T + b over all non-batch dims",
    .hparams = dense_hparams,
    .n_hparams = sizeof dense_hparams / sizeof dense_hparams[0],
    .min_inputs = 1,
    .max_inputs = 1,
    /* backward needs the inputs, never the output (ABI 1.3) */
    .flags = CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT |
             CNN_LAYER_FLAG_ACCEPTS_EPILOGUE,
    .infer_shape = dense_infer_shape,
    .create = NULL,
    .params = dense_params,
    .forward = dense_forward,
    .backward = dense_backward,
    .destroy = NULL,
    .flops = dense_flops,
};

CNN_LAYER_PLUGIN(dense_descriptor)
