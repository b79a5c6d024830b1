/* SPDX-License-Identifier: MIT */
/* Datasets of named image files (cnn_dataset_open_files): the caller's
 * order, the same samples a folder dataset decodes from the same files, a
 * loader over them, and the errors. Images are written at run time. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/data.h"
#include "data_util.h"

static char *dir;

static void setup(void)
{
    dir = du_tempdir();
}

static void teardown(void)
{
    du_rmtree(dir);
    free(dir);
}

TestSuite(files, .init = setup, .fini = teardown);

/* A w x h gray PNG whose pixel i is base + i. */
static void gray_png(const char *path, int w, int h, uint8_t base)
{
    uint8_t *p = malloc((size_t)w * (size_t)h);
    cr_assert_not_null(p);
    for (int i = 0; i < w * h; i++)
        p[i] = (uint8_t)(base + i);
    du_write_png(path, w, h, 1, p);
    free(p);
}

static cnn_dataset *open_ok(const char *const *paths, size_t n,
                            const cnn_shape *shape)
{
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *ds = NULL;
    cnn_status st = cnn_dataset_open_files(ctx, paths, n, shape, &ds);
    cr_assert_eq(st, CNN_OK, "open files: %s", cnn_context_message(ctx));
    cr_assert_not_null(ds);
    cnn_context_destroy(ctx);
    return ds;
}

/* Opens and asserts failure with a cleared output, a message holding every
 * non-NULL needle, and the status on the context; returns the status. */
static cnn_status expect_fail(const char *const *paths, size_t n,
                              const cnn_shape *shape, const char *n1,
                              const char *n2)
{
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *ds = (cnn_dataset *)1;
    cnn_status st = cnn_dataset_open_files(ctx, paths, n, shape, &ds);
    const char *msg = cnn_context_message(ctx);
    cr_assert_neq(st, CNN_OK, "opened but should fail");
    cr_assert_null(ds, "output not cleared on failure");
    cr_assert_eq(cnn_context_status(ctx), st);
    if (n1)
        cr_assert_not_null(strstr(msg, n1), "'%s' not in: %s", n1, msg);
    if (n2)
        cr_assert_not_null(strstr(msg, n2), "'%s' not in: %s", n2, msg);
    cnn_context_destroy(ctx);
    return st;
}

Test(files, caller_order_paths_and_no_classes)
{
    char a[4096], b[4096], c[4096];
    const char *paths[4];
    cnn_dataset *ds;
    snprintf(a, sizeof a, "%s", du_path(dir, "a.png"));
    snprintf(b, sizeof b, "%s", du_path(dir, "b.PNG"));
    snprintf(c, sizeof c, "%s", du_path(dir, "c.png"));
    gray_png(a, 4, 3, 10);
    gray_png(b, 4, 3, 100);
    gray_png(c, 4, 3, 200);
    /* Not sorted, and one file twice: items follow the caller. */
    paths[0] = c;
    paths[1] = a;
    paths[2] = c;
    paths[3] = b;
    ds = open_ok(paths, 4, NULL);
    cr_assert_eq(cnn_dataset_size(ds), 4);
    cr_assert_str_eq(cnn_dataset_spec(ds), "files");
    cr_assert_eq(cnn_dataset_class_count(ds), 0);
    cr_assert_null(cnn_dataset_class_name(ds, 0));
    for (size_t i = 0; i < 4; i++) {
        const uint8_t *p = du_sample_u8(ds, i);
        uint8_t base = paths[i] == a ? 10 : paths[i] == b ? 100 : 200;
        cr_assert_str_eq(cnn_dataset_item_path(ds, i), paths[i]);
        cr_assert_neq(cnn_dataset_item_path(ds, i), paths[i],
                      "paths must be copied");
        cr_assert_eq(cnn_dataset_label(ds, i), 0);
        cr_assert_eq(cnn_dataset_labels(ds)[i], 0);
        for (int k = 0; k < 12; k++)
            cr_assert_eq(p[k], (uint8_t)(base + k), "item %zu pixel %d",
                         i, k);
    }
    cr_assert_null(cnn_dataset_item_path(ds, 4));
    cr_assert_eq(cnn_dataset_label(ds, 4), -1);
    {
        /* Native geometry: the first image's, gray 3 rows x 4 cols. */
        cnn_shape s = cnn_dataset_sample_shape(ds);
        cnn_shape w = cnn_shape4(1, 1, 3, 4);
        cr_assert(cnn_shape_equal(&s, &w));
    }
    cnn_dataset_destroy(ds);
}

