/* SPDX-License-Identifier: MIT */
/* IDX datasets: plain and gzip, geometry (pad, crop, channels), subsets,
 * and every bad-data message. Fixtures are written at run time. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/data.h"
#include "data_util.h"

#define N 5
#define ROWS 3
#define COLS 4

static char *dir;
static const int32_t labels5[N] = {2, 0, 1, 2, 1};

/* Writes images.idx, labels.idx (plain) and their .gz twins. */
static void setup(void)
{
    size_t ni, nl;
    unsigned char *img = du_idx_images(N, ROWS, COLS, &ni);
    unsigned char *lab = du_idx_labels(labels5, N, 0x08, &nl);
    dir = du_tempdir();
    du_write(du_path(dir, "images.idx"), img, ni);
    du_write(du_path(dir, "labels.idx"), lab, nl);
    du_write_gz(du_path(dir, "images.idx.gz"), img, ni);
    du_write_gz(du_path(dir, "labels.idx.gz"), lab, nl);
    free(img);
    free(lab);
}

static void teardown(void)
{
    du_rmtree(dir);
    free(dir);
}

TestSuite(idx, .init = setup, .fini = teardown);

static char spec_buf[3][8192];
static int spec_next;

/* "idx:DIR/images,DIR/labels" plus an optional suffix. */
static const char *spec2(const char *images, const char *labels,
                         const char *suffix)
{
    char *s = spec_buf[spec_next++ % 3];
    snprintf(s, 8192, "idx:%s/%s,%s/%s%s", dir, images, dir, labels,
             suffix ? suffix : "");
    return s;
}

static cnn_dataset *open_ok(cnn_context *ctx, const char *spec,
                            const cnn_shape *shape)
{
    cnn_dataset *ds = NULL;
    cnn_status st = cnn_dataset_open(ctx, spec, shape, &ds);
    cr_assert_eq(st, CNN_OK, "open %s: %s", spec, cnn_context_message(ctx));
    cr_assert_not_null(ds);
    return ds;
}

static void check_native(const cnn_dataset *ds, size_t first)
{
    float sample[ROWS * COLS];
    cnn_shape s = cnn_dataset_sample_shape(ds);
    cnn_shape want = cnn_shape4(1, 1, ROWS, COLS);
    cr_assert(cnn_shape_equal(&s, &want));
    for (size_t i = 0; i < cnn_dataset_size(ds); i++) {
        const uint8_t *u8 = du_sample_u8(ds, i);
        cr_assert_eq(cnn_dataset_label(ds, i), labels5[first + i]);
        du_sample(ds, i, sample);
        for (uint32_t y = 0; y < ROWS; y++)
            for (uint32_t x = 0; x < COLS; x++) {
                uint8_t v = du_pixel((uint32_t)(first + i), y, x);
                cr_assert_eq(u8[y * COLS + x], v);
                cr_assert_eq(sample[y * COLS + x], (float)v / 255.0f);
            }
    }
}

Test(idx, plain_native)
{
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *ds = open_ok(ctx, spec2("images.idx", "labels.idx", NULL),
                              NULL);
    cr_assert_eq(cnn_dataset_size(ds), N);
    cr_assert_eq(cnn_dataset_class_count(ds), 3, "inferred max + 1");
    cr_assert_str_eq(cnn_dataset_class_name(ds, 0), "0");
    cr_assert_str_eq(cnn_dataset_class_name(ds, 2), "2");
    cr_assert_null(cnn_dataset_class_name(ds, 3));
    cr_assert_null(cnn_dataset_item_path(ds, 0), "IDX items have no path");
    cr_assert_eq(cnn_dataset_label(ds, N), -1);
    {
        uint8_t out[1];
        cr_assert_eq(cnn_dataset_sample_u8(ctx, ds, N, out), CNN_ERR_INVALID,
                     "past the end");
    }
    cr_assert_eq(cnn_dataset_labels(ds)[4], labels5[4]);
    check_native(ds, 0);
    cnn_dataset_destroy(ds);
    cnn_context_destroy(ctx);
}

Test(idx, gzip_and_mixed)
{
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *a = open_ok(
        ctx, spec2("images.idx.gz", "labels.idx.gz", NULL), NULL);
    cnn_dataset *b = open_ok(
        ctx, spec2("images.idx.gz", "labels.idx", NULL), NULL);
    check_native(a, 0);
    check_native(b, 0);
    cnn_dataset_destroy(a);
    cnn_dataset_destroy(b);
    cnn_context_destroy(ctx);
}

