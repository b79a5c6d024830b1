/* SPDX-License-Identifier: MIT */
/* The linear classifier file: validation, reading, writing and scoring;
 * see linear_model.h. */
#define _GNU_SOURCE /* memfd_create */
#include "linear_model.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnn/io.h"

cnn_status linear_model_alloc(cnn_context *ctx, linear_model *m,
                              size_t classes, size_t features)
{
    memset(m, 0, sizeof *m);
    if (classes < 2 || classes > LINEAR_MAX_CLASSES)
        return cnn_context_fail(ctx, CNN_ERR_INVALID,
                                "a linear model needs 2 to %d classes, not %zu",
                                LINEAR_MAX_CLASSES, classes);
    if (features < 1 || features > (size_t)LINEAR_MAX_FEATURES)
        return cnn_context_fail(ctx, CNN_ERR_INVALID,
                                "a linear model needs 1 to %ld features per "
                                "row, not %zu",
                                LINEAR_MAX_FEATURES, features);
    if (classes * features > (size_t)LINEAR_MAX_WEIGHTS)
        return cnn_context_fail(ctx, CNN_ERR_INVALID,
                                "%zu classes x %zu features is more than the "
                                "%ld weights a linear model may have",
                                classes, features, LINEAR_MAX_WEIGHTS);
    m->classes = classes;
    m->features = features;
    m->names = calloc(classes, sizeof *m->names);
    m->weight = calloc(classes * features, sizeof *m->weight);
    m->bias = calloc(classes, sizeof *m->bias);
    if (!m->names || !m->weight || !m->bias) {
        linear_model_free(m);
        return cnn_context_fail(ctx, CNN_ERR_NOMEM,
                                "out of memory for a %zu x %zu linear model",
                                classes, features);
    }
    return CNN_OK;
}

void linear_model_free(linear_model *m)
{
    for (size_t i = 0; m->names && i < m->classes; i++)
        free(m->names[i]);
    free(m->names);
    free(m->weight);
    free(m->bias);
    free(m->solver);
    free(m->C);
    free(m->eps);
    free(m->bias_term);
    free(m->liblinear_version);
    memset(m, 0, sizeof *m);
}

/* A decimal count without sign or junk, at most max. */
static int parse_count(const char *text, size_t max, size_t *out)
{
    size_t v = 0;
    if (!text || !*text || strlen(text) > 12)
        return 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (size_t)(*p - '0');
    }
    if (v > max)
        return 0;
    *out = v;
    return 1;
}

void linear_names_free(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

static int strptr_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorting a copy finds a duplicate in n log n, which matters for a
 * hostile file of 2^16 names. */
static cnn_status check_distinct(cnn_context *ctx, const char *label,
                                 char **names, size_t n)
{
    char **sorted;
    const char *dup = NULL;
    if (n < 2)
        return CNN_OK;
    sorted = malloc(n * sizeof *sorted);
    if (!sorted)
        return cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    memcpy(sorted, names, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, strptr_cmp);
    for (size_t i = 1; i < n && !dup; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            dup = sorted[i];
    free(sorted);
    if (dup) {
        size_t first = n, second = n;
        for (size_t i = 0; i < n; i++)
            if (strcmp(names[i], dup) == 0) {
                if (first == n)
                    first = i;
                else if (second == n)
                    second = i;
            }
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: class name \"%s\" appears twice "
                                "(classes %zu and %zu)",
                                label, dup, first, second);
    }
    return CNN_OK;
}

cnn_status linear_names_parse(cnn_context *ctx, const char *label,
                              const char *text, size_t size, char ***out,
                              size_t *n_out)
{
    json_error_t jerr;
    json_t *array = text ? json_loadb(text, size, 0, &jerr) : NULL;
    char **names = NULL;
    size_t n = 0;
    cnn_status st = CNN_OK;
    *out = NULL;
    *n_out = 0;
    if (!json_is_array(array)) {
        json_decref(array);
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: class names are %s, not a JSON array of "
                                "strings",
                                label, text ? "malformed" : "missing");
    }
    n = json_array_size(array);
    if (n > LINEAR_MAX_CLASSES) {
        json_decref(array);
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: %zu class names, more than the %d allowed",
                                label, n, LINEAR_MAX_CLASSES);
    }
    names = calloc(n ? n : 1, sizeof *names);
    if (!names) {
        json_decref(array);
        return cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n && st == CNN_OK; i++) {
        const char *name = json_string_value(json_array_get(array, i));
        size_t len = name ? strlen(name) : 0;
        if (!name || len == 0 || len > LINEAR_MAX_NAME ||
            len != json_string_length(json_array_get(array, i))) {
            st = cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                  "%s: class name %zu is not a string of 1 to "
                                  "%d bytes without NUL",
                                  label, i, LINEAR_MAX_NAME);
            break;
        }
        if (st == CNN_OK && !(names[i] = strdup(name)))
            st = cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    json_decref(array);
    if (st == CNN_OK)
        st = check_distinct(ctx, label, names, n);
    if (st != CNN_OK) {
        linear_names_free(names, n);
        return st;
    }
    *out = names;
    *n_out = n;
    return CNN_OK;
}

