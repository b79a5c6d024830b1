/* SPDX-License-Identifier: MIT */
/* Dataset specs: parsing, dispatch to the format openers, accessors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../context_internal.h"
#include "cnn/memory.h"
#include "data_internal.h"

static const char *const fashion_mnist_classes[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};

char *cnn_data_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

/* Parses all of [s, end) as a decimal size_t; digits only. */
static int parse_size(const char *s, const char *end, size_t *out)
{
    size_t v = 0;
    if (s == end)
        return 0;
    for (; s < end; s++) {
        unsigned d;
        if (*s < '0' || *s > '9')
            return 0;
        d = (unsigned)(*s - '0');
        if (v > (SIZE_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* Removes a trailing "@N" or "[A:B]" from buf (in place) into *subset. A
 * suffix that is not well formed is an error rather than part of a path,
 * except an '@' not followed by digits only, which paths may contain. */
static cnn_status split_subset(cnn_context *ctx, char *buf,
                               cnn_data_subset *subset)
{
    size_t n = strlen(buf);
    memset(subset, 0, sizeof *subset);
    if (n > 0 && buf[n - 1] == ']') {
        char *open = strrchr(buf, '[');
        char *colon;
        if (!open)
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "subset '%s' has no '['", buf);
        colon = memchr(open, ':', (size_t)(buf + n - 1 - open));
        if (!colon)
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "subset '%s' must be [A:B] (A, B optional)",
                            open);
        if (colon > open + 1 &&
            !parse_size(open + 1, colon, &subset->begin))
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "subset '%s': start is not a non-negative "
                            "integer", open);
        if (colon + 1 < buf + n - 1) {
            if (!parse_size(colon + 1, buf + n - 1, &subset->end))
                return cnn_fail(ctx, CNN_ERR_INVALID,
                                "subset '%s': end is not a non-negative "
                                "integer", open);
            subset->has_end = 1;
        }
        subset->present = 1;
        *open = '\0';
        return CNN_OK;
    }
    {
        char *at = strrchr(buf, '@');
        if (at && parse_size(at + 1, buf + n, &subset->end)) {
            subset->present = 1;
            subset->has_end = 1;
            *at = '\0';
        }
    }
    return CNN_OK;
}

cnn_status cnn_data_subset_resolve(cnn_context *ctx,
                                   const cnn_data_subset *subset,
                                   size_t total, const char *what,
                                   size_t *begin, size_t *end)
{
    size_t b = 0, e = total;
    if (subset->present) {
        b = subset->begin;
        if (subset->has_end)
            e = subset->end;
        if (e > total)
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "%s: subset asks for items up to %zu but there "
                            "are only %zu", what, e, total);
        if (b >= e)
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "%s: subset [%zu:%zu] selects no items", what,
                            b, e);
    }
    if (b >= e)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: holds no items", what);
    *begin = b;
    *end = e;
    return CNN_OK;
}

cnn_status cnn_data_alloc_samples(cnn_context *ctx, cnn_dataset *ds,
                                  size_t count, int32_t channels,
                                  int32_t height, int32_t width)
{
    size_t plane, sample, total;
    if (!cnn_data_mul((size_t)height, (size_t)width, &plane) ||
        !cnn_data_mul(plane, (size_t)channels, &sample) ||
        !cnn_data_mul(sample, count, &total) ||
        count > SIZE_MAX / sizeof(int32_t))
        return cnn_fail(ctx, CNN_ERR_NOMEM,
                        "%zu samples of %dx%dx%d overflow the address space",
                        count, (int)channels, (int)height, (int)width);
    {
        /* Samples and labels, checked before the data starts arriving. */
        char what[256];
        cnn_status st;
        snprintf(what, sizeof what, "%s: %zu samples of %dx%dx%d", ds->spec,
                 count, (int)channels, (int)height, (int)width);
        /* A streamed dataset keeps no pixels, only its index. */
        st = cnn_memory_check(
            ctx, cnn_memory_add(ds->streamed ? 0 : total,
                                cnn_memory_mul(count, sizeof(int32_t))),
            what);
        if (st != CNN_OK)
            return st;
    }
    ds->labels = calloc(count ? count : 1, sizeof *ds->labels);
    if (!ds->labels)
        return cnn_fail(ctx, CNN_ERR_NOMEM,
                        "out of memory for %zu labels", count);
    ds->count = count;
    ds->channels = channels;
    ds->height = height;
    ds->width = width;
    ds->sample_bytes = sample;
    return CNN_OK;
}