Test(idx, int32_labels_and_class_count)
{
    size_t n;
    unsigned char *lab = du_idx_labels(labels5, N, 0x0C, &n);
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *ds;
    du_write(du_path(dir, "labels32.idx"), lab, n);
    free(lab);
    ds = open_ok(ctx, spec2("images.idx", "labels32.idx", ",10"), NULL);
    cr_assert_eq(cnn_dataset_class_count(ds), 10);
    cr_assert_str_eq(cnn_dataset_class_name(ds, 9), "9");
    check_native(ds, 0);
    cnn_dataset_destroy(ds);
    cnn_context_destroy(ctx);
}

Test(idx, zero_pad_centered)
{
    /* 3x4 into 6x8: offsets (6-3)/2 = 1 row, (8-4)/2 = 2 columns. */
    cnn_context *ctx = cnn_context_create();
    cnn_shape shape = cnn_shape4(1, 1, 6, 8);
    cnn_dataset *ds = open_ok(ctx, spec2("images.idx", "labels.idx", NULL),
                              &shape);
    for (size_t i = 0; i < N; i++) {
        const uint8_t *p = du_sample_u8(ds, i);
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 8; x++) {
                int inside = y >= 1 && y < 4 && x >= 2 && x < 6;
                uint8_t want = inside ? du_pixel((uint32_t)i,
                                                 (uint32_t)(y - 1),
                                                 (uint32_t)(x - 2))
                                      : 0;
                cr_assert_eq(p[y * 8 + x], want, "item %zu at %d,%d", i, y,
                             x);
            }
    }
    cnn_dataset_destroy(ds);
    cnn_context_destroy(ctx);
}

Test(idx, crop_centered_rgb)
{
    /* 3x4 into 3 channels of 1x2: rows (1-3)/2 = -1, cols (2-4)/2 = -1. */
    cnn_context *ctx = cnn_context_create();
    int64_t dims[3] = {3, 1, 2};
    cnn_shape shape = cnn_shape_make(3, dims);
    cnn_dataset *ds = open_ok(ctx, spec2("images.idx.gz", "labels.idx.gz",
                                         NULL),
                              &shape);
    cnn_shape got = cnn_dataset_sample_shape(ds);
    cnn_shape want = cnn_shape4(1, 3, 1, 2);
    cr_assert(cnn_shape_equal(&got, &want));
    for (size_t i = 0; i < N; i++) {
        const uint8_t *p = du_sample_u8(ds, i);
        for (int c = 0; c < 3; c++)
            for (int x = 0; x < 2; x++)
                cr_assert_eq(p[c * 2 + x],
                             du_pixel((uint32_t)i, 1, (uint32_t)(x + 1)));
    }
    cnn_dataset_destroy(ds);
    cnn_context_destroy(ctx);
}

Test(idx, subsets)
{
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *ds = open_ok(ctx, spec2("images.idx", "labels.idx", "@2"),
                              NULL);
    cr_assert_eq(cnn_dataset_size(ds), 2);
    check_native(ds, 0);
    cr_assert_eq(cnn_dataset_class_count(ds), 3, "classes from all labels");
    cnn_dataset_destroy(ds);
    ds = open_ok(ctx, spec2("images.idx.gz", "labels.idx", "[1:4]"), NULL);
    cr_assert_eq(cnn_dataset_size(ds), 3);
    check_native(ds, 1);
    cnn_dataset_destroy(ds);
    ds = open_ok(ctx, spec2("images.idx", "labels.idx", "[3:]"), NULL);
    cr_assert_eq(cnn_dataset_size(ds), 2);
    check_native(ds, 3);
    cnn_dataset_destroy(ds);
    ds = open_ok(ctx, spec2("images.idx", "labels.idx", "[:5]"), NULL);
    cr_assert_eq(cnn_dataset_size(ds), 5);
    cr_assert_str_eq(cnn_dataset_spec(ds),
                     spec2("images.idx", "labels.idx", "[:5]"));
    cnn_dataset_destroy(ds);
    cnn_context_destroy(ctx);

    du_expect_fail(spec2("images.idx", "labels.idx", "@6"), NULL,
                   "up to 6", "only 5", NULL);
    du_expect_fail(spec2("images.idx", "labels.idx", "[4:2]"), NULL,
                   "selects no items", NULL, NULL);
    du_expect_fail(spec2("images.idx", "labels.idx", "@0"), NULL,
                   "selects no items", NULL, NULL);
    du_expect_fail(spec2("images.idx", "labels.idx", "[1-2]"), NULL,
                   "[A:B]", NULL, NULL);
    du_expect_fail(spec2("images.idx", "labels.idx", "[x:2]"), NULL,
                   "start", NULL, NULL);
}

