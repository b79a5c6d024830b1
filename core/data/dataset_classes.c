/* SPDX-License-Identifier: MIT */
/* Datasets seen against a model: relabelling to the model's class names
 * (by name or by position), and the stratified hold-out of --val-split. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../context_internal.h"
#include "data_internal.h"

/* Appends "name" to a comma-separated list of at most size bytes, ending
 * it with ", ..." once full. */
static void list_append(char *list, size_t size, const char *name)
{
    size_t used = strlen(list);
    if (used && strcmp(list + used - 3, "...") == 0)
        return;
    if (used + strlen(name) + 8 >= size) {
        snprintf(list + used, size - used, "%s...", used ? ", " : "");
        return;
    }
    snprintf(list + used, size - used, "%s'%s'", used ? ", " : "", name);
}

static char *name_or_index(const char *name, size_t i)
{
    char buf[32];
    if (name && *name)
        return cnn_data_strdup(name);
    snprintf(buf, sizeof buf, "%zu", i);
    return cnn_data_strdup(buf);
}

cnn_status cnn_dataset_map_classes(cnn_context *ctx, cnn_dataset *ds,
                                   const char *const *names, size_t n,
                                   int by_name)
{
    int32_t *map = calloc(ds->n_classes + 1, sizeof *map);
    char **renamed = calloc(n + 1, sizeof *renamed);
    char missing[512] = "", known[512] = "";
    size_t n_missing = 0;
    if (!map || !renamed) {
        free(map);
        free(renamed);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    for (size_t c = 0; c < ds->n_classes; c++) {
        map[c] = -1;
        if (!by_name) {
            if (c < n)
                map[c] = (int32_t)c;
            continue;
        }
        for (size_t j = 0; j < n; j++)
            if (names[j] && strcmp(names[j], ds->class_names[c]) == 0) {
                map[c] = (int32_t)j;
                break;
            }
        if (map[c] < 0) {
            list_append(missing, sizeof missing, ds->class_names[c]);
            n_missing++;
        }
    }
    if (!by_name && ds->n_classes > n) {
        free(map);
        free(renamed);
        return cnn_fail(ctx, CNN_ERR_SHAPE,
                        "%s has %zu classes but the model only %zu",
                        ds->spec, ds->n_classes, n);
    }
    if (n_missing) {
        for (size_t j = 0; j < n; j++)
            if (names[j] && *names[j])
                list_append(known, sizeof known, names[j]);
        free(map);
        free(renamed);
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s has %zu class%s the model does not know (%s); "
                        "the model's classes are %s",
                        ds->spec, n_missing, n_missing == 1 ? "" : "es",
                        missing, known[0] ? known : "unnamed");
    }
    for (size_t j = 0; j < n; j++) {
        /* Positional: the model's name where it has one, else the data's. */
        const char *name = names[j] && *names[j]
                               ? names[j]
                               : (j < ds->n_classes ? ds->class_names[j] : NULL);
        renamed[j] = name_or_index(name, j);
        if (!renamed[j]) {
            for (size_t k = 0; k < j; k++)
                free(renamed[k]);
            free(renamed);
            free(map);
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        }
    }
    for (size_t i = 0; i < ds->count; i++)
        ds->labels[i] = map[ds->labels[i]];
    for (size_t c = 0; c < ds->n_classes; c++)
        free(ds->class_names[c]);
    free(ds->class_names);
    ds->class_names = renamed;
    ds->n_classes = n;
    free(map);
    return CNN_OK;
}

/* A new dataset holding the items of src listed in pick (n of them), with
 * all of src's classes; spec names it. */
