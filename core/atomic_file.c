/* SPDX-License-Identifier: MIT */
#include "cnn/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "context_internal.h"

/* Longest piece of the target's name kept in the temporary name, so that
 * ".<base>.tmp-" and mkstemp's six-character suffix stay under NAME_MAX
 * (255 on common file systems). */
#define TEMP_BASE_MAX 200
/* Characters mkstemp replaces at the end of its template. */
#define MKSTEMP_SUFFIX 6
/* One write(2) call moves at most this much: Linux caps a call near 2 GiB. */
#define WRITE_CHUNK ((size_t)1 << 30)

struct cnn_atomic_file {
    cnn_context *ctx;
    char *path; /* the target */
    char *temp; /* the mkstemp name, removed unless renamed */
    char *dir;  /* the folder to fsync after the rename */
    int fd;
    cnn_status status; /* first failure, CNN_OK while all is well */
};

static char *copy_span(const char *s, size_t length)
{
    char *copy = malloc(length + 1);
    if (copy) {
        memcpy(copy, s, length);
        copy[length] = '\0';
    }
    return copy;
}

/* The process umask. umask() can only be read by setting it, which races
 * with other threads creating files, so Linux's /proc entry is used; where
 * it is missing the most private mask is assumed. */
static mode_t current_umask(void)
{
    char line[128];
    unsigned int mask = 077;
    FILE *status = fopen("/proc/self/status", "r");
    if (!status)
        return (mode_t)mask;
    while (fgets(line, sizeof line, status)) {
        if (strncmp(line, "Umask:", 6) == 0) {
            char *end;
            unsigned long value = strtoul(line + 6, &end, 8);
            if (end != line + 6 && value <= 0777)
                mask = (unsigned int)value;
            break;
        }
    }
    fclose(status);
    return (mode_t)mask;
}

/* When this process started, in seconds since the epoch, from Linux's
 * /proc (the start in clock ticks after boot, and the boot time); 0 when
 * it cannot be told, which turns the stale-file clean-up off. */
static time_t process_start_time(void)
{
    char buf[1024];
    unsigned long long start_ticks = 0, boot = 0;
    long hz = sysconf(_SC_CLK_TCK);
    size_t n;
    char *p;
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f || hz <= 0) {
        if (f)
            fclose(f);
        return 0;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces: count from its ')'. */
    p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    if (!p || sscanf(p + 1, "%llu", &start_ticks) != 1)
        return 0;
    f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    while (fgets(buf, sizeof buf, f))
        if (sscanf(buf, "btime %llu", &boot) == 1)
            break;
    fclose(f);
    if (!boot)
        return 0;
    return (time_t)(boot + start_ticks / (unsigned long long)hz);
}

/* Whether name is "<prefix>" followed by exactly the six characters
 * mkstemp puts there (letters and digits). */
