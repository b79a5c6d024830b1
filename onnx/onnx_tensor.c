/* SPDX-License-Identifier: MIT */
/* TensorProto to a constant: the shape checked and its element count bounded
 * before anything is allocated, then the values from whichever place holds
 * them (typed fields, raw_data, or an external file next to the model),
 * whose size must agree with the shape exactly. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx_internal.h"

enum {
    DT_FLOAT = 1, DT_UINT8 = 2, DT_INT8 = 3, DT_UINT16 = 4, DT_INT16 = 5,
    DT_INT32 = 6, DT_INT64 = 7, DT_STRING = 8, DT_BOOL = 9, DT_FLOAT16 = 10,
    DT_DOUBLE = 11, DT_UINT32 = 12, DT_UINT64 = 13, DT_BFLOAT16 = 16
};

const char *onnx_dtype_name(int32_t dtype)
{
    static const char *const names[] = {
        "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32",
        "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64",
        "COMPLEX64", "COMPLEX128", "BFLOAT16"};
    if (dtype >= 0 && dtype < (int32_t)(sizeof names / sizeof *names))
        return names[dtype];
    return "unknown";
}

/* Bytes per element in raw form; 0 for types we do not read. */
static size_t dtype_size(int32_t dt)
{
    switch (dt) {
    case DT_UINT8: case DT_INT8: case DT_BOOL: return 1;
    case DT_UINT16: case DT_INT16: case DT_FLOAT16: case DT_BFLOAT16: return 2;
    case DT_FLOAT: case DT_INT32: case DT_UINT32: return 4;
    case DT_INT64: case DT_UINT64: case DT_DOUBLE: return 8;
    default: return 0;
    }
}

static int dtype_is_float(int32_t dt)
{
    return dt == DT_FLOAT || dt == DT_DOUBLE || dt == DT_FLOAT16 ||
           dt == DT_BFLOAT16;
}

void onnx_const_free(onnx_const *c)
{
    free(c->f);
    free(c->i);
    c->f = NULL;
    c->i = NULL;
}

/* The element count of a shape, refused past ONNX_MAX_ELEMENTS, without
 * allocating: decoding checks the data against it before any buffer. */
static cnn_status shape_numel(cnn_context *ctx, const char *where,
                              int32_t rank, const int64_t *dims, size_t *out)
{
    size_t n = 1;
    for (int32_t d = 0; d < rank; d++) {
        if (dims[d] < 0 ||
            (dims[d] > 0 && n > ONNX_MAX_ELEMENTS / (uint64_t)dims[d]))
            return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                    "%s: tensor dimension %lld is negative "
                                    "or makes more than %llu elements", where,
                                    (long long)dims[d],
                                    (unsigned long long)ONNX_MAX_ELEMENTS);
        n *= (size_t)dims[d];
    }
    *out = n;
    return CNN_OK;
}

cnn_status onnx_const_alloc(cnn_context *ctx, const char *where, onnx_const *c,
                            onnx_ctype type, int32_t rank, const int64_t *dims)
{
    size_t n = 1;
    cnn_status st;
    memset(c, 0, sizeof *c);
    if (rank < 0 || rank > CNN_MAX_RANK)
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: tensor of rank %d (at most %d)", where,
                                (int)rank, CNN_MAX_RANK);
    st = shape_numel(ctx, where, rank, dims, &n);
    if (st != CNN_OK)
        return st;
    for (int32_t d = 0; d < rank; d++)
        c->dims[d] = dims[d];
    c->rank = rank;
    c->type = type;
    c->numel = n;
    if (type == ONNX_C_FLOAT)
        c->f = malloc(n * sizeof(float) + 1);
    else
        c->i = malloc(n * sizeof(int64_t) + 1);
    if (!c->f && !c->i)
        return cnn_context_fail(ctx, CNN_ERR_NOMEM,
                                "%s: out of memory for a tensor of %zu "
                                "elements", where, n);
    return CNN_OK;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f,
             man = h & 0x3ff, bits;
    float f;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 */
        f = (float)man / 16777216.0f;
        return sign ? -f : f;
    }
    if (exp == 31)
        bits = sign | 0x7f800000u | (man << 13);
    else
        bits = sign | ((exp + 112) << 23) | (man << 13);
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float bf16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Little-endian raw bytes to the constant's type. */
static void from_raw(onnx_const *c, int32_t dt, const uint8_t *p)
{
    for (size_t k = 0; k < c->numel; k++) {
        const uint8_t *e = p + k * dtype_size(dt);
        uint64_t u = 0;
        for (size_t b = 0; b < dtype_size(dt); b++)
            u |= (uint64_t)e[b] << (8 * b);
        switch (dt) {
        case DT_FLOAT: { uint32_t v = (uint32_t)u; memcpy(&c->f[k], &v, 4); break; }
        case DT_DOUBLE: { double d; memcpy(&d, &u, 8); c->f[k] = (float)d; break; }
        case DT_FLOAT16: c->f[k] = half_to_float((uint16_t)u); break;
        case DT_BFLOAT16: c->f[k] = bf16_to_float((uint16_t)u); break;
        case DT_INT8: c->i[k] = (int8_t)u; break;
        case DT_INT16: c->i[k] = (int16_t)u; break;
        case DT_INT32: c->i[k] = (int32_t)u; break;
        case DT_INT64: c->i[k] = (int64_t)u; break;
        case DT_UINT64: c->i[k] = u > INT64_MAX ? INT64_MAX : (int64_t)u; break;
        default: c->i[k] = (int64_t)u; break; /* uint8/16/32, bool */
        }
    }
}

