/* SPDX-License-Identifier: MIT */
/* Image decoding (cnn/image.h): tells the format from the first bytes,
 * hands PNG to libpng (image_png.c) and JPEG to libjpeg-turbo
 * (image_jpeg.c), and names whatever else the bytes are. This folder owns
 * every byte of image decoding in cnnrun; datasets and hosts call it and
 * nothing else, so they accept exactly the same files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../context_internal.h"
#include "cnn/file_read.h"
#include "cnn/memory.h"
#include "image_internal.h"

static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G',
                                           '\r', '\n', 0x1a, '\n'};

static int starts_with(const unsigned char *data, size_t size,
                       const char *magic, size_t length)
{
    return size >= length && memcmp(data, magic, length) == 0;
}

/* What a file that is neither PNG nor JPEG most likely is, for the
 * message; NULL when its first bytes match nothing known. */
static const char *other_format(const unsigned char *d, size_t n)
{
    if (n >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7' &&
        (d[2] == ' ' || d[2] == '\t' || d[2] == '\n' || d[2] == '\r' ||
         d[2] == '#'))
        return "a PNM/PAM (Netpbm) image";
    if (starts_with(d, n, "GIF87a", 6) || starts_with(d, n, "GIF89a", 6))
        return "a GIF image";
    if (starts_with(d, n, "BM", 2))
        return "a BMP image";
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
        return "a WebP image";
    if (starts_with(d, n, "II*\0", 4) || starts_with(d, n, "MM\0*", 4))
        return "a TIFF image";
    if (starts_with(d, n, "qoif", 4))
        return "a QOI image";
    if (starts_with(d, n, "8BPS", 4))
        return "a Photoshop (PSD) image";
    if (starts_with(d, n, "#?RADIANCE", 10) || starts_with(d, n, "#?RGBE", 6))
        return "a Radiance HDR image";
    if (starts_with(d, n, "\0\0\0\x0cjP  ", 8) ||
        starts_with(d, n, "\xff\x4f\xff\x51", 4))
        return "a JPEG 2000 image";
    if (n >= 8 && memcmp(d + 4, "ftyp", 4) == 0)
        return "an ISO media file (AVIF, HEIF or video)";
    if (starts_with(d, n, "v/1\x01", 4))
        return "an OpenEXR image";
    if (starts_with(d, n, "\0\0\1\0", 4))
        return "a Windows icon";
    return NULL;
}

static int is_png(const unsigned char *d, size_t n)
{
    return n >= sizeof png_magic && memcmp(d, png_magic, sizeof png_magic) == 0;
}

static int is_jpeg(const unsigned char *d, size_t n)
{
    return n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff;
}

static cnn_status unsupported(cnn_context *ctx, const char *name,
                              const unsigned char *d, size_t n)
{
    const char *what = other_format(d, n);
    char first[40] = "";
    if (n == 0)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: empty file, not a PNG or JPEG image", name);
    if (what)
        return cnn_fail(ctx, CNN_ERR_UNSUPPORTED,
                        "%s: %s, not PNG or JPEG (cnnrun reads PNG and JPEG "
                        "only, told by the file's first bytes, not its name)",
                        name, what);
    for (size_t i = 0, used = 0; i < n && i < 8; i++)
        used += (size_t)snprintf(first + used, sizeof first - used, "%s%02x",
                                 i ? " " : "", d[i]);
    return cnn_fail(ctx, CNN_ERR_FORMAT,
                    "%s: not a PNG or JPEG image (its first bytes are %s; "
                    "cnnrun reads PNG and JPEG only, told by the file's "
                    "first bytes, not its name)",
                    name, first);
}

cnn_status cnn_image_check_size(cnn_context *ctx, const char *name,
                                const char *format, uint64_t width,
                                uint64_t height, int32_t out_channels)
{
    char what[CNN_MESSAGE_MAX / 2];
    if (width < 1 || height < 1 || width > CNN_IMAGE_MAX_SIDE ||
        height > CNN_IMAGE_MAX_SIDE ||
        width * height > CNN_IMAGE_MAX_PIXELS)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: %s image of %llux%llu pixels is outside the "
                        "limits of 1..%d pixels per side and %u pixels (64 "
                        "Mpixel) in all; refused before decoding",
                        name, format, (unsigned long long)width,
                        (unsigned long long)height, CNN_IMAGE_MAX_SIDE,
                        CNN_IMAGE_MAX_PIXELS);
    snprintf(what, sizeof what, "%s: decoding the %llux%llu %s image", name,
             (unsigned long long)width, (unsigned long long)height, format);
    return cnn_memory_check(ctx, width * height * (uint64_t)out_channels,
                            what);
}

static cnn_status dispatch(cnn_context *ctx, const char *name,
                           const void *data, size_t size, int32_t channels,
                           int32_t min_width, int32_t min_height,
                           cnn_image_info *info, cnn_image *out)
{
    const unsigned char *d = data;
    if (!name)
        name = "<image>";
    if (channels != 0 && channels != 1 && channels != 3)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: images decode to 1 or 3 channels, not %d", name,
                        (int)channels);
    if (!d && size)
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s: no data", name);
    if (is_png(d, size))
        return cnn_png_decode(ctx, name, d, size, channels, info, out);
    if (is_jpeg(d, size))
        return cnn_jpeg_decode(ctx, name, d, size, channels, min_width,
                               min_height, info, out);
    return unsupported(ctx, name, d, size);
}

cnn_status cnn_image_probe(cnn_context *ctx, const char *name,
                           const void *data, size_t size,
                           cnn_image_info *info)
{
    memset(info, 0, sizeof *info);
    return dispatch(ctx, name, data, size, 0, 0, 0, info, NULL);
}

cnn_status cnn_image_decode(cnn_context *ctx, const char *name,
                            const void *data, size_t size, int32_t channels,
                            cnn_image *out)
{
    cnn_image_info info;
    memset(out, 0, sizeof *out);
    return dispatch(ctx, name, data, size, channels, 0, 0, &info, out);
}

cnn_status cnn_image_decode_reduced(cnn_context *ctx, const char *name,
                                    const void *data, size_t size,
                                    int32_t channels, int32_t min_width,
                                    int32_t min_height, cnn_image_info *info,
                                    cnn_image *out)
{
    memset(out, 0, sizeof *out);
    memset(info, 0, sizeof *info);
    return dispatch(ctx, name, data, size, channels, min_width, min_height,
                    info, out);
}

cnn_status cnn_image_read_file(cnn_context *ctx, const char *path,
                               int32_t channels, cnn_image *out)
{
    unsigned char *data;
    size_t size;
    cnn_status st;
    memset(out, 0, sizeof *out);
    st = cnn_file_read_all(ctx, path, CNN_IMAGE_MAX_FILE_BYTES, "image file",
                           &data, &size);
    if (st != CNN_OK)
        return st;
    st = cnn_image_decode(ctx, path, data, size, channels, out);
    free(data);
    return st;
}

void cnn_image_free(cnn_image *image)
{
    if (!image)
        return;
    free(image->pixels);
    memset(image, 0, sizeof *image);
}
