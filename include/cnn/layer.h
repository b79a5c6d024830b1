/* SPDX-License-Identifier: MIT */
/* The cnnrun layer plugin ABI: all a plugin author needs.
 *
 * A plugin is a shared object exporting exactly one symbol,
 * cnn_layer_plugin_entry (use CNN_LAYER_PLUGIN below), which returns a pointer
 * to a static const cnn_layer_descriptor. The host checks abi_version and
 * struct_size before it reads anything else, then validates the graph file's
 * hyperparameters against the descriptor's table before any plugin code runs.
 *
 * Lifecycle, per layer of a graph:
 *   infer_shape (pure; may run many times, for any batch size)
 *   create      (optional; private state from hyperparameters and input shapes)
 *   params      (optional; declares the parameter tensors the host allocates)
 *   forward / backward, any number of times
 *   epilogue    (optional, ABI 1.4; inference only: see cnn_epilogue)
 *   destroy     (optional; frees what create made)
 *
 * Ownership: the host owns every activation, gradient, parameter and workspace
 * buffer, and the cnn_layer struct. A plugin owns only layer->state. Tensors
 * passed to a hook are valid only for the duration of that call.
 *
 * Threading: hooks of one layer are never called concurrently. A plugin must
 * not start threads of its own; for parallel loops it uses env->parallel_for,
 * and BLAS calls run with the process's single BLAS thread setting (one
 * thread: the host's pool owns the env->threads threads, see parallel_for).
 *
 * Versioning: the major version changes when a field's meaning or position
 * changes; the minor version changes when fields are appended at the end.
 * The host refuses another major, a newer minor, or a struct shorter than its
 * declared minor requires. See docs/plugin-abi.md. */
#ifndef CNN_LAYER_H
#define CNN_LAYER_H

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cnn/status.h"
#include "cnn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CNN_LAYER_ABI_MAJOR 1u
#define CNN_LAYER_ABI_MINOR 5u
#define CNN_LAYER_ABI_MAKE(major, minor) (((major) << 16) | (minor))
#define CNN_LAYER_ABI_VERSION                                                  \
    CNN_LAYER_ABI_MAKE(CNN_LAYER_ABI_MAJOR, CNN_LAYER_ABI_MINOR)
#define CNN_LAYER_ABI_MAJOR_OF(v) ((uint32_t)(v) >> 16)
#define CNN_LAYER_ABI_MINOR_OF(v) ((uint32_t)(v)&0xffffu)

/* The one symbol a plugin exports. Never derived from the file name. */
#define CNN_LAYER_ENTRY_SYMBOL "cnn_layer_plugin_entry"

/* Room for a layer type name, hyperparameter name or parameter name. */
#define CNN_NAME_MAX 65 /* 64 characters and the NUL */

/* ---- Error reporting ---------------------------------------------------- */

/* A message buffer owned by the host. A hook that fails writes one line
 * (no trailing newline) and returns a non-CNN_OK status. */
typedef struct cnn_errbuf {
    char *msg;
    size_t size;
} cnn_errbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline cnn_status
cnn_layer_fail(cnn_errbuf *err, cnn_status status, const char *fmt, ...)
{
    if (err && err->msg && err->size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, err->size, fmt, ap);
        va_end(ap);
    }
    return status;
}

/* ---- Hyperparameters: declared as data ---------------------------------- */

typedef enum cnn_hparam_kind {
    CNN_HP_INT = 1,   /* YAML integer */
    CNN_HP_FLOAT = 2, /* YAML number */
    CNN_HP_BOOL = 3,  /* YAML true/false */
    CNN_HP_ENUM = 4,  /* YAML string, one of choices */
    CNN_HP_INT2 = 5,  /* YAML integer n (meaning [n, n]) or [h, w] */
    /* ABI 1.2. Zero padding of a 2-D window: an integer n (n on every
     * side), [h, w] (h above and below, w left and right),
     * [top, left, bottom, right] (ONNX's pads, reordered), or one of the
     * strings "valid" (no padding), "same" (output = ceil(input / stride),
     * any odd padding at the bottom and right: ONNX's SAME_UPPER, Keras's
     * and TensorFlow's "same") or "same_lower" (ONNX's SAME_LOWER). Bounds
     * apply to each number. Read it with cnn_hparam_padding() and resolve
     * the "same" forms with cnn_padding_resolve(). */
    CNN_HP_PADDING = 6
} cnn_hparam_kind;

