/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context_internal.h"
#include "params_internal.h"
#include "rng.h"

static cnn_status count_entries(cnn_context *ctx, const cnn_graph *graph,
                                size_t *tensors, size_t *floats)
{
    size_t n_layers = cnn_graph_layer_count(graph);
    *tensors = 0;
    *floats = 0;
    for (size_t l = 0; l < n_layers; l++) {
        cnn_layer_info info;
        cnn_graph_layer_info(graph, l, &info);
        for (uint32_t p = 0; p < info.n_params; p++) {
            int ok;
            size_t n = cnn_shape_numel_checked(&info.params[p].shape, &ok);
            if (!ok || n > SIZE_MAX / sizeof(float) - *floats)
                return cnn_fail(ctx, CNN_ERR_SHAPE,
                                "layer '%s': parameter '%s' is too large",
                                info.name, info.params[p].name);
            *floats += n;
            (*tensors)++;
        }
    }
    return CNN_OK;
}

cnn_status cnn_params_create(cnn_context *ctx, const cnn_graph *graph,
                             cnn_params **out)
{
    size_t tensors, floats, k = 0, offset = 0;
    cnn_params *ps;
    cnn_status st = count_entries(ctx, graph, &tensors, &floats);
    *out = NULL;
    if (st != CNN_OK)
        return st;
    ps = calloc(1, sizeof *ps);
    if (!ps)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    ps->graph = graph;
    ps->count = tensors;
    ps->numel = floats;
    ps->n_layers = cnn_graph_layer_count(graph);
    ps->entries = calloc(tensors ? tensors : 1, sizeof *ps->entries);
    ps->values = calloc(tensors ? tensors : 1, sizeof *ps->values);
    ps->grads = calloc(tensors ? tensors : 1, sizeof *ps->grads);
    ps->data = calloc(floats ? floats : 1, sizeof(float));
    ps->grad = calloc(floats ? floats : 1, sizeof(float));
    ps->layer_first = calloc(ps->n_layers ? ps->n_layers : 1, sizeof(size_t));
    ps->layer_count = calloc(ps->n_layers ? ps->n_layers : 1, sizeof(size_t));
    if (!ps->entries || !ps->values || !ps->grads || !ps->data || !ps->grad || !ps->layer_first ||
        !ps->layer_count) {
        cnn_params_destroy(ps);
        return cnn_fail(ctx, CNN_ERR_NOMEM,
                        "out of memory allocating %zu parameters", floats);
    }
    for (size_t l = 0; l < ps->n_layers; l++) {
        cnn_layer_info info;
        cnn_graph_layer_info(graph, l, &info);
        ps->layer_first[l] = k;
        ps->layer_count[l] = info.n_params;
        for (uint32_t p = 0; p < info.n_params; p++, k++) {
            cnn_param_entry *e = &ps->entries[k];
            size_t n = cnn_shape_numel(&info.params[p].shape);
            snprintf(e->name, sizeof e->name, "%s.%s", info.name,
                     info.params[p].name);
            e->spec = info.params[p];
            e->layer = l;
            e->offset = offset;
            ps->values[k].shape = e->spec.shape;
            ps->values[k].data = ps->data + offset;
            ps->grads[k].shape = e->spec.shape;
            ps->grads[k].data = ps->grad + offset;
            offset += n;
        }
    }
    *out = ps;
    return CNN_OK;
}

void cnn_params_destroy(cnn_params *ps)
{
    if (!ps)
        return;
    free(ps->entries);
    free(ps->values);
    free(ps->grads);
    free(ps->data);
    free(ps->grad);
    free(ps->layer_first);
    free(ps->layer_count);
    free(ps);
}

