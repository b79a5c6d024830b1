/* SPDX-License-Identifier: MIT */
/* cnnrun check-plugin: validates a layer plugin the way a host will use it.
 *
 *   driver.c      loads the plugin, runs every check, picks the shapes
 *   descriptor.c  descriptor checks; hyperparameter values to test with
 *   shape.c       per input shape: infer_shape, create, params, and the
 *                 hook contract (memory, completeness, determinism)
 *   gradient.c    backward against central finite differences
 *   instance.c    one layer instance and the guarded hook runners
 *   guard.c       guard zones, hostile workspace and parallel_for
 *   report.c      PASS/FAIL lines, summary, JSON
 *   crash.c       a FAIL line when the plugin kills the process */
#ifndef CNNRUN_CHECK_PLUGIN_H
#define CNNRUN_CHECK_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"
#include "cnn/layer.h"
#include "cnn/plugin.h"
#include "instance.h"
#include "report.h"

/* One test case: the input shapes of one call (n == 1 with a multi-input
 * layer means "this shape for every input"). */
typedef struct ck_shape_set {
    uint32_t n;
    cnn_shape shapes[CK_MAX_INPUTS];
} ck_shape_set;

#define CK_MAX_SHAPE_SETS 16

typedef struct ck_options {
    const char *target; /* a path (has '/' or ends in .so) or a type */
    const char *const *settings;
    size_t n_settings;
    ck_shape_set shape_sets[CK_MAX_SHAPE_SETS]; /* --shape; none: defaults */
    size_t n_shape_sets;
    size_t samples; /* finite-difference elements per tensor at most */
    double rtol;    /* relative tolerance of the gradient check */
    uint64_t seed;  /* test data */
} ck_options;

#define CK_DEFAULT_SAMPLES 200
#define CK_DEFAULT_RTOL 1e-2

/* Runs every check into r. *plugin is the loaded plugin or NULL when
 * loading failed (reported as a FAIL). */
void ck_run(cnn_context *ctx, const ck_options *opt, ck_report *r,
            const cnn_plugin **plugin);

/* "2x3x8x8" or "2x3x8x8,2x5x8x8"; 0 on a malformed or oversized shape. */
int ck_parse_shape_set(const char *text, ck_shape_set *out);

/* descriptor.c */
void ck_check_descriptor(ck_report *r, cnn_context *ctx,
                         const cnn_plugin *plugin);
/* Values for the run: defaults, the user's settings, and for required
 * hyperparameters left unset a value derived from the bounds (reported).
 * 0 after a FAIL line when that is impossible. */
int ck_resolve_hparams(ck_report *r, cnn_context *ctx,
                       const cnn_layer_descriptor *d,
                       const char *const *settings, size_t n_settings,
                       cnn_hparam_value *out);

/* shape.c: all checks for one shape set; returns 1 when infer_shape
 * accepted it. first: also report the parameter declarations. */
int ck_check_shape(ck_report *r, const ck_options *opt,
                   const cnn_layer_descriptor *d, const cnn_hparam_value *hp,
                   const cnn_shape *in, uint32_t n_in, int first,
                   uint64_t seed);

/* gradient.c: backward against finite differences on an instance whose
 * forward (training, seed) output is in L->y and whose backward gradients
 * for dy = L->dy are dx_ref and dp_ref. */
/* Reports a FAIL line when the hook call failed or broke the contract and
 * returns 1; 0 when the call was clean (nothing reported). */
int ck_hook_failed(ck_report *r, const char *name, const ck_outcome *o);

/* ABI 1.4's epilogue promises, for a layer that accepts one or describes
 * itself as one (cnn_epilogue): checked by doing what they allow. */
void ck_check_epilogue(ck_report *r, ck_layer *L, uint64_t seed);

/* ABI 1.5's params_token, for any layer with parameters: inference with a
 * token gives the output without one, twice, and follows new values under
 * a new token (params_token.c). */
void ck_check_params_token(ck_report *r, ck_layer *L, uint64_t seed);

void ck_check_gradients(ck_report *r, const ck_options *opt, ck_layer *L,
                        float *const *dx_ref, float *const *dp_ref,
                        const double *spacing_x, const double *spacing_p,
                        uint64_t seed);

/* Test data shared by shape.c and gradient.c. */
typedef struct ck_rng {
    uint64_t s;
} ck_rng;
uint64_t ck_rng_next(ck_rng *r);
double ck_rng_uniform(ck_rng *r); /* [0, 1) */
/* Distinct values in (lo, hi), away from any midpoint such as 0, shuffled;
 * at most 1024 levels, repeated for larger tensors. Returns the spacing of
 * the levels, which bounds the finite-difference step. */
double ck_fill_levels(ck_rng *r, float *x, size_t n, double lo, double hi);

#endif