/* Class names from the "classes" metadata, one per weight row. */
static cnn_status take_names(cnn_context *ctx, const char *label,
                             const char *text, linear_model *m)
{
    char **names;
    size_t n;
    cnn_status st = linear_names_parse(ctx, label, text,
                                       text ? strlen(text) : 0, &names, &n);
    if (st != CNN_OK)
        return st;
    if (n != m->classes) {
        linear_names_free(names, n);
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: %zu class names but the weight has %zu "
                                "rows",
                                label, n, m->classes);
    }
    free(m->names);
    m->names = names;
    return CNN_OK;
}

static cnn_status copy_text(cnn_context *ctx, const cnn_tensor_file *f,
                            const char *key, char **out)
{
    const char *v = cnn_tensor_file_metadata(f, key);
    if (!v)
        return CNN_OK;
    *out = strdup(v);
    return *out ? CNN_OK : cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
}

static int finite_all(const float *v, size_t n, size_t *bad)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) {
            *bad = i;
            return 0;
        }
    return 1;
}

/* Everything the scoring relies on, from a safetensors file already read
 * (and validated as safetensors) by libcnn. */
static cnn_status from_tensor_file(cnn_context *ctx, const char *label,
                                   const cnn_tensor_file *f, linear_model *out)
{
    const char *format = cnn_tensor_file_metadata(f, "format");
    const char *version = cnn_tensor_file_metadata(f, "format_version");
    const char *normalize = cnn_tensor_file_metadata(f, "normalize");
    const cnn_named_tensor *w = cnn_tensor_file_find(f, "weight");
    const cnn_named_tensor *b = cnn_tensor_file_find(f, "bias");
    size_t features = 0, bad = 0;
    cnn_status st;

    memset(out, 0, sizeof *out);
    if (!format || strcmp(format, LINEAR_FORMAT) != 0)
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: not a cnnrun linear model (metadata "
                                "\"format\" is %s%s%s, expected \"%s\")",
                                label, format ? "\"" : "",
                                format ? format : "missing", format ? "\"" : "",
                                LINEAR_FORMAT);
    if (!version || strcmp(version, LINEAR_FORMAT_VERSION) != 0)
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: linear model format version \"%s\" is not "
                                "the %s this cnnrun reads",
                                label, version ? version : "(missing)",
                                LINEAR_FORMAT_VERSION);
    if (!w || !b || cnn_tensor_file_count(f) != 2)
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: a linear model holds exactly the tensors "
                                "\"weight\" and \"bias\" (found %zu tensors%s%s)",
                                label, cnn_tensor_file_count(f),
                                w ? "" : ", no weight", b ? "" : ", no bias");
    if (!parse_count(cnn_tensor_file_metadata(f, "features"),
                     (size_t)LINEAR_MAX_FEATURES, &features))
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: metadata \"features\" is missing or not a "
                                "whole number from 1 to %ld",
                                label, LINEAR_MAX_FEATURES);
    if (w->tensor.shape.rank != 2 || b->tensor.shape.rank != 1 ||
        w->tensor.shape.dims[1] != (int64_t)features ||
        b->tensor.shape.dims[0] != w->tensor.shape.dims[0])
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: weight must be [classes, %zu] and bias "
                                "[classes] (the metadata says %zu features)",
                                label, features, features);
    if (!normalize || (strcmp(normalize, "true") && strcmp(normalize, "false")))
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: metadata \"normalize\" must be \"true\" or "
                                "\"false\"",
                                label);
    st = linear_model_alloc(ctx, out, (size_t)w->tensor.shape.dims[0], features);
    if (st != CNN_OK) {
        /* The message is formatted into the buffer it is read from. */
        char why[256];
        snprintf(why, sizeof why, "%s", cnn_context_message(ctx));
        return cnn_context_fail(ctx, st, "%s: %s", label, why);
    }
    out->normalize = strcmp(normalize, "true") == 0;
    st = take_names(ctx, label, cnn_tensor_file_metadata(f, "classes"), out);
    if (st == CNN_OK && !finite_all(w->tensor.data, out->classes * features, &bad))
        st = cnn_context_fail(ctx, CNN_ERR_NUMERIC,
                              "%s: weight[%zu, %zu] is %g: weights must be "
                              "finite",
                              label, bad / features, bad % features,
                              (double)w->tensor.data[bad]);
    if (st == CNN_OK && !finite_all(b->tensor.data, out->classes, &bad))
        st = cnn_context_fail(ctx, CNN_ERR_NUMERIC,
                              "%s: bias[%zu] is %g: weights must be finite",
                              label, bad, (double)b->tensor.data[bad]);
    if (st == CNN_OK) {
        memcpy(out->weight, w->tensor.data, out->classes * features * sizeof(float));
        memcpy(out->bias, b->tensor.data, out->classes * sizeof(float));
        st = copy_text(ctx, f, "solver", &out->solver);
    }
    if (st == CNN_OK)
        st = copy_text(ctx, f, "C", &out->C);
    if (st == CNN_OK)
        st = copy_text(ctx, f, "eps", &out->eps);
    if (st == CNN_OK)
        st = copy_text(ctx, f, "bias_term", &out->bias_term);
    if (st == CNN_OK)
        st = copy_text(ctx, f, "liblinear_version", &out->liblinear_version);
    if (st != CNN_OK)
        linear_model_free(out);
    return st;
}

