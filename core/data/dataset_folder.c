/* SPDX-License-Identifier: MIT */
/* Folder-per-class image datasets: DIR/<class>/<image>.{png,jpg,jpeg}.
 *
 * Classes and files are sorted by name (byte order), so labels never
 * depend on the filesystem's listing order; items are then put in a fixed,
 * seeded, stratified order (stratify.c) before any subset is taken.
 * Opening only indexes: class names, file paths, labels and file sizes
 * (a few dozen bytes an image, so memory does not grow with the pixels).
 * Images are decoded when a batch needs them, by cnn_data_load_item
 * (image_sample.c, shared with file datasets), on the loader's threads. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../context_internal.h"
#include "data_internal.h"

typedef struct name_list {
    char **names;
    int64_t *sizes; /* file sizes in bytes (0 for folders) */
    size_t count, cap;
} name_list;

static void names_free(name_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->names[i]);
    free(l->names);
    free(l->sizes);
    memset(l, 0, sizeof *l);
}

static int names_push(name_list *l, char *name, int64_t size)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **grown;
        int64_t *sizes;
        if (cap > SIZE_MAX / sizeof *sizes)
            return 0;
        grown = realloc(l->names, cap * sizeof *grown);
        if (!grown)
            return 0;
        l->names = grown;
        sizes = realloc(l->sizes, cap * sizeof *sizes);
        if (!sizes)
            return 0;
        l->sizes = sizes;
        l->cap = cap;
    }
    l->names[l->count] = name;
    l->sizes[l->count++] = size;
    return 1;
}

typedef struct named_size {
    char *name;
    int64_t size;
} named_size;

static int compare_named(const void *a, const void *b)
{
    return strcmp(((const named_size *)a)->name,
                  ((const named_size *)b)->name);
}

/* Sorts names (and their sizes) in byte order. */
static int sort_names(name_list *l)
{
    named_size *tmp = malloc(l->count * sizeof *tmp);
    if (!tmp)
        return 0;
    for (size_t i = 0; i < l->count; i++) {
        tmp[i].name = l->names[i];
        tmp[i].size = l->sizes[i];
    }
    qsort(tmp, l->count, sizeof *tmp, compare_named);
    for (size_t i = 0; i < l->count; i++) {
        l->names[i] = tmp[i].name;
        l->sizes[i] = tmp[i].size;
    }
    free(tmp);
    return 1;
}

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p;
    if (a > SIZE_MAX - b - 2)
        return NULL;
    p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".png") == 0 ||
                   strcasecmp(dot, ".jpg") == 0 ||
                   strcasecmp(dot, ".jpeg") == 0);
}

/* Sorted entries of dir (hidden ones skipped): directories when want_dirs,
 * else regular files with an image extension. Symbolic links count as
 * what they point to. */