Test(files, native_geometry_of_rgb)
{
    uint8_t rgb[2 * 5 * 3];
    const char *paths[1];
    cnn_dataset *ds;
    for (int i = 0; i < 30; i++)
        rgb[i] = (uint8_t)(7 * i);
    du_write_png(du_path(dir, "rgb.png"), 5, 2, 3, rgb);
    paths[0] = du_path(dir, "rgb.png");
    ds = open_ok(paths, 1, NULL);
    {
        cnn_shape s = cnn_dataset_sample_shape(ds);
        cnn_shape w = cnn_shape4(1, 3, 2, 5);
        const uint8_t *p = du_sample_u8(ds, 0);
        cr_assert(cnn_shape_equal(&s, &w));
        /* CHW planes from the interleaved source. */
        for (int ch = 0; ch < 3; ch++)
            for (int i = 0; i < 10; i++)
                cr_assert_eq(p[ch * 10 + i], rgb[i * 3 + ch]);
    }
    cnn_dataset_destroy(ds);
}

/* The same files through a folder dataset and a file dataset must give the
 * same bytes: one decoder, converted and resized alike. */
static void check_same_as_folder(const cnn_shape *shape)
{
    char spec[4096];
    const char *paths[3];
    char store[3][4096];
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *folder = NULL, *files;
    snprintf(spec, sizeof spec, "folder:%s", du_path(dir, "tree"));
    cr_assert_eq(cnn_dataset_open(ctx, spec, shape, &folder), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cnn_context_destroy(ctx);
    cr_assert_eq(cnn_dataset_size(folder), 3);
    for (size_t i = 0; i < 3; i++) {
        snprintf(store[i], sizeof store[i], "%s",
                 cnn_dataset_item_path(folder, i));
        paths[i] = store[i];
    }
    files = open_ok(paths, 3, shape);
    {
        cnn_shape fs = cnn_dataset_sample_shape(folder);
        cnn_shape ls = cnn_dataset_sample_shape(files);
        size_t bytes = cnn_shape_numel(&fs);
        cr_assert(cnn_shape_equal(&fs, &ls));
        for (size_t i = 0; i < 3; i++)
            cr_assert_eq(memcmp(du_sample_u8(folder, i),
                                du_sample_u8(files, i), bytes),
                         0, "item %zu differs", i);
    }
    cnn_dataset_destroy(files);
    cnn_dataset_destroy(folder);
}

Test(files, decodes_like_folder_datasets)
{
    uint8_t rgb[9 * 7 * 3], gray[5 * 11];
    const char *sub;
    for (size_t i = 0; i < sizeof rgb; i++)
        rgb[i] = (uint8_t)(i * 37 % 251);
    for (size_t i = 0; i < sizeof gray; i++)
        gray[i] = (uint8_t)(i * 13 % 256);
    du_mkdir(du_path(dir, "tree"));
    sub = du_path(dir, "tree/k");
    du_mkdir(sub);
    du_write_png(du_path(dir, "tree/k/1rgb.png"), 9, 7, 3, rgb);
    du_write_png(du_path(dir, "tree/k/2gray.png"), 11, 5, 1, gray);
    du_write_jpg(du_path(dir, "tree/k/3rgb.jpg"), 9, 7, 3, rgb);
    {
        /* Shrink, enlarge, crop, and both channel conversions. */
        cnn_shape rgb_small = cnn_shape4(1, 3, 4, 4);
        cnn_shape gray_big = cnn_shape4(1, 1, 12, 10);
        cnn_shape chw = {3, {1, 6, 6}};
        check_same_as_folder(&rgb_small);
        check_same_as_folder(&gray_big);
        check_same_as_folder(&chw);
    }
}

Test(files, loader_takes_them)
{
    /* Class count 0 and labels 0 must not trouble the loader. */
    const char *paths[3];
    char store[3][4096];
    cnn_context *ctx = cnn_context_create();
    cnn_loader_options lo;
    cnn_loader *loader = NULL;
    cnn_shape shape = cnn_shape4(1, 1, 2, 2);
    float mean = 0.5f, std = 0.25f;
    cnn_dataset *ds;
    size_t seen = 0;
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "%d.png", i);
        snprintf(store[i], sizeof store[i], "%s", du_path(dir, name));
        gray_png(store[i], 2, 2, (uint8_t)(60 * i));
        paths[i] = store[i];
    }
    ds = open_ok(paths, 3, &shape);
    cnn_loader_options_init(&lo);
    lo.batch = 2;
    lo.mean = &mean;
    lo.std = &std;
    cr_assert_eq(cnn_loader_create(ctx, ds, &lo, &loader), CNN_OK, "%s",
                 cnn_context_message(ctx));
    cr_assert_eq(cnn_loader_batch_count(loader), 2);
    cr_assert_eq(cnn_loader_begin_epoch(loader, 0), CNN_OK);
    for (;;) {
        cnn_tensor images;
        const int32_t *labels;
        size_t n;
        cr_assert_eq(cnn_loader_next(loader, &images, &labels, &n), CNN_OK);
        if (n == 0)
            break;
        for (size_t j = 0; j < n; j++, seen++) {
            cr_assert_eq(labels[j], 0);
            for (int k = 0; k < 4; k++) {
                float want = ((float)(60 * seen + (size_t)k) / 255.0f -
                              mean) / std;
                cr_assert_float_eq(images.data[j * 4 + (size_t)k], want,
                                   1e-6f, "item %zu pixel %d", seen, k);
            }
        }
    }
    cr_assert_eq(seen, 3);
    cnn_loader_destroy(loader);
    cnn_dataset_destroy(ds);
    cnn_context_destroy(ctx);
}

