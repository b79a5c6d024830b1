/* SPDX-License-Identifier: MIT */
/* The batch loader: batching, shuffling determinism, prefetch on/off
 * identity, exact resume, augmentation and normalisation. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/data.h"
#include "data_util.h"

#define N 10
#define ROWS 2
#define COLS 3
#define BIG 203
#define BIG_SIDE 8

static char *dir;
static cnn_context *ctx;
static cnn_dataset *ds;  /* N gray 2x3 */
static cnn_dataset *big; /* BIG RGB 8x8 */

static void write_idx(const char *stem, uint32_t n, uint32_t rows,
                      uint32_t cols, char *spec, size_t spec_len)
{
    size_t ni, nl;
    int32_t *labels = malloc(n * sizeof *labels);
    unsigned char *img, *lab;
    char a[256], b[256];
    for (uint32_t i = 0; i < n; i++)
        labels[i] = (int32_t)((i * 7) % 4);
    img = du_idx_images(n, rows, cols, &ni);
    lab = du_idx_labels(labels, n, 0x08, &nl);
    snprintf(a, sizeof a, "%s-images.gz", stem);
    snprintf(b, sizeof b, "%s-labels", stem);
    du_write_gz(du_path(dir, a), img, ni);
    du_write(du_path(dir, b), lab, nl);
    snprintf(spec, spec_len, "idx:%s/%s,%s/%s", dir, a, dir, b);
    free(img);
    free(lab);
    free(labels);
}

static void setup(void)
{
    char spec[8192];
    cnn_shape rgb = cnn_shape4(1, 3, BIG_SIDE, BIG_SIDE);
    dir = du_tempdir();
    ctx = cnn_context_create();
    write_idx("small", N, ROWS, COLS, spec, sizeof spec);
    cr_assert_eq(cnn_dataset_open(ctx, spec, NULL, &ds), CNN_OK, "%s",
                 cnn_context_message(ctx));
    /* 6x6 images zero-padded into 8x8 RGB. */
    write_idx("big", BIG, 6, 6, spec, sizeof spec);
    cr_assert_eq(cnn_dataset_open(ctx, spec, &rgb, &big), CNN_OK, "%s",
                 cnn_context_message(ctx));
}

static void teardown(void)
{
    cnn_dataset_destroy(ds);
    cnn_dataset_destroy(big);
    cnn_context_destroy(ctx);
    du_rmtree(dir);
    free(dir);
}

TestSuite(loader, .init = setup, .fini = teardown);

static cnn_loader *make(const cnn_dataset *d, const cnn_loader_options *o)
{
    cnn_loader *l = NULL;
    cr_assert_eq(cnn_loader_create(ctx, d, o, &l), CNN_OK, "%s",
                 cnn_context_message(ctx));
    return l;
}

/* All samples of an epoch, concatenated; returns the sample count. */
static size_t run_epoch(cnn_loader *l, const cnn_dataset *d, uint64_t epoch,
                        float *images, int32_t *labels, size_t *batches)
{
    cnn_shape shape = cnn_dataset_sample_shape(d);
    size_t total = 0, elems = cnn_shape_numel(&shape); /* N is 1 */
    size_t nb = 0;
    cr_assert_eq(cnn_loader_begin_epoch(l, epoch), CNN_OK);
    for (;;) {
        cnn_tensor t;
        const int32_t *lab;
        size_t n;
        cr_assert_eq(cnn_loader_next(l, &t, &lab, &n), CNN_OK);
        if (n == 0) {
            cr_assert_null(lab);
            cr_assert_eq(t.shape.dims[0], 0);
            break;
        }
        cr_assert_eq(t.shape.rank, 4);
        cr_assert_eq((size_t)t.shape.dims[0], n);
        memcpy(images + total * elems, t.data, n * elems * sizeof(float));
        memcpy(labels + total, lab, n * sizeof *lab);
        total += n;
        nb++;
    }
    if (batches)
        *batches = nb;
    return total;
}

/* The dataset index of a small-dataset sample from its first pixel. */
static size_t index_of(const float *sample)
{
    long v = lroundf(sample[0] * 255.0f);
    for (uint32_t i = 0; i < N; i++)
        if (du_pixel(i, 0, 0) == v)
            return i;
    return (size_t)-1;
}

