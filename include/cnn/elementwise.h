/* SPDX-License-Identifier: MIT */
/* Element-wise layers in a few lines: a plugin author writes the scalar
 * maths, one macro writes the rest of the plugin (descriptor, shape
 * inference, forward and backward loops, threading).
 *
 *   #include "cnn/elementwise.h"
 *
 *   static const cnn_hparam_spec leaky_hparams[] = {
 *       {"negative_slope", CNN_HP_FLOAT, "slope for x < 0", 0, 0.01,
 *        -1e6, 1e6, NULL},
 *   };
 *   static inline float leaky_value(float x, const cnn_ew_params *p)
 *   {
 *       return x < 0.0f ? p->v[0] * x : x;
 *   }
 *   static inline float leaky_grad(float x, float dy, const cnn_ew_params *p)
 *   {
 *       return x < 0.0f ? p->v[0] * dy : dy;
 *   }
 *   CNN_ELEMENTWISE_PLUGIN(leaky, "leaky ReLU", leaky_hparams, 1,
 *                          CNN_EW_FROM_INPUT, CNN_EW_CHEAP)
 *
 * NAME_value(x, p) is y = f(x). NAME_grad(t, dy, p) is dx for the upstream
 * gradient dy, where t is the forward input x (CNN_EW_FROM_INPUT) or the
 * saved output y (CNN_EW_FROM_OUTPUT: tanh's 1 - y^2, sigmoid's y (1 - y),
 * relu's y > 0). Returning dx rather than f'(t) lets a function select dy
 * or 0 (relu) instead of multiplying, so an infinite dy is not turned into
 * NaN by a zero derivative.
 *
 * Both functions are expanded by the macro into plain loops over restrict
 * pointers, so the compiler inlines and vectorises them: write them as
 * static inline, branch-free where possible (conditional expressions
 * become selects). p->v[k] holds the k-th hyperparameter as a float (FLOAT
 * as is; INT, BOOL and ENUM converted; at most CNN_EW_MAX_PARAMS; INT2 and
 * PADDING are not supported here); the macro copies them once per call,
 * so reading them costs nothing in the loop.
 *
 * Memory (ABI 1.3): a CNN_EW_FROM_OUTPUT layer declares
 * CNN_LAYER_FLAG_IN_PLACE (forward may write y over x, backward dx over dy:
 * the loops below handle both), a CNN_EW_FROM_INPUT one
 * CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT (its backward needs x, not y).
 *
 * Cost: CNN_EW_CHEAP (a compare or a multiply; memory bound) or
 * CNN_EW_COSTLY (a libm call such as expf). Large tensors are cut into
 * 64-byte aligned blocks for env->parallel_for; a cheap layer only spreads
 * tensors large enough for the other cores' memory bandwidth to pay for
 * the dispatch. Results never depend on the thread count.
 *
 * Layers with parameters (PReLU) or several inputs need more than this
 * macro, but may still use cnn_ew_check_shape and cnn_ew_run. Everything
 * here is static inline: a plugin including it stays self-contained and
 * links nothing of libcnn. */
#ifndef CNN_ELEMENTWISE_H
#define CNN_ELEMENTWISE_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/layer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CNN_EW_MAX_PARAMS 4

/* The hyperparameters as floats, in descriptor order. */
typedef struct cnn_ew_params {
    float v[CNN_EW_MAX_PARAMS];
} cnn_ew_params;

typedef enum cnn_ew_grad_from {
    CNN_EW_FROM_INPUT = 0, /* NAME_grad gets the forward input x */
    CNN_EW_FROM_OUTPUT = 1 /* NAME_grad gets the forward output y */
} cnn_ew_grad_from;

typedef enum cnn_ew_cost {
    CNN_EW_CHEAP = 0, /* memory bound: spread only very large tensors */
    CNN_EW_COSTLY = 1 /* a libm call per element: spread sooner */
} cnn_ew_cost;

/* The first CNN_EW_MAX_PARAMS validated hyperparameters as floats. */
static inline cnn_ew_params cnn_ew_params_of(const cnn_hparam_spec *specs,
                                             const cnn_hparam_value *hp,
                                             uint32_t n)
{
    cnn_ew_params p = {{0.0f, 0.0f, 0.0f, 0.0f}};
    for (uint32_t k = 0; specs && hp && k < n && k < CNN_EW_MAX_PARAMS; k++)
        p.v[k] = specs[k].kind == CNN_HP_FLOAT ? (float)hp[k].f
                                               : (float)hp[k].i[0];
    return p;
}

