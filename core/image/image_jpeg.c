/* SPDX-License-Identifier: MIT */
/* JPEG through libjpeg-turbo, from memory. libjpeg's default error handler
 * prints and calls exit(); ours keeps the message and longjmps back to the
 * setjmp in cnn_jpeg_decode. Its warnings are errors too: on a truncated
 * or corrupt stream libjpeg warns and fills the rest with gray, which a
 * dataset must not take for an image. Progressive files are limited in
 * their number of scans (each scan re-walks the whole coefficient buffer,
 * so thousands of tiny scans cost minutes). Colour is converted by the
 * library: gray to RGB, or YCbCr to gray by keeping Y (BT.601 luma). */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "../context_internal.h"
#include "image_internal.h"

/* libjpeg-turbo's own fuzzers stop at 500 scans; real files have at most
 * a few dozen. */
#define JPEG_MAX_SCANS 500

/* Lives in the caller's frame (see image_png.c for why). */
typedef struct jpeg_reader {
    struct jpeg_error_mgr errors; /* first: libjpeg hands it back to us */
    struct jpeg_progress_mgr progress;
    struct jpeg_decompress_struct cinfo;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX + 64];
    unsigned char *pixels;
    cnn_image_info info;
    cnn_status status; /* set when the failure is ours, not libjpeg's */
} jpeg_reader;

static void on_error_exit(j_common_ptr cinfo)
{
    jpeg_reader *r = (jpeg_reader *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(r->message, sizeof r->message, "%s", text);
    longjmp(r->jump, 1);
}

/* Level -1 is a warning (corrupt data); higher levels are trace output. */
static void on_message(j_common_ptr cinfo, int level)
{
    if (level < 0)
        on_error_exit(cinfo);
}

static void on_output(j_common_ptr cinfo)
{
    (void)cinfo;
}

static void on_progress(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    jpeg_reader *r = (jpeg_reader *)cinfo->err;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        snprintf(r->message, sizeof r->message,
                 "more than %d progressive scans", JPEG_MAX_SCANS);
        longjmp(r->jump, 1);
    }
}

static void run(cnn_context *ctx, const char *name, jpeg_reader *r,
                const unsigned char *data, size_t size, int32_t channels,
                int32_t min_width, int32_t min_height, cnn_image *out)
{
    j_decompress_ptr c = &r->cinfo;
    int native, want;
    size_t stride;
    JDIMENSION expect_w, expect_h;
    jpeg_mem_src(c, data, (unsigned long)size);
    (void)jpeg_read_header(c, TRUE);
    if (c->num_components != 1 && c->num_components != 3) {
        r->status = cnn_fail(ctx, CNN_ERR_UNSUPPORTED,
                             "%s: JPEG with %d colour components (CMYK?); "
                             "cnnrun reads gray and colour (YCbCr or RGB) "
                             "JPEG only",
                             name, c->num_components);
        return;
    }
    native = c->num_components == 1 ? 1 : 3;
    want = channels ? channels : native;
    r->info.format = CNN_IMAGE_JPEG;
    r->info.width = (int32_t)(c->image_width <= INT32_MAX ? c->image_width : 0);
    r->info.height =
        (int32_t)(c->image_height <= INT32_MAX ? c->image_height : 0);
    r->info.channels = native;
    r->status = cnn_image_check_size(ctx, name, "JPEG", c->image_width,
                                     c->image_height, want);
    if (r->status != CNN_OK || !out)
        return;
    c->out_color_space = want == 1 ? JCS_GRAYSCALE : JCS_RGB;
    /* DCT scaling: the smallest M/8 whose output still covers the minimum
     * asked for; the inverse DCT then does most of the shrinking for free. */
    if (min_width > 0 && min_height > 0) {
        unsigned num = 1;
        while (num < 8 &&
               ((uint64_t)c->image_width * num + 7) / 8 < (uint64_t)min_width)
            num++;
        while (num < 8 && ((uint64_t)c->image_height * num + 7) / 8 <
                              (uint64_t)min_height)
            num++;
        c->scale_num = num;
        c->scale_denom = 8;
    }
    jpeg_calc_output_dimensions(c);
    expect_w = c->output_width;
    expect_h = c->output_height;
    r->progress.progress_monitor = on_progress;
    c->progress = &r->progress;
    (void)jpeg_start_decompress(c);
    if (c->output_components != want || c->output_width != expect_w ||
        c->output_height != expect_h) {
        r->status = cnn_fail(ctx, CNN_ERR_FORMAT,
                             "%s: corrupt JPEG: decodes to %ux%u with %d "
                             "channels, not the expected %ux%u with %d",
                             name, c->output_width, c->output_height,
                             c->output_components, expect_w, expect_h, want);
        return;
    }
    stride = (size_t)c->output_width * (size_t)want;
    r->pixels = malloc(stride * c->output_height);
    if (!r->pixels) {
        r->status = cnn_fail(ctx, CNN_ERR_NOMEM,
                             "%s: out of memory decoding a %ux%u JPEG", name,
                             c->output_width, c->output_height);
        return;
    }
    while (c->output_scanline < c->output_height) {
        JSAMPROW row = r->pixels + (size_t)c->output_scanline * stride;
        if (jpeg_read_scanlines(c, &row, 1) != 1) {
            r->status = cnn_fail(ctx, CNN_ERR_FORMAT,
                                 "%s: corrupt JPEG: no data for row %u", name,
                                 c->output_scanline);
            return;
        }
    }
    (void)jpeg_finish_decompress(c);
    out->width = (int32_t)c->output_width;
    out->height = (int32_t)c->output_height;
    out->channels = want;
    out->pixels = r->pixels;
    r->pixels = NULL;
}

cnn_status cnn_jpeg_decode(cnn_context *ctx, const char *name,
                           const unsigned char *data, size_t size,
                           int32_t channels, int32_t min_width,
                           int32_t min_height, cnn_image_info *info,
                           cnn_image *out)
{
    jpeg_reader *r = calloc(1, sizeof *r);
    cnn_status st;
    if (!r)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", name);
    if ((unsigned long)size != size) {
        free(r);
        return cnn_fail(ctx, CNN_ERR_FORMAT, "%s: JPEG too large", name);
    }
    r->cinfo.err = jpeg_std_error(&r->errors);
    r->errors.error_exit = on_error_exit;
    r->errors.emit_message = on_message;
    r->errors.output_message = on_output;
    r->status = CNN_OK;
    if (setjmp(r->jump) == 0) {
        jpeg_create_decompress(&r->cinfo);
        run(ctx, name, r, data, size, channels, min_width, min_height, out);
    } else {
        r->status = cnn_fail(ctx, CNN_ERR_FORMAT, "%s: corrupt JPEG: %s",
                             name, r->message);
    }
    jpeg_destroy_decompress(&r->cinfo);
    free(r->pixels); /* still set only after a failure */
    st = r->status;
    if (st == CNN_OK)
        *info = r->info;
    else if (out)
        memset(out, 0, sizeof *out);
    free(r);
    return st;
}
