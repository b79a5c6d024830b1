/* SPDX-License-Identifier: MIT */
/* The image decoder (cnn/image.h): every PNG layout (gray at 1 to 16 bits,
 * gray+alpha, RGB, RGBA, palette with transparency, interlaced, with a
 * gAMA chunk) and gray or colour JPEG (baseline, progressive) to 1 and 3
 * channels; the format told by content, other formats named; truncated and
 * corrupt files named; oversized headers refused before any pixel buffer
 * exists; and mutated files never crash the decoder (run under ASan). The
 * images are written here with libpng and libjpeg (image_write.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include <jpeglib.h>

#include "cnn/data.h"
#include "cnn/image.h"
#include "data_util.h"
#include "image_write.h"

static char *dir;
static cnn_context *ctx;

static void setup(void)
{
    dir = du_tempdir();
    ctx = cnn_context_create();
}

static void teardown(void)
{
    cnn_context_destroy(ctx);
    du_rmtree(dir);
    free(dir);
}

TestSuite(image, .init = setup, .fini = teardown, .timeout = 60);

/* BT.601 luma, the reference for colour to gray. */
static int luma(int r, int g, int b)
{
    return (int)lround(0.299 * r + 0.587 * g + 0.114 * b);
}

static cnn_image decode_file(const char *path, int channels)
{
    cnn_image img;
    cnn_status st = cnn_image_read_file(ctx, path, channels, &img);
    cr_assert_eq(st, CNN_OK, "%s: %s", path, cnn_context_message(ctx));
    cr_assert_not_null(img.pixels);
    return img;
}

/* Fails unless decoding path fails with status and a message holding path
 * and each needle. */
static void expect_refused(const char *path, cnn_status status,
                           const char *n1, const char *n2)
{
    cnn_image img = {1, 1, 1, (uint8_t *)1};
    cnn_status st = cnn_image_read_file(ctx, path, 3, &img);
    const char *msg = cnn_context_message(ctx);
    cr_assert_eq(st, status, "%s: status %d: %s", path, st, msg);
    cr_assert_null(img.pixels, "output not cleared");
    cr_assert(strstr(msg, path), "path not in: %s", msg);
    cr_assert(!n1 || strstr(msg, n1), "'%s' not in: %s", n1, msg);
    cr_assert(!n2 || strstr(msg, n2), "'%s' not in: %s", n2, msg);
}

/* A 5x3 image: pixel (x, y) of channel c has a distinct value. */
enum { W = 5, H = 3 };
static int value8(int x, int y, int c)
{
    return (x * 50 + y * 30 + c * 70 + 7) % 256;
}

Test(image, png_gray_and_color_layouts_at_8_bits)
{
    /* channels in the file -> expected gray and RGB of every pixel. */
    for (int ch = 1; ch <= 4; ch++) {
        uint8_t px[W * H * 4];
        char path[64];
        cnn_image g, c;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int k = 0; k < ch; k++)
                    px[(y * W + x) * ch + k] = (uint8_t)value8(x, y, k);
        snprintf(path, sizeof path, "c%d.png", ch);
        du_write_png(du_path(dir, path), W, H, ch, px);
        g = decode_file(du_path(dir, path), 1);
        c = decode_file(du_path(dir, path), 3);
        cr_assert(g.width == W && g.height == H && g.channels == 1);
        cr_assert(c.width == W && c.height == H && c.channels == 3);
        for (int i = 0; i < W * H; i++) {
            const uint8_t *s = px + i * ch;
            int color = ch >= 3; /* alpha (channel 2 or 4) is dropped */
            int want_g = color ? luma(s[0], s[1], s[2]) : s[0];
            cr_assert(abs(g.pixels[i] - want_g) <= 1,
                      "%d channels, pixel %d: gray %d, want %d", ch, i,
                      g.pixels[i], want_g);
            for (int k = 0; k < 3; k++)
                cr_assert_eq(c.pixels[3 * i + k], color ? s[k] : s[0],
                             "%d channels, pixel %d, channel %d", ch, i, k);
        }
        cnn_image_free(&g);
        cnn_image_free(&c);
    }
}

