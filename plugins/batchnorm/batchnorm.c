/* SPDX-License-Identifier: MIT */
/* batchnorm: batch normalisation over the channel axis, with the semantics
 * of PyTorch's nn.BatchNorm2d (input [N, C, H, W]) and nn.BatchNorm1d
 * (input [N, C]); parameter names, shapes and the momentum convention are
 * PyTorch's, so a torch state_dict maps onto it tensor for tensor.
 *
 * Per channel c, over the M = N * H * W values x of that channel:
 *
 *   training:   mean = sum x / M,  var = sum (x - mean)^2 / M  (biased)
 *               invstd = 1 / sqrt(var + eps)
 *               running_mean = (1 - momentum) running_mean + momentum mean
 *               running_var  = (1 - momentum) running_var
 *                              + momentum var M / (M - 1)      (unbiased)
 *   inference:  mean = running_mean, invstd = 1 / sqrt(running_var + eps)
 *   both:       xhat = (x - mean) invstd,  y = weight xhat + bias
 *
 * Backward, with k = weight invstd, S = sum dy and T = sum dy xhat:
 *
 *   training:   dx = k (dy - S / M - xhat T / M)
 *   inference:  dx = k dy       (the statistics are constants: a frozen
 *                                layer or an eval-mode gradient)
 *   both:       dweight = T,  dbias = S,  drunning_* = 0
 *
 * running_mean and running_var are CNN_PARAM_STATE: the optimiser never
 * touches them, a training-mode forward updates them in place, and their
 * "gradients" are written as zeros. The host runs a frozen layer with
 * training = 0, which uses and keeps the running statistics (like Keras's
 * non-trainable BatchNormalization).
 *
 * Nothing is kept between calls: backward recomputes the batch mean and
 * variance from its inputs with the same code and summation order as
 * forward, so it gets bit-identical statistics and depends only on its
 * arguments (a forward on another batch in between, as check-plugin does,
 * cannot mislead it). The cost is one extra read of x per backward.
 *
 * Work is split over channels with env->parallel_for; each channel's sums
 * run in double in a fixed (sample, pixel) order whatever the split, so the
 * results do not depend on the number of threads. Channels are processed
 * in blocks so that the [N, C] case walks memory contiguously. PyTorch
 * refuses training statistics over a single value (M = 1: the unbiased
 * variance is undefined) and so does this layer.
 *
 * Synchronised statistics (ABI 1.3): when the host splits a batch across
 * processes and passes env->allreduce_sum, a training pass uses the whole
 * batch's statistics, like PyTorch's SyncBatchNorm. Forward sums, per
 * channel, the value count and sum x over all processes (the mean), then
 * sum (x - mean)^2 with that mean (the variance: centred, for the same
 * accuracy as the two local passes); backward recomputes them the same way
 * and sums S and T over all processes before dx, so every process's dx is
 * the single-process full-batch one for its samples. dweight and dbias
 * stay this process's part (the host sums parameter gradients across
 * processes anyway). Every process makes the same calls in the same order,
 * even with no samples. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cnn/layer.h"

enum { HP_EPS, HP_MOMENTUM };

static const cnn_hparam_spec batchnorm_hparams[] = {
    {"eps", CNN_HP_FLOAT, "added to the variance before the square root",
     0, 1e-5, 1e-12, 1.0, NULL},
    {"momentum", CNN_HP_FLOAT,
     "running = (1 - momentum) running + momentum batch (PyTorch's "
     "convention; Keras's momentum is 1 minus this)",
     0, 0.1, 0.0, 1.0, NULL},
};

enum { P_WEIGHT, P_BIAS, P_RUNNING_MEAN, P_RUNNING_VAR, P_COUNT };

/* Channels per block: the sums of one block live on the stack. */
#define BN_BLOCK 64
/* Below this many elements a call stays on the calling thread. */
#ifndef BN_PAR_MIN
#define BN_PAR_MIN ((size_t)1 << 15)
#endif

/* ---- Shapes ------------------------------------------------------------- */