/* The first bytes of a regular file, without blocking on a FIFO or a
 * device: LIBLINEAR's text models start with "solver_type ". */
static cnn_status peek(cnn_context *ctx, const char *path, char *head,
                       size_t size, size_t *got)
{
    struct stat sb;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return cnn_context_fail(ctx, CNN_ERR_IO, "%s: cannot open: %s", path,
                                strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return cnn_context_fail(ctx, CNN_ERR_IO,
                                "%s: not a regular file (a linear model is a "
                                ".safetensors file)",
                                path);
    }
    n = read(fd, head, size);
    close(fd);
    if (n < 0)
        return cnn_context_fail(ctx, CNN_ERR_IO, "%s: cannot read: %s", path,
                                strerror(errno));
    *got = (size_t)n;
    return CNN_OK;
}

static cnn_status read_as(cnn_context *ctx, const char *path, const char *label,
                          linear_model *out)
{
    static const char liblinear_head[] = "solver_type ";
    char head[16];
    size_t got = 0;
    cnn_tensor_file *f = NULL;
    cnn_status st;
    memset(out, 0, sizeof *out);
    st = peek(ctx, path, head, sizeof head, &got);
    if (st != CNN_OK)
        return st;
    if (got >= sizeof liblinear_head - 1 &&
        memcmp(head, liblinear_head, sizeof liblinear_head - 1) == 0)
        return cnn_context_fail(
            ctx, CNN_ERR_UNSUPPORTED,
            "%s is a LIBLINEAR text model, which cnnrun no longer reads (its "
            "loader trusts the file it is given); train again into the "
            "validated format: cnnrun linear train FEATURES.npy --labels "
            "LABELS.npy --out MODEL.safetensors",
            label);
    if (cnn_safetensors_read(ctx, path, &f) != CNN_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", cnn_context_message(ctx));
        /* A safetensors file has '{' after its 8-byte length: anything
         * else is another format, whatever length its first bytes give. */
        if (cnn_context_status(ctx) == CNN_ERR_FORMAT && (got < 9 || head[8] != '{'))
            return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                    "%s is not a safetensors file (cnnrun's linear "
                                    "models are; the reader says: %s)",
                                    label, why);
        /* libcnn's message names the path; for memory, name the label. */
        return path == label ? cnn_context_status(ctx)
                             : cnn_context_fail(ctx, cnn_context_status(ctx),
                                                "%s: not a linear model: %s",
                                                label, why);
    }
    st = from_tensor_file(ctx, label, f, out);
    cnn_tensor_file_destroy(f);
    return st;
}

