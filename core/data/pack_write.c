/* SPDX-License-Identifier: MIT */
/* Writing packed dataset files (cnn/pack.h): the header is checked as the
 * reader will check it, then every byte goes through one running CRC-32 on
 * its way to the atomic file, from the head to the footer's records_bytes
 * (pack_format.h). */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../context_internal.h"
#include "cnn/atomic_file.h"
#include "cnn/data.h"
#include "cnn/image.h"
#include "cnn/pack.h"
#include "data_internal.h"
#include "pack_format.h"

struct cnn_pack_writer {
    cnn_context *ctx;
    char *path;
    cnn_atomic_file *file;
    cnn_pack_kind kind;
    size_t count;
    size_t record_bytes; /* raw */
    size_t added;
    uint64_t records_bytes;
    uint64_t *offsets; /* encoded: count + 1 */
    uLong crc;
};

/* zlib's crc32 takes lengths as uInt: fed in pieces. */
static uLong crc_update(uLong crc, const void *data, size_t size)
{
    const Bytef *p = data;
    while (size > 0) {
        uInt n = size > (1u << 30) ? (1u << 30) : (uInt)size;
        crc = crc32(crc, p, n);
        p += n;
        size -= n;
    }
    return crc;
}

static cnn_status put(cnn_pack_writer *w, const void *data, size_t size)
{
    w->crc = crc_update(w->crc, data, size);
    return cnn_atomic_file_write(w->file, data, size);
}

static cnn_status check_header(cnn_context *ctx, const char *path,
                               const cnn_pack_header *h, size_t *names_bytes,
                               size_t *records_offset, size_t *record_bytes)
{
    size_t names = 0, labels_bytes, end;
    if (h->kind != CNN_PACK_RAW && h->kind != CNN_PACK_ENCODED)
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s: kind %d is not raw (1) "
                        "or encoded (2)", path, (int)h->kind);
    if (h->count == 0)
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s: count is 0: a pack holds "
                        "at least one record", path);
    if (h->n_classes == 0 || h->n_classes > PACK_MAX_CLASSES)
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s: class count %zu is "
                        "outside 1..%u", path, h->n_classes,
                        (unsigned)PACK_MAX_CLASSES);
    if (h->kind == CNN_PACK_RAW) {
        if ((h->channels != 1 && h->channels != 3) || h->height < 1 ||
            h->height > CNN_DATA_MAX_SIDE || h->width < 1 ||
            h->width > CNN_DATA_MAX_SIDE)
            return cnn_fail(ctx, CNN_ERR_INVALID, "%s: raw records of "
                            "%dx%dx%d: channels must be 1 or 3 and sides "
                            "1..%d", path, (int)h->channels, (int)h->height,
                            (int)h->width, CNN_DATA_MAX_SIDE);
        *record_bytes = (size_t)h->channels * (size_t)h->height *
                        (size_t)h->width;
    } else {
        if (h->channels || h->height || h->width)
            return cnn_fail(ctx, CNN_ERR_INVALID, "%s: encoded records have "
                            "no fixed shape (channels, height, width must "
                            "be 0)", path);
        *record_bytes = 0;
    }
    for (size_t c = 0; c < h->n_classes; c++) {
        const char *name = h->class_names[c];
        size_t len = name ? strlen(name) : 0;
        if (len == 0 || len > PACK_MAX_CLASS_NAME)
            return cnn_fail(ctx, CNN_ERR_INVALID, "%s: class %zu's name is "
                            "empty or over %d bytes", path, c,
                            PACK_MAX_CLASS_NAME);
        names += 4 + len; /* at most 2^24 * 4100: no overflow */
    }
    for (size_t i = 0; i < h->count; i++)
        if (h->labels[i] < 0 || (size_t)h->labels[i] >= h->n_classes)
            return cnn_fail(ctx, CNN_ERR_INVALID, "%s: label %d of record %zu "
                            "is outside 0..%zu", path, (int)h->labels[i], i,
                            h->n_classes - 1);
    if (!cnn_data_mul(h->count, 4, &labels_bytes) ||
        labels_bytes > SIZE_MAX - PACK_HEAD_BYTES - names - PACK_RECORDS_ALIGN)
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s: %zu records overflow the "
                        "address space", path, h->count);
    end = PACK_HEAD_BYTES + names + labels_bytes;
    *records_offset = (end + PACK_RECORDS_ALIGN - 1) /
                      PACK_RECORDS_ALIGN * PACK_RECORDS_ALIGN;
    *names_bytes = names;
    return CNN_OK;
}

