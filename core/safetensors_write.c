/* SPDX-License-Identifier: MIT */
/* safetensors writer: tensors as F32 in the given order, "__metadata__"
 * first, the JSON header padded with spaces to a multiple of 8 bytes (as the
 * reference implementation does), the whole file written through
 * atomic_file so a failure or crash leaves the old file in place. The
 * reader and the format notes are in safetensors.c. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/atomic_file.h"
#include "cnn/io.h"
#include "context_internal.h"
#include "json_util.h"

/* Float arrays are written as they sit in memory: that is the F32 layout
 * only on a little-endian host with IEEE-754 binary32 floats. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors I/O assumes a little-endian host"
#endif
#endif
_Static_assert(sizeof(float) == 4 && FLT_MANT_DIG == 24 && FLT_MAX_EXP == 128,
               "safetensors I/O needs IEEE-754 binary32 floats");

static int host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* {"dtype":"F32","shape":[..],"data_offsets":[begin,end]} for one tensor;
 * *at advances past its bytes. */
static cnn_status tensor_entry(cnn_context *ctx, const char *path,
                               const cnn_named_tensor *t, uint64_t *at,
                               json_t **out)
{
    const cnn_shape *s = &t->tensor.shape;
    json_t *entry;
    json_t *shape;
    size_t numel;
    int ok;

    *out = NULL;
    if (s->rank < 0 || s->rank > CNN_MAX_RANK)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: tensor '%s': rank %d is outside 0..%d", path,
                        t->name, (int)s->rank, CNN_MAX_RANK);
    numel = cnn_shape_numel_checked(s, &ok);
    if (!ok || numel > SIZE_MAX / sizeof(float) ||
        (uint64_t)numel * sizeof(float) > (uint64_t)INT64_MAX - *at)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: tensor '%s': shape has a negative dimension or "
                        "too many elements",
                        path, t->name);
    if (numel > 0 && !t->tensor.data)
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s: tensor '%s' has no data",
                        path, t->name);
    shape = json_array();
    entry = json_object();
    if (!shape || !entry ||
        json_object_set_new(entry, "dtype", json_string("F32")) != 0)
        goto nomem;
    for (int32_t i = 0; i < s->rank; i++)
        if (json_array_append_new(shape, json_integer(s->dims[i])) != 0)
            goto nomem;
    if (json_object_set(entry, "shape", shape) != 0 ||
        json_object_set_new(entry, "data_offsets",
                            json_pack("[II]", (json_int_t)*at,
                                      (json_int_t)(*at + numel * 4))) != 0)
        goto nomem;
    json_decref(shape);
    *at += (uint64_t)numel * 4;
    *out = entry;
    return CNN_OK;
nomem:
    json_decref(shape);
    json_decref(entry);
    return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", path);
}

static cnn_status metadata_object(cnn_context *ctx, const char *path,
                                  const char *const *metadata, size_t n,
                                  json_t **out)
{
    json_t *meta = json_object();
    *out = NULL;
    if (!meta)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++) {
        const char *key = metadata[2 * i];
        json_t *value;
        cnn_status st;
        if (!key || !metadata[2 * i + 1]) {
            json_decref(meta);
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "%s: metadata pair %zu has a NULL key or value",
                            path, i);
        }
        if (json_object_get(meta, key)) {
            json_decref(meta);
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "%s: metadata key '%s' given twice", path, key);
        }
        st = cnn_utf8_valid(key, strlen(key))
                 ? cnn_json_string_new(ctx, "metadata value",
                                       metadata[2 * i + 1], &value)
                 : cnn_fail(ctx, CNN_ERR_INVALID,
                            "metadata key '%s' is not valid UTF-8", key);
        if (st == CNN_OK && json_object_set_new(meta, key, value) != 0)
            st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        if (st != CNN_OK) {
            json_decref(meta);
            return cnn_fail_prefix(ctx, "%s", path);
        }
    }
    *out = meta;
    return CNN_OK;
}

/* The JSON header: "__metadata__" first, then the tensors in the given
 * order, as the reference implementation lays it out. */
