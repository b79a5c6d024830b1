/* SPDX-License-Identifier: MIT */
/* safetensors: an 8-byte little-endian u64 header length N, N bytes of JSON
 * mapping each tensor name to {"dtype", "shape", "data_offsets"} (plus an
 * optional "__metadata__" of strings), then the raw little-endian data. The
 * offsets count from the end of the header.
 *
 * The reader checks the whole header against the file size before it reads
 * a byte of tensor data, then streams the data section once, in file order,
 * into one float32 arena (F64, F16 and BF16 converted on the way; I64 and
 * I32, which state_dicts hold as counters such as batch norm's
 * num_batches_tracked, too, but marked so they never load as weights). */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/atomic_file.h"
#include "cnn/file_read.h"
#include "cnn/io.h"
#include "context_internal.h"
#include "json_util.h"
#include "tensor_file_internal.h"

/* F32 bytes are read straight into float arrays and written straight from
 * them: that is only the safetensors layout on a little-endian host with
 * IEEE-754 binary32 floats. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors I/O assumes a little-endian host"
#endif
#endif
_Static_assert(sizeof(float) == 4 && FLT_MANT_DIG == 24 && FLT_MAX_EXP == 128,
               "safetensors I/O needs IEEE-754 binary32 floats");

/* Bytes converted per step when a dtype is not F32. */
#define CONVERT_CHUNK 16384

typedef enum st_dtype {
    ST_F32, ST_F64, ST_F16, ST_BF16, ST_I64, ST_I32, ST_N_DTYPES
} st_dtype;

static const struct {
    const char *name;
    size_t size;
} st_dtypes[ST_N_DTYPES] = {
    {"F32", 4}, {"F64", 8}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}};

/* One validated header entry. */
typedef struct st_entry {
    const char *name; /* borrowed from the parsed header */
    st_dtype dtype;
    cnn_shape shape;
    size_t numel;
    uint64_t begin, end;
    size_t order; /* position in the header: makes the sort deterministic */
} st_entry;


static int host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static void shape_text(const cnn_shape *shape, char *buf, size_t size)
{
    size_t used = 0;
    int n = snprintf(buf, size, "[");
    used = n > 0 ? (size_t)n : 0;
    for (int32_t i = 0; i < shape->rank && used < size; i++) {
        n = snprintf(buf + used, size - used, "%s%lld", i ? ", " : "",
                     (long long)shape->dims[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* fread of exactly size bytes; a short read is an error naming the cause. */
static cnn_status read_exact(cnn_context *ctx, const char *path, FILE *f,
                             void *buf, size_t size)
{
    if (size == 0 || fread(buf, 1, size, f) == size)
        return CNN_OK;
    if (ferror(f))
        return cnn_fail(ctx, CNN_ERR_IO, "%s: read failed: %s", path,
                        strerror(errno));
    return cnn_fail(ctx, CNN_ERR_IO,
                    "%s: file ended early while reading (changed on disk?)",
                    path);
}

/* ---- header validation ------------------------------------------------ */

static cnn_status parse_shape(cnn_context *ctx, const char *path,
                              const char *name, const json_t *shape,
                              st_entry *e)
{
    size_t rank;
    int ok;
    if (!json_is_array(shape))
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: tensor '%s': shape is not an array", path, name);
    rank = json_array_size(shape);
    if (rank > CNN_MAX_RANK)
        return cnn_fail(ctx, CNN_ERR_UNSUPPORTED,
                        "%s: tensor '%s': shape has rank %zu, more than the "
                        "supported %d",
                        path, name, rank, CNN_MAX_RANK);
    e->shape.rank = (int32_t)rank;
    for (size_t i = 0; i < CNN_MAX_RANK; i++)
        e->shape.dims[i] = 0;
    for (size_t i = 0; i < rank; i++) {
        const json_t *dim = json_array_get(shape, i);
        if (!json_is_integer(dim))
            return cnn_fail(ctx, CNN_ERR_FORMAT,
                            "%s: tensor '%s': shape[%zu] is not an integer",
                            path, name, i);
        if (json_integer_value(dim) < 0)
            return cnn_fail(ctx, CNN_ERR_FORMAT,
                            "%s: tensor '%s': shape[%zu] is %lld; dimensions "
                            "must not be negative",
                            path, name, i, (long long)json_integer_value(dim));
        e->shape.dims[i] = (int64_t)json_integer_value(dim);
    }
    e->numel = cnn_shape_numel_checked(&e->shape, &ok);
    if (!ok || e->numel > SIZE_MAX / st_dtypes[ST_F64].size) {
        char text[256];
        shape_text(&e->shape, text, sizeof text);
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: tensor '%s': shape %s has too many elements",
                        path, name, text);
    }
    return CNN_OK;
}

static cnn_status parse_offsets(cnn_context *ctx, const char *path,
                                const char *name, const json_t *offsets,
                                st_entry *e)
{
    uint64_t need;
    if (!json_is_array(offsets) || json_array_size(offsets) != 2)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets is not an array of "
                        "two integers",
                        path, name);
    if (!cnn_json_get_u64(json_array_get(offsets, 0), &e->begin) ||
        !cnn_json_get_u64(json_array_get(offsets, 1), &e->end))
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets must be non-negative "
                        "integers",
                        path, name);
    if (e->end < e->begin)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] end "
                        "before they begin",
                        path, name, (unsigned long long)e->begin,
                        (unsigned long long)e->end);
    /* numel * 8 cannot overflow: parse_shape capped numel. */
    need = (uint64_t)e->numel * st_dtypes[e->dtype].size;
    if (e->end - e->begin != need) {
        char text[256];
        shape_text(&e->shape, text, sizeof text);
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu "
                        "bytes but shape %s of %s needs %llu",
                        path, name, (unsigned long long)e->begin,
                        (unsigned long long)e->end,
                        (unsigned long long)(e->end - e->begin), text,
                        st_dtypes[e->dtype].name, (unsigned long long)need);
    }
    return CNN_OK;
}

