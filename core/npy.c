/* SPDX-License-Identifier: MIT */
/* NumPy .npy: "\x93NUMPY", major and minor version bytes, a little-endian
 * header length (2 bytes in version 1.0, 4 in 2.0 and 3.0), then a Python
 * dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)} padded
 * with spaces and ended by '\n', then the raw data.
 *
 * The header is parsed as the small subset of Python literals numpy writes
 * (strings, True/False, tuples of integers), never evaluated. Writers
 * produce version 1.0 byte for byte as numpy.save does. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/atomic_file.h"
#include "cnn/file_read.h"
#include "cnn/io.h"
#include "context_internal.h"

/* '<f4' and '<i4' data are read and written as they sit in memory. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error ".npy I/O assumes a little-endian host"
#endif
#endif
_Static_assert(sizeof(float) == 4 && FLT_MANT_DIG == 24 && FLT_MAX_EXP == 128,
               ".npy I/O needs IEEE-754 binary32 floats");

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* numpy refuses headers over 10000 bytes by default; allow more, but keep
 * a bound so a corrupt length cannot ask for gigabytes. */
#define NPY_MAX_HEADER (1u << 20)
/* numpy aligns the data to 64 bytes and leaves room for the first
 * dimension to grow to 21 digits in place. */
#define NPY_ALIGN 64
#define NPY_GROWTH_DIGITS 21
#define CONVERT_CHUNK 16384

typedef enum npy_dtype { NPY_F4, NPY_F8, NPY_U1, NPY_I4, NPY_I8 } npy_dtype;

typedef struct npy_header {
    npy_dtype dtype;
    size_t item_size;
    cnn_shape shape;
} npy_header;

/* Parser over the header text; p moves, start is kept for positions. */
typedef struct npy_parser {
    cnn_context *ctx;
    const char *path;
    const char *start, *p, *end;
} npy_parser;

static int host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static cnn_status syntax(npy_parser *ps, const char *expected)
{
    return cnn_fail(ps->ctx, CNN_ERR_FORMAT,
                    "%s: .npy header: expected %s at header byte %zu", ps->path,
                    expected, (size_t)(ps->p - ps->start));
}

static void skip_space(npy_parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int accept(npy_parser *ps, char c)
{
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return 1;
    }
    return 0;
}

/* A quoted string without escapes (numpy never writes any); sets *s to its
 * first character and *len to its length. */
static cnn_status parse_string(npy_parser *ps, const char **s, size_t *len)
{
    char quote;
    skip_space(ps);
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"'))
        return syntax(ps, "a quoted string");
    quote = *ps->p++;
    *s = ps->p;
    while (ps->p < ps->end && *ps->p != quote) {
        if (*ps->p == '\\' || *ps->p == '\n')
            return syntax(ps, "a string without escapes or line breaks");
        ps->p++;
    }
    if (ps->p >= ps->end)
        return syntax(ps, "the closing quote");
    *len = (size_t)(ps->p - *s);
    ps->p++;
    return CNN_OK;
}

/* A tuple of non-negative integers, e.g. "()", "(3,)", "(2, 3)". A Python
 * 2 "L" suffix is accepted since old files carry it. */
