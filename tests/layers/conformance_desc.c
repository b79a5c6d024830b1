/* SPDX-License-Identifier: MIT */
/* Descriptor invariants; see conformance_desc.h. */
#include "conformance_desc.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "harness.h"

static int cf_ident(const char *s)
{
    if (!s || !(s[0] >= 'a' && s[0] <= 'z'))
        return 0;
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') ||
              s[n] == '_'))
            return 0;
    return n < CNN_NAME_MAX;
}

static int cf_integral(double v)
{
    return isfinite(v) && v == floor(v);
}

static void cf_check_hparam(const cnn_layer_descriptor *d, uint32_t k,
                            const char *type)
{
    const cnn_hparam_spec *s = &d->hparams[k];
    cr_expect(cf_ident(s->name), "%s: hyperparameter %u has an invalid name",
              type, k);
    if (!s->name)
        return;
    cr_expect_eq(cnn_descriptor_hparam_index(d, s->name), (int)k,
                 "%s: hyperparameter '%s' is not unique", type, s->name);
    cr_expect(s->help && s->help[0] && !strchr(s->help, '\n'),
              "%s.%s: help must be one non-empty line", type, s->name);
    cr_expect(s->required == 0 || s->required == 1, "%s.%s: required is %d",
              type, s->name, (int)s->required);
    switch (s->kind) {
    case CNN_HP_INT:
    case CNN_HP_INT2:
    case CNN_HP_PADDING: /* bounds apply to each number */
        cr_expect(cf_integral(s->min_value) && cf_integral(s->max_value) &&
                      s->min_value <= s->max_value,
                  "%s.%s: integer bounds [%g, %g]", type, s->name,
                  s->min_value, s->max_value);
        if (!s->required)
            cr_expect(cf_integral(s->default_value) &&
                          s->default_value >= s->min_value &&
                          s->default_value <= s->max_value,
                      "%s.%s: default %g outside [%g, %g]", type, s->name,
                      s->default_value, s->min_value, s->max_value);
        break;
    case CNN_HP_FLOAT:
        cr_expect(isfinite(s->min_value) && isfinite(s->max_value) &&
                      s->min_value <= s->max_value,
                  "%s.%s: float bounds [%g, %g]", type, s->name, s->min_value,
                  s->max_value);
        if (!s->required)
            cr_expect(s->default_value >= s->min_value &&
                          s->default_value <= s->max_value,
                      "%s.%s: default %g outside [%g, %g]", type, s->name,
                      s->default_value, s->min_value, s->max_value);
        break;
    case CNN_HP_BOOL:
        cr_expect(s->required || s->default_value == 0.0 ||
                      s->default_value == 1.0,
                  "%s.%s: bool default %g", type, s->name, s->default_value);
        break;
    case CNN_HP_ENUM: {
        cr_expect_not_null(s->choices, "%s.%s: enum without choices", type,
                           s->name);
        if (!s->choices)
            break;
        size_t n = 0;
        for (; s->choices[n] && n < 1024; n++) {
            cr_expect(s->choices[n][0] != '\0', "%s.%s: empty choice", type,
                      s->name);
            for (size_t j = 0; j < n; j++)
                cr_expect(strcmp(s->choices[j], s->choices[n]) != 0,
                          "%s.%s: choice '%s' twice", type, s->name,
                          s->choices[n]);
        }
        cr_expect(n >= 1, "%s.%s: no choices", type, s->name);
        if (!s->required)
            cr_expect(cf_integral(s->default_value) &&
                          s->default_value >= 0 &&
                          s->default_value < (double)n,
                      "%s.%s: default index %g of %zu choices", type,
                      s->name, s->default_value, n);
        break;
    }
    default:
        cr_expect(0, "%s.%s: unknown kind %d", type, s->name, (int)s->kind);
    }
}