/* A tensor of any rank 1..CNN_MAX_RANK whose element count fits. */
static inline cnn_status cnn_ew_check_shape(const char *type,
                                            const cnn_shape *s,
                                            cnn_errbuf *err)
{
    int ok;
    if (s->rank < 1 || s->rank > CNN_MAX_RANK)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: input rank %d, need 1..%d", type,
                              (int)s->rank, CNN_MAX_RANK);
    for (int32_t i = 0; i < s->rank; i++)
        if (s->dims[i] < 0)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "%s: input dim %d is %lld", type, (int)i,
                                  (long long)s->dims[i]);
    (void)cnn_shape_numel_checked(s, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s: input element count overflows", type);
    return CNN_OK;
}

/* The shapes the host passed to forward or backward: a valid one, twice. */
static inline cnn_status cnn_ew_check_pair(const char *type,
                                           const cnn_layer *layer,
                                           const cnn_shape *a,
                                           const cnn_shape *b, cnn_errbuf *err)
{
    cnn_status st = cnn_ew_check_shape(type, a, err);
    if (st != CNN_OK)
        return st;
    if (!cnn_shape_equal(a, b))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "%s '%s': tensor shapes differ", type,
                              layer->name);
    return CNN_OK;
}

/* One pass over n elements: fn(arg, i0, i1) on disjoint ranges covering
 * [0, n). Block boundaries fall on multiples of 16 floats (64 bytes). */
typedef void (*cnn_ew_block_fn)(void *arg, size_t i0, size_t i1);

typedef struct cnn_ew_job {
    cnn_ew_block_fn fn;
    void *arg;
    size_t n, slots;
} cnn_ew_job;

static inline size_t cnn_ew_cut(const cnn_ew_job *j, size_t s)
{
    size_t b;
    if (s >= j->slots)
        return j->n;
    b = j->n * s / j->slots;
    return b - b % 16;
}

static inline void cnn_ew_job_range(void *arg, size_t s0, size_t s1)
{
    const cnn_ew_job *j = (const cnn_ew_job *)arg;
    size_t i0 = cnn_ew_cut(j, s0), i1 = cnn_ew_cut(j, s1);
    if (i1 > i0)
        j->fn(j->arg, i0, i1);
}

/* Runs fn over [0, n), on the host's threads when the tensor is large
 * enough for the cost class. */
static inline void cnn_ew_run(const cnn_layer_env *env, cnn_ew_cost cost,
                              size_t n, cnn_ew_block_fn fn, void *arg)
{
    size_t par_min = cost == CNN_EW_CHEAP ? (size_t)1 << 17 : (size_t)1 << 15;
    cnn_ew_job j;
    j.fn = fn;
    j.arg = arg;
    j.n = n;
    j.slots = 1;
    /* Four blocks per thread: the pool hands them out one at a time, so a
     * preempted thread holds up a small piece. */
    if (n >= par_min && env && env->parallel_for && env->threads > 1)
        j.slots = 4 * (size_t)env->threads;
    if (j.slots > 1)
        env->parallel_for(env->host, j.slots, cnn_ew_job_range, &j);
    else if (n)
        fn(arg, 0, n);
}

/* What the generated loops read: a (x, or y and dy), the output, and the
 * hyperparameters. */
typedef struct cnn_ew_pass {
    const float *a, *b;
    float *out;
    cnn_ew_params p;
} cnn_ew_pass;

/* Defines NAME's plugin from NAME_value and NAME_grad (see the top of this
 * file). TYPE_STRING is the type name graphs use; SUMMARY one line;
 * HPARAMS a cnn_hparam_spec array (or NULL) of N_HPARAMS entries. */
#define CNN_ELEMENTWISE_PLUGIN_FULL(NAME, TYPE_STRING, SUMMARY, HPARAMS,     \
                                    N_HPARAMS, GRAD_FROM, COST, EPILOGUE)    \
    CNN_ELEMENTWISE_BLOCKS(NAME)                                             \
    CNN_ELEMENTWISE_PLUGIN_WITH_BLOCKS(NAME, TYPE_STRING, SUMMARY, HPARAMS,  \
                                       N_HPARAMS, GRAD_FROM, COST, EPILOGUE)

