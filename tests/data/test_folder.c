/* SPDX-License-Identifier: MIT */
/* Folder-per-class datasets: listing and sorting, channel conversion,
 * resizing against hand-computed values, and the error messages. The PNG
 * and JPEG files are written at run time with libpng and libjpeg. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/data.h"
#include "data_util.h"

static char *dir;
static char spec[8192];

static void setup(void)
{
    dir = du_tempdir();
}

static void teardown(void)
{
    du_rmtree(dir);
    free(dir);
}

TestSuite(folder, .init = setup, .fini = teardown);

static const char *folder_spec(const char *sub, const char *suffix)
{
    snprintf(spec, sizeof spec, "folder:%s%s%s%s", dir, sub ? "/" : "",
             sub ? sub : "", suffix ? suffix : "");
    return spec;
}

static cnn_dataset *open_ok(const char *s, const cnn_shape *shape)
{
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *ds = NULL;
    cnn_status st = cnn_dataset_open(ctx, s, shape, &ds);
    cr_assert_eq(st, CNN_OK, "open %s: %s", s, cnn_context_message(ctx));
    cnn_context_destroy(ctx);
    return ds;
}

static void gray_png(const char *path, int w, int h, uint8_t base)
{
    uint8_t *p = malloc((size_t)w * (size_t)h);
    for (int i = 0; i < w * h; i++)
        p[i] = (uint8_t)(base + i);
    du_write_png(path, w, h, 1, p);
    free(p);
}

/* The index of the item whose path ends in suffix; fails when absent. */
static size_t index_of(const cnn_dataset *ds, const char *suffix)
{
    size_t n = strlen(suffix);
    for (size_t i = 0; i < cnn_dataset_size(ds); i++) {
        const char *p = cnn_dataset_item_path(ds, i);
        size_t len = strlen(p);
        if (len >= n && strcmp(p + len - n, suffix) == 0)
            return i;
    }
    cr_assert_fail("no item %s", suffix);
    return 0;
}

/* root/bird (2 images), root/cat (1), root/dog (3), plus clutter that must
 * be skipped. */
static void make_tree(const char *root_in)
{
    char root[2048]; /* du_path's buffers get reused below */
    static const char *const birds[] = {"b.png", "a.PNG"};
    static const char *const dogs[] = {"z.png", "m.jpeg", "a.png"};
    char sub[4096];
    uint8_t rgb[4 * 3 * 3];
    snprintf(root, sizeof root, "%s", root_in);
    du_mkdir(root);
    snprintf(sub, sizeof sub, "%s/dog", root);
    du_mkdir(sub);
    for (int i = 0; i < 3; i++) {
        if (i == 1) {
            for (int k = 0; k < 4 * 3 * 3; k++)
                rgb[k] = 128;
            du_write_jpg(du_path(sub, dogs[i]), 4, 3, 3, rgb);
        } else {
            gray_png(du_path(sub, dogs[i]), 4, 3, (uint8_t)(100 + i));
        }
    }
    du_write(du_path(sub, "notes.txt"), "hi", 2);
    gray_png(du_path(sub, ".hidden.png"), 4, 3, 0);
    snprintf(sub, sizeof sub, "%s/cat", root);
    du_mkdir(sub);
    gray_png(du_path(sub, "only.jpg.png"), 4, 3, 50);
    snprintf(sub, sizeof sub, "%s/bird", root);
    du_mkdir(sub);
    for (int i = 0; i < 2; i++)
        gray_png(du_path(sub, birds[i]), 4, 3, (uint8_t)(10 * i));
    snprintf(sub, sizeof sub, "%s/.cache", root);
    du_mkdir(sub);
    du_write(du_path(root, "README"), "x", 1);
}

