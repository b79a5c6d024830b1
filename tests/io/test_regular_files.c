/* SPDX-License-Identifier: MIT */
/* Every reader of untrusted files reads regular files only: a FIFO (which
 * blocked the open forever), a character device (endless) or a directory
 * is refused at once, with a message naming the path and what it is. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnn/data.h"
#include "cnn/file_read.h"
#include "cnn/graph.h"
#include "cnn/io.h"
#include "io_test_util.h"

static io_env env;
static char fifo[128], folder[128];

static void setup(void)
{
    io_env_setup(&env);
    snprintf(fifo, sizeof fifo, "%s/pipe", env.dir);
    snprintf(folder, sizeof folder, "%s/sub", env.dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(mkdir(folder, 0700), 0);
}

static void teardown(void)
{
    io_env_teardown(&env);
}

/* The special files each reader is tried on, and the word the message must
 * hold for each. */
static const char *special_path(int i)
{
    return i == 0 ? fifo : i == 1 ? folder : "/dev/zero";
}
static const char *special_kind(int i)
{
    return i == 0 ? "a FIFO" : i == 1 ? "a directory" : "a character device";
}

static void expect_refused(cnn_status st, const char *path, const char *kind)
{
    const char *msg = cnn_context_message(env.ctx);
    cr_assert_eq(st, CNN_ERR_IO, "%s: status %d: %s", path, st, msg);
    cr_assert(strstr(msg, path) && strstr(msg, "not a regular file") &&
                  strstr(msg, kind),
              "message: %s", msg);
}

TestSuite(regular_files, .init = setup, .fini = teardown, .timeout = 20);

Test(regular_files, helper_refuses_and_reads)
{
    int fd = 5;
    uint64_t size = 7;
    unsigned char *data;
    size_t n;
    char path[160];
    for (int i = 0; i < 3; i++) {
        expect_refused(cnn_file_open_regular(env.ctx, special_path(i), &fd,
                                             &size),
                       special_path(i), special_kind(i));
        cr_assert_eq(fd, -1);
    }
    cr_assert_eq(cnn_file_open_regular(env.ctx, "/nonexistent/x", &fd, NULL),
                 CNN_ERR_NOT_FOUND);
    snprintf(path, sizeof path, "%s/text", env.dir);
    FILE *f = fopen(path, "w");
    fputs("hello", f);
    fclose(f);
    cr_assert_eq(cnn_file_read_all(env.ctx, path, 5, "test file", &data, &n),
                 CNN_OK);
    cr_assert_eq(n, 5);
    cr_assert_str_eq((char *)data, "hello");
    free(data);
    cr_assert_eq(cnn_file_read_all(env.ctx, path, 4, "test file", &data, &n),
                 CNN_ERR_FORMAT);
    cr_assert(strstr(cnn_context_message(env.ctx),
                     "5 bytes is too large for a test file (the limit is 4"),
              "%s", cnn_context_message(env.ctx));
    /* A descriptor that is handed out is blocking again. */
    cr_assert_eq(cnn_file_open_regular(env.ctx, path, &fd, &size), CNN_OK);
    cr_assert_eq(size, 5);
    cr_assert_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    close(fd);
}

Test(regular_files, safetensors_npy_graph)
{
    for (int i = 0; i < 3; i++) {
        cnn_tensor_file *tf = NULL;
        cnn_tensor t;
        cnn_graph *g = NULL;
        expect_refused(cnn_safetensors_read(env.ctx, special_path(i), &tf),
                       special_path(i), special_kind(i));
        expect_refused(cnn_npy_read(env.ctx, special_path(i), &t),
                       special_path(i), special_kind(i));
        expect_refused(cnn_graph_load(env.ctx, special_path(i), &g),
                       special_path(i), special_kind(i));
        cr_assert_null(tf);
        cr_assert_null(g);
    }
}

Test(regular_files, datasets_and_images)
{
    cnn_shape shape = cnn_shape4(1, 1, 8, 8);
    for (int i = 0; i < 3; i++) {
        char spec[300];
        cnn_dataset *ds = NULL;
        const char *path = special_path(i);
        snprintf(spec, sizeof spec, "idx:%s,%s", path, path);
        cr_assert_neq(cnn_dataset_open(env.ctx, spec, &shape, &ds), CNN_OK);
        cr_assert(strstr(cnn_context_message(env.ctx), special_kind(i)), "%s",
                  cnn_context_message(env.ctx));
        expect_refused(
            cnn_dataset_open_files(env.ctx, &path, 1, &shape, &ds), path,
            special_kind(i));
        cr_assert_null(ds);
    }
}