/* [N, C] or [N, C, H, W]: sets c and the pixels per channel and sample. */
static cnn_status bn_geometry(const cnn_shape *s, int64_t *c, int64_t *pixels,
                              cnn_errbuf *err)
{
    int ok;
    if (s->rank != 2 && s->rank != 4)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "batchnorm: input rank %d, need 2 ([N, C], "
                              "like BatchNorm1d) or 4 ([N, C, H, W], like "
                              "BatchNorm2d)",
                              (int)s->rank);
    if (s->dims[0] < 0)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "batchnorm: batch size %lld is negative",
                              (long long)s->dims[0]);
    for (int32_t i = 1; i < s->rank; i++)
        if (s->dims[i] < 1)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "batchnorm: input dimension %d is %lld, "
                                  "must be >= 1",
                                  (int)i, (long long)s->dims[i]);
    (void)cnn_shape_numel_checked(s, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "batchnorm: input element count overflows");
    *c = s->dims[1];
    *pixels = s->rank == 4 ? s->dims[2] * s->dims[3] : 1;
    return CNN_OK;
}

static cnn_status batchnorm_infer_shape(const cnn_hparam_value *hp,
                                        const cnn_shape *inputs,
                                        uint32_t n_inputs, cnn_shape *output,
                                        cnn_errbuf *err)
{
    int64_t c, pixels;
    (void)hp;
    if (n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "batchnorm: takes 1 input, got %u", n_inputs);
    cnn_status st = bn_geometry(&inputs[0], &c, &pixels, err);
    if (st == CNN_OK)
        *output = inputs[0];
    return st;
}

static void bn_spec(cnn_param_spec *s, const char *name, int64_t c,
                    cnn_init_rule init, uint32_t flags)
{
    memset(s, 0, sizeof *s);
    strcpy(s->name, name);
    s->shape.rank = 1;
    s->shape.dims[0] = c;
    s->init = init;
    s->fan_in = c;
    s->fan_out = c;
    s->flags = flags;
}

static cnn_status batchnorm_params(const cnn_layer *layer,
                                   cnn_param_spec *specs, uint32_t capacity,
                                   uint32_t *count, cnn_errbuf *err)
{
    int64_t c, pixels;
    if (layer->n_inputs != 1)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "batchnorm '%s': takes 1 input, got %u",
                              layer->name, layer->n_inputs);
    cnn_status st = bn_geometry(&layer->input_shapes[0], &c, &pixels, err);
    if (st != CNN_OK)
        return st;
    *count = P_COUNT;
    if (capacity < P_COUNT)
        return CNN_OK;
    /* PyTorch's names, order and initial values. */
    bn_spec(&specs[P_WEIGHT], "weight", c, CNN_INIT_ONES, CNN_PARAM_NO_DECAY);
    bn_spec(&specs[P_BIAS], "bias", c, CNN_INIT_ZEROS, CNN_PARAM_NO_DECAY);
    bn_spec(&specs[P_RUNNING_MEAN], "running_mean", c, CNN_INIT_ZEROS,
            CNN_PARAM_STATE | CNN_PARAM_NO_DECAY);
    bn_spec(&specs[P_RUNNING_VAR], "running_var", c, CNN_INIT_ONES,
            CNN_PARAM_STATE | CNN_PARAM_NO_DECAY);
    return CNN_OK;
}

/* ---- One call ----------------------------------------------------------- */

typedef struct bn_run {
    int64_t n, c, pixels; /* M = n * pixels per channel */
    double eps, momentum;
    int training;
    const float *x, *dy;
    float *y, *dx;
    const float *weight, *bias;
    float *running_mean, *running_var; /* written by training forward */
    float *dweight, *dbias;            /* NULL: not wanted */
    /* Synchronised statistics: the whole batch's, per channel, and its
     * value count; NULL when the statistics are this call's own. */
    const double *g_mean, *g_invstd;
    double g_count;
    /* Per-channel sums the sum passes write (sync only): sum x, or sum
     * (x - mean)^2, in acc; sum dy in acc and sum dy (x - mean) in acc2. */
    double *acc, *acc2;
} bn_run;

/* Four parameters of c values each. */
static cnn_status bn_check_params(const cnn_layer *layer,
                                  const cnn_tensor *params, uint32_t n_params,
                                  int64_t c, cnn_errbuf *err)
{
    static const char *const names[P_COUNT] = {"weight", "bias",
                                               "running_mean", "running_var"};
    if (n_params != P_COUNT || !params)
        return cnn_layer_fail(err, CNN_ERR_INVALID,
                              "batchnorm '%s': got %u parameter tensors, "
                              "want %d",
                              layer->name, n_params, (int)P_COUNT);
    for (int i = 0; i < P_COUNT; i++)
        if (params[i].shape.rank != 1 || params[i].shape.dims[0] != c)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "batchnorm '%s': %s is not [%lld] for an "
                                  "input of %lld channels",
                                  layer->name, names[i], (long long)c,
                                  (long long)c);
    return CNN_OK;
}

