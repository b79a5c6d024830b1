/* SPDX-License-Identifier: MIT */
/* Hyperparameter values: defaults, parsing from text (YAML scalars or
 * key=value settings) against a descriptor's table, and formatting. The
 * table itself was validated when the plugin was loaded, so bounds and
 * choices here are trusted. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/plugin.h"
#include "context_internal.h"

/* Largest setting "[h, w]" split into; more is an error for every kind. */
#define MAX_ITEMS 8

/* double to int64 only where the conversion is defined. */
static int64_t to_int64(double v)
{
    if (!(v > -9.2e18 && v < 9.2e18))
        return 0;
    return (int64_t)v;
}

void cnn_hparam_default(const cnn_hparam_spec *s, cnn_hparam_value *v)
{
    if (!s || !v)
        return;
    memset(v, 0, sizeof *v);
    if (s->required)
        return;
    switch (s->kind) {
    case CNN_HP_FLOAT:
        v->f = s->default_value;
        break;
    case CNN_HP_BOOL:
        v->i[0] = s->default_value != 0.0;
        break;
    case CNN_HP_INT2:
        v->i[1] = to_int64(s->default_value);
        v->i[0] = v->i[1];
        break;
    case CNN_HP_PADDING: {
        int64_t d = to_int64(s->default_value);
        *v = cnn_padding_pack(d, d, d, d, CNN_PAD_EXPLICIT);
        break;
    }
    case CNN_HP_INT:
    case CNN_HP_ENUM:
    default:
        v->i[0] = to_int64(s->default_value);
        break;
    }
}

void cnn_hparams_defaults(const cnn_layer_descriptor *desc,
                          cnn_hparam_value *out)
{
    if (!desc || !out)
        return;
    for (uint32_t i = 0; i < desc->n_hparams; i++)
        cnn_hparam_default(&desc->hparams[i], &out[i]);
}

/* Bounds in messages: integers without a fraction, others as %g. */
static void format_bound(double v, char *buf, size_t size)
{
    if (isfinite(v) && v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, size, "%.0f", v);
    else
        snprintf(buf, size, "%g", v);
}

static cnn_status check_bounds(cnn_context *ctx, const cnn_hparam_spec *spec,
                               const char *text, double v)
{
    char bound[32];
    if (v < spec->min_value) {
        format_bound(spec->min_value, bound, sizeof bound);
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: %s is below the minimum %s", spec->name, text,
                        bound);
    }
    if (v > spec->max_value) {
        format_bound(spec->max_value, bound, sizeof bound);
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: %s is above the maximum %s", spec->name, text,
                        bound);
    }
    return CNN_OK;
}

static cnn_status parse_int(cnn_context *ctx, const cnn_hparam_spec *spec,
                            const char *text, int64_t *out)
{
    char *end = NULL;
    long long v;
    /* strtoll would skip leading blanks; a value is exactly an integer. */
    if (!text[0] || isspace((unsigned char)text[0]))
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s: \"%s\" is not an integer",
                        spec->name, text);
    errno = 0;
    v = strtoll(text, &end, 10);
    if (end == text || *end != '\0')
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s: \"%s\" is not an integer",
                        spec->name, text);
    if (errno == ERANGE)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: %s is out of range for a 64-bit integer",
                        spec->name, text);
    *out = (int64_t)v;
    return check_bounds(ctx, spec, text, (double)v);
}

static cnn_status parse_float(cnn_context *ctx, const cnn_hparam_spec *spec,
                              const char *text, double *out)
{
    char *end = NULL;
    double v;
    if (!text[0] || isspace((unsigned char)text[0]))
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s: \"%s\" is not a number",
                        spec->name, text);
    v = strtod(text, &end);
    if (end == text || *end != '\0')
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s: \"%s\" is not a number",
                        spec->name, text);
    if (!isfinite(v))
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: \"%s\" is not a finite number", spec->name, text);
    *out = v;
    return check_bounds(ctx, spec, text, v);
}