/* The loops CNN_ELEMENTWISE_PLUGIN_FULL runs over a block [i0, i1) of a
 * cnn_ew_pass: NAME_ew_fwd (out = value(a)) and NAME_ew_bwd (out =
 * grad(a, b), a the saved tensor, b dy). A plugin whose value has forms
 * chosen by a hyperparameter may write these two itself, one loop per
 * form (so that each vectorises; plugins/gelu), and define the rest with
 * CNN_ELEMENTWISE_PLUGIN_WITH_BLOCKS. */
#define CNN_ELEMENTWISE_BLOCKS(NAME)                                         \
    static void NAME##_ew_fwd(void *arg, size_t i0, size_t i1)               \
    {                                                                        \
        const cnn_ew_pass *q = (const cnn_ew_pass *)arg;                     \
        const cnn_ew_params p = q->p;                                        \
        size_t n = i1 - i0;                                                  \
        if (q->a == q->out) { /* in place: one pointer, still restrict */    \
            float *restrict y = q->out + i0;                                 \
            for (size_t i = 0; i < n; i++)                                   \
                y[i] = NAME##_value(y[i], &p);                               \
            return;                                                          \
        }                                                                    \
        const float *restrict x = q->a + i0;                                 \
        float *restrict y = q->out + i0;                                     \
        for (size_t i = 0; i < n; i++)                                       \
            y[i] = NAME##_value(x[i], &p);                                   \
    }                                                                        \
    static void NAME##_ew_bwd(void *arg, size_t i0, size_t i1)               \
    {                                                                        \
        const cnn_ew_pass *q = (const cnn_ew_pass *)arg;                     \
        const cnn_ew_params p = q->p;                                        \
        const float *restrict t = q->a + i0;                                 \
        size_t n = i1 - i0;                                                  \
        if (q->b == q->out) { /* dx written over dy */                       \
            float *restrict g = q->out + i0;                                 \
            for (size_t i = 0; i < n; i++)                                   \
                g[i] = NAME##_grad(t[i], g[i], &p);                          \
            return;                                                          \
        }                                                                    \
        const float *restrict dy = q->b + i0;                                \
        float *restrict dx = q->out + i0;                                    \
        for (size_t i = 0; i < n; i++)                                       \
            dx[i] = NAME##_grad(t[i], dy[i], &p);                            \
    }