/* Checks what the host passed against the hyperparameters and shapes; the
 * host should never get this wrong, but a mismatch would be an
 * out-of-bounds access. */
static cnn_status bn_setup(const cnn_layer *layer, const cnn_tensor *x,
                           const cnn_shape *out, const cnn_tensor *params,
                           uint32_t n_params, bn_run *r, cnn_errbuf *err)
{
    cnn_status st;
    memset(r, 0, sizeof *r);
    st = bn_geometry(&x->shape, &r->c, &r->pixels, err);
    if (st != CNN_OK)
        return st;
    if (!cnn_shape_equal(&x->shape, out))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "batchnorm '%s': output (or its gradient) is "
                              "not shaped like the input",
                              layer->name);
    st = bn_check_params(layer, params, n_params, r->c, err);
    if (st != CNN_OK)
        return st;
    r->n = x->shape.dims[0];
    r->eps = layer->hparams[HP_EPS].f;
    r->momentum = layer->hparams[HP_MOMENTUM].f;
    r->x = x->data;
    r->weight = params[P_WEIGHT].data;
    r->bias = params[P_BIAS].data;
    r->running_mean = params[P_RUNNING_MEAN].data;
    r->running_var = params[P_RUNNING_VAR].data;
    return CNN_OK;
}

static cnn_status bn_check_count(const cnn_layer *layer, const bn_run *r,
                                 cnn_errbuf *err)
{
    if (r->g_mean) {
        if (r->g_count < 2.0)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "batchnorm '%s': training needs more than "
                                  "one value per channel to estimate a "
                                  "variance, got %.0f over all processes; "
                                  "use a larger batch, or drop a short last "
                                  "batch",
                                  layer->name, r->g_count);
        return CNN_OK;
    }
    if (r->training && r->n * r->pixels < 2)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "batchnorm '%s': training needs more than one "
                              "value per channel to estimate a variance, got "
                              "%lld (batch %lld x %lld per sample); use a "
                              "larger batch, or drop a short last batch",
                              layer->name, (long long)(r->n * r->pixels),
                              (long long)r->n, (long long)r->pixels);
    return CNN_OK;
}

/* Channel ch's first value of sample s. */
static size_t bn_at(const bn_run *r, int64_t s, int64_t ch)
{
    return ((size_t)s * (size_t)r->c + (size_t)ch) * (size_t)r->pixels;
}

/* Sums of one channel's row of n pixels. Four partial sums (element i
 * goes to lane i mod 4, the lanes are added in a fixed order) break the
 * chain of dependent additions that would otherwise bound the loop by the
 * adder's latency; the order still depends on nothing but n. */
static double bn_row_sum(const float *p, int64_t n)
{
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 += (double)p[i];
        a1 += (double)p[i + 1];
        a2 += (double)p[i + 2];
        a3 += (double)p[i + 3];
    }
    for (; i < n; i++)
        a0 += (double)p[i];
    return (a0 + a1) + (a2 + a3);
}

/* sum of (p - mu)^2 over a row, in lanes like bn_row_sum. */
static double bn_row_sq(const float *p, int64_t n, double mu)
{
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        double d0 = (double)p[i] - mu, d1 = (double)p[i + 1] - mu;
        double d2 = (double)p[i + 2] - mu, d3 = (double)p[i + 3] - mu;
        a0 += d0 * d0;
        a1 += d1 * d1;
        a2 += d2 * d2;
        a3 += d3 * d3;
    }
    for (; i < n; i++) {
        double d = (double)p[i] - mu;
        a0 += d * d;
    }
    return (a0 + a1) + (a2 + a3);
}

/* sum of g and of g (x - mu) over a row, in lanes like bn_row_sum. */
static void bn_row_grad(const float *x, const float *g, int64_t n, double mu,
                        double *sg, double *sgx)
{
    double a0 = 0.0, a1 = 0.0, b0 = 0.0, b1 = 0.0;
    int64_t i = 0;
    for (; i + 2 <= n; i += 2) {
        a0 += (double)g[i];
        a1 += (double)g[i + 1];
        b0 += (double)g[i] * ((double)x[i] - mu);
        b1 += (double)g[i + 1] * ((double)x[i + 1] - mu);
    }
    for (; i < n; i++) {
        a0 += (double)g[i];
        b0 += (double)g[i] * ((double)x[i] - mu);
    }
    *sg += a0 + a1;
    *sgx += b0 + b1;
}

