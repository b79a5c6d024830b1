/* SPDX-License-Identifier: MIT */
/* cnnrun plugins [--json] [--describe TYPE] */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cnn/plugin.h"
#include "commands.h"

static const char plugins_usage[] =
    "Usage: cnnrun plugins [--json] [--describe TYPE]\n"
    "Lists the layer types found in the plugin search path (--plugin-dir,\n"
    "CNN_PLUGIN_PATH, the build tree, the install directory), with their\n"
    "files and ABI versions; --describe prints one type's hyperparameters.\n"
    "To read their descriptors, this command loads every plugin it lists\n"
    "(dlopen runs each file's code): it is the one command that does; the\n"
    "others open only <type>.so for the types a graph names. Files in\n"
    "folders others may write are listed as refused, never loaded\n"
    "(docs/plugin-abi.md, \"Trust\").\n\n"
    "  --json            JSON instead of text\n"
    "  --describe TYPE   hyperparameters of TYPE: kind, default, bounds\n";

enum { OPT_JSON = CLI_OPT_FIRST_COMMAND, OPT_DESCRIBE };

static const char *kind_name(cnn_hparam_kind kind)
{
    switch (kind) {
    case CNN_HP_INT: return "int";
    case CNN_HP_FLOAT: return "float";
    case CNN_HP_BOOL: return "bool";
    case CNN_HP_ENUM: return "enum";
    case CNN_HP_INT2: return "int or [h, w]";
    case CNN_HP_PADDING: return "padding";
    }
    return "?";
}

static void version_text(uint32_t v, char *buf, size_t size)
{
    snprintf(buf, size, "%u.%u", CNN_LAYER_ABI_MAJOR_OF(v), CNN_LAYER_ABI_MINOR_OF(v));
}

static json_t *hparam_json(const cnn_hparam_spec *hp)
{
    json_t *o = json_object();
    cnn_hparam_value def;
    char text[128];
    cnn_hparam_default(hp, &def);
    json_object_set_new(o, "name", json_string(hp->name));
    json_object_set_new(o, "kind", json_string(kind_name(hp->kind)));
    json_object_set_new(o, "required", json_boolean(hp->required));
    if (!hp->required) {
        cnn_hparam_format(hp, &def, text, sizeof text);
        json_object_set_new(o, "default", json_string(text));
    }
    if (hp->kind == CNN_HP_INT || hp->kind == CNN_HP_INT2 ||
        hp->kind == CNN_HP_PADDING || hp->kind == CNN_HP_FLOAT) {
        json_object_set_new(o, "min", json_real(hp->min_value));
        json_object_set_new(o, "max", json_real(hp->max_value));
    }
    if (hp->kind == CNN_HP_ENUM && hp->choices) {
        json_t *c = json_array();
        for (const char *const *p = hp->choices; *p; p++)
            json_array_append_new(c, json_string(*p));
        json_object_set_new(o, "choices", c);
    }
    json_object_set_new(o, "help", json_string(hp->help ? hp->help : ""));
    return o;
}

static json_t *plugin_json(const cnn_plugin *plugin, int with_hparams)
{
    const cnn_layer_descriptor *d = cnn_plugin_descriptor(plugin);
    json_t *o = json_object();
    char v[32];
    version_text(cnn_plugin_abi_version(plugin), v, sizeof v);
    json_object_set_new(o, "type", json_string(d->type_name));
    json_object_set_new(o, "path", json_string(cnn_plugin_path(plugin)));
    json_object_set_new(o, "abi_version", json_string(v));
    json_object_set_new(o, "summary", json_string(d->summary ? d->summary : ""));
    json_object_set_new(o, "inputs_min", json_integer(d->min_inputs));
    json_object_set_new(o, "inputs_max", json_integer(d->max_inputs));
    if (with_hparams) {
        json_t *a = json_array();
        for (uint32_t i = 0; i < d->n_hparams; i++)
            json_array_append_new(a, hparam_json(&d->hparams[i]));
        json_object_set_new(o, "hyperparameters", a);
    }
    return o;
}