/* Head, class names, labels and padding: everything before the records. */
static cnn_status write_front(cnn_pack_writer *w, const cnn_pack_header *h,
                              size_t names_bytes, size_t records_offset)
{
    uint8_t head[PACK_HEAD_BYTES] = {0};
    uint8_t pad[PACK_RECORDS_ALIGN] = {0};
    size_t at = PACK_HEAD_BYTES;
    cnn_status st;
    memcpy(head, PACK_MAGIC, PACK_MAGIC_BYTES);
    pack_put_u32(head + PACK_AT_VERSION, PACK_VERSION);
    pack_put_u32(head + PACK_AT_KIND, (uint32_t)h->kind);
    pack_put_u64(head + PACK_AT_COUNT, h->count);
    pack_put_u32(head + PACK_AT_CHANNELS, (uint32_t)h->channels);
    pack_put_u32(head + PACK_AT_HEIGHT, (uint32_t)h->height);
    pack_put_u32(head + PACK_AT_WIDTH, (uint32_t)h->width);
    pack_put_u32(head + PACK_AT_CLASSES, (uint32_t)h->n_classes);
    pack_put_u64(head + PACK_AT_NAMES_BYTES, names_bytes);
    pack_put_u64(head + PACK_AT_RECORDS_OFFSET, records_offset);
    st = put(w, head, sizeof head);
    for (size_t c = 0; st == CNN_OK && c < h->n_classes; c++) {
        uint8_t len[4];
        size_t n = strlen(h->class_names[c]);
        pack_put_u32(len, (uint32_t)n);
        st = put(w, len, 4);
        if (st == CNN_OK)
            st = put(w, h->class_names[c], n);
        at += 4 + n;
    }
    for (size_t i = 0; st == CNN_OK && i < h->count; i++) {
        uint8_t label[4];
        pack_put_u32(label, (uint32_t)h->labels[i]);
        st = put(w, label, 4);
        at += 4;
    }
    if (st == CNN_OK && records_offset > at)
        st = put(w, pad, records_offset - at);
    return st;
}

cnn_status cnn_pack_writer_open(cnn_context *ctx, const char *path,
                                const cnn_pack_header *header,
                                cnn_pack_writer **out)
{
    cnn_pack_writer *w;
    size_t names_bytes = 0, records_offset = 0, record_bytes = 0;
    cnn_status st;
    *out = NULL;
    st = check_header(ctx, path, header, &names_bytes, &records_offset,
                      &record_bytes);
    if (st != CNN_OK)
        return st;
    w = calloc(1, sizeof *w);
    if (!w || !(w->path = cnn_data_strdup(path))) {
        free(w);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", path);
    }
    w->ctx = ctx;
    w->kind = header->kind;
    w->count = header->count;
    w->record_bytes = record_bytes;
    w->crc = crc32(0L, Z_NULL, 0);
    if (header->kind == CNN_PACK_ENCODED) {
        w->offsets = header->count < SIZE_MAX / sizeof *w->offsets
                         ? calloc(header->count + 1, sizeof *w->offsets)
                         : NULL;
        if (!w->offsets) {
            cnn_pack_writer_abort(w);
            return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory for "
                            "%zu record offsets", path, header->count);
        }
    }
    st = cnn_atomic_file_open(ctx, path, &w->file);
    if (st == CNN_OK)
        st = write_front(w, header, names_bytes, records_offset);
    if (st != CNN_OK) {
        cnn_pack_writer_abort(w);
        return st;
    }
    *out = w;
    return CNN_OK;
}

cnn_status cnn_pack_writer_add(cnn_pack_writer *w, const void *record,
                               size_t size)
{
    if (w->added == w->count)
        return cnn_fail(w->ctx, CNN_ERR_INVALID, "%s: record %zu is one "
                        "more than the %zu the header announced", w->path,
                        w->added, w->count);
    if (w->kind == CNN_PACK_RAW && size != w->record_bytes)
        return cnn_fail(w->ctx, CNN_ERR_INVALID, "%s: record %zu has %zu "
                        "bytes; raw records have %zu", w->path, w->added,
                        size, w->record_bytes);
    if (w->kind == CNN_PACK_ENCODED &&
        (size == 0 || size > CNN_IMAGE_MAX_FILE_BYTES))
        return cnn_fail(w->ctx, CNN_ERR_INVALID, "%s: record %zu has %zu "
                        "bytes; encoded records have 1 to %u", w->path,
                        w->added, size, (unsigned)CNN_IMAGE_MAX_FILE_BYTES);
    w->records_bytes += size;
    w->added++;
    if (w->offsets)
        w->offsets[w->added] = w->records_bytes;
    return put(w, record, size);
}

cnn_status cnn_pack_writer_commit(cnn_pack_writer *w)
{
    cnn_context *ctx = w->ctx;
    uint8_t footer[PACK_FOOTER_BYTES] = {0};
    cnn_status st = CNN_OK;
    if (w->added != w->count) {
        st = cnn_fail(ctx, CNN_ERR_INVALID, "%s: %zu records added; the "
                      "header announced %zu", w->path, w->added, w->count);
        cnn_pack_writer_abort(w);
        return st;
    }
    for (size_t i = 0; st == CNN_OK && w->offsets && i <= w->count; i++) {
        uint8_t le[8];
        pack_put_u64(le, w->offsets[i]);
        st = put(w, le, 8);
    }
    pack_put_u64(footer, w->records_bytes);
    w->crc = crc_update(w->crc, footer, PACK_FOOTER_CRC_AT);
    pack_put_u32(footer + PACK_FOOTER_CRC_AT, (uint32_t)w->crc);
    memcpy(footer + 16, PACK_END_MAGIC, PACK_MAGIC_BYTES);
    if (st == CNN_OK)
        st = cnn_atomic_file_write(w->file, footer, sizeof footer);
    if (st == CNN_OK) {
        st = cnn_atomic_file_commit(w->file);
        w->file = NULL;
    }
    cnn_pack_writer_abort(w);
    return st;
}

void cnn_pack_writer_abort(cnn_pack_writer *w)
{
    if (!w)
        return;
    cnn_atomic_file_abort(w->file);
    free(w->offsets);
    free(w->path);
    free(w);
}