static cnn_status parse_shape(npy_parser *ps, cnn_shape *shape)
{
    int trailing_comma = 0;
    memset(shape, 0, sizeof *shape);
    if (!accept(ps, '('))
        return syntax(ps, "a shape tuple '('");
    while (!accept(ps, ')')) {
        int64_t value = 0;
        const char *digits;
        if (shape->rank > 0 && !trailing_comma)
            return syntax(ps, "',' or ')' in the shape");
        skip_space(ps);
        digits = ps->p;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            int d = *ps->p++ - '0';
            if (value > (INT64_MAX - d) / 10)
                return cnn_fail(ps->ctx, CNN_ERR_FORMAT,
                                "%s: .npy header: shape dimension %d is too "
                                "large",
                                ps->path, (int)shape->rank);
            value = value * 10 + d;
        }
        if (ps->p == digits)
            return syntax(ps, "a non-negative integer in the shape");
        if (ps->p < ps->end && *ps->p == 'L')
            ps->p++;
        if (shape->rank == CNN_MAX_RANK)
            return cnn_fail(ps->ctx, CNN_ERR_UNSUPPORTED,
                            "%s: shape has more than %d dimensions", ps->path,
                            CNN_MAX_RANK);
        shape->dims[shape->rank++] = value;
        trailing_comma = accept(ps, ',');
    }
    /* "(3)" is the integer 3 in Python, not a shape. */
    if (shape->rank == 1 && !trailing_comma)
        return cnn_fail(ps->ctx, CNN_ERR_FORMAT,
                        "%s: .npy header: shape (%lld) is not a tuple (a 1-D "
                        "shape is written (%lld,))",
                        ps->path, (long long)shape->dims[0],
                        (long long)shape->dims[0]);
    return CNN_OK;
}

static cnn_status set_descr(npy_parser *ps, const char *s, size_t len,
                            npy_header *h)
{
    static const struct {
        const char *descr;
        npy_dtype dtype;
        size_t size;
    } known[] = {{"<f4", NPY_F4, 4}, {"<f8", NPY_F8, 8}, {"|u1", NPY_U1, 1},
                 {"<i4", NPY_I4, 4}, {"<i8", NPY_I8, 8}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (len == strlen(known[i].descr) && memcmp(s, known[i].descr, len) == 0) {
            h->dtype = known[i].dtype;
            h->item_size = known[i].size;
            return CNN_OK;
        }
    }
    return cnn_fail(ps->ctx, CNN_ERR_UNSUPPORTED,
                    "%s: dtype '%.*s' is not supported (cnnrun reads '<f4', "
                    "'<f8', '|u1', '<i4' and '<i8')",
                    ps->path, len > 64 ? 64 : (int)len, s);
}

/* {'descr': str, 'fortran_order': bool, 'shape': tuple}, each key once, in
 * any order, optional trailing comma, then only whitespace. */
static cnn_status parse_header(npy_parser *ps, npy_header *h)
{
    static const char *const keys[3] = {"descr", "fortran_order", "shape"};
    int seen[3] = {0, 0, 0};
    int need_comma = 0;
    cnn_status st;

    if (!accept(ps, '{'))
        return syntax(ps, "'{'");
    while (!accept(ps, '}')) {
        const char *key;
        size_t len;
        int k;
        if (need_comma && !accept(ps, ','))
            return syntax(ps, "',' or '}'");
        if (need_comma && accept(ps, '}'))
            break;
        if ((st = parse_string(ps, &key, &len)) != CNN_OK)
            return st;
        for (k = 0; k < 3; k++)
            if (len == strlen(keys[k]) && memcmp(key, keys[k], len) == 0)
                break;
        if (k == 3)
            return cnn_fail(ps->ctx, CNN_ERR_FORMAT,
                            "%s: .npy header: unexpected key '%.*s'", ps->path,
                            len > 64 ? 64 : (int)len, key);
        if (seen[k]++)
            return cnn_fail(ps->ctx, CNN_ERR_FORMAT,
                            "%s: .npy header: key '%s' given twice", ps->path,
                            keys[k]);
        if (!accept(ps, ':'))
            return syntax(ps, "':'");
        skip_space(ps);
        if (k == 0) {
            const char *s;
            if (ps->p < ps->end && *ps->p == '[')
                return cnn_fail(ps->ctx, CNN_ERR_UNSUPPORTED,
                                "%s: structured dtypes (a descr list) are not "
                                "supported",
                                ps->path);
            if ((st = parse_string(ps, &s, &len)) != CNN_OK ||
                (st = set_descr(ps, s, len, h)) != CNN_OK)
                return st;
        } else if (k == 1) {
            if ((size_t)(ps->end - ps->p) >= 4 && memcmp(ps->p, "True", 4) == 0)
                return cnn_fail(ps->ctx, CNN_ERR_UNSUPPORTED,
                                "%s: array is stored in Fortran order "
                                "(fortran_order: True); save a C-ordered copy "
                                "(numpy.ascontiguousarray)",
                                ps->path);
            if ((size_t)(ps->end - ps->p) < 5 || memcmp(ps->p, "False", 5) != 0)
                return syntax(ps, "True or False for 'fortran_order'");
            ps->p += 5;
        } else if ((st = parse_shape(ps, &h->shape)) != CNN_OK) {
            return st;
        }
        need_comma = 1;
    }
    skip_space(ps);
    if (ps->p != ps->end)
        return syntax(ps, "only spaces after the closing '}'");
    for (int k = 0; k < 3; k++)
        if (!seen[k])
            return cnn_fail(ps->ctx, CNN_ERR_FORMAT,
                            "%s: .npy header has no '%s'", ps->path, keys[k]);
    return CNN_OK;
}

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

