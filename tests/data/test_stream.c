/* SPDX-License-Identifier: MIT */
/* Streamed folders: the loader's threads decode as batches are needed.
 * Checked: a streamed folder gives bit for bit the batches of the same
 * pixels held in memory (an IDX copy); 1 and 4 threads and any prefetch
 * give identical batches, with RandomResizedCrop and after a resume; a
 * broken image mid-epoch is an error naming it, or with skip_bad a count;
 * no more than prefetch + 1 batches are ever decoded ahead; and the
 * RandomResizedCrop box sampler matches torchvision's on the same random
 * numbers (rrc_ref.h, from gen_rrc_ref.py). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/data/data_internal.h"
#include "cnn/data.h"
#include "data_util.h"
#include "rrc_ref.h"

#define SIDE 12
#define PER_CLASS 9
#define CLASSES 3
#define COUNT (PER_CLASS * CLASSES)

static char *dir;
static char spec[8192];
static cnn_context *ctx;

static void setup(void)
{
    dir = du_tempdir();
    ctx = cnn_context_create();
    cr_assert_not_null(ctx);
}

static void teardown(void)
{
    cnn_context_destroy(ctx);
    du_rmtree(dir);
    free(dir);
}

TestSuite(stream, .init = setup, .fini = teardown);

static uint8_t pixel(int item, int y, int x)
{
    return (uint8_t)((item * 37 + y * 11 + x * 5 + (x * y) % 7) & 0xff);
}

/* DIR/f/c<k>/<i>.png: gray SIDE x SIDE images, pixel() of their number;
 * wide: 3-channel JPEGs of 40 x 30 instead. */
static const char *make_folder(int jpeg)
{
    char path[4200];
    du_mkdir(du_path(dir, "f"));
    for (int c = 0; c < CLASSES; c++) {
        snprintf(path, sizeof path, "%s/f/c%d", dir, c);
        du_mkdir(path);
        for (int i = 0; i < PER_CLASS; i++) {
            int item = c * PER_CLASS + i;
            if (jpeg) {
                uint8_t px[30 * 40 * 3];
                for (int y = 0; y < 30; y++)
                    for (int x = 0; x < 40; x++)
                        for (int k = 0; k < 3; k++)
                            px[(y * 40 + x) * 3 + k] =
                                (uint8_t)(pixel(item, y, x) + 60 * k);
                snprintf(path, sizeof path, "%s/f/c%d/%02d.jpg", dir, c, i);
                du_write_jpg(path, 40, 30, 3, px);
            } else {
                uint8_t px[SIDE * SIDE];
                for (int y = 0; y < SIDE; y++)
                    for (int x = 0; x < SIDE; x++)
                        px[y * SIDE + x] = pixel(item, y, x);
                snprintf(path, sizeof path, "%s/f/c%d/%02d.png", dir, c, i);
                du_write_png(path, SIDE, SIDE, 1, px);
            }
        }
    }
    snprintf(spec, sizeof spec, "folder:%s/f", dir);
    return spec;
}

