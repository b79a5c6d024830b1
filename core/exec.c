/* SPDX-License-Identifier: MIT */
/* The executor: forward and backward over a graph in topological order.
 *
 * Memory: every activation, gradient and fan-out temporary is an item of a
 * plan with the steps that use it (core/exec_plan.h), and all share one
 * arena. An activation lives from its layer's forward to the last step
 * that reads it: a later layer's forward, or a backward that reads it
 * (its own, unless the layer declares CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT;
 * a consumer's, unless that one declares CNN_LAYER_FLAG_IN_PLACE). A
 * gradient lives from the first backward that writes it to its layer's own
 * backward. A layer declaring CNN_LAYER_FLAG_IN_PLACE writes over its
 * input when nothing else reads that input (relu after a convolution), and
 * its backward then writes dx over dy. A hook's workspace is taken from a
 * free run of the arena at that step when there is one. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "cnn/exec.h"
#include "cnn/memory.h"
#include "context_internal.h"
#include "exec_fuse.h"
#include "exec_micro.h"
#include "exec_plan.h"
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
    uint64_t params_token; /* ABI 1.5: 0 unless the caller's params are constant */
    size_t output_layer;

    cnn_layer_info *info;
    size_t *sample_floats; /* per layer: output floats per sample */
    float **out;           /* per layer: output buffer (may be shared) */
    float **grad;          /* per layer: gradient of the output, training */
    int *need_grad;        /* backward visits the layer */
    int *grad_ready;       /* per backward pass */
    cnn_tensor *views;     /* per layer: output view of the last forward */
    int32_t *have_output;  /* per layer: 1 when views[l] is still valid */

    /* The memory plan: items [0, n) activations, [n, 2n) gradients,
     * [2n, 2n + n max_inputs) fan-out temporaries (layer l, input slot j
     * at 2n + l max_inputs + j). */
    cnn_plan_item *items;
    size_t n_items;
    float *arena;
    size_t arena_floats;
    int32_t *in_place_on; /* per layer: the input it overwrites, or -1 */
    uint32_t clock;       /* the step running or last run */
    int spent;            /* a backward since the last forward reused its
                             activations' memory for gradients */
    uint32_t last_step;   /* training: 2n (backward of layer 0) */
    int32_t planned_target[2]; /* backward starts the main plan covers */
    /* Another backward start gets gradients and temporaries of its own,
     * planned for it and kept for the next call from the same layer. */
    cnn_plan_item *other_items;
    float *other_arena;
    size_t other_floats;
    int64_t other_target;
    float **tmp; /* per (layer, slot): the fan-out temporary, or NULL */

    float *workspace;
    size_t workspace_floats;
    cnn_layer_env env;

    uint32_t max_inputs;
    cnn_tensor *in_views;
    cnn_tensor *in_grads;

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
    cnn_fusion fusion; /* inference: followers folded into the layer below */
    /* Inference at batch > 1: layers [0, micro_end] run image by image
     * through this batch-1 executor of the same graph (exec_micro.h), or
     * NULL. */
    struct cnn_exec *micro;
    size_t micro_end;
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
    size_t gap = ex->arena ? cnn_plan_gap(ex->items, ex->n_items, ex->clock,
                                          ex->arena_floats, n_floats)
                           : SIZE_MAX;
    if (gap != SIZE_MAX)
        return ex->arena + gap; /* memory no item needs at this step */
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
    free(ex->arena);
    free(ex->other_arena);
    free(ex->items);
    free(ex->other_items);
    free(ex->in_place_on);
    free(ex->tmp);
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
    cnn_fusion_release(&ex->fusion);
    cnn_exec_destroy(ex->micro);
    free(ex);
}

/* ---- The memory plan ----------------------------------------------------
 * Steps: forward of layer l is step l, the loss step n, backward of layer l
 * step 2n - l (so backward of layer 0 is the last, 2n). */

