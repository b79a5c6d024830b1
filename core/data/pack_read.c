/* SPDX-License-Identifier: MIT */
/* Reading packed dataset files ("pack:FILE", layout in pack_format.h).
 *
 * A pack is untrusted input. It is memory-mapped and checked completely
 * before any of it is used: the head's fields, the file size they and the
 * footer imply (all size arithmetic overflow-checked), the CRC-32 of every
 * byte, then the class names, every label and (encoded) every record
 * offset. The records then stay in the mapping (pack_file.c), which every
 * dataset cut from this one shares: raw samples are read straight from it,
 * so opening decodes nothing and an epoch reads pages the kernel caches;
 * encoded records are decoded as batches need them, like a folder's files.
 * Errors name the file and the field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../context_internal.h"
#include "cnn/image.h"
#include "data_internal.h"
#include "pack_format.h"

/* The parsed head and footer, with the sections' places in the file. */
typedef struct pack_view {
    const char *path;
    cnn_data_pack_file *file;
    const uint8_t *base;
    size_t size;
    uint32_t kind;
    size_t count;
    int32_t channels, height, width;
    size_t sample_bytes; /* raw */
    size_t n_classes;
    size_t names_bytes;
    size_t labels_at;
    size_t records_at;
    size_t records_bytes;
    size_t offsets_at; /* encoded */
} pack_view;

/* a + b into *acc; 0 on overflow. */
static int add_size(size_t *acc, size_t b)
{
    if (*acc > SIZE_MAX - b)
        return 0;
    *acc += b;
    return 1;
}

static cnn_status parse_head(cnn_context *ctx, pack_view *v)
{
    const uint8_t *h = v->base;
    uint64_t count = pack_get_u64(h + PACK_AT_COUNT);
    uint64_t names = pack_get_u64(h + PACK_AT_NAMES_BYTES);
    uint64_t records_at = pack_get_u64(h + PACK_AT_RECORDS_OFFSET);
    uint32_t version = pack_get_u32(h + PACK_AT_VERSION);
    uint32_t c = pack_get_u32(h + PACK_AT_CHANNELS);
    uint32_t hh = pack_get_u32(h + PACK_AT_HEIGHT);
    uint32_t w = pack_get_u32(h + PACK_AT_WIDTH);
    uint32_t classes = pack_get_u32(h + PACK_AT_CLASSES);
    size_t front;
    if (memcmp(h, PACK_MAGIC, PACK_MAGIC_BYTES) != 0)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: not a cnnrun pack (no "
                        "CNNPACK magic; make one with `cnnrun pack`)",
                        v->path);
    if (version != PACK_VERSION)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: field 'version' is %u; "
                        "this cnnrun reads version %d", v->path, version,
                        PACK_VERSION);
    v->kind = pack_get_u32(h + PACK_AT_KIND);
    if (v->kind != PACK_KIND_RAW && v->kind != PACK_KIND_ENCODED)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: field 'kind' is %u, not "
                        "raw (1) or encoded (2)", v->path, v->kind);
    if (pack_get_u64(h + PACK_AT_RESERVED) != 0)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: reserved head bytes "
                        "56..63 are not zero", v->path);
    /* Every record takes a 4-byte label, so a count past size / 4 is a
     * lie, caught here before anything is sized by it. */
    if (count == 0 || count > v->size / 4)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: field 'count' is %llu; "
                        "a file of %zu bytes holds 1 to %zu records",
                        v->path, (unsigned long long)count, v->size,
                        v->size / 4);
    if (classes == 0 || classes > PACK_MAX_CLASSES)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: field 'classes' is %u, "
                        "not in 1..%u", v->path, classes,
                        (unsigned)PACK_MAX_CLASSES);
    if (v->kind == PACK_KIND_RAW) {
        if ((c != 1 && c != 3) || hh < 1 || hh > CNN_DATA_MAX_SIDE ||
            w < 1 || w > CNN_DATA_MAX_SIDE)
            return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: fields 'channels', "
                            "'height', 'width' are %ux%ux%u; raw records "
                            "have 1 or 3 channels and sides 1..%d", v->path,
                            c, hh, w, CNN_DATA_MAX_SIDE);
    } else if (c || hh || w) {
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: fields 'channels', "
                        "'height', 'width' are %ux%ux%u; encoded records "
                        "have none (0x0x0)", v->path, c, hh, w);
    }
    if (names < 4u * (uint64_t)classes || names > v->size)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: field 'names_bytes' is "
                        "%llu; %u class names need %llu to %zu bytes",
                        v->path, (unsigned long long)names, classes,
                        4ull * classes, v->size);
    v->count = (size_t)count;
    v->channels = (int32_t)c;
    v->height = (int32_t)hh;
    v->width = (int32_t)w;
    v->sample_bytes = (size_t)c * hh * w; /* < 3 * 2^28 */
    v->n_classes = classes;
    v->names_bytes = (size_t)names;
    v->labels_at = PACK_HEAD_BYTES + v->names_bytes; /* names <= size */
    front = v->labels_at;
    if (!add_size(&front, v->count * 4) ||
        !add_size(&front, PACK_RECORDS_ALIGN - 1))
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: names and labels overflow "
                        "the address space", v->path);
    front = front / PACK_RECORDS_ALIGN * PACK_RECORDS_ALIGN;
    if (records_at != front)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: field 'records_offset' is "
                        "%llu; after %zu bytes of names and %zu labels it "
                        "must be %zu", v->path,
                        (unsigned long long)records_at, v->names_bytes,
                        v->count, front);
    v->records_at = front;
    return CNN_OK;
}