static cnn_status parse_entry(cnn_context *ctx, const char *path,
                              const char *name, const json_t *value,
                              st_entry *e)
{
    const char *key;
    const json_t *field;
    const json_t *dtype;
    const json_t *shape;
    const json_t *offsets;
    cnn_status st;

    e->name = name;
    if (!*name)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: a tensor has an empty name",
                        path);
    if (!json_is_object(value))
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: tensor '%s': entry is not a JSON object", path,
                        name);
    json_object_foreach ((json_t *)value, key, field) {
        if (strcmp(key, "dtype") != 0 && strcmp(key, "shape") != 0 &&
            strcmp(key, "data_offsets") != 0)
            return cnn_fail(ctx, CNN_ERR_FORMAT,
                            "%s: tensor '%s': unexpected key '%s' (an entry "
                            "has exactly dtype, shape and data_offsets)",
                            path, name, key);
    }
    dtype = json_object_get(value, "dtype");
    shape = json_object_get(value, "shape");
    offsets = json_object_get(value, "data_offsets");
    if (!dtype || !shape || !offsets)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: tensor '%s': missing '%s'",
                        path, name,
                        !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    if (!json_is_string(dtype))
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: tensor '%s': dtype is not a string", path, name);
    e->dtype = ST_N_DTYPES;
    for (int d = 0; d < ST_N_DTYPES; d++)
        if (strcmp(json_string_value(dtype), st_dtypes[d].name) == 0)
            e->dtype = (st_dtype)d;
    if (e->dtype == ST_N_DTYPES)
        return cnn_fail(ctx, CNN_ERR_UNSUPPORTED,
                        "%s: tensor '%s': unsupported dtype '%s' (cnnrun "
                        "reads F32, F64, F16 and BF16 weights, and I64 and "
                        "I32 counters)",
                        path, name, json_string_value(dtype));
    st = parse_shape(ctx, path, name, shape, e);
    if (st != CNN_OK)
        return st;
    return parse_offsets(ctx, path, name, offsets, e);
}

static int entry_cmp(const void *pa, const void *pb)
{
    const st_entry *a = pa;
    const st_entry *b = pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Sorted by offset, the entries must tile [0, data_size) exactly. */
static cnn_status check_layout(cnn_context *ctx, const char *path,
                               st_entry *entries, size_t n, uint64_t data_size)
{
    uint64_t at = 0;
    qsort(entries, n, sizeof *entries, entry_cmp);
    for (size_t i = 0; i < n; i++) {
        const st_entry *e = &entries[i];
        if (e->begin > at && i == 0)
            return cnn_fail(ctx, CNN_ERR_FORMAT,
                            "%s: gap in data: the first tensor '%s' starts at "
                            "byte %llu, not 0",
                            path, e->name, (unsigned long long)e->begin);
        if (e->begin > at)
            return cnn_fail(ctx, CNN_ERR_FORMAT,
                            "%s: gap in data: bytes [%llu, %llu] between "
                            "tensor '%s' and tensor '%s' belong to no tensor",
                            path, (unsigned long long)at,
                            (unsigned long long)e->begin, entries[i - 1].name,
                            e->name);
        if (e->begin < at)
            return cnn_fail(ctx, CNN_ERR_FORMAT,
                            "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, "
                            "%llu] overlap",
                            path, entries[i - 1].name,
                            (unsigned long long)entries[i - 1].begin,
                            (unsigned long long)entries[i - 1].end, e->name,
                            (unsigned long long)e->begin,
                            (unsigned long long)e->end);
        at = e->end;
    }
    if (at > data_size)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: truncated: header says %llu bytes of data, file "
                        "has %llu",
                        path, (unsigned long long)at,
                        (unsigned long long)data_size);
    if (at < data_size)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: %llu trailing bytes: header says %llu bytes of "
                        "data, file has %llu",
                        path, (unsigned long long)(data_size - at),
                        (unsigned long long)at, (unsigned long long)data_size);
    return CNN_OK;
}