static uint32_t step_forward(size_t l) { return (uint32_t)l; }

static uint32_t step_backward(const cnn_exec *ex, size_t l)
{
    return (uint32_t)(2 * ex->n_layers - l);
}

/* The descriptor flags the executor plans with. Bits that ABI 1.3 gave a
 * meaning are read only from plugins built for 1.3 or later: an older
 * plugin could not have meant them. */
static uint32_t layer_flags(const cnn_layer_info *li)
{
    const uint32_t since_1_3 =
        CNN_LAYER_FLAG_IN_PLACE | CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT;
    uint32_t flags = li->descriptor->flags;
    if (CNN_LAYER_ABI_MINOR_OF(li->descriptor->abi_version) < 3)
        flags &= ~since_1_3;
    return flags;
}

static size_t layer_floats(const cnn_exec *ex, size_t l)
{
    return ex->sample_floats[l] * (size_t)ex->batch;
}

static size_t tmp_item(const cnn_exec *ex, size_t l, uint32_t j)
{
    return 2 * ex->n_layers + l * ex->max_inputs + j;
}

/* How many (layer, input slot) pairs read layer k's output. */
static size_t readers_of(const cnn_exec *ex, size_t k)
{
    size_t count = 0;
    for (size_t c = k + 1; c < ex->n_layers; c++)
        for (uint32_t j = 0; j < ex->info[c].n_inputs; j++)
            count += ex->info[c].inputs[j] == (int32_t)k;
    return count;
}

static int pinned(const cnn_exec *ex, size_t l, int32_t keep_layer)
{
    return l == ex->output_layer || keep_layer == CNN_EXEC_KEEP_ALL ||
           (keep_layer >= 0 && (size_t)keep_layer == l);
}

/* Layer l may write its output over its only input k when its backward
 * needs neither (the flag's promise), nothing else reads k, the caller
 * does not keep k, and k's own backward does not read what is overwritten
 * (conv, dense: they need their input, not their output). */
static void plan_in_place(cnn_exec *ex, int32_t keep_layer)
{
    for (size_t l = 0; l < ex->n_layers; l++) {
        const cnn_layer_info *li = &ex->info[l];
        int32_t k = li->n_inputs == 1 ? li->inputs[0] : -1;
        ex->in_place_on[l] = -1;
        if (!(layer_flags(li) & CNN_LAYER_FLAG_IN_PLACE) || k < 0 ||
            readers_of(ex, (size_t)k) != 1 || pinned(ex, (size_t)k, keep_layer) ||
            ex->sample_floats[k] != ex->sample_floats[l])
            continue;
        if (ex->training && ex->need_grad[k] &&
            !(layer_flags(&ex->info[k]) & CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT))
            continue;
        ex->in_place_on[l] = k;
    }
}

static uint32_t max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }
static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* Activations: from their forward to their last reader. */
static void plan_activations(cnn_exec *ex, cnn_plan_item *items,
                             int32_t keep_layer)
{
    size_t n = ex->n_layers;
    for (size_t l = 0; l < n; l++) {
        cnn_plan_item *it = &items[l];
        it->floats = layer_floats(ex, l);
        it->first = it->last = step_forward(l);
        if (ex->training && ex->need_grad[l] &&
            !(layer_flags(&ex->info[l]) & CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT))
            it->last = step_backward(ex, l);
        if (ex->training) /* readable until backward starts (the loss) */
            it->last = max_u32(it->last, (uint32_t)n);
        if (pinned(ex, l, keep_layer))
            it->last = ex->last_step;
    }
    for (size_t c = 0; c < n; c++)
        for (uint32_t j = 0; j < ex->info[c].n_inputs; j++) {
            int32_t k = ex->info[c].inputs[j];
            if (k < 0)
                continue;
            items[k].last = max_u32(items[k].last, step_forward(c));
            if (ex->training && ex->need_grad[c] &&
                !(layer_flags(&ex->info[c]) & CNN_LAYER_FLAG_IN_PLACE))
                items[k].last = max_u32(items[k].last, step_backward(ex, c));
        }
    /* In place: one item for the chain, living as long as its longest. */
    for (size_t l = 0; l < n; l++) {
        int32_t k = ex->in_place_on[l];
        if (k < 0)
            continue;
        while (ex->in_place_on[k] >= 0)
            k = ex->in_place_on[k];
        items[k].last = max_u32(items[k].last, items[l].last);
        items[l].floats = 0;
    }
}

