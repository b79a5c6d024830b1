/* SPDX-License-Identifier: MIT */
/* Rename rules: exact names or one '*' wildcard a side, first match wins
 * (see include/cnn/rename.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/rename.h"
#include "context_internal.h"

typedef struct rename_rule {
    char *from;
    char *to; /* NULL: drop */
    char *origin;
    /* FROM split at its '*': prefix and suffix; has_star 0 for exact. */
    size_t prefix_len, suffix_len;
    int has_star;
} rename_rule;

struct cnn_rename_map {
    rename_rule *rules;
    size_t count, capacity;
};

cnn_status cnn_rename_map_create(cnn_context *ctx, cnn_rename_map **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    return CNN_OK;
}

void cnn_rename_map_destroy(cnn_rename_map *map)
{
    if (!map)
        return;
    for (size_t i = 0; i < map->count; i++) {
        free(map->rules[i].from);
        free(map->rules[i].to);
        free(map->rules[i].origin);
    }
    free(map->rules);
    free(map);
}

static size_t count_stars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '*';
    return n;
}

cnn_status cnn_rename_map_add(cnn_context *ctx, cnn_rename_map *map,
                              const char *from, const char *to,
                              const char *origin)
{
    rename_rule *r;
    size_t from_stars, to_stars;
    if (!origin)
        origin = "rename rule";
    if (!from || !*from)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: a rename rule needs a non-empty name to rename",
                        origin);
    from_stars = count_stars(from);
    to_stars = to ? count_stars(to) : 0;
    if (from_stars > 1 || to_stars > 1)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: rename rule '%s' -> '%s' has more than one '*' "
                        "on a side (one wildcard a side is supported)",
                        origin, from, to ? to : "(drop)");
    if (to && !*to)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: rename rule '%s' maps to an empty name (write ~ "
                        "to drop the tensor)",
                        origin, from);
    if (to_stars && !from_stars)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: rename rule '%s' -> '%s': '*' in the new name "
                        "but not in the old (nothing to put there)",
                        origin, from, to);
    if (to && from_stars && !to_stars)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: rename rule '%s' -> '%s' maps every name '%s' "
                        "matches to one name (put a '*' in the new name too, "
                        "or write ~ to drop them)",
                        origin, from, to, from);
    if (map->count >= CNN_RENAME_MAX_RULES)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: more than %u rename rules", origin,
                        CNN_RENAME_MAX_RULES);
    if (map->count == map->capacity) {
        size_t cap = map->capacity ? 2 * map->capacity : 16;
        rename_rule *grown = realloc(map->rules, cap * sizeof *grown);
        if (!grown)
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        map->rules = grown;
        map->capacity = cap;
    }
    r = &map->rules[map->count];
    memset(r, 0, sizeof *r);
    r->from = strdup(from);
    r->to = to ? strdup(to) : NULL;
    r->origin = strdup(origin);
    if (!r->from || (to && !r->to) || !r->origin) {
        free(r->from);
        free(r->to);
        free(r->origin);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    r->has_star = from_stars == 1;
    r->prefix_len = r->has_star ? (size_t)(strchr(from, '*') - from)
                                : strlen(from);
    r->suffix_len = r->has_star ? strlen(from) - r->prefix_len - 1 : 0;
    map->count++;
    return CNN_OK;
}

cnn_status cnn_rename_map_append(cnn_context *ctx, cnn_rename_map *map,
                                 const cnn_rename_map *other)
{
    for (size_t i = 0; other && i < other->count; i++) {
        const rename_rule *r = &other->rules[i];
        cnn_status st = cnn_rename_map_add(ctx, map, r->from, r->to,
                                           r->origin);
        if (st != CNN_OK)
            return st;
    }
    return CNN_OK;
}

size_t cnn_rename_map_count(const cnn_rename_map *map)
{
    return map ? map->count : 0;
}

const char *cnn_rename_map_from(const cnn_rename_map *map, size_t index)
{
    return map && index < map->count ? map->rules[index].from : NULL;
}

const char *cnn_rename_map_to(const cnn_rename_map *map, size_t index)
{
    return map && index < map->count ? map->rules[index].to : NULL;
}

const char *cnn_rename_map_origin(const cnn_rename_map *map, size_t index)
{
    return map && index < map->count ? map->rules[index].origin : NULL;
}

/* 1 when r matches name; *middle and *middle_len are what '*' matched. */
static int rule_matches(const rename_rule *r, const char *name,
                        const char **middle, size_t *middle_len)
{
    size_t len = strlen(name);
    if (!r->has_star)
        return strcmp(r->from, name) == 0;
    if (len < r->prefix_len + r->suffix_len ||
        strncmp(name, r->from, r->prefix_len) != 0 ||
        strcmp(name + len - r->suffix_len, r->from + r->prefix_len + 1) != 0)
        return 0;
    *middle = name + r->prefix_len;
    *middle_len = len - r->prefix_len - r->suffix_len;
    return 1;
}

/* TO with its '*' (if any) replaced by middle. */
static char *substitute(const char *to, const char *middle, size_t middle_len)
{
    const char *star = strchr(to, '*');
    size_t head, tail;
    char *out;
    if (!star)
        return strdup(to);
    head = (size_t)(star - to);
    tail = strlen(star + 1);
    out = malloc(head + middle_len + tail + 1);
    if (!out)
        return NULL;
    memcpy(out, to, head);
    memcpy(out + head, middle, middle_len);
    memcpy(out + head + middle_len, star + 1, tail + 1);
    return out;
}

long cnn_rename_map_match(const cnn_rename_map *map, const char *name,
                          char **renamed, int *oom)
{
    if (renamed)
        *renamed = NULL;
    if (oom)
        *oom = 0;
    for (size_t i = 0; map && name && i < map->count; i++) {
        const rename_rule *r = &map->rules[i];
        const char *middle = NULL;
        size_t middle_len = 0;
        if (!rule_matches(r, name, &middle, &middle_len))
            continue;
        if (renamed && r->to) {
            *renamed = substitute(r->to, middle, middle_len);
            if (!*renamed && oom)
                *oom = 1;
        }
        return (long)i;
    }
    return -1;
}
