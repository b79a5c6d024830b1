/* SPDX-License-Identifier: MIT */
/* Reading a model: the file (size-checked), then protobuf-c's unpacker
 * behind two guards it lacks. protobuf-c recurses once per nested message
 * and allocates a struct for every message on the wire, so a hostile file
 * could exhaust the stack (a graph in an attribute in a node in a graph ...)
 * or turn a few bytes per empty message into a hundred bytes of memory. We
 * walk the wire format first with the generated descriptors to bound the
 * nesting, and unpack through an allocator with a budget. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx_internal.h"

/* ---- Nesting depth ---------------------------------------------------- */

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return 0;
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 1;
        }
    }
    return 0;
}

/* 1: well-formed as far as framing goes and no deeper than the limit;
 * 0: malformed framing; -1: too deep. */
static int check_nesting(const ProtobufCMessageDescriptor *desc,
                         const uint8_t *p, const uint8_t *end, int depth)
{
    if (depth > ONNX_MAX_NESTING)
        return -1;
    while (p < end) {
        uint64_t tag, v;
        if (!read_varint(&p, end, &tag))
            return 0;
        switch (tag & 7u) {
        case 0:
            if (!read_varint(&p, end, &v))
                return 0;
            break;
        case 1:
            if (end - p < 8)
                return 0;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return 0;
            p += 4;
            break;
        case 2: {
            const ProtobufCFieldDescriptor *f;
            if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return 0;
            f = tag >> 3 <= UINT32_MAX
                    ? protobuf_c_message_descriptor_get_field(
                          desc, (unsigned)(tag >> 3))
                    : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                int r = check_nesting(f->descriptor, p, p + v, depth + 1);
                if (r != 1)
                    return r;
            }
            p += v;
            break;
        }
        default: /* groups (3, 4) are not part of ONNX; 6 and 7 do not exist */
            return 0;
        }
    }
    return 1;
}

/* ---- A budgeted allocator --------------------------------------------- */


/* Each block carries its size in front, so free can give it back. */
#define BLOCK_HEADER 16

static void *budget_alloc(void *data, size_t size)
{
    onnx_model *b = data;
    unsigned char *p;
    if (size > b->limit - b->used || size > SIZE_MAX - BLOCK_HEADER) {
        b->exceeded = 1;
        return NULL;
    }
    p = malloc(size + BLOCK_HEADER);
    if (!p)
        return NULL;
    memcpy(p, &size, sizeof size);
    b->used += size;
    return p + BLOCK_HEADER;
}

static void budget_free(void *data, void *ptr)
{
    onnx_model *b = data;
    size_t size;
    unsigned char *p = ptr;
    if (!p)
        return;
    p -= BLOCK_HEADER;
    memcpy(&size, p, sizeof size);
    b->used -= size;
    free(p);
}

/* Memory for the unpacked model: tensors' bytes once (raw data is copied),
 * integer lists at most 8 bytes per wire byte, plus room for the messages'
 * structs. A real model needs about 1x its size. */
static size_t budget_for(size_t size)
{
    size_t extra = (size_t)256 << 20;
    if (size > (SIZE_MAX - extra) / 3)
        return SIZE_MAX;
    return 3 * size + extra;
}

cnn_status onnx_model_unpack(cnn_context *ctx, const char *origin,
                             const uint8_t *data, size_t size,
                             onnx_model **out)
{
    onnx_model *m;
    int r;

    *out = NULL;
    if (size == 0)
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: empty file, not an ONNX model", origin);
    r = check_nesting(&onnx__model_proto__descriptor, data, data + size, 0);
    if (r == 0)
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: malformed or truncated protobuf, not a "
                                "readable ONNX model", origin);
    if (r < 0)
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: messages nested more than %d deep "
                                "(subgraphs in attributes); refused",
                                origin, ONNX_MAX_NESTING);
    /* The allocator must outlive the unpack (freeing uses it), so it lives
     * beside the model. */
    m = calloc(1, sizeof *m);
    if (!m)
        return cnn_context_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory",
                                origin);
    m->limit = budget_for(size);
    m->alloc.alloc = budget_alloc;
    m->alloc.free = budget_free;
    m->alloc.allocator_data = m;
    m->proto = onnx__model_proto__unpack(&m->alloc, size, data);
    if (!m->proto) {
        int exceeded = m->exceeded;
        free(m);
        if (exceeded)
            return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                    "%s: unpacking needs more than %zu MiB "
                                    "for a %zu-byte file; refused",
                                    origin, budget_for(size) >> 20, size);
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: malformed or truncated protobuf, not a "
                                "readable ONNX model", origin);
    }
    *out = m;
    return CNN_OK;
}

void onnx_model_free(onnx_model *m)
{
    if (!m)
        return;
    if (m->proto)
        onnx__model_proto__free_unpacked(m->proto, &m->alloc);
    free(m);
}

cnn_status onnx_read_file(cnn_context *ctx, const char *path, size_t max,
                          uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *buf;
    size_t n;

    *data = NULL;
    *size = 0;
    if (!f)
        return cnn_context_fail(ctx, CNN_ERR_IO, "%s: cannot open: %s", path,
                                strerror(errno));
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return cnn_context_fail(ctx, CNN_ERR_IO, "%s: not a regular file",
                                path);
    }
    if ((uint64_t)st.st_size > max) {
        fclose(f);
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: %lld bytes, more than the %zu allowed",
                                path, (long long)st.st_size, max);
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        fclose(f);
        return cnn_context_fail(ctx, CNN_ERR_NOMEM,
                                "%s: out of memory for %lld bytes", path,
                                (long long)st.st_size);
    }
    n = fread(buf, 1, (size_t)st.st_size, f);
    if (n != (size_t)st.st_size || ferror(f)) {
        fclose(f);
        free(buf);
        return cnn_context_fail(ctx, CNN_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    *data = buf;
    *size = n;
    return CNN_OK;
}