Test(loader, sequential_batches)
{
    cnn_loader_options o;
    float images[N * ROWS * COLS], want[ROWS * COLS];
    int32_t labels[N];
    size_t nb;
    cnn_loader *l;
    cnn_loader_options_init(&o);
    o.batch = 4;
    l = make(ds, &o);
    cr_assert_eq(cnn_loader_batch_count(l), 3);
    cr_assert_eq(run_epoch(l, ds, 0, images, labels, &nb), N);
    cr_assert_eq(nb, 3);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(labels[i], cnn_dataset_label(ds, i));
        du_sample(ds, i, want);
        cr_assert_arr_eq(images + i * ROWS * COLS, want, sizeof want);
    }
    {
        /* Past the end: still count 0. */
        cnn_tensor t;
        const int32_t *lab;
        size_t n = 99;
        cr_assert_eq(cnn_loader_next(l, &t, &lab, &n), CNN_OK);
        cr_assert_eq(n, 0);
    }
    cnn_loader_destroy(l);

    o.drop_last = 1;
    l = make(ds, &o);
    cr_assert_eq(cnn_loader_batch_count(l), 2);
    cr_assert_eq(run_epoch(l, ds, 0, images, labels, &nb), 8);
    cr_assert_eq(nb, 2);
    cnn_loader_destroy(l);

    o.batch = 100; /* larger than the dataset: one short batch */
    o.drop_last = 0;
    l = make(ds, &o);
    cr_assert_eq(cnn_loader_batch_count(l), 1);
    cr_assert_eq(run_epoch(l, ds, 0, images, labels, &nb), N);
    cnn_loader_destroy(l);
}

static int is_permutation(const size_t *order, size_t n)
{
    char seen[BIG] = {0};
    for (size_t i = 0; i < n; i++) {
        if (order[i] >= n || seen[order[i]])
            return 0;
        seen[order[i]] = 1;
    }
    return 1;
}

Test(loader, shuffle_determinism)
{
    cnn_loader_options o;
    size_t e0[BIG], e1[BIG], again[BIG], other_seed[BIG];
    cnn_loader *a, *b;
    cnn_loader_options_init(&o);
    o.batch = 16;
    o.shuffle = 1;
    o.seed = 1234;
    a = make(big, &o);
    b = make(big, &o);
    cr_assert_eq(cnn_loader_begin_epoch(a, 0), CNN_OK);
    memcpy(e0, cnn_loader_order(a), sizeof e0);
    cr_assert(is_permutation(e0, BIG));
    cr_assert_eq(cnn_loader_begin_epoch(a, 1), CNN_OK);
    memcpy(e1, cnn_loader_order(a), sizeof e1);
    cr_assert(is_permutation(e1, BIG));
    cr_assert(memcmp(e0, e1, sizeof e0) != 0, "epochs 0 and 1 equal");
    cr_assert_eq(cnn_loader_begin_epoch(b, 0), CNN_OK);
    memcpy(again, cnn_loader_order(b), sizeof again);
    cr_assert_arr_eq(again, e0, sizeof e0, "same seed and epoch differ");
    cnn_loader_destroy(b);
    o.seed = 1235;
    b = make(big, &o);
    cr_assert_eq(cnn_loader_begin_epoch(b, 0), CNN_OK);
    memcpy(other_seed, cnn_loader_order(b), sizeof other_seed);
    cr_assert(memcmp(e0, other_seed, sizeof e0) != 0, "seeds equal");
    {
        /* Not the identity either. */
        size_t fixed = 0;
        for (size_t i = 0; i < BIG; i++)
            fixed += e0[i] == i;
        cr_assert_lt(fixed, BIG / 4);
    }
    cnn_loader_destroy(a);
    cnn_loader_destroy(b);
}

Test(loader, batches_follow_order)
{
    cnn_loader_options o;
    float images[N * ROWS * COLS];
    int32_t labels[N];
    const size_t *order;
    cnn_loader *l;
    cnn_loader_options_init(&o);
    o.batch = 3;
    o.shuffle = 1;
    o.seed = 7;
    l = make(ds, &o);
    cr_assert_eq(run_epoch(l, ds, 5, images, labels, NULL), N);
    order = cnn_loader_order(l);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(index_of(images + i * ROWS * COLS), order[i]);
        cr_assert_eq(labels[i], cnn_dataset_label(ds, order[i]));
    }
    cnn_loader_destroy(l);
}