/* 1 when the relative path stays below its folder: not empty, not
 * absolute, no ".." component, no backslash (a Windows separator). */
static int safe_relative_path(const char *p)
{
    const char *s = p;
    if (!*p || *p == '/' || strchr(p, '\\'))
        return 0;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 2 && s[0] == '.' && s[1] == '.')
            return 0;
        s += len;
        if (*s == '/')
            s++;
    }
    return 1;
}

static cnn_status read_external(cnn_context *ctx, const char *origin,
                                const char *base_dir,
                                const Onnx__TensorProto *t, const char *what,
                                size_t need, uint8_t **out)
{
    const char *location = NULL;
    long long offset = 0, length = -1;
    char path[PATH_MAX], real_base[PATH_MAX], real_file[PATH_MAX];
    struct stat st;
    FILE *f;
    size_t base_len;

    *out = NULL;
    for (size_t k = 0; k < t->n_external_data; k++) {
        const Onnx__StringStringEntryProto *e = t->external_data[k];
        char *end;
        if (!e->key || !e->value)
            continue;
        if (strcmp(e->key, "location") == 0)
            location = e->value;
        else if (strcmp(e->key, "offset") == 0 ||
                 strcmp(e->key, "length") == 0) {
            long long v;
            errno = 0;
            v = strtoll(e->value, &end, 10);
            if (errno || end == e->value || *end || v < 0)
                return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                        "%s: %s: external data %s '%s' is "
                                        "not a whole number >= 0",
                                        origin, what, e->key, e->value);
            if (e->key[0] == 'o')
                offset = v;
            else
                length = v;
        }
    }
    if (!location)
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: %s: external data without a location",
                                origin, what);
    if (!base_dir)
        return cnn_context_fail(ctx, CNN_ERR_UNSUPPORTED,
                                "%s: %s: external data ('%s') cannot be read "
                                "from an in-memory model", origin, what,
                                location);
    if (!safe_relative_path(location))
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: %s: external data location '%s' must be "
                                "a relative path inside the model's folder "
                                "(no leading '/', no '..')", origin, what,
                                location);
    if (length >= 0 && (unsigned long long)length != need)
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: %s: external data length %lld bytes, "
                                "the shape needs %zu", origin, what, length,
                                need);
    if ((size_t)snprintf(path, sizeof path, "%s/%s", base_dir, location) >=
        sizeof path)
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: %s: external data path too long", origin,
                                what);
    /* Symbolic links could still lead out: compare the resolved paths. */
    if (!realpath(base_dir, real_base) || !realpath(path, real_file))
        return cnn_context_fail(ctx, CNN_ERR_IO,
                                "%s: %s: external data file '%s': %s", origin,
                                what, path, strerror(errno));
    base_len = strlen(real_base);
    if (strncmp(real_file, real_base, base_len) != 0 ||
        (real_file[base_len] != '/' && base_len > 1))
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: %s: external data file '%s' resolves "
                                "outside the model's folder", origin, what,
                                location);
    f = fopen(real_file, "rb");
    if (!f)
        return cnn_context_fail(ctx, CNN_ERR_IO, "%s: %s: cannot open '%s': %s",
                                origin, what, path, strerror(errno));
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
        (unsigned long long)st.st_size < (unsigned long long)offset ||
        (unsigned long long)st.st_size - (unsigned long long)offset < need) {
        fclose(f);
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: %s: external data file '%s' is too short "
                                "for %zu bytes at offset %lld", origin, what,
                                location, need, offset);
    }
    *out = malloc(need + 1);
    if (!*out) {
        fclose(f);
        return cnn_context_fail(ctx, CNN_ERR_NOMEM,
                                "%s: %s: out of memory for %zu bytes", origin,
                                what, need);
    }
    if (fseeko(f, (off_t)offset, SEEK_SET) != 0 ||
        fread(*out, 1, need, f) != need) {
        fclose(f);
        free(*out);
        *out = NULL;
        return cnn_context_fail(ctx, CNN_ERR_IO, "%s: %s: reading '%s' failed",
                                origin, what, location);
    }
    fclose(f);
    return CNN_OK;
}

static cnn_status count_mismatch(cnn_context *ctx, const char *origin,
                                 const char *what, const onnx_const *c,
                                 const char *field, size_t have)
{
    char shape[160] = "";
    size_t len = 0;
    for (int32_t d = 0; d < c->rank && len < sizeof shape - 24; d++)
        len += (size_t)snprintf(shape + len, sizeof shape - len, "%s%lld",
                                d ? ", " : "", (long long)c->dims[d]);
    return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                            "%s: %s: shape [%s] needs %zu elements, %s holds "
                            "%zu", origin, what, shape, c->numel, field, have);
}

