/* SPDX-License-Identifier: MIT */
/* A pack file's memory mapping, shared by every dataset that reads it: the
 * one "pack:FILE" opens and the parts later cut from it (--val-split's
 * training and validation parts, made by cnn_dataset_split, may outlive
 * the dataset they came from, and each other). Each dataset holds one
 * reference; the last to let go unmaps the file.
 *
 * Encoded records are decoded here, on demand, from any loader thread,
 * through the same cnn_data_load_image_bytes a folder's file goes through.
 * Their offsets were copied out of the file and checked when it was
 * opened, so nothing here trusts the mapping's bytes except as image data.
 * Every 32 MB of records decoded, the pages read leave the process again
 * (they stay in the kernel's page cache), so the resident memory of an
 * epoch over an encoded pack stays about that, however large the file. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../context_internal.h"
#include "data_internal.h"
#include "pack_format.h"

struct cnn_data_pack_file {
    atomic_size_t refs;
    const uint8_t *base;
    size_t size;
    char *path;
    size_t page;
    /* Encoded records: record i is records_at + [offsets[i], offsets[i+1]),
     * checked by pack_read.c before they are set. */
    size_t records_at;
    uint64_t *offsets; /* count + 1 */
    size_t count;
    /* Bytes of records decoded since the mapping's pages were last let go
     * (cnn_data_pack_file_load). */
    atomic_size_t read_since_drop;
};

cnn_status cnn_data_pack_file_map(cnn_context *ctx, const char *path,
                                  cnn_data_pack_file **out)
{
    struct stat sb;
    void *map;
    long page = sysconf(_SC_PAGESIZE);
    cnn_data_pack_file *f;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *out = NULL;
    if (fd < 0)
        return cnn_fail(ctx, errno == ENOENT ? CNN_ERR_NOT_FOUND : CNN_ERR_IO,
                        "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return cnn_fail(ctx, CNN_ERR_IO, "%s: cannot stat: %s", path,
                        strerror(err));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return cnn_fail(ctx, CNN_ERR_IO, "%s: not a regular file; a pack "
                        "is read by memory mapping", path);
    }
    if ((uintmax_t)sb.st_size < PACK_HEAD_BYTES + PACK_FOOTER_BYTES ||
        (uintmax_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: %jd bytes is %s for a "
                        "pack (head and footer alone take %d)", path,
                        (intmax_t)sb.st_size,
                        (uintmax_t)sb.st_size > SIZE_MAX ? "too large"
                                                         : "too small",
                        PACK_HEAD_BYTES + PACK_FOOTER_BYTES);
    }
    /* Not populated: the checksum reads the file in chunks, ahead of
     * itself (cnn_data_pack_file_prefetch), and an encoded pack lets each
     * chunk go again behind it. */
    map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return cnn_fail(ctx, CNN_ERR_IO, "%s: cannot map: %s", path,
                        strerror(errno));
    f = calloc(1, sizeof *f);
    if (!f || !(f->path = cnn_data_strdup(path))) {
        free(f);
        munmap(map, (size_t)sb.st_size);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", path);
    }
    atomic_init(&f->refs, 1);
    atomic_init(&f->read_since_drop, 0);
    f->base = map;
    f->size = (size_t)sb.st_size;
    f->page = page > 0 ? (size_t)page : 4096;
    *out = f;
    return CNN_OK;
}

