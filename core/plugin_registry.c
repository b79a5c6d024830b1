/* SPDX-License-Identifier: MIT */
/* The plugin registry: resolves a type name to "<dir>/<type>.so", loads it
 * with dlopen(RTLD_NOW | RTLD_LOCAL), checks the descriptor before trusting
 * any field, and caches the result on the context. Directory listing lives in
 * plugin_scan.c. */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cnn/plugin.h"
#include "context_internal.h"
#include "hook_site_internal.h"
#include "plugin_trust.h"

#ifndef CNN_BUILD_PLUGIN_ROOT
#error "CNN_BUILD_PLUGIN_ROOT is defined by core/meson.build"
#endif
#ifndef CNN_INSTALL_PLUGIN_DIR
#error "CNN_INSTALL_PLUGIN_DIR is defined by core/meson.build"
#endif

struct cnn_plugin {
    char *path;
    void *handle;
    uint32_t abi_version;
    /* Resolved by cnn_plugin_get for the current search directories, so a
     * later get for the same type needs no filesystem access. */
    int resolved;
    cnn_layer_descriptor desc; /* the host's zero-extended copy */
};

struct cnn_plugin_cache {
    cnn_plugin **items;
    size_t count;
    size_t capacity;
    /* Directories only ever get appended, so the count and the defaults flag
     * identify the search order that `resolved` refers to. */
    size_t resolved_dirs;
    int resolved_defaults;
};

/* Bytes a descriptor must span for each minor version of major 1. */
static const size_t descriptor_size_for_minor[] = {
    CNN_LAYER_DESCRIPTOR_SIZE_1_0,
    CNN_LAYER_DESCRIPTOR_SIZE_1_1,
    CNN_LAYER_DESCRIPTOR_SIZE_1_2,
    CNN_LAYER_DESCRIPTOR_SIZE_1_3,
    CNN_LAYER_DESCRIPTOR_SIZE_1_4,
    CNN_LAYER_DESCRIPTOR_SIZE_1_5,
};

/* ABI 1.2 put init_value in cnn_param_spec's tail padding: a 1.1 plugin's
 * array of specs must keep its stride. */
_Static_assert(offsetof(cnn_param_spec, init_value) ==
                       offsetof(cnn_param_spec, flags) + sizeof(uint32_t) &&
                   sizeof(cnn_param_spec) ==
                       ((offsetof(cnn_param_spec, flags) + sizeof(uint32_t) +
                         _Alignof(cnn_param_spec) - 1) &
                        ~(_Alignof(cnn_param_spec) - 1)),
               "cnn_param_spec keeps its ABI 1.1 size");

_Static_assert(sizeof descriptor_size_for_minor /
                       sizeof descriptor_size_for_minor[0] ==
                   CNN_LAYER_ABI_MINOR + 1,
               "one minimum size per minor version");

int cnn_plugin_name_valid(const char *name)
{
    size_t i;
    if (!name || name[0] < 'a' || name[0] > 'z')
        return 0;
    /* Stops at the first bad byte, so an unterminated string from a plugin
     * is never read further than 65 bytes. */
    for (i = 1; name[i]; i++) {
        char c = name[i];
        if (i >= CNN_NAME_MAX - 1)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

void cnn_plugin_cache_free(struct cnn_plugin_cache *cache)
{
    if (!cache)
        return;
    for (size_t i = 0; i < cache->count; i++) {
        cnn_plugin *p = cache->items[i];
        if (p->handle)
            dlclose(p->handle);
        free(p->path);
        free(p);
    }
    free(cache->items);
    free(cache);
}

static struct cnn_plugin_cache *cache_of(cnn_context *ctx)
{
    struct cnn_plugin_cache **slot = cnn_context_plugin_cache(ctx);
    if (!*slot)
        *slot = calloc(1, sizeof **slot);
    return *slot;
}

static cnn_plugin *cache_find_path(struct cnn_plugin_cache *cache,
                                   const char *path)
{
    for (size_t i = 0; i < cache->count; i++)
        if (strcmp(cache->items[i]->path, path) == 0)
            return cache->items[i];
    return NULL;
}

static cnn_status cache_add(cnn_context *ctx, struct cnn_plugin_cache *cache,
                            cnn_plugin *plugin)
{
    if (cache->count == cache->capacity) {
        size_t capacity = cache->capacity ? cache->capacity * 2 : 16;
        cnn_plugin **grown;
        if (capacity > SIZE_MAX / sizeof *grown)
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        grown = realloc(cache->items, capacity * sizeof *grown);
        if (!grown)
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        cache->items = grown;
        cache->capacity = capacity;
    }
    cache->items[cache->count++] = plugin;
    return CNN_OK;
}

/* "<a><b><c>" in a new buffer, or NULL when memory is exhausted. */
static char *concat3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s;
    if (la > SIZE_MAX - 1 - lb || la + lb > SIZE_MAX - 1 - lc)
        return NULL;
    s = malloc(la + lb + lc + 1);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc + 1);
    return s;
}

