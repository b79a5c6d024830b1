/* SPDX-License-Identifier: MIT */
/* SGD (momentum, Nesterov, weight decay) and Adam, with PyTorch's update
 * rules, so the same recipe gives the same trajectory:
 *   SGD:  g += wd p;  b = m b + g;  p -= lr (nesterov ? g + m b : b)
 *   Adam: g += wd p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *         p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 *   AdamW: p -= lr wd p, then Adam without the g += wd p term.          */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/train.h"
#include "context_internal.h"

typedef struct optim_slot {
    size_t param;  /* index in the store */
    float *first;  /* momentum buffer, or Adam's m */
    float *second; /* Adam's v, NULL for SGD */
    size_t numel;
    double decay; /* weight decay for this tensor */
} optim_slot;

struct cnn_optim {
    cnn_params *params;
    cnn_optim_config config;
    optim_slot *slots;
    size_t n_slots;
    float *state; /* all buffers, one allocation */
    cnn_named_tensor *named;
    char (*names)[224]; /* parameter name + ".momentum" etc. */
    size_t n_named;
    uint64_t steps;
};

void cnn_optim_destroy(cnn_optim *o)
{
    if (!o)
        return;
    free(o->slots);
    free(o->state);
    free(o->named);
    free(o->names);
    free(o);
}

cnn_status cnn_optim_create(cnn_context *ctx, cnn_params *params,
                            const cnn_optim_config *config, cnn_optim **out)
{
    cnn_optim *o = calloc(1, sizeof *o);
    size_t count = cnn_params_count(params), floats = 0, per;
    int adam = config->kind == CNN_OPTIM_ADAM || config->kind == CNN_OPTIM_ADAMW;
    int has_state = adam || config->momentum != 0.0;
    *out = NULL;
    if (!o)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    o->params = params;
    o->config = *config;
    if (adam) {
        if (o->config.beta1 == 0)
            o->config.beta1 = 0.9;
        if (o->config.beta2 == 0)
            o->config.beta2 = 0.999;
        if (o->config.eps == 0)
            o->config.eps = 1e-8;
    }
    o->slots = calloc(count ? count : 1, sizeof *o->slots);
    if (!o->slots)
        goto oom;
    for (size_t i = 0; i < count; i++) {
        if (!cnn_params_trainable(params, i))
            continue;
        optim_slot *s = &o->slots[o->n_slots++];
        s->param = i;
        s->numel = cnn_shape_numel(&cnn_params_value(params, i)->shape);
        s->decay = (cnn_params_spec(params, i)->flags & CNN_PARAM_NO_DECAY)
                       ? 0.0
                       : config->weight_decay;
        floats += s->numel;
    }
    per = adam ? 2 : (has_state ? 1 : 0);
    /* calloc(0) may return NULL; ask for at least one element. */
    o->state = calloc(floats * per + 1, sizeof(float));
    o->named = calloc(o->n_slots * per + 1, sizeof *o->named);
    o->names = calloc(o->n_slots * per + 1, sizeof *o->names);
    if (!o->state || !o->named || !o->names)
        goto oom;
    {
        float *p = o->state;
        for (size_t k = 0; k < o->n_slots; k++) {
            optim_slot *s = &o->slots[k];
            const char *pname = cnn_params_name(params, s->param);
            cnn_shape shape = cnn_params_value(params, s->param)->shape;
            if (!has_state)
                break;
            s->first = p;
            p += s->numel;
            snprintf(o->names[o->n_named], sizeof o->names[0], "%s.%s", pname,
                     adam ? "adam_m" : "momentum");
            o->named[o->n_named].name = o->names[o->n_named];
            o->named[o->n_named].tensor.shape = shape;
            o->named[o->n_named].tensor.data = s->first;
            o->n_named++;
            if (adam) {
                s->second = p;
                p += s->numel;
                snprintf(o->names[o->n_named], sizeof o->names[0], "%s.adam_v", pname);
                o->named[o->n_named].name = o->names[o->n_named];
                o->named[o->n_named].tensor.shape = shape;
                o->named[o->n_named].tensor.data = s->second;
                o->n_named++;
            }
        }
    }
    *out = o;
    return CNN_OK;
oom:
    cnn_optim_destroy(o);
    return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory for the optimiser state");
}

