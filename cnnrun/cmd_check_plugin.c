/* SPDX-License-Identifier: MIT */
/* cnnrun check-plugin PATH_OR_TYPE [--set key=value ...] [--shape S ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_plugin/check_plugin.h"
#include "check_plugin/crash.h"
#include "cli.h"
#include "commands.h"

static const char check_plugin_usage[] =
    "Usage: cnnrun check-plugin PATH_OR_TYPE [--set KEY=VALUE ...] [OPTIONS]\n"
    "Validates a layer plugin: its descriptor (ABI version, struct size,\n"
    "name, hooks, hyperparameters and their defaults), then for several\n"
    "input shapes runs forward and backward on random data inside guard\n"
    "zones, checks that only the outputs are written, that every output\n"
    "element is, that repeated runs are identical, and compares backward's\n"
    "input and parameter gradients with central finite differences in\n"
    "double precision. Prints one PASS/FAIL line per check; exit status 0\n"
    "when all pass, 1 otherwise.\n\n"
    "PATH_OR_TYPE with a '/' or ending in .so is a file; otherwise a layer\n"
    "type looked up in the plugin search path.\n\n"
    "  --set KEY=VALUE   a hyperparameter, as in a graph ([h, w] lists too);\n"
    "                    required ones left unset are chosen from their\n"
    "                    bounds when possible\n"
    "  --shape S         input shape NxCxHxW (any rank: dims joined by 'x';\n"
    "                    'A,B' gives each input its own); repeatable;\n"
    "                    default: 1x1x5x7, 3x3x7x6, 2x8x4x5\n"
    "  --samples N       finite-difference elements per tensor (default 200)\n"
    "  --rtol X          gradient tolerance, relative (default 1e-2)\n"
    "  --seed S          test data (default 1)\n"
    "  --json            one JSON object instead of text\n";

enum {
    OPT_SET = CLI_OPT_FIRST_COMMAND,
    OPT_SHAPE,
    OPT_SAMPLES,
    OPT_RTOL,
    OPT_SEED,
    OPT_JSON
};

#define MAX_SETTINGS 64

int cmd_check_plugin(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"set", required_argument, NULL, OPT_SET},
        {"shape", required_argument, NULL, OPT_SHAPE},
        {"samples", required_argument, NULL, OPT_SAMPLES},
        {"rtol", required_argument, NULL, OPT_RTOL},
        {"seed", required_argument, NULL, OPT_SEED},
        {"json", no_argument, NULL, OPT_JSON},
        {0, 0, 0, 0}};
    static ck_options opt; /* large: shape sets */
    const char *settings[MAX_SETTINGS];
    const cnn_plugin *plugin = NULL;
    cli_common common;
    ck_report report;
    cnn_context *ctx;
    int json = 0, code = CLI_OK, o;
    long long value;

    cli_common_init(&common, "check-plugin", check_plugin_usage);
    memset(&opt, 0, sizeof opt);
    opt.samples = CK_DEFAULT_SAMPLES;
    opt.rtol = CK_DEFAULT_RTOL;
    opt.seed = 1;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (cli_common_option(&common, o, optarg, &code)) {
            if (code != CLI_OK || common.help)
                return code;
            continue;
        }
        switch (o) {
        case OPT_SET:
            if (opt.n_settings == MAX_SETTINGS)
                return cli_usage_error(&common, "more than %d --set options",
                                       MAX_SETTINGS);
            if (!strchr(optarg, '='))
                return cli_usage_error(
                    &common, "--set wants KEY=VALUE, got '%s'", optarg);
            settings[opt.n_settings++] = optarg;
            break;
        case OPT_SHAPE:
            if (opt.n_shape_sets == CK_MAX_SHAPE_SETS)
                return cli_usage_error(&common, "more than %d --shape options",
                                       CK_MAX_SHAPE_SETS);
            if (!ck_parse_shape_set(optarg,
                                    &opt.shape_sets[opt.n_shape_sets++]))
                return cli_usage_error(
                    &common,
                    "--shape wants dims joined by 'x' (like 2x3x8x8), "
                    "inputs separated by ',' (at most %d), got '%s'",
                    CK_MAX_INPUTS, optarg);
            break;
        case OPT_SAMPLES:
            if (!cli_parse_int(optarg, 1, 1000000, &value))
                return cli_usage_error(
                    &common, "--samples wants 1 to 1000000, got '%s'", optarg);
            opt.samples = (size_t)value;
            break;
        case OPT_RTOL:
            if (!cli_parse_double(optarg, 1e-7, 1.0, &opt.rtol))
                return cli_usage_error(
                    &common, "--rtol wants a number in [1e-7, 1], got '%s'",
                    optarg);
            break;
        case OPT_SEED:
            if (!cli_parse_u64(optarg, &opt.seed))
                return cli_usage_error(
                    &common, "--seed wants a whole number, got '%s'", optarg);
            break;
        case OPT_JSON: json = 1; break;
        default: return cli_usage_error(&common, "unknown option");
        }
    }
    if (optind == argc)
        return cli_usage_error(&common, "missing PATH_OR_TYPE");
    if (optind + 1 != argc)
        return cli_usage_error(&common, "unexpected argument '%s'",
                               argv[optind + 1]);
    opt.target = argv[optind];
    opt.settings = settings;

    ctx = cli_context(&common);
    if (!ctx)
        return CLI_FAIL;
    /* The plugin's own problems are the report's business; the library's
     * log lines would only repeat them. */
    cnn_context_set_logger(ctx, NULL, NULL);
    ck_report_init(&report, stdout, !json, common.quiet);
    ck_crash_install(json ? 2 : 1);
    ck_run(ctx, &opt, &report, &plugin);
    ck_crash_uninstall();
    if (json) {
        const cnn_layer_descriptor *d =
            plugin ? cnn_plugin_descriptor(plugin) : NULL;
        char abi[32] = "";
        if (plugin)
            snprintf(abi, sizeof abi, "%u.%u",
                     CNN_LAYER_ABI_MAJOR_OF(cnn_plugin_abi_version(plugin)),
                     CNN_LAYER_ABI_MINOR_OF(cnn_plugin_abi_version(plugin)));
        if (!ck_report_print_json(&report, opt.target, d ? d->type_name : NULL,
                                  plugin ? cnn_plugin_path(plugin) : NULL,
                                  plugin ? abi : NULL))
            code = cli_failf(&common, "out of memory");
    } else {
        ck_report_print_summary(&report);
    }
    if (code == CLI_OK && ck_report_failed(&report))
        code = CLI_FAIL;
    ck_report_free(&report);
    cnn_context_destroy(ctx);
    return code;
}
