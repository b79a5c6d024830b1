/* SPDX-License-Identifier: MIT */
/* The GEMM calibration's cache file: a few lines of text per machine,
 *
 *   # cnnrun GEMM calibration: ...
 *   key <cpu, OpenBLAS core and build, our kernels, format version>
 *   gemm 0 1 16 2048 512 ours 812.5 955.1
 *   gemv 0 0 2048 1 8192 openblas 2400.2 2391.7
 *
 * one line per shape class: kind, trans_a, trans_b, the first size of the
 * m, n and k buckets, the implementation chosen, and the microseconds per
 * call that decided it (ours, OpenBLAS). The plugins link no part of
 * libcnn, so this is not core/atomic_file.c, but it writes the same way:
 * a temporary file in the same folder, renamed over the old one. Without
 * an fsync: a file lost or cut short by a crash reads as malformed and is
 * measured again, which is all a cache needs. */
#include "gemm_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define GEMM_CACHE_HEADER                                                    \
    "# cnnrun GEMM calibration (plugins/common/gemm/gemm_calib.c): per "    \
    "shape class, the faster\n# of cnnrun's kernel and OpenBLAS, measured " \
    "once on this machine. Delete the file,\n# or run with "                \
    "CNN_GEMM_CALIBRATE=reset, to measure again.\n"
/* Longest line read; a longer one is malformed. */
#define LINE_MAX_BYTES 1024

unsigned gemm_cache_bucket(size_t size)
{
    unsigned e = 0, b;
    if (size <= 1)
        return 0;
    while (e + 1 < 8 * sizeof size && (size >> (e + 1)) != 0)
        e++;
    /* size in [2^e, 2^(e+1)): the upper half starts at 1.5 * 2^e. */
    b = 2 * e + (e >= 1 && size >= ((size_t)3 << (e - 1)));
    return b < GEMM_BUCKETS ? b : GEMM_BUCKETS - 1;
}

size_t gemm_cache_bucket_start(unsigned b)
{
    unsigned e = b / 2;
    if (b >= GEMM_BUCKETS)
        return 0;
    return ((size_t)1 << e) + ((b & 1) && e >= 1 ? (size_t)1 << (e - 1) : 0);
}

/* FNV-1a, 64 bits: names the file after the machine key. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/* malloc'd a + b. */
static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