/* Reads numel items of h's dtype from f into dst as float32. */
static cnn_status read_data(cnn_context *ctx, const char *path, FILE *f,
                            const npy_header *h, size_t numel, float *dst)
{
    unsigned char chunk[CONVERT_CHUNK];
    size_t per_chunk = CONVERT_CHUNK / h->item_size;
    if (h->dtype == NPY_F4)
        return read_exact(ctx, path, f, dst, numel * sizeof *dst);
    for (size_t done = 0; done < numel; done += per_chunk) {
        size_t count = numel - done < per_chunk ? numel - done : per_chunk;
        cnn_status st = read_exact(ctx, path, f, chunk, count * h->item_size);
        if (st != CNN_OK)
            return st;
        for (size_t i = 0; i < count; i++) {
            if (h->dtype == NPY_U1) {
                dst[done + i] = (float)chunk[i];
                continue;
            }
            if (h->dtype == NPY_I4 || h->dtype == NPY_I8) {
                /* Integers (labels) are exact in float32 up to 2^24. */
                uint64_t raw = 0;
                int64_t v;
                for (int k = (int)h->item_size - 1; k >= 0; k--)
                    raw = raw << 8 | chunk[h->item_size * i + (size_t)k];
                if (h->dtype == NPY_I4)
                    v = (int64_t)(int32_t)(uint32_t)raw;
                else
                    memcpy(&v, &raw, sizeof v);
                if (v > (1 << 24) || v < -(1 << 24))
                    return cnn_fail(ctx, CNN_ERR_NUMERIC,
                                    "%s: element %zu is %lld, too large to be "
                                    "exact in float32",
                                    path, done + i, (long long)v);
                dst[done + i] = (float)v;
                continue;
            }
            uint64_t bits = 0;
            double d;
            for (int k = 7; k >= 0; k--)
                bits = bits << 8 | chunk[8 * i + (size_t)k];
            memcpy(&d, &bits, sizeof d);
            if (isfinite(d) && fabs(d) > FLT_MAX)
                return cnn_fail(ctx, CNN_ERR_NUMERIC,
                                "%s: element %zu is %g, outside the float32 "
                                "range",
                                path, done + i, d);
            dst[done + i] = (float)d;
        }
    }
    return CNN_OK;
}

