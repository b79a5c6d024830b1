/* SPDX-License-Identifier: MIT */
/* The plugin registry: search order, caching, and one negative test per
 * message the loader can give, each checked for its words and the file. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnn/plugin.h"

#ifndef REGISTRY_FIXTURE_DIR
#error "REGISTRY_FIXTURE_DIR is set by tests/registry/meson.build"
#endif
#define FIXTURE REGISTRY_FIXTURE_DIR

/* A fresh directory per test, removed (two levels deep) afterwards. */
static char tmp_root[4096];

static void make_tmp(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmp_root, sizeof tmp_root, "%s/cnn-registry-XXXXXX",
             base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(tmp_root), "mkdtemp failed");
}

static void remove_tree(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[4096 + 256];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && depth > 0)
            remove_tree(path, depth - 1);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void drop_tmp(void)
{
    if (tmp_root[0])
        remove_tree(tmp_root, 2);
}

TestSuite(registry, .init = make_tmp, .fini = drop_tmp);

/* tmp_root/<sub>, created. */
static const char *tmp_dir(const char *sub, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", tmp_root, sub);
    cr_assert_eq(mkdir(buf, 0700), 0, "mkdir %s", buf);
    return buf;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    FILE *out;
    char buf[65536];
    size_t n;
    cr_assert_not_null(in, "cannot open %s", from);
    out = fopen(to, "wb");
    cr_assert_not_null(out, "cannot create %s", to);
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, out), n);
    cr_assert_eq(ferror(in), 0);
    fclose(in);
    cr_assert_eq(fclose(out), 0);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* A context that searches only the given directory. */
static cnn_context *ctx_with(const char *dir)
{
    cnn_context *ctx = cnn_context_create();
    cr_assert_not_null(ctx);
    cnn_context_set_default_plugin_dirs(ctx, 0);
    if (dir)
        cr_assert_eq(cnn_context_add_plugin_dir(ctx, dir), CNN_OK);
    return ctx;
}

static void assert_has(const char *msg, const char *word)
{
    cr_assert_not_null(strstr(msg, word), "message \"%s\" lacks \"%s\"", msg,
                       word);
}

/* cnn_plugin_get(type) from the fixture folder must fail with status and a
 * message naming the file and containing every word (NULL-terminated). */
static void expect_refused(const char *type, cnn_status status, ...)
{
    cnn_context *ctx = ctx_with(FIXTURE);
    const cnn_plugin *plugin = (const cnn_plugin *)1;
    char path[4096];
    const char *msg;
    va_list ap;
    const char *word;
    cnn_status st = cnn_plugin_get(ctx, type, &plugin);
    msg = cnn_context_message(ctx);
    cr_assert_eq(st, status, "%s: status %d (%s), expected %d", type, st, msg,
                 status);
    cr_assert_eq(cnn_context_status(ctx), status);
    cr_assert_null(plugin, "out is cleared on failure");
    snprintf(path, sizeof path, "%s/%s.so", FIXTURE, type);
    assert_has(msg, path);
    va_start(ap, status);
    while ((word = va_arg(ap, const char *)) != NULL)
        assert_has(msg, word);
    va_end(ap);
    /* Failures are not cached: the same error comes back. */
    cr_assert_eq(cnn_plugin_get(ctx, type, &plugin), status);
    assert_has(cnn_context_message(ctx), path);
    cnn_context_destroy(ctx);
}

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