static cnn_status copy_metadata(cnn_context *ctx, const char *path,
                                const json_t *meta, cnn_tensor_file *file)
{
    const char *key;
    const json_t *value;
    size_t n = 0;
    if (!json_is_object(meta))
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: __metadata__ is not a JSON object", path);
    file->meta = calloc(2 * json_object_size(meta) + 1, sizeof *file->meta);
    if (!file->meta)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", path);
    json_object_foreach ((json_t *)meta, key, value) {
        if (!json_is_string(value))
            return cnn_fail(ctx, CNN_ERR_FORMAT,
                            "%s: __metadata__ value of '%s' is not a string",
                            path, key);
        file->meta[2 * n] = strdup(key);
        file->meta[2 * n + 1] = strdup(json_string_value(value));
        file->n_meta = ++n;
        if (!file->meta[2 * n - 2] || !file->meta[2 * n - 1])
            return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", path);
    }
    return CNN_OK;
}

/* ---- data ------------------------------------------------------------- */

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    float f;
    if (exp == 0 && mant == 0) {
        bits = sign;
    } else if (exp == 0) {
        /* Subnormal half: renormalise into a (normal) float. */
        uint32_t e = 113;
        while (!(mant & 0x400u)) {
            mant <<= 1;
            e--;
        }
        bits = sign | e << 23 | (mant & 0x3ffu) << 13;
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | mant << 13; /* inf, or NaN keeping payload */
    } else {
        bits = sign | (exp + 112) << 23 | mant << 13;
    }
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float bf16_to_float(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static cnn_status convert_chunk(cnn_context *ctx, const char *path,
                                const st_entry *e, const unsigned char *src,
                                size_t count, float *dst, size_t first)
{
    for (size_t i = 0; i < count; i++) {
        const unsigned char *p = src + i * st_dtypes[e->dtype].size;
        if (e->dtype == ST_F64) {
            uint64_t bits = 0;
            double d;
            for (int k = 7; k >= 0; k--)
                bits = bits << 8 | p[k];
            memcpy(&d, &bits, sizeof d);
            /* Out of range is undefined behaviour for the cast, and an
             * infinite weight is never what the file meant. */
            if (isfinite(d) && fabs(d) > FLT_MAX)
                return cnn_fail(ctx, CNN_ERR_NUMERIC,
                                "%s: tensor '%s': element %zu is %g, outside "
                                "the float32 range",
                                path, e->name, first + i, d);
            dst[i] = (float)d;
        } else if (e->dtype == ST_I64 || e->dtype == ST_I32) {
            /* Counters, kept only to be named or dropped: the nearest
             * float is enough. */
            uint64_t bits = 0;
            for (int k = (int)st_dtypes[e->dtype].size - 1; k >= 0; k--)
                bits = bits << 8 | p[k];
            if (e->dtype == ST_I64) {
                int64_t v;
                memcpy(&v, &bits, sizeof v);
                dst[i] = (float)v;
            } else {
                uint32_t low = (uint32_t)bits;
                int32_t v;
                memcpy(&v, &low, sizeof v);
                dst[i] = (float)v;
            }
        } else {
            uint16_t v = (uint16_t)(p[0] | p[1] << 8);
            dst[i] = e->dtype == ST_F16 ? half_to_float(v) : bf16_to_float(v);
        }
    }
    return CNN_OK;
}

static cnn_status read_tensor(cnn_context *ctx, const char *path, FILE *f,
                              const st_entry *e, float *dst)
{
    unsigned char chunk[CONVERT_CHUNK];
    size_t size = st_dtypes[e->dtype].size;
    size_t per_chunk = CONVERT_CHUNK / size;
    if (e->dtype == ST_F32)
        return read_exact(ctx, path, f, dst, e->numel * sizeof *dst);
    for (size_t done = 0; done < e->numel; done += per_chunk) {
        size_t count = e->numel - done < per_chunk ? e->numel - done : per_chunk;
        cnn_status st = read_exact(ctx, path, f, chunk, count * size);
        if (st == CNN_OK)
            st = convert_chunk(ctx, path, e, chunk, count, dst + done, done);
        if (st != CNN_OK)
            return st;
    }
    return CNN_OK;
}

/* Builds the file from validated, offset-sorted entries and reads the data
 * section, which starts at the current position of f. */
static cnn_status load_tensors(cnn_context *ctx, const char *path, FILE *f,
                               const st_entry *entries, size_t n,
                               cnn_tensor_file *file)
{
    size_t names_size = 0;
    size_t floats = 0;
    char *name_at;
    float *data_at;

    for (size_t i = 0; i < n; i++) {
        /* Both sums are bounded by the header and data sizes, which fit in
         * memory already; the checks only guard the arithmetic. */
        size_t len = strlen(entries[i].name) + 1;
        if (names_size > SIZE_MAX - len ||
            floats > SIZE_MAX / sizeof(float) - entries[i].numel)
            return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: tensors too large", path);
        names_size += len;
        floats += entries[i].numel;
    }
    file->tensors = calloc(n ? n : 1, sizeof *file->tensors);
    file->names = malloc(names_size ? names_size : 1);
    file->arena = malloc(floats ? floats * sizeof(float) : 1);
    file->integer = calloc(n ? n : 1, sizeof *file->integer);
    if (!file->tensors || !file->names || !file->arena || !file->integer)
        return cnn_fail(ctx, CNN_ERR_NOMEM,
                        "%s: out of memory for %zu tensor values", path,
                        floats);
    name_at = file->names;
    data_at = file->arena;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(entries[i].name) + 1;
        cnn_named_tensor *t = &file->tensors[i];
        cnn_status st;
        memcpy(name_at, entries[i].name, len);
        t->name = name_at;
        t->tensor.shape = entries[i].shape;
        t->tensor.data = data_at;
        file->integer[i] = entries[i].dtype == ST_I64 ? 64
                           : entries[i].dtype == ST_I32 ? 32 : 0;
        file->count = i + 1;
        st = read_tensor(ctx, path, f, &entries[i], data_at);
        if (st != CNN_OK)
            return st;
        name_at += len;
        data_at += entries[i].numel;
    }
    return CNN_OK;
}