static void sgd_slot(const cnn_optim_config *c, const optim_slot *s,
                     float *restrict p, const float *restrict grad, float lr)
{
    const float m = (float)c->momentum, wd = (float)s->decay;
    float *restrict b = s->first;
    if (!b) {
        for (size_t i = 0; i < s->numel; i++)
            p[i] -= lr * (grad[i] + wd * p[i]);
        return;
    }
    for (size_t i = 0; i < s->numel; i++) {
        float g = grad[i] + wd * p[i];
        b[i] = m * b[i] + g;
        p[i] -= lr * (c->nesterov ? g + m * b[i] : b[i]);
    }
}

static void adam_slot(const cnn_optim_config *c, const optim_slot *s,
                      float *restrict p, const float *restrict grad, double lr,
                      uint64_t t)
{
    const int decoupled = c->kind == CNN_OPTIM_ADAMW;
    const float b1 = (float)c->beta1, b2 = (float)c->beta2;
    const float wd = decoupled ? 0.0f : (float)s->decay, eps = (float)c->eps;
    const double bc1 = 1.0 - pow(c->beta1, (double)t);
    const double bc2 = 1.0 - pow(c->beta2, (double)t);
    const float step = (float)(lr / bc1), scale = (float)(1.0 / sqrt(bc2));
    float *restrict m = s->first, *restrict v = s->second;
    if (decoupled && s->decay != 0.0) {
        const float shrink = (float)(1.0 - lr * s->decay);
        for (size_t i = 0; i < s->numel; i++)
            p[i] *= shrink;
    }
    for (size_t i = 0; i < s->numel; i++) {
        float g = grad[i] + wd * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        p[i] -= step * m[i] / (sqrtf(v[i]) * scale + eps);
    }
}

void cnn_optim_step(cnn_optim *o, double lr)
{
    o->steps++;
    for (size_t k = 0; k < o->n_slots; k++) {
        const optim_slot *s = &o->slots[k];
        float *p = cnn_params_value(o->params, s->param)->data;
        const float *g = cnn_params_grad(o->params, s->param)->data;
        if (o->config.kind != CNN_OPTIM_SGD)
            adam_slot(&o->config, s, p, g, lr, o->steps);
        else
            sgd_slot(&o->config, s, p, g, (float)lr);
    }
}

uint64_t cnn_optim_steps(const cnn_optim *o) { return o->steps; }
size_t cnn_optim_state_count(const cnn_optim *o) { return o->n_named; }

const cnn_named_tensor *cnn_optim_state(const cnn_optim *o, size_t i)
{
    return i < o->n_named ? &o->named[i] : NULL;
}

static const cnn_named_tensor *find_prefixed(const cnn_tensor_file *file,
                                            const char *prefix,
                                            const char *name)
{
    char full[512];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return cnn_tensor_file_find(file, full);
}

cnn_status cnn_optim_load_state(cnn_context *ctx, cnn_optim *o,
                                const cnn_tensor_file *file,
                                const char *prefix, uint64_t steps)
{
    for (size_t i = 0; i < o->n_named; i++) {
        const cnn_named_tensor *want = &o->named[i];
        const cnn_named_tensor *got = find_prefixed(file, prefix, want->name);
        if (!got)
            return cnn_fail(ctx, CNN_ERR_FORMAT,
                            "%s: checkpoint lacks optimiser state '%s%s'",
                            cnn_tensor_file_path(file), prefix, want->name);
        if (!cnn_shape_equal(&got->tensor.shape, &want->tensor.shape))
            return cnn_fail(ctx, CNN_ERR_SHAPE,
                            "%s: optimiser state '%s' has the wrong shape",
                            cnn_tensor_file_path(file), want->name);
    }
    for (size_t i = 0; i < o->n_named; i++) {
        const cnn_named_tensor *got =
            find_prefixed(file, prefix, o->named[i].name);
        memcpy(o->named[i].tensor.data, got->tensor.data,
               cnn_shape_numel(&got->tensor.shape) * sizeof(float));
    }
    o->steps = steps;
    return CNN_OK;
}