cnn_status linear_model_read(cnn_context *ctx, const char *path,
                             linear_model *out)
{
    return read_as(ctx, path, path, out);
}

cnn_status linear_model_read_memory(cnn_context *ctx, const char *label,
                                    const void *data, size_t size,
                                    linear_model *out)
{
    /* libcnn reads safetensors from a path; an anonymous in-memory file
     * gives it one without touching the disk. */
    char path[64];
    const char *p = data;
    size_t left = size;
    cnn_status st;
    int fd = memfd_create("linear-model", MFD_CLOEXEC);
    memset(out, 0, sizeof *out);
    if (fd < 0)
        return cnn_context_fail(ctx, CNN_ERR_IO, "memfd_create: %s",
                                strerror(errno));
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return cnn_context_fail(ctx, CNN_ERR_IO, "memfd write: %s",
                                    strerror(errno));
        }
        p += w;
        left -= (size_t)w;
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    st = read_as(ctx, path, label ? label : "(memory)", out);
    close(fd);
    return st;
}

cnn_status linear_model_write(cnn_context *ctx, const char *path,
                              const linear_model *m)
{
    json_t *names = json_array();
    char features[32], *classes = NULL;
    cnn_named_tensor t[2];
    const char *meta[20];
    size_t n_meta = 0;
    cnn_status st;
    for (size_t i = 0; names && i < m->classes; i++)
        if (json_array_append_new(names, json_string(m->names[i])) != 0) {
            json_decref(names);
            names = NULL;
        }
    classes = names ? json_dumps(names, JSON_COMPACT) : NULL;
    json_decref(names);
    if (!classes)
        return cnn_context_fail(ctx, CNN_ERR_NOMEM,
                                "out of memory (or a class name that is not "
                                "UTF-8)");
    snprintf(features, sizeof features, "%zu", m->features);
    {
        const char *pairs[][2] = {
            {"format", LINEAR_FORMAT},
            {"format_version", LINEAR_FORMAT_VERSION},
            {"classes", classes},
            {"features", features},
            {"normalize", m->normalize ? "true" : "false"},
            {"solver", m->solver},
            {"C", m->C},
            {"eps", m->eps},
            {"bias_term", m->bias_term},
            {"liblinear_version", m->liblinear_version},
        };
        /* Provenance a caller left unset is left out. */
        for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++)
            if (pairs[i][1]) {
                meta[n_meta++] = pairs[i][0];
                meta[n_meta++] = pairs[i][1];
            }
    }
    t[0].name = "weight";
    t[0].tensor.shape = cnn_shape2((int64_t)m->classes, (int64_t)m->features);
    t[0].tensor.data = m->weight;
    t[1].name = "bias";
    t[1].tensor.shape = cnn_shape_make(1, (const int64_t[]){(int64_t)m->classes});
    t[1].tensor.data = m->bias;
    st = cnn_safetensors_write(ctx, path, t, 2, meta, n_meta / 2);
    free(classes);
    return st;
}

void linear_model_scores(const linear_model *m, const float *row,
                         double *scores)
{
    double scale = 1.0;
    if (m->normalize) {
        double norm = 0.0;
        for (size_t j = 0; j < m->features; j++)
            norm += (double)row[j] * row[j];
        if (norm > 0)
            scale = 1.0 / sqrt(norm);
    }
    for (size_t c = 0; c < m->classes; c++) {
        const float *w = m->weight + c * m->features;
        double s = 0.0;
        for (size_t j = 0; j < m->features; j++)
            s += (double)w[j] * ((double)row[j] * scale);
        scores[c] = s + (double)m->bias[c];
    }
}

size_t linear_model_argmax(const double *scores, size_t classes)
{
    size_t best = 0;
    for (size_t c = 1; c < classes; c++)
        if (scores[c] > scores[best])
            best = c;
    return best;
}