static cnn_status read_npy(cnn_context *ctx, const char *path, FILE *f,
                           uint64_t file_size, cnn_tensor *out)
{
    unsigned char prelude[12];
    size_t prelude_len;
    uint64_t header_len = 0;
    uint64_t data_size;
    uint64_t need;
    size_t numel;
    char *text;
    npy_parser ps;
    npy_header h;
    int ok;
    cnn_status st;

    if (file_size < 10)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: file is %llu bytes, too short for a .npy header",
                        path, (unsigned long long)file_size);
    if ((st = read_exact(ctx, path, f, prelude, 10)) != CNN_OK)
        return st;
    if (memcmp(prelude, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: not a .npy file (it does not start with "
                        "\\x93NUMPY)",
                        path);
    if (prelude[7] != 0 || prelude[6] < 1 || prelude[6] > 3)
        return cnn_fail(ctx, CNN_ERR_UNSUPPORTED,
                        "%s: .npy version %u.%u is not supported (1.0, 2.0 "
                        "and 3.0 are)",
                        path, prelude[6], prelude[7]);
    prelude_len = prelude[6] == 1 ? 10 : 12;
    if (prelude_len == 12 && file_size < 12)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: file is %llu bytes, too short for a .npy header",
                        path, (unsigned long long)file_size);
    if (prelude_len == 12 &&
        (st = read_exact(ctx, path, f, prelude + 10, 2)) != CNN_OK)
        return st;
    for (size_t k = prelude_len; k > 8; k--)
        header_len = header_len << 8 | prelude[k - 1];
    if (header_len > NPY_MAX_HEADER)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: .npy header length %llu exceeds the limit of %u",
                        path, (unsigned long long)header_len, NPY_MAX_HEADER);
    if (header_len > file_size - prelude_len)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: .npy header length %llu runs past the end of the "
                        "file (%llu bytes follow)",
                        path, (unsigned long long)header_len,
                        (unsigned long long)(file_size - prelude_len));

    text = malloc(header_len ? (size_t)header_len : 1);
    if (!text)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", path);
    st = read_exact(ctx, path, f, text, (size_t)header_len);
    ps.ctx = ctx;
    ps.path = path;
    ps.start = ps.p = text;
    ps.end = text + header_len;
    if (st == CNN_OK)
        st = parse_header(&ps, &h);
    free(text);
    if (st != CNN_OK)
        return st;

    numel = cnn_shape_numel_checked(&h.shape, &ok);
    if (!ok || numel > SIZE_MAX / sizeof(double))
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: shape has too many elements",
                        path);
    need = (uint64_t)numel * h.item_size;
    data_size = file_size - prelude_len - header_len;
    if (data_size != need) {
        char shape[256];
        size_t used = (size_t)snprintf(shape, sizeof shape, "(");
        for (int32_t i = 0; i < h.shape.rank && used < sizeof shape; i++)
            used += (size_t)snprintf(shape + used, sizeof shape - used,
                                     "%s%lld", i ? ", " : "",
                                     (long long)h.shape.dims[i]);
        if (used < sizeof shape)
            snprintf(shape + used, sizeof shape - used,
                     h.shape.rank == 1 ? ",)" : ")");
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: %s: shape %s of %zu-byte items needs %llu data "
                        "bytes, file has %llu",
                        path, data_size < need ? "truncated" : "trailing bytes",
                        shape, h.item_size, (unsigned long long)need,
                        (unsigned long long)data_size);
    }
    out->data = malloc(numel ? numel * sizeof(float) : 1);
    if (!out->data)
        return cnn_fail(ctx, CNN_ERR_NOMEM,
                        "%s: out of memory for %zu values", path, numel);
    st = read_data(ctx, path, f, &h, numel, out->data);
    if (st != CNN_OK) {
        free(out->data);
        out->data = NULL;
        return st;
    }
    out->shape = h.shape;
    return CNN_OK;
}