static cnn_status parse_bool(cnn_context *ctx, const cnn_hparam_spec *spec,
                             const char *text, int64_t *out)
{
    /* The YAML 1.2 core schema spellings, nothing looser ("yes", "1"). */
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(text, yes[i]) == 0) {
            *out = 1;
            return CNN_OK;
        }
        if (strcmp(text, no[i]) == 0) {
            *out = 0;
            return CNN_OK;
        }
    }
    return cnn_fail(ctx, CNN_ERR_INVALID,
                    "%s: \"%s\" is not a boolean (expected true or false)",
                    spec->name, text);
}

static cnn_status parse_enum(cnn_context *ctx, const cnn_hparam_spec *spec,
                             const char *text, int64_t *out)
{
    char list[CNN_MESSAGE_MAX / 2];
    size_t used = 0;
    for (int64_t i = 0; spec->choices && spec->choices[i]; i++)
        if (strcmp(text, spec->choices[i]) == 0) {
            *out = i;
            return CNN_OK;
        }
    list[0] = '\0';
    for (size_t i = 0; spec->choices && spec->choices[i]; i++) {
        int n = snprintf(list + used, sizeof list - used, "%s%s",
                         i ? ", " : "", spec->choices[i]);
        if (n < 0 || (size_t)n >= sizeof list - used)
            break;
        used += (size_t)n;
    }
    return cnn_fail(ctx, CNN_ERR_INVALID,
                    "%s: \"%s\" is not one of the choices: %s", spec->name,
                    text, list);
}

/* n, [h, w], [top, left, bottom, right], "valid", "same" or "same_lower".
 * The sides are packed into 32 bits each: bounds above 2^31 are refused. */
static cnn_status parse_padding(cnn_context *ctx, const cnn_hparam_spec *spec,
                                const char *const *items, size_t n_items,
                                cnn_hparam_value *out)
{
    int64_t v[4] = {0, 0, 0, 0};
    if (n_items == 1 && !isdigit((unsigned char)items[0][0]) &&
        items[0][0] != '-' && items[0][0] != '+') {
        static const char *const modes[] = {"valid", "same", "same_lower"};
        for (int m = 0; m < 3; m++)
            if (strcmp(items[0], modes[m]) == 0) {
                *out = cnn_padding_pack(0, 0, 0, 0, (cnn_pad_mode)m);
                return CNN_OK;
            }
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: \"%s\" is not a padding (expected n, [h, w], "
                        "[top, left, bottom, right], valid, same or "
                        "same_lower)",
                        spec->name, items[0]);
    }
    if (n_items != 1 && n_items != 2 && n_items != 4)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: expected n, [h, w] or [top, left, bottom, right], "
                        "got %zu values",
                        spec->name, n_items);
    for (size_t k = 0; k < n_items; k++) {
        cnn_status st = parse_int(ctx, spec, items[k], &v[k]);
        if (st != CNN_OK)
            return st;
        if (v[k] < 0 || v[k] > INT32_MAX)
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "%s: %s is out of range for a padding",
                            spec->name, items[k]);
    }
    if (n_items == 1)
        *out = cnn_padding_pack(v[0], v[0], v[0], v[0], CNN_PAD_EXPLICIT);
    else if (n_items == 2)
        *out = cnn_padding_pack(v[0], v[1], v[0], v[1], CNN_PAD_EXPLICIT);
    else
        *out = cnn_padding_pack(v[0], v[1], v[2], v[3], CNN_PAD_EXPLICIT);
    return CNN_OK;
}

