/* SPDX-License-Identifier: MIT */
/* Applies a rename map to a tensor file read into memory: new names into a
 * fresh name block, dropped tensors out of the list (their data stays in
 * the arena until the file is destroyed). All checked before anything
 * changes, so a failed rename leaves the file as it was. */
#include <stdlib.h>
#include <string.h>

#include "cnn/rename.h"
#include "context_internal.h"
#include "tensor_file_internal.h"

/* Warnings name at most this many unmatched rules one by one. */
#define UNMATCHED_NAMED_MAX 8

typedef struct renamed_entry {
    char *name; /* malloc'd new name; NULL: dropped */
    long rule;  /* -1: no rule matched, the name is kept */
} renamed_entry;

static void free_entries(renamed_entry *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++)
        free(e[i].name);
    free(e);
}

static int by_name(const void *a, const void *b)
{
    const renamed_entry *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Two tensors ending with one name: an error naming both and their rules. */
static cnn_status check_unique(cnn_context *ctx, const cnn_tensor_file *file,
                               const cnn_rename_map *map, renamed_entry *e)
{
    size_t n = 0;
    renamed_entry **sorted = calloc(file->count ? file->count : 1,
                                    sizeof *sorted);
    cnn_status st = CNN_OK;
    if (!sorted)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < file->count; i++)
        if (e[i].name)
            sorted[n++] = &e[i];
    qsort(sorted, n, sizeof *sorted, by_name);
    for (size_t i = 1; i < n && st == CNN_OK; i++) {
        const renamed_entry *a = sorted[i - 1], *b = sorted[i];
        const char *how[2];
        size_t ia = (size_t)(a - e), ib = (size_t)(b - e);
        if (strcmp(a->name, b->name) != 0)
            continue;
        if (ia > ib) {
            const renamed_entry *t = a;
            size_t ti = ia;
            a = b, ia = ib, b = t, ib = ti;
        }
        how[0] = a->rule >= 0 ? cnn_rename_map_origin(map, (size_t)a->rule)
                              : "kept, no rule matched it";
        how[1] = b->rule >= 0 ? cnn_rename_map_origin(map, (size_t)b->rule)
                              : "kept, no rule matched it";
        st = cnn_fail(ctx, CNN_ERR_FORMAT,
                      "%s: tensors '%s' (%s) and '%s' (%s) would both be "
                      "named '%s' after renaming",
                      file->path, file->tensors[ia].name, how[0],
                      file->tensors[ib].name, how[1], a->name);
    }
    free(sorted);
    return st;
}

/* Logs each rule that matched no tensor, by where it was written. */
static void warn_unmatched(cnn_context *ctx, const cnn_tensor_file *file,
                           const cnn_rename_map *map, const renamed_entry *e,
                           size_t n)
{
    size_t unmatched = 0;
    for (size_t r = 0; r < cnn_rename_map_count(map); r++) {
        int used = 0;
        for (size_t i = 0; i < n && !used; i++)
            used = e[i].rule == (long)r;
        if (used)
            continue;
        if (++unmatched <= UNMATCHED_NAMED_MAX)
            cnn_context_log(ctx, CNN_LOG_WARN,
                            "%s: rename rule '%s' -> '%s' matches no tensor "
                            "of %s",
                            cnn_rename_map_origin(map, r),
                            cnn_rename_map_from(map, r),
                            cnn_rename_map_to(map, r)
                                ? cnn_rename_map_to(map, r) : "~ (drop)",
                            file->path);
    }
    if (unmatched > UNMATCHED_NAMED_MAX)
        cnn_context_log(ctx, CNN_LOG_WARN,
                        "%s: %zu more rename rules match no tensor",
                        file->path, unmatched - UNMATCHED_NAMED_MAX);
}

/* Moves the new names into one block and drops the dropped tensors. */
static cnn_status commit(cnn_context *ctx, cnn_tensor_file *file,
                         const renamed_entry *e)
{
    size_t size = 0, kept = 0;
    char *names, *at;
    for (size_t i = 0; i < file->count; i++)
        if (e[i].name)
            size += strlen(e[i].name) + 1;
    names = malloc(size ? size : 1);
    if (!names)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    at = names;
    for (size_t i = 0; i < file->count; i++) {
        size_t len;
        if (!e[i].name)
            continue;
        len = strlen(e[i].name) + 1;
        memcpy(at, e[i].name, len);
        file->tensors[kept] = file->tensors[i];
        file->tensors[kept].name = at;
        file->integer[kept] = file->integer[i];
        kept++;
        at += len;
    }
    free(file->names);
    file->names = names;
    file->count = kept;
    return CNN_OK;
}

cnn_status cnn_tensor_file_rename(cnn_context *ctx, cnn_tensor_file *file,
                                  const cnn_rename_map *map, size_t *matched)
{
    renamed_entry *e;
    size_t n, hits = 0, dropped = 0;
    cnn_status st;
    if (matched)
        *matched = 0;
    if (!file || !cnn_rename_map_count(map))
        return CNN_OK;
    n = file->count;
    e = calloc(n ? n : 1, sizeof *e);
    if (!e)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int oom = 0;
        const char *name = file->tensors[i].name;
        e[i].rule = cnn_rename_map_match(map, name, &e[i].name, &oom);
        if (oom) {
            free_entries(e, n);
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        }
        if (e[i].rule >= 0) {
            hits++;
            dropped += !e[i].name;
        } else if (!(e[i].name = strdup(name))) {
            free_entries(e, n);
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        }
    }
    if (!hits) {
        cnn_context_log(ctx, CNN_LOG_INFO,
                        "%s: no rename rule matches its tensors; their names "
                        "are used as they are",
                        file->path);
        free_entries(e, n);
        return CNN_OK;
    }
    st = check_unique(ctx, file, map, e);
    if (st == CNN_OK)
        warn_unmatched(ctx, file, map, e, n);
    if (st == CNN_OK)
        st = commit(ctx, file, e);
    if (st == CNN_OK) {
        cnn_context_log(ctx, CNN_LOG_INFO,
                        "%s: renamed %zu tensors, dropped %zu, kept %zu "
                        "names as they were",
                        file->path, hits - dropped, dropped,
                        n - hits);
        if (matched)
            *matched = hits;
    }
    free_entries(e, n);
    return st;
}