static void init_tensor(const cnn_param_entry *e, cnn_tensor *value,
                        uint64_t seed)
{
    cnn_rng rng = {cnn_seed_derive(seed, e->name)};
    size_t n = cnn_shape_numel(&value->shape);
    double fan_in = e->spec.fan_in > 0 ? (double)e->spec.fan_in : 1.0;
    double fan_out = e->spec.fan_out > 0 ? (double)e->spec.fan_out : 1.0;
    double a = 0.0, sigma = 0.0;
    int normal = 0;
    float *x = value->data;

    switch (e->spec.init) {
    case CNN_INIT_ZEROS:
        memset(x, 0, n * sizeof *x);
        return;
    case CNN_INIT_ONES:
        for (size_t i = 0; i < n; i++)
            x[i] = 1.0f;
        return;
    case CNN_INIT_CONSTANT:
        for (size_t i = 0; i < n; i++)
            x[i] = e->spec.init_value;
        return;
    case CNN_INIT_HE_NORMAL:
        normal = 1;
        sigma = sqrt(2.0 / fan_in);
        break;
    case CNN_INIT_HE_UNIFORM:
        a = sqrt(6.0 / fan_in);
        break;
    case CNN_INIT_GLOROT_UNIFORM:
        a = sqrt(6.0 / (fan_in + fan_out));
        break;
    case CNN_INIT_GLOROT_NORMAL:
        normal = 1;
        sigma = sqrt(2.0 / (fan_in + fan_out));
        break;
    case CNN_INIT_FAN_IN_UNIFORM:
    default:
        a = 1.0 / sqrt(fan_in);
        break;
    }
    for (size_t i = 0; i < n; i++)
        x[i] = normal ? (float)(sigma * cnn_rng_normal(&rng))
                      : (float)(a * (2.0 * cnn_rng_uniform(&rng) - 1.0));
}

void cnn_params_init(cnn_params *ps, uint64_t seed)
{
    for (size_t i = 0; i < ps->count; i++)
        init_tensor(&ps->entries[i], &ps->values[i], seed);
}

size_t cnn_params_count(const cnn_params *ps) { return ps->count; }
size_t cnn_params_numel(const cnn_params *ps) { return ps->numel; }

const char *cnn_params_name(const cnn_params *ps, size_t i)
{
    return i < ps->count ? ps->entries[i].name : NULL;
}

cnn_tensor *cnn_params_value(cnn_params *ps, size_t i)
{
    return i < ps->count ? &ps->values[i] : NULL;
}

cnn_tensor *cnn_params_grad(cnn_params *ps, size_t i)
{
    return i < ps->count ? &ps->grads[i] : NULL;
}

const cnn_param_spec *cnn_params_spec(const cnn_params *ps, size_t i)
{
    return i < ps->count ? &ps->entries[i].spec : NULL;
}

size_t cnn_params_layer(const cnn_params *ps, size_t i)
{
    return i < ps->count ? ps->entries[i].layer : SIZE_MAX;
}

int64_t cnn_params_find(const cnn_params *ps, const char *name)
{
    for (size_t i = 0; i < ps->count; i++)
        if (strcmp(ps->entries[i].name, name) == 0)
            return (int64_t)i;
    return -1;
}

float *cnn_params_data(cnn_params *ps) { return ps->data; }
float *cnn_params_grad_data(cnn_params *ps) { return ps->grad; }

size_t cnn_params_layer_first(const cnn_params *ps, size_t layer,
                              size_t *count)
{
    if (layer >= ps->n_layers) {
        *count = 0;
        return ps->count;
    }
    *count = ps->layer_count[layer];
    return ps->layer_first[layer];
}

/* Running statistics (CNN_PARAM_STATE) are never trained: the layer's
 * forward updates them, so the optimiser gives them no slot (no update, no
 * state, no weight decay), whether or not their layer is frozen. */
int cnn_params_trainable(const cnn_params *ps, size_t i)
{
    cnn_layer_info info;
    if (i >= ps->count || (ps->entries[i].spec.flags & CNN_PARAM_STATE))
        return 0;
    cnn_graph_layer_info(ps->graph, ps->entries[i].layer, &info);
    return info.trainable;
}