typedef struct cnn_hparam_spec {
    const char *name; /* [a-z][a-z0-9_]*, unique within the descriptor */
    cnn_hparam_kind kind;
    const char *help;     /* one line for `cnnrun plugins --describe` */
    int32_t required;     /* 1: the graph must set it; default ignored */
    double default_value; /* INT, INT2 (both), FLOAT, BOOL (0/1); ENUM: index */
    double min_value;     /* inclusive bounds for INT, INT2 and FLOAT */
    double max_value;
    const char *const *choices; /* ENUM only: NULL-terminated list */
} cnn_hparam_spec;

/* A validated value, one per spec, in the descriptor's order. */
typedef struct cnn_hparam_value {
    int64_t i[2]; /* INT: i[0]; INT2: {h, w}; BOOL: 0 or 1; ENUM: index;
                     PADDING: two 32-bit halves each, see cnn_hparam_padding */
    double f;     /* FLOAT; PADDING: its cnn_pad_mode */
} cnn_hparam_value;

/* How a PADDING hyperparameter was written. */
typedef enum cnn_pad_mode {
    CNN_PAD_EXPLICIT = 0,   /* numbers (or "valid": all zero) */
    CNN_PAD_SAME_UPPER = 1, /* "same": odd padding at the bottom/right */
    CNN_PAD_SAME_LOWER = 2  /* "same_lower": odd padding at the top/left */
} cnn_pad_mode;

/* A PADDING value, unpacked. top/left/bottom/right are zero for the "same"
 * forms until cnn_padding_resolve() fills them for a given input. */
typedef struct cnn_padding {
    int64_t top, left, bottom, right;
    cnn_pad_mode mode;
} cnn_padding;

/* The PADDING value's layout inside cnn_hparam_value (the value struct
 * cannot grow without breaking ABI 1): i[0] holds top in its low 32 bits
 * and bottom in its high 32 bits, i[1] left and right, f the mode. */
static inline cnn_hparam_value cnn_padding_pack(int64_t top, int64_t left,
                                                int64_t bottom, int64_t right,
                                                cnn_pad_mode mode)
{
    cnn_hparam_value v;
    v.i[0] = (int64_t)(((uint64_t)(uint32_t)bottom << 32) | (uint32_t)top);
    v.i[1] = (int64_t)(((uint64_t)(uint32_t)right << 32) | (uint32_t)left);
    v.f = (double)mode;
    return v;
}

static inline cnn_padding cnn_hparam_padding(const cnn_hparam_value *v)
{
    cnn_padding p;
    p.top = (int64_t)(uint32_t)((uint64_t)v->i[0] & 0xffffffffu);
    p.bottom = (int64_t)(uint32_t)((uint64_t)v->i[0] >> 32);
    p.left = (int64_t)(uint32_t)((uint64_t)v->i[1] & 0xffffffffu);
    p.right = (int64_t)(uint32_t)((uint64_t)v->i[1] >> 32);
    p.mode = v->f == 1.0   ? CNN_PAD_SAME_UPPER
             : v->f == 2.0 ? CNN_PAD_SAME_LOWER
                           : CNN_PAD_EXPLICIT;
    return p;
}

/* ---- Parameters: declared by the plugin, owned by the host -------------- */