Test(image, png_low_bit_gray_16_bit_and_interlaced)
{
    static const int depths[] = {1, 2, 4, 8, 16};
    for (size_t d = 0; d < sizeof depths / sizeof *depths; d++) {
        for (int interlace = 0; interlace <= 1; interlace++) {
            int bits = depths[d];
            unsigned max = (1u << bits) - 1;
            uint16_t samples[W * H];
            iw_png spec = {0};
            char path[64];
            cnn_image g;
            for (int i = 0; i < W * H; i++)
                samples[i] = (uint16_t)((unsigned)(i * 4099 + 3) % (max + 1));
            spec.color_type = PNG_COLOR_TYPE_GRAY;
            spec.bit_depth = bits;
            spec.interlace = interlace;
            spec.samples = samples;
            snprintf(path, sizeof path, "g%d-%d.png", bits, interlace);
            iw_write_png(du_path(dir, path), W, H, &spec);
            g = decode_file(du_path(dir, path), 1);
            for (int i = 0; i < W * H; i++) {
                int want = (int)lround(samples[i] * 255.0 / max);
                cr_assert(abs(g.pixels[i] - want) <= (bits == 16),
                          "%d bits, interlace %d, pixel %d: %d, want %d",
                          bits, interlace, i, g.pixels[i], want);
            }
            cnn_image_free(&g);
        }
    }
}

Test(image, png_16_bit_rgba_to_rgb_and_gray)
{
    uint16_t samples[W * H * 4];
    iw_png spec = {0};
    cnn_image g, c;
    for (int i = 0; i < W * H * 4; i++)
        samples[i] = (uint16_t)((i * 7919 + 11) % 65536);
    spec.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
    spec.bit_depth = 16;
    spec.samples = samples;
    iw_write_png(du_path(dir, "rgba16.png"), W, H, &spec);
    c = decode_file(du_path(dir, "rgba16.png"), 3);
    g = decode_file(du_path(dir, "rgba16.png"), 1);
    for (int i = 0; i < W * H; i++) {
        int r = (int)lround(samples[4 * i] / 257.0);
        int gr = (int)lround(samples[4 * i + 1] / 257.0);
        int b = (int)lround(samples[4 * i + 2] / 257.0);
        cr_assert(abs(c.pixels[3 * i] - r) <= 1 &&
                      abs(c.pixels[3 * i + 1] - gr) <= 1 &&
                      abs(c.pixels[3 * i + 2] - b) <= 1,
                  "pixel %d", i);
        cr_assert(abs(g.pixels[i] - luma(r, gr, b)) <= 2, "gray pixel %d: %d vs %d",
                  i, g.pixels[i], luma(r, gr, b));
    }
    cnn_image_free(&g);
    cnn_image_free(&c);
}

Test(image, png_palette_with_transparency)
{
    static const uint8_t palette[4 * 3] = {255, 0, 0, 0, 255, 0,
                                           0, 0, 255, 10, 20, 30};
    static const uint8_t trns[2] = {0, 128};
    for (int bits = 2; bits <= 8; bits += 6) {
        uint16_t idx[W * H];
        iw_png spec = {0};
        cnn_image c, g;
        cnn_image_info info;
        unsigned char *bytes;
        size_t n;
        for (int i = 0; i < W * H; i++)
            idx[i] = (uint16_t)(i % 4);
        spec.color_type = PNG_COLOR_TYPE_PALETTE;
        spec.bit_depth = bits;
        spec.samples = idx;
        spec.palette = palette;
        spec.n_palette = 4;
        spec.trns = trns;
        spec.n_trns = 2;
        iw_write_png(du_path(dir, "pal.png"), W, H, &spec);
        bytes = du_read(du_path(dir, "pal.png"), &n);
        cr_assert_eq(cnn_image_probe(ctx, "pal.png", bytes, n, &info), CNN_OK);
        cr_assert(info.format == CNN_IMAGE_PNG && info.width == W &&
                  info.height == H && info.channels == 3);
        free(bytes);
        c = decode_file(du_path(dir, "pal.png"), 0); /* native: RGB */
        g = decode_file(du_path(dir, "pal.png"), 1);
        cr_assert_eq(c.channels, 3);
        for (int i = 0; i < W * H; i++) {
            const uint8_t *p = palette + 3 * (i % 4);
            for (int k = 0; k < 3; k++)
                cr_assert_eq(c.pixels[3 * i + k], p[k], "pixel %d", i);
            cr_assert(abs(g.pixels[i] - luma(p[0], p[1], p[2])) <= 1);
        }
        cnn_image_free(&c);
        cnn_image_free(&g);
    }
}