static void describe_text(const cnn_plugin *plugin)
{
    const cnn_layer_descriptor *d = cnn_plugin_descriptor(plugin);
    char v[32];
    version_text(cnn_plugin_abi_version(plugin), v, sizeof v);
    printf("%s: %s\n  file: %s\n  ABI: %s\n  inputs: %u..%u\n", d->type_name,
           d->summary ? d->summary : "", cnn_plugin_path(plugin), v,
           d->min_inputs, d->max_inputs);
    printf("  hyperparameters:%s\n", d->n_hparams ? "" : " none");
    for (uint32_t i = 0; i < d->n_hparams; i++) {
        const cnn_hparam_spec *hp = &d->hparams[i];
        cnn_hparam_value def;
        char text[128] = "";
        cnn_hparam_default(hp, &def);
        if (hp->required)
            snprintf(text, sizeof text, "required");
        else {
            char value[96];
            cnn_hparam_format(hp, &def, value, sizeof value);
            snprintf(text, sizeof text, "default %s", value);
        }
        printf("    %-10s %-14s %-18s", hp->name, kind_name(hp->kind), text);
        if (hp->kind == CNN_HP_ENUM && hp->choices) {
            printf(" one of:");
            for (const char *const *p = hp->choices; *p; p++)
                printf(" %s", *p);
        } else if (hp->kind != CNN_HP_BOOL) {
            printf(" range [%.10g, %.10g]", hp->min_value, hp->max_value); /* exact up to 2^33 */
        }
        printf("%s%s\n", hp->help ? "  " : "", hp->help ? hp->help : "");
    }
}

typedef struct scan_state {
    int json;
    json_t *array;
    int failures;
} scan_state;

static void on_plugin(void *user, const char *type, const char *path,
                      const cnn_plugin *plugin, const char *message)
{
    scan_state *s = user;
    if (!plugin) {
        s->failures++;
        fprintf(stderr, "cnnrun plugins: warning: %s (%s): %s\n", type, path, message);
        return;
    }
    if (s->json) {
        json_array_append_new(s->array, plugin_json(plugin, 1));
    } else {
        char v[32];
        version_text(cnn_plugin_abi_version(plugin), v, sizeof v);
        printf("%-12s ABI %-6s %-48s %s\n", type, v,
               cnn_plugin_descriptor(plugin)->summary ? cnn_plugin_descriptor(plugin)->summary : "",
               path);
    }
}

static int print_json_value(json_t *v)
{
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text)
        return 0;
    puts(text);
    free(text);
    return 1;
}

int cmd_plugins(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"json", no_argument, NULL, OPT_JSON},
        {"describe", required_argument, NULL, OPT_DESCRIBE},
        {0, 0, 0, 0}};
    cli_common common;
    const char *describe = NULL;
    int json = 0, opt, code = CLI_OK;
    cnn_context *ctx;

    cli_common_init(&common, "plugins", plugins_usage);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (cli_common_option(&common, opt, optarg, &code)) {
            if (code != CLI_OK || common.help)
                return code;
            continue;
        }
        if (opt == OPT_JSON)
            json = 1;
        else if (opt == OPT_DESCRIBE)
            describe = optarg;
    }
    if (optind != argc)
        return cli_usage_error(&common, "unexpected argument '%s'", argv[optind]);
    ctx = cli_context(&common);
    if (!ctx)
        return CLI_FAIL;
    if (describe) {
        const cnn_plugin *plugin;
        if (cnn_plugin_get(ctx, describe, &plugin) != CNN_OK) {
            /* A type no plugin provides is a bad option value (exit 2,
             * as for every command); a plugin found but broken is not. */
            if (cnn_context_status(ctx) == CNN_ERR_NOT_FOUND)
                code = cli_usage_error(&common, "--describe: %s; 'cnnrun plugins' lists "
                                       "the installed types",
                                       cnn_context_message(ctx));
            else
                code = cli_fail(&common, ctx);
        } else if (json) {
            json_t *o = plugin_json(plugin, 1);
            if (!print_json_value(o))
                code = cli_failf(&common, "out of memory");
            json_decref(o);
        } else {
            describe_text(plugin);
        }
    } else {
        scan_state s = {json, json ? json_array() : NULL, 0};
        if (!json) {
            const char *dirs[64];
            size_t n = cnn_plugin_search_dirs(ctx, dirs, 64);
            printf("Search path:\n");
            for (size_t i = 0; i < n && i < 64; i++)
                printf("  %s\n", dirs[i]);
            printf("\n");
        }
        if (cnn_plugin_scan(ctx, on_plugin, &s) != CNN_OK)
            code = cli_fail(&common, ctx);
        else if (json && !print_json_value(s.array))
            code = cli_failf(&common, "out of memory");
        if (s.array)
            json_decref(s.array);
    }
    cnn_context_destroy(ctx);
    return code;
}