Test(idx, bad_specs)
{
    cnn_shape bad_c = cnn_shape4(1, 2, 8, 8);
    cnn_shape bad_h = cnn_shape4(1, 1, 0, 8);
    cnn_shape bad_rank = cnn_shape2(1, 8);
    du_expect_fail("nonsense", NULL, "KIND:ARGS", NULL, NULL);
    du_expect_fail("cifar:train", NULL, "unknown dataset kind 'cifar'",
                   "fashion-mnist, idx, folder", NULL);
    du_expect_fail("fashion-mnist:valid", NULL, "'valid'", NULL, NULL);
    du_expect_fail("idx:onlyone", NULL, "IMAGES,LABELS", NULL, NULL);
    du_expect_fail("idx:a,b,0", NULL, "class count '0'", NULL, NULL);
    du_expect_fail("idx:,b", NULL, "empty file name", NULL, NULL);
    du_expect_fail("folder:", NULL, "needs a directory", NULL, NULL);
    du_expect_fail(spec2("images.idx", "labels.idx", NULL), &bad_c,
                   "2 channels", NULL, NULL);
    du_expect_fail(spec2("images.idx", "labels.idx", NULL), &bad_h,
                   "height 0", NULL, NULL);
    du_expect_fail(spec2("images.idx", "labels.idx", NULL), &bad_rank,
                   "rank 2", NULL, NULL);
}

Test(idx, missing_file)
{
    const char *spec = spec2("nope.idx", "labels.idx", NULL);
    cr_assert_eq(du_expect_fail(spec, NULL, du_path(dir, "nope.idx"),
                                "No such file or directory", NULL),
                 CNN_ERR_NOT_FOUND);
    spec = spec2("images.idx", "nolabels.idx", NULL);
    du_expect_fail(spec, NULL, du_path(dir, "nolabels.idx"),
                   "cannot open", NULL);
}

/* Writes bytes as name (plain) and name.gz (gzip). */
static void write_both(const char *name, const unsigned char *b, size_t n)
{
    char gz[256];
    snprintf(gz, sizeof gz, "%s.gz", name);
    du_write(du_path(dir, name), b, n);
    du_write_gz(du_path(dir, gz), b, n);
}

Test(idx, wrong_magic)
{
    size_t n;
    unsigned char *img = du_idx_images(N, ROWS, COLS, &n);
    img[0] = 0x12;
    write_both("magic.idx", img, n);
    du_expect_fail(spec2("magic.idx", "labels.idx", NULL), NULL,
                   du_path(dir, "magic.idx"), "wrong magic", NULL);
    du_expect_fail(spec2("magic.idx.gz", "labels.idx", NULL), NULL,
                   du_path(dir, "magic.idx.gz"), "wrong magic", NULL);
    img[0] = 0;
    img[2] = 0x0D; /* float images */
    write_both("float.idx", img, n);
    du_expect_fail(spec2("float.idx", "labels.idx", NULL), NULL,
                   du_path(dir, "float.idx"), "wrong magic",
                   "element type 0x0d");
    free(img);
}

Test(idx, dimension_mismatch)
{
    /* Images and labels swapped: each has the other's dimension count. */
    du_expect_fail(spec2("labels.idx", "images.idx", NULL), NULL,
                   du_path(dir, "images.idx"), "dimension mismatch",
                   "has 3 dimensions, expected 1");
    du_expect_fail(spec2("labels.idx", "labels.idx", NULL), NULL,
                   "dimension mismatch", "has 1 dimensions, expected 3",
                   NULL);
}

Test(idx, count_mismatch)
{
    size_t n;
    unsigned char *lab = du_idx_labels(labels5, N - 1, 0x08, &n);
    du_write(du_path(dir, "four.idx"), lab, n);
    free(lab);
    du_expect_fail(spec2("images.idx", "four.idx", NULL), NULL,
                   "four.idx holds 4 labels", "images.idx holds 5 images",
                   NULL);
}

