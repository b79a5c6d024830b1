/* SPDX-License-Identifier: MIT */
/* Names: a string-to-index table (models have up to ONNX_MAX_VALUES names,
 * so lookups must not be linear), and the making of readable layer names
 * from ONNX node names. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

struct onnx_table {
    char **keys;
    int64_t *vals;
    size_t cap, count; /* cap a power of two, at most half full */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

onnx_table *onnx_table_create(size_t capacity)
{
    onnx_table *t = calloc(1, sizeof *t);
    size_t cap = 16;
    while (cap < 2 * capacity && cap < ((size_t)1 << 40))
        cap *= 2;
    if (!t)
        return NULL;
    t->keys = calloc(cap, sizeof *t->keys);
    t->vals = calloc(cap, sizeof *t->vals);
    t->cap = cap;
    if (!t->keys || !t->vals) {
        onnx_table_destroy(t);
        return NULL;
    }
    return t;
}

void onnx_table_destroy(onnx_table *t)
{
    if (!t)
        return;
    if (t->keys)
        for (size_t i = 0; i < t->cap; i++)
            free(t->keys[i]);
    free(t->keys);
    free(t->vals);
    free(t);
}

int64_t onnx_table_get(const onnx_table *t, const char *key)
{
    size_t i = (size_t)hash_str(key) & (t->cap - 1);
    while (t->keys[i]) {
        if (strcmp(t->keys[i], key) == 0)
            return t->vals[i];
        i = (i + 1) & (t->cap - 1);
    }
    return -1;
}

static int grow(onnx_table *t)
{
    onnx_table *n = onnx_table_create(t->cap);
    if (!n)
        return 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->keys[i]) {
            size_t j = (size_t)hash_str(t->keys[i]) & (n->cap - 1);
            while (n->keys[j])
                j = (j + 1) & (n->cap - 1);
            n->keys[j] = t->keys[i];
            n->vals[j] = t->vals[i];
            t->keys[i] = NULL;
        }
    free(t->keys);
    free(t->vals);
    t->keys = n->keys;
    t->vals = n->vals;
    t->cap = n->cap;
    free(n);
    return 1;
}

int onnx_table_put(onnx_table *t, const char *key, int64_t index)
{
    size_t i;
    if (2 * (t->count + 1) > t->cap && !grow(t))
        return 0;
    i = (size_t)hash_str(key) & (t->cap - 1);
    while (t->keys[i]) {
        if (strcmp(t->keys[i], key) == 0) {
            t->vals[i] = index;
            return 1;
        }
        i = (i + 1) & (t->cap - 1);
    }
    t->keys[i] = strdup(key);
    if (!t->keys[i])
        return 0;
    t->vals[i] = index;
    t->count++;
    return 1;
}

/* PyTorch names nodes by module scope: "/layer1/layer1.0/conv1/Conv". A
 * component that the next one repeats as its prefix ("layer1" before
 * "layer1.0") and a trailing op type add nothing, so "layer1_0_conv1" is
 * left: the state_dict's "layer1.0.conv1" with dots as underscores. */
static void shorten_scope(const char *in, const char *op_type, char *out,
                          size_t size)
{
    const char *comp[32];
    size_t len[32], n = 0, o = 0;
    const char *s = in;
    while (*s && n < 32) {
        const char *e = strchr(s, '/');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l) {
            comp[n] = s;
            len[n++] = l;
        }
        s += l;
        if (*s == '/')
            s++;
    }
    if (n > 1 && op_type && strlen(op_type) == len[n - 1] &&
        strncmp(comp[n - 1], op_type, len[n - 1]) == 0)
        n--;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && len[i + 1] > len[i] &&
            strncmp(comp[i + 1], comp[i], len[i]) == 0 &&
            comp[i + 1][len[i]] == '.')
            continue;
        if (o && o + 1 < size)
            out[o++] = '_';
        for (size_t k = 0; k < len[i] && o + 1 < size; k++)
            out[o++] = comp[i][k];
        out[o] = '\0';
    }
}

void onnx_layer_name(onnx_table *taken, const char *node_name,
                     const char *op_type, const char *fallback, char *out,
                     size_t size)
{
    char scoped[256], base[ONNX_LAYER_NAME_MAX];
    size_t o = 0, max = size < sizeof base ? size : sizeof base;
    int last_us = 1;

    shorten_scope(node_name ? node_name : "", op_type, scoped, sizeof scoped);
    /* Lower case, runs of anything else as one '_', leading digits and
     * underscores dropped, room left for a "_N" suffix. */
    for (const char *s = scoped; *s && o + 8 < max; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) && c < 128) {
            if (o == 0 && isdigit(c))
                continue;
            base[o++] = (char)tolower(c);
            last_us = 0;
        } else if (!last_us) {
            base[o++] = '_';
            last_us = 1;
        }
    }
    while (o && base[o - 1] == '_')
        o--;
    base[o] = '\0';
    if (!o || strcmp(base, "input") == 0)
        snprintf(base, sizeof base, "%s%s", fallback,
                 o ? "_input" : "");
    snprintf(out, size, "%s", base);
    for (int k = 2; onnx_table_get(taken, out) >= 0; k++)
        snprintf(out, size, "%s_%d", base, k);
    onnx_table_put(taken, out, 0);
}

void onnx_graph_name(const char *path, char *out, size_t size)
{
    const char *b = strrchr(path, '/');
    char tmp[128];
    size_t o = 0;
    int last_us = 1;
    b = b ? b + 1 : path;
    for (; *b && *b != '.' && o + 1 < sizeof tmp; b++) {
        unsigned char c = (unsigned char)*b;
        if (isalnum(c) && c < 128) {
            tmp[o++] = (char)tolower(c);
            last_us = 0;
        } else if (!last_us) {
            tmp[o++] = '_';
            last_us = 1;
        }
    }
    while (o && tmp[o - 1] == '_')
        o--;
    tmp[o] = '\0';
    snprintf(out, size, "%s", o ? tmp : "imported");
}
