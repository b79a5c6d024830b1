/* SPDX-License-Identifier: MIT */
/* One image file to one dataset sample, for folder and file datasets and
 * encoded packs' records alike (so `cnnrun predict` sees exactly the sample
 * an evaluation would, and a pack exactly its folder's).
 *
 * The path: read the file, read its header, choose the box of the source
 * that the sample shows (the whole image, eval's centre crop, or training's
 * RandomResizedCrop), decode (a JPEG at a reduced size by DCT scaling when
 * the box is at least twice the sample on both axes, never below the
 * sample), cut the box out (mirrored if asked, at full resolution), then
 * resize: keeping the aspect (cover and centre-crop) for the whole image
 * and the centre box, stretching for RandomResizedCrop as torchvision. The
 * plain path (whole image, no DCT scaling) is byte for byte what the
 * decode-at-open loader produced. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../context_internal.h"
#include "cnn/file_read.h"
#include "cnn/image.h"
#include "data_internal.h"
#include "data_rng.h"

#define RRC_TRIES 10 /* torchvision's */

void cnn_data_random_resized_box(int32_t width, int32_t height,
                                 const double scale[2], const double ratio[2],
                                 cnn_data_draw_fn draw, void *state,
                                 cnn_data_box *box)
{
    double area = (double)width * (double)height;
    double lo = ratio[0] < ratio[1] ? ratio[0] : ratio[1];
    double hi = ratio[0] < ratio[1] ? ratio[1] : ratio[0];
    double in_ratio = (double)width / (double)height;
    for (int t = 0; t < RRC_TRIES; t++) {
        double target = area * draw(state, CNN_DATA_DRAW_AREA, scale[0],
                                    scale[1]);
        double aspect = draw(state, CNN_DATA_DRAW_ASPECT, ratio[0], ratio[1]);
        /* Python's round() is half-to-even, as nearbyint by default. */
        double w = nearbyint(sqrt(target * aspect));
        double h = nearbyint(sqrt(target / aspect));
        if (w > 0 && w <= width && h > 0 && h <= height) {
            box->w = (int32_t)w;
            box->h = (int32_t)h;
            box->y = (int32_t)draw(state, CNN_DATA_DRAW_INT, 0,
                                   (double)(height - box->h + 1));
            box->x = (int32_t)draw(state, CNN_DATA_DRAW_INT, 0,
                                   (double)(width - box->w + 1));
            return;
        }
    }
    /* No try fitted: the centre crop, clamped to the ratio range. */
    if (in_ratio < lo) {
        box->w = width;
        box->h = (int32_t)nearbyint((double)width / lo);
    } else if (in_ratio > hi) {
        box->h = height;
        box->w = (int32_t)nearbyint((double)height * hi);
    } else {
        box->w = width;
        box->h = height;
    }
    box->y = (height - box->h) / 2;
    box->x = (width - box->w) / 2;
}

/* The loader's draws: (seed, epoch, index) keyed, so a crop is the same
 * whichever thread makes it. */
static double rng_draw(void *state, int kind, double lo, double hi)
{
    cnn_data_rng *rng = state;
    if (kind == CNN_DATA_DRAW_INT)
        return (double)cnn_data_rng_below(rng, (uint64_t)hi);
    {
        double u = (double)(cnn_data_rng_next(rng) >> 11) * 0x1.0p-53;
        if (kind == CNN_DATA_DRAW_ASPECT)
            return exp(log(lo) + (log(hi) - log(lo)) * u);
        return lo + (hi - lo) * u;
    }
}

void cnn_data_random_resized_box_seeded(int32_t width, int32_t height,
                                        const double scale[2],
                                        const double ratio[2], uint64_t seed,
                                        uint64_t epoch, uint64_t index,
                                        cnn_data_box *box)
{
    cnn_data_rng rng;
    cnn_data_rng_init(&rng, seed, epoch, index, CNN_DATA_STREAM_CROP);
    cnn_data_random_resized_box(width, height, scale, ratio, rng_draw, &rng,
                                box);
}

/* Eval's resize-shorter-side-then-centre-crop as a source box: the image
 * scaled to cover (height, width) / center, of which the centred
 * height x width is kept. */
static void centre_box(int32_t iw, int32_t ih, int32_t height, int32_t width,
                       double center, cnn_data_box *box)
{
    double k = (double)height / (center * ih);
    double kw = (double)width / (center * iw);
    double bw, bh;
    if (kw > k)
        k = kw;
    bw = nearbyint(width / k);
    bh = nearbyint(height / k);
    box->w = bw < 1 ? 1 : bw > iw ? iw : (int32_t)bw;
    box->h = bh < 1 ? 1 : bh > ih ? ih : (int32_t)bh;
    box->x = (iw - box->w) / 2;
    box->y = (ih - box->h) / 2;
}

/* Maps a box of the file's pixels onto the decoded (maybe DCT-scaled)
 * image of dw x dh. */
static void scale_box(cnn_data_box *b, int32_t iw, int32_t ih, int32_t dw,
                      int32_t dh)
{
    double fx = (double)dw / iw, fy = (double)dh / ih;
    int32_t x = (int32_t)floor(b->x * fx), y = (int32_t)floor(b->y * fy);
    int32_t w = (int32_t)nearbyint(b->w * fx), h = (int32_t)nearbyint(b->h * fy);
    if (x >= dw)
        x = dw - 1;
    if (y >= dh)
        y = dh - 1;
    if (w < 1)
        w = 1;
    if (h < 1)
        h = 1;
    if (x + w > dw)
        w = dw - x;
    if (y + h > dh)
        h = dh - y;
    b->x = x;
    b->y = y;
    b->w = w;
    b->h = h;
}

