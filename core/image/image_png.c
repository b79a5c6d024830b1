/* SPDX-License-Identifier: MIT */
/* PNG through libpng, from memory. libpng reports errors by calling our
 * error function, which keeps the message and longjmps back to the setjmp
 * in run(); warnings are dropped (the library prints nothing). Channel
 * conversion is libpng's transforms: palette and low-bit gray expanded,
 * 16-bit scaled, alpha and transparency stripped, gray to RGB replicated,
 * RGB to gray as BT.601 luma. Colour-space chunks (gAMA, cHRM, sRGB,
 * iCCP) are ignored, so gray is computed on the stored values exactly as
 * for JPEG, and text chunks are skipped unread. */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../context_internal.h"
#include "image_internal.h"

/* Largest ancillary chunk libpng may allocate, and how many it may keep:
 * bounds on what a header full of chunks can cost. */
#define PNG_CHUNK_BYTES_MAX ((png_alloc_size_t)8 << 20)
#define PNG_CHUNK_COUNT_MAX 1000

/* Lives in the caller's frame, so nothing run() changes after setjmp is
 * one of its own locals (those are indeterminate after a longjmp). */
typedef struct png_reader {
    const unsigned char *data;
    size_t size, pos;
    char message[256];
    png_bytep *rows;
    unsigned char *pixels;
    cnn_image_info info;
    cnn_status status; /* set when the failure is ours, not libpng's */
} png_reader;

static void on_error(png_structp png, png_const_charp message)
{
    png_reader *r = png_get_error_ptr(png);
    snprintf(r->message, sizeof r->message, "%s",
             message ? message : "unknown error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message)
{
    (void)png;
    (void)message;
}

static void on_read(png_structp png, png_bytep out, size_t length)
{
    png_reader *r = png_get_io_ptr(png);
    if (length > r->size - r->pos)
        png_error(png, "the file ends early (truncated)");
    memcpy(out, r->data + r->pos, length);
    r->pos += length;
}

/* Chunks never read: colour management and text. */
static const png_byte ignored_chunks[] = "gAMA\0cHRM\0sRGB\0iCCP\0tEXt\0"
                                         "zTXt\0iTXt\0sPLT\0eXIf\0hIST\0";

static void set_transforms(png_structp png, int color_type, int bit_depth,
                           int native, int want, int interlace)
{
    if (color_type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (bit_depth == 16)
        png_set_scale_16(png);
    png_set_strip_alpha(png);
    if (want == 3 && native == 1)
        png_set_gray_to_rgb(png);
    if (want == 1 && native == 3)
        /* BT.601 in 1/100000: red 0.299, green 0.587 (blue the rest). */
        png_set_rgb_to_gray_fixed(png, PNG_ERROR_ACTION_NONE, 29900, 58700);
    if (interlace != PNG_INTERLACE_NONE)
        (void)png_set_interlace_handling(png);
}

static void run(cnn_context *ctx, const char *name, png_reader *r,
                png_structp png, png_infop info, int32_t channels,
                cnn_image *out)
{
    png_uint_32 width, height;
    int bit_depth, color_type, interlace, native, want;
    png_set_read_fn(png, r, on_read);
    /* Our own limits speak first, with our message. */
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_set_chunk_malloc_max(png, PNG_CHUNK_BYTES_MAX);
    png_set_chunk_cache_max(png, PNG_CHUNK_COUNT_MAX);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, ignored_chunks,
                                (int)(sizeof ignored_chunks / 5));
    png_read_info(png, info);
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type,
                 &interlace, NULL, NULL);
    native = (color_type & PNG_COLOR_MASK_COLOR) ? 3 : 1;
    want = channels ? channels : native;
    r->info.format = CNN_IMAGE_PNG;
    r->info.width = (int32_t)(width <= INT32_MAX ? width : 0);
    r->info.height = (int32_t)(height <= INT32_MAX ? height : 0);
    r->info.channels = native;
    r->status = cnn_image_check_size(ctx, name, "PNG", width, height, want);
    if (r->status != CNN_OK || !out)
        return;
    set_transforms(png, color_type, bit_depth, native, want, interlace);
    png_read_update_info(png, info);
    /* The transforms above must have produced 8-bit samples of `want`
     * channels; anything else would make the row buffers the wrong size. */
    if (png_get_channels(png, info) != want ||
        png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != (size_t)width * (size_t)want)
        png_error(png, "unexpected sample layout after conversion");
    r->pixels = malloc((size_t)width * height * (size_t)want);
    r->rows = malloc((size_t)height * sizeof *r->rows);
    if (!r->pixels || !r->rows) {
        r->status = cnn_fail(ctx, CNN_ERR_NOMEM,
                             "%s: out of memory decoding a %ux%u PNG", name,
                             (unsigned)width, (unsigned)height);
        return;
    }
    for (png_uint_32 y = 0; y < height; y++)
        r->rows[y] = r->pixels + (size_t)y * width * (size_t)want;
    png_read_image(png, r->rows);
    /* The chunks after the image too: a cut or corrupt end is an error. */
    png_read_end(png, NULL);
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    out->channels = want;
    out->pixels = r->pixels;
    r->pixels = NULL;
}

cnn_status cnn_png_decode(cnn_context *ctx, const char *name,
                          const unsigned char *data, size_t size,
                          int32_t channels, cnn_image_info *info,
                          cnn_image *out)
{
    png_reader r;
    png_structp png;
    png_infop pinfo = NULL;
    /* The PNG specification puts IHDR first: its size is checked here,
     * before libpng reads on through the chunks that follow. */
    if (size >= 26 && memcmp(data + 12, "IHDR", 4) == 0) {
        uint32_t w = (uint32_t)data[16] << 24 | (uint32_t)data[17] << 16 |
                     (uint32_t)data[18] << 8 | data[19];
        uint32_t h = (uint32_t)data[20] << 24 | (uint32_t)data[21] << 16 |
                     (uint32_t)data[22] << 8 | data[23];
        int native = (data[25] & PNG_COLOR_MASK_COLOR) ? 3 : 1;
        cnn_status st = cnn_image_check_size(ctx, name, "PNG", w, h,
                                             channels ? channels : native);
        if (st != CNN_OK) {
            if (out)
                memset(out, 0, sizeof *out);
            return st;
        }
    }
    memset(&r, 0, sizeof r);
    r.data = data;
    r.size = size;
    r.status = CNN_OK;
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, on_error,
                                 on_warning);
    if (png)
        pinfo = png_create_info_struct(png);
    if (!png || !pinfo) {
        png_destroy_read_struct(&png, NULL, NULL);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", name);
    }
    if (setjmp(png_jmpbuf(png)) == 0) {
        run(ctx, name, &r, png, pinfo, channels, out);
    } else {
        r.status = cnn_fail(ctx, CNN_ERR_FORMAT, "%s: corrupt PNG: %s", name,
                            r.message);
    }
    png_destroy_read_struct(&png, &pinfo, NULL);
    free(r.rows);
    free(r.pixels); /* still set only after a failure */
    if (r.status != CNN_OK) {
        if (out)
            memset(out, 0, sizeof *out);
        return r.status;
    }
    *info = r.info;
    return CNN_OK;
}