cnn_status cnn_hparam_parse(cnn_context *ctx, const cnn_hparam_spec *spec,
                            const char *const *items, size_t n_items,
                            cnn_hparam_value *out)
{
    if (!spec || !out || (n_items && !items))
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "cnn_hparam_parse: NULL argument");
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n_items; i++)
        if (!items[i])
            return cnn_fail(ctx, CNN_ERR_INVALID, "%s: missing value",
                            spec->name);
    if (spec->kind == CNN_HP_INT2) {
        cnn_status st;
        if (n_items != 1 && n_items != 2)
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "%s: expected an integer or a list [h, w] of two "
                            "integers, got %zu values",
                            spec->name, n_items);
        st = parse_int(ctx, spec, items[0], &out->i[0]);
        if (st != CNN_OK)
            return st;
        if (n_items == 1) {
            out->i[1] = out->i[0];
            return CNN_OK;
        }
        return parse_int(ctx, spec, items[1], &out->i[1]);
    }
    if (spec->kind == CNN_HP_PADDING)
        return parse_padding(ctx, spec, items, n_items, out);
    if (n_items != 1)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: expected a single value, got %zu", spec->name,
                        n_items);
    switch (spec->kind) {
    case CNN_HP_INT:
        return parse_int(ctx, spec, items[0], &out->i[0]);
    case CNN_HP_FLOAT:
        return parse_float(ctx, spec, items[0], &out->f);
    case CNN_HP_BOOL:
        return parse_bool(ctx, spec, items[0], &out->i[0]);
    case CNN_HP_ENUM:
        return parse_enum(ctx, spec, items[0], &out->i[0]);
    case CNN_HP_INT2:
    default:
        break;
    }
    return cnn_fail(ctx, CNN_ERR_INVALID, "%s: unknown kind %d", spec->name,
                    (int)spec->kind);
}

/* Trims blanks at both ends of [*begin, *end) in place. */
static void trim(char **begin, char **end)
{
    while (*begin < *end && (**begin == ' ' || **begin == '\t'))
        (*begin)++;
    while (*end > *begin && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
        (*end)--;
}

static cnn_status unknown_key(cnn_context *ctx,
                              const cnn_layer_descriptor *desc,
                              const char *key)
{
    char list[CNN_MESSAGE_MAX / 2];
    size_t used = 0;
    const char *type = desc->type_name ? desc->type_name : "layer";
    if (desc->n_hparams == 0)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s has no hyperparameter \"%s\" (it takes none)",
                        type, key);
    list[0] = '\0';
    for (uint32_t i = 0; i < desc->n_hparams; i++) {
        int n = snprintf(list + used, sizeof list - used, "%s%s",
                         i ? ", " : "", desc->hparams[i].name);
        if (n < 0 || (size_t)n >= sizeof list - used)
            break;
        used += (size_t)n;
    }
    return cnn_fail(ctx, CNN_ERR_INVALID,
                    "%s has no hyperparameter \"%s\"; valid ones: %s", type,
                    key, list);
}

/* Parses one "key=value" into out[index of key], marking it set. text is a
 * private copy that may be modified. */
static cnn_status apply_setting(cnn_context *ctx,
                                const cnn_layer_descriptor *desc, char *text,
                                unsigned char *set, cnn_hparam_value *out)
{
    char *eq = strchr(text, '=');
    char *kb = text, *ke, *vb, *ve;
    const char *items[MAX_ITEMS];
    size_t n_items = 0;
    int index;
    if (!eq)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "setting \"%s\" is not key=value", text);
    ke = eq;
    vb = eq + 1;
    ve = vb + strlen(vb);
    trim(&kb, &ke);
    trim(&vb, &ve);
    *ke = '\0';
    *ve = '\0';
    index = cnn_descriptor_hparam_index(desc, kb);
    if (index < 0)
        return unknown_key(ctx, desc, kb);
    if (set[index])
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s is set twice", kb);
    set[index] = 1;
    if (vb < ve && *vb == '[') {
        if (ve[-1] != ']' || ve - vb < 2)
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "%s: \"%s\" has no closing ]", kb, vb);
        ve[-1] = '\0';
        ve--;
        vb++;
        for (;;) {
            char *comma = strchr(vb, ',');
            char *ib = vb, *ie = comma ? comma : ve;
            trim(&ib, &ie);
            *ie = '\0';
            if (n_items == MAX_ITEMS)
                return cnn_fail(ctx, CNN_ERR_INVALID,
                                "%s: too many values in the list", kb);
            if (ib == ie)
                return cnn_fail(ctx, CNN_ERR_INVALID,
                                "%s: empty entry in the list", kb);
            items[n_items++] = ib;
            if (!comma)
                break;
            vb = comma + 1;
        }
    } else {
        items[n_items++] = vb;
    }
    return cnn_hparam_parse(ctx, &desc->hparams[index], items, n_items,
                            &out[index]);
}