/* Batch mean and biased variance of a block of channels, summed sample by
 * sample in a fixed order: two passes, so that a large mean does not
 * cancel the variance away. */
static void bn_batch_stats(const bn_run *r, int64_t c0, int64_t nb,
                           double *mean, double *var)
{
    double m = (double)r->n * (double)r->pixels;
    for (int64_t k = 0; k < nb; k++)
        mean[k] = var[k] = 0.0;
    if (r->pixels == 1) { /* [N, C]: a sample's block is contiguous */
        for (int64_t s = 0; s < r->n; s++) {
            const float *p = r->x + bn_at(r, s, c0);
            for (int64_t k = 0; k < nb; k++)
                mean[k] += (double)p[k];
        }
        for (int64_t k = 0; k < nb; k++)
            mean[k] /= m;
        for (int64_t s = 0; s < r->n; s++) {
            const float *p = r->x + bn_at(r, s, c0);
            for (int64_t k = 0; k < nb; k++) {
                double d = (double)p[k] - mean[k];
                var[k] += d * d;
            }
        }
    } else {
        for (int64_t s = 0; s < r->n; s++)
            for (int64_t k = 0; k < nb; k++)
                mean[k] += bn_row_sum(r->x + bn_at(r, s, c0 + k), r->pixels);
        for (int64_t k = 0; k < nb; k++)
            mean[k] /= m;
        for (int64_t s = 0; s < r->n; s++)
            for (int64_t k = 0; k < nb; k++)
                var[k] += bn_row_sq(r->x + bn_at(r, s, c0 + k), r->pixels,
                                    mean[k]);
    }
    for (int64_t k = 0; k < nb; k++)
        var[k] /= m;
}

/* mean and invstd of a block: the batch's in training, else the running
 * statistics. */
static void bn_stats(const bn_run *r, int64_t c0, int64_t nb, double *mean,
                     double *invstd)
{
    if (r->g_mean) {
        for (int64_t k = 0; k < nb; k++) {
            mean[k] = r->g_mean[c0 + k];
            invstd[k] = r->g_invstd[c0 + k];
        }
        return;
    }
    if (r->training) {
        bn_batch_stats(r, c0, nb, mean, invstd);
        for (int64_t k = 0; k < nb; k++)
            invstd[k] = 1.0 / sqrt(invstd[k] + r->eps);
        return;
    }
    for (int64_t k = 0; k < nb; k++) {
        mean[k] = (double)r->running_mean[c0 + k];
        invstd[k] = 1.0 / sqrt((double)r->running_var[c0 + k] + r->eps);
    }
}

static void bn_forward_block(const bn_run *r, int64_t c0, int64_t nb)
{
    double mean[BN_BLOCK], var[BN_BLOCK], scale[BN_BLOCK], shift[BN_BLOCK];
    double m = (double)r->n * (double)r->pixels;
    if (r->training && !r->g_mean) {
        bn_batch_stats(r, c0, nb, mean, var);
        for (int64_t k = 0; k < nb; k++) {
            int64_t ch = c0 + k;
            double mo = r->momentum;
            double invstd = 1.0 / sqrt(var[k] + r->eps);
            r->running_mean[ch] =
                (float)((1.0 - mo) * (double)r->running_mean[ch] +
                        mo * mean[k]);
            r->running_var[ch] =
                (float)((1.0 - mo) * (double)r->running_var[ch] +
                        mo * var[k] * m / (m - 1.0));
            var[k] = invstd;
        }
    } else {
        bn_stats(r, c0, nb, mean, var);
    }
    /* y = (x - mean) scale + bias, scale = weight invstd (var holds
     * invstd now). */
    for (int64_t k = 0; k < nb; k++) {
        scale[k] = (double)r->weight[c0 + k] * var[k];
        shift[k] = (double)r->bias[c0 + k];
    }
    for (int64_t s = 0; s < r->n; s++) {
        if (r->pixels == 1) {
            const float *p = r->x + bn_at(r, s, c0);
            float *q = r->y + bn_at(r, s, c0);
            for (int64_t k = 0; k < nb; k++)
                q[k] = (float)(((double)p[k] - mean[k]) * scale[k] + shift[k]);
            continue;
        }
        for (int64_t k = 0; k < nb; k++) {
            size_t at = bn_at(r, s, c0 + k);
            const float *p = r->x + at;
            float *q = r->y + at;
            double mu = mean[k], sc = scale[k], sh = shift[k];
            for (int64_t i = 0; i < r->pixels; i++)
                q[i] = (float)(((double)p[i] - mu) * sc + sh);
        }
    }
}

