/* SPDX-License-Identifier: MIT */
#include "data_util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "image_write.h"

char *du_tempdir(void)
{
    const char *base = getenv("TMPDIR");
    char *t = malloc(4096);
    cr_assert_not_null(t);
    snprintf(t, 4096, "%s/cnn-data-XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(t), "mkdtemp %s", t);
    return t;
}

void du_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) {
        unlink(dir);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            du_rmtree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

const char *du_path(const char *dir, const char *name)
{
    static char ring[8][4096];
    static int next;
    char *p = ring[next++ & 7];
    snprintf(p, 4096, "%s/%s", dir, name);
    return p;
}

void du_mkdir(const char *path)
{
    cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s", path);
}

void du_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "fopen %s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

void du_write_gz(const char *path, const void *data, size_t n)
{
    gzFile gz = gzopen(path, "wb9");
    cr_assert_not_null(gz, "gzopen %s", path);
    if (n)
        cr_assert_eq(gzwrite(gz, data, (unsigned)n), (int)n);
    cr_assert_eq(gzclose(gz), Z_OK);
}

unsigned char *du_read(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long len;
    cr_assert_not_null(f, "fopen %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    cr_assert_geq(len, 0);
    rewind(f);
    buf = malloc((size_t)len + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return buf;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

uint8_t du_pixel(uint32_t i, uint32_t y, uint32_t x)
{
    return (uint8_t)((i * 37u + y * 11u + x * 3u + 1u) & 0xffu);
}

unsigned char *du_idx_images(uint32_t count, uint32_t rows, uint32_t cols,
                             size_t *n)
{
    size_t len = 16 + (size_t)count * rows * cols;
    unsigned char *b = malloc(len);
    unsigned char *p = b + 16;
    cr_assert_not_null(b);
    b[0] = 0;
    b[1] = 0;
    b[2] = 0x08;
    b[3] = 3;
    put_be32(b + 4, count);
    put_be32(b + 8, rows);
    put_be32(b + 12, cols);
    for (uint32_t i = 0; i < count; i++)
        for (uint32_t y = 0; y < rows; y++)
            for (uint32_t x = 0; x < cols; x++)
                *p++ = du_pixel(i, y, x);
    *n = len;
    return b;
}

unsigned char *du_idx_labels(const int32_t *labels, uint32_t count, int type,
                             size_t *n)
{
    size_t width = type == 0x0C ? 4 : 1;
    size_t len = 8 + (size_t)count * width;
    unsigned char *b = malloc(len);
    cr_assert_not_null(b);
    b[0] = 0;
    b[1] = 0;
    b[2] = (unsigned char)type;
    b[3] = 1;
    put_be32(b + 4, count);
    for (uint32_t i = 0; i < count; i++) {
        if (width == 4)
            put_be32(b + 8 + 4 * (size_t)i, (uint32_t)labels[i]);
        else
            b[8 + i] = (unsigned char)labels[i];
    }
    *n = len;
    return b;
}

void du_write_png(const char *path, int w, int h, int channels,
                  const uint8_t *pixels)
{
    iw_write_png8(path, w, h, channels, pixels);
}

void du_write_jpg(const char *path, int w, int h, int channels,
                  const uint8_t *pixels)
{
    iw_write_jpeg(path, w, h, channels, pixels, 95, 0);
}

cnn_status du_expect_fail(const char *spec, const cnn_shape *shape,
                          const char *n1, const char *n2, const char *n3)
{
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *ds = (cnn_dataset *)1;
    cnn_status st;
    const char *msg;
    cr_assert_not_null(ctx);
    st = cnn_dataset_open(ctx, spec, shape, &ds);
    msg = cnn_context_message(ctx);
    cr_assert_neq(st, CNN_OK, "%s opened but should fail", spec);
    cr_assert_null(ds, "output not cleared on failure");
    cr_assert_eq(cnn_context_status(ctx), st);
    if (n1)
        cr_assert_not_null(strstr(msg, n1), "'%s' not in: %s", n1, msg);
    if (n2)
        cr_assert_not_null(strstr(msg, n2), "'%s' not in: %s", n2, msg);
    if (n3)
        cr_assert_not_null(strstr(msg, n3), "'%s' not in: %s", n3, msg);
    cnn_context_destroy(ctx);
    return st;
}

const uint8_t *du_sample_u8(const cnn_dataset *ds, size_t i)
{
    static uint8_t *ring[8];
    static size_t ring_bytes[8];
    static int next;
    int k = next++ & 7;
    cnn_shape s = cnn_dataset_sample_shape(ds);
    size_t bytes = (size_t)cnn_shape_numel(&s);
    cnn_context *ctx = cnn_context_create();
    cr_assert_not_null(ctx);
    if (ring_bytes[k] < bytes) {
        free(ring[k]);
        ring[k] = malloc(bytes);
        cr_assert_not_null(ring[k]);
        ring_bytes[k] = bytes;
    }
    cr_assert_eq(cnn_dataset_sample_u8(ctx, ds, i, ring[k]), CNN_OK,
                 "sample %zu: %s", i, cnn_context_message(ctx));
    cnn_context_destroy(ctx);
    return ring[k];
}

void du_sample(const cnn_dataset *ds, size_t i, float *out)
{
    cnn_context *ctx = cnn_context_create();
    cr_assert_not_null(ctx);
    cr_assert_eq(cnn_dataset_sample(ctx, ds, i, out), CNN_OK, "sample %zu: %s",
                 i, cnn_context_message(ctx));
    cnn_context_destroy(ctx);
}