static int is_our_temp_name(const char *name, const char *prefix,
                            size_t prefix_length)
{
    if (strncmp(name, prefix, prefix_length) != 0 ||
        strlen(name) != prefix_length + MKSTEMP_SUFFIX)
        return 0;
    for (const char *c = name + prefix_length; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9')))
            return 0;
    return 1;
}

/* A save killed between mkstemp and rename leaves ".<base>.tmp-XXXXXX"
 * behind. Before writing the same target again, such files are removed:
 * only names of exactly that pattern (a target whose name was shortened
 * for the temporary shares it with others and is skipped), only regular
 * files (never a link) owned by this user, and only those last modified
 * before this process started, so a save in progress elsewhere (its file
 * is being written, so it is newer) is left alone. Best effort: a failure
 * here never fails the save. */
static void remove_stale_temps(cnn_context *ctx, const char *dir,
                               const char *prefix)
{
    size_t prefix_length = strlen(prefix);
    time_t started = process_start_time();
    struct dirent *entry;
    int dfd;
    DIR *d;
    if (!started)
        return;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return;
    d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    while ((entry = readdir(d))) {
        struct stat st;
        if (!is_our_temp_name(entry->d_name, prefix, prefix_length) ||
            fstatat(dfd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
            st.st_mtime >= started)
            continue;
        if (unlinkat(dfd, entry->d_name, 0) == 0)
            cnn_log(ctx, CNN_LOG_INFO,
                    "removed %s/%s, left by an interrupted save", dir,
                    entry->d_name);
    }
    closedir(d);
}

static void file_free(cnn_atomic_file *file)
{
    free(file->path);
    free(file->temp);
    free(file->dir);
    free(file);
}

/* Closes (if open) and unlinks the temporary file, keeping errno intact so
 * callers can still report the error that led here. */
static void discard_temp(cnn_atomic_file *file)
{
    int saved = errno;
    if (file->fd >= 0)
        close(file->fd);
    file->fd = -1;
    unlink(file->temp);
    errno = saved;
}

cnn_status cnn_atomic_file_open(cnn_context *ctx, const char *path,
                                cnn_atomic_file **out)
{
    cnn_atomic_file *file;
    const char *slash;
    const char *base;
    size_t dir_length; /* bytes of path up to and including the last '/' */
    size_t base_length;
    struct stat st;
    mode_t mode;

    *out = NULL;
    if (!path || !*path)
        return cnn_fail(ctx, CNN_ERR_INVALID, "empty output path");
    slash = strrchr(path, '/');
    base = slash ? slash + 1 : path;
    dir_length = (size_t)(base - path);
    base_length = strlen(base);
    if (base_length == 0)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "%s: output path names a folder, not a file", path);

    file = calloc(1, sizeof *file);
    if (!file)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", path);
    file->ctx = ctx;
    file->fd = -1;
    file->path = copy_span(path, strlen(path));
    if (dir_length == 0)
        file->dir = copy_span(".", 1);
    else if (dir_length == 1)
        file->dir = copy_span("/", 1);
    else
        file->dir = copy_span(path, dir_length - 1);
    if (base_length > TEMP_BASE_MAX)
        base_length = TEMP_BASE_MAX;
    file->temp = malloc(dir_length + base_length + 16);
    if (!file->path || !file->dir || !file->temp) {
        file_free(file);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory", path);
    }
    /* "<dir>/.<base>.tmp-" then mkstemp's template suffix, six 'X' that it
     * replaces with a unique name: a dot name keeps the temporary out of
     * casual listings and globs. */
    {
        char *end = file->temp + dir_length + 1 + base_length;
        memcpy(file->temp, path, dir_length);
        file->temp[dir_length] = '.';
        memcpy(file->temp + dir_length + 1, base, base_length);
        memcpy(end, ".tmp-", 5);
        memset(end + 5, 'X', MKSTEMP_SUFFIX);
        end[5 + MKSTEMP_SUFFIX] = '\0';
    }

    if (base_length == strlen(base)) {
        /* The prefix is the temporary name up to mkstemp's suffix. */
        char saved = file->temp[dir_length + 1 + base_length + 5];
        file->temp[dir_length + 1 + base_length + 5] = '\0';
        remove_stale_temps(ctx, file->dir, file->temp + dir_length);
        file->temp[dir_length + 1 + base_length + 5] = saved;
    }
    file->fd = mkstemp(file->temp);
    if (file->fd < 0) {
        int err = errno;
        file_free(file);
        return cnn_fail(ctx, CNN_ERR_IO,
                        "%s: cannot create a temporary file in its folder: %s",
                        path, strerror(err));
    }
    (void)fcntl(file->fd, F_SETFD, FD_CLOEXEC);

    /* mkstemp makes the file 0600; give it the mode a plain creat() would,
     * or keep the mode of the file being replaced. */
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        mode = st.st_mode & 07777;
    else
        mode = 0666 & ~current_umask();
    if (fchmod(file->fd, mode) != 0) {
        int err = errno;
        discard_temp(file);
        file_free(file);
        return cnn_fail(ctx, CNN_ERR_IO,
                        "%s: cannot set the temporary file's mode: %s", path,
                        strerror(err));
    }
    *out = file;
    return CNN_OK;
}

cnn_status cnn_atomic_file_write(cnn_atomic_file *file, const void *data,
                                 size_t size)
{
    const unsigned char *p = data;
    if (file->status != CNN_OK)
        return file->status;
    while (size > 0) {
        size_t want = size < WRITE_CHUNK ? size : WRITE_CHUNK;
        ssize_t done = write(file->fd, p, want);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0) {
            /* write() returning 0 for a non-zero request means no progress
             * is possible; report it like a full disk rather than spin. */
            int err = done < 0 ? errno : ENOSPC;
            file->status = cnn_fail(file->ctx, CNN_ERR_IO,
                                    "%s: write failed: %s", file->path,
                                    strerror(err));
            return file->status;
        }
        p += done;
        size -= (size_t)done;
    }
    return CNN_OK;
}

