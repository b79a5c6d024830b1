/* SPDX-License-Identifier: MIT */
/* The executor: forward and backward over a graph in topological order.
 *
 * Inference: a memory plan assigns each layer's output to a shared buffer
 * that is released once the last layer reading it has run (greedy, largest
 * free buffer first), so peak memory is a few activations, not all of them.
 * Training: every output and its gradient has its own buffer, because
 * backward reads them all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "cnn/exec.h"
#include "cnn/memory.h"
#include "context_internal.h"
#include "hook_site_internal.h"
#include "rng.h"
#include "thread_pool.h"

#define CNN_ALIGN 64

struct cnn_exec {
    cnn_context *ctx;
    const cnn_graph *graph;
    cnn_params *params;
    size_t n_layers;
    int64_t batch;
    int training;
    size_t output_layer;

    cnn_layer_info *info;
    size_t *sample_floats; /* per layer: output floats per sample */
    float **out;           /* per layer: output buffer (may be shared) */
    float **grad;          /* per layer: gradient of the output, training */
    int *need_grad;        /* backward visits the layer */
    int *grad_ready;       /* per backward pass */
    cnn_tensor *views;     /* per layer: output view of the last forward */
    int32_t *have_output;  /* per layer: 1 when views[l] is still valid */

    float **buffers;
    size_t n_buffers;

    float *workspace;
    size_t workspace_floats;
    cnn_layer_env env;

    uint32_t max_inputs;
    cnn_tensor *in_views;
    cnn_tensor *in_grads;
    float **tmp_grads; /* max_inputs buffers for fan-out accumulation */
    size_t max_floats; /* largest layer output, floats, at full batch */

    size_t bytes;
    int timing;
    double *fwd_seconds;
    double *bwd_seconds;
    int64_t last_n;
    uint64_t last_seed;
    int last_training;
    cnn_tensor input; /* the last forward's input, borrowed */
    int *direct;      /* per input slot: gradient written in place */
    cnn_exec_layer_hook backward_hook; /* may be NULL */
    void *backward_hook_user;
    int64_t sample_offset; /* first sample of the pass in a larger batch */
    cnn_exec_allreduce_fn allreduce; /* NULL: the pass sees the whole batch */
    void *allreduce_user;
};

static float *alloc_floats(size_t n)
{
    size_t bytes = n * sizeof(float);
    bytes = (bytes + CNN_ALIGN - 1) / CNN_ALIGN * CNN_ALIGN;
    if (bytes == 0)
        bytes = CNN_ALIGN;
    return aligned_alloc(CNN_ALIGN, bytes);
}

/* The workspace grows layer by layer during the first pass. It is mapped
 * straight from the kernel so that each outgrown buffer goes back at once:
 * from malloc, once the process's mmap threshold had risen, the outgrown
 * buffers stayed in the heap and VGG-16 inference held 31 MB of dead
 * workspace (616 MB resident instead of 585). */