static int is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Bounds in messages: integers without a fraction, others as %g. */
static void format_bound(double v, char *buf, size_t size)
{
    if (isfinite(v) && v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, size, "%.0f", v);
    else
        snprintf(buf, size, "%g", v);
}

static int is_int_valued(double v)
{
    return isfinite(v) && v == floor(v) && fabs(v) <= 9007199254740992.0;
}

static cnn_status check_hparam(cnn_context *ctx, const char *path,
                               const cnn_layer_descriptor *d, uint32_t index)
{
    const cnn_hparam_spec *s = &d->hparams[index];
    char lo[32], hi[32], def[32];
    if (!cnn_plugin_name_valid(s->name))
        return cnn_fail(ctx, CNN_ERR_PLUGIN,
                        "plugin %s: hyperparameter %u has an invalid name "
                        "\"%.64s\" (expected [a-z][a-z0-9_]{0,63})",
                        path, index, s->name ? s->name : "(null)");
    for (uint32_t j = 0; j < index; j++)
        if (strcmp(d->hparams[j].name, s->name) == 0)
            return cnn_fail(ctx, CNN_ERR_PLUGIN,
                            "plugin %s: hyperparameter %s is declared twice "
                            "(entries %u and %u)",
                            path, s->name, j, index);
    format_bound(s->min_value, lo, sizeof lo);
    format_bound(s->max_value, hi, sizeof hi);
    format_bound(s->default_value, def, sizeof def);
    switch (s->kind) {
    case CNN_HP_INT:
    case CNN_HP_INT2:
    case CNN_HP_PADDING:
    case CNN_HP_FLOAT:
        if (isnan(s->min_value) || isnan(s->max_value) ||
            s->min_value > s->max_value)
            return cnn_fail(ctx, CNN_ERR_PLUGIN,
                            "plugin %s: hyperparameter %s has min %s > max %s",
                            path, s->name, lo, hi);
        if (s->required)
            break;
        if (s->kind != CNN_HP_FLOAT && !is_int_valued(s->default_value))
            return cnn_fail(ctx, CNN_ERR_PLUGIN,
                            "plugin %s: hyperparameter %s has default %s, "
                            "which is not an integer",
                            path, s->name, def);
        if (!isfinite(s->default_value) || s->default_value < s->min_value ||
            s->default_value > s->max_value)
            return cnn_fail(ctx, CNN_ERR_PLUGIN,
                            "plugin %s: hyperparameter %s has default %s "
                            "outside its bounds [%s, %s]",
                            path, s->name, def, lo, hi);
        break;
    case CNN_HP_BOOL:
        if (!s->required && s->default_value != 0.0 &&
            s->default_value != 1.0)
            return cnn_fail(ctx, CNN_ERR_PLUGIN,
                            "plugin %s: hyperparameter %s has boolean default "
                            "%s (expected 0 or 1)",
                            path, s->name, def);
        break;
    case CNN_HP_ENUM: {
        size_t n = 0;
        if (!s->choices || !s->choices[0])
            return cnn_fail(ctx, CNN_ERR_PLUGIN,
                            "plugin %s: hyperparameter %s is an ENUM without "
                            "choices",
                            path, s->name);
        for (; s->choices[n]; n++) {
            if (!s->choices[n][0])
                return cnn_fail(ctx, CNN_ERR_PLUGIN,
                                "plugin %s: hyperparameter %s has an empty "
                                "choice at index %zu",
                                path, s->name, n);
            for (size_t k = 0; k < n; k++)
                if (strcmp(s->choices[k], s->choices[n]) == 0)
                    return cnn_fail(ctx, CNN_ERR_PLUGIN,
                                    "plugin %s: hyperparameter %s lists "
                                    "choice \"%s\" twice",
                                    path, s->name, s->choices[n]);
        }
        if (!s->required &&
            (!is_int_valued(s->default_value) || s->default_value < 0 ||
             s->default_value >= (double)n))
            return cnn_fail(ctx, CNN_ERR_PLUGIN,
                            "plugin %s: hyperparameter %s has default index "
                            "%s out of range for its %zu choices",
                            path, s->name, def, n);
        break;
    }
    default:
        return cnn_fail(ctx, CNN_ERR_PLUGIN,
                        "plugin %s: hyperparameter %s has unknown kind %d",
                        path, s->name, (int)s->kind);
    }
    return CNN_OK;
}