cnn_status cnn_data_reserve(cnn_context *ctx, cnn_dataset *ds, size_t items)
{
    size_t cap = ds->capacity, bytes;
    uint8_t *grown;
    if (items <= cap)
        return CNN_OK;
    cap = cap > ds->count / 2 ? ds->count : cap * 2;
    if (cap < items)
        cap = items;
    if (cap < 64 && ds->count >= 64)
        cap = 64;
    if (cap > ds->count)
        cap = ds->count;
    bytes = cap * ds->sample_bytes; /* <= count * sample, checked above */
    grown = realloc(ds->pixels, bytes ? bytes : 1);
    if (!grown)
        return cnn_fail(ctx, CNN_ERR_NOMEM,
                        "out of memory for %zu samples (%zu bytes)", cap,
                        bytes);
    memset(grown + ds->capacity * ds->sample_bytes, 0,
           bytes - ds->capacity * ds->sample_bytes);
    ds->pixels = grown;
    ds->capacity = cap;
    return CNN_OK;
}

cnn_status cnn_data_numbered_classes(cnn_context *ctx, cnn_dataset *ds,
                                     size_t n)
{
    ds->class_names = calloc(n ? n : 1, sizeof *ds->class_names);
    if (!ds->class_names)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    ds->n_classes = n;
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "%zu", i);
        ds->class_names[i] = cnn_data_strdup(name);
        if (!ds->class_names[i])
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    return CNN_OK;
}

cnn_status cnn_data_parse_geometry(cnn_context *ctx, const cnn_shape *shape,
                                   cnn_data_geometry *g)
{
    const int64_t *d;
    memset(g, 0, sizeof *g);
    if (!shape) {
        g->native = 1;
        return CNN_OK;
    }
    if (shape->rank == 4)
        d = shape->dims + 1;
    else if (shape->rank == 3)
        d = shape->dims;
    else
        return cnn_fail(ctx, CNN_ERR_SHAPE,
                        "sample shape must be {N, C, H, W} or {C, H, W}, "
                        "got rank %d", (int)shape->rank);
    if (d[0] != 1 && d[0] != 3)
        return cnn_fail(ctx, CNN_ERR_SHAPE,
                        "sample shape has %lld channels; datasets give 1 "
                        "(gray) or 3 (RGB)", (long long)d[0]);
    for (int i = 1; i < 3; i++)
        if (d[i] < 1 || d[i] > CNN_DATA_MAX_SIDE)
            return cnn_fail(ctx, CNN_ERR_SHAPE,
                            "sample %s %lld is outside 1..%d",
                            i == 1 ? "height" : "width", (long long)d[i],
                            CNN_DATA_MAX_SIDE);
    g->channels = (int32_t)d[0];
    g->height = (int32_t)d[1];
    g->width = (int32_t)d[2];
    return CNN_OK;
}

