/* SPDX-License-Identifier: MIT */
/* The conformance suite's table of per-type configurations: layer type,
 * hyperparameters as "key=value" strings (parsed by the real
 * cnn_hparams_from_settings), input shapes and how to draw the inputs. */
#ifndef CNN_TEST_LAYERS_CONFORMANCE_CONFIGS_H
#define CNN_TEST_LAYERS_CONFORMANCE_CONFIGS_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"

enum cf_data {
    CF_UNIFORM,   /* inputs U(-2, 2) */
    CF_AWAY_ZERO, /* U(-2, 2) with |x| >= 0.05 (relu) */
    CF_DISTINCT,  /* all distinct, 0.05 apart (maxpool) */
    CF_TANH,      /* U(-2, 2) */
    CF_SIGMOID,   /* U(-3, 3) */
    CF_SILU,      /* U(-8, 8): both tails and the minima of silu (at
                     -1.28) and gelu (at -0.75) */
    CF_SHIFTED,   /* U(-4, 4) + 100 (n mod 3 - 1) per sample: exp(104)
                     overflows and exp(-104) underflows float32, so softmax
                     must shift by the maximum */
    CF_KINKS,     /* U(-8, 8), at least 0.05 from -3, -2.5, -1, 0, 1.5,
                     2.5, 3 and 6: the kinks of relu6, hardswish,
                     hardsigmoid (alpha 1/6 or 0.2) and of clip with min -1,
                     max 1.5 */
    CF_OFFSET     /* U(-2, 2) + 300: a mean far larger than the spread,
                     which a one-pass float variance would cancel away
                     (layernorm) */
};

typedef struct cf_config {
    const char *type;
    const char *label;
    const char *settings[6];
    uint32_t n_in;
    int64_t shapes[LH_MAX_INPUTS][4];
    int32_t rank;
    enum cf_data data;
    int training;
} cf_config;

extern const cf_config cf_configs[];
extern const size_t cf_n_configs;

#endif