/* The layer whose gradient item holds l's gradient: an in-place layer's
 * dx is its dy, so up the chain while the layer above runs in place on it
 * (its only reader) and the gradient is wanted. */
static size_t grad_top(const cnn_exec *ex, size_t l)
{
    for (;;) {
        size_t h = l + 1;
        while (h < ex->n_layers && ex->in_place_on[h] != (int32_t)l)
            h++;
        if (h == ex->n_layers || !ex->need_grad[l])
            return l;
        l = h;
    }
}

/* Gradients and fan-out temporaries for a backward from either target
 * (-1: none). A gradient is first written by its highest consumer's
 * backward, or at the loss step for a target; its own backward reads it
 * last. An in-place layer's dx is written over its dy. */
static void plan_gradients(cnn_exec *ex, cnn_plan_item *items,
                           const int32_t target[2])
{
    size_t n = ex->n_layers;
    for (size_t l = 0; l < n; l++) {
        cnn_plan_item *it = &items[n + l];
        it->floats = 0;
        if (!ex->need_grad[l])
            continue;
        it->floats = layer_floats(ex, l);
        it->first = (int32_t)l == target[0] || (int32_t)l == target[1]
                        ? (uint32_t)n
                        : step_backward(ex, 0);
        it->last = step_backward(ex, l);
    }
    for (size_t c = 0; c < n; c++)
        for (uint32_t j = 0; j < ex->info[c].n_inputs; j++) {
            int32_t k = ex->info[c].inputs[j];
            cnn_plan_item *tmp = &items[tmp_item(ex, c, j)];
            tmp->floats = 0;
            if (k < 0 || !ex->need_grad[k] || !ex->need_grad[c])
                continue;
            items[n + k].first = min_u32(items[n + k].first, step_backward(ex, c));
            if (readers_of(ex, (size_t)k) > 1) {
                tmp->floats = layer_floats(ex, (size_t)k);
                tmp->first = tmp->last = step_backward(ex, c);
            }
        }
    for (size_t l = 0; l < n; l++)
        if (items[n + l].floats && items[n + l].first > items[n + l].last)
            items[n + l].floats = 0; /* nothing ever writes it */
    /* An in-place chain's gradients share its top layer's item. */
    for (size_t l = 0; l < n; l++) {
        size_t top = grad_top(ex, l);
        if (top == l || !items[n + l].floats)
            continue;
        items[n + top].first = min_u32(items[n + top].first, items[n + l].first);
        items[n + top].last = max_u32(items[n + top].last, items[n + l].last);
        items[n + l].floats = 0;
    }
}

/* The layer whose activation item holds l's output: the bottom of its
 * in-place chain. */
static size_t act_root(const cnn_exec *ex, size_t l)
{
    while (ex->in_place_on[l] >= 0)
        l = (size_t)ex->in_place_on[l];
    return l;
}

/* Points grad[] and tmp[] into base as items place them. */
static void bind_gradients(cnn_exec *ex, const cnn_plan_item *items, float *base)
{
    size_t n = ex->n_layers;
    for (size_t l = 0; l < n; l++) {
        size_t top = grad_top(ex, l);
        ex->grad[l] = items[n + top].floats ? base + items[n + top].offset : NULL;
    }
    for (size_t l = 0; l < n; l++)
        for (uint32_t j = 0; j < ex->max_inputs; j++) {
            const cnn_plan_item *it = &items[tmp_item(ex, l, j)];
            ex->tmp[l * ex->max_inputs + j] =
                j < ex->info[l].n_inputs && it->floats ? base + it->offset : NULL;
        }
}