/* Everything the host relies on before any hook runs. d is the host copy. */
static cnn_status check_descriptor(cnn_context *ctx, const char *path,
                                   const cnn_layer_descriptor *d,
                                   const char *expected_type)
{
    if (!d->type_name)
        return cnn_fail(ctx, CNN_ERR_PLUGIN,
                        "plugin %s: descriptor type_name is NULL", path);
    if (!cnn_plugin_name_valid(d->type_name))
        return cnn_fail(ctx, CNN_ERR_PLUGIN,
                        "plugin %s: type name \"%.64s\" is not valid "
                        "(expected [a-z][a-z0-9_]{0,63})",
                        path, d->type_name);
    if (expected_type && strcmp(d->type_name, expected_type) != 0)
        return cnn_fail(ctx, CNN_ERR_PLUGIN,
                        "plugin %s: declares type name \"%s\" but \"%s\" was "
                        "asked for",
                        path, d->type_name, expected_type);
    if (!d->infer_shape || !d->forward || !d->backward ||
        (d->create && !d->destroy))
        return cnn_fail(ctx, CNN_ERR_PLUGIN,
                        "plugin %s: required hook %s is NULL%s", path,
                        !d->infer_shape ? "infer_shape"
                        : !d->forward   ? "forward"
                        : !d->backward  ? "backward"
                                        : "destroy",
                        (d->infer_shape && d->forward && d->backward)
                            ? " (required when create is set)"
                            : "");
    if (d->max_inputs < 1 || d->min_inputs > d->max_inputs)
        return cnn_fail(ctx, CNN_ERR_PLUGIN,
                        "plugin %s: min_inputs %u and max_inputs %u are not a "
                        "valid range (need 1 <= max_inputs, min <= max)",
                        path, d->min_inputs, d->max_inputs);
    if (d->n_hparams && !d->hparams)
        return cnn_fail(ctx, CNN_ERR_PLUGIN,
                        "plugin %s: declares %u hyperparameters but the "
                        "table is NULL",
                        path, d->n_hparams);
    for (uint32_t i = 0; i < d->n_hparams; i++) {
        cnn_status st = check_hparam(ctx, path, d, i);
        if (st != CNN_OK)
            return st;
    }
    return CNN_OK;
}

/* Reads the version and size (and nothing else) from the plugin's memory,
 * then copies only the bytes its declared size covers. */