/* How many elements a tensor's inline data holds, and in which field
 * (the same field the decoder below reads for its type). */
static size_t inline_count(const Onnx__TensorProto *t, int32_t dt,
                           size_t esize, const char **field)
{
    if (t->has_raw_data) {
        *field = "raw_data";
        return t->raw_data.len / esize;
    }
    switch (dt) {
    case DT_FLOAT: *field = "float_data"; return t->n_float_data;
    case DT_DOUBLE: *field = "double_data"; return t->n_double_data;
    case DT_INT64: *field = "int64_data"; return t->n_int64_data;
    case DT_UINT32:
    case DT_UINT64: *field = "uint64_data"; return t->n_uint64_data;
    default: *field = "int32_data"; return t->n_int32_data;
    }
}

cnn_status onnx_tensor_decode(cnn_context *ctx, const char *origin,
                              const char *base_dir,
                              const Onnx__TensorProto *t, const char *what,
                              onnx_const *out)
{
    int32_t dt = t->has_data_type ? t->data_type : 0;
    size_t esize = dtype_size(dt);
    onnx_ctype type = dtype_is_float(dt) ? ONNX_C_FLOAT : ONNX_C_INT;
    int64_t dims[CNN_MAX_RANK];
    int external = t->has_data_location &&
                   t->data_location ==
                       ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    uint8_t *bytes = NULL;
    size_t numel = 0;
    cnn_status st;

    memset(out, 0, sizeof *out);
    if (!esize)
        return cnn_context_fail(ctx, CNN_ERR_UNSUPPORTED,
                                "%s: %s: element type %s (%d) is not "
                                "supported (float, double, float16, bfloat16 "
                                "and integers are)", origin, what,
                                onnx_dtype_name(dt), (int)dt);
    if (t->segment)
        return cnn_context_fail(ctx, CNN_ERR_UNSUPPORTED,
                                "%s: %s: segmented tensors are not supported",
                                origin, what);
    if (t->n_dims > CNN_MAX_RANK)
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: %s: rank %zu (at most %d)", origin, what,
                                t->n_dims, CNN_MAX_RANK);
    for (size_t d = 0; d < t->n_dims; d++)
        dims[d] = t->dims[d];
    {
        char where[256];
        snprintf(where, sizeof where, "%s: %s", origin, what);
        st = shape_numel(ctx, where, (int32_t)t->n_dims, dims, &numel);
        if (st != CNN_OK)
            return st;
        /* The data must be there before the shape's buffer is allocated:
         * a few bytes of file must not ask for gigabytes. */
        if (external) {
            st = read_external(ctx, origin, base_dir, t, what, numel * esize,
                               &bytes);
            if (st != CNN_OK)
                return st;
        } else {
            const char *field;
            size_t have = inline_count(t, dt, esize, &field);
            if (have != numel ||
                (t->has_raw_data && t->raw_data.len != numel * esize)) {
                onnx_const shape;
                memset(&shape, 0, sizeof shape);
                shape.rank = (int32_t)t->n_dims;
                for (size_t d = 0; d < t->n_dims; d++)
                    shape.dims[d] = dims[d];
                shape.numel = numel;
                return count_mismatch(ctx, origin, what, &shape, field, have);
            }
        }
        st = onnx_const_alloc(ctx, where, out, type, (int32_t)t->n_dims, dims);
        if (st != CNN_OK) {
            free(bytes);
            return st;
        }
    }

    if (external) {
        from_raw(out, dt, bytes);
        free(bytes);
    } else if (t->has_raw_data) { /* counts were checked above */
        from_raw(out, dt, t->raw_data.data);
    } else if (dt == DT_FLOAT) {
        if (out->numel)
            memcpy(out->f, t->float_data, out->numel * sizeof(float));
    } else if (dt == DT_DOUBLE) {
        for (size_t k = 0; k < out->numel; k++)
            out->f[k] = (float)t->double_data[k];
    } else if (dt == DT_INT64) {
        if (out->numel)
            memcpy(out->i, t->int64_data, out->numel * sizeof(int64_t));
    } else if (dt == DT_UINT32 || dt == DT_UINT64) {
        for (size_t k = 0; k < out->numel; k++)
            out->i[k] = t->uint64_data[k] > INT64_MAX
                            ? INT64_MAX
                            : (int64_t)t->uint64_data[k];
    } else {
        /* int32_data carries every narrower type, halfs as their bits. */
        for (size_t k = 0; k < out->numel; k++) {
            int32_t v = t->int32_data[k];
            if (dt == DT_FLOAT16)
                out->f[k] = half_to_float((uint16_t)v);
            else if (dt == DT_BFLOAT16)
                out->f[k] = bf16_to_float((uint16_t)v);
            else
                out->i[k] = v;
        }
    }
    return CNN_OK;
}