Test(image, png_gamma_chunk_does_not_change_gray)
{
    /* Colour management is ignored: gray is the luma of the stored values,
     * with or without a gAMA chunk, as for JPEG. */
    uint16_t samples[W * H * 3];
    iw_png spec = {0};
    cnn_image a, b;
    for (int i = 0; i < W * H * 3; i++)
        samples[i] = (uint16_t)value8(i % W, i / W % H, i % 3);
    spec.color_type = PNG_COLOR_TYPE_RGB;
    spec.bit_depth = 8;
    spec.samples = samples;
    iw_write_png(du_path(dir, "plain.png"), W, H, &spec);
    spec.gamma = 1.0 / 2.2;
    iw_write_png(du_path(dir, "gamma.png"), W, H, &spec);
    a = decode_file(du_path(dir, "plain.png"), 1);
    b = decode_file(du_path(dir, "gamma.png"), 1);
    cr_assert_arr_eq(a.pixels, b.pixels, W * H);
    cnn_image_free(&a);
    cnn_image_free(&b);
}

Test(image, jpeg_gray_and_color_baseline_and_progressive)
{
    enum { JW = 32, JH = 24 };
    uint8_t rgb[JW * JH * 3], gray[JW * JH];
    for (int y = 0; y < JH; y++)
        for (int x = 0; x < JW; x++) {
            /* Smooth ramps: what JPEG keeps within a few levels. */
            rgb[(y * JW + x) * 3] = (uint8_t)(x * 8);
            rgb[(y * JW + x) * 3 + 1] = (uint8_t)(y * 10);
            rgb[(y * JW + x) * 3 + 2] = 128;
            gray[y * JW + x] = (uint8_t)(x * 4 + y * 4);
        }
    for (int progressive = 0; progressive <= 1; progressive++) {
        cnn_image c, g, gg, gc;
        iw_write_jpeg(du_path(dir, "c.jpg"), JW, JH, 3, rgb, 95, progressive);
        iw_write_jpeg(du_path(dir, "g.jpg"), JW, JH, 1, gray, 95, progressive);
        c = decode_file(du_path(dir, "c.jpg"), 3);
        g = decode_file(du_path(dir, "c.jpg"), 1);
        gg = decode_file(du_path(dir, "g.jpg"), 1);
        gc = decode_file(du_path(dir, "g.jpg"), 3);
        cr_assert(c.width == JW && c.height == JH && g.channels == 1);
        for (int i = 0; i < JW * JH; i++) {
            const uint8_t *s = rgb + 3 * i;
            for (int k = 0; k < 3; k++)
                cr_assert(abs(c.pixels[3 * i + k] - s[k]) <= 12,
                          "colour pixel %d channel %d: %d vs %d", i, k,
                          c.pixels[3 * i + k], s[k]);
            cr_assert(abs(g.pixels[i] - luma(s[0], s[1], s[2])) <= 6,
                      "gray of colour pixel %d: %d vs %d", i, g.pixels[i],
                      luma(s[0], s[1], s[2]));
            cr_assert(abs(gg.pixels[i] - gray[i]) <= 6, "gray pixel %d", i);
            for (int k = 0; k < 3; k++) /* gray replicated exactly */
                cr_assert_eq(gc.pixels[3 * i + k], gg.pixels[i]);
        }
        cnn_image_free(&c);
        cnn_image_free(&g);
        cnn_image_free(&gg);
        cnn_image_free(&gc);
    }
}