Test(registry, missing_plugin_lists_every_path_in_order)
{
    char a[4200], b[4200], pa[4300], pb[4300];
    cnn_context *ctx = cnn_context_create();
    const cnn_plugin *p = NULL;
    const char *msg, *at_a, *at_b, *at_tree, *at_install;
    tmp_dir("a", a, sizeof a);
    tmp_dir("b", b, sizeof b);
    cr_assert_eq(cnn_context_add_plugin_dir(ctx, a), CNN_OK);
    cr_assert_eq(cnn_context_add_plugin_dir(ctx, b), CNN_OK);
    /* Defaults on: the build tree and the install dir come last. */
    cr_assert_eq(cnn_plugin_get(ctx, "no_such_layer_zz", &p),
                 CNN_ERR_NOT_FOUND);
    msg = cnn_context_message(ctx);
    assert_has(msg, "no plugin for layer type \"no_such_layer_zz\"");
    snprintf(pa, sizeof pa, "%s/no_such_layer_zz.so", a);
    snprintf(pb, sizeof pb, "%s/no_such_layer_zz.so", b);
    at_a = strstr(msg, pa);
    at_b = strstr(msg, pb);
    at_tree = strstr(msg, CNN_TEST_PLUGIN_ROOT
                     "/no_such_layer_zz/no_such_layer_zz.so");
    at_install = strstr(at_tree ? at_tree : msg, "/cnn/plugins/no_such_layer_zz.so");
    cr_assert(at_a && at_b && at_tree && at_install, "%s", msg);
    cr_assert(at_a < at_b && at_b < at_tree && at_tree < at_install, "%s",
              msg);
    cnn_context_destroy(ctx);
}

Test(registry, no_directories_at_all)
{
    cnn_context *ctx = ctx_with(NULL);
    const cnn_plugin *p = NULL;
    cr_assert_eq(cnn_plugin_get(ctx, "good", &p), CNN_ERR_NOT_FOUND);
    assert_has(cnn_context_message(ctx), "no plugin directories");
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
    char host[64];
    expect_refused("newer_minor", CNN_ERR_PLUGIN, "plugin ABI 1.2",
                   host_version(host, sizeof host), "newer minor", NULL);
}