/* Options exercising every stage, for the identity tests. */
static void busy_options(cnn_loader_options *o, size_t batch)
{
    static const float mean[3] = {0.485f, 0.456f, 0.406f};
    static const float std[3] = {0.229f, 0.224f, 0.225f};
    cnn_loader_options_init(o);
    o->batch = batch;
    o->seed = 99;
    o->shuffle = 1;
    o->flip = 1;
    o->crop_padding = 2;
    o->mean = mean;
    o->std = std;
}

#define BIG_ELEMS (3 * BIG_SIDE * BIG_SIDE)

Test(loader, prefetch_on_off_identical)
{
    cnn_loader_options o;
    float *x = malloc(BIG * BIG_ELEMS * sizeof(float));
    float *y = malloc(BIG * BIG_ELEMS * sizeof(float));
    int32_t lx[BIG], ly[BIG];
    cnn_loader *on, *off;
    busy_options(&o, 16);
    o.prefetch = 1;
    on = make(big, &o);
    o.prefetch = 0;
    off = make(big, &o);
    for (uint64_t epoch = 0; epoch < 3; epoch++) {
        cr_assert_eq(run_epoch(on, big, epoch, x, lx, NULL), BIG);
        cr_assert_eq(run_epoch(off, big, epoch, y, ly, NULL), BIG);
        cr_assert_arr_eq(x, y, BIG * BIG_ELEMS * sizeof(float),
                         "epoch %d differs", (int)epoch);
        cr_assert_arr_eq(lx, ly, sizeof lx);
    }
    /* Augmentation is per sample: another batch size, same samples. */
    cnn_loader_destroy(off);
    busy_options(&o, 5);
    off = make(big, &o);
    cr_assert_eq(run_epoch(off, big, 2, y, ly, NULL), BIG);
    cr_assert_arr_eq(x, y, BIG * BIG_ELEMS * sizeof(float));
    cnn_loader_destroy(on);
    cnn_loader_destroy(off);
    free(x);
    free(y);
}

Test(loader, resume_at_position)
{
    cnn_loader_options o;
    float *x = malloc(BIG * BIG_ELEMS * sizeof(float));
    int32_t lx[BIG];
    cnn_loader *l, *r;
    cnn_tensor t;
    const int32_t *lab;
    size_t n, k = 0;
    busy_options(&o, 16);
    l = make(big, &o);
    r = make(big, &o);
    cr_assert_eq(run_epoch(l, big, 4, x, lx, NULL), BIG);
    /* Interrupt r mid-epoch 1, then jump to batch 5 of epoch 4. */
    cr_assert_eq(cnn_loader_begin_epoch(r, 1), CNN_OK);
    cr_assert_eq(cnn_loader_next(r, &t, &lab, &n), CNN_OK);
    cr_assert_eq(cnn_loader_set_position(r, 4, 5), CNN_OK);
    for (size_t off = 5 * 16;; off += n) {
        cr_assert_eq(cnn_loader_next(r, &t, &lab, &n), CNN_OK);
        if (n == 0) {
            cr_assert_eq(off, BIG);
            break;
        }
        cr_assert_arr_eq(t.data, x + off * BIG_ELEMS,
                         n * BIG_ELEMS * sizeof(float), "at %zu", off);
        cr_assert_arr_eq(lab, lx + off, n * sizeof *lab);
        k++;
    }
    cr_assert_eq(k, cnn_loader_batch_count(r) - 5);
    /* The end position is valid and yields nothing. */
    cr_assert_eq(cnn_loader_set_position(r, 4, cnn_loader_batch_count(r)),
                 CNN_OK);
    cr_assert_eq(cnn_loader_next(r, &t, &lab, &n), CNN_OK);
    cr_assert_eq(n, 0);
    cnn_loader_destroy(l);
    cnn_loader_destroy(r);
    free(x);
}