static void bn_backward_dx(const bn_run *r, int64_t c0, int64_t nb,
                           const double *mean, const double *invstd,
                           const double *sum_dy, const double *sum_dyx,
                           double m);

static void bn_backward_block(const bn_run *r, int64_t c0, int64_t nb)
{
    double mean[BN_BLOCK], invstd[BN_BLOCK], sdy[BN_BLOCK], sdyx[BN_BLOCK];
    double m = (double)r->n * (double)r->pixels;
    bn_stats(r, c0, nb, mean, invstd);
    if (r->g_mean) { /* the whole batch's S and T, summed already */
        bn_backward_dx(r, c0, nb, mean, invstd, r->acc + c0, r->acc2 + c0,
                       r->g_count);
        return;
    }
    /* S = sum dy and T = sum dy xhat = invstd sum dy (x - mean). */
    for (int64_t k = 0; k < nb; k++)
        sdy[k] = sdyx[k] = 0.0;
    for (int64_t s = 0; s < r->n; s++) {
        if (r->pixels == 1) { /* [N, C]: a sample's block is contiguous */
            const float *p = r->x + bn_at(r, s, c0);
            const float *g = r->dy + bn_at(r, s, c0);
            for (int64_t k = 0; k < nb; k++) {
                sdy[k] += (double)g[k];
                sdyx[k] += (double)g[k] * ((double)p[k] - mean[k]);
            }
            continue;
        }
        for (int64_t k = 0; k < nb; k++) {
            size_t at = bn_at(r, s, c0 + k);
            bn_row_grad(r->x + at, r->dy + at, r->pixels, mean[k], &sdy[k],
                        &sdyx[k]);
        }
    }
    for (int64_t k = 0; k < nb; k++) {
        if (r->dweight)
            r->dweight[c0 + k] = (float)(sdyx[k] * invstd[k]);
        if (r->dbias)
            r->dbias[c0 + k] = (float)sdy[k];
    }
    bn_backward_dx(r, c0, nb, mean, invstd, sdy, sdyx, m);
}

/* dx of a block from S = sum dy and U = sum dy (x - mean) over M values
 * (T = invstd U). */
static void bn_backward_dx(const bn_run *r, int64_t c0, int64_t nb,
                           const double *mean, const double *invstd,
                           const double *sum_dy, const double *sum_dyx,
                           double m)
{
    double sdy[BN_BLOCK], sdyx[BN_BLOCK], kk[BN_BLOCK];
    if (!r->dx)
        return;
    for (int64_t k = 0; k < nb; k++) {
        kk[k] = (double)r->weight[c0 + k] * invstd[k];
        /* Inference: the statistics are constants, dx = k dy. */
        sdy[k] = r->training ? sum_dy[k] / m : 0.0;
        sdyx[k] = r->training ? sum_dyx[k] * invstd[k] / m : 0.0;
    }
    /* dx = k (dy - S / M - xhat T / M) */
    for (int64_t s = 0; s < r->n; s++) {
        if (r->pixels == 1) {
            const float *p = r->x + bn_at(r, s, c0);
            const float *g = r->dy + bn_at(r, s, c0);
            float *q = r->dx + bn_at(r, s, c0);
            for (int64_t k = 0; k < nb; k++) {
                double xhat = ((double)p[k] - mean[k]) * invstd[k];
                q[k] = (float)(kk[k] *
                               ((double)g[k] - sdy[k] - xhat * sdyx[k]));
            }
            continue;
        }
        for (int64_t k = 0; k < nb; k++) {
            size_t at = bn_at(r, s, c0 + k);
            const float *p = r->x + at, *g = r->dy + at;
            float *q = r->dx + at;
            double mu = mean[k], is = invstd[k], c = kk[k];
            double a = sdy[k], b = sdyx[k];
            for (int64_t i = 0; i < r->pixels; i++) {
                double xhat = ((double)p[i] - mu) * is;
                q[i] = (float)(c * ((double)g[i] - a - xhat * b));
            }
        }
    }
}

