/* SPDX-License-Identifier: MIT */
/* The executor: runs a graph's forward and backward passes for a batch size,
 * owning activations, their gradients and the shared workspace.
 *
 * Inference (training == 0 at create) reuses activation buffers once no
 * later layer reads them; training keeps what backward needs, and a
 * gradient takes the place of activations backward has finished with. */
#ifndef CNN_EXEC_H
#define CNN_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"
#include "cnn/graph.h"
#include "cnn/params.h"
#include "cnn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnn_exec cnn_exec;

/* Zero-initialise it ({0} or memset) before setting fields: a field added
 * in a later version then reads 0, its old behaviour. */
typedef struct cnn_exec_options {
    int64_t batch;   /* largest batch the executor will run */
    int training;    /* 1: keep activations and allocate gradients */
    /* Keep this layer's output readable after forward even in inference
     * mode (for --until and features); -1 for none; CNN_EXEC_KEEP_ALL for
     * every layer, each in its own memory and none overwritten in place
     * (diagnostics: which layer first went non-finite). */
    int32_t keep_layer;
    /* 1: the caller promises not to change the parameters' values while
     * this executor lives (inference on loaded weights). Plugins may then
     * keep repacked copies of them (plugin ABI 1.5, params_token), which
     * costs memory and saves time at every pass. Ignored when training. */
    int constant_params;
} cnn_exec_options;

#define CNN_EXEC_KEEP_ALL (-2)

/* graph and params must outlive the executor. */
cnn_status cnn_exec_create(cnn_context *ctx, const cnn_graph *graph,
                           cnn_params *params, const cnn_exec_options *opts,
                           cnn_exec **out);
void cnn_exec_destroy(cnn_exec *exec);

/* Runs layers 0..until (inclusive; pass cnn_graph_output_layer for all) on
 * input of shape {n, C, H, W}, n <= batch. training selects dropout and the
 * like (frozen layers run as in inference even then: batch norm uses and
 * keeps its running statistics); seed feeds the stochastic layers. */
cnn_status cnn_exec_forward(cnn_exec *exec, const cnn_tensor *input,
                            int training, uint64_t seed, size_t until);

/* The output of a layer from the last forward pass (borrowed), or NULL.
 * Valid for the output layer and keep_layer (every layer with
 * CNN_EXEC_KEEP_ALL); in a training executor also
 * for every other layer until backward starts, except a layer whose only
 * reader ran in place over it (CNN_LAYER_FLAG_IN_PLACE: a convolution
 * followed by relu shows relu's output, so this returns NULL for it).
 * Backward reuses activation memory for gradients as it goes. */
const cnn_tensor *cnn_exec_output(const cnn_exec *exec, size_t layer);

/* The last layer that forward runs image by image, or -1. An inference
 * executor of batch > 1 runs its early layers, whose outputs over the
 * batch would not fit the last-level cache (over 8 MiB, or
 * CNN_EXEC_MICROBATCH_BYTES), one image at a time through a batch-1
 * executor, up to a layer after which only that layer's output is read;
 * the rest of the graph runs batched. The outputs are those of batch-1
 * passes. Not with keep_layer before that layer, nor CNN_EXEC_KEEP_ALL;
 * CNN_EXEC_NO_MICROBATCH=1 when the executor is made turns it off. */
int64_t cnn_exec_per_image_until(const cnn_exec *exec);

/* The input layer whose output `layer` overwrote by running in place
 * (CNN_LAYER_FLAG_IN_PLACE), or -1. */
int32_t cnn_exec_in_place_input(const cnn_exec *exec, size_t layer);

/* The layer whose forward computed `layer`'s output at inference by
 * applying it as an epilogue (plugin ABI 1.4: batch norm, relu and the
 * like folded into the convolution below), or -1. Such a layer's own
 * forward does not run (its time is 0) and its input shows its output, as
 * with in-place layers. */
int32_t cnn_exec_fused_into(const cnn_exec *exec, size_t layer);

/* Backpropagates output_grad (dL/d output of the graph's output layer, or of
 * from_layer when it is not the output), filling parameter gradients of the
 * trainable layers. With skip_from set, the layer from_layer's own backward
 * is skipped and output_grad is taken as dL/d(its input) (fused softmax and
 * cross-entropy). Layers below the lowest trainable one are not visited.
 * Once per forward: backward reuses the memory of the activations it has
 * finished with, so a second call needs a new forward first (refused
 * otherwise). */
cnn_status cnn_exec_backward(cnn_exec *exec, const cnn_tensor *output_grad,
                             size_t from_layer, int skip_from);

/* Called by cnn_exec_backward after each layer's backward, with the layer
 * index; from then on that layer's parameter gradients are final for this
 * pass (backward visits layers in decreasing index order, so every layer
 * above it is done too). A host can start using them while the layers below
 * are still running, e.g. to reduce gradients across processes. A status
 * other than CNN_OK stops backward and is returned from it (the hook sets
 * the context's message). NULL removes the hook. */
typedef cnn_status (*cnn_exec_layer_hook)(void *user, size_t layer);
void cnn_exec_set_backward_hook(cnn_exec *exec, cnn_exec_layer_hook hook,
                                void *user);

/* Declares that the next forward passes get samples [offset, offset + n) of
 * a larger batch (0 by default). Stochastic layers then draw what they would
 * for those samples in a pass over the whole batch: the executor moves each
 * layer's seed by offset x (output elements per sample) steps of
 * cnn_uniform_hash's index (see cnn/layer.h), so a batch split across
 * processes keeps the dropout masks of the unsplit batch. */
void cnn_exec_set_sample_offset(cnn_exec *exec, int64_t offset);

/* Lets layers whose training statistics span the batch (batch norm with
 * synchronised statistics) see the whole batch when it is split across
 * processes: fn sums n doubles over every process and leaves the totals in
 * values on all of them (a blocking collective; see
 * cnn_layer_env.allreduce_sum in cnn/layer.h). It reaches the layers as
 * env->allreduce_sum. NULL (the default) removes it: each pass's
 * statistics are those of its own samples. A failing fn sets the
 * context's message and returns its status, which the pass returns. */
typedef cnn_status (*cnn_exec_allreduce_fn)(void *user, double *values,
                                            size_t n);
void cnn_exec_set_allreduce(cnn_exec *exec, cnn_exec_allreduce_fn fn,
                            void *user);

/* Peak bytes held in activations, gradients and workspace. */
size_t cnn_exec_memory_bytes(const cnn_exec *exec);

/* Per-layer time of the last forward and backward (seconds), when
 * cnn_exec_set_timing(exec, 1) was called before them. */
void cnn_exec_set_timing(cnn_exec *exec, int enabled);
double cnn_exec_forward_seconds(const cnn_exec *exec, size_t layer);
double cnn_exec_backward_seconds(const cnn_exec *exec, size_t layer);

#ifdef __cplusplus
}
#endif
#endif