static cnn_dataset *open_ok(const char *s, const cnn_shape *shape)
{
    cnn_dataset *ds = NULL;
    cr_assert_eq(cnn_dataset_open(ctx, s, shape, &ds), CNN_OK, "%s",
                 cnn_context_message(ctx));
    return ds;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* The folder's samples, in its item order, as an in-memory IDX dataset. */
static cnn_dataset *idx_copy(const cnn_dataset *folder)
{
    size_t n = cnn_dataset_size(folder), bytes = SIDE * SIDE;
    unsigned char *img = malloc(16 + n * bytes), *lab = malloc(8 + n);
    char s[8400];
    cr_assert(img && lab);
    put_be32(img, 0x803);
    put_be32(img + 4, (uint32_t)n);
    put_be32(img + 8, SIDE);
    put_be32(img + 12, SIDE);
    put_be32(lab, 0x801);
    put_be32(lab + 4, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        memcpy(img + 16 + i * bytes, du_sample_u8(folder, i), bytes);
        lab[8 + i] = (unsigned char)cnn_dataset_label(folder, i);
    }
    du_write(du_path(dir, "img.idx"), img, 16 + n * bytes);
    du_write(du_path(dir, "lab.idx"), lab, 8 + n);
    free(img);
    free(lab);
    snprintf(s, sizeof s, "idx:%s/img.idx,%s/lab.idx,%d", dir, dir, CLASSES);
    return open_ok(s, NULL);
}

/* Every batch of epochs 0 and 1 of a loader, concatenated (floats, then
 * labels), for comparing whole runs. */
typedef struct run_dump {
    float *images;
    int32_t *labels;
    size_t n_images, n_labels;
} run_dump;

static run_dump dump_run(const cnn_dataset *ds, const cnn_loader_options *o)
{
    run_dump d = {0};
    cnn_loader *L = NULL;
    cnn_shape s = cnn_dataset_sample_shape(ds);
    size_t sample = (size_t)cnn_shape_numel(&s);
    cr_assert_eq(cnn_loader_create(ctx, ds, o, &L), CNN_OK, "%s",
                 cnn_context_message(ctx));
    d.images = malloc(2 * cnn_dataset_size(ds) * sample * sizeof(float));
    d.labels = malloc(2 * cnn_dataset_size(ds) * sizeof(int32_t));
    cr_assert(d.images && d.labels);
    for (uint64_t e = 0; e < 2; e++) {
        cr_assert_eq(cnn_loader_begin_epoch(L, e), CNN_OK);
        for (;;) {
            cnn_tensor t;
            const int32_t *labels;
            size_t n;
            cr_assert_eq(cnn_loader_next(L, &t, &labels, &n), CNN_OK, "%s",
                         cnn_context_message(ctx));
            if (n == 0)
                break;
            memcpy(d.images + d.n_images, t.data, n * sample * sizeof(float));
            memcpy(d.labels + d.n_labels, labels, n * sizeof(int32_t));
            d.n_images += n * sample;
            d.n_labels += n;
        }
    }
    cnn_loader_destroy(L);
    return d;
}

static void expect_same(run_dump a, run_dump b, const char *what)
{
    cr_assert_eq(a.n_images, b.n_images, "%s: sizes", what);
    cr_assert_eq(a.n_labels, b.n_labels, "%s: label counts", what);
    cr_assert_eq(memcmp(a.images, b.images, a.n_images * sizeof(float)), 0,
                 "%s: images differ", what);
    cr_assert_eq(memcmp(a.labels, b.labels, a.n_labels * sizeof(int32_t)), 0,
                 "%s: labels differ", what);
    free(a.images);
    free(a.labels);
    free(b.images);
    free(b.labels);
}

static cnn_loader_options augmenting(void)
{
    static const float mean[1] = {0.4f}, std[1] = {0.2f};
    cnn_loader_options o;
    cnn_loader_options_init(&o);
    o.batch = 4;
    o.seed = 77;
    o.shuffle = 1;
    o.flip = 1;
    o.crop_padding = 2;
    o.mean = mean;
    o.std = std;
    return o;
}

Test(stream, opening_only_indexes)
{
    cnn_shape shape = cnn_shape4(1, 1, SIDE, SIDE);
    cnn_dataset *ds;
    make_folder(0);
    ds = open_ok(spec, &shape);
    cr_assert(cnn_dataset_streamed(ds));
    cr_assert_eq(cnn_dataset_size(ds), COUNT);
    for (size_t i = 0; i < COUNT; i++)
        cr_assert_gt(cnn_dataset_item_file_size(ds, i), 0);
    cr_assert_eq(cnn_dataset_item_file_size(ds, COUNT), -1);
    /* Removing a file after open is found when (and only if) its sample
     * is read: nothing was decoded at open. */
    cr_assert_eq(unlink(cnn_dataset_item_path(ds, 3)), 0);
    {
        uint8_t sample[SIDE * SIDE];
        cr_assert_eq(cnn_dataset_sample_u8(ctx, ds, 2, sample), CNN_OK);
        cr_assert_neq(cnn_dataset_sample_u8(ctx, ds, 3, sample), CNN_OK);
        cr_assert(strstr(cnn_context_message(ctx),
                         cnn_dataset_item_path(ds, 3)),
                  "%s", cnn_context_message(ctx));
    }
    cnn_dataset_destroy(ds);
}

Test(stream, streamed_batches_equal_in_memory_batches)
{
    cnn_shape shape = cnn_shape4(1, 1, SIDE, SIDE);
    cnn_dataset *folder, *memory;
    cnn_loader_options o = augmenting();
    make_folder(0);
    folder = open_ok(spec, &shape);
    memory = idx_copy(folder);
    cr_assert(!cnn_dataset_streamed(memory));
    o.threads = 3;
    o.prefetch = 2;
    expect_same(dump_run(folder, &o), dump_run(memory, &o),
                "folder vs IDX copy");
    cnn_dataset_destroy(memory);
    cnn_dataset_destroy(folder);
}

Test(stream, thread_count_and_prefetch_do_not_change_batches)
{
    cnn_shape shape = cnn_shape4(1, 3, 16, 16);
    cnn_dataset *ds;
    cnn_loader_options one = augmenting(), four;
    make_folder(1);
    ds = open_ok(spec, &shape);
    one.crop_padding = 0;
    one.random_resized_crop = 1; /* the draws that depend on the image */
    one.mean = one.std = NULL;
    four = one;
    one.threads = 1;
    one.prefetch = 1;
    four.threads = 4;
    four.prefetch = 3;
    expect_same(dump_run(ds, &one), dump_run(ds, &four), "1 vs 4 threads");
    one.prefetch = 0; /* all in the caller's thread */
    expect_same(dump_run(ds, &one), dump_run(ds, &four), "no prefetch");
    cnn_dataset_destroy(ds);
}

Test(stream, resumed_position_gives_the_same_batches)
{
    cnn_shape shape = cnn_shape4(1, 3, 16, 16);
    cnn_dataset *ds;
    cnn_loader_options o = augmenting();
    cnn_loader *a = NULL, *b = NULL;
    make_folder(1);
    ds = open_ok(spec, &shape);
    o.crop_padding = 0;
    o.random_resized_crop = 1;
    o.mean = o.std = NULL;
    o.threads = 4;
    o.prefetch = 2;
    cr_assert_eq(cnn_loader_create(ctx, ds, &o, &a), CNN_OK);
    cr_assert_eq(cnn_loader_create(ctx, ds, &o, &b), CNN_OK);
    cr_assert_eq(cnn_loader_begin_epoch(a, 1), CNN_OK);
    for (int k = 0; k < 3; k++) {
        cnn_tensor t;
        const int32_t *l;
        size_t n;
        cr_assert_eq(cnn_loader_next(a, &t, &l, &n), CNN_OK);
    }
    /* b jumps in mid-epoch after reading a different epoch. */
    cr_assert_eq(cnn_loader_begin_epoch(b, 0), CNN_OK);
    cr_assert_eq(cnn_loader_set_position(b, 1, 3), CNN_OK);
    for (;;) {
        cnn_tensor ta, tb;
        const int32_t *la, *lb;
        size_t na, nb;
        cr_assert_eq(cnn_loader_next(a, &ta, &la, &na), CNN_OK);
        cr_assert_eq(cnn_loader_next(b, &tb, &lb, &nb), CNN_OK);
        cr_assert_eq(na, nb);
        if (na == 0)
            break;
        cr_assert_eq(memcmp(ta.data, tb.data, na * 3 * 16 * 16 * sizeof(float)),
                     0);
        cr_assert_eq(memcmp(la, lb, na * sizeof *la), 0);
    }
    cnn_loader_destroy(a);
    cnn_loader_destroy(b);
    cnn_dataset_destroy(ds);
}

/* Overwrites item `item`'s file with a truncated JPEG. */
static const char *break_item(const cnn_dataset *ds, size_t item)
{
    const char *path = cnn_dataset_item_path(ds, item);
    size_t n;
    unsigned char *bytes = du_read(path, &n);
    du_write(path, bytes, n / 2);
    free(bytes);
    return path;
}

Test(stream, bad_image_mid_epoch_is_an_error_naming_it)
{
    cnn_shape shape = cnn_shape4(1, 3, 16, 16);
    cnn_dataset *ds;
    cnn_loader_options o;
    cnn_loader *L = NULL;
    const char *bad;
    size_t batches_ok = 0;
    cnn_status st = CNN_OK;
    make_folder(1);
    ds = open_ok(spec, &shape);
    bad = break_item(ds, 13); /* batch 3 of 4-sample batches, in order */
    cnn_loader_options_init(&o);
    o.batch = 4;
    o.threads = 2;
    o.prefetch = 2;
    cr_assert_eq(cnn_loader_create(ctx, ds, &o, &L), CNN_OK);
    cr_assert_eq(cnn_loader_begin_epoch(L, 0), CNN_OK);
    for (;;) {
        cnn_tensor t;
        const int32_t *l;
        size_t n;
        st = cnn_loader_next(L, &t, &l, &n);
        if (st != CNN_OK || n == 0)
            break;
        batches_ok++;
    }
    cr_assert_neq(st, CNN_OK, "the broken file must stop the epoch");
    cr_assert_eq(batches_ok, 3, "batches 0-2 came before the broken one");
    cr_assert(strstr(cnn_context_message(ctx), bad), "%s",
              cnn_context_message(ctx));
    cr_assert(strstr(cnn_context_message(ctx), "batch 3"), "%s",
              cnn_context_message(ctx));
    cnn_loader_destroy(L);
    cnn_dataset_destroy(ds);
}

Test(stream, skip_bad_drops_and_counts)
{
    cnn_shape shape = cnn_shape4(1, 3, 16, 16);
    cnn_dataset *ds;
    cnn_loader_options o;
    cnn_loader *L = NULL;
    size_t seen = 0, short_batches = 0;
    make_folder(1);
    ds = open_ok(spec, &shape);
    break_item(ds, 5);
    break_item(ds, 20);
    cnn_loader_options_init(&o);
    o.batch = 4;
    o.threads = 3;
    o.prefetch = 2;
    o.skip_bad = 1;
    cr_assert_eq(cnn_loader_create(ctx, ds, &o, &L), CNN_OK);
    for (uint64_t e = 0; e < 2; e++) {
        seen = short_batches = 0;
        cr_assert_eq(cnn_loader_begin_epoch(L, e), CNN_OK);
        for (;;) {
            cnn_tensor t;
            const int32_t *l;
            size_t n, total, offset;
            cr_assert_eq(cnn_loader_next(L, &t, &l, &n), CNN_OK, "%s",
                         cnn_context_message(ctx));
            cnn_loader_last_part(L, &total, &offset);
            if (total == 0)
                break;
            seen += n;
            short_batches += n < total;
            for (size_t j = 0; j < n; j++)
                cr_assert(l[j] >= 0 && l[j] < CLASSES);
        }
        cr_assert_eq(seen, COUNT - 2);
        cr_assert_eq(short_batches, 2);
        cr_assert_eq(cnn_loader_skipped(L), 2, "counted per epoch");
        cr_assert(strstr(cnn_loader_first_skipped(L),
                         cnn_dataset_item_path(ds, 5)),
                  "%s", cnn_loader_first_skipped(L));
    }
    cnn_loader_destroy(L);
    cnn_dataset_destroy(ds);
}

/* With prefetch P, at most P + 1 batches are decoded before the caller
 * asks for more: after the threads settle, the files are deleted, and
 * exactly batches 0..P still come out. */
Test(stream, prefetch_depth_bounds_what_is_decoded_ahead)
{
    cnn_shape shape = cnn_shape4(1, 1, SIDE, SIDE);
    for (int prefetch = 1; prefetch <= 3; prefetch++) {
        cnn_dataset *ds;
        cnn_loader_options o;
        cnn_loader *L = NULL;
        size_t ok = 0;
        cnn_status st;
        char sub[64];
        make_folder(0);
        ds = open_ok(spec, &shape);
        cnn_loader_options_init(&o);
        o.batch = 3;
        o.threads = 4;
        o.prefetch = prefetch;
        cr_assert_eq(cnn_loader_create(ctx, ds, &o, &L), CNN_OK);
        cr_assert_eq(cnn_loader_begin_epoch(L, 0), CNN_OK);
        usleep(300 * 1000);
        for (size_t i = 0; i < COUNT; i++)
            cr_assert_eq(unlink(cnn_dataset_item_path(ds, i)), 0);
        for (;;) {
            cnn_tensor t;
            const int32_t *l;
            size_t n;
            st = cnn_loader_next(L, &t, &l, &n);
            if (st != CNN_OK || n == 0)
                break;
            ok++;
        }
        cr_assert_neq(st, CNN_OK);
        cr_assert_eq(ok, (size_t)prefetch + 1,
                     "prefetch %d: %zu batches were decoded ahead", prefetch,
                     ok);
        cnn_loader_destroy(L);
        cnn_dataset_destroy(ds);
        snprintf(sub, sizeof sub, "f");
        du_rmtree(du_path(dir, sub));
    }
}

Test(stream, center_crop_and_rrc_need_image_files)
{
    cnn_shape shape = cnn_shape4(1, 1, SIDE, SIDE);
    cnn_dataset *folder, *memory;
    cnn_loader_options o;
    cnn_loader *L = NULL;
    make_folder(0);
    folder = open_ok(spec, &shape);
    memory = idx_copy(folder);
    cnn_loader_options_init(&o);
    o.center_crop = 0.875;
    cr_assert_eq(cnn_loader_create(ctx, memory, &o, &L), CNN_ERR_INVALID);
    cr_assert(strstr(cnn_context_message(ctx), "center_crop"), "%s",
              cnn_context_message(ctx));
    cr_assert_eq(cnn_loader_create(ctx, folder, &o, &L), CNN_OK);
    cnn_loader_destroy(L);
    cnn_dataset_destroy(memory);
    cnn_dataset_destroy(folder);
}

/* ---- RandomResizedCrop against torchvision ---- */

typedef struct replay {
    const rrc_case *c;
    int next;
} replay;

static double replay_draw(void *state, int kind, double lo, double hi)
{
    replay *r = state;
    const rrc_draw *d;
    (void)lo;
    (void)hi;
    cr_assert_lt(r->next, r->c->n_draws, "more draws than torchvision's");
    d = &r->c->draws[r->next++];
    cr_assert_eq(d->kind, kind, "draw %d: kind %d, torchvision drew %d",
                 r->next - 1, kind, d->kind);
    return d->value;
}

Test(stream, random_resized_box_matches_torchvision)
{
    size_t n = sizeof rrc_cases / sizeof rrc_cases[0];
    for (size_t k = 0; k < n; k++) {
        const rrc_case *c = &rrc_cases[k];
        replay r = {c, 0};
        cnn_data_box box;
        cnn_data_random_resized_box(c->width, c->height, c->scale, c->ratio,
                                    replay_draw, &r, &box);
        cr_assert_eq(r.next, c->n_draws, "case %zu: draws used", k);
        cr_assert(box.x == c->x && box.y == c->y && box.w == c->w &&
                      box.h == c->h,
                  "case %zu (%dx%d): box %d,%d %dx%d, torchvision %d,%d "
                  "%dx%d",
                  k, c->width, c->height, box.x, box.y, box.w, box.h, c->x,
                  c->y, c->w, c->h);
    }
}

/* The loader's own draws follow the same ranges: on 500 x 375 the mean
 * area share of its boxes and the fallback rate sit where torchvision's
 * do (`gen_rrc_ref.py --stats`: get_params over torch seeds 0..19999 gives
 * a mean area share of 0.4321 and no fallback). */
Test(stream, random_resized_box_statistics)
{
    double scale[2] = {0.08, 1.0}, ratio[2] = {3.0 / 4.0, 4.0 / 3.0};
    double sum = 0;
    int full = 0, n = 20000;
    for (int i = 0; i < n; i++) {
        cnn_data_box box;
        cnn_data_random_resized_box_seeded(500, 375, scale, ratio, 5, 0,
                                           (uint64_t)i, &box);
        cr_assert(box.w >= 1 && box.h >= 1 && box.x >= 0 && box.y >= 0 &&
                  box.x + box.w <= 500 && box.y + box.h <= 375);
        sum += (double)box.w * box.h / (500.0 * 375.0);
        full += box.w == 500 && box.h == 375;
    }
    cr_assert(sum / n > 0.4321 - 0.01 && sum / n < 0.4321 + 0.01,
              "mean area share %g", sum / n);
    cr_assert_lt(full, n / 100);
}

/* Data-parallel ranks (shards) decode only their part of each batch: with
 * the files of every other part deleted, part 0 still reads its whole
 * epoch, and its batches are those of the whole batch's first part. */
Test(stream, a_shard_reads_only_its_part)
{
    cnn_shape shape = cnn_shape4(1, 1, SIDE, SIDE);
    cnn_dataset *ds;
    cnn_loader_options whole, part;
    cnn_loader *W = NULL, *P = NULL;
    make_folder(0);
    ds = open_ok(spec, &shape);
    cnn_loader_options_init(&whole);
    whole.batch = 6;
    whole.shuffle = 1;
    whole.seed = 9;
    whole.threads = 2;
    part = whole;
    part.shards = 2;
    part.shard = 0;
    cr_assert_eq(cnn_loader_create(ctx, ds, &whole, &W), CNN_OK);
    cr_assert_eq(cnn_loader_create(ctx, ds, &part, &P), CNN_OK);
    /* Read the whole epoch once to learn which items part 1 holds, and
     * keep the whole batches to compare with. */
    {
        const size_t *order;
        size_t batches = cnn_loader_batch_count(W);
        float *want = malloc(COUNT * SIDE * SIDE * sizeof(float));
        size_t at = 0;
        cr_assert_not_null(want);
        cr_assert_eq(cnn_loader_begin_epoch(W, 0), CNN_OK);
        for (size_t b = 0; b < batches; b++) {
            cnn_tensor t;
            const int32_t *l;
            size_t n;
            cr_assert_eq(cnn_loader_next(W, &t, &l, &n), CNN_OK);
            memcpy(want + at, t.data, n * SIDE * SIDE * sizeof(float));
            at += n * SIDE * SIDE;
        }
        order = cnn_loader_order(W);
        for (size_t b = 0; b < batches; b++) {
            size_t start = b * 6, n = COUNT - start < 6 ? COUNT - start : 6;
            size_t first1 = n / 2 + n % 2; /* part 0 has ceil(n / 2) */
            for (size_t j = first1; j < n; j++)
                cr_assert_eq(unlink(cnn_dataset_item_path(ds, order[start + j])),
                             0);
        }
        cr_assert_eq(cnn_loader_begin_epoch(P, 0), CNN_OK);
        for (size_t b = 0; b < batches; b++) {
            cnn_tensor t;
            const int32_t *l;
            size_t n, total, offset;
            cr_assert_eq(cnn_loader_next(P, &t, &l, &n), CNN_OK, "%s",
                         cnn_context_message(ctx));
            cnn_loader_last_part(P, &total, &offset);
            cr_assert_eq(offset, 0);
            cr_assert_eq(n, total / 2 + total % 2);
            cr_assert_eq(memcmp(t.data, want + b * 6 * SIDE * SIDE,
                                n * SIDE * SIDE * sizeof(float)),
                         0, "batch %zu: part 0 differs from the whole", b);
        }
        free(want);
    }
    cnn_loader_destroy(W);
    cnn_loader_destroy(P);
    cnn_dataset_destroy(ds);
}
