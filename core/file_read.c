/* SPDX-License-Identifier: MIT */
#include "cnn/file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "context_internal.h"

static const char *kind_of(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO (named pipe)";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a plain file";
}

static cnn_status not_regular(cnn_context *ctx, const char *path, mode_t mode)
{
    return cnn_fail(ctx, CNN_ERR_IO,
                    "%s: not a regular file (it is %s); only regular files "
                    "are read",
                    path, kind_of(mode));
}

static cnn_status open_failed(cnn_context *ctx, const char *path, int err)
{
    return cnn_fail(ctx, err == ENOENT ? CNN_ERR_NOT_FOUND : CNN_ERR_IO,
                    "%s: cannot open: %s", path, strerror(err));
}

cnn_status cnn_file_open_regular(cnn_context *ctx, const char *path, int *fd,
                                 uint64_t *size)
{
    struct stat st;
    int flags;
    *fd = -1;
    if (!path || !*path)
        return cnn_fail(ctx, CNN_ERR_INVALID, "empty file name");
    if (stat(path, &st) != 0)
        return open_failed(ctx, path, errno);
    if (!S_ISREG(st.st_mode))
        return not_regular(ctx, path, st.st_mode);
    *fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (*fd < 0)
        return open_failed(ctx, path, errno);
    if (fstat(*fd, &st) != 0) {
        int err = errno;
        close(*fd);
        *fd = -1;
        return cnn_fail(ctx, CNN_ERR_IO, "%s: cannot stat: %s", path,
                        strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(*fd);
        *fd = -1;
        return not_regular(ctx, path, st.st_mode);
    }
    /* Reads of a regular file never block anyway; clearing the flag keeps
     * the descriptor ordinary for whoever reads it (zlib, stdio). */
    flags = fcntl(*fd, F_GETFL);
    if (flags < 0 || fcntl(*fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int err = errno;
        close(*fd);
        *fd = -1;
        return cnn_fail(ctx, CNN_ERR_IO, "%s: cannot set up reading: %s",
                        path, strerror(err));
    }
    if (size)
        *size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
    return CNN_OK;
}

cnn_status cnn_file_fopen_regular(cnn_context *ctx, const char *path,
                                  FILE **out, uint64_t *size)
{
    int fd;
    cnn_status st = cnn_file_open_regular(ctx, path, &fd, size);
    *out = NULL;
    if (st != CNN_OK)
        return st;
    *out = fdopen(fd, "rb");
    if (!*out) {
        int err = errno;
        close(fd);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: cannot open a stream: %s",
                        path, strerror(err));
    }
    return CNN_OK;
}

cnn_status cnn_file_read_all(cnn_context *ctx, const char *path,
                             size_t max_bytes, const char *what,
                             unsigned char **data, size_t *size)
{
    uint64_t file_size;
    unsigned char *buf;
    size_t got = 0;
    int fd;
    cnn_status st = cnn_file_open_regular(ctx, path, &fd, &file_size);
    *data = NULL;
    *size = 0;
    if (st != CNN_OK)
        return st;
    if (file_size > max_bytes) {
        close(fd);
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: %llu bytes is too large for a %s (the limit is "
                        "%zu bytes)",
                        path, (unsigned long long)file_size, what, max_bytes);
    }
    buf = malloc((size_t)file_size + 1);
    if (!buf) {
        close(fd);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory for %llu bytes",
                        path, (unsigned long long)file_size);
    }
    /* One byte past the size is asked for, so a file that grew since the
     * fstat is noticed instead of silently cut. */
    for (;;) {
        size_t want = (size_t)file_size + 1 - got;
        ssize_t n = want ? read(fd, buf + got, want) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            free(buf);
            return cnn_fail(ctx, CNN_ERR_IO, "%s: read failed: %s", path,
                            strerror(err));
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != file_size) {
        free(buf);
        return cnn_fail(ctx, CNN_ERR_IO,
                        "%s: the file changed size while being read (%llu "
                        "bytes, then %zu%s)",
                        path, (unsigned long long)file_size,
                        got, got > file_size ? " or more" : "");
    }
    buf[got] = 0;
    *data = buf;
    *size = got;
    return CNN_OK;
}