Test(idx, label_outside_classes)
{
    int32_t bad[N] = {0, 1, 7, 1, 0};
    int32_t neg[N] = {0, 1, 1, -3, 0};
    size_t n;
    unsigned char *lab = du_idx_labels(bad, N, 0x08, &n);
    write_both("bad.idx", lab, n);
    free(lab);
    du_expect_fail(spec2("images.idx", "bad.idx.gz", ",3"), NULL,
                   du_path(dir, "bad.idx.gz"),
                   "label 7 at position 2 is outside the 3 classes 0..2",
                   NULL);
    lab = du_idx_labels(neg, N, 0x0C, &n);
    du_write(du_path(dir, "neg.idx"), lab, n);
    free(lab);
    du_expect_fail(spec2("images.idx", "neg.idx", NULL), NULL,
                   du_path(dir, "neg.idx"),
                   "label -3 at position 3 is negative", NULL);
}

Test(idx, truncated)
{
    size_t n, zn;
    unsigned char *img = du_idx_images(N, ROWS, COLS, &n);
    unsigned char *z;
    /* A valid gzip of a short file, and a plain short file. */
    write_both("short.idx", img, n - 5);
    du_expect_fail(spec2("short.idx", "labels.idx", NULL), NULL,
                   du_path(dir, "short.idx"), "truncated",
                   "ends after 71 bytes");
    du_expect_fail(spec2("short.idx.gz", "labels.idx", NULL), NULL,
                   du_path(dir, "short.idx.gz"), "truncated",
                   "header describes 76 bytes");
    /* Cut inside the header. */
    write_both("tiny.idx", img, 6);
    du_expect_fail(spec2("tiny.idx", "labels.idx", NULL), NULL,
                   du_path(dir, "tiny.idx"), "truncated", "IDX header");
    /* A gzip stream cut short (no end of stream, no CRC). */
    z = du_read(du_path(dir, "images.idx.gz"), &zn);
    du_write(du_path(dir, "cut.idx.gz"), z, zn - 10);
    du_expect_fail(spec2("cut.idx.gz", "labels.idx", NULL), NULL,
                   du_path(dir, "cut.idx.gz"), "truncated gzip stream",
                   NULL);
    du_write(du_path(dir, "cut2.idx.gz"), z, zn / 2);
    du_expect_fail(spec2("cut2.idx.gz", "labels.idx", NULL), NULL,
                   du_path(dir, "cut2.idx.gz"), "truncated", NULL);
    free(z);
    free(img);
}

Test(idx, corrupt_gzip)
{
    size_t zn;
    unsigned char *z = du_read(du_path(dir, "images.idx.gz"), &zn);
    z[zn - 6] ^= 0xff; /* inside the CRC32 trailer */
    du_write(du_path(dir, "crc.idx.gz"), z, zn);
    du_expect_fail(spec2("crc.idx.gz", "labels.idx", NULL), NULL,
                   du_path(dir, "crc.idx.gz"),
                   "corrupt gzip data: incorrect data check", NULL);
    free(z);
    {
        /* Damage inside the deflate stream of a larger file. */
        int32_t zeros[200] = {0};
        size_t n;
        unsigned char *img = du_idx_images(200, 16, 16, &n);
        du_write_gz(du_path(dir, "big.idx.gz"), img, n);
        free(img);
        img = du_idx_labels(zeros, 200, 0x08, &n);
        du_write(du_path(dir, "big-labels.idx"), img, n);
        free(img);
        z = du_read(du_path(dir, "big.idx.gz"), &zn);
        for (size_t i = 40; i < 60; i++)
            z[i] ^= 0x5a;
        du_write(du_path(dir, "deflate.idx.gz"), z, zn);
        free(z);
        du_expect_fail(spec2("deflate.idx.gz", "big-labels.idx", NULL), NULL,
                       du_path(dir, "deflate.idx.gz"), "corrupt gzip data",
                       NULL);
    }
}

Test(idx, trailing_bytes)
{
    size_t n;
    unsigned char *img = du_idx_images(N, ROWS, COLS, &n);
    unsigned char *longer = calloc(n + 3, 1);
    memcpy(longer, img, n);
    write_both("long.idx", longer, n + 3);
    du_expect_fail(spec2("long.idx", "labels.idx", NULL), NULL,
                   du_path(dir, "long.idx"), "3 trailing bytes", NULL);
    du_expect_fail(spec2("long.idx.gz", "labels.idx", NULL), NULL,
                   du_path(dir, "long.idx.gz"), "3 trailing bytes", NULL);
    free(longer);
    free(img);
}