cnn_status cnn_hparams_from_settings(cnn_context *ctx,
                                     const cnn_layer_descriptor *desc,
                                     const char *const *settings, size_t n,
                                     cnn_hparam_value *out)
{
    unsigned char *set;
    char missing[CNN_MESSAGE_MAX / 2];
    size_t used = 0;
    cnn_status st = CNN_OK;
    if (!desc || (desc->n_hparams && !out) || (n && !settings))
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "cnn_hparams_from_settings: NULL argument");
    cnn_hparams_defaults(desc, out);
    set = calloc(desc->n_hparams ? desc->n_hparams : 1, 1);
    if (!set)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == CNN_OK && i < n; i++) {
        char *copy = settings[i] ? strdup(settings[i]) : NULL;
        if (!copy) {
            st = settings[i] ? cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory")
                             : cnn_fail(ctx, CNN_ERR_INVALID,
                                        "setting %zu is NULL", i);
            break;
        }
        st = apply_setting(ctx, desc, copy, set, out);
        free(copy);
    }
    missing[0] = '\0';
    for (uint32_t i = 0; st == CNN_OK && i < desc->n_hparams; i++) {
        int w;
        if (!desc->hparams[i].required || set[i])
            continue;
        w = snprintf(missing + used, sizeof missing - used, "%s%s",
                     used ? ", " : "", desc->hparams[i].name);
        if (w > 0 && (size_t)w < sizeof missing - used)
            used += (size_t)w;
    }
    free(set);
    if (st == CNN_OK && used)
        st = cnn_fail(ctx, CNN_ERR_INVALID,
                      "%s: required hyperparameters not set: %s",
                      desc->type_name ? desc->type_name : "layer", missing);
    return st;
}

/* Shortest text that reads back as the same double. */
static void format_double(double v, char *buf, size_t size)
{
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v)
        snprintf(tmp, sizeof tmp, "%.17g", v);
    snprintf(buf, size, "%s", tmp);
}

void cnn_hparam_format(const cnn_hparam_spec *spec,
                       const cnn_hparam_value *value, char *buf, size_t size)
{
    if (!buf || !size)
        return;
    if (!spec || !value) {
        snprintf(buf, size, "?");
        return;
    }
    switch (spec->kind) {
    case CNN_HP_INT:
        snprintf(buf, size, "%lld", (long long)value->i[0]);
        return;
    case CNN_HP_INT2:
        if (value->i[0] == value->i[1])
            snprintf(buf, size, "%lld", (long long)value->i[0]);
        else
            snprintf(buf, size, "[%lld, %lld]", (long long)value->i[0],
                     (long long)value->i[1]);
        return;
    case CNN_HP_PADDING: {
        cnn_padding p = cnn_hparam_padding(value);
        if (p.mode != CNN_PAD_EXPLICIT)
            snprintf(buf, size, "%s",
                     p.mode == CNN_PAD_SAME_UPPER ? "same" : "same_lower");
        else if (p.top == p.bottom && p.left == p.right && p.top == p.left)
            snprintf(buf, size, "%lld", (long long)p.top);
        else if (p.top == p.bottom && p.left == p.right)
            snprintf(buf, size, "[%lld, %lld]", (long long)p.top,
                     (long long)p.left);
        else
            snprintf(buf, size, "[%lld, %lld, %lld, %lld]", (long long)p.top,
                     (long long)p.left, (long long)p.bottom,
                     (long long)p.right);
        return;
    }
    case CNN_HP_FLOAT:
        format_double(value->f, buf, size);
        return;
    case CNN_HP_BOOL:
        snprintf(buf, size, "%s", value->i[0] ? "true" : "false");
        return;
    case CNN_HP_ENUM: {
        int64_t n = 0;
        while (spec->choices && spec->choices[n] && n <= value->i[0])
            n++;
        if (value->i[0] >= 0 && value->i[0] < n)
            snprintf(buf, size, "%s", spec->choices[value->i[0]]);
        else
            snprintf(buf, size, "?%lld", (long long)value->i[0]);
        return;
    }
    default:
        snprintf(buf, size, "?");
        return;
    }
}