cnn_status cnn_npy_read(cnn_context *ctx, const char *path, cnn_tensor *out)
{
    uint64_t size;
    FILE *f;
    cnn_status st;

    if (!out)
        return cnn_fail(ctx, CNN_ERR_INVALID, ".npy read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path || !*path)
        return cnn_fail(ctx, CNN_ERR_INVALID, ".npy read: empty path");
    if (!host_little_endian())
        return cnn_fail(ctx, CNN_ERR_UNSUPPORTED,
                        "%s: .npy I/O needs a little-endian host", path);
    st = cnn_file_fopen_regular(ctx, path, &f, &size);
    if (st != CNN_OK)
        return st;
    st = read_npy(ctx, path, f, size, out);
    fclose(f);
    return st;
}

/* Writes a version 1.0 file of the given descr, laid out exactly as
 * numpy.save (numpy 1.24) lays it out. */
static cnn_status write_npy(cnn_context *ctx, const char *path,
                            const char *descr, const cnn_shape *shape,
                            const void *data, size_t item_size)
{
    char header[NPY_ALIGN * 8];
    size_t len;
    size_t total;
    size_t numel;
    size_t first_digits = 0;
    int ok;
    cnn_atomic_file *file;
    cnn_status st;

    if (!path || !*path)
        return cnn_fail(ctx, CNN_ERR_INVALID, ".npy write: empty path");
    if (!host_little_endian())
        return cnn_fail(ctx, CNN_ERR_UNSUPPORTED,
                        "%s: .npy I/O needs a little-endian host", path);
    numel = cnn_shape_numel_checked(shape, &ok);
    if (!ok || numel > SIZE_MAX / item_size)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: tensor shape (rank %d) has a negative dimension, "
                        "too many dimensions or too many elements",
                        path, (int)shape->rank);
    if (numel > 0 && !data)
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s: tensor has no data", path);

    /* Magic, version 1.0, then the dict as numpy's repr() writes it. The
     * 2-byte length goes in once the padding is known. */
    memcpy(header, NPY_MAGIC "\x01\x00\x00\x00", 10);
    len = 10;
    len += (size_t)snprintf(header + len, sizeof header - len,
                            "{'descr': '%s', 'fortran_order': False, "
                            "'shape': (",
                            descr);
    for (int32_t i = 0; i < shape->rank; i++) {
        int n = snprintf(header + len, sizeof header - len, "%s%lld",
                         i ? ", " : "", (long long)shape->dims[i]);
        if (i == 0)
            first_digits = (size_t)n;
        len += (size_t)n;
    }
    len += (size_t)snprintf(header + len, sizeof header - len, "%s), }",
                            shape->rank == 1 ? "," : "");
    if (shape->rank > 0) {
        memset(header + len, ' ', NPY_GROWTH_DIGITS - first_digits);
        len += NPY_GROWTH_DIGITS - first_digits;
    }
    /* Spaces then '\n' up to the next multiple of 64 (a full 64 more when
     * already aligned, as numpy does). */
    total = len + 1 + (NPY_ALIGN - (len + 1) % NPY_ALIGN);
    memset(header + len, ' ', total - 1 - len);
    header[total - 1] = '\n';
    header[8] = (char)((total - 10) & 0xff);
    header[9] = (char)((total - 10) >> 8);

    st = cnn_atomic_file_open(ctx, path, &file);
    if (st != CNN_OK)
        return st;
    (void)cnn_atomic_file_write(file, header, total);
    (void)cnn_atomic_file_write(file, data, numel * item_size);
    return cnn_atomic_file_commit(file);
}

cnn_status cnn_npy_write(cnn_context *ctx, const char *path,
                         const cnn_tensor *tensor)
{
    if (!tensor)
        return cnn_fail(ctx, CNN_ERR_INVALID, ".npy write: tensor is NULL");
    return write_npy(ctx, path, "<f4", &tensor->shape, tensor->data,
                     sizeof(float));
}

cnn_status cnn_npy_write_i32(cnn_context *ctx, const char *path,
                             const int32_t *values, size_t count)
{
    int64_t dims[1];
    cnn_shape shape;
    if (count > (size_t)INT64_MAX)
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s: too many values", path);
    dims[0] = (int64_t)count;
    shape = cnn_shape_make(1, dims);
    return write_npy(ctx, path, "<i4", &shape, values, sizeof(int32_t));
}
