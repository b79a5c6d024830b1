/* SPDX-License-Identifier: MIT */
/* Discovery: search order, CNN_PLUGIN_PATH, the list of directories, loading
 * by path, and the scan behind `cnnrun plugins`. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry_util.h"

TestSuite(search, .init = make_tmp, .fini = drop_tmp);

Test(search, missing_plugin_lists_every_path_in_order)
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
    at_install = strstr(at_tree ? at_tree : msg,
                        "/cnn/plugins/no_such_layer_zz.so");
    cr_assert(at_a && at_b && at_tree && at_install, "%s", msg);
    cr_assert(at_a < at_b && at_b < at_tree && at_tree < at_install, "%s",
              msg);
    cnn_context_destroy(ctx);
}

Test(search, no_directories_at_all)
{
    cnn_context *ctx = ctx_with(NULL);
    const cnn_plugin *p = NULL;
    cr_assert_eq(cnn_plugin_get(ctx, "good", &p), CNN_ERR_NOT_FOUND);
    assert_has(cnn_context_message(ctx), "no plugin directories");
    cnn_context_destroy(ctx);
}

Test(search, first_directory_wins)
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

Test(search, env_plugin_path)
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

Test(search, search_dirs)
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

Test(search, open_file)
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

Test(search, scan)
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
    /* 21 fixtures built from fixture.c, abi10, and from extra: order,
     * junk, Bad-Name; good there is shadowed. */
    cr_assert_eq(list->count, 25, "got %zu", list->count);
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
