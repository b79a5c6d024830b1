/* SPDX-License-Identifier: MIT */
/* check-plugin's driver: load the plugin, check its descriptor, choose
 * hyperparameters and shapes, and run the per-shape checks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_plugin.h"
#include "crash.h"

/* Default cases: batch 1 and 3, one and several channels, odd and
 * non-square images, one with more channels than a typical window. */
static const int64_t default_shapes[][4] = {
    {1, 1, 5, 7},
    {3, 3, 7, 6},
    {2, 8, 4, 5},
};
#define N_DEFAULT_SHAPES (sizeof default_shapes / sizeof default_shapes[0])

int ck_parse_shape_set(const char *text, ck_shape_set *out)
{
    const char *p = text;
    memset(out, 0, sizeof *out);
    for (;;) {
        cnn_shape *s;
        int ok;
        if (out->n == CK_MAX_INPUTS)
            return 0;
        s = &out->shapes[out->n++];
        for (;;) {
            char *end;
            long long v;
            if (s->rank == CNN_MAX_RANK || *p < '0' || *p > '9')
                return 0;
            errno = 0;
            v = strtoll(p, &end, 10);
            if (errno || v < 1 || v > ((long long)1 << 31))
                return 0;
            s->dims[s->rank++] = (int64_t)v;
            p = end;
            if (*p != 'x')
                break;
            p++;
        }
        (void)cnn_shape_numel_checked(s, &ok);
        if (!ok || cnn_shape_numel(s) > ((size_t)1 << 28))
            return 0;
        if (*p == '\0')
            return 1;
        if (*p != ',')
            return 0;
        p++;
    }
}

/* A path has a slash or ends in .so; anything else is a type name. */
static int is_path(const char *target)
{
    size_t n = strlen(target);
    return strchr(target, '/') || (n > 3 && strcmp(target + n - 3, ".so") == 0);
}

static cnn_status load(cnn_context *ctx, const char *target,
                       const cnn_plugin **plugin)
{
    if (is_path(target))
        return cnn_plugin_open_file(ctx, target, NULL, plugin);
    return cnn_plugin_get(ctx, target, plugin);
}

/* How many inputs to test with: two when the layer can take several (so
 * that multi-input gradients are exercised), else its minimum. */
static uint32_t input_count(const cnn_layer_descriptor *d)
{
    uint32_t n = d->min_inputs;
    if (n < 2 && d->max_inputs >= 2)
        n = 2;
    if (n < 1)
        n = 1;
    return n;
}

static void method_note(ck_report *r, const ck_options *opt)
{
    ck_report_note(
        r,
        "\nGradients: L = sum(r * y) with random r, in double; each checked "
        "element of\nan input or parameter is moved by +-h in float32 (h = "
        "2^-8 of its scale, below\nthe spacing of the test values) and the "
        "central difference is compared with\nbackward. An element passes "
        "when |backward - numeric| <= %.0e * max(|backward|,\n|numeric|, "
        "1e-3 * largest gradient of the tensor) + a bound on the rounding\n"
        "noise of the quotient (16 ulps of the outputs that moved, over 2h). "
        "At most\n%zu elements per tensor are sampled.\n",
        opt->rtol, opt->samples);
}

void ck_run(cnn_context *ctx, const ck_options *opt, ck_report *r,
            const cnn_plugin **plugin_out)
{
    const cnn_plugin *plugin = NULL;
    const cnn_layer_descriptor *d;
    cnn_hparam_value *hp = NULL;
    uint32_t n_in;
    size_t accepted = 0, n_cases;
    char abi[32];

    *plugin_out = NULL;
    ck_crash_stage("loading %s", opt->target);
    if (load(ctx, opt->target, &plugin) != CNN_OK) {
        ck_report_add(r, CK_FAIL, "load", "%s", cnn_context_message(ctx));
        cnn_context_clear_error(ctx);
        return;
    }
    *plugin_out = plugin;
    d = cnn_plugin_descriptor(plugin);
    snprintf(abi, sizeof abi, "%u.%u",
             CNN_LAYER_ABI_MAJOR_OF(cnn_plugin_abi_version(plugin)),
             CNN_LAYER_ABI_MINOR_OF(cnn_plugin_abi_version(plugin)));
    ck_report_note(r, "check-plugin %s: type %s from %s (ABI %s)\n\n",
                   opt->target, d->type_name, cnn_plugin_path(plugin), abi);
    ck_report_add(r, CK_PASS, "load",
                  "dlopen, entry symbol, version, size and descriptor "
                  "accepted by the registry");
    ck_check_descriptor(r, ctx, plugin);

    hp = calloc(d->n_hparams ? d->n_hparams : 1, sizeof *hp);
    if (!hp) {
        ck_report_add(r, CK_FAIL, "hyperparameters", "out of memory");
        return;
    }
    if (!ck_resolve_hparams(r, ctx, d, opt->settings, opt->n_settings, hp)) {
        free(hp);
        return;
    }

    n_in = input_count(d);
    n_cases = opt->n_shape_sets ? opt->n_shape_sets : N_DEFAULT_SHAPES;
    for (size_t c = 0; c < n_cases; c++) {
        cnn_shape in[CK_MAX_INPUTS];
        uint32_t n = n_in;
        if (opt->n_shape_sets) {
            const ck_shape_set *set = &opt->shape_sets[c];
            if (set->n > 1)
                n = set->n;
            for (uint32_t i = 0; i < n; i++)
                in[i] = set->shapes[set->n > 1 ? i : 0];
        } else {
            for (uint32_t i = 0; i < n; i++)
                in[i] = cnn_shape4(default_shapes[c][0], default_shapes[c][1],
                                   default_shapes[c][2], default_shapes[c][3]);
        }
        if (n < d->min_inputs || n > d->max_inputs) {
            ck_report_add(r, CK_FAIL, "shapes",
                          "--shape gave %u inputs; the layer takes %u..%u", n,
                          d->min_inputs, d->max_inputs);
            continue;
        }
        accepted += (size_t)ck_check_shape(r, opt, d, hp, in, n, accepted == 0,
                                           opt->seed + 0x1000 * (c + 1));
    }
    if (!accepted)
        ck_report_add(r, CK_FAIL, "shapes",
                      "infer_shape accepted none of the %zu input shapes%s, so "
                      "nothing ran; give shapes the layer accepts with --shape "
                      "NxCxHxW",
                      n_cases, opt->n_shape_sets ? "" : " tried by default");
    else
        method_note(r, opt);
    free(hp);
}