static int fsync_retry(int fd)
{
    int rc;
    do
        rc = fsync(fd);
    while (rc != 0 && errno == EINTR);
    return rc;
}

/* Makes the rename itself durable. File systems that cannot sync a folder
 * say EINVAL (or ENOTSUP); there is nothing more to do on those. */
static int fsync_dir(const char *dir)
{
    int rc;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    rc = fsync_retry(fd);
    if (rc != 0 && (errno == EINVAL || errno == ENOTSUP))
        rc = 0;
    if (rc != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    close(fd);
    return 0;
}

cnn_status cnn_atomic_file_commit(cnn_atomic_file *file)
{
    cnn_context *ctx = file->ctx;
    cnn_status st = file->status;
    int fd = file->fd;

    if (st != CNN_OK) {
        /* The write already put its message on ctx. */
        cnn_atomic_file_abort(file);
        return st;
    }
    if (fsync_retry(fd) != 0) {
        st = cnn_fail(ctx, CNN_ERR_IO, "%s: fsync failed: %s", file->path,
                      strerror(errno));
        cnn_atomic_file_abort(file);
        return st;
    }
    /* close() can report a deferred write error (NFS); it is not retried on
     * EINTR because the descriptor is gone either way on Linux. */
    file->fd = -1;
    if (close(fd) != 0) {
        st = cnn_fail(ctx, CNN_ERR_IO, "%s: close failed: %s", file->path,
                      strerror(errno));
        cnn_atomic_file_abort(file);
        return st;
    }
    if (rename(file->temp, file->path) != 0) {
        st = cnn_fail(ctx, CNN_ERR_IO,
                      "%s: cannot replace it with the new file: %s",
                      file->path, strerror(errno));
        cnn_atomic_file_abort(file);
        return st;
    }
    if (fsync_dir(file->dir) != 0) {
        /* The new file is in place already; only its durability after a
         * crash is in doubt, and the caller should know. */
        st = cnn_fail(ctx, CNN_ERR_IO,
                      "%s: written, but syncing its folder '%s' failed: %s",
                      file->path, file->dir, strerror(errno));
    }
    file_free(file);
    return st;
}

void cnn_atomic_file_abort(cnn_atomic_file *file)
{
    if (!file)
        return;
    discard_temp(file);
    file_free(file);
}

cnn_status cnn_atomic_file_write_all(cnn_context *ctx, const char *path,
                                     const void *data, size_t size)
{
    cnn_atomic_file *file;
    cnn_status st = cnn_atomic_file_open(ctx, path, &file);
    if (st != CNN_OK)
        return st;
    /* A failed write is kept on the handle and reported by commit. */
    (void)cnn_atomic_file_write(file, data, size);
    return cnn_atomic_file_commit(file);
}
