/* SPDX-License-Identifier: MIT */
/* Per-type expected results for the conformance suite: the double-precision
 * reference (reference.c) applied to a harness layer's buffers, with the
 * error scale and relative tolerance each compared tensor gets.
 *
 * A plugin value g passes against reference r when
 *     |g - r| <= rtol * mag
 * where mag is the op's rounding-error scale: for sums, sum |terms| (the
 * reference evaluated on absolute values), so rtol = gamma_n, the forward
 * error bound of float32 summation of n terms in any order; for
 * transcendental elementwise ops, |r| with a rtol of a few ulps, amplified
 * by the op's condition number on the test's input range; for copies and
 * selections (relu, maxpool forward, flatten, concat, channel_shuffle,
 * slice), rtol = 0: exact. */
#ifndef CNN_TEST_LAYERS_CONFORMANCE_OPS_H
#define CNN_TEST_LAYERS_CONFORMANCE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"

typedef struct cf_expect {
    size_t n;
    double *ref;
    double *mag;
    double rtol;
} cf_expect;

typedef struct cf_expected {
    cnn_shape out_shape;
    cf_expect y;
    cf_expect dx[LH_MAX_INPUTS];
    cf_expect dp[LH_MAX_PARAMS];
    /* Expected parameter shapes, in declaration order. */
    uint32_t n_params;
    char param_names[LH_MAX_PARAMS][CNN_NAME_MAX];
    cnn_shape param_shapes[LH_MAX_PARAMS];
    /* flops the descriptor should report (0: no expectation). */
    uint64_t flops;
    /* Parameters after one forward (n == 0: no expectation): the running
     * statistics (CNN_PARAM_STATE) a training forward updates. */
    cf_expect p_after[LH_MAX_PARAMS];
    /* The output of sample 0 alone, for a layer whose output depends on
     * the whole batch (batch norm in training); n == 0: the first sample
     * of y. batch1_skip: a batch of 1 is not computable (one value per
     * channel). */
    cf_expect y_batch1;
    int batch1_skip;
} cf_expected;

/* 1 when cf_expected_* knows the type. */
int cf_type_known(const char *type);

/* Shapes and parameter declarations expected from L's hyperparameters and
 * input shapes (needs nothing computed). */
void cf_expected_shapes(const lh_layer *L, cf_expected *E);
/* Forward reference from L->x and L->p; backward reference from those and
 * L->dy. training and seed matter to dropout only. */
void cf_expected_compute(const lh_layer *L, int training, uint64_t seed,
                         cf_expected *E);
void cf_expected_free(cf_expected *E);

/* gamma_n with a factor 2 margin: 2 (n + 1) u, u = 2^-24. */
double cf_gamma(double n_terms);

#endif
