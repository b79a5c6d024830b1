/* SPDX-License-Identifier: MIT */
/* Descriptor checks and the choice of hyperparameters; see check_plugin.h.
 *
 * The registry has already refused what the host cannot live with (another
 * major version, a newer minor, a short struct, a bad type name, missing
 * required hooks, a broken hyperparameter table); what is left to check
 * here is what a host tolerates but an author would want to know, and a
 * record of what was found. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_plugin.h"

#define KNOWN_FLAGS                                                            \
    (CNN_LAYER_FLAG_PROBABILITIES | CNN_LAYER_FLAG_STOCHASTIC |                \
     CNN_LAYER_FLAG_IN_PLACE | CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT |      \
     CNN_LAYER_FLAG_ACCEPTS_EPILOGUE)

static const char *kind_word(cnn_hparam_kind kind)
{
    switch (kind) {
    case CNN_HP_INT: return "int";
    case CNN_HP_FLOAT: return "float";
    case CNN_HP_BOOL: return "bool";
    case CNN_HP_ENUM: return "enum";
    case CNN_HP_INT2: return "int2";
    case CNN_HP_PADDING: return "padding";
    }
    return "?";
}

static int one_line(const char *s)
{
    return s && s[0] && !strchr(s, '\n') && !strchr(s, '\r');
}

/* "lrn" from "/a/b/lrn.so"; empty when the name does not end in .so. */
static void file_stem(const char *path, char *buf, size_t size)
{
    const char *base = strrchr(path, '/');
    size_t len;
    base = base ? base + 1 : path;
    len = strlen(base);
    buf[0] = '\0';
    if (len > 3 && strcmp(base + len - 3, ".so") == 0 && len - 3 < size) {
        memcpy(buf, base, len - 3);
        buf[len - 3] = '\0';
    }
}

static void check_abi(ck_report *r, const cnn_plugin *plugin,
                      const cnn_layer_descriptor *d)
{
    uint32_t v = cnn_plugin_abi_version(plugin);
    uint32_t major = CNN_LAYER_ABI_MAJOR_OF(v),
             minor = CNN_LAYER_ABI_MINOR_OF(v);
    size_t need = minor == 0 ? CNN_LAYER_DESCRIPTOR_SIZE_1_0
                             : CNN_LAYER_DESCRIPTOR_SIZE_1_1;
    if (minor < CNN_LAYER_ABI_MINOR)
        ck_report_add(r, CK_PASS, "descriptor: ABI version",
                      "%u.%u, host %u.%u: an older minor version; it loads, "
                      "and hooks added after %u.%u read as absent",
                      major, minor, CNN_LAYER_ABI_MAJOR, CNN_LAYER_ABI_MINOR,
                      major, minor);
    else
        ck_report_add(r, CK_PASS, "descriptor: ABI version",
                      "%u.%u, host %u.%u", major, minor, CNN_LAYER_ABI_MAJOR,
                      CNN_LAYER_ABI_MINOR);
    ck_report_add(r, CK_PASS, "descriptor: struct size",
                  "%u bytes; ABI %u.%u needs at least %zu", d->struct_size,
                  major, minor, need);
}

static void check_names(ck_report *r, const cnn_plugin *plugin,
                        const cnn_layer_descriptor *d)
{
    char stem[CNN_NAME_MAX + 8];
    file_stem(cnn_plugin_path(plugin), stem, sizeof stem);
    if (strcmp(stem, d->type_name) != 0)
        ck_report_add(r, CK_WARN, "descriptor: type name",
                      "\"%s\", but the file is %s: graphs find a plugin only "
                      "as <type>.so, so name the file %s.so",
                      d->type_name, cnn_plugin_path(plugin), d->type_name);
    else
        ck_report_add(r, CK_PASS, "descriptor: type name", "\"%s\"",
                      d->type_name);
    if (!d->summary || !d->summary[0])
        ck_report_add(r, CK_WARN, "descriptor: summary",
                      "missing: `cnnrun plugins` shows one line per layer");
    else if (!one_line(d->summary))
        ck_report_add(r, CK_FAIL, "descriptor: summary",
                      "has a line break; it must be one line");
    else
        ck_report_add(r, CK_PASS, "descriptor: summary", "\"%s\"", d->summary);
}