typedef enum cnn_init_rule {
    CNN_INIT_ZEROS = 0,
    CNN_INIT_ONES = 1,
    CNN_INIT_HE_NORMAL = 2,      /* N(0, 2 / fan_in) */
    CNN_INIT_HE_UNIFORM = 3,     /* U(-a, a), a = sqrt(6 / fan_in) */
    CNN_INIT_GLOROT_UNIFORM = 4, /* U(-a, a), a = sqrt(6 / (fan_in + fan_out)) */
    CNN_INIT_GLOROT_NORMAL = 5,  /* N(0, 2 / (fan_in + fan_out)) */
    CNN_INIT_FAN_IN_UNIFORM = 6, /* U(-a, a), a = 1 / sqrt(fan_in): PyTorch's
                                    default for conv and linear layers */
    CNN_INIT_CONSTANT = 7        /* ABI 1.2: every element init_value
                                    (PReLU's 0.25) */
} cnn_init_rule;

/* Parameter flags. */
#define CNN_PARAM_NO_DECAY 0x1u /* exempt from weight decay (biases, norms) */
/* A running statistic, not a trained weight (batch normalisation's
 * running_mean and running_var): no gradient, no optimiser state, no weight
 * decay; forward in training mode may update it in place
 * (args->params[i].data is writable for such params only, and only while
 * args->training is 1); saved, loaded and checkpointed with the weights.
 * backward writes zeros for its gradient. A new value within ABI 1.1 (no
 * layout change). Set CNN_PARAM_NO_DECAY with it: a 1.1 host that predates
 * the flag then sees a weight whose gradient is always zero, which no SGD
 * or Adam step moves. */
#define CNN_PARAM_STATE 0x2u

typedef struct cnn_param_spec {
    char name[CNN_NAME_MAX]; /* "weight", "bias"; saved as "<layer>.<name>" */
    cnn_shape shape;         /* PyTorch's layout for the same layer */
    cnn_init_rule init;
    int64_t fan_in;
    int64_t fan_out;
    uint32_t flags;
    /* ABI 1.2: the value of CNN_INIT_CONSTANT. It occupies what was the
     * struct's tail padding, so the size and every offset are those of 1.1;
     * the host zeroes the specs before the params hook fills them, and reads
     * init_value only for CNN_INIT_CONSTANT, which no 1.1 plugin uses. */
    float init_value;
} cnn_param_spec;

/* ---- Host services available during forward and backward ---------------- */

typedef void (*cnn_range_fn)(void *arg, size_t begin, size_t end);

typedef struct cnn_layer_env {
    void *host; /* opaque; pass back to the callbacks */
    /* Scratch memory of at least n_floats floats, 64-byte aligned, valid
     * until the hook returns. A second call invalidates the first buffer, so
     * ask once for the total. NULL when memory is exhausted. */
    float *(*workspace)(void *host, size_t n_floats);
    /* Calls fn over disjoint sub-ranges covering [0, n), possibly from
     * several threads, and returns when all are done. fn must not call
     * parallel_for or BLAS with more than one thread. When n <= threads,
     * every call of fn receives exactly one index (end == begin + 1), so
     * `begin` can number a per-thread slot of the workspace; the ranges
     * never depend on scheduling, so neither do results. BLAS called from
     * fn runs single-threaded on fn's thread: to use every thread on one
     * large product, split it into one block per index. */
    void (*parallel_for)(void *host, size_t n, cnn_range_fn fn, void *arg);
    int32_t threads; /* the process's thread budget */
    /* ABI 1.3. Sums n doubles element-wise over every process that trains
     * one model together (data parallelism: each holds a part of the
     * batch) and leaves the totals in values, the same on every process.
     * NULL when the pass sees the whole batch (one process, or no
     * statistics to share): a layer then uses its own sums. A layer whose
     * training-mode statistics span the batch (synchronised batch norm)
     * calls it with the same n at the same point of every forward and
     * backward, on every process, even with an empty part of the batch:
     * it is a collective, and a process that skipped it would stall the
     * others. It blocks; a status other than CNN_OK (the host has set its
     * own message) is returned from the hook. Hosts older than 1.3 do not
     * have the field, but they also refuse a 1.3 plugin. */
    cnn_status (*allreduce_sum)(void *host, double *values, size_t n);
} cnn_layer_env;

/* ---- One layer instance, as the host hands it to every hook ------------- */