/* CNN_EXEC_SEPARATE_BUFFERS=1: every buffer its own memory and nothing in
 * place, as before the plan: for checking that sharing changes no result,
 * and for ruling it out when a plugin misbehaves. */
typedef struct fusion_query {
    const cnn_exec *ex;
    int32_t keep_layer;
} fusion_query;

static int output_replaceable(void *user, size_t k)
{
    const fusion_query *q = user;
    return readers_of(q->ex, k) == 1 && !pinned(q->ex, k, q->keep_layer);
}

/* A folded follower's output is its producer's buffer, as if it had run
 * in place over it. */
static cnn_status plan_fusion(cnn_exec *ex, int32_t keep_layer)
{
    fusion_query q = {ex, keep_layer};
    cnn_status st = cnn_fusion_plan(ex->ctx, &ex->fusion, ex->info,
                                    ex->n_layers, ex->params,
                                    output_replaceable, &q);
    if (st != CNN_OK)
        return st;
    for (size_t l = 0; l < ex->n_layers; l++)
        if (ex->fusion.fused_into[l] >= 0)
            ex->in_place_on[l] = ex->info[l].inputs[0];
    return CNN_OK;
}

static int32_t fused_into(const cnn_exec *ex, size_t l)
{
    return ex->fusion.fused_into ? ex->fusion.fused_into[l] : -1;
}

static int separate_buffers(void)
{
    const char *v = getenv("CNN_EXEC_SEPARATE_BUFFERS");
    return v && strcmp(v, "1") == 0;
}

static cnn_status plan_memory(cnn_exec *ex, int32_t keep_layer)
{
    size_t n = ex->n_layers;
    uint64_t bytes;
    char what[128];
    ex->n_items = 2 * n + n * ex->max_inputs;
    ex->items = calloc(ex->n_items, sizeof *ex->items);
    ex->tmp = calloc(n * ex->max_inputs, sizeof *ex->tmp);
    ex->in_place_on = calloc(n, sizeof *ex->in_place_on);
    if (!ex->items || !ex->tmp || !ex->in_place_on)
        return cnn_fail(ex->ctx, CNN_ERR_NOMEM, "out of memory planning memory");
    ex->last_step = ex->training ? step_backward(ex, 0) : (uint32_t)(n - 1);
    ex->planned_target[0] = ex->planned_target[1] = -1;
    if (ex->training) {
        const cnn_layer_info *out = &ex->info[ex->output_layer];
        ex->planned_target[0] = (int32_t)ex->output_layer;
        if (out->n_inputs == 1)
            ex->planned_target[1] = out->inputs[0];
    }
    plan_in_place(ex, keep_layer);
    if (separate_buffers())
        for (size_t l = 0; l < n; l++)
            ex->in_place_on[l] = -1;
    else if (!ex->training) {
        cnn_status st = plan_fusion(ex, keep_layer);
        if (st != CNN_OK)
            return st;
    }
    plan_activations(ex, ex->items, keep_layer);
    if (ex->training)
        plan_gradients(ex, ex->items, ex->planned_target);
    if (separate_buffers())
        for (size_t i = 0; i < ex->n_items; i++) {
            ex->items[i].first = 0;
            ex->items[i].last = ex->last_step;
        }
    ex->arena_floats = cnn_plan_place(ex->items, ex->n_items);
    if (ex->arena_floats == SIZE_MAX)
        return cnn_fail(ex->ctx, CNN_ERR_NOMEM, "out of memory planning memory");
    bytes = cnn_memory_mul(ex->arena_floats, sizeof(float));
    snprintf(what, sizeof what, "the %s of a batch of %lld",
             ex->training ? "activations and gradients" : "activations",
             (long long)ex->batch);
    if (cnn_memory_check(ex->ctx, bytes, what) != CNN_OK)
        return CNN_ERR_NOMEM;
    ex->arena = alloc_floats(ex->arena_floats);
    if (!ex->arena)
        return cnn_fail(ex->ctx, CNN_ERR_NOMEM,
                        "out of memory allocating %zu bytes for %s",
                        ex->arena_floats * sizeof(float), what);
    ex->bytes += ex->arena_floats * sizeof(float);
    for (size_t l = 0; l < n; l++)
        ex->out[l] = ex->arena + ex->items[act_root(ex, l)].offset;
    if (ex->training)
        bind_gradients(ex, ex->items, ex->arena);
    ex->other_target = -1;
    return CNN_OK;
}