static cnn_status copy_descriptor(cnn_context *ctx, const char *path,
                                  const void *raw, cnn_plugin *plugin)
{
    uint32_t version, size, major, minor;
    memcpy(&version, (const char *)raw +
                         offsetof(cnn_layer_descriptor, abi_version),
           sizeof version);
    memcpy(&size, (const char *)raw +
                      offsetof(cnn_layer_descriptor, struct_size),
           sizeof size);
    major = CNN_LAYER_ABI_MAJOR_OF(version);
    minor = CNN_LAYER_ABI_MINOR_OF(version);
    if (major != CNN_LAYER_ABI_MAJOR)
        return cnn_fail(ctx, CNN_ERR_PLUGIN,
                        "plugin %s: plugin ABI %u.%u, host supports %u.%u "
                        "(different major version; rebuild the plugin)",
                        path, major, minor, CNN_LAYER_ABI_MAJOR,
                        CNN_LAYER_ABI_MINOR);
    if (minor > CNN_LAYER_ABI_MINOR)
        return cnn_fail(ctx, CNN_ERR_PLUGIN,
                        "plugin %s: plugin ABI %u.%u, host supports %u.%u "
                        "(newer minor version; upgrade the host)",
                        path, major, minor, CNN_LAYER_ABI_MAJOR,
                        CNN_LAYER_ABI_MINOR);
    if (size < descriptor_size_for_minor[minor])
        return cnn_fail(ctx, CNN_ERR_PLUGIN,
                        "plugin %s: descriptor struct_size %u is shorter than "
                        "the %zu bytes ABI %u.%u requires",
                        path, size, descriptor_size_for_minor[minor], major,
                        minor);
    /* Only the fields the declared minor defines: a newer field is NULL
     * even when a plugin declares 1.0 but spans the whole current struct,
     * since it never promised that field's meaning. */
    memset(&plugin->desc, 0, sizeof plugin->desc);
    memcpy(&plugin->desc, raw,
           size < descriptor_size_for_minor[minor]
               ? size
               : descriptor_size_for_minor[minor]);
    plugin->abi_version = version;
    return CNN_OK;
}

/* dlopens path (which must exist) and validates it; on success *out is a new
 * plugin not yet in the cache. */
static cnn_status load_file(cnn_context *ctx, const char *path,
                            const char *expected_type, cnn_plugin **out)
{
    cnn_plugin *plugin;
    cnn_layer_entry_fn entry;
    const cnn_layer_descriptor *raw;
    void *sym;
    cnn_status st;
    cnn_hook_site site = {NULL, expected_type, NULL, "load"};
    const cnn_hook_site *prev;

    plugin = calloc(1, sizeof *plugin);
    if (!plugin)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    plugin->path = strdup(path);
    if (!plugin->path) {
        free(plugin);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    /* Before dlopen, which runs the file's constructors: code that someone
     * else could have written is never run. */
    st = cnn_plugin_trust_file(ctx, path);
    if (st != CNN_OK)
        goto fail;
    (void)dlerror();
    /* dlopen runs the plugin's constructors and the entry runs its code:
     * a crash in either is reported against the file. */
    site.plugin = plugin->path;
    prev = cnn_hook_site_enter(&site);
    plugin->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    cnn_hook_site_leave(prev);
    if (!plugin->handle) {
        const char *why = dlerror();
        st = cnn_fail(ctx, CNN_ERR_PLUGIN, "cannot load plugin %s: %s", path,
                      why ? why : "dlopen failed");
        goto fail;
    }
    (void)dlerror();
    sym = dlsym(plugin->handle, CNN_LAYER_ENTRY_SYMBOL);
    if (!sym) {
        st = cnn_fail(ctx, CNN_ERR_PLUGIN,
                      "plugin %s does not export the entry symbol %s", path,
                      CNN_LAYER_ENTRY_SYMBOL);
        goto fail;
    }
    /* POSIX guarantees data and function pointers convert; ISO C does not,
     * so copy the bits rather than cast. */
    _Static_assert(sizeof entry == sizeof sym, "function pointer size");
    memcpy(&entry, &sym, sizeof entry);
    prev = cnn_hook_site_enter(&site);
    raw = entry();
    cnn_hook_site_leave(prev);
    if (!raw) {
        st = cnn_fail(ctx, CNN_ERR_PLUGIN,
                      "plugin %s: entry %s returned NULL", path,
                      CNN_LAYER_ENTRY_SYMBOL);
        goto fail;
    }
    st = copy_descriptor(ctx, path, raw, plugin);
    if (st != CNN_OK)
        goto fail;
    st = check_descriptor(ctx, path, &plugin->desc, expected_type);
    if (st != CNN_OK)
        goto fail;
    cnn_log(ctx, CNN_LOG_DEBUG, "loaded plugin %s (ABI %u.%u) from %s",
            plugin->desc.type_name, CNN_LAYER_ABI_MAJOR_OF(plugin->abi_version),
            CNN_LAYER_ABI_MINOR_OF(plugin->abi_version), path);
    *out = plugin;
    return CNN_OK;
fail:
    if (plugin->handle)
        dlclose(plugin->handle);
    free(plugin->path);
    free(plugin);
    return st;
}

/* Cached plugin for path, or a freshly loaded one added to the cache. */
static cnn_status open_path(cnn_context *ctx, const char *path,
                            const char *expected_type, cnn_plugin **out)
{
    struct cnn_plugin_cache *cache = cache_of(ctx);
    cnn_plugin *plugin;
    cnn_status st;
    if (!cache)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    plugin = cache_find_path(cache, path);
    if (plugin) {
        if (expected_type && strcmp(plugin->desc.type_name, expected_type))
            return cnn_fail(ctx, CNN_ERR_PLUGIN,
                            "plugin %s: declares type name \"%s\" but \"%s\" "
                            "was asked for",
                            path, plugin->desc.type_name, expected_type);
        *out = plugin;
        return CNN_OK;
    }
    st = load_file(ctx, path, expected_type, &plugin);
    if (st != CNN_OK)
        return st;
    st = cache_add(ctx, cache, plugin);
    if (st != CNN_OK) {
        dlclose(plugin->handle);
        free(plugin->path);
        free(plugin);
        return st;
    }
    *out = plugin;
    return CNN_OK;
}

cnn_status cnn_plugin_open_file(cnn_context *ctx, const char *path,
                                const char *expected_type,
                                const cnn_plugin **out)
{
    cnn_plugin *plugin = NULL;
    char *local = NULL;
    cnn_status st;
    if (!ctx || !out)
        return cnn_fail(ctx, CNN_ERR_INVALID, "cnn_plugin_open_file: NULL "
                                              "argument");
    *out = NULL;
    if (!path || !*path)
        return cnn_fail(ctx, CNN_ERR_INVALID, "empty plugin path");
    if (expected_type && !cnn_plugin_name_valid(expected_type))
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "invalid layer type name \"%.64s\" (expected "
                        "[a-z][a-z0-9_]{0,63})",
                        expected_type);
    if (!is_regular_file(path))
        return cnn_fail(ctx, CNN_ERR_NOT_FOUND,
                        "no such plugin file %s (or not a regular file)",
                        path);
    /* Without a slash dlopen would search the library path instead. */
    if (!strchr(path, '/')) {
        local = concat3("./", path, "");
        if (!local)
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        path = local;
    }
    st = open_path(ctx, path, expected_type, &plugin);
    free(local);
    if (st == CNN_OK)
        *out = plugin;
    return st;
}