typedef struct cnn_layer {
    const char *name;                /* the graph's layer name */
    const cnn_hparam_value *hparams; /* validated; descriptor order */
    const cnn_shape *input_shapes;   /* shapes at create time (batch may vary
                                        later; other dims never do) */
    uint32_t n_inputs;
    void *state; /* the plugin's own: set by create, freed by destroy */
} cnn_layer;

/* ---- Epilogues: inference-time fusion (ABI 1.4) ------------------------- */

/* A per-channel affine map and a clamp, applied element by element to a
 * tensor whose channels are dims[1]:
 *
 *   y = x * scale[c] + shift[c];  y = y < lo ? lo : y;  y = y > hi ? hi : y;
 *
 * in exactly this order (a NaN passes through, as relu's x < 0 ? 0 : x).
 * Inference-mode batch norm is the affine part, relu (lo 0), relu6 (0, 6)
 * and clip the clamp, identity and inference-mode dropout neither.
 *
 * At inference the host may hand a layer that declares
 * CNN_LAYER_FLAG_ACCEPTS_EPILOGUE the epilogue of the layers that follow
 * it (args->epilogue): forward then writes the epilogue of what it would
 * have computed, while its output is still in cache, and the host skips
 * the followers' forward. A follower describes itself with the descriptor's
 * epilogue hook. scale and shift are the host's arrays of `channels`
 * floats; the host fills them with 1 and 0, and lo and hi with -INFINITY
 * and INFINITY, before it calls the hook. */
typedef struct cnn_epilogue {
    int64_t channels;
    float *scale; /* [channels]; read-only in forward */
    float *shift; /* [channels]; read-only in forward */
    float lo, hi;
    /* Set by a hook that wrote scale or shift (the host also looks at the
     * arrays): the host composes an affine follower only with what comes
     * before any clamp. In the map a producer gets, 0 means scale 1 and
     * shift 0 everywhere, which it may skip. */
    int32_t affine;
} cnn_epilogue;

/* The map that changes nothing: scale 1, shift 0, no clamp; what the host
 * hands a follower's epilogue hook to describe itself into. */
static inline void cnn_epilogue_identity(cnn_epilogue *ep)
{
    for (int64_t c = 0; c < ep->channels; c++) {
        ep->scale[c] = 1.0f;
        ep->shift[c] = 0.0f;
    }
    ep->lo = -HUGE_VALF;
    ep->hi = HUGE_VALF;
    ep->affine = 0;
}