/* Gradients for a backward from a layer the main plan did not expect:
 * planned for that start in an arena of their own. */
static cnn_status bind_other_target(cnn_exec *ex, size_t target)
{
    size_t n = ex->n_layers;
    int32_t targets[2] = {(int32_t)target, -1};
    size_t floats;
    if (ex->other_target == (int64_t)target) {
        bind_gradients(ex, ex->other_items, ex->other_arena);
        return CNN_OK;
    }
    if (!ex->other_items)
        ex->other_items = calloc(ex->n_items, sizeof *ex->other_items);
    if (!ex->other_items)
        return cnn_fail(ex->ctx, CNN_ERR_NOMEM, "out of memory");
    for (size_t l = 0; l < n; l++)
        ex->other_items[l].floats = 0; /* activations stay in the main arena */
    plan_gradients(ex, ex->other_items, targets);
    floats = cnn_plan_place(ex->other_items, ex->n_items);
    if (floats == SIZE_MAX)
        return cnn_fail(ex->ctx, CNN_ERR_NOMEM, "out of memory");
    free(ex->other_arena);
    ex->bytes -= ex->other_floats * sizeof(float);
    ex->other_floats = 0;
    ex->other_target = -1;
    ex->other_arena = alloc_floats(floats);
    if (!ex->other_arena)
        return cnn_fail(ex->ctx, CNN_ERR_NOMEM,
                        "out of memory allocating %zu gradient bytes",
                        floats * sizeof(float));
    ex->other_floats = floats;
    ex->bytes += floats * sizeof(float);
    ex->other_target = (int64_t)target;
    bind_gradients(ex, ex->other_items, ex->other_arena);
    return CNN_OK;
}

/* ---- Image by image through the large early layers (exec_micro.h) ---- */

static int micro_disabled(void)
{
    const char *v = getenv("CNN_EXEC_NO_MICROBATCH");
    return v && strcmp(v, "1") == 0;
}

static cnn_status plan_micro(cnn_exec *ex, const cnn_exec_options *opts)
{
    cnn_exec_options one = *opts;
    int64_t c;
    cnn_status st;

    if (ex->training || ex->batch < 2 || opts->keep_layer < -1 ||
        !ex->params || micro_disabled())
        return CNN_OK;
    c = cnn_micro_cut(ex->info, ex->n_layers, ex->output_layer,
                      ex->sample_floats, ex->batch, ex->params,
                      &ex->fusion, cnn_micro_bytes());
    /* A kept layer before the cut would not be kept. */
    if (c < 0 || (opts->keep_layer >= 0 && opts->keep_layer < c))
        return CNN_OK;
    one.batch = 1;
    /* Kept there, so that no follower is folded into the cut's layer. */
    one.keep_layer = (int32_t)c;
    st = cnn_exec_create(ex->ctx, ex->graph, ex->params, &one, &ex->micro);
    if (st != CNN_OK) { /* an optimisation only: run batched instead */
        ex->micro = NULL;
        return CNN_OK;
    }
    /* The same values under the same token: plugins keep one copy of
     * what they derive from them for both executors. */
    ex->micro->params_token = ex->params_token;
    ex->micro_end = (size_t)c;
    return CNN_OK;
}

