/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* memmem */
#include "fuzz_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static cnn_context *context;
static char scratch[4096 - 64]; /* leaves room for a name in FUZZ_PATH_MAX */

static void remove_scratch(void)
{
    DIR *d = opendir(scratch);
    struct dirent *e;
    char path[FUZZ_PATH_MAX];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", scratch, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(scratch);
}

static void make_scratch(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(scratch, sizeof scratch, "%s/cnn-fuzz-XXXXXX", base);
    if (!mkdtemp(scratch)) {
        fprintf(stderr, "fuzz: cannot create a scratch folder in %s: %s\n",
                base, strerror(errno));
        abort();
    }
    atexit(remove_scratch);
}

cnn_context *fuzz_context(void)
{
    if (!context) {
        context = cnn_context_create();
        if (!context || cnn_context_set_threads(context, 1) != CNN_OK) {
            fprintf(stderr, "fuzz: cannot create a library context\n");
            abort();
        }
    }
    cnn_context_clear_error(context);
    return context;
}

int fuzz_ok(cnn_status st)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (st != CNN_OK && verbose)
        fprintf(stderr, "fuzz: refused: %s\n", cnn_context_message(context));
    return st == CNN_OK;
}

const char *fuzz_write_file(char *path, const char *name, const uint8_t *data,
                            size_t size)
{
    FILE *f;
    if (!scratch[0])
        make_scratch();
    snprintf(path, FUZZ_PATH_MAX, "%s/%s", scratch, name);
    f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
    return path;
}

void fuzz_split(const uint8_t *data, size_t size, const char *sep,
                const uint8_t **first, size_t *first_size,
                const uint8_t **second, size_t *second_size)
{
    size_t n = strlen(sep);
    const uint8_t *at = size ? memmem(data, size, sep, n) : NULL;
    *first = data;
    if (!at) {
        *first_size = size;
        *second = data + size;
        *second_size = 0;
        return;
    }
    *first_size = (size_t)(at - data);
    *second = at + n;
    *second_size = size - *first_size - n;
}