/* Applies ep to n consecutive elements of channel c, in place. */
static inline void cnn_epilogue_apply(const cnn_epilogue *ep, int64_t c,
                                      float *y, size_t n)
{
    const float s = ep->scale[c], t = ep->shift[c], lo = ep->lo, hi = ep->hi;
    if (!ep->affine) { /* x * 1 + 0 would turn -0.0 into +0.0 */
        for (size_t i = 0; i < n; i++) {
            float v = y[i] < lo ? lo : y[i];
            y[i] = v > hi ? hi : v;
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float v = y[i] * s + t;
        v = v < lo ? lo : v;
        y[i] = v > hi ? hi : v;
    }
}

typedef struct cnn_forward_args {
    const cnn_tensor *inputs;
    uint32_t n_inputs;
    /* In the order the params hook declared; read-only, except that a
     * training-mode forward may update CNN_PARAM_STATE ones in place. */
    const cnn_tensor *params;
    uint32_t n_params;
    cnn_tensor *output; /* shaped by infer_shape; write every element */
    /* 1 while training: dropout and friends act. 0 for inference and for
     * frozen layers (param_grads NULL in backward), which run as in
     * inference: batch norm uses its running statistics. */
    int32_t training;
    uint64_t seed;      /* per layer and step; backward gets the same one */
    const cnn_layer_env *env;
    /* ABI 1.4. NULL, or (inference only, to a layer declaring
     * CNN_LAYER_FLAG_ACCEPTS_EPILOGUE) the epilogue to apply to every
     * output element before it is stored: see cnn_epilogue. */
    const cnn_epilogue *epilogue;
    /* ABI 1.5. 0, or a token for the parameter values: every call with the
     * same nonzero token passes the same params, holding the same values
     * (the executor's caller promised not to change them while it lives).
     * A plugin may keep data derived from them, such as repacked weights,
     * and reuse it while the token and the data pointers stay the same.
     * The host gives one token to one set of parameter values only: two
     * executors share it only when they run the same graph on the same
     * parameters (cnnrun's batch-1 executor for the first layers of a
     * batch, core/exec_micro.h). */
    uint64_t params_token;
} cnn_forward_args;

typedef struct cnn_backward_args {
    const cnn_tensor *inputs; /* the forward pass's inputs */
    uint32_t n_inputs;
    const cnn_tensor *output;      /* the forward pass's output */
    const cnn_tensor *output_grad; /* dL/d(output) */
    /* dL/d(input i), n_inputs entries. Overwrite, do not accumulate. An
     * entry whose data is NULL is not wanted: skip that product. */
    cnn_tensor *input_grads;
    const cnn_tensor *params;
    uint32_t n_params;
    /* dL/d(param i), overwritten; NULL when the layer is frozen. */
    cnn_tensor *param_grads;
    int32_t training; /* forward's value: 0 for a frozen layer */
    uint64_t seed;
    const cnn_layer_env *env;
} cnn_backward_args;

/* Descriptor flags. */
/* The output along dim 1 is a probability distribution (softmax). A trainer
 * may fuse it with cross-entropy and use the gradient p - onehot directly. */
#define CNN_LAYER_FLAG_PROBABILITIES 0x1u
/* Forward in training mode depends on args->seed (dropout). */
#define CNN_LAYER_FLAG_STOCHASTIC 0x2u
/* ABI 1.3: memory planning hints (a host reads them only from plugins that
 * declare 1.3 or later; both are promises about the plugin's own code).
 *
 * IN_PLACE: one input with as many elements as the output; forward computes
 * output element i from input element i alone and backward computes input
 * gradient element i from element i of output_grad (and of output, the
 * seed, the hyperparameters) alone, never reading inputs[0].data. The host
 * may then pass output->data == inputs[0].data in forward (when nothing
 * else reads that input) and input_grads[0].data == output_grad->data in
 * backward; the plugin must give the right result when they are equal (no
 * restrict-qualified pointer over both). relu, sigmoid and tanh (their
 * gradients come from y), dropout (from the seed). Not leaky relu (its
 * gradient needs x) nor batch norm (needs x, or its normalised copy).
 *
 * BACKWARD_IGNORES_OUTPUT: backward never reads output->data (convolution,
 * dense, pooling: they need their inputs). An IN_PLACE layer may then
 * overwrite this layer's output while its gradient is still to come. */
#define CNN_LAYER_FLAG_IN_PLACE 0x4u
#define CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT 0x8u
/* ABI 1.4: forward honours args->epilogue (cnn_epilogue), for an output
 * with channels in dims[1]. */
#define CNN_LAYER_FLAG_ACCEPTS_EPILOGUE 0x10u

/* ---- The descriptor ----------------------------------------------------- */

typedef struct cnn_layer_descriptor {
    /* ABI 1.0 */
    uint32_t abi_version; /* CNN_LAYER_ABI_VERSION */
    uint32_t struct_size; /* sizeof(cnn_layer_descriptor) */
    const char *type_name; /* [a-z][a-z0-9_]{0,63}, the name graphs use */
    const char *summary;   /* one line */
    const cnn_hparam_spec *hparams;
    uint32_t n_hparams;
    uint32_t min_inputs; /* usually 1 */
    uint32_t max_inputs; /* usually 1 */
    uint32_t flags;      /* CNN_LAYER_FLAG_* */

    /* Required. Pure: output shape from hyperparameters and input shapes
     * (all with the batch in dims[0]). Rejects impossible inputs, such as a
     * kernel larger than its padded input, naming the values. */
    cnn_status (*infer_shape)(const cnn_hparam_value *hparams,
                              const cnn_shape *inputs, uint32_t n_inputs,
                              cnn_shape *output, cnn_errbuf *err);
    /* Optional. Sets layer->state. */
    cnn_status (*create)(cnn_layer *layer, cnn_errbuf *err);
    /* Optional (NULL: no parameters). Fills up to capacity specs and sets
     * *count to the number the layer has; the host calls again with more
     * room when *count > capacity. */
    cnn_status (*params)(const cnn_layer *layer, cnn_param_spec *specs,
                         uint32_t capacity, uint32_t *count, cnn_errbuf *err);
    /* Required. */
    cnn_status (*forward)(const cnn_layer *layer, const cnn_forward_args *args,
                          cnn_errbuf *err);
    /* Required. */
    cnn_status (*backward)(const cnn_layer *layer,
                           const cnn_backward_args *args, cnn_errbuf *err);
    /* Optional; required when create is given. */
    void (*destroy)(cnn_layer *layer);

    /* ABI 1.1 */
    /* Optional. Multiply-adds times two for one forward pass of the given
     * shapes, for summaries and benchmarks. */
    uint64_t (*flops)(const cnn_hparam_value *hparams, const cnn_shape *inputs,
                      uint32_t n_inputs, const cnn_shape *output);

    /* ABI 1.4 */
    /* Optional. For a layer with one input and an output of the input's
     * shape: when its inference-mode forward (training 0) is, given these
     * parameters, exactly the epilogue map (cnn_epilogue), describes it in
     * *ep (see there for what the host has filled in) and returns CNN_OK;
     * otherwise returns another status and leaves *ep alone. The host then
     * may skip this layer's forward at inference and have the layer below
     * apply the map. Called again whenever the parameters may have
     * changed, so it must be cheap (O(channels)). Whether it returns
     * CNN_OK, whether the map has an affine part, and lo and hi may depend
     * on the hyperparameters and shapes only, never on parameter values:
     * the host plans the chains once (cnnrun check-plugin checks it). */
    cnn_status (*epilogue)(const cnn_layer *layer, const cnn_tensor *params,
                           uint32_t n_params, cnn_epilogue *ep,
                           cnn_errbuf *err);
} cnn_layer_descriptor;

/* Bytes a descriptor of the given minor version must at least span. */
#define CNN_LAYER_DESCRIPTOR_SIZE_1_0                                          \
    offsetof(cnn_layer_descriptor, flops)
#define CNN_LAYER_DESCRIPTOR_SIZE_1_1                                          \
    offsetof(cnn_layer_descriptor, epilogue)
/* 1.2 added a hyperparameter kind, an init rule and cnn_param_spec's
 * init_value (in former padding): the descriptor did not grow. */
#define CNN_LAYER_DESCRIPTOR_SIZE_1_2                                          \
    offsetof(cnn_layer_descriptor, epilogue)
/* 1.3 added two flags (CNN_LAYER_FLAG_IN_PLACE, _BACKWARD_IGNORES_OUTPUT)
 * and appended cnn_layer_env.allreduce_sum (the host's struct, read by the
 * plugin): the descriptor did not grow. */
#define CNN_LAYER_DESCRIPTOR_SIZE_1_3                                          \
    offsetof(cnn_layer_descriptor, epilogue)
/* 1.4 appended the epilogue hook, cnn_forward_args.epilogue and the flag
 * CNN_LAYER_FLAG_ACCEPTS_EPILOGUE. */
#define CNN_LAYER_DESCRIPTOR_SIZE_1_4 sizeof(cnn_layer_descriptor)
/* 1.5 appended cnn_forward_args.params_token; the descriptor is 1.4's. */
#define CNN_LAYER_DESCRIPTOR_SIZE_1_5 sizeof(cnn_layer_descriptor)

typedef const cnn_layer_descriptor *(*cnn_layer_entry_fn)(void);

#if defined(_WIN32)
#define CNN_LAYER_EXPORT __declspec(dllexport)
#elif defined(__GNUC__)
#define CNN_LAYER_EXPORT __attribute__((visibility("default")))
#else
#define CNN_LAYER_EXPORT
#endif

/* Defines the entry symbol. Use once per plugin:
 *   static const cnn_layer_descriptor relu_descriptor = { ... };
 *   CNN_LAYER_PLUGIN(relu_descriptor)                                     */
#define CNN_LAYER_PLUGIN(descriptor)                                           \
    CNN_LAYER_EXPORT const cnn_layer_descriptor *cnn_layer_plugin_entry(void); \
    CNN_LAYER_EXPORT const cnn_layer_descriptor *cnn_layer_plugin_entry(void)  \
    {                                                                          \
        return &(descriptor);                                                  \
    }

/* ---- Helpers for plugin code -------------------------------------------- */

/* Deterministic uniform number in [0, 1) from a seed and an element index:
 * stateless, so backward can recompute forward's random choices. A
 * stochastic layer should draw element i of its output (flat index, batch
 * included) as cnn_uniform_hash(args->seed, i): a host that splits a batch
 * across processes then passes seed + 0x9e3779b97f4a7c15 * (first element)
 * so each part draws exactly what the whole batch would
 * (cnn_exec_set_sample_offset). */
static inline float cnn_uniform_hash(uint64_t seed, uint64_t index)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ull * (index + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

/* Output size of a window with its own padding at each end, dilation
 * (taps d apart: effective size d (k - 1) + 1) and PyTorch's ceil_mode
 * (a last, partial window counts if it starts inside the input or the
 * leading padding). -1 when the window does not fit the padded input. */
static inline int64_t cnn_window_out_ex(int64_t in, int64_t k, int64_t stride,
                                        int64_t pad_begin, int64_t pad_end,
                                        int64_t dilation, int ceil_mode)
{
    int64_t span, out;
    if (stride < 1 || k < 1 || dilation < 1 || pad_begin < 0 || pad_end < 0)
        return -1;
    span = in + pad_begin + pad_end - (dilation * (k - 1) + 1);
    if (span < 0)
        return -1;
    out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad_begin)
        out--;
    return out;
}

/* Fills p's sides for the "same" modes (ONNX's auto_pad): the output is
 * ceil(in / stride) and the total padding (out - 1) stride + effective
 * kernel - in, never negative, is split evenly with the odd one at the end
 * (SAME_UPPER) or the start (SAME_LOWER). Explicit padding is unchanged.
 * eff_k = dilation (k - 1) + 1 per axis. */
static inline void cnn_padding_resolve(cnn_padding *p, int64_t in_h,
                                       int64_t in_w, int64_t eff_kh,
                                       int64_t eff_kw, int64_t stride_h,
                                       int64_t stride_w)
{
    int64_t in[2] = {in_h, in_w}, k[2] = {eff_kh, eff_kw};
    int64_t s[2] = {stride_h, stride_w}, lo[2], hi[2];
    if (p->mode == CNN_PAD_EXPLICIT)
        return;
    for (int a = 0; a < 2; a++) {
        int64_t st = s[a] < 1 ? 1 : s[a];
        int64_t out = (in[a] + st - 1) / st;
        int64_t total = (out - 1) * st + k[a] - in[a];
        if (total < 0)
            total = 0;
        lo[a] = p->mode == CNN_PAD_SAME_UPPER ? total / 2 : total - total / 2;
        hi[a] = total - lo[a];
    }
    p->top = lo[0];
    p->left = lo[1];
    p->bottom = hi[0];
    p->right = hi[1];
}

/* Output size of a strided window: floor((in + 2 pad - k) / stride) + 1, or
 * -1 when the window does not fit the padded input. */
static inline int64_t cnn_window_out(int64_t in, int64_t k, int64_t stride,
                                     int64_t pad)
{
    if (stride < 1 || k < 1 || in + 2 * pad < k)
        return -1;
    return (in + 2 * pad - k) / stride + 1;
}

#ifdef __cplusplus
}
#endif
#endif