static float *workspace_map(size_t n_floats)
{
    size_t bytes = n_floats ? n_floats * sizeof(float) : CNN_ALIGN;
    void *p;
    if (n_floats > SIZE_MAX / sizeof(float))
        return NULL;
    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void workspace_unmap(float *ws, size_t n_floats)
{
    if (ws)
        munmap(ws, n_floats ? n_floats * sizeof(float) : CNN_ALIGN);
}

static float *exec_workspace(void *host, size_t n_floats)
{
    cnn_exec *ex = host;
    if (ex->workspace && n_floats <= ex->workspace_floats)
        return ex->workspace;
    workspace_unmap(ex->workspace, ex->workspace_floats);
    ex->bytes -= ex->workspace_floats * sizeof(float);
    ex->workspace = workspace_map(n_floats);
    ex->workspace_floats = ex->workspace ? n_floats : 0;
    ex->bytes += ex->workspace_floats * sizeof(float);
    return ex->workspace;
}

/* env->allreduce_sum: the host's callback with its own argument. */
static cnn_status exec_allreduce_sum(void *host, double *values, size_t n)
{
    cnn_exec *ex = host;
    return ex->allreduce(ex->allreduce_user, values, n);
}

static void exec_parallel_for(void *host, size_t n, cnn_range_fn fn, void *arg)
{
    cnn_exec *ex = host;
    /* One thread layer for the process: the context's pool runs the loops
     * (and the GEMMs plugins call inside them) with OpenBLAS at one thread,
     * so the two never oversubscribe the cores (core/thread_pool.h). */
    cnn_thread_pool_run(cnn_context_thread_pool(ex->ctx), n, fn, arg);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cnn_exec_destroy(cnn_exec *ex)
{
    if (!ex)
        return;
    for (size_t b = 0; b < ex->n_buffers; b++)
        free(ex->buffers[b]);
    if (ex->grad)
        for (size_t l = 0; l < ex->n_layers; l++)
            free(ex->grad[l]);
    if (ex->tmp_grads)
        for (uint32_t j = 0; j < ex->max_inputs; j++)
            free(ex->tmp_grads[j]);
    free(ex->tmp_grads);
    free(ex->buffers);
    workspace_unmap(ex->workspace, ex->workspace_floats);
    free(ex->info);
    free(ex->sample_floats);
    free(ex->out);
    free(ex->grad);
    free(ex->need_grad);
    free(ex->grad_ready);
    free(ex->views);
    free(ex->have_output);
    free(ex->in_views);
    free(ex->in_grads);
    free(ex->direct);
    free(ex->fwd_seconds);
    free(ex->bwd_seconds);
    free(ex);
}

/* Assigns output buffers. Training: one per layer. Inference: reuse. */
static cnn_status plan_buffers(cnn_exec *ex, int32_t keep_layer)
{
    size_t n = ex->n_layers;
    size_t *last_use = calloc(n, sizeof *last_use);
    size_t *owner = calloc(n, sizeof *owner);      /* buffer of layer */
    size_t *capacity = calloc(n, sizeof *capacity); /* floats per buffer */
    int *busy = calloc(n, sizeof *busy);
    cnn_status st = CNN_OK;
    size_t n_buffers = 0;

    if (!last_use || !owner || !capacity || !busy) {
        st = cnn_fail(ex->ctx, CNN_ERR_NOMEM, "out of memory planning memory");
        goto done;
    }
    for (size_t l = 0; l < n; l++) {
        last_use[l] = l;
        for (uint32_t j = 0; j < ex->info[l].n_inputs; j++) {
            int32_t k = ex->info[l].inputs[j];
            if (k >= 0 && last_use[k] < l)
                last_use[k] = l;
        }
    }
    for (size_t l = 0; l < n; l++) {
        size_t need = ex->sample_floats[l] * (size_t)ex->batch;
        size_t pick = SIZE_MAX;
        int pinned = ex->training || l == ex->output_layer ||
                     (keep_layer >= 0 && (size_t)keep_layer == l);
        if (!pinned) {
            for (size_t b = 0; b < n_buffers; b++)
                if (!busy[b] &&
                    (pick == SIZE_MAX || capacity[b] > capacity[pick]))
                    pick = b;
        }
        if (pick == SIZE_MAX)
            pick = n_buffers++;
        if (capacity[pick] < need)
            capacity[pick] = need;
        busy[pick] = pinned ? 2 : 1;
        owner[l] = pick;
        /* Release inputs whose last reader is this layer. */
        for (uint32_t j = 0; j < ex->info[l].n_inputs; j++) {
            int32_t k = ex->info[l].inputs[j];
            if (k >= 0 && last_use[k] == l && busy[owner[k]] == 1)
                busy[owner[k]] = 0;
        }
        if (last_use[l] == l && busy[pick] == 1 && l != ex->output_layer)
            busy[pick] = 0; /* nobody reads it */
    }
    {
        /* The whole plan, checked before the first buffer is asked for. */
        uint64_t total = 0;
        char what[128];
        for (size_t b = 0; b < n_buffers; b++)
            total = cnn_memory_add(total,
                                   cnn_memory_mul(capacity[b], sizeof(float)));
        snprintf(what, sizeof what, "the activations of a batch of %lld",
                 (long long)ex->batch);
        st = cnn_memory_check(ex->ctx, total, what);
        if (st != CNN_OK)
            goto done;
    }
    ex->buffers = calloc(n_buffers ? n_buffers : 1, sizeof *ex->buffers);
    if (!ex->buffers) {
        st = cnn_fail(ex->ctx, CNN_ERR_NOMEM, "out of memory");
        goto done;
    }
    ex->n_buffers = n_buffers;
    for (size_t b = 0; b < n_buffers; b++) {
        ex->buffers[b] = alloc_floats(capacity[b]);
        if (!ex->buffers[b]) {
            st = cnn_fail(ex->ctx, CNN_ERR_NOMEM,
                          "out of memory allocating %zu activation bytes",
                          capacity[b] * sizeof(float));
            goto done;
        }
        ex->bytes += capacity[b] * sizeof(float);
    }
    for (size_t l = 0; l < n; l++)
        ex->out[l] = ex->buffers[owner[l]];
done:
    free(last_use);
    free(owner);
    free(capacity);
    free(busy);
    return st;
}

static cnn_status alloc_training(cnn_exec *ex)
{
    uint64_t total = 0;
    char what[128];
    for (size_t l = 0; l < ex->n_layers; l++)
        if (ex->need_grad[l] || l == ex->output_layer)
            total = cnn_memory_add(
                total, cnn_memory_mul(cnn_memory_mul(ex->sample_floats[l],
                                                     (uint64_t)ex->batch),
                                      sizeof(float)));
    snprintf(what, sizeof what, "the gradients of a batch of %lld",
             (long long)ex->batch);
    if (cnn_memory_check(ex->ctx, cnn_memory_add(total, ex->bytes), what) !=
        CNN_OK)
        return CNN_ERR_NOMEM;
    for (size_t l = 0; l < ex->n_layers; l++) {
        if (!ex->need_grad[l] && l != ex->output_layer)
            continue;
        ex->grad[l] = alloc_floats(ex->sample_floats[l] * (size_t)ex->batch);
        if (!ex->grad[l])
            return cnn_fail(ex->ctx, CNN_ERR_NOMEM,
                            "out of memory allocating gradients");
        ex->bytes += ex->sample_floats[l] * (size_t)ex->batch * sizeof(float);
    }
    ex->tmp_grads = calloc(ex->max_inputs, sizeof *ex->tmp_grads);
    if (!ex->tmp_grads)
        return cnn_fail(ex->ctx, CNN_ERR_NOMEM, "out of memory");
    return CNN_OK;
}

cnn_status cnn_exec_create(cnn_context *ctx, const cnn_graph *graph,
                           cnn_params *params, const cnn_exec_options *opts,
                           cnn_exec **out)
{
    cnn_exec *ex;
    size_t n = cnn_graph_layer_count(graph);
    cnn_status st;
    *out = NULL;
    if (opts->batch < 1 || opts->batch > (1 << 24))
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "batch must be between 1 and 16777216, got %lld",
                        (long long)opts->batch);
    if (n == 0)
        return cnn_fail(ctx, CNN_ERR_GRAPH, "graph has no layers");
    ex = calloc(1, sizeof *ex);
    if (!ex)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    ex->ctx = ctx;
    ex->graph = graph;
    ex->params = params;
    ex->n_layers = n;
    ex->batch = opts->batch;
    ex->training = opts->training != 0;
    ex->output_layer = cnn_graph_output_layer(graph);
    ex->info = calloc(n, sizeof *ex->info);
    ex->sample_floats = calloc(n, sizeof *ex->sample_floats);
    ex->out = calloc(n, sizeof *ex->out);
    ex->grad = calloc(n, sizeof *ex->grad);
    ex->need_grad = calloc(n, sizeof *ex->need_grad);
    ex->grad_ready = calloc(n, sizeof *ex->grad_ready);
    ex->views = calloc(n, sizeof *ex->views);
    ex->have_output = calloc(n, sizeof *ex->have_output);
    ex->fwd_seconds = calloc(n, sizeof *ex->fwd_seconds);
    ex->bwd_seconds = calloc(n, sizeof *ex->bwd_seconds);
    if (!ex->info || !ex->sample_floats || !ex->out || !ex->grad ||
        !ex->need_grad || !ex->grad_ready || !ex->views || !ex->have_output ||
        !ex->fwd_seconds || !ex->bwd_seconds) {
        cnn_exec_destroy(ex);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    ex->max_inputs = 1;
    for (size_t l = 0; l < n; l++) {
        cnn_layer_info *li = &ex->info[l];
        cnn_graph_layer_info(graph, l, li);
        ex->sample_floats[l] = cnn_shape_numel(&li->output_shape);
        if (ex->sample_floats[l] > SIZE_MAX / sizeof(float) / (size_t)opts->batch) {
            cnn_exec_destroy(ex);
            return cnn_fail(ctx, CNN_ERR_NOMEM,
                            "layer '%s': output too large for batch %lld",
                            li->name, (long long)opts->batch);
        }
        if (ex->sample_floats[l] * (size_t)opts->batch > ex->max_floats)
            ex->max_floats = ex->sample_floats[l] * (size_t)opts->batch;
        if (li->n_inputs > ex->max_inputs)
            ex->max_inputs = li->n_inputs;
        /* A layer needs a gradient pass when it or anything below it
         * learns; inputs come earlier in the order, so one sweep does. */
        ex->need_grad[l] = li->trainable && li->n_params > 0;
        for (uint32_t j = 0; j < li->n_inputs; j++)
            if (li->inputs[j] >= 0 && ex->need_grad[li->inputs[j]])
                ex->need_grad[l] = 1;
    }
    ex->in_views = calloc(ex->max_inputs, sizeof *ex->in_views);
    ex->in_grads = calloc(ex->max_inputs, sizeof *ex->in_grads);
    ex->direct = calloc(ex->max_inputs, sizeof *ex->direct);
    if (!ex->in_views || !ex->in_grads || !ex->direct) {
        cnn_exec_destroy(ex);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    st = plan_buffers(ex, opts->keep_layer);
    if (st == CNN_OK && ex->training)
        st = alloc_training(ex);
    if (st != CNN_OK) {
        cnn_exec_destroy(ex);
        return st;
    }
    ex->env.host = ex;
    ex->env.workspace = exec_workspace;
    ex->env.parallel_for = exec_parallel_for;
    ex->env.threads = cnn_context_threads(ctx);
    *out = ex;
    return CNN_OK;
}

static cnn_tensor layer_view(const cnn_exec *ex, size_t l, float *data,
                             int64_t n)
{
    cnn_tensor t;
    t.shape = ex->info[l].output_shape;
    t.shape.dims[0] = n;
    t.data = data;
    return t;
}

/* A frozen layer runs as in inference even in a training pass, as Keras
 * runs a non-trainable BatchNormalization and as PyTorch's backbone.eval()
 * does: batch norm normalises with its running statistics and leaves them
 * alone (so a frozen backbone's statistics stay bit-identical, like its
 * weights), and dropout is the identity, so a frozen feature extractor is
 * a fixed, deterministic function of its input. Backward gets the same
 * value as forward. */
static int layer_training(const cnn_layer_info *li, int training)
{
    return training && li->trainable;
}

/* With a sample offset the seed moves by the elements of the samples
 * before this part, as cnn_uniform_hash's index would (cnn/layer.h). */
static uint64_t layer_seed(const cnn_exec *ex, uint64_t seed, size_t l)
{
    uint64_t s = cnn_rng_mix(seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(l + 1)));
    return s + 0x9e3779b97f4a7c15ull * (uint64_t)ex->sample_offset *
                   (uint64_t)ex->sample_floats[l];
}

static void layer_params(cnn_exec *ex, size_t l, cnn_tensor **values,
                         cnn_tensor **grads)
{
    size_t count;
    size_t first = cnn_params_layer_first(ex->params, l, &count);
    *values = count ? cnn_params_value(ex->params, first) : NULL;
    *grads = count ? cnn_params_grad(ex->params, first) : NULL;
}

cnn_status cnn_exec_forward(cnn_exec *ex, const cnn_tensor *input,
                            int training, uint64_t seed, size_t until)
{
    cnn_shape want = cnn_graph_input_shape(ex->graph);
    int64_t n = input->shape.dims[0];
    char message[CNN_MESSAGE_MAX];
    cnn_errbuf err = {message, sizeof message};

    want.dims[0] = n;
    if (!cnn_shape_equal(&want, &input->shape) || n < 1)
        return cnn_fail(ex->ctx, CNN_ERR_SHAPE,
                        "input has shape [%lld, %lld, %lld, %lld] but the "
                        "graph '%s' takes [N, %lld, %lld, %lld]",
                        (long long)input->shape.dims[0],
                        (long long)input->shape.dims[1],
                        (long long)input->shape.dims[2],
                        (long long)input->shape.dims[3],
                        cnn_graph_name(ex->graph), (long long)want.dims[1],
                        (long long)want.dims[2], (long long)want.dims[3]);
    if (n > ex->batch)
        return cnn_fail(ex->ctx, CNN_ERR_INVALID,
                        "batch of %lld exceeds the executor's %lld",
                        (long long)n, (long long)ex->batch);
    if (training && !ex->training)
        return cnn_fail(ex->ctx, CNN_ERR_INVALID,
                        "training forward on an inference executor");
    if (until >= ex->n_layers)
        until = ex->n_layers - 1;
    memset(ex->have_output, 0, ex->n_layers * sizeof *ex->have_output);
    ex->last_n = n;
    ex->last_seed = seed;
    ex->last_training = training;
    ex->input = *input;
    for (size_t l = 0; l <= until; l++) {
        const cnn_layer_info *li = &ex->info[l];
        cnn_forward_args args;
        cnn_tensor *values, *grads;
        cnn_status st;
        double t0 = ex->timing ? now_seconds() : 0.0;

        for (uint32_t j = 0; j < li->n_inputs; j++) {
            int32_t k = li->inputs[j];
            ex->in_views[j] = k < 0 ? *input : ex->views[k];
        }
        ex->views[l] = layer_view(ex, l, ex->out[l], n);
        layer_params(ex, l, &values, &grads);
        memset(&args, 0, sizeof args);
        args.inputs = ex->in_views;
        args.n_inputs = li->n_inputs;
        args.params = values;
        args.n_params = li->n_params;
        args.output = &ex->views[l];
        args.training = layer_training(li, training);
        args.seed = layer_seed(ex, seed, l);
        args.env = &ex->env;
        message[0] = '\0';
        {
            cnn_hook_site site = {li->name, li->type,
                                  cnn_plugin_path(li->plugin), "forward"};
            const cnn_hook_site *prev = cnn_hook_site_enter(&site);
            st = li->descriptor->forward(li->layer, &args, &err);
            cnn_hook_site_leave(prev);
        }
        if (st != CNN_OK)
            return cnn_fail(ex->ctx, st == CNN_OK ? CNN_ERR_PLUGIN : st,
                            "layer '%s' (%s): forward failed: %s", li->name,
                            li->type, message[0] ? message : "no message");
        ex->have_output[l] = 1;
        if (ex->timing)
            ex->fwd_seconds[l] = now_seconds() - t0;
    }
    return CNN_OK;
}

const cnn_tensor *cnn_exec_output(const cnn_exec *ex, size_t layer)
{
    if (layer >= ex->n_layers || !ex->have_output[layer])
        return NULL;
    return &ex->views[layer];
}

/* Adds src into dst, n floats. */
static void add_into(float *restrict dst, const float *restrict src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

static cnn_status backward_layer(cnn_exec *ex, size_t l)
{
    const cnn_layer_info *li = &ex->info[l];
    int64_t n = ex->last_n;
    cnn_backward_args args;
    cnn_tensor *values, *grads;
    cnn_tensor dy = layer_view(ex, l, ex->grad[l], n);
    char message[CNN_MESSAGE_MAX];
    cnn_errbuf err = {message, sizeof message};
    cnn_status st;
    double t0 = ex->timing ? now_seconds() : 0.0;

    for (uint32_t j = 0; j < li->n_inputs; j++) {
        int32_t k = li->inputs[j];
        ex->in_views[j] = k < 0 ? ex->input : ex->views[k];
        ex->in_grads[j] = ex->in_views[j];
        ex->in_grads[j].data = NULL;
        ex->direct[j] = 0;
        if (k < 0 || !ex->need_grad[k])
            continue;
        if (!ex->grad_ready[k]) {
            ex->in_grads[j].data = ex->grad[k];
            ex->grad_ready[k] = 1;
            ex->direct[j] = 1;
        } else {
            if (!ex->tmp_grads[j]) {
                ex->tmp_grads[j] = alloc_floats(ex->max_floats);
                if (!ex->tmp_grads[j])
                    return cnn_fail(ex->ctx, CNN_ERR_NOMEM, "out of memory");
                ex->bytes += ex->max_floats * sizeof(float);
            }
            ex->in_grads[j].data = ex->tmp_grads[j];
        }
    }
    layer_params(ex, l, &values, &grads);
    memset(&args, 0, sizeof args);
    args.inputs = ex->in_views;
    args.n_inputs = li->n_inputs;
    args.output = &ex->views[l];
    args.output_grad = &dy;
    args.input_grads = ex->in_grads;
    args.params = values;
    args.n_params = li->n_params;
    args.param_grads = li->trainable ? grads : NULL;
    args.training = layer_training(li, ex->last_training);
    args.seed = layer_seed(ex, ex->last_seed, l);
    args.env = &ex->env;
    message[0] = '\0';
    {
        cnn_hook_site site = {li->name, li->type, cnn_plugin_path(li->plugin),
                              "backward"};
        const cnn_hook_site *prev = cnn_hook_site_enter(&site);
        st = li->descriptor->backward(li->layer, &args, &err);
        cnn_hook_site_leave(prev);
    }
    if (st != CNN_OK)
        return cnn_fail(ex->ctx, st, "layer '%s' (%s): backward failed: %s",
                        li->name, li->type,
                        message[0] ? message : "no message");
    for (uint32_t j = 0; j < li->n_inputs; j++) {
        int32_t k = li->inputs[j];
        if (k >= 0 && ex->in_grads[j].data && !ex->direct[j])
            add_into(ex->grad[k], ex->in_grads[j].data,
                     ex->sample_floats[k] * (size_t)n);
    }
    if (ex->timing)
        ex->bwd_seconds[l] = now_seconds() - t0;
    return CNN_OK;
}

cnn_status cnn_exec_backward(cnn_exec *ex, const cnn_tensor *output_grad,
                             size_t from_layer, int skip_from)
{
    size_t start, target;
    size_t floats;
    if (!ex->training)
        return cnn_fail(ex->ctx, CNN_ERR_INVALID,
                        "backward on an inference executor");
    if (from_layer >= ex->n_layers || !ex->have_output[from_layer])
        return cnn_fail(ex->ctx, CNN_ERR_INVALID,
                        "backward from layer %zu, which the last forward "
                        "pass did not run",
                        from_layer);
    memset(ex->grad_ready, 0, ex->n_layers * sizeof *ex->grad_ready);
    if (skip_from) {
        /* The caller gives dL/d(input of from_layer): fused softmax and
         * cross-entropy. */
        int32_t k = ex->info[from_layer].inputs[0];
        if (ex->info[from_layer].n_inputs != 1 || k < 0)
            return cnn_fail(ex->ctx, CNN_ERR_INVALID,
                            "layer '%s' cannot be skipped in backward",
                            ex->info[from_layer].name);
        target = (size_t)k;
        start = target;
    } else {
        target = from_layer;
        start = from_layer;
    }
    floats = ex->sample_floats[target] * (size_t)ex->last_n;
    if (cnn_shape_numel(&output_grad->shape) != floats)
        return cnn_fail(ex->ctx, CNN_ERR_SHAPE,
                        "output gradient has %zu values, layer '%s' has %zu",
                        cnn_shape_numel(&output_grad->shape),
                        ex->info[target].name, floats);
    if (!ex->need_grad[target])
        return CNN_OK; /* nothing below learns */
    memcpy(ex->grad[target], output_grad->data, floats * sizeof(float));
    ex->grad_ready[target] = 1;
    for (size_t l = start + 1; l-- > 0;) {
        cnn_status st;
        if (!ex->need_grad[l] || !ex->grad_ready[l])
            continue;
        st = backward_layer(ex, l);
        if (st == CNN_OK && ex->backward_hook)
            st = ex->backward_hook(ex->backward_hook_user, l);
        if (st != CNN_OK)
            return st;
    }
    return CNN_OK;
}

void cnn_exec_set_backward_hook(cnn_exec *ex, cnn_exec_layer_hook hook,
                                void *user)
{
    ex->backward_hook = hook;
    ex->backward_hook_user = user;
}

void cnn_exec_set_allreduce(cnn_exec *ex, cnn_exec_allreduce_fn fn,
                            void *user)
{
    ex->allreduce = fn;
    ex->allreduce_user = user;
    ex->env.allreduce_sum = fn ? exec_allreduce_sum : NULL;
}

void cnn_exec_set_sample_offset(cnn_exec *ex, int64_t offset)
{
    ex->sample_offset = offset;
}

size_t cnn_exec_memory_bytes(const cnn_exec *ex)
{
    return ex->bytes;
}

void cnn_exec_set_timing(cnn_exec *ex, int enabled)
{
    ex->timing = enabled != 0;
}

double cnn_exec_forward_seconds(const cnn_exec *ex, size_t layer)
{
    return layer < ex->n_layers ? ex->fwd_seconds[layer] : 0.0;
}

double cnn_exec_backward_seconds(const cnn_exec *ex, size_t layer)
{
    return layer < ex->n_layers ? ex->bwd_seconds[layer] : 0.0;
}