/* The footer's records_bytes and the file size every field implies. */
static cnn_status check_size(cnn_context *ctx, pack_view *v)
{
    const uint8_t *f = v->base + v->size - PACK_FOOTER_BYTES;
    uint64_t records = pack_get_u64(f);
    size_t expect = v->records_at, offsets = 0;
    if (memcmp(f + 16, PACK_END_MAGIC, PACK_MAGIC_BYTES) != 0)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: no CNNPEND magic at the "
                        "end: the file is truncated or has trailing bytes",
                        v->path);
    if (pack_get_u32(f + 12) != 0)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: reserved footer bytes are "
                        "not zero", v->path);
    if (records > v->size)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: field 'records_bytes' is "
                        "%llu, more than the file's %zu bytes", v->path,
                        (unsigned long long)records, v->size);
    v->records_bytes = (size_t)records;
    if (v->kind == PACK_KIND_RAW) {
        size_t want = 0;
        if (!cnn_data_mul(v->count, v->sample_bytes, &want) ||
            want != v->records_bytes)
            return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: field 'records_bytes' "
                            "is %zu; %zu raw records of %dx%dx%d take %zu",
                            v->path, v->records_bytes, v->count,
                            (int)v->channels, (int)v->height,
                            (int)v->width, want);
    } else {
        if (!cnn_data_mul(v->count + 1, 8, &offsets))
            return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: %zu record offsets "
                            "overflow the address space", v->path, v->count);
    }
    if (!add_size(&expect, v->records_bytes) || !add_size(&expect, offsets) ||
        !add_size(&expect, PACK_FOOTER_BYTES) || expect != v->size)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: the file is %zu bytes; "
                        "its head and footer describe %s (truncated or "
                        "corrupt)", v->path, v->size,
                        expect == v->size ? "more than fits in memory"
                                          : "another size");
    v->offsets_at = v->records_at + v->records_bytes;
    return CNN_OK;
}

/* The CRC-32 of the whole file, read in chunks with the next one read
 * ahead. An encoded pack's chunks leave the process behind the checksum
 * (its records are decoded one by one later), so opening a pack larger
 * than memory does not make the process that large; a raw pack's stay, as
 * its samples are read from them. */
#define CRC_CHUNK ((size_t)8 << 20)

static cnn_status check_crc(cnn_context *ctx, const pack_view *v)
{
    size_t end = v->size - PACK_FOOTER_BYTES + PACK_FOOTER_CRC_AT;
    uLong crc = crc32(0L, Z_NULL, 0);
    uint32_t stored =
        pack_get_u32(v->base + v->size - PACK_FOOTER_BYTES + PACK_FOOTER_CRC_AT);
    cnn_data_pack_file_prefetch(v->file, 0, CRC_CHUNK);
    for (size_t at = 0; at < end; at += CRC_CHUNK) {
        uInt n = (uInt)(end - at < CRC_CHUNK ? end - at : CRC_CHUNK);
        cnn_data_pack_file_prefetch(v->file, at + CRC_CHUNK, CRC_CHUNK);
        crc = crc32(crc, v->base + at, n);
        if (v->kind == PACK_KIND_ENCODED)
            cnn_data_pack_file_drop(v->file, at, n);
    }
    if ((uint32_t)crc != stored)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: checksum mismatch (CRC-32 "
                        "of the contents is %08x, the footer says %08x): the "
                        "file is corrupt", v->path, (unsigned)crc,
                        (unsigned)stored);
    return CNN_OK;
}