Test(folder, listing_order_labels_paths)
{
    cnn_dataset *ds;
    char want[4096];
    make_tree(du_path(dir, "tree"));
    ds = open_ok(folder_spec("tree", NULL), NULL);
    cr_assert_eq(cnn_dataset_size(ds), 6);
    cr_assert_eq(cnn_dataset_class_count(ds), 3);
    cr_assert_str_eq(cnn_dataset_class_name(ds, 0), "bird");
    cr_assert_str_eq(cnn_dataset_class_name(ds, 1), "cat");
    cr_assert_str_eq(cnn_dataset_class_name(ds, 2), "dog");
    {
        /* Every image once, with its folder's label; the order is the
         * fixed stratified shuffle (tested below), not the listing's. */
        static const char *const names[6] = {
            "bird/a.PNG", "bird/b.png", "cat/only.jpg.png",
            "dog/a.png",  "dog/m.jpeg", "dog/z.png"};
        static const int32_t labels[6] = {0, 0, 1, 2, 2, 2};
        int seen[6] = {0};
        for (size_t i = 0; i < 6; i++) {
            size_t at;
            snprintf(want, sizeof want, "/tree/%s", names[i]);
            at = index_of(ds, want);
            cr_assert_eq(cnn_dataset_label(ds, at), labels[i]);
            seen[at]++;
        }
        for (size_t i = 0; i < 6; i++)
            cr_assert_eq(seen[i], 1);
    }
    {
        /* Native geometry is the first item's: 3 rows x 4 cols, gray, or
         * RGB when the first is the (colour-type) JPEG. */
        int jpeg_first = strstr(cnn_dataset_item_path(ds, 0), ".jpeg") != NULL;
        cnn_shape s = cnn_shape4(1, jpeg_first ? 3 : 1, 3, 4);
        cnn_shape got = cnn_dataset_sample_shape(ds);
        const uint8_t *p = du_sample_u8(ds, index_of(ds, "dog/a.png"));
        cr_assert(cnn_shape_equal(&got, &s));
        for (int i = 0; i < 12; i++)
            cr_assert_eq(p[i], 102 + i); /* a.png was written third */
        if (jpeg_first) { /* the rest is for one channel */
            cnn_dataset_destroy(ds);
            return;
        }
        p = du_sample_u8(ds, index_of(ds, "dog/m.jpeg")); /* lossy */
        for (int i = 0; i < 12; i++)
            cr_assert(p[i] >= 125 && p[i] <= 131, "jpeg pixel %d", p[i]);
    }
    cr_assert_null(cnn_dataset_item_path(ds, 6));
    cnn_dataset_destroy(ds);

    ds = open_ok(folder_spec("tree", "[2:4]"), NULL);
    cr_assert_eq(cnn_dataset_size(ds), 2);
    cr_assert_eq(cnn_dataset_class_count(ds), 3);
    cnn_dataset_destroy(ds);
}

/* Labels of the items of a folder spec, in dataset order, into out. */
static size_t labels_of(const char *s, int32_t *out, size_t max)
{
    cnn_shape g = cnn_shape4(1, 1, 2, 2);
    cnn_dataset *ds = open_ok(s, &g);
    size_t n = cnn_dataset_size(ds);
    cr_assert_leq(n, max);
    for (size_t i = 0; i < n; i++)
        out[i] = cnn_dataset_label(ds, i);
    cnn_dataset_destroy(ds);
    return n;
}

Test(folder, slices_are_stratified_and_fixed)
{
    /* 3 classes of 20, 10 and 30 images: a slice holds each class in its
     * share (2:1:3), whatever the slice, and the same on every open. */
    static const int sizes[3] = {20, 10, 30};
    char sub[4096];
    int32_t all[60], again[60], part[60];
    size_t n;
    du_mkdir(du_path(dir, "strat"));
    for (int c = 0; c < 3; c++) {
        snprintf(sub, sizeof sub, "%s/strat/c%d", dir, c);
        du_mkdir(sub);
        for (int i = 0; i < sizes[c]; i++) {
            char name[32];
            snprintf(name, sizeof name, "%02d.png", i);
            gray_png(du_path(sub, name), 2, 2, (uint8_t)i);
        }
    }
    n = labels_of(folder_spec("strat", NULL), all, 60);
    cr_assert_eq(n, 60);
    cr_assert_eq(labels_of(folder_spec("strat", NULL), again, 60), 60);
    cr_assert_arr_eq(all, again, sizeof all, "the order is fixed");
    {
        /* Not class order: the first 6 are two of c0, one of c1, three of
         * c2; every window of 6 likewise within one item. */
        for (size_t start = 0; start + 6 <= 60; start += 6) {
            int count[3] = {0, 0, 0};
            for (size_t i = start; i < start + 6; i++)
                count[all[i]]++;
            cr_assert(count[0] >= 1 && count[0] <= 3 && count[1] >= 0 && count[1] <= 2 &&
                          count[2] >= 2 && count[2] <= 4,
                      "window %zu: %d %d %d", start, count[0], count[1], count[2]);
        }
    }
    /* "@N" is the first N of that order, "[A:B]" a slice of it. */
    n = labels_of(folder_spec("strat", "@6"), part, 60);
    cr_assert_eq(n, 6);
    cr_assert_arr_eq(part, all, 6 * sizeof *part);
    n = labels_of(folder_spec("strat", "[30:42]"), part, 60);
    cr_assert_eq(n, 12);
    cr_assert_arr_eq(part, all + 30, 12 * sizeof *part);
    {
        int count[3] = {0, 0, 0};
        for (size_t i = 0; i < 12; i++)
            count[part[i]]++;
        cr_assert(count[0] == 4 && count[1] == 2 && count[2] == 6, "%d %d %d", count[0],
                  count[1], count[2]);
    }
}