Test(image, format_told_by_content_not_name)
{
    uint8_t px[4 * 4 * 3];
    cnn_image a;
    memset(px, 90, sizeof px);
    du_write_jpg(du_path(dir, "really-a-jpeg.png"), 4, 4, 3, px);
    a = decode_file(du_path(dir, "really-a-jpeg.png"), 3);
    cr_assert(abs(a.pixels[0] - 90) <= 3);
    cnn_image_free(&a);

    /* The case: a 16-bit PNM with another channel count, named
     * .png, is refused by its bytes, not read out of bounds. */
    {
        static const char pnm[] = "P6\n2 2\n65535\n";
        unsigned char data[sizeof pnm - 1 + 2 * 2 * 3 * 2];
        memcpy(data, pnm, sizeof pnm - 1);
        memset(data + sizeof pnm - 1, 0xab, sizeof data - (sizeof pnm - 1));
        du_write(du_path(dir, "pnm.png"), data, sizeof data);
        expect_refused(du_path(dir, "pnm.png"), CNN_ERR_UNSUPPORTED,
                       "a PNM/PAM (Netpbm) image, not PNG or JPEG",
                       "told by the file's first bytes");
    }
    du_write(du_path(dir, "gif.png"), "GIF89a\1\0\1\0\0\0\0;", 14);
    expect_refused(du_path(dir, "gif.png"), CNN_ERR_UNSUPPORTED, "a GIF image",
                   NULL);
    du_write(du_path(dir, "bmp.jpg"), "BM\x3a\0\0\0\0\0\0\0\x36\0\0\0", 14);
    expect_refused(du_path(dir, "bmp.jpg"), CNN_ERR_UNSUPPORTED, "a BMP image",
                   NULL);
    du_write(du_path(dir, "text.png"), "not a png at all", 16);
    expect_refused(du_path(dir, "text.png"), CNN_ERR_FORMAT,
                   "not a PNG or JPEG image",
                   "first bytes are 6e 6f 74 20 61 20 70 6e");
    du_write(du_path(dir, "empty.png"), "", 0);
    expect_refused(du_path(dir, "empty.png"), CNN_ERR_FORMAT, "empty file",
                   NULL);
}

Test(image, truncated_and_corrupt_files_are_named)
{
    uint8_t px[16 * 16 * 3];
    unsigned char *bytes;
    size_t n;
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 37);
    du_write_png(du_path(dir, "full.png"), 16, 16, 3, px);
    du_write_jpg(du_path(dir, "full.jpg"), 16, 16, 3, px);

    bytes = du_read(du_path(dir, "full.png"), &n);
    du_write(du_path(dir, "half.png"), bytes, n / 2);
    expect_refused(du_path(dir, "half.png"), CNN_ERR_FORMAT, "corrupt PNG",
                   "truncated");
    du_write(du_path(dir, "head.png"), bytes, 20); /* cut inside IHDR */
    expect_refused(du_path(dir, "head.png"), CNN_ERR_FORMAT, "corrupt PNG",
                   "truncated");
    du_write(du_path(dir, "noend.png"), bytes, n - 12); /* no IEND */
    expect_refused(du_path(dir, "noend.png"), CNN_ERR_FORMAT, "corrupt PNG",
                   NULL);
    bytes[30] ^= 0x40; /* inside IHDR: the CRC no longer matches */
    du_write(du_path(dir, "crc.png"), bytes, n);
    expect_refused(du_path(dir, "crc.png"), CNN_ERR_FORMAT, "corrupt PNG",
                   "CRC");
    free(bytes);

    bytes = du_read(du_path(dir, "full.jpg"), &n);
    du_write(du_path(dir, "half.jpg"), bytes, n / 2);
    /* libjpeg would warn and fill the rest with gray; that is an error. */
    expect_refused(du_path(dir, "half.jpg"), CNN_ERR_FORMAT, "corrupt JPEG",
                   "Premature end of JPEG file");
    du_write(du_path(dir, "head.jpg"), bytes, 40);
    expect_refused(du_path(dir, "head.jpg"), CNN_ERR_FORMAT, "corrupt JPEG",
                   NULL);
    free(bytes);
}