static cnn_status read_classes(cnn_context *ctx, const pack_view *v,
                               cnn_dataset *ds)
{
    const uint8_t *p = v->base + PACK_HEAD_BYTES;
    size_t left = v->names_bytes;
    ds->class_names = calloc(v->n_classes, sizeof *ds->class_names);
    if (!ds->class_names)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory for %zu class "
                        "names", v->path, v->n_classes);
    ds->n_classes = v->n_classes;
    for (size_t c = 0; c < v->n_classes; c++) {
        uint32_t len;
        if (left < 4)
            return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: class name %zu runs "
                            "past 'names_bytes'", v->path, c);
        len = pack_get_u32(p);
        p += 4;
        left -= 4;
        if (len == 0 || len > PACK_MAX_CLASS_NAME || len > left)
            return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: class name %zu has "
                            "length %u; names have 1 to %d bytes within "
                            "'names_bytes'", v->path, c, len,
                            PACK_MAX_CLASS_NAME);
        if (memchr(p, '\0', len))
            return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: class name %zu holds a "
                            "NUL byte", v->path, c);
        ds->class_names[c] = malloc((size_t)len + 1);
        if (!ds->class_names[c])
            return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", v->path);
        memcpy(ds->class_names[c], p, len);
        ds->class_names[c][len] = '\0';
        p += len;
        left -= len;
    }
    if (left != 0)
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: %zu bytes of 'names_bytes' "
                        "follow the last class name", v->path, left);
    return CNN_OK;
}

/* Checks every label and the padding; keeps those of [begin, end). */
static cnn_status read_labels(cnn_context *ctx, const pack_view *v,
                              cnn_dataset *ds, size_t begin, size_t end)
{
    const uint8_t *p = v->base + v->labels_at;
    for (size_t i = 0; i < v->count; i++) {
        uint32_t label = pack_get_u32(p + 4 * i);
        if (label >= v->n_classes)
            return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: label of record %zu is "
                            "%u; there are %zu classes", v->path, i, label,
                            v->n_classes);
        if (i >= begin && i < end)
            ds->labels[i - begin] = (int32_t)label;
    }
    for (size_t at = v->labels_at + 4 * v->count; at < v->records_at; at++)
        if (v->base[at] != 0)
            return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: padding byte %zu before "
                            "the records is not zero", v->path, at);
    return CNN_OK;
}

/* Copies the count + 1 record offsets out of the mapping and checks the
 * copy, which is what the records are then read by (a file changed under
 * the mapping later can make a record's bytes wrong, never its place). */
static cnn_status read_offsets(cnn_context *ctx, const pack_view *v,
                               uint64_t **out)
{
    const uint8_t *p = v->base + v->offsets_at;
    /* count + 1 <= size / 8: check_size found them in the file. */
    uint64_t *offsets = malloc((v->count + 1) * sizeof *offsets);
    uint64_t prev;
    *out = NULL;
    if (!offsets)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory for %zu "
                        "record offsets", v->path, v->count + 1);
    for (size_t i = 0; i <= v->count; i++)
        offsets[i] = pack_get_u64(p + 8 * i);
    prev = offsets[0];
    if (prev != 0) {
        free(offsets);
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: offset of record 0 is %llu, "
                        "not 0", v->path, (unsigned long long)prev);
    }
    for (size_t i = 1; i <= v->count; i++) {
        uint64_t next = offsets[i];
        if (next <= prev || next - prev > CNN_IMAGE_MAX_FILE_BYTES ||
            next > v->records_bytes) {
            free(offsets);
            return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: record %zu spans "
                            "offsets %llu to %llu; records have 1 to %u bytes "
                            "within 'records_bytes' %zu", v->path, i - 1,
                            (unsigned long long)prev,
                            (unsigned long long)next,
                            (unsigned)CNN_IMAGE_MAX_FILE_BYTES,
                            v->records_bytes);
        }
        prev = next;
    }
    if (prev != v->records_bytes) {
        free(offsets);
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: the records end at offset "
                        "%llu but 'records_bytes' is %zu", v->path,
                        (unsigned long long)prev, v->records_bytes);
    }
    *out = offsets;
    return CNN_OK;
}

/* Item i of ds is record begin + i of the pack. */
static cnn_status number_records(cnn_context *ctx, cnn_dataset *ds,
                                 const pack_view *v, size_t begin, size_t end)
{
    ds->records = malloc((end - begin) * sizeof *ds->records);
    if (!ds->records)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory for %zu "
                        "items", v->path, end - begin);
    for (size_t i = begin; i < end; i++)
        ds->records[i - begin] = i;
    return CNN_OK;
}

/* Raw records stay in the mapping; the geometry asked for must be the
 * records' own, since resampling them would be a second, different fit. */