Test(loader, normalisation)
{
    static const float mean[3] = {0.5f, 0.25f, 0.0f};
    static const float std[3] = {0.25f, 0.5f, 2.0f};
    cnn_loader_options o;
    float *x = malloc(BIG * BIG_ELEMS * sizeof(float));
    int32_t lx[BIG];
    cnn_loader *l;
    cnn_loader_options_init(&o);
    o.batch = 32;
    o.mean = mean;
    o.std = std;
    l = make(big, &o);
    cr_assert_eq(run_epoch(l, big, 0, x, lx, NULL), BIG);
    for (size_t i = 0; i < BIG; i++) {
        const uint8_t *p = du_sample_u8(big, i);
        for (size_t c = 0; c < 3; c++)
            for (size_t k = 0; k < BIG_SIDE * BIG_SIDE; k++) {
                size_t e = c * BIG_SIDE * BIG_SIDE + k;
                float want = ((float)p[e] / 255.0f - mean[c]) / std[c];
                cr_assert_eq(x[i * BIG_ELEMS + e], want, "sample %zu", i);
            }
    }
    /* Spot values: a 0 pixel in channel 0 is (0 - 0.5) / 0.25 = -2. */
    cr_assert_eq(x[0], -2.0f, "padding pixel: %g", (double)x[0]);
    cnn_loader_destroy(l);
    free(x);
}

/* 1 when out (one channel plane of w x h, byte values) equals src shifted
 * by (dy, dx) with zero fill, optionally mirrored after the shift. */
static int matches_shift(const float *out, const uint8_t *src, int h, int w,
                         int dy, int dx, int flip)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int sy = y + dy, sx = (flip ? w - 1 - x : x) + dx;
            uint8_t v = sy < 0 || sy >= h || sx < 0 || sx >= w
                            ? 0
                            : src[sy * w + sx];
            if (out[y * w + x] != (float)v / 255.0f)
                return 0;
        }
    return 1;
}

Test(loader, flip_and_crop)
{
    cnn_loader_options o;
    float *x = malloc(BIG * BIG_ELEMS * sizeof(float));
    int32_t lx[BIG];
    const size_t plane = BIG_SIDE * BIG_SIDE;
    int flips = 0, shifts[5][5] = {{0}};
    int distinct = 0;
    cnn_loader *l;
    cnn_loader_options_init(&o);
    o.batch = 64;
    o.flip = 1;
    o.crop_padding = 2;
    o.seed = 5;
    l = make(big, &o);
    cr_assert_eq(run_epoch(l, big, 0, x, lx, NULL), BIG);
    for (size_t i = 0; i < BIG; i++) {
        const uint8_t *p = du_sample_u8(big, i);
        int found = 0;
        for (int f = 0; f < 2 && !found; f++)
            for (int dy = -2; dy <= 2 && !found; dy++)
                for (int dx = -2; dx <= 2 && !found; dx++) {
                    int ok = 1;
                    for (size_t c = 0; c < 3 && ok; c++)
                        ok = matches_shift(x + i * BIG_ELEMS + c * plane,
                                           p + c * plane, BIG_SIDE, BIG_SIDE,
                                           dy, dx, f);
                    if (ok) {
                        found = 1;
                        flips += f;
                        shifts[dy + 2][dx + 2]++;
                    }
                }
        cr_assert(found, "sample %zu is no flip/shift of its source", i);
    }
    cr_assert(flips > BIG / 4 && flips < 3 * BIG / 4, "flips %d", flips);
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++)
            distinct += shifts[a][b] > 0;
    cr_assert_geq(distinct, 15, "only %d offsets used", distinct);
    cnn_loader_destroy(l);
    free(x);
}

