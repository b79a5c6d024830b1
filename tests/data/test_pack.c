/* SPDX-License-Identifier: MIT */
/* Packed datasets (cnn/pack.h, "pack:FILE"): a folder packed raw or
 * encoded reads back byte for byte as the folder itself opens, slices and
 * splits the same (the parts outliving the dataset they were cut from);
 * an encoded pack streams, giving the folder's batches bit for bit under
 * RandomResizedCrop and the centre crop; every kind of hostile file
 * (truncated, bad magic, version, sizes, offsets, labels, names, checksum,
 * huge counts) is refused with a message naming the file and the field,
 * and a record that does not decode is an error naming the pack and the
 * record when its batch is made (or is skipped and counted). Hostile files are
 * made from a valid pack with one field changed and, unless the checksum
 * is what is tested, the CRC-32 recomputed, so each check is reached. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "cnn/data.h"
#include "cnn/pack.h"
#include "data_util.h"

static char *dir;
static char spec[8192];
static char spec2[8192];

static int folder_made;

static void setup(void)
{
    dir = du_tempdir();
    folder_made = 0;
}

static void teardown(void)
{
    du_rmtree(dir);
    free(dir);
}

TestSuite(pack, .init = setup, .fini = teardown);

static cnn_dataset *open_ok(const char *s, const cnn_shape *shape)
{
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *ds = NULL;
    cnn_status st = cnn_dataset_open(ctx, s, shape, &ds);
    cr_assert_eq(st, CNN_OK, "open %s: %s", s, cnn_context_message(ctx));
    cnn_context_destroy(ctx);
    return ds;
}

/* dir/photos (made once per test): three classes of RGB and gray images of several sizes, PNG
 * and JPEG, 11 in all. */
static const char *make_folder(void)
{
    static const char *const classes[] = {"cat", "dog", "owl"};
    static const int counts[] = {4, 5, 2};
    char root[2048], sub[3072], file[4096];
    int k = 0;
    if (folder_made)
        return du_path(dir, "photos");
    folder_made = 1;
    snprintf(root, sizeof root, "%s", du_path(dir, "photos"));
    du_mkdir(root);
    for (int c = 0; c < 3; c++) {
        snprintf(sub, sizeof sub, "%s/%s", root, classes[c]);
        du_mkdir(sub);
        for (int i = 0; i < counts[c]; i++, k++) {
            int w = 9 + 3 * k % 7, h = 6 + 5 * k % 9;
            int ch = k % 4 == 3 ? 1 : 3;
            uint8_t *p = malloc((size_t)(w * h * ch));
            for (int j = 0; j < w * h * ch; j++)
                p[j] = (uint8_t)(j * 7 + k * 31 + (j / ch) % 5 * 40);
            snprintf(file, sizeof file, "%s/%02d.%s", sub, i,
                     k % 2 ? "jpg" : "png");
            if (k % 2)
                du_write_jpg(file, w, h, ch, p);
            else
                du_write_png(file, w, h, ch, p);
            free(p);
        }
    }
    return du_path(dir, "photos");
}

/* Writes ds as a pack at path: raw from its samples, or encoded from its
 * item files' bytes. */