Test(idx, hostile_sizes)
{
    /* Headers promising gigantic data with almost none present must fail
     * as truncated or out of range, without asking for the memory. */
    unsigned char lab[12] = {0, 0, 8, 1, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4};
    unsigned char img[20] = {0,    0,    8,    3,    0,    0,    0,
                             5,    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                             0xff, 0xff, 9,    9,    9,    9};
    unsigned char img2[20] = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0,
                              0x10, 0, 0, 0, 0x10, 0, 9, 9, 9, 9};
    write_both("hlab.idx", lab, sizeof lab);
    /* The counts are compared before any label is read. */
    du_expect_fail(spec2("images.idx", "hlab.idx", NULL), NULL,
                   du_path(dir, "hlab.idx"), "holds 4294967295 labels but",
                   "holds 5 images");
    du_expect_fail(spec2("images.idx", "hlab.idx.gz", NULL), NULL,
                   du_path(dir, "hlab.idx.gz"), "holds 4294967295 labels", NULL);
    write_both("himg.idx", img, sizeof img);
    du_expect_fail(spec2("himg.idx", "labels.idx", NULL), NULL,
                   du_path(dir, "himg.idx"), "image size 4294967295x",
                   NULL);
    /* 4096x4096 per image is allowed, but only 4 bytes are present. */
    write_both("himg2.idx", img2, sizeof img2);
    du_expect_fail(spec2("himg2.idx.gz", "labels.idx", NULL), NULL,
                   du_path(dir, "himg2.idx.gz"), "truncated", NULL);
}

Test(idx, not_a_file)
{
    du_expect_fail(spec2("", "labels.idx", NULL), NULL, "not a regular file",
                   NULL, NULL);
}

Test(idx, gzip_label_bomb_refused_before_reading)
{
    /* The case: a gzip label file claiming 2^30 labels (its data
     * 1 MB of zeros, inflating to 1 GB) beside images of another count
     * must fail on the headers, and when the counts agree the memory the
     * dataset needs is compared with the machine's before anything is
     * read. */
    unsigned char head[8] = {0, 0, 8, 1, 0x40, 0, 0, 0};
    unsigned char ihead[16] = {0, 0, 8, 3, 0x40, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28};
    size_t n = 8 + ((size_t)1 << 20);
    unsigned char *lab = calloc(n, 1);
    cr_assert_not_null(lab);
    memcpy(lab, head, 8);
    du_write_gz(du_path(dir, "bomb.idx.gz"), lab, n);
    free(lab);
    du_expect_fail(spec2("images.idx", "bomb.idx.gz", NULL), NULL,
                   du_path(dir, "bomb.idx.gz"), "holds 1073741824 labels but",
                   "holds 5 images");
    du_write(du_path(dir, "bombimg.idx"), ihead, sizeof ihead);
    du_expect_fail(spec2("bombimg.idx", "bomb.idx.gz", NULL), NULL,
                   "needs", "physical memory", NULL);
}

Test(idx, gzip_trailing_garbage_and_members)
{
    size_t n, zn, ln;
    unsigned char *img = du_idx_images(N, ROWS, COLS, &n);
    unsigned char *z, *both;
    /* Garbage after the gzip stream: refused (gzread ignored it). */
    z = du_read(du_path(dir, "images.idx.gz"), &zn);
    both = malloc(zn + 5);
    memcpy(both, z, zn);
    memcpy(both + zn, "junk!", 5);
    du_write(du_path(dir, "junk.idx.gz"), both, zn + 5);
    du_expect_fail(spec2("junk.idx.gz", "labels.idx", NULL), NULL,
                   du_path(dir, "junk.idx.gz"),
                   "trailing bytes after the end of the gzip stream", NULL);
    free(both);
    /* Two gzip members (cat a.gz b.gz) are one valid gzip file. */
    du_write_gz(du_path(dir, "part1.gz"), img, n / 2);
    du_write_gz(du_path(dir, "part2.gz"), img + n / 2, n - n / 2);
    {
        unsigned char *a = du_read(du_path(dir, "part1.gz"), &zn);
        unsigned char *b = du_read(du_path(dir, "part2.gz"), &ln);
        both = malloc(zn + ln);
        memcpy(both, a, zn);
        memcpy(both + zn, b, ln);
        du_write(du_path(dir, "two.idx.gz"), both, zn + ln);
        free(a);
        free(b);
        free(both);
    }
    {
        cnn_context *ctx = cnn_context_create();
        cnn_dataset *ds = NULL;
        cr_assert_eq(cnn_dataset_open(ctx, spec2("two.idx.gz", "labels.idx", NULL),
                                      NULL, &ds),
                     CNN_OK, "%s", cnn_context_message(ctx));
        cnn_dataset_destroy(ds);
        cnn_context_destroy(ctx);
    }
    free(z);
    free(img);
}