Test(loader, errors)
{
    cnn_loader_options o;
    cnn_loader *l = (cnn_loader *)1;
    cnn_tensor t;
    const int32_t *lab;
    size_t n;
    float bad_std[1] = {0.0f};
    float nan_mean[1] = {NAN};
    cnn_loader_options_init(&o);
    o.batch = 0;
    cr_assert_eq(cnn_loader_create(ctx, ds, &o, &l), CNN_ERR_INVALID);
    cr_assert_null(l);
    cr_assert_not_null(strstr(cnn_context_message(ctx), "batch size"));
    o.batch = 2;
    o.std = bad_std;
    cr_assert_eq(cnn_loader_create(ctx, ds, &o, &l), CNN_ERR_INVALID);
    cr_assert_not_null(strstr(cnn_context_message(ctx), "std[0]"));
    o.std = NULL;
    o.mean = nan_mean;
    cr_assert_eq(cnn_loader_create(ctx, ds, &o, &l), CNN_ERR_INVALID);
    cr_assert_not_null(strstr(cnn_context_message(ctx), "mean[0]"));
    o.mean = NULL;
    o.crop_padding = -1;
    cr_assert_eq(cnn_loader_create(ctx, ds, &o, &l), CNN_ERR_INVALID);
    cr_assert_not_null(strstr(cnn_context_message(ctx), "crop padding -1"));
    o.crop_padding = 0;
    l = make(ds, &o);
    cr_assert_eq(cnn_loader_next(l, &t, &lab, &n), CNN_ERR_INVALID);
    cr_assert_not_null(strstr(cnn_context_message(ctx), "begin_epoch"));
    cr_assert_eq(cnn_loader_set_position(l, 0, 6), CNN_ERR_INVALID);
    cr_assert_not_null(strstr(cnn_context_message(ctx), "batch 6"));
    cnn_loader_destroy(l);
    cnn_loader_destroy(NULL);
    cnn_dataset_destroy(NULL);
}

/* Data-parallel parts: shards 0..k-1 of every batch, put side by side, are
 * the whole batch (same samples, labels and augmentation, in order), split
 * as documented (first n % k parts one larger, empty parts in a batch of
 * fewer samples than parts), and cnn_loader_last_part says where each lies. */
Test(loader, shards_are_the_whole_batch)
{
    const size_t batch = 9; /* BIG = 203 = 22 x 9 + 5: last batch of 5 */
    for (size_t k = 2; k <= 7; k += 5) { /* 7 parts: the last batch has empty ones */
        cnn_loader_options o;
        cnn_loader *whole, *part[7];
        size_t elems = 3 * BIG_SIDE * BIG_SIDE;
        cnn_loader_options_init(&o);
        o.batch = batch;
        o.seed = 5;
        o.shuffle = 1;
        o.flip = 1;
        o.crop_padding = 2;
        cr_assert_eq(cnn_loader_create(ctx, big, &o, &whole), CNN_OK);
        cr_assert_eq(cnn_loader_begin_epoch(whole, 3), CNN_OK);
        for (size_t s = 0; s < k; s++) {
            o.shard = s;
            o.shards = k;
            cr_assert_eq(cnn_loader_create(ctx, big, &o, &part[s]), CNN_OK);
            cr_assert_eq(cnn_loader_batch_count(part[s]), cnn_loader_batch_count(whole));
            cr_assert_eq(cnn_loader_begin_epoch(part[s], 3), CNN_OK);
        }
        for (size_t b = 0; b < cnn_loader_batch_count(whole); b++) {
            cnn_tensor wi, pi;
            const int32_t *wl, *pl;
            size_t wn, pn, total, offset, at = 0;
            cr_assert_eq(cnn_loader_next(whole, &wi, &wl, &wn), CNN_OK);
            for (size_t s = 0; s < k; s++) {
                size_t want = wn / k + (s < wn % k);
                cr_assert_eq(cnn_loader_next(part[s], &pi, &pl, &pn), CNN_OK);
                cnn_loader_last_part(part[s], &total, &offset);
                cr_assert_eq(pn, want, "batch %zu part %zu of %zu: %zu samples, want %zu",
                             b, s, k, pn, want);
                cr_assert_eq(total, wn);
                cr_assert_eq(offset, at);
                if (pn) {
                    cr_assert_eq(memcmp(pl, wl + at, pn * sizeof *pl), 0);
                    cr_assert_eq(memcmp(pi.data, wi.data + at * elems,
                                        pn * elems * sizeof(float)), 0,
                                 "batch %zu part %zu: samples differ", b, s);
                }
                at += pn;
            }
            cr_assert_eq(at, wn);
        }
        for (size_t s = 0; s < k; s++)
            cnn_loader_destroy(part[s]);
        cnn_loader_destroy(whole);
    }
}
