/* SPDX-License-Identifier: MIT */
/* Loading: type names, the good plugin, and one negative test per message
 * the loader can give, each checked for its words and the file. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry_util.h"

TestSuite(registry, .init = make_tmp, .fini = drop_tmp);

Test(registry, name_validation)
{
    char longest[65], too_long[66];
    memset(longest, 'a', 64);
    longest[64] = '\0';
    memset(too_long, 'a', 65);
    too_long[65] = '\0';
    cr_assert(cnn_plugin_name_valid("conv"));
    cr_assert(cnn_plugin_name_valid("a"));
    cr_assert(cnn_plugin_name_valid("conv2d_v2"));
    cr_assert(cnn_plugin_name_valid(longest));
    cr_assert_not(cnn_plugin_name_valid(too_long));
    cr_assert_not(cnn_plugin_name_valid(NULL));
    cr_assert_not(cnn_plugin_name_valid(""));
    cr_assert_not(cnn_plugin_name_valid("Conv"));
    cr_assert_not(cnn_plugin_name_valid("2d"));
    cr_assert_not(cnn_plugin_name_valid("_x"));
    cr_assert_not(cnn_plugin_name_valid("con-v"));
    cr_assert_not(cnn_plugin_name_valid("../conv"));
    cr_assert_not(cnn_plugin_name_valid("conv.so"));
    cr_assert_not(cnn_plugin_name_valid("conv/"));
    cr_assert_not(cnn_plugin_name_valid("conv "));
}

Test(registry, invalid_names_refused_before_filesystem)
{
    char too_long[66];
    /* Each name would reach an existing plugin if it were used as a path:
     * "<fixture>/../plugins/good.so" is the good plugin itself. */
    const char *names[] = {"../plugins/good", "../conv", "Conv", "",
                           too_long, "good.so", "/good", "good/"};
    cnn_context *ctx = ctx_with(FIXTURE);
    memset(too_long, 'a', 65);
    too_long[65] = '\0';
    cr_assert_eq(access(FIXTURE "/../plugins/good.so", R_OK), 0);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const cnn_plugin *plugin = NULL;
        const char *msg;
        cr_assert_eq(cnn_plugin_get(ctx, names[i], &plugin), CNN_ERR_INVALID,
                     "name \"%s\" accepted", names[i]);
        msg = cnn_context_message(ctx);
        assert_has(msg, "invalid layer type name");
        cr_assert_null(strstr(msg, "tried"), "searched for \"%s\": %s",
                       names[i], msg);
        cr_assert_null(strstr(msg, FIXTURE), "touched a file: %s", msg);
        cr_assert_null(plugin);
    }
    {
        const cnn_plugin *plugin = NULL;
        cr_assert_eq(cnn_plugin_get(ctx, NULL, &plugin), CNN_ERR_INVALID);
    }
    cnn_context_destroy(ctx);
}

