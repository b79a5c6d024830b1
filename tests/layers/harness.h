/* SPDX-License-Identifier: MIT */
/* A minimal host for driving one layer plugin from a test: loads the plugin
 * through the real registry, validates hyperparameters through the real
 * parser, instantiates the layer (infer_shape, create, params) and runs its
 * hooks on buffers the harness owns.
 *
 * The harness is deliberately suspicious of the plugin:
 *   - every output, gradient and workspace buffer is followed by canary
 *     bytes that are checked after each hook (overruns);
 *   - outputs and gradients are filled with NaN before a hook, so an element
 *     the hook forgot to write shows up as NaN (the ABI says "overwrite");
 *   - inputs, parameters, the saved output and dy are checked unchanged
 *     after each hook (they are const in the ABI; CNN_PARAM_STATE
 *     parameters may change in a training-mode forward);
 *   - env->workspace hands out fresh NaN-filled memory and frees the
 *     previous buffer, so reliance on zeroed or persistent scratch shows;
 *   - env->parallel_for runs the chunks in reverse order, so a plugin that
 *     assumes chunk order or a single chunk gets caught. */
#ifndef CNN_TEST_LAYERS_HARNESS_H
#define CNN_TEST_LAYERS_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"
#include "cnn/layer.h"
#include "cnn/plugin.h"
#include "cnn/tensor.h"

#define LH_MAX_INPUTS 4
#define LH_MAX_PARAMS 8
#define LH_MAX_HPARAMS 32
#define LH_MAX_SETTINGS 16

/* A float buffer of n elements. Buffers a plugin writes are followed by
 * canary bytes; buffers it only reads are allocated to the exact size, so
 * that valgrind and ASan see any read past their end. */
typedef struct lh_buf {
    float *data;
    size_t n;
    int canary;
} lh_buf;

/* With canary bytes after the data (for outputs). */
void lh_buf_alloc(lh_buf *b, size_t n);
/* Exactly n floats (for inputs). */
void lh_buf_alloc_exact(lh_buf *b, size_t n);
void lh_buf_free(lh_buf *b);
void lh_buf_fill(lh_buf *b, float v);
/* 1 when the canary after the data is intact. */
int lh_buf_canary_ok(const lh_buf *b);

/* The host side of cnn_layer_env. */
typedef struct lh_host {
    unsigned char *ws_block; /* aligned block: data then canary */
    size_t ws_floats;
    size_t ws_calls;     /* workspace requests during the current hook */
    int ws_canary_bad;   /* a previous workspace's canary was overwritten */
    size_t pf_calls;     /* parallel_for calls during the current hook */
    int pf_bad_nesting;  /* parallel_for called from inside parallel_for */
    int pf_depth;
    /* Workspace pressure: requests above ws_limit floats (when non-zero)
     * get NULL, as when memory is short. */
    size_t ws_limit;
    size_t ws_max_request;  /* largest request of the current hook */
    size_t last_ws_max;     /* ... of the last finished hook */
    cnn_layer_env env;
} lh_host;

void lh_host_init(lh_host *h);
void lh_host_free(lh_host *h);
/* Checks and releases the current workspace; 0 if its canary was hit. */
int lh_host_end_hook(lh_host *h);

/* One instantiated layer with its buffers. */
typedef struct lh_layer {
    cnn_context *ctx;
    const cnn_plugin *plugin;
    const cnn_layer_descriptor *desc;
    char type[CNN_NAME_MAX];
    cnn_hparam_value hp[LH_MAX_HPARAMS];
    cnn_shape in_shapes[LH_MAX_INPUTS];
    uint32_t n_in;
    cnn_shape out_shape;
    cnn_layer layer;
    int created;
    cnn_param_spec specs[LH_MAX_PARAMS];
    uint32_t n_params;
    /* Buffers, allocated by lh_layer_open for the shapes given. */
    lh_buf x[LH_MAX_INPUTS];
    lh_buf p[LH_MAX_PARAMS];
    lh_buf y;
    lh_buf dy;
    lh_buf dx[LH_MAX_INPUTS];
    lh_buf dp[LH_MAX_PARAMS];
    lh_host host;
    /* When set, a hook failing with CNN_ERR_NOMEM is not an assertion
     * failure: lh_forward / lh_backward return with last_status set. */
    int allow_nomem;
    cnn_status last_status;
    char err[512];
} lh_layer;

/* A context that searches only the build tree's plugins. */
cnn_context *lh_context(void);

/* Loads type, parses settings ("key=value") with cnn_hparams_from_settings,
 * runs infer_shape, create and params, and allocates zeroed buffers.
 * Asserts (Criterion) on any failure, naming the step and the message. */
void lh_layer_open(lh_layer *L, cnn_context *ctx, const char *type,
                   const char *const *settings, size_t n_settings,
                   const cnn_shape *in_shapes, uint32_t n_in);
void lh_layer_close(lh_layer *L);

/* Index of the named hyperparameter in L's descriptor (asserts found). */
int lh_hp_index(const lh_layer *L, const char *name);
const cnn_hparam_value *lh_hp(const lh_layer *L, const char *name);

/* Runs forward on L->x, L->p into L->y with all the checks above; asserts
 * success. The batch is L->in_shapes[i].dims[0] unless batch >= 0, in which
 * case the first `batch` samples of each input are used (the layer was
 * created with the original batch: the ABI lets the batch vary later). */
void lh_forward(lh_layer *L, int training, uint64_t seed);
void lh_forward_batch(lh_layer *L, int training, uint64_t seed,
                      int64_t batch, float *out);

/* Runs backward from L->dy into L->dx and L->dp. want_dx[i] == 0 passes a
 * NULL data pointer for input i ("not wanted"); want_dp == 0 passes
 * param_grads == NULL (frozen). want_dx may be NULL for "all". */
void lh_backward(lh_layer *L, const int *want_dx, int want_dp, int training,
                 uint64_t seed);

/* L = sum(r * y) in double for the current L->y. */
double lh_linear_functional(const lh_layer *L, const float *r);

/* Deterministic pseudo-random numbers for test data. */
typedef struct lh_rng {
    uint64_t s;
} lh_rng;
double lh_rng_uniform(lh_rng *r);          /* [0, 1) */
double lh_rng_normal(lh_rng *r);           /* N(0, 1) */
void lh_fill_uniform(lh_rng *r, float *x, size_t n, double lo, double hi);
/* Uniform in [lo, hi] with |x| >= gap (away from a kink at 0). */
void lh_fill_away_from_zero(lh_rng *r, float *x, size_t n, double lo,
                            double hi, double gap);
/* All distinct values spaced by `spacing`, randomly permuted (no ties). */
void lh_fill_distinct(lh_rng *r, float *x, size_t n, double spacing);

#endif