Test(files, errors)
{
    char good[4096], bad[4096], missing[4096];
    const char *paths[3];
    cnn_shape two_channels = cnn_shape4(1, 2, 4, 4);
    snprintf(good, sizeof good, "%s", du_path(dir, "good.png"));
    snprintf(bad, sizeof bad, "%s", du_path(dir, "bad.png"));
    snprintf(missing, sizeof missing, "%s", du_path(dir, "missing.png"));
    gray_png(good, 4, 4, 0);
    du_write(bad, "not a png at all", 16);

    /* Not an image, after a good one: named, with the reason. */
    paths[0] = good;
    paths[1] = bad;
    expect_fail(paths, 2, NULL, bad, "not a PNG or JPEG image");
    /* The native geometry comes from the first file, so it fails there. */
    paths[0] = bad;
    expect_fail(paths, 1, NULL, bad, "not a PNG or JPEG image");
    {
        /* A PNG cut in half: the header parses, the data does not. */
        size_t n;
        unsigned char *png;
        gray_png(bad, 16, 16, 3);
        png = du_read(bad, &n);
        du_write(bad, png, n / 2);
        free(png);
        paths[0] = good;
        paths[1] = bad;
        expect_fail(paths, 2, NULL, bad, "corrupt PNG");
    }
    /* An empty file. */
    du_write(bad, "", 0);
    paths[0] = bad;
    expect_fail(paths, 1, NULL, bad, "empty file");
    /* A missing file, also with a shape given. */
    paths[0] = good;
    paths[1] = good;
    paths[2] = missing;
    {
        cnn_shape s = cnn_shape4(1, 1, 4, 4);
        cr_assert_eq(expect_fail(paths, 3, &s, missing,
                                 "No such file or directory"),
                     CNN_ERR_NOT_FOUND);
    }
    /* A shape no image gives. */
    paths[0] = good;
    expect_fail(paths, 1, &two_channels, "image files", "2 channels");
    /* Bad arguments. */
    expect_fail(paths, 0, NULL, "none given", NULL);
    expect_fail(NULL, 1, NULL, "none given", NULL);
    paths[1] = "";
    expect_fail(paths, 2, NULL, "image file 2 of 2", "empty");
    paths[1] = NULL;
    expect_fail(paths, 2, NULL, "image file 2 of 2", "NULL");
    {
        cnn_context *ctx = cnn_context_create();
        cr_assert_neq(cnn_dataset_open_files(ctx, paths, 1, NULL, NULL),
                      CNN_OK);
        cnn_context_destroy(ctx);
    }
}