Test(folder, map_classes_and_split)
{
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *ds, *train = NULL, *val = NULL;
    static const char *const model[4] = {"dog", "fish", "bird", "cat"};
    static const char *const other[2] = {"dog", "cat"};
    make_tree(du_path(dir, "tree"));
    ds = open_ok(folder_spec("tree", NULL), NULL);
    /* By name: bird (0) -> 2, cat (1) -> 3, dog (2) -> 0. */
    cr_assert_eq(cnn_dataset_map_classes(ctx, ds, model, 4, 1), CNN_OK);
    cr_assert_eq(cnn_dataset_class_count(ds), 4);
    cr_assert_str_eq(cnn_dataset_class_name(ds, 1), "fish");
    cr_assert_eq(cnn_dataset_label(ds, index_of(ds, "bird/a.PNG")), 2);
    cr_assert_eq(cnn_dataset_label(ds, index_of(ds, "cat/only.jpg.png")), 3);
    cr_assert_eq(cnn_dataset_label(ds, index_of(ds, "dog/z.png")), 0);
    cnn_dataset_destroy(ds);
    /* An unknown class is named. */
    ds = open_ok(folder_spec("tree", NULL), NULL);
    cr_assert_neq(cnn_dataset_map_classes(ctx, ds, other, 2, 1), CNN_OK);
    cr_assert(strstr(cnn_context_message(ctx), "'bird'") != NULL, "%s",
              cnn_context_message(ctx));
    cr_assert(strstr(cnn_context_message(ctx), "'dog', 'cat'") != NULL);
    /* Stratified hold-out: dog's 3 give 1, bird's 2 give 1, cat keeps its
     * only one. */
    cr_assert_eq(cnn_dataset_split(ctx, ds, 0.34, &train, &val), CNN_OK);
    cr_assert_eq(cnn_dataset_size(val), 2);
    cr_assert_eq(cnn_dataset_size(train), 4);
    cr_assert_eq(cnn_dataset_class_count(val), 3);
    {
        int count[3] = {0, 0, 0};
        for (size_t i = 0; i < 2; i++)
            count[cnn_dataset_label(val, i)]++;
        cr_assert(count[0] == 1 && count[1] == 0 && count[2] == 1);
    }
    cnn_dataset_destroy(train);
    cnn_dataset_destroy(val);
    cr_assert_neq(cnn_dataset_split(ctx, ds, 1.0, &train, &val), CNN_OK);
    cnn_dataset_destroy(ds);
    cnn_context_destroy(ctx);
}