/* Appends s to buf at *used, truncating quietly. */
static void append(char *buf, size_t size, size_t *used, const char *s)
{
    int n;
    if (*used >= size)
        return;
    n = snprintf(buf + *used, size - *used, "%s", s);
    if (n > 0)
        *used += (size_t)n < size - *used ? (size_t)n : size - *used - 1;
}

/* "<dir>/<type>.so", or "<dir>/<type>/<type>.so" in the build tree. */
static char *candidate_path(const char *dir, const char *type, int build_tree)
{
    size_t len = strlen(dir);
    const char *sep = len && dir[len - 1] == '/' ? "" : "/";
    char *head = concat3(dir, sep, type);
    char *path = NULL;
    if (head && build_tree) {
        char *sub = concat3(head, "/", type);
        free(head);
        head = sub;
    }
    if (head)
        path = concat3(head, ".so", "");
    free(head);
    return path;
}

/* A type found in a folder the user named that the built-in folders have
 * too: the user's wins (that is what --plugin-dir is for), but never
 * silently, so a stray relu.so in CNN_PLUGIN_PATH cannot pass unseen. */
static void warn_override(cnn_context *ctx, const char *type, const char *path,
                          const char *const *dirs, const int *tree, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *builtin = candidate_path(dirs[i], type, tree[i]);
        int exists = builtin && is_regular_file(builtin);
        if (exists)
            cnn_log(ctx, CNN_LOG_WARN,
                    "layer type '%s' from %s overrides the built-in %s", type,
                    path, builtin);
        free(builtin);
        if (exists)
            return;
    }
}