static void bn_forward_range(void *arg, size_t begin, size_t end)
{
    const bn_run *r = arg;
    for (size_t c0 = begin; c0 < end; c0 += BN_BLOCK) {
        size_t nb = end - c0 < BN_BLOCK ? end - c0 : BN_BLOCK;
        bn_forward_block(r, (int64_t)c0, (int64_t)nb);
    }
}

static void bn_backward_range(void *arg, size_t begin, size_t end)
{
    const bn_run *r = arg;
    for (size_t c0 = begin; c0 < end; c0 += BN_BLOCK) {
        size_t nb = end - c0 < BN_BLOCK ? end - c0 : BN_BLOCK;
        bn_backward_block(r, (int64_t)c0, (int64_t)nb);
    }
}

/* Channels on the host's threads when the call is large enough. */
static void bn_parallel(const cnn_layer_env *env, bn_run *r, cnn_range_fn fn)
{
    size_t numel = (size_t)(r->n * r->c * r->pixels);
    if (env && env->parallel_for && env->threads > 1 && r->c > 1 &&
        numel >= BN_PAR_MIN)
        env->parallel_for(env->host, (size_t)r->c, fn, r);
    else
        fn(r, 0, (size_t)r->c);
}

/* ---- Synchronised statistics ------------------------------------------- */

/* acc[c] = this call's sum x of channel c. */
static void bn_sum_range(void *arg, size_t begin, size_t end)
{
    const bn_run *r = arg;
    for (size_t ch = begin; ch < end; ch++) {
        double a = 0.0;
        for (int64_t s = 0; s < r->n; s++)
            a += bn_row_sum(r->x + bn_at(r, s, (int64_t)ch), r->pixels);
        r->acc[ch] = a;
    }
}

/* acc[c] = this call's sum (x - mean)^2 with the whole batch's mean. */
static void bn_sq_range(void *arg, size_t begin, size_t end)
{
    const bn_run *r = arg;
    for (size_t ch = begin; ch < end; ch++) {
        double a = 0.0;
        for (int64_t s = 0; s < r->n; s++)
            a += bn_row_sq(r->x + bn_at(r, s, (int64_t)ch), r->pixels,
                           r->g_mean[ch]);
        r->acc[ch] = a;
    }
}

/* acc[c] = this call's sum dy, acc2[c] = its sum dy (x - mean). */
static void bn_grad_sums_range(void *arg, size_t begin, size_t end)
{
    const bn_run *r = arg;
    for (size_t ch = begin; ch < end; ch++) {
        double sg = 0.0, sgx = 0.0;
        for (int64_t s = 0; s < r->n; s++) {
            size_t at = bn_at(r, s, (int64_t)ch);
            bn_row_grad(r->x + at, r->dy + at, r->pixels, r->g_mean[ch], &sg,
                        &sgx);
        }
        r->acc[ch] = sg;
        r->acc2[ch] = sgx;
    }
}

/* Doubles of workspace a synchronised call needs: sums and count (C + 1),
 * mean and invstd (2 C), backward's S and U (2 C). */
static size_t bn_sync_doubles(const bn_run *r)
{
    return 5 * (size_t)r->c + 1;
}

static cnn_status bn_allreduce(const cnn_layer *layer,
                               const cnn_layer_env *env, double *values,
                               size_t n, const char *what, cnn_errbuf *err)
{
    cnn_status st = env->allreduce_sum(env->host, values, n);
    if (st != CNN_OK)
        return cnn_layer_fail(err, st,
                              "batchnorm '%s': summing %s across processes "
                              "failed",
                              layer->name, what);
    return CNN_OK;
}

/* The whole batch's mean and invstd in r->g_mean and r->g_invstd, from two
 * sums over all processes; ws holds bn_sync_doubles(r). Leaves each
 * channel's biased variance in ws[c] for the running statistics. */
