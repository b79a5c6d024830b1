/* SPDX-License-Identifier: MIT */
/* Discovery: the search directories in order, and a listing of every plugin
 * they hold. cnn_plugin_scan loads each one (for `cnnrun plugins`, the one
 * place that does); cnn_plugin_list_types only reads file names, for
 * suggestions and anything else that must not run plugin code. Loading
 * goes through the registry, so a listed plugin is the same object
 * cnn_plugin_get would return, after the same trust checks. */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cnn/plugin.h"
#include "context_internal.h"

#ifndef CNN_BUILD_PLUGIN_ROOT
#error "CNN_BUILD_PLUGIN_ROOT is defined by core/meson.build"
#endif
#ifndef CNN_INSTALL_PLUGIN_DIR
#error "CNN_INSTALL_PLUGIN_DIR is defined by core/meson.build"
#endif

size_t cnn_plugin_search_dirs(cnn_context *ctx, const char **dirs,
                              size_t capacity)
{
    size_t n_explicit = cnn_context_plugin_dir_count(ctx);
    const char *defaults[2];
    int tree[2];
    size_t n_defaults = cnn_context_default_plugin_dirs(ctx)
                            ? cnn_default_plugin_dirs(defaults, tree)
                            : 0;
    size_t total = n_explicit + n_defaults;
    for (size_t i = 0; i < total && i < capacity; i++)
        dirs[i] = i < n_explicit ? cnn_context_plugin_dir(ctx, i)
                                 : defaults[i - n_explicit];
    return total;
}

typedef struct candidate {
    char *type;
    char *path;
    size_t order;    /* position in search order: the lowest wins */
    int user_folder; /* from --plugin-dir or CNN_PLUGIN_PATH */
} candidate;

typedef struct candidate_list {
    candidate *items;
    size_t count;
    size_t capacity;
} candidate_list;

static void candidates_free(candidate_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].type);
        free(list->items[i].path);
    }
    free(list->items);
}

/* "<a><b><c><d>" in a new buffer, or NULL. */
static char *join4(const char *a, const char *b, const char *c, const char *d)
{
    const char *parts[4] = {a, b, c, d};
    size_t total = 1, at = 0;
    char *s;
    for (int i = 0; i < 4; i++) {
        size_t n = strlen(parts[i]);
        if (n > SIZE_MAX - total)
            return NULL;
        total += n;
    }
    s = malloc(total);
    if (!s)
        return NULL;
    for (int i = 0; i < 4; i++) {
        size_t n = strlen(parts[i]);
        memcpy(s + at, parts[i], n);
        at += n;
    }
    s[at] = '\0';
    return s;
}

static cnn_status candidates_add(cnn_context *ctx, candidate_list *list,
                                 const char *type, size_t type_len,
                                 char *path)
{
    candidate *c;
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 32;
        candidate *grown;
        if (capacity > SIZE_MAX / sizeof *grown)
            goto nomem;
        grown = realloc(list->items, capacity * sizeof *grown);
        if (!grown)
            goto nomem;
        list->items = grown;
        list->capacity = capacity;
    }
    c = &list->items[list->count];
    c->type = malloc(type_len + 1);
    if (!c->type)
        goto nomem;
    memcpy(c->type, type, type_len);
    c->type[type_len] = '\0';
    c->path = path;
    c->user_folder = 0;
    c->order = list->count++;
    return CNN_OK;
nomem:
    free(path);
    return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
}

static int is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Adds "<dir>/<x>.so" for each such regular file; a missing or unreadable
 * directory holds nothing. Names that are not valid types are listed too,
 * so the scan can report them instead of hiding them. */
static cnn_status collect_flat(cnn_context *ctx, candidate_list *list,
                               const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    cnn_status st = CNN_OK;
    size_t len = strlen(dir);
    const char *sep = len && dir[len - 1] == '/' ? "" : "/";
    if (!d) {
        cnn_log(ctx, CNN_LOG_DEBUG, "plugin directory %s cannot be read",
                dir);
        return CNN_OK;
    }
    while (st == CNN_OK && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        char *path;
        if (n <= 3 || strcmp(e->d_name + n - 3, ".so") != 0)
            continue;
        path = join4(dir, sep, e->d_name, "");
        if (!path) {
            st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
            break;
        }
        if (!is_regular_file(path)) {
            free(path);
            continue;
        }
        st = candidates_add(ctx, list, e->d_name, n - 3, path);
    }
    closedir(d);
    return st;
}

/* Adds "<root>/<type>/<type>.so" for each valid type folder of the build
 * tree; other folders are not plugins and are skipped. */