#define CNN_ELEMENTWISE_PLUGIN_WITH_BLOCKS(NAME, TYPE_STRING, SUMMARY,        \
                                           HPARAMS, N_HPARAMS, GRAD_FROM,    \
                                           COST, EPILOGUE)                   \
    static cnn_status NAME##_ew_infer_shape(                                 \
        const cnn_hparam_value *hp, const cnn_shape *inputs,                 \
        uint32_t n_inputs, cnn_shape *output, cnn_errbuf *err)               \
    {                                                                        \
        cnn_status st;                                                       \
        (void)hp;                                                            \
        if (n_inputs != 1)                                                   \
            return cnn_layer_fail(err, CNN_ERR_SHAPE,                        \
                                  "%s: takes 1 input, got %u", TYPE_STRING,  \
                                  n_inputs);                                 \
        st = cnn_ew_check_shape(TYPE_STRING, &inputs[0], err);               \
        if (st == CNN_OK)                                                    \
            *output = inputs[0];                                             \
        return st;                                                           \
    }                                                                        \
    static cnn_status NAME##_ew_forward(const cnn_layer *layer,              \
                                        const cnn_forward_args *args,        \
                                        cnn_errbuf *err)                     \
    {                                                                        \
        const cnn_tensor *x = &args->inputs[0];                              \
        cnn_ew_pass q;                                                       \
        cnn_status st = cnn_ew_check_pair(TYPE_STRING, layer, &x->shape,     \
                                          &args->output->shape, err);        \
        if (st != CNN_OK)                                                    \
            return st;                                                       \
        q.a = x->data;                                                       \
        q.b = NULL;                                                          \
        q.out = args->output->data;                                          \
        q.p = cnn_ew_params_of((HPARAMS), layer->hparams, (N_HPARAMS));      \
        cnn_ew_run(args->env, (COST), cnn_tensor_numel(x), NAME##_ew_fwd,    \
                   &q);                                                      \
        return CNN_OK;                                                       \
    }                                                                        \
    static cnn_status NAME##_ew_backward(const cnn_layer *layer,             \
                                         const cnn_backward_args *args,      \
                                         cnn_errbuf *err)                    \
    {                                                                        \
        float *dx = args->input_grads ? args->input_grads[0].data : NULL;    \
        const cnn_tensor *t = (GRAD_FROM) == CNN_EW_FROM_OUTPUT              \
                                  ? args->output                             \
                                  : &args->inputs[0];                        \
        cnn_ew_pass q;                                                       \
        cnn_status st;                                                       \
        if (!dx)                                                             \
            return CNN_OK;                                                   \
        st = cnn_ew_check_pair(TYPE_STRING, layer, &t->shape,                \
                               &args->output_grad->shape, err);              \
        if (st != CNN_OK)                                                    \
            return st;                                                       \
        q.a = t->data;                                                       \
        q.b = args->output_grad->data;                                       \
        q.out = dx;                                                          \
        q.p = cnn_ew_params_of((HPARAMS), layer->hparams, (N_HPARAMS));      \
        cnn_ew_run(args->env, (COST), cnn_tensor_numel(t), NAME##_ew_bwd,    \
                   &q);                                                      \
        return CNN_OK;                                                       \
    }                                                                        \
    static const cnn_layer_descriptor NAME##_ew_descriptor = {               \
        CNN_LAYER_ABI_VERSION,                                               \
        sizeof(cnn_layer_descriptor),                                        \
        TYPE_STRING,                                                         \
        SUMMARY,                                                             \
        HPARAMS,                                                             \
        N_HPARAMS,                                                           \
        1,                                                                   \
        1,                                                                   \
        (GRAD_FROM) == CNN_EW_FROM_OUTPUT                                    \
            ? CNN_LAYER_FLAG_IN_PLACE                                        \
            : CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT,                        \
        NAME##_ew_infer_shape,                                               \
        NULL,                                                                \
        NULL,                                                                \
        NAME##_ew_forward,                                                   \
        NAME##_ew_backward,                                                  \
        NULL,                                                                \
        NULL,                                                                \
        EPILOGUE,                                                            \
    };                                                                       \
    CNN_LAYER_PLUGIN(NAME##_ew_descriptor)

#define CNN_ELEMENTWISE_PLUGIN_NAMED(NAME, TYPE_STRING, SUMMARY, HPARAMS,    \
                                     N_HPARAMS, GRAD_FROM, COST)             \
    CNN_ELEMENTWISE_PLUGIN_FULL(NAME, TYPE_STRING, SUMMARY, HPARAMS,         \
                                N_HPARAMS, GRAD_FROM, COST, NULL)

/* A layer whose value is a clamp, y = min(max(x, lo), hi) written as
 * NAME_value does (x < lo ? lo : x, then > hi), may say so (ABI 1.4) so
 * that the host folds it into the layer below at inference: define
 *   static cnn_status NAME_epilogue(const cnn_layer *layer,
 *       const cnn_tensor *params, uint32_t n_params, cnn_epilogue *ep,
 *       cnn_errbuf *err)
 *   { ... return cnn_ew_clamp_epilogue(ep, lo, hi); }
 * and pass NAME_epilogue as the last argument of this macro. */
#define CNN_ELEMENTWISE_PLUGIN_CLAMP(NAME, SUMMARY, HPARAMS, N_HPARAMS,      \
                                     GRAD_FROM, COST)                        \
    CNN_ELEMENTWISE_PLUGIN_FULL(NAME, #NAME, SUMMARY, HPARAMS, N_HPARAMS,    \
                                GRAD_FROM, COST, NAME##_epilogue)

static inline cnn_status cnn_ew_clamp_epilogue(cnn_epilogue *ep, float lo,
                                               float hi)
{
    ep->lo = lo;
    ep->hi = hi;
    return CNN_OK;
}

/* The usual case: the type name is NAME itself. */
#define CNN_ELEMENTWISE_PLUGIN(NAME, SUMMARY, HPARAMS, N_HPARAMS, GRAD_FROM, \
                               COST)                                         \
    CNN_ELEMENTWISE_PLUGIN_NAMED(NAME, #NAME, SUMMARY, HPARAMS, N_HPARAMS,   \
                                 GRAD_FROM, COST)

#ifdef __cplusplus
}
#endif
#endif
