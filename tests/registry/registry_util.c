/* SPDX-License-Identifier: MIT */
/* Shared by the registry tests: a temporary directory per test, file
 * copies, and assertions on messages. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry_util.h"

char tmp_root[4096];

void make_tmp(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmp_root, sizeof tmp_root, "%s/cnn-registry-XXXXXX",
             base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(tmp_root), "mkdtemp failed");
}

static void remove_tree(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[4096 + 256];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && depth > 0)
            remove_tree(path, depth - 1);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void drop_tmp(void)
{
    if (tmp_root[0])
        remove_tree(tmp_root, 2);
}

const char *tmp_dir(const char *sub, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", tmp_root, sub);
    cr_assert_eq(mkdir(buf, 0700), 0, "mkdir %s", buf);
    return buf;
}

void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    FILE *out;
    char buf[65536];
    size_t n;
    cr_assert_not_null(in, "cannot open %s", from);
    out = fopen(to, "wb");
    cr_assert_not_null(out, "cannot create %s", to);
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, out), n);
    cr_assert_eq(ferror(in), 0);
    fclose(in);
    cr_assert_eq(fclose(out), 0);
}

void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

cnn_context *ctx_with(const char *dir)
{
    cnn_context *ctx = cnn_context_create();
    cr_assert_not_null(ctx);
    cnn_context_set_default_plugin_dirs(ctx, 0);
    if (dir)
        cr_assert_eq(cnn_context_add_plugin_dir(ctx, dir), CNN_OK);
    return ctx;
}

void assert_has(const char *msg, const char *word)
{
    cr_assert_not_null(strstr(msg, word), "message \"%s\" lacks \"%s\"", msg,
                       word);
}

void expect_refused(const char *type, cnn_status status, ...)
{
    cnn_context *ctx = ctx_with(FIXTURE);
    static int sentinel;
    const cnn_plugin *plugin = (const cnn_plugin *)(const void *)&sentinel;
    char path[4096];
    const char *msg;
    va_list ap;
    const char *word;
    cnn_status st = cnn_plugin_get(ctx, type, &plugin);
    msg = cnn_context_message(ctx);
    cr_assert_eq(st, status, "%s: status %d (%s), expected %d", type, st, msg,
                 status);
    cr_assert_eq(cnn_context_status(ctx), status);
    cr_assert_null(plugin, "out is cleared on failure");
    snprintf(path, sizeof path, "%s/%s.so", FIXTURE, type);
    assert_has(msg, path);
    va_start(ap, status);
    while ((word = va_arg(ap, const char *)) != NULL)
        assert_has(msg, word);
    va_end(ap);
    /* Failures are not cached: the same error comes back. */
    cr_assert_eq(cnn_plugin_get(ctx, type, &plugin), status);
    assert_has(cnn_context_message(ctx), path);
    cnn_context_destroy(ctx);
}

void place_order(const char *dir, const char *which)
{
    char from[4200], to[4300];
    snprintf(from, sizeof from, "%s/order_%s.so", FIXTURE, which);
    snprintf(to, sizeof to, "%s/order.so", dir);
    copy_file(from, to);
}