static cnn_status open_fashion_mnist(cnn_context *ctx, cnn_dataset *ds,
                                     const char *rest,
                                     const cnn_data_subset *subset,
                                     const cnn_data_geometry *g)
{
    const char *dir = CNN_FASHION_MNIST_DIR;
    const char *colon = strchr(rest, ':');
    size_t split_len = colon ? (size_t)(colon - rest) : strlen(rest);
    const char *prefix;
    char images[4096], labels[4096];
    cnn_status st;
    if (split_len == 5 && strncmp(rest, "train", 5) == 0)
        prefix = "train";
    else if (split_len == 4 && strncmp(rest, "test", 4) == 0)
        prefix = "t10k";
    else
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "fashion-mnist split '%.*s' is not 'train' or "
                        "'test'", (int)split_len, rest);
    if (colon) {
        dir = colon + 1;
        if (!*dir)
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "fashion-mnist: empty directory after ':'");
    }
    if ((size_t)snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz",
                         dir, prefix) >= sizeof images ||
        (size_t)snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz",
                         dir, prefix) >= sizeof labels)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "fashion-mnist directory name too long");
    st = cnn_data_open_idx(ctx, ds, images, labels, 10, subset, g);
    if (st != CNN_OK)
        return st;
    ds->class_names = calloc(10, sizeof *ds->class_names);
    if (!ds->class_names)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    ds->n_classes = 10;
    for (size_t i = 0; i < 10; i++) {
        ds->class_names[i] = cnn_data_strdup(fashion_mnist_classes[i]);
        if (!ds->class_names[i])
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    return CNN_OK;
}

/* rest = "IMAGES,LABELS[,CLASSES]"; rest is modified. */
static cnn_status open_idx_spec(cnn_context *ctx, cnn_dataset *ds, char *rest,
                                const cnn_data_subset *subset,
                                const cnn_data_geometry *g)
{
    char *labels = strchr(rest, ',');
    char *classes;
    size_t n_classes = 0;
    cnn_status st;
    if (!labels)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "idx spec needs IMAGES,LABELS[,CLASSES]");
    *labels++ = '\0';
    classes = strchr(labels, ',');
    if (classes) {
        *classes++ = '\0';
        if (!parse_size(classes, classes + strlen(classes), &n_classes) ||
            n_classes < 1 || n_classes > 65536)
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "idx class count '%s' is not an integer in "
                            "1..65536", classes);
    }
    if (!*rest || !*labels)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "idx spec has an empty file name");
    st = cnn_data_open_idx(ctx, ds, rest, labels, n_classes, subset, g);
    if (st != CNN_OK)
        return st;
    return cnn_data_numbered_classes(ctx, ds, ds->n_classes);
}

static cnn_status open_spec(cnn_context *ctx, cnn_dataset *ds, char *buf,
                            const cnn_data_geometry *g)
{
    cnn_data_subset subset;
    char *colon;
    cnn_status st = split_subset(ctx, buf, &subset);
    if (st != CNN_OK)
        return st;
    colon = strchr(buf, ':');
    if (!colon)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "expected KIND:ARGS with KIND one of fashion-mnist, "
                        "idx, folder, pack");
    *colon = '\0';
    if (strcmp(buf, "fashion-mnist") == 0)
        return open_fashion_mnist(ctx, ds, colon + 1, &subset, g);
    if (strcmp(buf, "idx") == 0)
        return open_idx_spec(ctx, ds, colon + 1, &subset, g);
    if (strcmp(buf, "folder") == 0) {
        if (!colon[1])
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "folder spec needs a directory");
        return cnn_data_open_folder(ctx, ds, colon + 1, &subset, g);
    }
    if (strcmp(buf, "pack") == 0) {
        if (!colon[1])
            return cnn_fail(ctx, CNN_ERR_INVALID, "pack spec needs a file");
        return cnn_data_open_pack(ctx, ds, colon + 1, &subset, g);
    }
    return cnn_fail(ctx, CNN_ERR_INVALID,
                    "unknown dataset kind '%s' (valid: fashion-mnist, idx, "
                    "folder, pack)", buf);
}

