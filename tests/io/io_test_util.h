/* SPDX-License-Identifier: MIT */
/* Helpers shared by the tests/io suites: a scratch folder per test, whole
 * file reads and writes, and a count of leftover temporary files. */
#ifndef CNN_TESTS_IO_TEST_UTIL_H
#define CNN_TESTS_IO_TEST_UTIL_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnn/context.h"

#define FIXTURE(name) CNN_TEST_FIXTURES "/io/" name

typedef struct io_env {
    char dir[64];
    cnn_context *ctx;
} io_env;

static inline void io_env_setup(io_env *env)
{
    strcpy(env->dir, "/tmp/cnn-io-test-XXXXXX");
    cr_assert_not_null(mkdtemp(env->dir));
    env->ctx = cnn_context_create();
    cr_assert_not_null(env->ctx);
}

/* rm -r of a scratch folder (nftw needs _XOPEN_SOURCE; this is enough). */
static inline void io_remove_tree(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *entry;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode) && (d = opendir(path))) {
        while ((entry = readdir(d))) {
            char child[1024];
            if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, ".."))
                continue;
            if (snprintf(child, sizeof child, "%s/%s", path, entry->d_name) >=
                (int)sizeof child)
                continue;
            io_remove_tree(child);
        }
        closedir(d);
    }
    remove(path);
}

static inline void io_env_teardown(io_env *env)
{
    cnn_context_destroy(env->ctx);
    io_remove_tree(env->dir);
}

/* env->dir + "/" + name into buf (static storage per call site is fine for
 * tests: callers copy when they need two). */
static inline void io_path(const io_env *env, const char *name, char *buf,
                           size_t size)
{
    int n = snprintf(buf, size, "%s/%s", env->dir, name);
    cr_assert(n > 0 && (size_t)n < size);
}

static inline void io_write_file(const char *path, const void *data,
                                 size_t size)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, size, f), size);
    cr_assert_eq(fclose(f), 0);
}

/* Whole file, malloc'd; *size set. */
static inline unsigned char *io_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data;
    long length;
    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    length = ftell(f);
    cr_assert(length >= 0);
    rewind(f);
    data = malloc((size_t)length + 1);
    cr_assert_not_null(data);
    cr_assert_eq(fread(data, 1, (size_t)length, f), (size_t)length);
    fclose(f);
    *size = (size_t)length;
    return data;
}

/* Entries of dir whose name holds ".tmp-" (what atomic_file leaves if it
 * fails to clean up). */
static inline int io_count_temp_files(const char *dir)
{
    int count = 0;
    struct dirent *entry;
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    while ((entry = readdir(d)))
        if (strstr(entry->d_name, ".tmp-"))
            count++;
    closedir(d);
    return count;
}

#define cr_assert_msg_has(ctx, text)                                           \
    cr_assert(strstr(cnn_context_message(ctx), (text)) != NULL,               \
              "message \"%s\" lacks \"%s\"", cnn_context_message(ctx), (text))

#endif