static cnn_status take_items(cnn_context *ctx, const cnn_dataset *src,
                             const size_t *pick, size_t n, const char *spec,
                             cnn_dataset **out)
{
    cnn_dataset *ds = calloc(1, sizeof *ds);
    cnn_status st = ds ? CNN_OK : cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    if (st == CNN_OK && !(ds->spec = cnn_data_strdup(spec)))
        st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    if (st == CNN_OK) {
        /* A streamed part copies the index, a pack's part the record
         * numbers (sharing the mapping), others the samples: only those
         * are counted against memory by alloc_samples. */
        ds->streamed = src->streamed || src->pack != NULL;
        st = cnn_data_alloc_samples(ctx, ds, n, src->channels, src->height,
                                    src->width);
        ds->streamed = src->streamed;
    }
    if (st == CNN_OK && !ds->streamed && !src->pack)
        st = cnn_data_reserve(ctx, ds, n);
    if (st == CNN_OK) {
        ds->class_names = calloc(src->n_classes + 1, sizeof *ds->class_names);
        if (src->paths)
            ds->paths = calloc(n + 1, sizeof *ds->paths);
        if (src->file_sizes)
            ds->file_sizes = calloc(n + 1, sizeof *ds->file_sizes);
        if (src->records)
            ds->records = calloc(n + 1, sizeof *ds->records);
        if (!ds->class_names || (src->paths && !ds->paths) ||
            (src->file_sizes && !ds->file_sizes) ||
            (src->records && !ds->records))
            st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    if (st == CNN_OK && src->pack) {
        ds->pack = cnn_data_pack_file_retain(src->pack);
        ds->pixels = src->pixels; /* raw: the mapping's first record */
    }
    for (size_t c = 0; st == CNN_OK && c < src->n_classes; c++) {
        ds->class_names[c] = cnn_data_strdup(src->class_names[c]);
        ds->n_classes = c + 1;
        if (!ds->class_names[c])
            st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; st == CNN_OK && i < n; i++) {
        if (ds->records)
            ds->records[i] = src->records[pick[i]];
        else if (!ds->streamed)
            memcpy(ds->pixels + i * ds->sample_bytes,
                   cnn_data_item_pixels(src, pick[i]), src->sample_bytes);
        if (ds->file_sizes)
            ds->file_sizes[i] = src->file_sizes[pick[i]];
        ds->labels[i] = src->labels[pick[i]];
        if (src->paths && !(ds->paths[i] = cnn_data_strdup(src->paths[pick[i]])))
            st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    if (st != CNN_OK) {
        cnn_dataset_destroy(ds);
        return st;
    }
    *out = ds;
    return CNN_OK;
}

cnn_status cnn_dataset_split(cnn_context *ctx, const cnn_dataset *ds,
                             double fraction, cnn_dataset **train,
                             cnn_dataset **val)
{
    size_t n = ds->count, n_val = 0, n_train = 0;
    size_t *count = calloc(ds->n_classes + 1, sizeof *count);
    size_t *held = calloc(ds->n_classes + 1, sizeof *held);
    size_t *seen = calloc(ds->n_classes + 1, sizeof *seen);
    size_t *train_pick = malloc((n ? n : 1) * sizeof *train_pick);
    size_t *val_pick = malloc((n ? n : 1) * sizeof *val_pick);
    char spec[1024];
    cnn_status st = CNN_OK;
    *train = *val = NULL;
    if (!count || !held || !seen || !train_pick || !val_pick)
        st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    else if (!(fraction > 0.0 && fraction < 1.0))
        st = cnn_fail(ctx, CNN_ERR_INVALID,
                      "validation split %g is not between 0 and 1", fraction);
    if (st == CNN_OK) {
        for (size_t i = 0; i < n; i++)
            count[ds->labels[i]]++;
        /* Each class gives its share: round(fraction x n) items in all,
         * shared by largest remainders, each class keeping one item to
         * train on; the last items of the class (dataset order) go. */
        size_t target = (size_t)floor(fraction * (double)n + 0.5), given = 0;
        for (size_t c = 0; c < ds->n_classes; c++) {
            held[c] = (size_t)floor(fraction * (double)count[c]);
            given += held[c];
        }
        while (given < target) {
            size_t best = SIZE_MAX;
            double best_rest = -1.0;
            for (size_t c = 0; c < ds->n_classes; c++) {
                double rest = fraction * (double)count[c] - (double)held[c];
                if (held[c] + 1 < count[c] && rest > best_rest) {
                    best_rest = rest;
                    best = c;
                }
            }
            if (best == SIZE_MAX)
                break;
            held[best]++;
            given++;
        }
        for (size_t c = 0; c < ds->n_classes; c++)
            if (held[c] >= count[c] && count[c] > 0)
                held[c] = count[c] - 1;
        for (size_t i = 0; i < n; i++) {
            int32_t c = ds->labels[i];
            if (seen[c]++ >= count[c] - held[c])
                val_pick[n_val++] = i;
            else
                train_pick[n_train++] = i;
        }
        if (n_val == 0)
            st = cnn_fail(ctx, CNN_ERR_INVALID,
                          "%s: a validation split of %g holds out no item "
                          "of its %zu (too few per class)",
                          ds->spec, fraction, n);
    }
    if (st == CNN_OK) {
        snprintf(spec, sizeof spec, "%s (all but the %g validation split)",
                 ds->spec, fraction);
        st = take_items(ctx, ds, train_pick, n_train, spec, train);
    }
    if (st == CNN_OK) {
        snprintf(spec, sizeof spec, "%s (%g validation split)", ds->spec,
                 fraction);
        st = take_items(ctx, ds, val_pick, n_val, spec, val);
        if (st != CNN_OK) {
            cnn_dataset_destroy(*train);
            *train = NULL;
        }
    }
    free(count);
    free(held);
    free(seen);
    free(train_pick);
    free(val_pick);
    return st;
}