/* A PNG signature and IHDR of the given size, and nothing else. */
static void write_png_header(const char *path, uint32_t w, uint32_t h)
{
    unsigned char b[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                           0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    uint32_t crc;
    for (int i = 0; i < 4; i++) {
        b[16 + i] = (unsigned char)(w >> (24 - 8 * i));
        b[20 + i] = (unsigned char)(h >> (24 - 8 * i));
    }
    b[24] = 8; /* bit depth */
    b[25] = 2; /* RGB */
    crc = (uint32_t)crc32(0, b + 12, 17);
    for (int i = 0; i < 4; i++)
        b[29 + i] = (unsigned char)(crc >> (24 - 8 * i));
    du_write(path, b, sizeof b);
}

Test(image, huge_headers_refused_before_decoding)
{
    uint8_t px[8 * 8 * 3] = {0};
    unsigned char *bytes;
    size_t n;
    cnn_image_info info;
    write_png_header(du_path(dir, "wide.png"), 100000, 100000);
    expect_refused(du_path(dir, "wide.png"), CNN_ERR_FORMAT,
                   "PNG image of 100000x100000 pixels is outside the limits",
                   "refused before decoding");
    /* Each side within 16384, but 256 Mpixel in all. */
    write_png_header(du_path(dir, "square.png"), 16384, 16384);
    expect_refused(du_path(dir, "square.png"), CNN_ERR_FORMAT,
                   "16384x16384", "64 Mpixel");
    /* The largest allowed passes the size check (then fails as truncated). */
    write_png_header(du_path(dir, "max.png"), 8192, 8192);
    expect_refused(du_path(dir, "max.png"), CNN_ERR_FORMAT, "corrupt PNG",
                   NULL);

    /* A JPEG whose frame header claims 60000x60000: patch SOF0's size. */
    du_write_jpg(du_path(dir, "small.jpg"), 8, 8, 3, px);
    bytes = du_read(du_path(dir, "small.jpg"), &n);
    for (size_t i = 0; i + 9 < n; i++)
        if (bytes[i] == 0xff && bytes[i + 1] == 0xc0) {
            bytes[i + 5] = 0xea; /* height 60000 */
            bytes[i + 6] = 0x60;
            bytes[i + 7] = 0xea; /* width 60000 */
            bytes[i + 8] = 0x60;
            break;
        }
    cr_assert_eq(cnn_image_probe(ctx, "huge.jpg", bytes, n, &info),
                 CNN_ERR_FORMAT);
    cr_assert(strstr(cnn_context_message(ctx),
                     "huge.jpg: JPEG image of 60000x60000 pixels is outside"),
              "%s", cnn_context_message(ctx));
    free(bytes);
}

Test(image, cmyk_jpeg_refused)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    unsigned char *mem = NULL;
    unsigned long size = 0;
    uint8_t row[4 * 4];
    JSAMPROW r = row;
    cnn_image img;
    memset(row, 100, sizeof row);
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &mem, &size);
    c.image_width = 4;
    c.image_height = 1;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_start_compress(&c, TRUE);
    jpeg_write_scanlines(&c, &r, 1);
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    cr_assert_eq(cnn_image_decode(ctx, "cmyk.jpg", mem, size, 3, &img),
                 CNN_ERR_UNSUPPORTED);
    cr_assert(strstr(cnn_context_message(ctx), "cmyk.jpg: JPEG with 4 colour"),
              "%s", cnn_context_message(ctx));
    free(mem);
}