static cnn_status open_raw(cnn_context *ctx, cnn_dataset *ds,
                           const pack_view *v, const cnn_data_geometry *g,
                           size_t begin, size_t end)
{
    if (!g->native && (g->channels != v->channels || g->height != v->height ||
                       g->width != v->width))
        return cnn_fail(ctx, CNN_ERR_SHAPE, "%s: holds raw records of "
                        "%dx%dx%d but %dx%dx%d samples are wanted: pack again "
                        "with --size %dx%dx%d, or with --encoded to choose "
                        "the size when reading", v->path,
                        (int)v->channels, (int)v->height, (int)v->width,
                        (int)g->channels, (int)g->height, (int)g->width,
                        (int)g->channels, (int)g->height, (int)g->width);
    ds->channels = v->channels;
    ds->height = v->height;
    ds->width = v->width;
    ds->sample_bytes = v->sample_bytes;
    ds->pixels = (uint8_t *)(uintptr_t)(v->base + v->records_at);
    return number_records(ctx, ds, v, begin, end);
}

/* Encoded records are streamed: the dataset keeps their numbers, and each
 * is decoded when its sample is asked for (cnn_data_pack_file_load), as a
 * folder's file is. Only the native geometry's record is looked at now. */
static cnn_status open_encoded(cnn_context *ctx, cnn_dataset *ds,
                               const pack_view *v, const cnn_data_geometry *g,
                               size_t begin, size_t end, int32_t *labels)
{
    cnn_data_geometry want = *g;
    cnn_status st;
    uint64_t *offsets = NULL;
    st = read_offsets(ctx, v, &offsets);
    if (st != CNN_OK)
        return st;
    cnn_data_pack_file_set_records(v->file, v->records_at, offsets, v->count);
    if (want.native) {
        char name[CNN_DATA_PACK_NAME_MAX];
        size_t at = v->records_at + (size_t)offsets[begin];
        size_t n = cnn_data_pack_file_record_bytes(v->file, begin);
        cnn_image_info info;
        snprintf(name, sizeof name, "%s: record %zu", v->path, begin);
        st = cnn_image_probe(ctx, name, v->base + at, n, &info);
        if (st != CNN_OK)
            return st;
        want.channels = info.channels;
        want.height = info.height;
        want.width = info.width;
    }
    /* alloc_samples sizes the labels; the checked ones move in after. */
    ds->streamed = 1;
    st = cnn_data_alloc_samples(ctx, ds, end - begin, want.channels,
                                want.height, want.width);
    if (st != CNN_OK)
        return st;
    memcpy(ds->labels, labels, (end - begin) * sizeof *labels);
    /* What was read of the file so far (head, names, labels, offsets) is
     * copied: the process need not keep its pages. */
    cnn_data_pack_file_drop(v->file, 0, v->size);
    return number_records(ctx, ds, v, begin, end);
}

static cnn_status open_mapped(cnn_context *ctx, cnn_dataset *ds,
                              pack_view *v, const cnn_data_subset *subset,
                              const cnn_data_geometry *g)
{
    size_t begin, end;
    int32_t *labels;
    cnn_status st = parse_head(ctx, v);
    if (st == CNN_OK)
        st = check_size(ctx, v);
    if (st == CNN_OK)
        st = check_crc(ctx, v);
    if (st == CNN_OK)
        st = read_classes(ctx, v, ds);
    if (st == CNN_OK)
        st = cnn_data_subset_resolve(ctx, subset, v->count, v->path, &begin,
                                     &end);
    if (st != CNN_OK)
        return st;
    labels = malloc((end - begin) * sizeof *labels);
    if (!labels)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory for %zu "
                        "labels", v->path, end - begin);
    ds->labels = labels; /* owned by ds from here (raw keeps it) */
    st = read_labels(ctx, v, ds, begin, end);
    if (st != CNN_OK)
        return st;
    if (v->kind == PACK_KIND_RAW) {
        ds->count = end - begin;
        return open_raw(ctx, ds, v, g, begin, end);
    }
    ds->labels = NULL;
    st = open_encoded(ctx, ds, v, g, begin, end, labels);
    free(labels);
    return st;
}

cnn_status cnn_data_open_pack(cnn_context *ctx, cnn_dataset *ds,
                              const char *path,
                              const cnn_data_subset *subset,
                              const cnn_data_geometry *geometry)
{
    pack_view v;
    cnn_status st;
    memset(&v, 0, sizeof v);
    v.path = path;
    st = cnn_data_pack_file_map(ctx, path, &v.file);
    if (st != CNN_OK)
        return st;
    /* The dataset holds the mapping from here, whatever happens next: its
     * destruction (on failure too) lets it go. */
    ds->pack = v.file;
    v.base = cnn_data_pack_file_bytes(v.file, &v.size);
    return open_mapped(ctx, ds, &v, subset, geometry);
}