/* Counts the members of the header's top-level object by a linear scan
 * of its bytes (strings skipped, escapes honoured), so a header of a
 * million tiny entries is refused before jansson builds a million objects.
 * Malformed JSON is left for the parser to describe. */
static size_t count_top_level_members(const char *text, size_t length)
{
    size_t members = 0;
    int depth = 0, pending = 0;
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        if (c == '"') {
            if (depth == 1 && pending) {
                members++;
                pending = 0;
            }
            for (i++; i < length && text[i] != '"'; i++)
                if (text[i] == '\\')
                    i++;
        } else if (c == '{' || c == '[') {
            if (++depth == 1)
                pending = 1;
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ',' && depth == 1) {
            pending = 1;
        }
    }
    return members;
}

/* Everything after the file is open and its size known. */
static cnn_status read_file(cnn_context *ctx, const char *path, FILE *f,
                            uint64_t file_size, cnn_tensor_file *file)
{
    unsigned char prefix[8];
    uint64_t header_size = 0;
    char *header = NULL;
    json_t *root = NULL;
    st_entry *entries = NULL;
    size_t n = 0;
    const char *key;
    json_t *value;
    char what[CNN_MESSAGE_MAX / 2];
    cnn_status st;

    if (file_size < 8)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: file is %llu bytes, too short for the 8-byte "
                        "header length",
                        path, (unsigned long long)file_size);
    st = read_exact(ctx, path, f, prefix, sizeof prefix);
    if (st != CNN_OK)
        return st;
    for (int k = 7; k >= 0; k--)
        header_size = header_size << 8 | prefix[k];
    if (header_size == 0)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: header length is 0", path);
    if (header_size > CNN_SAFETENSORS_MAX_HEADER)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: header length %llu exceeds the limit of %u bytes",
                        path, (unsigned long long)header_size,
                        CNN_SAFETENSORS_MAX_HEADER);
    if (header_size > file_size - 8)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: header length %llu runs past the end of the file "
                        "(%llu bytes follow the length field)",
                        path, (unsigned long long)header_size,
                        (unsigned long long)(file_size - 8));

    header = malloc((size_t)header_size);
    if (!header)
        return cnn_fail(ctx, CNN_ERR_NOMEM,
                        "%s: out of memory for a %llu-byte header", path,
                        (unsigned long long)header_size);
    st = read_exact(ctx, path, f, header, (size_t)header_size);
    snprintf(what, sizeof what, "%s: header", path);
    if (st == CNN_OK) {
        /* One member may be __metadata__. */
        size_t members = count_top_level_members(header, (size_t)header_size);
        if (members > CNN_SAFETENSORS_MAX_TENSORS + 1)
            st = cnn_fail(ctx, CNN_ERR_FORMAT,
                          "%s: header lists %zu entries, more than the %u "
                          "tensors a file may hold",
                          path, members, CNN_SAFETENSORS_MAX_TENSORS);
    }
    if (st == CNN_OK)
        st = cnn_json_parse(ctx, what, header, (size_t)header_size, &root);
    free(header);
    if (st != CNN_OK)
        return st;
    if (!json_is_object(root)) {
        json_decref(root);
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: header is not a JSON object", path);
    }

    entries = calloc(json_object_size(root) + 1, sizeof *entries);
    if (!entries)
        st = cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", path);
    json_object_foreach (root, key, value) {
        if (st != CNN_OK)
            break;
        if (strcmp(key, "__metadata__") == 0) {
            st = copy_metadata(ctx, path, value, file);
        } else {
            entries[n].order = n;
            st = parse_entry(ctx, path, key, value, &entries[n]);
            n++;
        }
    }
    if (st == CNN_OK)
        st = check_layout(ctx, path, entries, n, file_size - 8 - header_size);
    if (st == CNN_OK)
        st = load_tensors(ctx, path, f, entries, n, file);
    free(entries);
    json_decref(root); /* entry names were borrowed from it until here */
    return st;
}