/* Mutated files: each must decode or fail with a message, never crash or
 * read out of bounds (the ASan build of the suite checks the latter). A
 * fixed seed makes the run the same every time. */
Test(image, mutated_files_never_crash, .timeout = 120)
{
    const char *names[2] = {"m.png", "m.jpg"};
    uint8_t px[12 * 10 * 3];
    uint64_t state = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 13);
    du_write_png(du_path(dir, names[0]), 12, 10, 3, px);
    du_write_jpg(du_path(dir, names[1]), 12, 10, 3, px);
    for (int f = 0; f < 2; f++) {
        size_t n;
        unsigned char *orig = du_read(du_path(dir, names[f]), &n);
        unsigned char *buf = malloc(n);
        int ok = 0, refused = 0;
        for (int round = 0; round < 1500; round++) {
            cnn_image img;
            size_t len = n;
            memcpy(buf, orig, n);
            for (int k = 0; k < 1 + round % 4; k++) {
                state = state * 6364136223846793005ull + 1442695040888963407ull;
                buf[(state >> 33) % n] ^= (unsigned char)(state >> 13);
            }
            if (round % 5 == 0)
                len = (size_t)(state >> 40) % n; /* and cut short */
            if (cnn_image_decode(ctx, names[f], buf, len, round % 2 ? 1 : 3,
                                 &img) == CNN_OK) {
                /* A mutated size field can still make a valid image. */
                cr_assert(img.width >= 1 && img.height >= 1 &&
                          img.channels == (round % 2 ? 1 : 3));
                cr_assert((uint64_t)img.width * (uint64_t)img.height <=
                          CNN_IMAGE_MAX_PIXELS);
                ok++;
            } else {
                cr_assert(strstr(cnn_context_message(ctx), names[f]));
                cr_assert_null(img.pixels);
                refused++;
            }
            cnn_image_free(&img);
        }
        cr_assert_gt(refused, 0);
        free(buf);
        free(orig);
    }
}

Test(image, folder_dataset_names_a_disguised_file)
{
    cnn_shape shape = cnn_shape4(1, 3, 4, 4);
    uint8_t px[4 * 4 * 3] = {0};
    char spec[4200];
    du_mkdir(du_path(dir, "f"));
    du_mkdir(du_path(dir, "f/a"));
    du_write_png(du_path(dir, "f/a/1.png"), 4, 4, 3, px);
    du_write(du_path(dir, "f/a/2.png"), "P5\n6000 6000\n65535\n", 19);
    snprintf(spec, sizeof spec, "folder:%s", du_path(dir, "f"));
    {
        /* A folder is only indexed at open: the disguised file is found
         * when its sample is decoded, and named then. */
        cnn_context *ctx = cnn_context_create();
        cnn_dataset *ds = NULL;
        uint8_t sample[3 * 4 * 4];
        size_t bad;
        cr_assert_eq(cnn_dataset_open(ctx, spec, &shape, &ds), CNN_OK, "%s",
                     cnn_context_message(ctx));
        cr_assert_eq(cnn_dataset_size(ds), 2);
        bad = strstr(cnn_dataset_item_path(ds, 0), "2.png") ? 0 : 1;
        cr_assert_eq(cnn_dataset_sample_u8(ctx, ds, 1 - bad, sample), CNN_OK);
        cr_assert_neq(cnn_dataset_sample_u8(ctx, ds, bad, sample), CNN_OK);
        cr_assert(strstr(cnn_context_message(ctx), du_path(dir, "f/a/2.png")),
                  "%s", cnn_context_message(ctx));
        cr_assert(strstr(cnn_context_message(ctx),
                         "a PNM/PAM (Netpbm) image, not PNG or JPEG"),
                  "%s", cnn_context_message(ctx));
        cnn_dataset_destroy(ds);
        cnn_context_destroy(ctx);
    }
}