/* cnn_hparams_defaults must reproduce the table's defaults. */
static void cf_check_defaults(cnn_context *ctx, const cnn_layer_descriptor *d,
                              const char *type)
{
    cnn_hparam_value v[LH_MAX_HPARAMS];
    cr_assert(d->n_hparams <= LH_MAX_HPARAMS);
    memset(v, 0xff, sizeof v);
    cnn_hparams_defaults(d, v);
    int any_required = 0;
    for (uint32_t k = 0; k < d->n_hparams; k++) {
        const cnn_hparam_spec *s = &d->hparams[k];
        any_required |= s->required != 0;
        if (s->required)
            continue;
        switch (s->kind) {
        case CNN_HP_FLOAT:
            cr_expect(v[k].f == s->default_value, "%s.%s default", type,
                      s->name);
            break;
        case CNN_HP_INT2:
            cr_expect(v[k].i[1] == (int64_t)s->default_value,
                      "%s.%s default [1]", type, s->name);
            /* fall through */
        default:
            cr_expect(v[k].i[0] == (int64_t)s->default_value,
                      "%s.%s default: %lld, table %g", type, s->name,
                      (long long)v[k].i[0], s->default_value);
        }
    }
    cnn_hparam_value w[LH_MAX_HPARAMS];
    cnn_status st = cnn_hparams_from_settings(ctx, d, NULL, 0, w);
    if (any_required) {
        cr_expect_neq(st, CNN_OK,
                      "%s: a required hyperparameter left unset was accepted",
                      type);
        cnn_context_clear_error(ctx);
    } else {
        cr_expect_eq(st, CNN_OK, "%s: defaults rejected: %s", type,
                     cnn_context_message(ctx));
    }
}

void cf_check_descriptor(cnn_context *ctx, const cnn_plugin *plugin,
                         const cnn_layer_descriptor *d, const char *type)
{
    cr_assert_not_null(d, "%s: no descriptor", type);
    uint32_t abi = cnn_plugin_abi_version(plugin);
    cr_expect_eq(CNN_LAYER_ABI_MAJOR_OF(abi), CNN_LAYER_ABI_MAJOR,
                 "%s: ABI major %u", type, CNN_LAYER_ABI_MAJOR_OF(abi));
    cr_expect(CNN_LAYER_ABI_MINOR_OF(abi) <= CNN_LAYER_ABI_MINOR,
              "%s: ABI minor %u newer than the host's", type,
              CNN_LAYER_ABI_MINOR_OF(abi));
    cr_expect(d->struct_size >= CNN_LAYER_DESCRIPTOR_SIZE_1_0,
              "%s: struct_size %u", type, d->struct_size);
    cr_expect(d->type_name && strcmp(d->type_name, type) == 0,
              "%s: type_name is '%s'", type,
              d->type_name ? d->type_name : "(null)");
    cr_expect(cnn_plugin_name_valid(type), "%s: invalid type name", type);
    cr_expect(d->summary && d->summary[0] && !strchr(d->summary, '\n'),
              "%s: summary must be one non-empty line", type);
    cr_expect_not_null(d->infer_shape, "%s: infer_shape is required", type);
    cr_expect_not_null(d->forward, "%s: forward is required", type);
    cr_expect_not_null(d->backward, "%s: backward is required", type);
    cr_expect(!d->create || d->destroy,
              "%s: create given without destroy", type);
    cr_expect(d->min_inputs >= 1 && d->min_inputs <= d->max_inputs &&
                  d->max_inputs <= 256,
              "%s: inputs %u..%u", type, d->min_inputs, d->max_inputs);
    cr_expect_eq(d->flags &
                     ~(CNN_LAYER_FLAG_PROBABILITIES | CNN_LAYER_FLAG_STOCHASTIC |
                       CNN_LAYER_FLAG_IN_PLACE |
                       CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT |
                       CNN_LAYER_FLAG_ACCEPTS_EPILOGUE),
                 0u, "%s: unknown flags 0x%x", type, d->flags);
    cr_expect(!(d->flags & CNN_LAYER_FLAG_IN_PLACE) ||
                  (d->min_inputs == 1 && d->max_inputs == 1),
              "%s: in place with %u..%u inputs", type, d->min_inputs,
              d->max_inputs);
    cr_expect(d->n_hparams == 0 || d->hparams != NULL,
              "%s: %u hyperparameters but no table", type, d->n_hparams);
    cr_expect(d->n_hparams <= LH_MAX_HPARAMS, "%s: %u hyperparameters", type,
              d->n_hparams);
    if (d->n_hparams && d->hparams && d->n_hparams <= LH_MAX_HPARAMS) {
        for (uint32_t k = 0; k < d->n_hparams; k++)
            cf_check_hparam(d, k, type);
        cf_check_defaults(ctx, d, type);
    } else if (d->n_hparams == 0) {
        cnn_hparam_value w[1];
        cr_expect_eq(cnn_hparams_from_settings(ctx, d, NULL, 0, w), CNN_OK,
                     "%s: %s", type, cnn_context_message(ctx));
    }
    if (strcmp(type, "dropout") == 0)
        cr_expect(d->flags & CNN_LAYER_FLAG_STOCHASTIC,
                  "dropout must be flagged stochastic");
    if (strcmp(type, "softmax") == 0)
        cr_expect(d->flags & CNN_LAYER_FLAG_PROBABILITIES,
                  "softmax must be flagged as giving probabilities");
}