static cnn_status bn_sync_stats(const cnn_layer *layer,
                                const cnn_layer_env *env, bn_run *r,
                                double *ws, cnn_errbuf *err)
{
    size_t c = (size_t)r->c;
    double *mean = ws + c + 1, *invstd = mean + c;
    cnn_status st;
    r->acc = ws;
    bn_parallel(env, r, bn_sum_range);
    ws[c] = (double)r->n * (double)r->pixels;
    st = bn_allreduce(layer, env, ws, c + 1, "the batch mean", err);
    if (st != CNN_OK)
        return st;
    r->g_count = ws[c];
    r->g_mean = mean;
    r->g_invstd = invstd;
    st = bn_check_count(layer, r, err); /* the same verdict everywhere */
    if (st != CNN_OK)
        return st;
    for (size_t ch = 0; ch < c; ch++)
        mean[ch] = ws[ch] / r->g_count;
    bn_parallel(env, r, bn_sq_range);
    st = bn_allreduce(layer, env, ws, c, "the batch variance", err);
    if (st != CNN_OK)
        return st;
    for (size_t ch = 0; ch < c; ch++) {
        ws[ch] /= r->g_count;
        invstd[ch] = 1.0 / sqrt(ws[ch] + r->eps);
    }
    return CNN_OK;
}

static double *bn_sync_workspace(const cnn_layer *layer,
                                 const cnn_layer_env *env, const bn_run *r,
                                 cnn_errbuf *err)
{
    float *ws = env->workspace ? env->workspace(env->host,
                                                2 * bn_sync_doubles(r))
                               : NULL;
    if (!ws)
        (void)cnn_layer_fail(err, CNN_ERR_NOMEM,
                             "batchnorm '%s': no workspace for %zu "
                             "per-channel sums",
                             layer->name, bn_sync_doubles(r));
    return (double *)(void *)ws; /* 64-byte aligned: fits doubles */
}

static cnn_status bn_sync_forward(const cnn_layer *layer,
                                  const cnn_layer_env *env, bn_run *r,
                                  cnn_errbuf *err)
{
    double *ws = bn_sync_workspace(layer, env, r, err);
    double m, mo = r->momentum;
    cnn_status st;
    if (!ws)
        return CNN_ERR_NOMEM;
    st = bn_sync_stats(layer, env, r, ws, err);
    if (st != CNN_OK)
        return st;
    m = r->g_count;
    for (int64_t ch = 0; ch < r->c; ch++) {
        r->running_mean[ch] =
            (float)((1.0 - mo) * (double)r->running_mean[ch] +
                    mo * r->g_mean[ch]);
        r->running_var[ch] =
            (float)((1.0 - mo) * (double)r->running_var[ch] +
                    mo * ws[ch] * m / (m - 1.0));
    }
    if (r->n > 0)
        bn_parallel(env, r, bn_forward_range);
    return CNN_OK;
}

static cnn_status bn_sync_backward(const cnn_layer *layer,
                                   const cnn_layer_env *env, bn_run *r,
                                   cnn_errbuf *err)
{
    double *ws = bn_sync_workspace(layer, env, r, err);
    size_t c = (size_t)r->c;
    cnn_status st;
    if (!ws)
        return CNN_ERR_NOMEM;
    st = bn_sync_stats(layer, env, r, ws, err);
    if (st != CNN_OK)
        return st;
    /* S and U follow each other, so one sum carries both. */
    r->acc = ws + 3 * c + 1;
    r->acc2 = r->acc + c;
    bn_parallel(env, r, bn_grad_sums_range);
    /* This process's part of dweight and dbias: the host sums them. */
    for (size_t ch = 0; ch < c; ch++) {
        if (r->dweight)
            r->dweight[ch] = (float)(r->acc2[ch] * r->g_invstd[ch]);
        if (r->dbias)
            r->dbias[ch] = (float)r->acc[ch];
    }
    if (!r->dx) /* the same graph everywhere: every process skips it */
        return CNN_OK;
    st = bn_allreduce(layer, env, r->acc, 2 * c, "the gradient sums", err);
    if (st != CNN_OK)
        return st;
    if (r->n > 0)
        bn_parallel(env, r, bn_backward_range);
    return CNN_OK;
}

/* Synchronised statistics apply to training-mode passes of a host that
 * split the batch. */
static int bn_synchronised(const cnn_layer_env *env, int training)
{
    return training && env && env->allreduce_sum;
}

static cnn_status batchnorm_forward(const cnn_layer *layer,
                                    const cnn_forward_args *args,
                                    cnn_errbuf *err)
{
    bn_run r;
    cnn_status st = bn_setup(layer, &args->inputs[0], &args->output->shape,
                             args->params, args->n_params, &r, err);
    if (st != CNN_OK)
        return st;
    r.training = args->training != 0;
    r.y = args->output->data;
    if (bn_synchronised(args->env, r.training))
        return bn_sync_forward(layer, args->env, &r, err);
    st = bn_check_count(layer, &r, err);
    if (st != CNN_OK || r.n == 0)
        return st;
    bn_parallel(args->env, &r, bn_forward_range);
    return CNN_OK;
}