static cnn_status build_header(cnn_context *ctx, const char *path,
                               const cnn_named_tensor *tensors, size_t n,
                               const char *const *metadata, size_t n_metadata,
                               json_t **out)
{
    json_t *root = json_object();
    uint64_t at = 0;
    cnn_status st = CNN_OK;

    *out = NULL;
    if (!root)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", path);
    if (n_metadata > 0) {
        json_t *meta;
        st = metadata_object(ctx, path, metadata, n_metadata, &meta);
        if (st == CNN_OK && json_object_set_new(root, "__metadata__", meta))
            st = cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; st == CNN_OK && i < n; i++) {
        const char *name = tensors[i].name;
        json_t *entry;
        if (!name || !*name)
            st = cnn_fail(ctx, CNN_ERR_INVALID,
                          "%s: tensor %zu has an empty name", path, i);
        else if (strcmp(name, "__metadata__") == 0)
            st = cnn_fail(ctx, CNN_ERR_INVALID,
                          "%s: '__metadata__' is reserved, not a tensor name",
                          path);
        else if (!cnn_utf8_valid(name, strlen(name)))
            st = cnn_fail(ctx, CNN_ERR_INVALID,
                          "%s: tensor name '%s' is not valid UTF-8", path,
                          name);
        else if (json_object_get(root, name))
            st = cnn_fail(ctx, CNN_ERR_INVALID,
                          "%s: tensor '%s' given twice", path, name);
        else
            st = tensor_entry(ctx, path, &tensors[i], &at, &entry);
        if (st == CNN_OK && json_object_set_new(root, name, entry) != 0)
            st = cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", path);
    }
    if (st != CNN_OK) {
        json_decref(root);
        return st;
    }
    *out = root;
    return CNN_OK;
}

cnn_status cnn_safetensors_write(cnn_context *ctx, const char *path,
                                 const cnn_named_tensor *tensors,
                                 size_t n_tensors,
                                 const char *const *metadata,
                                 size_t n_metadata)
{
    json_t *root;
    char *text;
    size_t text_len;
    size_t padded;
    unsigned char *header;
    cnn_atomic_file *file;
    cnn_status st;

    if (!path || !*path)
        return cnn_fail(ctx, CNN_ERR_INVALID, "safetensors write: empty path");
    if ((n_tensors && !tensors) || (n_metadata && !metadata))
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: NULL tensor or metadata array", path);
    if (!host_little_endian())
        return cnn_fail(ctx, CNN_ERR_UNSUPPORTED,
                        "%s: safetensors needs a little-endian host", path);
    st = build_header(ctx, path, tensors, n_tensors, metadata, n_metadata,
                      &root);
    if (st != CNN_OK)
        return st;
    st = cnn_json_dump_compact(ctx, root, &text, &text_len);
    json_decref(root);
    if (st != CNN_OK)
        return st;
    /* Spaces pad the header to a multiple of 8 so the data is aligned. */
    padded = text_len + (8 - text_len % 8) % 8;
    if (padded > CNN_SAFETENSORS_MAX_HEADER) {
        free(text);
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: header of %zu bytes exceeds the limit of %u",
                        path, padded, CNN_SAFETENSORS_MAX_HEADER);
    }
    header = malloc(8 + padded);
    if (!header) {
        free(text);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int k = 0; k < 8; k++)
        header[k] = (unsigned char)((uint64_t)padded >> (8 * k));
    memcpy(header + 8, text, text_len);
    memset(header + 8 + text_len, ' ', padded - text_len);
    free(text);

    st = cnn_atomic_file_open(ctx, path, &file);
    if (st == CNN_OK) {
        (void)cnn_atomic_file_write(file, header, 8 + padded);
        for (size_t i = 0; i < n_tensors; i++)
            (void)cnn_atomic_file_write(
                file, tensors[i].tensor.data,
                cnn_shape_numel(&tensors[i].tensor.shape) * sizeof(float));
        /* A failed write is remembered by the handle; commit reports it. */
        st = cnn_atomic_file_commit(file);
    }
    free(header);
    return st;
}