Test(folder, channel_conversion)
{
    /* RGB pure colours to gray: BT.601 luma, 0.299 R + 0.587 G + 0.114 B
     * (76.2, 149.7, 29.1 for full red, green, blue), within rounding. */
    uint8_t rgb[3 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255};
    uint8_t gray[3] = {0, 128, 255};
    cnn_shape g = cnn_shape4(1, 1, 1, 3);
    cnn_shape c = cnn_shape4(1, 3, 1, 3);
    cnn_dataset *ds;
    const uint8_t *p;
    du_mkdir(du_path(dir, "cc"));
    du_mkdir(du_path(dir, "cc/k"));
    du_write_png(du_path(dir, "cc/k/1rgb.png"), 3, 1, 3, rgb);
    du_write_png(du_path(dir, "cc/k/2gray.png"), 3, 1, 1, gray);
    ds = open_ok(folder_spec("cc", NULL), &g);
    p = du_sample_u8(ds, index_of(ds, "1rgb.png"));
    cr_assert(p[0] >= 76 && p[0] <= 77, "red to gray: %d", p[0]);
    cr_assert(p[1] >= 149 && p[1] <= 150, "green to gray: %d", p[1]);
    cr_assert(p[2] >= 29 && p[2] <= 30, "blue to gray: %d", p[2]);
    p = du_sample_u8(ds, index_of(ds, "2gray.png"));
    cr_assert_eq(p[0], 0);
    cr_assert_eq(p[1], 128);
    cr_assert_eq(p[2], 255);
    cnn_dataset_destroy(ds);

    ds = open_ok(folder_spec("cc", NULL), &c);
    p = du_sample_u8(ds, index_of(ds, "1rgb.png")); /* planar: R, G, B */
    {
        static const uint8_t want[9] = {255, 0, 0, 0, 255, 0, 0, 0, 255};
        for (int i = 0; i < 9; i++)
            cr_assert_eq(p[i], want[i], "rgb planar %d", i);
    }
    p = du_sample_u8(ds, index_of(ds, "2gray.png")); /* gray replicated */
    for (int ch = 0; ch < 3; ch++)
        for (int i = 0; i < 3; i++)
            cr_assert_eq(p[ch * 3 + i], gray[i]);
    cnn_dataset_destroy(ds);
}

Test(folder, area_downscale_and_center_crop)
{
    /* 8 wide x 4 high into 2x2: covering scale 1/2 (height binds) gives
     * 4x2, center crop keeps scaled columns 1 and 2, i.e. the 2x2 source
     * blocks at columns 2..3 and 4..5, averaged. */
    uint8_t src[4 * 8];
    cnn_shape shape = cnn_shape4(1, 1, 2, 2);
    cnn_dataset *ds;
    const uint8_t *p;
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 8; x++)
            src[y * 8 + x] = (uint8_t)(y * 40 + x * 4);
    du_mkdir(du_path(dir, "ds"));
    du_mkdir(du_path(dir, "ds/k"));
    du_write_png(du_path(dir, "ds/k/a.png"), 8, 4, 1, src);
    ds = open_ok(folder_spec("ds", NULL), &shape);
    p = du_sample_u8(ds, 0);
    for (int oy = 0; oy < 2; oy++)
        for (int ox = 0; ox < 2; ox++) {
            int sum = 0;
            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 2; dx++)
                    sum += src[(2 * oy + dy) * 8 + 2 + 2 * ox + dx];
            cr_assert_eq(p[oy * 2 + ox], (sum + 2) / 4, "at %d,%d: %d", oy,
                         ox, p[oy * 2 + ox]);
        }
    cnn_dataset_destroy(ds);
}

Test(folder, area_downscale_fractional)
{
    /* 3x3 -> 2x2, every row {0, 90, 240}: output column 0 covers source
     * [0, 1.5), weights 2/3 and 1/3; column 1 covers [1.5, 3), weights 1/3
     * and 2/3. Identical rows average to themselves. */
    uint8_t src[9] = {0, 90, 240, 0, 90, 240, 0, 90, 240};
    cnn_shape shape = cnn_shape4(1, 1, 2, 2);
    cnn_dataset *ds;
    const uint8_t *p;
    du_mkdir(du_path(dir, "fr"));
    du_mkdir(du_path(dir, "fr/k"));
    du_write_png(du_path(dir, "fr/k/a.png"), 3, 3, 1, src);
    ds = open_ok(folder_spec("fr", NULL), &shape);
    p = du_sample_u8(ds, 0);
    for (int y = 0; y < 2; y++) {
        cr_assert_eq(p[2 * y], 30, "got %d", p[2 * y]); /* 90 / 3 */
        cr_assert_eq(p[2 * y + 1], 190, "got %d", p[2 * y + 1]);
    }
    cnn_dataset_destroy(ds);
}