static cnn_status list_dir(cnn_context *ctx, const char *dir, int want_dirs,
                           name_list *out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    memset(out, 0, sizeof *out);
    if (!d)
        return cnn_fail(ctx, errno == ENOENT ? CNN_ERR_NOT_FOUND : CNN_ERR_IO,
                        "%s: cannot open folder: %s", dir, strerror(errno));
    for (;;) {
        struct stat st;
        char *path, *name;
        int keep;
        errno = 0;
        e = readdir(d);
        if (!e)
            break;
        if (e->d_name[0] == '.')
            continue;
        if (!want_dirs && !is_image_name(e->d_name))
            continue;
        path = join_path(dir, e->d_name);
        if (!path)
            goto nomem;
        keep = stat(path, &st) == 0 &&
               (want_dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
        free(path);
        if (!keep)
            continue;
        name = cnn_data_strdup(e->d_name);
        if (!name || !names_push(out, name, want_dirs ? 0 : (int64_t)st.st_size)) {
            free(name);
            goto nomem;
        }
    }
    if (errno) {
        int err = errno;
        closedir(d);
        names_free(out);
        return cnn_fail(ctx, CNN_ERR_IO, "%s: cannot list folder: %s", dir,
                        strerror(err));
    }
    closedir(d);
    if (out->count > 1 && !sort_names(out)) {
        names_free(out);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", dir);
    }
    return CNN_OK;
nomem:
    closedir(d);
    names_free(out);
    return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", dir);
}

/* Lists DIR/<class>/<image> into paths and labels, class by class. */
static cnn_status collect(cnn_context *ctx, cnn_dataset *ds, const char *dir,
                          name_list *paths, int32_t **labels)
{
    name_list classes;
    size_t cap = 0;
    cnn_status st = list_dir(ctx, dir, 1, &classes);
    *labels = NULL;
    memset(paths, 0, sizeof *paths);
    if (st != CNN_OK)
        return st;
    if (classes.count == 0) {
        names_free(&classes);
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: no class folders (expected one subfolder per "
                        "class holding its PNG or JPEG images)", dir);
    }
    if (classes.count > INT32_MAX) {
        names_free(&classes);
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: too many classes", dir);
    }
    for (size_t c = 0; c < classes.count && st == CNN_OK; c++) {
        name_list files;
        char *cdir = join_path(dir, classes.names[c]);
        if (!cdir) {
            st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
            break;
        }
        st = list_dir(ctx, cdir, 0, &files);
        if (st == CNN_OK && files.count == 0)
            st = cnn_fail(ctx, CNN_ERR_FORMAT,
                          "%s: empty class folder (no .png, .jpg or .jpeg "
                          "files)", cdir);
        for (size_t i = 0; st == CNN_OK && i < files.count; i++) {
            char *p = join_path(cdir, files.names[i]);
            if (paths->count == cap) {
                size_t ncap = cap ? cap * 2 : 256;
                int32_t *grown = ncap <= SIZE_MAX / sizeof *grown
                                     ? realloc(*labels, ncap * sizeof *grown)
                                     : NULL;
                if (grown) {
                    *labels = grown;
                    cap = ncap;
                }
            }
            if (!p || paths->count == cap ||
                !names_push(paths, p, files.sizes[i])) {
                free(p);
                st = cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", cdir);
                break;
            }
            (*labels)[paths->count - 1] = (int32_t)c;
        }
        names_free(&files);
        free(cdir);
    }
    if (st != CNN_OK) {
        names_free(&classes);
        names_free(paths);
        free(*labels);
        *labels = NULL;
        return st;
    }
    /* The class names move into the dataset (their sizes are not kept). */
    free(classes.sizes);
    ds->class_names = classes.names;
    ds->n_classes = classes.count;
    return CNN_OK;
}

/* Puts the collected items (class by class) into the folder order: the
 * stratified shuffle of stratify.c with a fixed seed, so "@N" and "[A:B]"
 * select every class in about its share, the same way on every run. */
static cnn_status stratify(cnn_context *ctx, const cnn_dataset *ds,
                           name_list *paths, int32_t *labels)
{
    size_t n = paths->count;
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    char **names = malloc((n ? n : 1) * sizeof *names);
    int32_t *copy = malloc((n ? n : 1) * sizeof *copy);
    int64_t *sizes = malloc((n ? n : 1) * sizeof *sizes);
    int ok = order && names && copy && sizes &&
             cnn_data_stratified_order(labels, n, ds->n_classes,
                                       CNN_DATA_FOLDER_ORDER_SEED, order);
    if (ok) {
        for (size_t i = 0; i < n; i++) {
            names[i] = paths->names[order[i]];
            copy[i] = labels[order[i]];
            sizes[i] = paths->sizes[order[i]];
        }
        memcpy(paths->names, names, n * sizeof *names);
        memcpy(labels, copy, n * sizeof *copy);
        memcpy(paths->sizes, sizes, n * sizeof *sizes);
    }
    free(order);
    free(names);
    free(copy);
    free(sizes);
    return ok ? CNN_OK : cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
}

cnn_status cnn_data_open_folder(cnn_context *ctx, cnn_dataset *ds,
                                const char *dir,
                                const cnn_data_subset *subset,
                                const cnn_data_geometry *geometry)
{
    name_list paths;
    int32_t *labels;
    cnn_data_geometry g = *geometry;
    size_t begin = 0, end = 0;
    cnn_status st = collect(ctx, ds, dir, &paths, &labels);
    if (st != CNN_OK)
        return st;
    st = stratify(ctx, ds, &paths, labels);
    if (st == CNN_OK)
        st = cnn_data_subset_resolve(ctx, subset, paths.count, dir, &begin,
                                     &end);
    if (st == CNN_OK && g.native)
        st = cnn_data_image_geometry(ctx, paths.names[begin], &g, NULL);
    ds->streamed = 1;
    if (st == CNN_OK)
        st = cnn_data_alloc_samples(ctx, ds, end - begin, g.channels,
                                    g.height, g.width);
    if (st == CNN_OK) {
        ds->paths = calloc(end - begin, sizeof *ds->paths);
        ds->file_sizes = calloc(end - begin, sizeof *ds->file_sizes);
        if (!ds->paths || !ds->file_sizes)
            st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    for (size_t i = begin; st == CNN_OK && i < end; i++) {
        /* Ownership moves as we go, so the dataset frees what it got. */
        ds->paths[i - begin] = paths.names[i];
        paths.names[i] = NULL;
        ds->labels[i - begin] = labels[i];
        ds->file_sizes[i - begin] = paths.sizes[i];
    }
    names_free(&paths);
    free(labels);
    return st;
}