static void write_pack(const cnn_dataset *ds, const char *path, int encoded)
{
    cnn_context *ctx = cnn_context_create();
    cnn_pack_writer *w = NULL;
    cnn_pack_header h;
    size_t n = cnn_dataset_size(ds);
    cnn_shape s = cnn_dataset_sample_shape(ds);
    const char *names[16];
    memset(&h, 0, sizeof h);
    h.kind = encoded ? CNN_PACK_ENCODED : CNN_PACK_RAW;
    h.count = n;
    if (!encoded) {
        h.channels = (int32_t)s.dims[1];
        h.height = (int32_t)s.dims[2];
        h.width = (int32_t)s.dims[3];
    }
    h.n_classes = cnn_dataset_class_count(ds);
    cr_assert_leq(h.n_classes, 16);
    for (size_t c = 0; c < h.n_classes; c++)
        names[c] = cnn_dataset_class_name(ds, c);
    h.class_names = names;
    h.labels = cnn_dataset_labels(ds);
    cr_assert_eq(cnn_pack_writer_open(ctx, path, &h, &w), CNN_OK, "%s",
                 cnn_context_message(ctx));
    for (size_t i = 0; i < n; i++) {
        cnn_status st;
        if (encoded) {
            size_t size;
            unsigned char *bytes = du_read(cnn_dataset_item_path(ds, i), &size);
            st = cnn_pack_writer_add(w, bytes, size);
            free(bytes);
        } else {
            uint8_t *sample = malloc(cnn_shape_numel(&s));
            cr_assert_not_null(sample);
            st = cnn_dataset_sample_u8(ctx, ds, i, sample);
            if (st == CNN_OK)
                st = cnn_pack_writer_add(w, sample, cnn_shape_numel(&s));
            free(sample);
        }
        cr_assert_eq(st, CNN_OK, "%s", cnn_context_message(ctx));
    }
    cr_assert_eq(cnn_pack_writer_commit(w), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cnn_context_destroy(ctx);
}

static void assert_same(const cnn_dataset *a, const cnn_dataset *b)
{
    cnn_shape sa = cnn_dataset_sample_shape(a), sb = cnn_dataset_sample_shape(b);
    size_t bytes = cnn_shape_numel(&sa);
    cr_assert_eq(cnn_dataset_size(a), cnn_dataset_size(b));
    cr_assert(cnn_shape_equal(&sa, &sb));
    cr_assert_eq(cnn_dataset_class_count(a), cnn_dataset_class_count(b));
    for (size_t c = 0; c < cnn_dataset_class_count(a); c++)
        cr_assert_str_eq(cnn_dataset_class_name(a, c),
                         cnn_dataset_class_name(b, c));
    cnn_context *ctx = cnn_context_create();
    uint8_t *pa = malloc(bytes), *pb = malloc(bytes);
    cr_assert(ctx && pa && pb);
    for (size_t i = 0; i < cnn_dataset_size(a); i++) {
        cr_assert_eq(cnn_dataset_label(a, i), cnn_dataset_label(b, i),
                     "label %zu", i);
        cr_assert_eq(cnn_dataset_sample_u8(ctx, a, i, pa), CNN_OK, "%s",
                     cnn_context_message(ctx));
        cr_assert_eq(cnn_dataset_sample_u8(ctx, b, i, pb), CNN_OK, "%s",
                     cnn_context_message(ctx));
        cr_assert_eq(memcmp(pa, pb, bytes), 0, "sample %zu differs", i);
    }
    free(pa);
    free(pb);
    cnn_context_destroy(ctx);
}

/* The float batches the loader makes from both with lo in epoch `epoch`
 * are identical; returns a checksum of them (to tell two settings apart). */
static double assert_same_batches_with(const cnn_dataset *a,
                                       const cnn_dataset *b,
                                       const cnn_loader_options *lo,
                                       uint64_t epoch)
{
    cnn_context *ctx = cnn_context_create();
    cnn_loader *la = NULL, *lb = NULL;
    double sum = 0;
    size_t seen = 0;
    cr_assert_eq(cnn_loader_create(ctx, a, lo, &la), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cr_assert_eq(cnn_loader_create(ctx, b, lo, &lb), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cr_assert_eq(cnn_loader_begin_epoch(la, epoch), CNN_OK);
    cr_assert_eq(cnn_loader_begin_epoch(lb, epoch), CNN_OK);
    for (;;) {
        cnn_tensor ta, tb;
        const int32_t *ya, *yb;
        size_t na, nb, numel;
        cr_assert_eq(cnn_loader_next(la, &ta, &ya, &na), CNN_OK, "%s",
                     cnn_context_message(ctx));
        cr_assert_eq(cnn_loader_next(lb, &tb, &yb, &nb), CNN_OK, "%s",
                     cnn_context_message(ctx));
        cr_assert_eq(na, nb);
        if (na == 0)
            break;
        numel = cnn_shape_numel(&ta.shape);
        cr_assert(cnn_shape_equal(&ta.shape, &tb.shape));
        cr_assert_eq(memcmp(ya, yb, na * sizeof *ya), 0);
        cr_assert_eq(memcmp(ta.data, tb.data, numel * sizeof(float)), 0,
                     "a batch of %s differs from %s's", cnn_dataset_spec(b),
                     cnn_dataset_spec(a));
        for (size_t k = 0; k < numel; k++)
            sum += ta.data[k] * (double)(1 + k % 7);
        seen += na;
    }
    cr_assert_eq(seen, cnn_dataset_size(a), "every item was in a batch");
    cnn_loader_destroy(la);
    cnn_loader_destroy(lb);
    cnn_context_destroy(ctx);
    return sum;
}

/* The float batches the loader makes from both, shuffled and flipped. */
static void assert_same_batches(const cnn_dataset *a, const cnn_dataset *b)
{
    cnn_loader_options lo;
    cnn_loader_options_init(&lo);
    lo.batch = 4;
    lo.shuffle = 1;
    lo.flip = 1;
    lo.seed = 7;
    (void)assert_same_batches_with(a, b, &lo, 3);
}

Test(pack, raw_round_trip_equals_the_folder)
{
    const int64_t d[3] = {3, 8, 10};
    cnn_shape shape = cnn_shape_make(3, d);
    const char *folder = make_folder();
    const char *file = du_path(dir, "raw.pack");
    cnn_dataset *src, *packed, *native;
    snprintf(spec, sizeof spec, "folder:%s", folder);
    src = open_ok(spec, &shape);
    write_pack(src, file, 0);
    snprintf(spec2, sizeof spec2, "pack:%s", file);
    packed = open_ok(spec2, &shape);
    assert_same(src, packed);
    assert_same_batches(src, packed);
    cr_assert_null(cnn_dataset_item_path(packed, 0));
    /* Without a shape: the records' own. */
    native = open_ok(spec2, NULL);
    assert_same(src, native);
    cnn_dataset_destroy(native);
    cnn_dataset_destroy(packed);
    cnn_dataset_destroy(src);
}

Test(pack, encoded_round_trip_decodes_at_any_size)
{
    const int64_t d1[3] = {3, 5, 7}, d2[3] = {1, 12, 9};
    cnn_shape s1 = cnn_shape_make(3, d1), s2 = cnn_shape_make(3, d2);
    const char *folder = make_folder();
    const char *file = du_path(dir, "enc.pack");
    cnn_dataset *src, *packed;
    snprintf(spec, sizeof spec, "folder:%s", folder);
    src = open_ok(spec, &s1);
    write_pack(src, file, 1);
    snprintf(spec2, sizeof spec2, "pack:%s", file);
    packed = open_ok(spec2, &s1);
    assert_same(src, packed);
    cnn_dataset_destroy(packed);
    cnn_dataset_destroy(src);
    /* Another size from the same pack: still the folder's samples. */
    src = open_ok(spec, &s2);
    packed = open_ok(spec2, &s2);
    assert_same(src, packed);
    assert_same_batches(src, packed);
    cnn_dataset_destroy(packed);
    cnn_dataset_destroy(src);
    /* Native: the first image's geometry, as for the folder. */
    src = open_ok(spec, NULL);
    packed = open_ok(spec2, NULL);
    assert_same(src, packed);
    cnn_dataset_destroy(packed);
    cnn_dataset_destroy(src);
}

Test(pack, subsets_and_split_match_the_folder)
{
    static const char *const suffixes[] = {"@3", "[2:7]", "[5:]", "[:4]",
                                           "@11"};
    const int64_t d[3] = {3, 6, 6};
    cnn_shape shape = cnn_shape_make(3, d);
    const char *folder = make_folder();
    const char *raw = du_path(dir, "raw.pack");
    const char *enc = du_path(dir, "enc.pack");
    cnn_dataset *src;
    snprintf(spec, sizeof spec, "folder:%s", folder);
    src = open_ok(spec, &shape);
    write_pack(src, raw, 0);
    write_pack(src, enc, 1);
    cnn_dataset_destroy(src);
    for (size_t k = 0; k < sizeof suffixes / sizeof *suffixes; k++)
        for (int e = 0; e < 2; e++) {
            cnn_dataset *a, *b;
            snprintf(spec, sizeof spec, "folder:%s%s", folder, suffixes[k]);
            snprintf(spec2, sizeof spec2, "pack:%s%s", e ? enc : raw,
                     suffixes[k]);
            a = open_ok(spec, &shape);
            b = open_ok(spec2, &shape);
            assert_same(a, b);
            cnn_dataset_destroy(a);
            cnn_dataset_destroy(b);
        }
    snprintf(spec2, sizeof spec2, "pack:%s@12", raw);
    du_expect_fail(spec2, &shape, "up to 12", "only 11", NULL);
    snprintf(spec2, sizeof spec2, "pack:%s[4:4]", raw);
    du_expect_fail(spec2, &shape, "selects no items", NULL, NULL);
    for (int e = 0; e < 2; e++) {
        /* --val-split's stratified split is the folder's, for a raw and an
         * encoded pack, and so are the parts of a part. */
        cnn_context *ctx = cnn_context_create();
        cnn_dataset *a, *b, *ta, *va, *tb, *vb, *t1, *v1, *t2, *v2;
        snprintf(spec, sizeof spec, "folder:%s", folder);
        snprintf(spec2, sizeof spec2, "pack:%s", e ? enc : raw);
        a = open_ok(spec, &shape);
        b = open_ok(spec2, &shape);
        cr_assert_eq(cnn_dataset_split(ctx, a, 0.3, &ta, &va), CNN_OK);
        cr_assert_eq(cnn_dataset_split(ctx, b, 0.3, &tb, &vb), CNN_OK);
        /* The parts share b's mapping, which stays until the last goes:
         * b goes first. */
        cnn_dataset_destroy(b);
        cr_assert_eq(cnn_dataset_streamed(tb), e);
        assert_same(ta, tb);
        assert_same(va, vb);
        /* A part of a part, after its parent is gone too. */
        cr_assert_eq(cnn_dataset_split(ctx, ta, 0.5, &t1, &v1), CNN_OK);
        cr_assert_eq(cnn_dataset_split(ctx, tb, 0.5, &t2, &v2), CNN_OK);
        cnn_dataset_destroy(tb);
        assert_same(t1, t2);
        assert_same(v1, v2);
        cnn_dataset_destroy(t1);
        cnn_dataset_destroy(v1);
        cnn_dataset_destroy(t2);
        cnn_dataset_destroy(v2);
        cnn_dataset_destroy(ta);
        cnn_dataset_destroy(va);
        cnn_dataset_destroy(vb);
        cnn_dataset_destroy(a);
        cnn_context_destroy(ctx);
    }
}

Test(pack, raw_refuses_another_geometry)
{
    const int64_t d[3] = {3, 8, 8}, other[3] = {3, 8, 9};
    cnn_shape shape = cnn_shape_make(3, d), s2 = cnn_shape_make(3, other);
    const char *file = du_path(dir, "raw.pack");
    cnn_dataset *src;
    snprintf(spec, sizeof spec, "folder:%s", make_folder());
    src = open_ok(spec, &shape);
    write_pack(src, file, 0);
    cnn_dataset_destroy(src);
    snprintf(spec2, sizeof spec2, "pack:%s", file);
    du_expect_fail(spec2, &s2, "raw records of 3x8x8", "3x8x9",
                   "--size 3x8x9");
}

/* dir/big: two classes of photos large enough for
 * RandomResizedCrop to pick real boxes and for the JPEG decoder to shrink
 * by DCT scaling (boxes at least twice a 12 x 12 sample): 8 JPEGs, RGB and
 * gray, and 2 PNGs, of 40 to 97 pixels a side. */
static const char *make_big_folder(void)
{
    char sub[3072], file[4096];
    const char *root = du_path(dir, "big");
    static char keep[2048];
    snprintf(keep, sizeof keep, "%s", root);
    du_mkdir(keep);
    du_mkdir(du_path(keep, "a"));
    du_mkdir(du_path(keep, "b"));
    for (int k = 0; k < 10; k++) {
        int w = 40 + 13 * k % 58, h = 40 + 29 * k % 51;
        int ch = k % 5 == 4 ? 1 : 3;
        uint8_t *p = malloc((size_t)(w * h * ch));
        cr_assert_not_null(p);
        snprintf(sub, sizeof sub, "%s/%s", keep, k % 2 ? "b" : "a");
        /* Smooth gradients with an edge: resizing shows where it is. */
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < ch; c++)
                    p[(y * w + x) * ch + c] =
                        (uint8_t)((x * 255 / w + c * 80 + k * 17 +
                                   (x > w / 3 && y < h / 2 ? 90 : 0)) % 256);
        snprintf(file, sizeof file, "%s/%02d.%s", sub, k,
                 k % 5 == 2 ? "png" : "jpg");
        if (k % 5 == 2)
            du_write_png(file, w, h, ch, p);
        else
            du_write_jpg(file, w, h, ch, p);
        free(p);
    }
    return keep;
}

/* The loader settings of training with --augment imagenet (and --flip),
 * and of evaluating after it, on 2 threads. */
static cnn_loader_options imagenet_train(void)
{
    cnn_loader_options lo;
    cnn_loader_options_init(&lo);
    lo.batch = 3;
    lo.shuffle = 1;
    lo.flip = 1;
    lo.seed = 11;
    lo.random_resized_crop = 1;
    lo.threads = 2;
    lo.prefetch = 2;
    return lo;
}

static cnn_loader_options imagenet_eval(double center)
{
    cnn_loader_options lo;
    cnn_loader_options_init(&lo);
    lo.batch = 4;
    lo.center_crop = center;
    lo.threads = 2;
    lo.prefetch = 2;
    return lo;
}

Test(pack, encoded_streams_the_folders_batches_under_imagenet_augmentation)
{
    const int64_t d[3] = {3, 12, 12}, g[3] = {1, 10, 14};
    cnn_shape shapes[2] = {cnn_shape_make(3, d), cnn_shape_make(3, g)};
    const char *folder = make_big_folder();
    const char *file = du_path(dir, "big.pack");
    cnn_loader_options train = imagenet_train(), eval = imagenet_eval(0.875);
    cnn_loader_options plain = imagenet_eval(1.0);
    snprintf(spec, sizeof spec, "folder:%s", folder);
    {
        cnn_dataset *src = open_ok(spec, &shapes[0]);
        write_pack(src, file, 1);
        cnn_dataset_destroy(src);
    }
    for (int k = 0; k < 2; k++) {
        cnn_dataset *src, *packed;
        double crops[2], centred, whole;
        snprintf(spec, sizeof spec, "folder:%s", folder);
        snprintf(spec2, sizeof spec2, "pack:%s", file);
        src = open_ok(spec, &shapes[k]);
        packed = open_ok(spec2, &shapes[k]);
        cr_assert(cnn_dataset_streamed(packed), "an encoded pack streams");
        cr_assert_null(cnn_dataset_item_path(packed, 0));
        for (size_t i = 0; i < cnn_dataset_size(src); i++)
            cr_assert_eq(cnn_dataset_item_file_size(packed, i),
                         cnn_dataset_item_file_size(src, i),
                         "record %zu holds item %zu's file", i, i);
        /* RandomResizedCrop + flip at full resolution, two epochs (other
         * crops), and eval's centre crop: the folder's batches exactly. */
        crops[0] = assert_same_batches_with(src, packed, &train, 0);
        crops[1] = assert_same_batches_with(src, packed, &train, 1);
        centred = assert_same_batches_with(src, packed, &eval, 0);
        whole = assert_same_batches_with(src, packed, &plain, 0);
        /* ...and those are really different views of the images. */
        cr_assert_neq(crops[0], crops[1], "epochs draw other crops");
        cr_assert_neq(crops[0], whole, "RandomResizedCrop was applied");
        cr_assert_neq(centred, whole, "the centre crop was applied");
        cnn_dataset_destroy(packed);
        cnn_dataset_destroy(src);
    }
    {
        /* A slice, and the parts of --val-split after the pack they came
         * from is gone: still the folder's batches. */
        cnn_context *ctx = cnn_context_create();
        cnn_dataset *a, *b, *ta, *va, *tb, *vb;
        snprintf(spec, sizeof spec, "folder:%s[2:9]", folder);
        snprintf(spec2, sizeof spec2, "pack:%s[2:9]", file);
        a = open_ok(spec, &shapes[0]);
        b = open_ok(spec2, &shapes[0]);
        (void)assert_same_batches_with(a, b, &train, 2);
        cnn_dataset_destroy(a);
        cnn_dataset_destroy(b);
        snprintf(spec, sizeof spec, "folder:%s", folder);
        snprintf(spec2, sizeof spec2, "pack:%s", file);
        a = open_ok(spec, &shapes[0]);
        b = open_ok(spec2, &shapes[0]);
        cr_assert_eq(cnn_dataset_split(ctx, a, 0.3, &ta, &va), CNN_OK);
        cr_assert_eq(cnn_dataset_split(ctx, b, 0.3, &tb, &vb), CNN_OK);
        cnn_dataset_destroy(b);
        (void)assert_same_batches_with(ta, tb, &train, 4);
        cnn_dataset_destroy(tb);
        (void)assert_same_batches_with(va, vb, &eval, 4);
        cnn_dataset_destroy(vb);
        cnn_dataset_destroy(ta);
        cnn_dataset_destroy(va);
        cnn_dataset_destroy(a);
        cnn_context_destroy(ctx);
    }
}

/* ---- hostile files ---- */

static unsigned char *bytes;
static size_t n_bytes;

static void put32(size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        bytes[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

static void put64(size_t at, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        bytes[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(size_t at)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | bytes[at + (size_t)i];
    return v;
}

/* The footer's CRC made right again for the (changed) contents. */
static void fix_crc(void)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, bytes, (uInt)(n_bytes - 16));
    put32(n_bytes - 16, (uint32_t)crc);
}

/* Loads a fresh pack of the folder (raw 1x4x4, or encoded) into bytes. */
static void load_valid(int encoded)
{
    const int64_t d[3] = {1, 4, 4};
    cnn_shape shape = cnn_shape_make(3, d);
    const char *file = du_path(dir, "valid.pack");
    cnn_dataset *src;
    snprintf(spec, sizeof spec, "folder:%s", make_folder());
    src = open_ok(spec, &shape);
    write_pack(src, file, encoded);
    cnn_dataset_destroy(src);
    free(bytes);
    bytes = du_read(file, &n_bytes);
}

/* Writes the first n of bytes as dir/bad.pack and expects opening it to
 * fail with a message naming the file and holding the needles. */
static void expect_bad(size_t n, const char *n1, const char *n2)
{
    const char *file = du_path(dir, "bad.pack");
    du_write(file, bytes, n);
    snprintf(spec2, sizeof spec2, "pack:%s", file);
    du_expect_fail(spec2, NULL, file, n1, n2);
}

/* Head fields (pack_format.h). */
enum { AT_VERSION = 8, AT_KIND = 12, AT_COUNT = 16, AT_CHANNELS = 24,
       AT_CLASSES = 36, AT_NAMES = 40, AT_RECORDS = 48, AT_RESERVED = 56 };

Test(pack, refuses_truncated_files)
{
    load_valid(0);
    expect_bad(0, "too small", NULL);
    expect_bad(40, "too small", NULL);
    expect_bad(n_bytes - 1, "CNNPEND", NULL);
    expect_bad(n_bytes / 2, "CNNPEND", NULL);
    /* The footer kept, a record gone: the size no longer adds up. */
    memmove(bytes + n_bytes - 40, bytes + n_bytes - 24, 24);
    expect_bad(n_bytes - 16, "describe another size", NULL);
    free(bytes);
    bytes = NULL;
}

Test(pack, refuses_bad_head_fields)
{
    load_valid(0);
    bytes[0] = 'X';
    expect_bad(n_bytes, "not a cnnrun pack", NULL);
    load_valid(0);
    put32(AT_VERSION, 2);
    fix_crc();
    expect_bad(n_bytes, "'version' is 2", NULL);
    load_valid(0);
    put32(AT_KIND, 3);
    fix_crc();
    expect_bad(n_bytes, "'kind' is 3", NULL);
    load_valid(0);
    put64(AT_RESERVED, 1);
    fix_crc();
    expect_bad(n_bytes, "reserved", NULL);
    load_valid(0);
    put32(AT_CHANNELS, 2);
    fix_crc();
    expect_bad(n_bytes, "'channels'", NULL);
    load_valid(0);
    put32(AT_CLASSES, 0);
    fix_crc();
    expect_bad(n_bytes, "'classes' is 0", NULL);
    load_valid(0);
    put64(AT_NAMES, 1u << 30);
    fix_crc();
    expect_bad(n_bytes, "'names_bytes'", NULL);
    load_valid(0);
    put64(AT_RECORDS, get64(AT_RECORDS) + 64);
    fix_crc();
    expect_bad(n_bytes, "'records_offset'", NULL);
    free(bytes);
    bytes = NULL;
}

Test(pack, refuses_huge_counts)
{
    load_valid(0);
    put64(AT_COUNT, UINT64_MAX);
    fix_crc();
    expect_bad(n_bytes, "'count'", NULL);
    load_valid(0);
    put64(AT_COUNT, (uint64_t)1 << 62);
    fix_crc();
    expect_bad(n_bytes, "'count'", NULL);
    load_valid(0);
    put64(AT_COUNT, 0);
    fix_crc();
    expect_bad(n_bytes, "'count' is 0", NULL);
    /* A count that fits the file but not the records. */
    load_valid(0);
    put64(AT_COUNT, 12);
    fix_crc();
    expect_bad(n_bytes, NULL, NULL);
    /* records_bytes past the file, and one that wraps the size sum. */
    load_valid(0);
    put64(n_bytes - 24, UINT64_MAX - 8);
    fix_crc();
    expect_bad(n_bytes, "'records_bytes'", NULL);
    free(bytes);
    bytes = NULL;
}

Test(pack, refuses_a_bad_checksum)
{
    load_valid(0);
    bytes[n_bytes - 30] ^= 1; /* a pixel of the last record */
    expect_bad(n_bytes, "checksum mismatch", "corrupt");
    load_valid(0);
    bytes[n_bytes - 16] ^= 0x80; /* the stored CRC itself */
    expect_bad(n_bytes, "checksum mismatch", NULL);
    free(bytes);
    bytes = NULL;
}

Test(pack, refuses_bad_labels_and_names)
{
    size_t labels;
    load_valid(0);
    labels = 64 + (size_t)get64(AT_NAMES);
    put32(labels + 4 * 5, 3); /* three classes */
    fix_crc();
    expect_bad(n_bytes, "label of record 5 is 3", "3 classes");
    load_valid(0);
    put32(labels, 0x80000000u);
    fix_crc();
    expect_bad(n_bytes, "label of record 0", NULL);
    load_valid(0);
    put32(64, 0); /* the first name's length */
    fix_crc();
    expect_bad(n_bytes, "class name 0 has length 0", NULL);
    load_valid(0);
    put32(64, 4000);
    fix_crc();
    expect_bad(n_bytes, "class name 0", NULL);
    load_valid(0);
    bytes[64 + 4 + 1] = '\0'; /* "c\0t" */
    fix_crc();
    expect_bad(n_bytes, "NUL", NULL);
    free(bytes);
    bytes = NULL;
}

Test(pack, refuses_bad_offsets_and_records)
{
    size_t offsets, count;
    load_valid(1);
    count = (size_t)get64(AT_COUNT);
    offsets = n_bytes - 24 - 8 * (count + 1);
    put64(offsets, 1);
    fix_crc();
    expect_bad(n_bytes, "offset of record 0 is 1", NULL);
    load_valid(1);
    put64(offsets + 8 * 3, get64(offsets + 8 * 2)); /* record 2 empty */
    fix_crc();
    expect_bad(n_bytes, "record 2 spans", NULL);
    load_valid(1);
    put64(offsets + 8 * 4, UINT64_MAX); /* far out of bounds */
    fix_crc();
    expect_bad(n_bytes, "record 3 spans", NULL);
    load_valid(1);
    put64(offsets + 8 * 4, get64(offsets + 8 * 5) + 1); /* not increasing */
    fix_crc();
    expect_bad(n_bytes, "record 4 spans", NULL);
    free(bytes);
    bytes = NULL;
}

Test(pack, refuses_what_is_not_a_file)
{
    snprintf(spec2, sizeof spec2, "pack:%s", dir);
    du_expect_fail(spec2, NULL, "not a regular file", NULL, NULL);
    snprintf(spec2, sizeof spec2, "pack:%s/none.pack", dir);
    du_expect_fail(spec2, NULL, "none.pack", "cannot open", NULL);
    du_expect_fail("pack:", NULL, "needs a file", NULL, NULL);
}

Test(pack, writer_checks_what_it_is_given)
{
    cnn_context *ctx = cnn_context_create();
    cnn_pack_writer *w = NULL;
    const char *names[2] = {"a", "b"};
    int32_t labels[2] = {0, 1};
    uint8_t record[12] = {0};
    struct stat sb;
    const char *file = du_path(dir, "w.pack");
    cnn_pack_header h = {CNN_PACK_RAW, 2, 3, 2, 2, 2, names, labels};
    labels[1] = 2;
    cr_assert_neq(cnn_pack_writer_open(ctx, file, &h, &w), CNN_OK);
    cr_assert_not_null(strstr(cnn_context_message(ctx), "label 2 of record 1"));
    labels[1] = 1;
    h.channels = 2;
    cr_assert_neq(cnn_pack_writer_open(ctx, file, &h, &w), CNN_OK);
    h.channels = 3;
    cr_assert_eq(cnn_pack_writer_open(ctx, file, &h, &w), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cr_assert_neq(cnn_pack_writer_add(w, record, 11), CNN_OK);
    cr_assert_not_null(strstr(cnn_context_message(ctx), "raw records have 12"));
    cr_assert_eq(cnn_pack_writer_add(w, record, 12), CNN_OK);
    /* One record short: nothing replaces the target. */
    cr_assert_neq(cnn_pack_writer_commit(w), CNN_OK);
    cr_assert_not_null(strstr(cnn_context_message(ctx), "1 records added"));
    cr_assert_neq(stat(file, &sb), 0);
    cnn_context_destroy(ctx);
}

/* Walks one epoch of spec (batches of 4, in order, 2 threads) and returns
 * the items handed out; with skip_bad, *skipped and first get the count
 * and first message; without it, the first failing batch's message is
 * copied into first and the walk stops there. */
static size_t walk(const char *s_spec, int skip_bad, size_t *skipped,
                   char *first, size_t first_size)
{
    const int64_t d[3] = {1, 4, 4};
    cnn_shape shape = cnn_shape_make(3, d);
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *ds = open_ok(s_spec, &shape);
    cnn_loader *L = NULL;
    cnn_loader_options lo;
    size_t items = 0;
    cnn_loader_options_init(&lo);
    lo.batch = 4;
    lo.threads = 2;
    lo.prefetch = 2;
    lo.skip_bad = skip_bad;
    first[0] = '\0';
    cr_assert_eq(cnn_loader_create(ctx, ds, &lo, &L), CNN_OK);
    cr_assert_eq(cnn_loader_begin_epoch(L, 0), CNN_OK);
    for (;;) {
        cnn_tensor t;
        const int32_t *y;
        size_t n;
        if (cnn_loader_next(L, &t, &y, &n) != CNN_OK) {
            snprintf(first, first_size, "%s", cnn_context_message(ctx));
            break;
        }
        if (n == 0)
            break;
        items += n;
    }
    *skipped = cnn_loader_skipped(L);
    if (skip_bad)
        snprintf(first, first_size, "%s", cnn_loader_first_skipped(L));
    cnn_loader_destroy(L);
    cnn_dataset_destroy(ds);
    cnn_context_destroy(ctx);
    return items;
}

Test(pack, a_record_that_does_not_decode_is_named_or_skipped)
{
    const int64_t d[3] = {1, 4, 4};
    cnn_shape shape = cnn_shape_make(3, d);
    const char *file = du_path(dir, "bad.pack");
    char first[4096];
    size_t count, offsets, skipped = 0, at = 0, jpeg;
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *ds;
    uint8_t sample[16];
    load_valid(1);
    count = (size_t)get64(AT_COUNT);
    offsets = n_bytes - 24 - 8 * (count + 1);
    /* Record 6 no image at all; the first JPEG record after it keeps its
     * header, the last third of its entropy-coded data and its end marker
     * turned to zeros. The pack itself stays valid: opening succeeds. */
    memset(bytes + get64(AT_RECORDS) + get64(offsets + 8 * 6), 'x', 16);
    for (jpeg = 7; jpeg < count; jpeg++) {
        at = (size_t)(get64(AT_RECORDS) + get64(offsets + 8 * jpeg));
        if (bytes[at] == 0xFF && bytes[at + 1] == 0xD8)
            break;
    }
    cr_assert_lt(jpeg, count, "a JPEG record after record 6");
    {
        size_t len = (size_t)(get64(offsets + 8 * (jpeg + 1)) -
                              get64(offsets + 8 * jpeg));
        memset(bytes + at + len - len / 3, 0, len / 3);
    }
    fix_crc();
    du_write(file, bytes, n_bytes);
    snprintf(spec2, sizeof spec2, "pack:%s", file);
    ds = open_ok(spec2, &shape);
    for (size_t i = 0; i < count; i++) {
        cnn_status st = cnn_dataset_sample_u8(ctx, ds, i, sample);
        char want[64];
        if (i != 6 && i != jpeg) {
            cr_assert_eq(st, CNN_OK, "record %zu: %s", i,
                         cnn_context_message(ctx));
            continue;
        }
        snprintf(want, sizeof want, ": record %zu: ", i);
        cr_assert_neq(st, CNN_OK, "record %zu decoded", i);
        cr_assert_not_null(strstr(cnn_context_message(ctx), file), "%s",
                           cnn_context_message(ctx));
        cr_assert_not_null(strstr(cnn_context_message(ctx), want), "%s",
                           cnn_context_message(ctx));
        if (i == jpeg)
            cr_assert_not_null(strstr(cnn_context_message(ctx),
                                      "corrupt JPEG"), "%s",
                               cnn_context_message(ctx));
    }
    cnn_dataset_destroy(ds);
    cnn_context_destroy(ctx);
    /* Through the loader: batch 1 (items 4-7) stops the epoch, naming
     * record 6; with skip_bad both bad records are dropped and counted. */
    cr_assert_eq(walk(spec2, 0, &skipped, first, sizeof first), 4);
    cr_assert_not_null(strstr(first, "batch 1 of epoch 0"), "%s", first);
    cr_assert_not_null(strstr(first, ": record 6: "), "%s", first);
    cr_assert_eq(walk(spec2, 1, &skipped, first, sizeof first), count - 2);
    cr_assert_eq(skipped, 2);
    cr_assert_not_null(strstr(first, ": record 6: "), "%s", first);
    free(bytes);
    bytes = NULL;
}