Test(registry, struct_shorter_than_its_minor)
{
    char got[64], need[64];
    snprintf(got, sizeof got, "struct_size %zu",
             (size_t)CNN_LAYER_DESCRIPTOR_SIZE_1_0);
    snprintf(need, sizeof need, "the %zu bytes ABI 1.1 requires",
             (size_t)CNN_LAYER_DESCRIPTOR_SIZE_1_1);
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

/* tmp/<sub>/order.so, copied from the fixture order_<which>.so. */
static void place_order(const char *dir, const char *which)
{
    char from[4200], to[4300];
    snprintf(from, sizeof from, "%s/order_%s.so", FIXTURE, which);
    snprintf(to, sizeof to, "%s/order.so", dir);
    copy_file(from, to);
}

Test(registry, first_directory_wins)
{
    char a[4200], b[4200], want[4300];
    const cnn_plugin *p = NULL;
    cnn_context *ctx;
    tmp_dir("a", a, sizeof a);
    tmp_dir("b", b, sizeof b);
    place_order(a, "first");
    place_order(b, "second");

    ctx = ctx_with(a);
    cr_assert_eq(cnn_context_add_plugin_dir(ctx, b), CNN_OK);
    cr_assert_eq(cnn_plugin_get(ctx, "order", &p), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cr_assert_str_eq(cnn_plugin_descriptor(p)->summary, "first");
    snprintf(want, sizeof want, "%s/order.so", a);
    cr_assert_str_eq(cnn_plugin_path(p), want);
    cnn_context_destroy(ctx);

    ctx = ctx_with(b);
    cr_assert_eq(cnn_context_add_plugin_dir(ctx, a), CNN_OK);
    cr_assert_eq(cnn_plugin_get(ctx, "order", &p), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cr_assert_str_eq(cnn_plugin_descriptor(p)->summary, "second");
    cnn_context_destroy(ctx);
}

Test(registry, env_plugin_path)
{
    char a[4200];
    const cnn_plugin *p = NULL;
    cnn_context *ctx;
    tmp_dir("a", a, sizeof a);
    place_order(a, "first");
    cr_assert_eq(setenv("CNN_PLUGIN_PATH",
                        "/nonexistent/cnn-plugins::" FIXTURE, 1),
                 0);
    /* Not read unless asked for. */
    ctx = ctx_with(NULL);
    cr_assert_eq(cnn_plugin_get(ctx, "good", &p), CNN_ERR_NOT_FOUND);
    cr_assert_eq(cnn_context_use_env_plugin_path(ctx), CNN_OK);
    cr_assert_eq(cnn_plugin_get(ctx, "good", &p), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cr_assert_str_eq(cnn_plugin_path(p), FIXTURE "/good.so");
    cnn_context_destroy(ctx);

    /* A directory added first comes before the environment's. */
    ctx = ctx_with(a);
    cr_assert_eq(cnn_context_use_env_plugin_path(ctx), CNN_OK);
    cr_assert_eq(cnn_plugin_get(ctx, "order", &p), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cr_assert_str_eq(cnn_plugin_descriptor(p)->summary, "first");
    cr_assert_eq(cnn_plugin_get(ctx, "nothing_here", &p), CNN_ERR_NOT_FOUND);
    assert_has(cnn_context_message(ctx),
               "/nonexistent/cnn-plugins/nothing_here.so");
    assert_has(cnn_context_message(ctx), FIXTURE "/nothing_here.so");
    cnn_context_destroy(ctx);
}

Test(registry, search_dirs)
{
    cnn_context *ctx = ctx_with("/x/one");
    const char *dirs[8];
    cr_assert_eq(cnn_context_add_plugin_dir(ctx, "/x/two"), CNN_OK);
    cr_assert_eq(cnn_plugin_search_dirs(ctx, dirs, 8), 2);
    cr_assert_str_eq(dirs[0], "/x/one");
    cr_assert_str_eq(dirs[1], "/x/two");
    cnn_context_set_default_plugin_dirs(ctx, 1);
    cr_assert_eq(cnn_plugin_search_dirs(ctx, dirs, 1), 4,
                 "count even when capacity is short");
    cr_assert_str_eq(dirs[0], "/x/one");
    cr_assert_eq(cnn_plugin_search_dirs(ctx, dirs, 8), 4);
    cr_assert_str_eq(dirs[2], CNN_TEST_PLUGIN_ROOT);
    cr_assert_not_null(strstr(dirs[3], "cnn/plugins"));
    cnn_context_destroy(ctx);
}

Test(registry, open_file)
{
    cnn_context *ctx = ctx_with(NULL);
    const cnn_plugin *p = NULL, *q = NULL;
    cr_assert_eq(cnn_plugin_open_file(ctx, FIXTURE "/abi10.so", NULL, &p),
                 CNN_OK, "%s", cnn_context_message(ctx));
    cr_assert_str_eq(cnn_plugin_descriptor(p)->type_name, "abi10");
    cr_assert_eq(cnn_plugin_open_file(ctx, FIXTURE "/abi10.so", "good", &q),
                 CNN_ERR_PLUGIN);
    assert_has(cnn_context_message(ctx), "\"good\" was asked for");
    cr_assert_eq(cnn_plugin_open_file(ctx, FIXTURE "/nope.so", NULL, &q),
                 CNN_ERR_NOT_FOUND);
    assert_has(cnn_context_message(ctx), FIXTURE "/nope.so");
    cr_assert_eq(cnn_plugin_open_file(ctx, FIXTURE "/good.so", "Good", &q),
                 CNN_ERR_INVALID);
    /* A bare file name is the current directory, never the library path. */
    cr_assert_eq(chdir(FIXTURE), 0);
    cr_assert_eq(cnn_plugin_open_file(ctx, "good.so", "good", &q), CNN_OK,
                 "%s", cnn_context_message(ctx));
    cr_assert_str_eq(cnn_plugin_path(q), "./good.so");
    cnn_context_destroy(ctx);
}

/* Scan results in callback order. */
typedef struct seen {
    char type[80];
    char path[4300];
    char message[1100];
    int loaded;
    const char *summary;
} seen;

typedef struct seen_list {
    seen items[64];
    size_t count;
} seen_list;

static void record(void *user, const char *type_name, const char *path,
                   const cnn_plugin *plugin, const char *message)
{
    seen_list *list = user;
    seen *s;
    cr_assert_lt(list->count, 64);
    cr_assert((plugin == NULL) != (message == NULL),
              "exactly one of plugin and message");
    s = &list->items[list->count++];
    snprintf(s->type, sizeof s->type, "%s", type_name);
    snprintf(s->path, sizeof s->path, "%s", path);
    snprintf(s->message, sizeof s->message, "%s", message ? message : "");
    s->loaded = plugin != NULL;
    s->summary = plugin ? cnn_plugin_descriptor(plugin)->summary : NULL;
}

static const seen *find_seen(const seen_list *list, const char *type)
{
    const seen *found = NULL;
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].type, type) == 0) {
            cr_assert_null(found, "%s reported twice", type);
            found = &list->items[i];
        }
    cr_assert_not_null(found, "%s not reported", type);
    return found;
}

Test(registry, scan)
{
    char extra[4200], path[4300];
    seen_list *list = calloc(1, sizeof *list);
    cnn_context *ctx = ctx_with(FIXTURE);
    const seen *s;
    cr_assert_not_null(list);
    tmp_dir("extra", extra, sizeof extra);
    place_order(extra, "second");
    snprintf(path, sizeof path, "%s/junk.so", extra);
    write_text(path, "not ELF");
    snprintf(path, sizeof path, "%s/Bad-Name.so", extra);
    write_text(path, "not ELF either");
    snprintf(path, sizeof path, "%s/good.so", extra); /* shadowed */
    write_text(path, "never loaded");
    snprintf(path, sizeof path, "%s/readme.txt", extra);
    write_text(path, "not a plugin");
    cr_assert_eq(cnn_context_add_plugin_dir(ctx, extra), CNN_OK);

    cr_assert_eq(cnn_plugin_scan(ctx, record, list), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cr_assert_eq(cnn_context_status(ctx), CNN_OK, "scan leaves no error");
    /* 19 fixtures built from fixture.c, abi10, and from extra: order,
     * junk, Bad-Name; good there is shadowed. */
    cr_assert_eq(list->count, 23, "got %zu", list->count);
    for (size_t i = 1; i < list->count; i++)
        cr_assert_lt(strcmp(list->items[i - 1].type, list->items[i].type), 0,
                     "not sorted: %s, %s", list->items[i - 1].type,
                     list->items[i].type);

    s = find_seen(list, "good");
    cr_assert(s->loaded);
    cr_assert_str_eq(s->path, FIXTURE "/good.so");
    s = find_seen(list, "abi10");
    cr_assert(s->loaded);
    s = find_seen(list, "order");
    cr_assert(s->loaded);
    cr_assert_str_eq(s->summary, "second");
    s = find_seen(list, "junk");
    cr_assert_not(s->loaded);
    assert_has(s->message, "cannot load plugin");
    assert_has(s->message, "/junk.so");
    s = find_seen(list, "Bad-Name");
    cr_assert_not(s->loaded);
    assert_has(s->message, "not <type>.so with a valid type name");
    s = find_seen(list, "wrong_major");
    cr_assert_not(s->loaded);
    assert_has(s->message, "plugin ABI 2.0");
    assert_has(s->message, FIXTURE "/wrong_major.so");
    s = find_seen(list, "order_first");
    cr_assert_not(s->loaded);
    assert_has(s->message, "\"order_first\" was asked for");
    s = find_seen(list, "hp_duplicate");
    cr_assert_not(s->loaded);
    assert_has(s->message, "declared twice");

    /* The scan's plugins are the registry's. */
    {
        const cnn_plugin *p = NULL;
        cr_assert_eq(cnn_plugin_get(ctx, "good", &p), CNN_OK);
        cr_assert_str_eq(cnn_plugin_path(p), FIXTURE "/good.so");
    }
    cnn_context_destroy(ctx);
    free(list);
}