static cnn_status batchnorm_backward(const cnn_layer *layer,
                                     const cnn_backward_args *args,
                                     cnn_errbuf *err)
{
    bn_run r;
    cnn_status st = bn_setup(layer, &args->inputs[0],
                             &args->output_grad->shape, args->params,
                             args->n_params, &r, err);
    if (st != CNN_OK)
        return st;
    r.training = args->training != 0;
    r.dy = args->output_grad->data;
    r.dx = args->input_grads ? args->input_grads[0].data : NULL;
    if (args->param_grads) {
        r.dweight = args->param_grads[P_WEIGHT].data;
        r.dbias = args->param_grads[P_BIAS].data;
        /* Running statistics have no gradient; the ABI still wants every
         * element of param_grads written. */
        memset(args->param_grads[P_RUNNING_MEAN].data, 0,
               (size_t)r.c * sizeof(float));
        memset(args->param_grads[P_RUNNING_VAR].data, 0,
               (size_t)r.c * sizeof(float));
    }
    if (bn_synchronised(args->env, r.training))
        return bn_sync_backward(layer, args->env, &r, err);
    st = bn_check_count(layer, &r, err);
    if (st != CNN_OK)
        return st;
    if (r.n == 0) {
        if (r.dweight)
            memset(r.dweight, 0, (size_t)r.c * sizeof(float));
        if (r.dbias)
            memset(r.dbias, 0, (size_t)r.c * sizeof(float));
        return CNN_OK;
    }
    if (!r.dx && !r.dweight)
        return CNN_OK;
    bn_parallel(args->env, &r, bn_backward_range);
    return CNN_OK;
}

/* One multiply-add per element at inference, (x - mean) scale + bias. */
static uint64_t batchnorm_flops(const cnn_hparam_value *hp,
                                const cnn_shape *inputs, uint32_t n_inputs,
                                const cnn_shape *output)
{
    int ok;
    (void)hp;
    (void)output;
    if (n_inputs != 1 || (inputs[0].rank != 2 && inputs[0].rank != 4))
        return 0;
    size_t n = cnn_shape_numel_checked(&inputs[0], &ok);
    return ok ? 2u * (uint64_t)n : 0;
}

/* ABI 1.4: at inference y = x scale + shift per channel, with
 * scale = weight / sqrt(running_var + eps) and
 * shift = bias - running_mean scale (in double, as forward computes them),
 * so the host may fold this layer into the convolution below. */
static cnn_status batchnorm_epilogue(const cnn_layer *layer,
                                     const cnn_tensor *params,
                                     uint32_t n_params, cnn_epilogue *ep,
                                     cnn_errbuf *err)
{
    double eps = layer->hparams[HP_EPS].f;
    cnn_status st = bn_check_params(layer, params, n_params, ep->channels, err);
    if (st != CNN_OK)
        return st;
    for (int64_t c = 0; c < ep->channels; c++) {
        double invstd =
            1.0 / sqrt((double)params[P_RUNNING_VAR].data[c] + eps);
        double scale = (double)params[P_WEIGHT].data[c] * invstd;
        ep->scale[c] = (float)scale;
        ep->shift[c] = (float)((double)params[P_BIAS].data[c] -
                               (double)params[P_RUNNING_MEAN].data[c] * scale);
    }
    ep->affine = 1;
    return CNN_OK;
}

static const cnn_layer_descriptor batchnorm_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "batchnorm",
    .summary = "batch normalisation per channel of [N, C] or [N, C, H, W] "
               "(PyTorch's BatchNorm1d/2d)",
    .hparams = batchnorm_hparams,
    .n_hparams = sizeof batchnorm_hparams / sizeof batchnorm_hparams[0],
    .min_inputs = 1,
    .max_inputs = 1,
    /* backward needs the inputs, never the output (ABI 1.3) */
    .flags = CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT,
    .infer_shape = batchnorm_infer_shape,
    .create = NULL,
    .params = batchnorm_params,
    .forward = batchnorm_forward,
    .backward = batchnorm_backward,
    .destroy = NULL,
    .flops = batchnorm_flops,
    .epilogue = batchnorm_epilogue,
};

CNN_LAYER_PLUGIN(batchnorm_descriptor)