Test(registry, good_plugin_loads_and_is_cached)
{
    cnn_context *ctx = ctx_with(FIXTURE);
    const cnn_plugin *p = NULL, *again = NULL, *by_path = NULL;
    const cnn_layer_descriptor *d;
    cnn_shape in = {4, {2, 3, 5, 7}}, out;
    cnn_errbuf err = {NULL, 0};
    cr_assert_eq(cnn_plugin_get(ctx, "good", &p), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cr_assert_not_null(p);
    cr_assert_str_eq(cnn_plugin_path(p), FIXTURE "/good.so");
    cr_assert_eq(cnn_plugin_abi_version(p), CNN_LAYER_ABI_VERSION);
    d = cnn_plugin_descriptor(p);
    cr_assert_str_eq(d->type_name, "good");
    cr_assert_eq(d->abi_version, CNN_LAYER_ABI_VERSION);
    cr_assert_eq(d->struct_size, sizeof(cnn_layer_descriptor));
    cr_assert_eq(d->n_hparams, 5);
    cr_assert_null(d->flops);
    cr_assert_eq(cnn_descriptor_hparam_index(d, "units"), 0);
    cr_assert_eq(cnn_descriptor_hparam_index(d, "mode"), 4);
    cr_assert_eq(cnn_descriptor_hparam_index(d, "nope"), -1);
    cr_assert_eq(cnn_descriptor_hparam_index(d, NULL), -1);
    /* The host copy's hooks are the plugin's code. */
    cr_assert_eq(d->infer_shape(NULL, &in, 1, &out, &err), CNN_OK);
    cr_assert_eq(out.rank, 4);
    cr_assert_eq(out.dims[3], 7);

    cr_assert_eq(cnn_plugin_get(ctx, "good", &again), CNN_OK);
    cr_assert_eq(again, p, "second get returns the cached plugin");
    cr_assert_eq(cnn_plugin_open_file(ctx, FIXTURE "/good.so", "good",
                                      &by_path),
                 CNN_OK);
    cr_assert_eq(by_path, p, "open_file shares the cache");
    cnn_context_destroy(ctx);
}

Test(registry, not_an_elf_file)
{
    char dir[4200], path[4300];
    cnn_context *ctx;
    const cnn_plugin *p = NULL;
    tmp_dir("junk", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/junk.so", dir);
    write_text(path, "this is not a shared object\n");
    ctx = ctx_with(dir);
    cr_assert_eq(cnn_plugin_get(ctx, "junk", &p), CNN_ERR_PLUGIN);
    assert_has(cnn_context_message(ctx), "cannot load plugin");
    assert_has(cnn_context_message(ctx), path);
    cr_assert_null(p);
    cnn_context_destroy(ctx);
}

Test(registry, missing_entry_symbol)
{
    expect_refused("missing_symbol", CNN_ERR_PLUGIN, "does not export",
                   CNN_LAYER_ENTRY_SYMBOL, NULL);
}

Test(registry, entry_returns_null)
{
    expect_refused("null_entry", CNN_ERR_PLUGIN, CNN_LAYER_ENTRY_SYMBOL,
                   "returned NULL", NULL);
}

static const char *host_version(char *buf, size_t size)
{
    snprintf(buf, size, "host supports %u.%u", CNN_LAYER_ABI_MAJOR,
             CNN_LAYER_ABI_MINOR);
    return buf;
}

Test(registry, wrong_abi_major)
{
    char host[64];
    expect_refused("wrong_major", CNN_ERR_PLUGIN, "plugin ABI 2.0",
                   host_version(host, sizeof host), "major", NULL);
}

Test(registry, newer_abi_minor)
{
    char host[64], newer[32];
    snprintf(newer, sizeof newer, "plugin ABI 1.%u", CNN_LAYER_ABI_MINOR + 1);
    expect_refused("newer_minor", CNN_ERR_PLUGIN, newer,
                   host_version(host, sizeof host), "newer minor", NULL);
}

Test(registry, struct_shorter_than_its_minor)
{
    char got[64], need[64];
    snprintf(got, sizeof got, "struct_size %zu",
             (size_t)CNN_LAYER_DESCRIPTOR_SIZE_1_0);
    snprintf(need, sizeof need, "the %zu bytes ABI 1.%u requires",
             sizeof(cnn_layer_descriptor), CNN_LAYER_ABI_MINOR);
    expect_refused("short_struct", CNN_ERR_PLUGIN, got, need, NULL);
}

Test(registry, type_name_differs)
{
    expect_refused("wrong_type", CNN_ERR_PLUGIN, "\"other\"",
                   "\"wrong_type\" was asked for", NULL);
}

Test(registry, type_name_null)
{
    expect_refused("null_type", CNN_ERR_PLUGIN, "type_name is NULL", NULL);
}

Test(registry, required_hook_null)
{
    expect_refused("null_forward", CNN_ERR_PLUGIN,
                   "required hook forward is NULL", NULL);
}

Test(registry, create_without_destroy)
{
    expect_refused("create_no_destroy", CNN_ERR_PLUGIN,
                   "required hook destroy is NULL", "create", NULL);
}

Test(registry, hparam_bad_name)
{
    expect_refused("hp_bad_name", CNN_ERR_PLUGIN, "invalid name",
                   "\"Kernel\"", NULL);
}

Test(registry, hparam_duplicate)
{
    expect_refused("hp_duplicate", CNN_ERR_PLUGIN,
                   "hyperparameter kernel is declared twice", NULL);
}

Test(registry, hparam_unknown_kind)
{
    expect_refused("hp_unknown_kind", CNN_ERR_PLUGIN,
                   "hyperparameter kernel has unknown kind 42", NULL);
}

Test(registry, hparam_min_above_max)
{
    expect_refused("hp_min_gt_max", CNN_ERR_PLUGIN,
                   "hyperparameter kernel has min 11 > max 1", NULL);
}

Test(registry, hparam_default_outside_bounds)
{
    expect_refused("hp_default_out", CNN_ERR_PLUGIN,
                   "hyperparameter kernel has default 0 outside its bounds "
                   "[1, 11]",
                   NULL);
}

Test(registry, hparam_enum_without_choices)
{
    expect_refused("hp_enum_no_choices", CNN_ERR_PLUGIN,
                   "hyperparameter mode is an ENUM without choices", NULL);
}

Test(registry, hparam_enum_default_out_of_range)
{
    expect_refused("hp_enum_default", CNN_ERR_PLUGIN,
                   "hyperparameter mode has default index 2 out of range",
                   "2 choices", NULL);
}

Test(registry, abi_1_0_plugin_loads_with_flops_null)
{
    cnn_context *ctx = ctx_with(FIXTURE);
    const cnn_plugin *p = NULL;
    const cnn_layer_descriptor *d;
    cr_assert_eq(cnn_plugin_get(ctx, "abi10", &p), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cr_assert_eq(cnn_plugin_abi_version(p), CNN_LAYER_ABI_MAKE(1u, 0u));
    d = cnn_plugin_descriptor(p);
    cr_assert_eq(d->struct_size, CNN_LAYER_DESCRIPTOR_SIZE_1_0);
    cr_assert_str_eq(d->type_name, "abi10");
    cr_assert_not_null(d->forward);
    cr_assert_not_null(d->backward);
    /* The plugin placed a non-NULL pointer right after its 1.0 struct. */
    cr_assert_null(d->flops, "read past the plugin's struct_size");
    cnn_context_destroy(ctx);
}

Test(registry, fields_newer_than_declared_minor_read_null)
{
    cnn_context *ctx = ctx_with(FIXTURE);
    const cnn_plugin *p = NULL;
    const cnn_layer_descriptor *d;
    cnn_shape out = {2, {3, 5}};
    cr_assert_eq(cnn_plugin_get(ctx, "old_minor_full", &p), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cr_assert_eq(cnn_plugin_abi_version(p), CNN_LAYER_ABI_MAKE(1u, 0u));
    cr_assert_null(cnn_plugin_descriptor(p)->flops,
                   "a 1.0 plugin has no flops hook, whatever its size");
    /* The same hook behind the current version is kept. */
    cr_assert_eq(cnn_plugin_get(ctx, "with_flops", &p), CNN_OK, "%s",
                 cnn_context_message(ctx));
    d = cnn_plugin_descriptor(p);
    cr_assert_not_null(d->flops);
    cr_assert_eq(d->flops(NULL, NULL, 1, &out), 15);
    cnn_context_destroy(ctx);
}
