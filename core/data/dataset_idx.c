/* SPDX-License-Identifier: MIT */
/* IDX files (LeCun's MNIST format), gzip-compressed or plain.
 *
 * Layout: a 4-byte magic {0, 0, type, ndim}, ndim big-endian uint32 sizes,
 * then the elements in row-major order. zlib's gzread reads both gzip and
 * plain files (it checks the gzip magic), so one reader serves both; every
 * short read is classified as a truncated file, a truncated or corrupt gzip
 * stream, or an I/O error, and each message names the file. The whole file
 * is checked, trailing bytes included, even when a subset is selected. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../context_internal.h"
#include "cnn/file_read.h"
#include "data_internal.h"

#define IDX_UBYTE 0x08
#define IDX_INT32 0x0C
#define IDX_MAX_INFERRED_CLASSES 65536

typedef struct idx_reader {
    const char *path;
    gzFile gz;
    size_t consumed; /* decompressed bytes read so far */
    size_t expected; /* whole-file size the header implies; 0 = unknown */
} idx_reader;

static cnn_status idx_open(cnn_context *ctx, idx_reader *r, const char *path)
{
    int fd;
    cnn_status st;
    r->path = path;
    r->gz = NULL;
    r->consumed = 0;
    r->expected = 0;
    st = cnn_file_open_regular(ctx, path, &fd, NULL);
    if (st != CNN_OK)
        return st;
    r->gz = gzdopen(fd, "rb");
    if (!r->gz) {
        close(fd);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", path);
    }
    gzbuffer(r->gz, 1u << 18);
    return CNN_OK;
}

static void idx_close(idx_reader *r)
{
    if (r->gz)
        gzclose(r->gz);
    r->gz = NULL;
}

/* Explains why a read stopped early; `what` says what was being read. */
static cnn_status idx_short_read(cnn_context *ctx, idx_reader *r,
                                 const char *what, size_t got)
{
    int err = Z_OK;
    const char *msg = gzerror(r->gz, &err);
    char expected[96] = "";
    if (err == Z_ERRNO)
        return cnn_fail(ctx, CNN_ERR_IO, "%s: read error: %s", r->path,
                        strerror(errno));
    if (err != Z_OK && err != Z_BUF_ERROR) {
        /* zlib prefixes its own name for the file, "<fd:3>: "; we have
         * the real one. */
        const char *sep = msg && strncmp(msg, "<fd:", 4) == 0
                              ? strstr(msg, ": ")
                              : NULL;
        if (sep)
            msg = sep + 2;
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: corrupt gzip data: %s",
                        r->path, msg ? msg : "unknown error");
    }
    if (r->expected)
        snprintf(expected, sizeof expected,
                 "; the header describes %zu bytes", r->expected);
    if (err == Z_BUF_ERROR)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: truncated gzip stream: it ends after %zu "
                        "decompressed bytes, in the %s%s", r->path,
                        r->consumed + got, what, expected);
    return cnn_fail(ctx, CNN_ERR_FORMAT,
                    "%s: truncated: the %s ends after %zu bytes%s%s",
                    r->path, what, r->consumed + got,
                    gzdirect(r->gz) ? "" : " (decompressed)", expected);
}

/* Reads exactly n bytes. */
static cnn_status idx_read(cnn_context *ctx, idx_reader *r, void *buf,
                           size_t n, const char *what)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < n) {
        size_t chunk = n - got;
        int k;
        if (chunk > (1u << 30))
            chunk = 1u << 30;
        k = gzread(r->gz, p + got, (unsigned)chunk);
        if (k <= 0)
            return idx_short_read(ctx, r, what, got);
        got += (size_t)k;
    }
    r->consumed += n;
    return CNN_OK;
}

/* The file must end here. Counts at most a probe's worth of extra bytes,
 * so a huge tail costs no more than a small one. */