/* mkdir that is content with a folder already there. */
static int make_dir(const char *path)
{
    return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

char *gemm_cache_path(const char *machine_key)
{
    const char *env = getenv("CNN_GEMM_CACHE");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char name[64], *base, *dir, *path;

    if (env)
        return *env ? join(env, "") : NULL;
    /* XDG: a relative XDG_CACHE_HOME is invalid and ignored. */
    if (xdg && xdg[0] == '/')
        base = join(xdg, "");
    else if (home && home[0] == '/')
        base = join(home, "/.cache");
    else
        return NULL;
    if (!base)
        return NULL;
    dir = join(base, "/cnnrun");
    if (!dir || make_dir(base) != 0 || make_dir(dir) != 0) {
        free(base);
        free(dir);
        return NULL;
    }
    snprintf(name, sizeof name, "/gemm-%016" PRIx64 ".txt", fnv1a(machine_key));
    path = join(dir, name);
    free(base);
    free(dir);
    return path;
}

int gemm_cache_lock(const char *path)
{
    char *name = join(path, ".lock");
    int fd = name ? open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
    free(name);
    if (fd < 0)
        return -1;
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

void gemm_cache_unlock(int fd)
{
    if (fd >= 0) {
        (void)flock(fd, LOCK_UN);
        close(fd);
    }
}

void gemm_cache_forget_once(int lock_fd, const char *path)
{
    char mine[32], seen[32];
    int len = snprintf(mine, sizeof mine, "reset by %ld\n", (long)getpid());
    ssize_t got;
    if (lock_fd < 0 || len < 0)
        return;
    got = pread(lock_fd, seen, sizeof seen - 1, 0);
    if (got == (ssize_t)len && memcmp(seen, mine, (size_t)len) == 0)
        return; /* another copy in this process did it */
    (void)unlink(path);
    if (ftruncate(lock_fd, 0) == 0)
        (void)!pwrite(lock_fd, mine, (size_t)len, 0);
}

/* The text of one implementation. */
static const char *impl_word(int impl) { return impl == 2 ? "ours" : "openblas"; }

/* Parses one entry line; 0, or -1 when it is not exactly one. */
static int parse_entry(const char *line, gemm_cache_entry *e)
{
    char kind[8], impl[16];
    unsigned ta, tb;
    unsigned long long sm, sn, sk;
    double us_ours, us_blas;
    int used = -1;
    unsigned bm, bn, bk;
    if (sscanf(line, "%7s %u %u %llu %llu %llu %15s %lf %lf %n", kind, &ta,
               &tb, &sm, &sn, &sk, impl, &us_ours, &us_blas, &used) != 9 ||
        used < 0 || line[used] != '\0')
        return -1;
    if ((strcmp(kind, "gemm") != 0 && strcmp(kind, "gemv") != 0) || ta > 1 ||
        tb > 1 || !(us_ours >= 0.0 && us_ours < 1e12) ||
        !(us_blas >= 0.0 && us_blas < 1e12))
        return -1;
    /* Beyond any bucket start: checked before the sizes become size_t. */
    const unsigned long long size_limit = (unsigned long long)UINT32_MAX;
    bm = gemm_cache_bucket((size_t)sm);
    bn = gemm_cache_bucket((size_t)sn);
    bk = gemm_cache_bucket((size_t)sk);
    /* Sizes must be bucket starts, as written: anything else is not ours. */
    if (sm < 1 || sn < 1 || sk < 1 || sm > size_limit || sn > size_limit ||
        sk > size_limit || gemm_cache_bucket_start(bm) != sm ||
        gemm_cache_bucket_start(bn) != sn || gemm_cache_bucket_start(bk) != sk)
        return -1;
    if (strcmp(impl, "ours") == 0)
        e->impl = 2;
    else if (strcmp(impl, "openblas") == 0)
        e->impl = 1;
    else
        return -1;
    e->key = GEMM_KEY(kind[3] == 'm' ? 0u : 1u, ta, tb, bm, bn, bk);
    e->us_ours = us_ours;
    e->us_blas = us_blas;
    return 0;
}

long gemm_cache_load(const char *path, const char *machine_key,
                     size_t max_entries, gemm_cache_entry **out)
{
    char line[LINE_MAX_BYTES];
    gemm_cache_entry *entries = NULL;
    size_t count = 0, key_len = strlen(machine_key);
    int keyed = 0, bad = 0;
    FILE *f = fopen(path, "r");

    *out = NULL;
    if (!f)
        return -1;
    while (!bad && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (len == 0 || line[len - 1] != '\n') {
            bad = 1; /* cut short, or longer than any line we write */
            break;
        }
        line[--len] = '\0';
        if (line[0] == '#')
            continue;
        if (!keyed) {
            /* The first line that is not a comment names the machine. */
            keyed = strncmp(line, "key ", 4) == 0 && len == 4 + key_len &&
                    memcmp(line + 4, machine_key, key_len) == 0;
            bad = !keyed;
            continue;
        }
        if (count == max_entries) {
            bad = 1;
            break;
        }
        if (count % 64 == 0) {
            gemm_cache_entry *grown =
                realloc(entries, (count + 64) * sizeof *entries);
            if (!grown) {
                bad = 1;
                break;
            }
            entries = grown;
        }
        bad = parse_entry(line, &entries[count]) != 0;
        count += !bad;
    }
    if (ferror(f) || !keyed)
        bad = 1;
    fclose(f);
    if (bad || count == 0) {
        free(entries);
        return bad ? -1 : 0;
    }
    *out = entries;
    return (long)count;
}

int gemm_cache_save(const char *path, const char *machine_key,
                    const gemm_cache_entry *entries, size_t count)
{
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = path + dir_len;
    size_t temp_size = strlen(path) + 16;
    char *temp = malloc(temp_size);
    FILE *f;
    int fd, bad = 0;

    if (!temp)
        return -1;
    /* "<dir>/.<base>.tmp-XXXXXX" ("XXXXXX" is mkstemp's template), as
     * core/atomic_file.c names its own. Plugins link no part of libcnn, so
     * its cnn_atomic_file cannot be used here: the same steps, temporary
     * file, fsync, rename, are taken by hand. */
    memcpy(temp, path, dir_len);
    snprintf(temp + dir_len, temp_size - dir_len, ".%s.tmp-XXXXXX", base);
    fd = mkstemp(temp);
    if (fd < 0) {
        free(temp);
        return -1;
    }
    (void)fchmod(fd, 0644);
    f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(temp);
        free(temp);
        return -1;
    }
    bad |= fputs(GEMM_CACHE_HEADER, f) < 0;
    bad |= fprintf(f, "key %s\n", machine_key) < 0;
    for (size_t i = 0; i < count && !bad; i++) {
        uint32_t key = entries[i].key;
        bad |= fprintf(f, "%s %u %u %zu %zu %zu %s %.1f %.1f\n",
                       (key >> 20) & 1 ? "gemv" : "gemm", (key >> 19) & 1,
                       (key >> 18) & 1, gemm_cache_bucket_start((key >> 12) & 63),
                       gemm_cache_bucket_start((key >> 6) & 63),
                       gemm_cache_bucket_start(key & 63),
                       impl_word(entries[i].impl), entries[i].us_ours,
                       entries[i].us_blas) < 0;
    }
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(temp, path) != 0) {
        unlink(temp);
        free(temp);
        return -1;
    }
    free(temp);
    return 0;
}
