/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/layer.h"
#include "grad_sync.h"

typedef struct bucket {
    size_t first, count; /* floats of the flat gradient array */
    size_t lowest_layer; /* ready once backward has finished this layer */
} bucket;

struct grad_sync {
    dist_comm *comm;
    cnn_params *params;
    bucket *buckets; /* in the order they become ready */
    size_t n_buckets;
    size_t next;     /* first bucket not started in this step */
    size_t *state;   /* tensor indices of trainable layers' running stats */
    size_t n_state;
    float *extras;   /* stats, then the running statistics */
    size_t n_extras, n_stats;
};

static size_t bucket_cap_floats(void)
{
    const char *v = getenv("CNNRUN_BUCKET_KB");
    long kb = v ? strtol(v, NULL, 10) : 0;
    if (kb <= 0)
        kb = 256;
    return (size_t)kb * 1024 / sizeof(float);
}

/* Offset of tensor i in the flat arrays: tensors are stored one after the
 * other in index order. */
static size_t tensor_offset(cnn_params *p, size_t i)
{
    return (size_t)(cnn_params_value(p, i)->data - cnn_params_data(p));
}

cnn_status grad_sync_create(cnn_context *ctx, dist_comm *comm,
                            const cnn_graph *graph, cnn_params *params,
                            grad_sync **out)
{
    size_t count = cnn_params_count(params), cap = bucket_cap_floats();
    size_t state_floats = 0;
    grad_sync *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s || !(s->buckets = calloc(count + 1, sizeof *s->buckets)) ||
        !(s->state = calloc(count + 1, sizeof *s->state))) {
        grad_sync_destroy(s);
        return cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    s->comm = comm;
    s->params = params;
    /* Last tensor first: backward produces them in that order. A bucket is
     * a contiguous run of trainable tensors, so frozen layers' gradients
     * never travel. */
    {
        bucket *open = NULL; /* the bucket being filled; NULL after a gap */
        for (size_t k = count; k-- > 0;) {
            size_t off = tensor_offset(params, k);
            size_t n = cnn_shape_numel(&cnn_params_value(params, k)->shape);
            size_t layer = cnn_params_layer(params, k);
            if (!cnn_params_trainable(params, k)) {
                cnn_layer_info info;
                cnn_graph_layer_info(graph, layer, &info);
                if ((cnn_params_spec(params, k)->flags & CNN_PARAM_STATE) &&
                    info.trainable) {
                    s->state[s->n_state++] = k;
                    state_floats += n;
                }
                open = NULL;
                continue;
            }
            if (open && open->first == off + n && open->count + n <= cap) {
                open->first = off;
                open->count += n;
            } else {
                open = &s->buckets[s->n_buckets++];
                open->first = off;
                open->count = n;
            }
            open->lowest_layer = layer;
        }
    }
    s->n_stats = GRAD_SYNC_MAX_STATS;
    s->n_extras = GRAD_SYNC_MAX_STATS + state_floats;
    s->extras = calloc(s->n_extras, sizeof *s->extras);
    if (!s->extras) {
        grad_sync_destroy(s);
        return cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return CNN_OK;
}

void grad_sync_destroy(grad_sync *s)
{
    if (!s)
        return;
    free(s->buckets);
    free(s->state);
    free(s->extras);
    free(s);
}

void grad_sync_keep_state(grad_sync *s)
{
    s->n_state = 0;
    s->n_extras = GRAD_SYNC_MAX_STATS;
}

size_t grad_sync_bucket_count(const grad_sync *s)
{
    return s->n_buckets;
}

void grad_sync_begin_step(grad_sync *s, double share, const float *stats,
                          size_t n_stats)
{
    float *x = s->extras + GRAD_SYNC_MAX_STATS;
    float w = (float)share;
    memset(s->extras, 0, GRAD_SYNC_MAX_STATS * sizeof *s->extras);
    memcpy(s->extras, stats, n_stats * sizeof *stats);
    for (size_t j = 0; j < s->n_state; j++) {
        const cnn_tensor *t = cnn_params_value(s->params, s->state[j]);
        size_t n = cnn_shape_numel(&t->shape);
        for (size_t i = 0; i < n; i++)
            x[i] = w * t->data[i];
        x += n;
    }
    s->next = 0;
    s->comm->sum_start(s->comm, s->extras, s->n_extras);
}

void grad_sync_zero_grads(grad_sync *s)
{
    float *g = cnn_params_grad_data(s->params);
    for (size_t b = 0; b < s->n_buckets; b++)
        memset(g + s->buckets[b].first, 0, s->buckets[b].count * sizeof *g);
}

static void start_ready(grad_sync *s, size_t done_layer)
{
    float *g = cnn_params_grad_data(s->params);
    while (s->next < s->n_buckets &&
           s->buckets[s->next].lowest_layer >= done_layer) {
        const bucket *b = &s->buckets[s->next++];
        s->comm->sum_start(s->comm, g + b->first, b->count);
    }
}

cnn_status grad_sync_layer_done(void *user, size_t layer)
{
    grad_sync *s = user;
    start_ready(s, layer);
    s->comm->progress(s->comm);
    return CNN_OK;
}

void grad_sync_finish(grad_sync *s, float *stats)
{
    const float *x = s->extras + GRAD_SYNC_MAX_STATS;
    start_ready(s, 0);
    s->comm->sum_wait(s->comm);
    memcpy(stats, s->extras, GRAD_SYNC_MAX_STATS * sizeof *stats);
    for (size_t j = 0; j < s->n_state; j++) {
        cnn_tensor *t = cnn_params_value(s->params, s->state[j]);
        size_t n = cnn_shape_numel(&t->shape);
        memcpy(t->data, x, n * sizeof *x);
        x += n;
    }
}