static cnn_status idx_expect_end(cnn_context *ctx, idx_reader *r)
{
    unsigned char probe[4096];
    size_t extra = 0;
    int k = 0, err = Z_OK;
    while (extra < sizeof probe &&
           (k = gzread(r->gz, probe, (unsigned)(sizeof probe - extra))) > 0)
        extra += (size_t)k;
    if (extra)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: %zu%s trailing bytes after the %zu bytes the "
                        "header describes", r->path, extra,
                        extra >= sizeof probe ? " or more" : "",
                        r->consumed);
    /* A stream cut in its trailer, or a bad CRC, shows up only here. */
    gzerror(r->gz, &err);
    if (k < 0 || err != Z_OK)
        return idx_short_read(ctx, r, "end of the data", 0);
    return CNN_OK;
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
           (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Reads the magic and sizes; checks the type and dimension count. */
static cnn_status idx_header(cnn_context *ctx, idx_reader *r,
                             int labels, int *type, uint32_t *dims)
{
    unsigned char magic[4], raw[12];
    uint32_t ndim_want = labels ? 1 : 3;
    cnn_status st = idx_read(ctx, r, magic, 4, "IDX magic");
    if (st != CNN_OK)
        return st;
    if (magic[0] != 0 || magic[1] != 0)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: wrong magic 0x%02x%02x%02x%02x: not an IDX "
                        "file (gzip or plain)", r->path, magic[0],
                        magic[1], magic[2], magic[3]);
    *type = magic[2];
    if (labels ? (*type != IDX_UBYTE && *type != IDX_INT32)
               : *type != IDX_UBYTE)
        return cnn_fail(ctx, CNN_ERR_UNSUPPORTED,
                        "%s: wrong magic 0x%08x: IDX element type 0x%02x "
                        "is not supported for %s (use %s)", r->path,
                        (unsigned)be32(magic), (unsigned)*type,
                        labels ? "labels" : "images",
                        labels ? "0x08 unsigned byte or 0x0C int32"
                               : "0x08 unsigned byte");
    if (magic[3] != ndim_want)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: dimension mismatch: IDX %s file has %u "
                        "dimensions, expected %u (%s)", r->path,
                        labels ? "label" : "image", (unsigned)magic[3],
                        (unsigned)ndim_want,
                        labels ? "count" : "count, rows, columns");
    st = idx_read(ctx, r, raw, 4 * ndim_want, "IDX header");
    if (st != CNN_OK)
        return st;
    for (uint32_t i = 0; i < ndim_want; i++)
        dims[i] = be32(raw + 4 * i);
    return CNN_OK;
}

/* Reads and checks every label of the file. Without a class count, the
 * count becomes the largest label plus one. The label array grows as data
 * arrives (see cnn_data_reserve). */
static cnn_status read_labels(cnn_context *ctx, idx_reader *r, int type,
                              uint32_t count, size_t *n_classes,
                              int32_t **out)
{
    size_t width = type == IDX_INT32 ? 4 : 1;
    unsigned char raw[1u << 16];
    int32_t *labels = NULL;
    size_t cap = 0, bytes, label_bytes;
    int64_t max = -1;
    cnn_status st = CNN_OK;
    *out = NULL;
    if (!cnn_data_mul(count, width, &bytes) || bytes > SIZE_MAX - 8 ||
        !cnn_data_mul(count, sizeof *labels, &label_bytes))
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: label count %u too large",
                        r->path, (unsigned)count);
    r->expected = 8 + bytes;
    for (size_t i = 0; i < count && st == CNN_OK;) {
        size_t n = count - i < sizeof raw / width ? count - i
                                                  : sizeof raw / width;
        st = idx_read(ctx, r, raw, n * width, "label data");
        if (st != CNN_OK)
            break;
        if (i + n > cap) {
            size_t ncap = cap > count / 2 ? count : 2 * cap;
            int32_t *grown;
            if (ncap < i + n)
                ncap = i + n;
            grown = realloc(labels, ncap * sizeof *labels);
            if (!grown) {
                st = cnn_fail(ctx, CNN_ERR_NOMEM,
                              "%s: out of memory for %u labels", r->path,
                              (unsigned)count);
                break;
            }
            labels = grown;
            cap = ncap;
        }
        for (size_t k = 0; k < n && st == CNN_OK; k++) {
            size_t pos = i + k;
            int64_t v = width == 4 ? (int64_t)(int32_t)be32(raw + 4 * k)
                                   : (int64_t)raw[k];
            if (v < 0 || (*n_classes && v >= (int64_t)*n_classes))
                st = *n_classes
                    ? cnn_fail(ctx, CNN_ERR_FORMAT,
                               "%s: label %lld at position %zu is outside "
                               "the %zu classes 0..%zu", r->path,
                               (long long)v, pos, *n_classes,
                               *n_classes - 1)
                    : cnn_fail(ctx, CNN_ERR_FORMAT,
                               "%s: label %lld at position %zu is negative",
                               r->path, (long long)v, pos);
            else if (!*n_classes && v >= IDX_MAX_INFERRED_CLASSES)
                st = cnn_fail(ctx, CNN_ERR_FORMAT,
                              "%s: label %lld at position %zu is outside "
                              "the inferable classes 0..%d (give the class "
                              "count: idx:IMAGES,LABELS,CLASSES)", r->path,
                              (long long)v, pos,
                              IDX_MAX_INFERRED_CLASSES - 1);
            else {
                labels[pos] = (int32_t)v;
                if (v > max)
                    max = v;
            }
        }
        i += n;
    }
    if (st == CNN_OK)
        st = idx_expect_end(ctx, r);
    if (st != CNN_OK) {
        free(labels);
        return st;
    }
    if (!*n_classes)
        *n_classes = (size_t)(max + 1);
    *out = labels;
    return CNN_OK;
}