cnn_status cnn_safetensors_read(cnn_context *ctx, const char *path,
                                cnn_tensor_file **out)
{
    cnn_tensor_file *file;
    uint64_t size;
    FILE *f;
    cnn_status st;

    if (!out)
        return cnn_fail(ctx, CNN_ERR_INVALID, "safetensors read: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return cnn_fail(ctx, CNN_ERR_INVALID, "safetensors read: empty path");
    if (!host_little_endian())
        return cnn_fail(ctx, CNN_ERR_UNSUPPORTED,
                        "%s: safetensors needs a little-endian host", path);
    st = cnn_file_fopen_regular(ctx, path, &f, &size);
    if (st != CNN_OK)
        return st;
    file = calloc(1, sizeof *file);
    if (file)
        file->path = strdup(path);
    if (!file || !file->path) {
        fclose(f);
        cnn_tensor_file_destroy(file);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", path);
    }
    st = read_file(ctx, path, f, size, file);
    fclose(f);
    if (st != CNN_OK) {
        cnn_tensor_file_destroy(file);
        return st;
    }
    *out = file;
    return CNN_OK;
}

void cnn_tensor_file_destroy(cnn_tensor_file *file)
{
    if (!file)
        return;
    for (size_t i = 0; file->meta && i < 2 * file->n_meta; i++)
        free(file->meta[i]);
    free(file->meta);
    free(file->arena);
    free(file->integer);
    free(file->names);
    free(file->tensors);
    free(file->path);
    free(file);
}

size_t cnn_tensor_file_count(const cnn_tensor_file *file)
{
    return file ? file->count : 0;
}

const cnn_named_tensor *cnn_tensor_file_at(const cnn_tensor_file *file,
                                           size_t index)
{
    return file && index < file->count ? &file->tensors[index] : NULL;
}

const cnn_named_tensor *cnn_tensor_file_find(const cnn_tensor_file *file,
                                             const char *name)
{
    for (size_t i = 0; file && name && i < file->count; i++)
        if (strcmp(file->tensors[i].name, name) == 0)
            return &file->tensors[i];
    return NULL;
}

const char *cnn_tensor_file_metadata(const cnn_tensor_file *file,
                                     const char *key)
{
    for (size_t i = 0; file && key && i < file->n_meta; i++)
        if (strcmp(file->meta[2 * i], key) == 0)
            return file->meta[2 * i + 1];
    return NULL;
}

const char *cnn_tensor_file_path(const cnn_tensor_file *file)
{
    return file ? file->path : NULL;
}


int cnn_tensor_file_integer_bits(const cnn_tensor_file *file,
                                 const cnn_named_tensor *tensor)
{
    if (!file || !tensor || tensor < file->tensors ||
        tensor >= file->tensors + file->count)
        return 0;
    return file->integer[tensor - file->tensors];
}