Test(folder, bilinear_upscale)
{
    /* 2x1 -> 4x1 with half-pixel centers: source positions -0.25 (clamped
     * to 0), 0.25, 0.75, 1.25 (clamped to 1). */
    uint8_t src[2] = {0, 200};
    cnn_shape shape = cnn_shape4(1, 1, 1, 4);
    cnn_dataset *ds;
    const uint8_t *p;
    du_mkdir(du_path(dir, "up"));
    du_mkdir(du_path(dir, "up/k"));
    du_write_png(du_path(dir, "up/k/a.png"), 2, 1, 1, src);
    ds = open_ok(folder_spec("up", NULL), &shape);
    p = du_sample_u8(ds, 0);
    cr_assert_eq(p[0], 0);
    cr_assert_eq(p[1], 50);
    cr_assert_eq(p[2], 150);
    cr_assert_eq(p[3], 200);
    cnn_dataset_destroy(ds);
}

Test(folder, upscale_square_from_wide)
{
    /* 4x2 -> 4x4: shorter side 2 becomes 4, width 8, crop columns 2..5.
     * A constant image stays constant whatever the weights. */
    uint8_t src[2 * 4];
    cnn_shape shape = cnn_shape4(1, 3, 4, 4);
    cnn_dataset *ds;
    const uint8_t *p;
    memset(src, 77, sizeof src);
    du_mkdir(du_path(dir, "sq"));
    du_mkdir(du_path(dir, "sq/k"));
    du_write_png(du_path(dir, "sq/k/a.png"), 4, 2, 1, src);
    ds = open_ok(folder_spec("sq", NULL), &shape);
    p = du_sample_u8(ds, 0);
    for (int i = 0; i < 3 * 16; i++)
        cr_assert_eq(p[i], 77);
    cnn_dataset_destroy(ds);
}

Test(folder, errors)
{
    char path[4096];
    du_mkdir(du_path(dir, "e"));
    /* A folder with files only: no class folders. */
    du_write(du_path(dir, "e/readme.txt"), "x", 1);
    gray_png(du_path(dir, "e/loose.png"), 2, 2, 0);
    du_expect_fail(folder_spec("e", NULL), NULL, du_path(dir, "e"),
                   "no class folders", NULL);
    /* An empty class folder (only a non-image file). */
    du_mkdir(du_path(dir, "e/a"));
    gray_png(du_path(dir, "e/a/x.png"), 2, 2, 0);
    du_mkdir(du_path(dir, "e/b"));
    du_write(du_path(dir, "e/b/readme.txt"), "x", 1);
    du_expect_fail(folder_spec("e", NULL), NULL, du_path(dir, "e/b"),
                   "empty class folder", NULL);
    /* Not an image at all, told by its bytes. */
    du_write(du_path(dir, "e/b/bad.png"), "not a png at all", 16);
    snprintf(path, sizeof path, "%s", du_path(dir, "e/b/bad.png"));
    du_expect_fail(folder_spec("e", NULL), NULL, path,
                   "not a PNG or JPEG image", "first bytes");
    {
        /* A PNG cut in half: the header parses, the data does not. */
        size_t n;
        unsigned char *png;
        gray_png(du_path(dir, "e/full.png"), 16, 16, 3);
        png = du_read(du_path(dir, "e/full.png"), &n);
        du_write(path, png, n / 2);
        free(png);
        du_expect_fail(folder_spec("e", NULL), NULL, path, "corrupt PNG",
                       NULL);
    }
    /* An empty file. */
    du_write(path, "", 0);
    du_expect_fail(folder_spec("e", NULL), NULL, path, "empty file", NULL);
    /* A missing folder. */
    cr_assert_eq(du_expect_fail(folder_spec("missing", NULL), NULL,
                                du_path(dir, "missing"),
                                "No such file or directory", NULL),
                 CNN_ERR_NOT_FOUND);
    /* A subset past the end names the folder. */
    gray_png(path, 2, 2, 0);
    du_expect_fail(folder_spec("e", "@3"), NULL, "up to 3", "only 2", NULL);
}
