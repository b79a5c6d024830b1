/* SPDX-License-Identifier: MIT */
/* One layer instance under test: hyperparameters, input shapes, the state
 * from create, the parameters it declared, and guarded buffers for every
 * tensor. The hook runners call forward or backward the way the executor
 * does and then look for everything a hook must not do: write outside its
 * outputs (guard zones), change a const tensor or the layer's own
 * description, leave an output element unwritten (outputs are NaN-filled
 * first), produce a non-finite value from finite inputs, or break a host
 * rule (workspace guards, nested parallel_for). */
#ifndef CNNRUN_CHECK_PLUGIN_INSTANCE_H
#define CNNRUN_CHECK_PLUGIN_INSTANCE_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/layer.h"
#include "guard.h"

#define CK_MAX_INPUTS 8
#define CK_MAX_PARAMS 16

typedef struct ck_layer {
    const cnn_layer_descriptor *desc;
    const cnn_hparam_value *hp; /* what the hooks see */
    cnn_hparam_value *hp_copy;  /* to prove they left it alone */
    uint32_t n_in;
    cnn_shape in_shapes[CK_MAX_INPUTS];      /* handed to the hooks */
    cnn_shape in_shapes_copy[CK_MAX_INPUTS]; /* to prove the same */
    cnn_shape out_shape;
    cnn_layer layer;
    int created;
    uint32_t n_params;
    cnn_param_spec specs[CK_MAX_PARAMS];
    ck_buf x[CK_MAX_INPUTS], dx[CK_MAX_INPUTS];
    ck_buf p[CK_MAX_PARAMS], dp[CK_MAX_PARAMS];
    ck_buf y, dy;
    ck_host host;
    char label[128]; /* the input shapes, "3x3x7x6" */
    const cnn_epilogue *epilogue; /* handed to forward; NULL by default */
    uint64_t params_token;        /* handed to inference forward (ABI 1.5) */
} ck_layer;

/* What one hook call did. */
typedef struct ck_outcome {
    cnn_status status;
    char error[512]; /* the plugin's own message when status != CNN_OK */
    int faults;      /* contract violations found after the call */
    char fault[1024];
} ck_outcome;

/* "1x3x7x6", all dims. */
void ck_shape_text(const cnn_shape *s, char *buf, size_t size);

/* Instantiates the layer: create, then params (checking the count
 * protocol and every spec), then allocates zeroed buffers. out_shape is
 * infer_shape's answer. On failure returns 0 with the reason in why (the
 * layer is then closed). */
int ck_layer_open(ck_layer *L, const cnn_layer_descriptor *desc,
                  const cnn_hparam_value *hp, const cnn_shape *in_shapes,
                  uint32_t n_in, const cnn_shape *out_shape, char *why,
                  size_t why_size);
void ck_layer_close(ck_layer *L);

/* forward on L->x and L->p into out, whose size must match out_shape.
 * in_shapes overrides L->in_shapes (for another batch) when not NULL.
 * With full checks the output is NaN-filled first and every element must be
 * written and finite, and read-only tensors are compared with snapshots;
 * without them only the guard zones and host rules are checked (the finite
 * difference loop calls forward hundreds of times). */
void ck_forward(ck_layer *L, ck_buf *out, const cnn_shape *in_shapes,
                const cnn_shape *out_shape, int training, uint64_t seed,
                int full_checks, ck_outcome *o);

/* backward from L->dy, with L->y as the saved output, into L->dx and L->dp.
 * want_dx[i] == 0 passes a NULL data pointer for input i (not wanted; NULL
 * for all wanted); want_dp == 0 passes param_grads == NULL (frozen). */
void ck_backward(ck_layer *L, const int *want_dx, int want_dp, uint64_t seed,
                 ck_outcome *o);

#endif
