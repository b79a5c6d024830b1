/* SPDX-License-Identifier: MIT */
#include "image_write.h"

#include <criterion/criterion.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

static int type_channels(int color_type)
{
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
    case PNG_COLOR_TYPE_PALETTE:
        return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        return 2;
    case PNG_COLOR_TYPE_RGB:
        return 3;
    default:
        return 4;
    }
}

void iw_write_png(const char *path, int width, int height, const iw_png *spec)
{
    FILE *f = fopen(path, "wb");
    png_structp png;
    png_infop info;
    int ch = type_channels(spec->color_type);
    size_t row_bytes = ((size_t)width * (size_t)ch * (size_t)spec->bit_depth + 7) / 8;
    png_bytep *rows = calloc((size_t)height, sizeof *rows);
    cr_assert_not_null(f, "%s", path);
    cr_assert_not_null(rows);
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    info = png_create_info_struct(png);
    cr_assert(png && info);
    cr_assert_eq(setjmp(png_jmpbuf(png)), 0, "libpng failed writing %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height,
                 spec->bit_depth, spec->color_type,
                 spec->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (spec->color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color colours[256];
        for (int i = 0; i < spec->n_palette; i++) {
            colours[i].red = spec->palette[3 * i];
            colours[i].green = spec->palette[3 * i + 1];
            colours[i].blue = spec->palette[3 * i + 2];
        }
        png_set_PLTE(png, info, colours, spec->n_palette);
        if (spec->n_trns)
            png_set_tRNS(png, info, spec->trns, spec->n_trns, NULL);
    }
    if (spec->gamma > 0)
        png_set_gAMA(png, info, spec->gamma);
    /* Pack samples MSB first at the bit depth, big-endian for 16 bits. */
    for (int y = 0; y < height; y++) {
        rows[y] = calloc(row_bytes, 1);
        cr_assert_not_null(rows[y]);
        for (int i = 0; i < width * ch; i++) {
            unsigned v = spec->samples[(size_t)y * (size_t)width * (size_t)ch + (size_t)i];
            if (spec->bit_depth == 16) {
                rows[y][2 * i] = (png_byte)(v >> 8);
                rows[y][2 * i + 1] = (png_byte)v;
            } else if (spec->bit_depth == 8) {
                rows[y][i] = (png_byte)v;
            } else {
                int bits = spec->bit_depth;
                size_t bit = (size_t)i * (size_t)bits;
                rows[y][bit / 8] |= (png_byte)(v << (8 - bits - bit % 8));
            }
        }
    }
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    for (int y = 0; y < height; y++)
        free(rows[y]);
    free(rows);
    cr_assert_eq(fclose(f), 0);
}

void iw_write_png8(const char *path, int width, int height, int channels,
                   const uint8_t *pixels)
{
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY,
                                 PNG_COLOR_TYPE_GRAY_ALPHA,
                                 PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    size_t n = (size_t)width * (size_t)height * (size_t)channels;
    uint16_t *samples = malloc(n * sizeof *samples);
    iw_png spec = {0};
    cr_assert(channels >= 1 && channels <= 4);
    cr_assert_not_null(samples);
    for (size_t i = 0; i < n; i++)
        samples[i] = pixels[i];
    spec.color_type = types[channels];
    spec.bit_depth = 8;
    spec.samples = samples;
    iw_write_png(path, width, height, &spec);
    free(samples);
}

void iw_write_jpeg(const char *path, int width, int height, int channels,
                   const uint8_t *pixels, int quality, int progressive)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)width;
    c.image_height = (JDIMENSION)height;
    c.input_components = channels;
    c.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    if (progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)c.next_scanline *
                                               (size_t)width * (size_t)channels);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    cr_assert_eq(fclose(f), 0);
}