/* Streams the pixel data in chunks of whole images, keeping [begin, end). */
static cnn_status read_images(cnn_context *ctx, idx_reader *r,
                              cnn_dataset *ds, uint32_t count, uint32_t rows,
                              uint32_t cols, size_t begin, size_t end)
{
    size_t image = (size_t)rows * cols;
    size_t per_chunk = (1u << 20) / image;
    unsigned char *buf;
    cnn_status st = CNN_OK;
    if (per_chunk == 0)
        per_chunk = 1;
    buf = malloc(per_chunk * image);
    if (!buf)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", r->path);
    for (size_t i = 0; i < count && st == CNN_OK;) {
        size_t n = count - i < per_chunk ? count - i : per_chunk;
        st = idx_read(ctx, r, buf, n * image, "pixel data");
        if (st == CNN_OK && i + n > begin && i < end) {
            size_t last = i + n < end ? i + n : end;
            st = cnn_data_reserve(ctx, ds, last - begin);
        }
        for (size_t k = 0; st == CNN_OK && k < n; k++) {
            size_t item = i + k;
            if (item < begin || item >= end)
                continue;
            cnn_data_place_centered(buf + k * image, (int32_t)rows,
                                    (int32_t)cols,
                                    ds->pixels + (item - begin) *
                                                     ds->sample_bytes,
                                    ds->channels, ds->height, ds->width);
        }
        i += n;
    }
    free(buf);
    if (st == CNN_OK)
        st = idx_expect_end(ctx, r);
    return st;
}

cnn_status cnn_data_open_idx(cnn_context *ctx, cnn_dataset *ds,
                             const char *images_path,
                             const char *labels_path, size_t n_classes,
                             const cnn_data_subset *subset,
                             const cnn_data_geometry *g)
{
    idx_reader lr, ir;
    uint32_t ldims[1] = {0}, idims[3] = {0, 0, 0};
    int ltype = 0, itype = 0;
    int32_t *labels = NULL;
    size_t begin = 0, end = 0, pixels = 0;
    int32_t c, h, w;
    cnn_status st;

    /* Labels first: small, and a count mismatch fails before any pixel. */
    st = idx_open(ctx, &lr, labels_path);
    if (st != CNN_OK)
        return st;
    st = idx_header(ctx, &lr, 1, &ltype, ldims);
    if (st == CNN_OK)
        st = read_labels(ctx, &lr, ltype, ldims[0], &n_classes, &labels);
    idx_close(&lr);
    if (st != CNN_OK)
        return st;

    st = idx_open(ctx, &ir, images_path);
    if (st == CNN_OK)
        st = idx_header(ctx, &ir, 0, &itype, idims);
    if (st == CNN_OK && idims[0] != ldims[0])
        st = cnn_fail(ctx, CNN_ERR_FORMAT,
                      "%s holds %u labels but %s holds %u images",
                      labels_path, (unsigned)ldims[0], images_path,
                      (unsigned)idims[0]);
    if (st == CNN_OK &&
        (idims[1] == 0 || idims[2] == 0 ||
         !cnn_data_mul(idims[1], idims[2], &pixels) ||
         idims[1] > CNN_DATA_MAX_SIDE || idims[2] > CNN_DATA_MAX_SIDE ||
         pixels > CNN_DATA_MAX_IMAGE_PIXELS))
        st = cnn_fail(ctx, CNN_ERR_FORMAT,
                      "%s: image size %ux%u is outside 1..%d per side "
                      "and %u pixels", images_path, (unsigned)idims[1],
                      (unsigned)idims[2], CNN_DATA_MAX_SIDE,
                      CNN_DATA_MAX_IMAGE_PIXELS);
    if (st == CNN_OK) {
        size_t data;
        if (cnn_data_mul(pixels, idims[0], &data) && data <= SIZE_MAX - 16)
            ir.expected = 16 + data;
        else
            st = cnn_fail(ctx, CNN_ERR_FORMAT,
                          "%s: %u images of %ux%u overflow the address "
                          "space", images_path, (unsigned)idims[0],
                          (unsigned)idims[1], (unsigned)idims[2]);
    }
    if (st == CNN_OK)
        st = cnn_data_subset_resolve(ctx, subset, idims[0], images_path,
                                     &begin, &end);
    if (st == CNN_OK) {
        c = g->native ? 1 : g->channels;
        h = g->native ? (int32_t)idims[1] : g->height;
        w = g->native ? (int32_t)idims[2] : g->width;
        st = cnn_data_alloc_samples(ctx, ds, end - begin, c, h, w);
    }
    if (st == CNN_OK)
        st = read_images(ctx, &ir, ds, idims[0], idims[1], idims[2], begin,
                         end);
    idx_close(&ir);
    if (st != CNN_OK) {
        free(labels);
        return st;
    }
    memcpy(ds->labels, labels + begin, (end - begin) * sizeof *labels);
    free(labels);
    ds->n_classes = n_classes;
    return CNN_OK;
}