cnn_status cnn_plugin_get(cnn_context *ctx, const char *type_name,
                          const cnn_plugin **out)
{
    char tried[CNN_MESSAGE_MAX];
    size_t used = 0, n_explicit, n_dirs;
    const char *default_dirs[2];
    int default_tree[2];
    int defaults;
    struct cnn_plugin_cache *cache;
    if (!ctx || !out)
        return cnn_fail(ctx, CNN_ERR_INVALID, "cnn_plugin_get: NULL argument");
    *out = NULL;
    /* Checked before anything touches the filesystem: a name is never a
     * path. */
    if (!cnn_plugin_name_valid(type_name))
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "invalid layer type name \"%.64s%s\" (expected "
                        "[a-z][a-z0-9_]{0,63})",
                        type_name ? type_name : "(null)",
                        type_name && strlen(type_name) > 64 ? "..." : "");
    cache = cache_of(ctx);
    if (!cache)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    n_explicit = cnn_context_plugin_dir_count(ctx);
    defaults = cnn_context_default_plugin_dirs(ctx);
    if (cache->resolved_dirs != n_explicit ||
        cache->resolved_defaults != defaults) {
        for (size_t i = 0; i < cache->count; i++)
            cache->items[i]->resolved = 0;
        cache->resolved_dirs = n_explicit;
        cache->resolved_defaults = defaults;
    }
    for (size_t i = 0; i < cache->count; i++)
        if (cache->items[i]->resolved &&
            strcmp(cache->items[i]->desc.type_name, type_name) == 0) {
            *out = cache->items[i];
            return CNN_OK;
        }

    tried[0] = '\0';
    n_dirs = n_explicit +
             (defaults ? cnn_default_plugin_dirs(default_dirs, default_tree) : 0);
    for (size_t i = 0; i < n_dirs; i++) {
        const char *dir = i < n_explicit ? cnn_context_plugin_dir(ctx, i)
                                         : default_dirs[i - n_explicit];
        int build_tree = i >= n_explicit && default_tree[i - n_explicit];
        char *path;
        /* A folder others may write is refused whether or not it holds
         * this type: what it holds today says nothing about tomorrow. */
        cnn_status trust = cnn_plugin_trust_dir(ctx, dir);
        if (trust != CNN_OK)
            return trust;
        path = candidate_path(dir, type_name, build_tree);
        if (!path)
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        /* Only an existing file reaches dlopen, so a missing plugin gets the
         * list of paths rather than the loader's error for one of them. */
        if (is_regular_file(path)) {
            cnn_plugin *plugin = NULL;
            cnn_status st = open_path(ctx, path, type_name, &plugin);
            if (st == CNN_OK && i < n_explicit && defaults)
                warn_override(ctx, type_name, path, default_dirs, default_tree,
                              n_dirs - n_explicit);
            free(path);
            if (st != CNN_OK)
                return st;
            plugin->resolved = 1;
            *out = plugin;
            return CNN_OK;
        }
        append(tried, sizeof tried, &used, used ? ", " : "");
        append(tried, sizeof tried, &used, path);
        free(path);
    }
    if (!used)
        return cnn_fail(ctx, CNN_ERR_NOT_FOUND,
                        "no plugin for layer type \"%s\": no plugin "
                        "directories to search",
                        type_name);
    return cnn_fail(ctx, CNN_ERR_NOT_FOUND,
                    "no plugin for layer type \"%s\"; tried %s", type_name,
                    tried);
}

const cnn_layer_descriptor *cnn_plugin_descriptor(const cnn_plugin *plugin)
{
    return plugin ? &plugin->desc : NULL;
}

const char *cnn_plugin_path(const cnn_plugin *plugin)
{
    return plugin ? plugin->path : NULL;
}

uint32_t cnn_plugin_abi_version(const cnn_plugin *plugin)
{
    return plugin ? plugin->abi_version : 0;
}

int cnn_descriptor_hparam_index(const cnn_layer_descriptor *desc,
                                const char *name)
{
    if (!desc || !name || !desc->hparams)
        return -1;
    for (uint32_t i = 0; i < desc->n_hparams && i <= INT32_MAX; i++)
        if (desc->hparams[i].name && strcmp(desc->hparams[i].name, name) == 0)
            return (int)i;
    return -1;
}