static void check_hooks(ck_report *r, const cnn_layer_descriptor *d)
{
    char optional[128] = "";
    size_t used = 0;
    const char *names[] = {"create", "destroy", "params", "flops"};
    const int present[] = {d->create != NULL, d->destroy != NULL,
                           d->params != NULL, d->flops != NULL};
    for (size_t i = 0; i < 4; i++)
        if (present[i]) {
            int n = snprintf(optional + used, sizeof optional - used, "%s%s",
                             used ? ", " : "", names[i]);
            used += n > 0 ? (size_t)n : 0;
        }
    ck_report_add(r, CK_PASS, "descriptor: hooks",
                  "infer_shape, forward, backward; optional: %s",
                  used ? optional : "none");
    if (d->min_inputs < 1)
        ck_report_add(r, CK_FAIL, "descriptor: inputs",
                      "min_inputs is 0; every layer takes at least one input");
    else
        ck_report_add(r, CK_PASS, "descriptor: inputs", "%u..%u", d->min_inputs,
                      d->max_inputs);
    if (d->flags & ~KNOWN_FLAGS)
        ck_report_add(r, CK_FAIL, "descriptor: flags",
                      "0x%x has bits this host does not know (0x%x); unknown "
                      "bits are reserved",
                      d->flags, d->flags & ~(uint32_t)KNOWN_FLAGS);
    else
        ck_report_add(
            r, CK_PASS, "descriptor: flags", "%s%s%s%s%s%s",
            d->flags ? "" : "none",
            d->flags & CNN_LAYER_FLAG_PROBABILITIES ? "probabilities " : "",
            d->flags & CNN_LAYER_FLAG_STOCHASTIC ? "stochastic " : "",
            d->flags & CNN_LAYER_FLAG_IN_PLACE ? "in-place " : "",
            d->flags & CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT
                ? "backward-ignores-output "
                : "",
            d->flags & CNN_LAYER_FLAG_ACCEPTS_EPILOGUE ? "accepts-epilogue"
                                                       : "");
}

/* The default, formatted and parsed back, must be the same value: that is
 * what `cnnrun plugins --describe` prints and what a graph would say. */
static int default_round_trip(cnn_context *ctx, const cnn_hparam_spec *s,
                              char *text, size_t size, char *why,
                              size_t why_size)
{
    cnn_hparam_value def, back;
    const char *items[1];
    cnn_hparam_default(s, &def);
    cnn_hparam_format(s, &def, text, size);
    items[0] = text;
    if (cnn_hparam_parse(ctx, s, items, 1, &back) != CNN_OK) {
        snprintf(why, why_size, "its default %s does not parse back: %s", text,
                 cnn_context_message(ctx));
        cnn_context_clear_error(ctx);
        return 0;
    }
    if (s->kind == CNN_HP_FLOAT
            ? back.f != def.f
            : back.i[0] != def.i[0] ||
                  ((s->kind == CNN_HP_INT2 || s->kind == CNN_HP_PADDING) &&
                   back.i[1] != def.i[1]) ||
                  (s->kind == CNN_HP_PADDING && back.f != def.f)) {
        snprintf(why, why_size, "its default %s parses back to another value",
                 text);
        return 0;
    }
    return 1;
}

static void check_hparam(ck_report *r, cnn_context *ctx,
                         const cnn_hparam_spec *s)
{
    char name[CNN_NAME_MAX + 16], def[96] = "", range[96] = "", why[512];
    snprintf(name, sizeof name, "hyperparameter %s", s->name);
    if (s->required != 0 && s->required != 1) {
        ck_report_add(r, CK_FAIL, name, "required is %d; it must be 0 or 1",
                      (int)s->required);
        return;
    }
    if (!s->required &&
        !default_round_trip(ctx, s, def, sizeof def, why, sizeof why)) {
        ck_report_add(r, CK_FAIL, name, "%s", why);
        return;
    }
    if (s->kind == CNN_HP_INT || s->kind == CNN_HP_INT2 ||
        s->kind == CNN_HP_PADDING) {
        if (s->min_value != floor(s->min_value) ||
            s->max_value != floor(s->max_value)) {
            ck_report_add(r, CK_WARN, name,
                          "integer bounds [%g, %g] are not whole numbers",
                          s->min_value, s->max_value);
            return;
        }
        snprintf(range, sizeof range, ", range [%.0f, %.0f]", s->min_value,
                 s->max_value);
    } else if (s->kind == CNN_HP_FLOAT) {
        snprintf(range, sizeof range, ", range [%g, %g]", s->min_value,
                 s->max_value);
    } else if (s->kind == CNN_HP_ENUM) {
        size_t used = 0;
        int n = snprintf(range, sizeof range, ", one of");
        used = n > 0 ? (size_t)n : 0;
        for (size_t i = 0; s->choices[i] && used < sizeof range; i++) {
            n = snprintf(range + used, sizeof range - used, " %s",
                         s->choices[i]);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    if (!one_line(s->help))
        ck_report_add(r, CK_WARN, name,
                      "%s%s%s%s: help is missing or not one line (`cnnrun "
                      "plugins --describe` shows it)",
                      kind_word(s->kind),
                      s->required ? ", required" : ", default ",
                      s->required ? "" : def, range);
    else
        ck_report_add(r, CK_PASS, name, "%s%s%s%s", kind_word(s->kind),
                      s->required ? ", required" : ", default ",
                      s->required ? "" : def, range);
}

void ck_check_descriptor(ck_report *r, cnn_context *ctx,
                         const cnn_plugin *plugin)
{
    const cnn_layer_descriptor *d = cnn_plugin_descriptor(plugin);
    check_abi(r, plugin, d);
    check_names(r, plugin, d);
    check_hooks(r, d);
    for (uint32_t i = 0; i < d->n_hparams; i++)
        check_hparam(r, ctx, &d->hparams[i]);
}

/* ---- Choosing hyperparameter values ------------------------------------ */

/* A value for a required hyperparameter the user did not set, from its
 * bounds alone: small integers (2, so that kernels and windows are not
 * trivial), the middle of a short float range, the first choice. 0 when
 * the bounds admit nothing sensible. */
static int derive_value(const cnn_hparam_spec *s, char *buf, size_t size)
{
    switch (s->kind) {
    case CNN_HP_INT:
    case CNN_HP_INT2:
    case CNN_HP_PADDING: {
        double lo = ceil(s->min_value), hi = floor(s->max_value), v = 2.0;
        if (!(lo <= hi) || fabs(lo) > 1e15)
            return 0;
        v = v < lo ? lo : v > hi ? hi : v;
        snprintf(buf, size, "%.0f", v);
        return 1;
    }
    case CNN_HP_FLOAT: {
        double lo = s->min_value, hi = s->max_value, v;
        if (!(lo <= hi))
            return 0;
        if (isfinite(lo) && isfinite(hi) && hi - lo <= 10.0)
            v = lo + (hi - lo) / 2;
        else
            v = 1.0 < lo ? lo : 1.0 > hi ? hi : 1.0;
        if (!isfinite(v))
            return 0;
        snprintf(buf, size, "%.17g", v);
        return 1;
    }
    case CNN_HP_BOOL: snprintf(buf, size, "true"); return 1;
    case CNN_HP_ENUM:
        if (!s->choices || !s->choices[0])
            return 0;
        snprintf(buf, size, "%s", s->choices[0]);
        return 1;
    }
    return 0;
}

/* 1 when one of the settings sets key (the text before '=', trimmed). */
static int setting_names(const char *const *settings, size_t n, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < n; i++) {
        const char *s = settings[i], *eq = strchr(s, '=');
        const char *e;
        if (!eq)
            continue;
        while (*s == ' ' || *s == '\t')
            s++;
        e = eq;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == klen && strncmp(s, key, klen) == 0)
            return 1;
    }
    return 0;
}