static cnn_tensor layer_view(const cnn_exec *ex, size_t l, float *data,
                             int64_t n);

/* Layers [0, micro_end] for each image of input, through ex->micro; the
 * cut's output lands in ex's buffer, image by image. */
static cnn_status micro_forward(cnn_exec *ex, const cnn_tensor *input,
                                uint64_t seed)
{
    cnn_exec *m = ex->micro;
    const int64_t n = input->shape.dims[0];
    const size_t c = ex->micro_end,
                 in_floats = cnn_shape_numel(&input->shape) / (size_t)n;

    if (ex->timing)
        for (size_t l = 0; l <= c; l++)
            ex->fwd_seconds[l] = 0.0;
    for (int64_t i = 0; i < n; i++) {
        cnn_tensor one = *input;
        const cnn_tensor *o;
        cnn_status st;
        one.shape.dims[0] = 1;
        one.data = input->data + (size_t)i * in_floats;
        m->sample_offset = ex->sample_offset + i;
        st = cnn_exec_forward(m, &one, 0, seed, c);
        if (st != CNN_OK)
            return st;
        o = cnn_exec_output(m, c);
        if (!o)
            return cnn_fail(ex->ctx, CNN_ERR_INVALID,
                            "layer '%s': its output was not kept when run "
                            "image by image",
                            ex->info[c].name);
        memcpy(ex->out[c] + (size_t)i * ex->sample_floats[c], o->data,
               ex->sample_floats[c] * sizeof(float));
        if (ex->timing)
            for (size_t l = 0; l <= c; l++)
                ex->fwd_seconds[l] += m->fwd_seconds[l];
    }
    for (size_t l = 0; l <= c; l++)
        ex->views[l] = layer_view(ex, l, ex->out[l], n);
    ex->clock = step_forward(c);
    ex->have_output[c] = 1;
    return CNN_OK;
}

/* A token no other executor of the process had (ABI 1.5), or 0 with
 * CNN_EXEC_NO_PREPACK=1 in the environment: plugins then keep no derived
 * copy of the weights (less memory, slower inference; and a way to tell a
 * plugin's wrong use of the token from other faults). */