cnn_data_pack_file *cnn_data_pack_file_retain(cnn_data_pack_file *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void cnn_data_pack_file_release(cnn_data_pack_file *f)
{
    if (!f || atomic_fetch_sub_explicit(&f->refs, 1,
                                        memory_order_acq_rel) != 1)
        return;
    munmap((void *)(uintptr_t)f->base, f->size);
    free(f->offsets);
    free(f->path);
    free(f);
}

const uint8_t *cnn_data_pack_file_bytes(const cnn_data_pack_file *f,
                                        size_t *size)
{
    *size = f->size;
    return f->base;
}

/* How many bytes of records are decoded between two letting-go of the
 * mapping's pages: what an epoch keeps resident, at most, beyond that. */
#define DROP_EVERY ((size_t)32 << 20)

/* Linux maps the cached pages around a faulting one along with it, in
 * windows of fault_around_bytes (64 KB by default) aligned in the address
 * space: reading one record maps its neighbours' pages too, so a record's
 * pages are let go in whole windows, or the neighbours' would stay. */
#define FAULT_AROUND_BYTES ((uintptr_t)64 << 10)

/* The pages covering [at, at + n) of the file, widened to whole
 * fault-around windows when `windows` (within the mapping). */
static int page_span(const cnn_data_pack_file *f, size_t at, size_t n,
                     int windows, uint8_t **start, size_t *len)
{
    uintptr_t base = (uintptr_t)f->base, lo, hi;
    uintptr_t align = windows && FAULT_AROUND_BYTES > f->page
                          ? FAULT_AROUND_BYTES
                          : (uintptr_t)f->page;
    if (n == 0 || at >= f->size)
        return 0;
    if (n > f->size - at)
        n = f->size - at;
    lo = (base + at) / align * align;
    hi = base + at + n; /* <= base + size */
    hi = hi > UINTPTR_MAX - align ? hi : (hi + align - 1) / align * align;
    if (lo < base)
        lo = base; /* base is page-aligned */
    if (hi > base + f->size)
        hi = base + f->size;
    *start = (uint8_t *)lo;
    *len = (size_t)(hi - lo);
    return 1;
}

void cnn_data_pack_file_prefetch(const cnn_data_pack_file *f, size_t at,
                                 size_t n)
{
    uint8_t *start;
    size_t len;
    /* Advice only: a kernel that ignores it reads the pages on demand. */
    if (page_span(f, at, n, 0, &start, &len))
        (void)madvise(start, len, MADV_WILLNEED);
}

void cnn_data_pack_file_drop(const cnn_data_pack_file *f, size_t at,
                             size_t n)
{
    uint8_t *start;
    size_t len;
    /* The mapping is read-only and private, never written: its pages are
     * the file's, so dropping one (even while another thread reads a
     * neighbouring record in it) only means the next access maps it back
     * in from the page cache. */
    if (page_span(f, at, n, 1, &start, &len))
        (void)madvise(start, len, MADV_DONTNEED);
}

void cnn_data_pack_file_set_records(cnn_data_pack_file *f, size_t records_at,
                                    uint64_t *offsets, size_t count)
{
    free(f->offsets);
    f->records_at = records_at;
    f->offsets = offsets;
    f->count = count;
}

size_t cnn_data_pack_file_record_bytes(const cnn_data_pack_file *f,
                                       size_t record)
{
    return record < f->count
               ? (size_t)(f->offsets[record + 1] - f->offsets[record])
               : 0;
}

cnn_status cnn_data_pack_file_load(cnn_context *ctx,
                                   cnn_data_pack_file *f, size_t record,
                                   int32_t channels, int32_t height,
                                   int32_t width, const cnn_data_view *view,
                                   uint8_t *dst)
{
    /* Errors name the pack and the record as a folder's name the file. */
    char name[CNN_DATA_PACK_NAME_MAX];
    size_t at, n;
    cnn_status st;
    snprintf(name, sizeof name, "%s: record %zu", f->path, record);
    if (record >= f->count)
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s is past the pack's %zu "
                        "records", name, f->count);
    at = f->records_at + (size_t)f->offsets[record];
    n = (size_t)(f->offsets[record + 1] - f->offsets[record]);
    st = cnn_data_load_image_bytes(ctx, name, f->base + at, n, channels,
                                   height, width, view, dst);
    /* Every DROP_EVERY bytes decoded, the thread that crosses the mark lets
     * all the pages go at once: one call instead of one a record (which
     * cost about a third of a millisecond of system time each), and the
     * resident pages stay under about DROP_EVERY. A record another thread
     * is decoding meanwhile is simply read back in. */
    if (atomic_fetch_add_explicit(&f->read_since_drop, n,
                                  memory_order_relaxed) + n >= DROP_EVERY) {
        atomic_store_explicit(&f->read_since_drop, 0, memory_order_relaxed);
        cnn_data_pack_file_drop(f, f->records_at, f->size - f->records_at);
    }
    return st;
}
