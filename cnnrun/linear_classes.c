/* SPDX-License-Identifier: MIT */
/* Class-name files beside labels files; see linear_classes.h. */
#include "linear_classes.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnn/atomic_file.h"
#include "linear_model.h"

#define CLASSES_FILE_MAX (16u << 20)

char *linear_classes_path(const char *labels_path)
{
    static const char suffix[] = ".classes.json";
    size_t len = strlen(labels_path);
    char *path;
    if (len >= 4 && strcmp(labels_path + len - 4, ".npy") == 0)
        len -= 4;
    path = malloc(len + sizeof suffix);
    if (!path)
        return NULL;
    memcpy(path, labels_path, len);
    memcpy(path + len, suffix, sizeof suffix);
    return path;
}

cnn_status linear_classes_write(cnn_context *ctx, const char *path,
                                const char *const *names, size_t n)
{
    json_t *array = json_array();
    char *text = NULL;
    cnn_status st;
    for (size_t i = 0; array && i < n; i++)
        if (json_array_append_new(array, json_string(names[i])) != 0) {
            json_decref(array);
            array = NULL;
        }
    if (array)
        text = json_dumps(array, JSON_COMPACT);
    json_decref(array);
    if (!text)
        return cnn_context_fail(ctx, CNN_ERR_NOMEM,
                                "%s: out of memory (or a class name that is "
                                "not UTF-8)",
                                path);
    st = cnn_atomic_file_write_all(ctx, path, text, strlen(text));
    free(text);
    return st;
}

cnn_status linear_classes_read(cnn_context *ctx, const char *path,
                               int missing_ok, char ***names, size_t *n,
                               int *found)
{
    struct stat sb;
    char *text;
    size_t got = 0;
    cnn_status st;
    int fd;
    *names = NULL;
    *n = 0;
    *found = 0;
    /* O_NONBLOCK: a FIFO planted under the name must not hang us. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && missing_ok)
            return CNN_OK;
        return cnn_context_fail(ctx, CNN_ERR_IO, "%s: cannot open: %s", path,
                                strerror(errno));
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        sb.st_size > (off_t)CLASSES_FILE_MAX) {
        close(fd);
        return cnn_context_fail(ctx, CNN_ERR_IO,
                                "%s: not a regular file of at most %u bytes",
                                path, CLASSES_FILE_MAX);
    }
    text = malloc((size_t)sb.st_size + 1);
    if (!text) {
        close(fd);
        return cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, text + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    st = linear_names_parse(ctx, path, text, got, names, n);
    free(text);
    if (st == CNN_OK)
        *found = 1;
    return st;
}