static uint64_t next_params_token(void)
{
    const char *off = getenv("CNN_EXEC_NO_PREPACK");
    if (off && strcmp(off, "1") == 0)
        return 0;
    static _Atomic uint64_t last;
    return atomic_fetch_add_explicit(&last, 1, memory_order_relaxed) + 1;
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
    if (opts->constant_params && !ex->training)
        ex->params_token = next_params_token();
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
    st = plan_memory(ex, opts->keep_layer);
    if (st != CNN_OK) {
        cnn_exec_destroy(ex);
        return st;
    }
    ex->env.host = ex;
    ex->env.workspace = exec_workspace;
    ex->env.parallel_for = exec_parallel_for;
    ex->env.threads = cnn_context_threads(ctx);
    st = plan_micro(ex, opts);
    if (st != CNN_OK) {
        cnn_exec_destroy(ex);
        return st;
    }
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
    /* A pass never stops inside a folded chain: the producer's output
     * already holds the followers' result. */
    {
        int32_t p = fused_into(ex, until) >= 0 ? fused_into(ex, until)
                                               : (int32_t)until;
        if (ex->fusion.chain_end && ex->fusion.chain_end[p] >= 0)
            until = (size_t)ex->fusion.chain_end[p];
    }
    memset(ex->have_output, 0, ex->n_layers * sizeof *ex->have_output);
    ex->spent = 0;
    ex->last_n = n;
    ex->last_seed = seed;
    ex->last_training = training;
    ex->input = *input;
    size_t first = 0;
    if (ex->micro && until >= ex->micro_end) {
        cnn_status st = micro_forward(ex, input, seed);
        if (st != CNN_OK)
            return st;
        first = ex->micro_end + 1;
    }
    for (size_t l = first; l <= until; l++) {
        const cnn_layer_info *li = &ex->info[l];
        cnn_forward_args args;
        cnn_tensor *values, *grads;
        cnn_status st;
        double t0 = ex->timing ? now_seconds() : 0.0;

        ex->clock = step_forward(l);
        ex->views[l] = layer_view(ex, l, ex->out[l], n);
        if (fused_into(ex, l) >= 0) { /* computed by the producer */
            ex->have_output[l] = 1;
            ex->have_output[ex->in_place_on[l]] = 0;
            if (ex->timing)
                ex->fwd_seconds[l] = 0.0;
            continue;
        }
        for (uint32_t j = 0; j < li->n_inputs; j++) {
            int32_t k = li->inputs[j];
            ex->in_views[j] = k < 0 ? *input : ex->views[k];
        }
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
        args.params_token = ex->params_token;
        if (ex->fusion.chain_end && ex->fusion.chain_end[l] >= 0) {
            st = cnn_fusion_refresh(ex->ctx, &ex->fusion, ex->info,
                                    ex->params, l);
            if (st != CNN_OK)
                return st;
            args.epilogue = &ex->fusion.epi[l];
        }
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
        /* With an epilogue the buffer holds the followers' output, not
         * this layer's: the last follower's step marks it valid. */
        ex->have_output[l] = args.epilogue == NULL;
        if (ex->in_place_on[l] >= 0)
            ex->have_output[ex->in_place_on[l]] = 0; /* overwritten */
        if (ex->timing)
            ex->fwd_seconds[l] = now_seconds() - t0;
    }
    return CNN_OK;
}

const cnn_tensor *cnn_exec_output(const cnn_exec *ex, size_t layer)
{
    if (layer >= ex->n_layers || !ex->have_output[layer] ||
        ex->items[act_root(ex, layer)].last < ex->clock)
        return NULL; /* never computed, overwritten, or its memory reused */
    return &ex->views[layer];
}

int64_t cnn_exec_per_image_until(const cnn_exec *ex)
{
    return ex->micro ? (int64_t)ex->micro_end : -1;
}

int32_t cnn_exec_in_place_input(const cnn_exec *ex, size_t layer)
{
    return layer < ex->n_layers ? ex->in_place_on[layer] : -1;
}

int32_t cnn_exec_fused_into(const cnn_exec *ex, size_t layer)
{
    return layer < ex->n_layers ? fused_into(ex, layer) : -1;
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

    ex->clock = step_backward(ex, l);
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
            ex->in_grads[j].data = ex->tmp[l * ex->max_inputs + j];
            if (!ex->in_grads[j].data)
                return cnn_fail(ex->ctx, CNN_ERR_INVALID,
                                "layer '%s' (%s): no buffer was planned for "
                                "its input %u's gradient",
                                li->name, li->type, j);
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
    if (ex->spent)
        return cnn_fail(ex->ctx, CNN_ERR_INVALID,
                        "backward twice after one forward: the first reused "
                        "the activations' memory for gradients; run forward "
                        "again");
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
    if ((int32_t)target == ex->planned_target[0] ||
        (int32_t)target == ex->planned_target[1])
        bind_gradients(ex, ex->items, ex->arena);
    else {
        cnn_status st = bind_other_target(ex, target);
        if (st != CNN_OK)
            return st;
    }
    ex->clock = (uint32_t)ex->n_layers; /* the loss step */
    ex->spent = 1;
    if (floats)
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
    /* The batch-1 executor's workspace is mapped at its first pass. */
    return ex->bytes + (ex->micro ? cnn_exec_memory_bytes(ex->micro) : 0);
}

void cnn_exec_set_timing(cnn_exec *ex, int enabled)
{
    if (ex->micro)
        cnn_exec_set_timing(ex->micro, enabled);
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