static cnn_status collect_tree(cnn_context *ctx, candidate_list *list,
                               const char *root)
{
    DIR *d = opendir(root);
    struct dirent *e;
    cnn_status st = CNN_OK;
    if (!d)
        return CNN_OK;
    while (st == CNN_OK && (e = readdir(d)) != NULL) {
        char *sub, *path;
        if (!cnn_plugin_name_valid(e->d_name))
            continue;
        sub = join4(root, "/", e->d_name, "/");
        path = sub ? join4(sub, e->d_name, ".so", "") : NULL;
        free(sub);
        if (!path) {
            st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
            break;
        }
        if (!is_regular_file(path)) {
            free(path);
            continue;
        }
        st = candidates_add(ctx, list, e->d_name, strlen(e->d_name), path);
    }
    closedir(d);
    return st;
}

static int candidate_cmp(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    int c = strcmp(x->type, y->type);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Every candidate file of the search folders, sorted by (type, order). */
static cnn_status collect_all(cnn_context *ctx, candidate_list *list)
{
    size_t n_explicit = cnn_context_plugin_dir_count(ctx);
    cnn_status st = CNN_OK;
    for (size_t i = 0; st == CNN_OK && i < n_explicit; i++)
        st = collect_flat(ctx, list, cnn_context_plugin_dir(ctx, i));
    for (size_t i = 0; i < list->count; i++)
        list->items[i].user_folder = 1;
    if (st == CNN_OK && cnn_context_default_plugin_dirs(ctx)) {
        const char *defaults[2];
        int tree[2];
        size_t n_defaults = cnn_default_plugin_dirs(defaults, tree);
        for (size_t i = 0; st == CNN_OK && i < n_defaults; i++)
            st = tree[i] ? collect_tree(ctx, list, defaults[i])
                         : collect_flat(ctx, list, defaults[i]);
    }
    if (st == CNN_OK && list->count > 1)
        qsort(list->items, list->count, sizeof *list->items, candidate_cmp);
    return st;
}

/* Sorted by (type, order): the first of a run is the one a get would
 * find; the rest are shadowed, and never loaded, just as cnn_plugin_get
 * would never load them. A user folder's type shadowing a built-in one is
 * said aloud, as cnn_plugin_get says it. */
static int shadowed(cnn_context *ctx, const candidate_list *list, size_t i)
{
    const candidate *c = &list->items[i];
    size_t first = i;
    if (i == 0 || strcmp(c->type, list->items[i - 1].type) != 0)
        return 0;
    while (first > 0 && strcmp(list->items[first - 1].type, c->type) == 0)
        first--;
    if (list->items[first].user_folder && !c->user_folder &&
        (i == first + 1 || list->items[i - 1].user_folder))
        cnn_log(ctx, CNN_LOG_WARN,
                "layer type '%s' from %s overrides the built-in %s", c->type,
                list->items[first].path, c->path);
    return 1;
}

cnn_status cnn_plugin_list_types(cnn_context *ctx, cnn_plugin_list_fn fn,
                                 void *user)
{
    candidate_list list = {NULL, 0, 0};
    cnn_status st;
    if (!ctx || !fn)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "cnn_plugin_list_types: NULL argument");
    st = collect_all(ctx, &list);
    for (size_t i = 0; st == CNN_OK && i < list.count; i++) {
        const candidate *c = &list.items[i];
        if ((i > 0 && strcmp(c->type, list.items[i - 1].type) == 0) ||
            !cnn_plugin_name_valid(c->type))
            continue;
        fn(user, c->type, c->path);
    }
    candidates_free(&list);
    return st;
}

cnn_status cnn_plugin_scan(cnn_context *ctx, cnn_plugin_scan_fn fn,
                           void *user)
{
    candidate_list list = {NULL, 0, 0};
    cnn_status st;
    if (!ctx || !fn)
        return cnn_fail(ctx, CNN_ERR_INVALID, "cnn_plugin_scan: NULL argument");
    st = collect_all(ctx, &list);
    if (st != CNN_OK) {
        candidates_free(&list);
        return st;
    }
    for (size_t i = 0; i < list.count; i++) {
        const candidate *c = &list.items[i];
        const cnn_plugin *plugin = NULL;
        char message[CNN_MESSAGE_MAX];
        if (shadowed(ctx, &list, i))
            continue;
        if (!cnn_plugin_name_valid(c->type)) {
            snprintf(message, sizeof message,
                     "%s: file name is not <type>.so with a valid type name "
                     "([a-z][a-z0-9_]{0,63})",
                     c->path);
            fn(user, c->type, c->path, NULL, message);
            continue;
        }
        if (cnn_plugin_open_file(ctx, c->path, c->type, &plugin) == CNN_OK) {
            fn(user, c->type, c->path, plugin, NULL);
            continue;
        }
        if (cnn_context_status(ctx) == CNN_ERR_NOMEM) {
            st = CNN_ERR_NOMEM;
            break;
        }
        snprintf(message, sizeof message, "%s", cnn_context_message(ctx));
        cnn_context_clear_error(ctx);
        fn(user, c->type, c->path, NULL, message);
    }
    candidates_free(&list);
    return st;
}