int ck_resolve_hparams(ck_report *r, cnn_context *ctx,
                       const cnn_layer_descriptor *d,
                       const char *const *settings, size_t n_settings,
                       cnn_hparam_value *out)
{
    const char **all;
    char *derived, chosen[512] = "", missing[512] = "", values[1024] = "";
    size_t n_all = 0, used_c = 0, used_m = 0, used_v = 0;
    const size_t slot = CNN_NAME_MAX + 64;
    int ok = 1;

    all = malloc((n_settings + d->n_hparams + 1) * sizeof *all);
    derived = malloc((d->n_hparams + 1) * slot);
    if (!all || !derived) {
        free(all);
        free(derived);
        ck_report_add(r, CK_FAIL, "hyperparameters", "out of memory");
        return 0;
    }
    for (size_t i = 0; i < n_settings; i++)
        all[n_all++] = settings[i];
    for (uint32_t i = 0; i < d->n_hparams; i++) {
        const cnn_hparam_spec *s = &d->hparams[i];
        char value[64], *text = derived + i * slot;
        int n;
        if (!s->required || setting_names(settings, n_settings, s->name))
            continue;
        if (!derive_value(s, value, sizeof value)) {
            n = snprintf(missing + used_m, sizeof missing - used_m, "%s%s",
                         used_m ? ", " : "", s->name);
            used_m +=
                n > 0 && (size_t)n < sizeof missing - used_m ? (size_t)n : 0;
            continue;
        }
        snprintf(text, slot, "%s=%s", s->name, value);
        all[n_all++] = text;
        n = snprintf(chosen + used_c, sizeof chosen - used_c, "%s%s",
                     used_c ? ", " : "", text);
        used_c += n > 0 && (size_t)n < sizeof chosen - used_c ? (size_t)n : 0;
    }
    if (used_m) {
        ck_report_add(r, CK_FAIL, "hyperparameters",
                      "required and not derivable from their bounds: %s; give "
                      "them with --set key=value",
                      missing);
        ok = 0;
    } else if (cnn_hparams_from_settings(ctx, d, all, n_all, out) != CNN_OK) {
        ck_report_add(r, CK_FAIL, "hyperparameters", "%s",
                      cnn_context_message(ctx));
        cnn_context_clear_error(ctx);
        ok = 0;
    }
    if (ok) {
        for (uint32_t i = 0; i < d->n_hparams; i++) {
            char text[96];
            int n;
            cnn_hparam_format(&d->hparams[i], &out[i], text, sizeof text);
            n = snprintf(values + used_v, sizeof values - used_v, "%s%s=%s",
                         used_v ? " " : "", d->hparams[i].name, text);
            used_v +=
                n > 0 && (size_t)n < sizeof values - used_v ? (size_t)n : 0;
        }
        if (used_c)
            ck_report_add(r, CK_INFO, "hyperparameters",
                          "%s (required ones not given with --set were chosen "
                          "from their bounds: %s)",
                          values, chosen);
        else
            ck_report_add(r, CK_INFO, "hyperparameters", "%s",
                          d->n_hparams ? values : "none");
    }
    free(all);
    free(derived);
    return ok;
}