cnn_status cnn_dataset_open(cnn_context *ctx, const char *spec,
                            const cnn_shape *sample_shape, cnn_dataset **out)
{
    cnn_data_geometry g;
    cnn_dataset *ds;
    char *buf;
    cnn_status st;
    if (!out)
        return cnn_fail(ctx, CNN_ERR_INVALID, "dataset: NULL output");
    *out = NULL;
    if (!spec || !*spec)
        return cnn_fail(ctx, CNN_ERR_INVALID, "dataset: empty spec");
    st = cnn_data_parse_geometry(ctx, sample_shape, &g);
    if (st != CNN_OK)
        return cnn_fail_prefix(ctx, "dataset %s", spec);
    ds = calloc(1, sizeof *ds);
    buf = cnn_data_strdup(spec);
    if (ds)
        ds->spec = cnn_data_strdup(spec);
    if (!ds || !buf || !ds->spec) {
        free(buf);
        cnn_dataset_destroy(ds);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    st = open_spec(ctx, ds, buf, &g);
    free(buf);
    if (st != CNN_OK) {
        cnn_dataset_destroy(ds);
        return cnn_fail_prefix(ctx, "dataset %s", spec);
    }
    *out = ds;
    return CNN_OK;
}

void cnn_dataset_destroy(cnn_dataset *ds)
{
    if (!ds)
        return;
    if (ds->class_names)
        for (size_t i = 0; i < ds->n_classes; i++)
            free(ds->class_names[i]);
    if (ds->paths)
        for (size_t i = 0; i < ds->count; i++)
            free(ds->paths[i]);
    free(ds->class_names);
    free(ds->paths);
    free(ds->file_sizes);
    if (!ds->pack) /* a pack's pixels are its mapping's */
        free(ds->pixels);
    free(ds->records);
    cnn_data_pack_file_release(ds->pack);
    free(ds->labels);
    free(ds->spec);
    free(ds);
}

const char *cnn_dataset_spec(const cnn_dataset *ds)
{
    return ds->spec;
}

size_t cnn_dataset_size(const cnn_dataset *ds)
{
    return ds->count;
}

cnn_shape cnn_dataset_sample_shape(const cnn_dataset *ds)
{
    return cnn_shape4(1, ds->channels, ds->height, ds->width);
}

size_t cnn_dataset_class_count(const cnn_dataset *ds)
{
    return ds->n_classes;
}

const char *cnn_dataset_class_name(const cnn_dataset *ds, size_t i)
{
    return i < ds->n_classes ? ds->class_names[i] : NULL;
}

int32_t cnn_dataset_label(const cnn_dataset *ds, size_t i)
{
    return i < ds->count ? ds->labels[i] : -1;
}

const int32_t *cnn_dataset_labels(const cnn_dataset *ds)
{
    return ds->labels;
}

cnn_status cnn_dataset_sample_u8(cnn_context *ctx, const cnn_dataset *ds,
                                 size_t i, uint8_t *out)
{
    return cnn_data_load_item(ctx, ds, i, NULL, out);
}

cnn_status cnn_dataset_sample(cnn_context *ctx, const cnn_dataset *ds,
                              size_t i, float *out)
{
    /* The bytes land in the back quarter of out, then spread forwards:
     * out[k] is written after byte k has been read. */
    uint8_t *p = (uint8_t *)out + 3 * ds->sample_bytes;
    cnn_status st = cnn_data_load_item(ctx, ds, i, NULL, p);
    if (st != CNN_OK)
        return st;
    for (size_t k = 0; k < ds->sample_bytes; k++)
        out[k] = (float)p[k] / 255.0f;
    return CNN_OK;
}

int cnn_dataset_streamed(const cnn_dataset *ds)
{
    return ds->streamed;
}

int64_t cnn_dataset_item_file_size(const cnn_dataset *ds, size_t i)
{
    if (i >= ds->count)
        return -1;
    if (ds->streamed && ds->records)
        return (int64_t)cnn_data_pack_file_record_bytes(ds->pack,
                                                        ds->records[i]);
    return ds->file_sizes ? ds->file_sizes[i] : -1;
}

const char *cnn_dataset_item_path(const cnn_dataset *ds, size_t i)
{
    return ds->paths && i < ds->count ? ds->paths[i] : NULL;
}