/* Resizes (the box of) img into the CHW sample. */
static cnn_status fit(cnn_context *ctx, const char *path, const cnn_image *img,
                      const cnn_data_box *box, int flip, int stretch,
                      int32_t height, int32_t width, uint8_t *dst)
{
    int32_t C = img->channels;
    int whole = box->x == 0 && box->y == 0 && box->w == img->width &&
                box->h == img->height;
    uint8_t *cut = NULL;
    const uint8_t *src = img->pixels;
    int ok;
    if (whole && !flip && img->height == height && img->width == width) {
        size_t plane = (size_t)width * (size_t)height;
        for (size_t c = 0; c < (size_t)C; c++)
            for (size_t i = 0; i < plane; i++)
                dst[c * plane + i] = img->pixels[i * (size_t)C + c];
        return CNN_OK;
    }
    if (!whole || flip) {
        size_t row = (size_t)box->w * (size_t)C;
        cut = malloc(row * (size_t)box->h);
        if (!cut)
            return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory cropping",
                            path);
        for (int32_t y = 0; y < box->h; y++) {
            const uint8_t *s = img->pixels +
                               ((size_t)(box->y + y) * (size_t)img->width +
                                (size_t)box->x) * (size_t)C;
            uint8_t *d = cut + (size_t)y * row;
            if (!flip) {
                memcpy(d, s, row);
                continue;
            }
            for (int32_t x = 0; x < box->w; x++)
                memcpy(d + (size_t)x * (size_t)C,
                       s + (size_t)(box->w - 1 - x) * (size_t)C, (size_t)C);
        }
        src = cut;
    }
    ok = stretch ? cnn_data_resize_stretch(src, box->h, box->w, C, dst,
                                           height, width)
                 : cnn_data_resize_cover(src, box->h, box->w, C, dst, height,
                                         width);
    free(cut);
    return ok ? CNN_OK
              : cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory resizing",
                         path);
}

cnn_status cnn_data_load_image_bytes(cnn_context *ctx, const char *path,
                                     const void *data, size_t size,
                                     int32_t channels, int32_t height,
                                     int32_t width, const cnn_data_view *view,
                                     uint8_t *dst)
{
    cnn_image_info info;
    cnn_image img;
    cnn_data_box box;
    int32_t min_w = 0, min_h = 0;
    int random = view && view->random_crop;
    cnn_status st = cnn_image_probe(ctx, path, data, size, &info);
    if (st != CNN_OK)
        return st;
    if (random) {
        cnn_data_random_resized_box_seeded(info.width, info.height,
                                           view->scale, view->ratio,
                                           view->seed, view->epoch,
                                           view->index, &box);
    } else if (view && view->center < 1.0) {
        centre_box(info.width, info.height, height, width, view->center,
                   &box);
    } else {
        box.x = box.y = 0;
        box.w = info.width;
        box.h = info.height;
    }
    /* Much larger than the sample: let the JPEG decoder shrink, keeping
     * the box at least the sample's size. */
    if (box.w >= 2 * (int64_t)width && box.h >= 2 * (int64_t)height) {
        min_w = (int32_t)(((int64_t)info.width * width + box.w - 1) / box.w);
        min_h = (int32_t)(((int64_t)info.height * height + box.h - 1) / box.h);
    }
    st = cnn_image_decode_reduced(ctx, path, data, size, channels, min_w,
                                  min_h, &info, &img);
    if (st != CNN_OK)
        return st;
    if (img.width != info.width || img.height != info.height)
        scale_box(&box, info.width, info.height, img.width, img.height);
    st = fit(ctx, path, &img, &box, view && view->flip, random, height, width,
             dst);
    cnn_image_free(&img);
    return st;
}

cnn_status cnn_data_load_image(cnn_context *ctx, const char *path,
                               int32_t channels, int32_t height,
                               int32_t width, const cnn_data_view *view,
                               uint8_t *dst)
{
    unsigned char *data;
    size_t size;
    cnn_status st = cnn_file_read_all(ctx, path, CNN_IMAGE_MAX_FILE_BYTES,
                                      "image file", &data, &size);
    if (st != CNN_OK)
        return st;
    st = cnn_data_load_image_bytes(ctx, path, data, size, channels, height,
                                   width, view, dst);
    free(data);
    return st;
}

cnn_status cnn_data_load_item(cnn_context *ctx, const cnn_dataset *ds,
                              size_t i, const cnn_data_view *view,
                              uint8_t *dst)
{
    if (i >= ds->count)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: item %zu is past the %zu items", ds->spec, i,
                        ds->count);
    if (!ds->streamed) {
        memcpy(dst, cnn_data_item_pixels(ds, i), ds->sample_bytes);
        return CNN_OK;
    }
    if (ds->records) /* an encoded pack's record, as a folder's file */
        return cnn_data_pack_file_load(ctx, ds->pack, ds->records[i],
                                       ds->channels, ds->height, ds->width,
                                       view, dst);
    return cnn_data_load_image(ctx, ds->paths[i], ds->channels, ds->height,
                               ds->width, view, dst);
}

cnn_status cnn_data_image_geometry(cnn_context *ctx, const char *path,
                                   cnn_data_geometry *g, int64_t *file_bytes)
{
    unsigned char *data;
    size_t size;
    cnn_image_info info;
    cnn_status st = cnn_file_read_all(ctx, path, CNN_IMAGE_MAX_FILE_BYTES,
                                      "image file", &data, &size);
    if (st != CNN_OK)
        return st;
    st = cnn_image_probe(ctx, path, data, size, &info);
    free(data);
    if (st != CNN_OK)
        return st;
    if (file_bytes)
        *file_bytes = (int64_t)size;
    g->channels = info.channels;
    g->height = info.height;
    g->width = info.width;
    return CNN_OK;
}
