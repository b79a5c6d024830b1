/* SPDX-License-Identifier: MIT */
/* The GEMM choice by measurement (plugins/common/gemm/gemm_calib.c and
 * gemm_cache.c): a new shape class is measured once and the product then
 * runs, bit for bit, on the implementation chosen; the answer lands in the
 * cache file, a later process adopts it without measuring, and a file
 * that is corrupt, cut short, for another machine or unreadable is
 * measured again and rewritten, never trusted and never a crash.
 * CNN_GEMM_CALIBRATE=off and =reset do what gemm.h says, and two threads
 * meeting a new class at once measure it once and agree.
 *
 * Each Criterion test runs in its own process, and each starts the
 * calibration afresh (gemm_calib_restart) on a file in its own folder. */
#include <cblas.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gemm.h"
#include "gemm_cache.h"
#include "gemm_calib.h"

/* ---- Helpers ------------------------------------------------------------- */

static char folder[64];

static void one_thread(void) { openblas_set_num_threads(1); }

/* The test's folder and all in it (files, and empty folders: the tests
 * make nothing deeper). */
static void remove_folder(void)
{
    DIR *d = folder[0] ? opendir(folder) : NULL;
    struct dirent *e;
    char path[512];
    if (!d)
        return;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", folder, e->d_name);
            remove(path);
        }
    closedir(d);
    rmdir(folder);
}

TestSuite(gemm_calib, .init = one_thread, .fini = remove_folder);

/* A fresh folder for this test's cache file; path = folder/name. */
static void cache_file(const char *name, char *path, size_t size)
{
    if (!folder[0]) {
        strcpy(folder, "/tmp/cnn_gemm_calib_XXXXXX");
        cr_assert_not_null(mkdtemp(folder), "mkdtemp: %s", strerror(errno));
    }
    snprintf(path, size, "%s/%s", folder, name);
}

/* A matrix of small exact values (multiples of 1/64), seeded. */
static float *matrix(size_t count, unsigned seed)
{
    float *x = malloc((count ? count : 1) * sizeof *x);
    cr_assert_not_null(x);
    for (size_t i = 0; i < count; i++)
        x[i] = (float)((int)((i * 2654435761u + seed) % 97) - 48) / 64.0f;
    return x;
}

/* The whole of a text file, malloc'd ("" when missing). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = calloc(1, 1 << 16);
    cr_assert_not_null(text);
    if (f) {
        size_t n = fread(text, 1, (1 << 16) - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    return text;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

/* The "key ..." line of a cache file (without its newline), malloc'd. */
static char *key_line(const char *path)
{
    char *text = slurp(path), *line = strstr(text, "\nkey ");
    cr_assert_not_null(line, "no key line in %s:\n%s", path, text);
    line++;
    *strchr(line, '\n') = '\0';
    line = strdup(line);
    free(text);
    return line;
}

/* Entry lines (not comments, not the key) in a cache file. */
static int entry_lines(const char *path)
{
    char *text = slurp(path);
    int n = 0;
    for (char *l = text; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
        n += strncmp(l, "gemm ", 5) == 0 || strncmp(l, "gemv ", 5) == 0;
    free(text);
    return n;
}

/* One product through cnn_sgemm and through the implementation the
 * calibration says it uses: the two must agree bit for bit. */
static void product_follows_choice(int ta, int tb, size_t m, size_t n,
                                   size_t k)
{
    float *a = matrix(m * k, 1), *b = matrix(k * n, 2);
    float *c1 = matrix(m * n, 3), *c2 = matrix(m * n, 3);
    size_t lda = ta ? m : k, ldb = tb ? k : n;
    gemm_problem p = {.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k};
    cnn_gemm_impl known;
    cnn_sgemm(ta, tb, m, n, k, 1.5f, a, lda, b, ldb, 0.5f, c1, n);
    known = gemm_calib_known(&p);
    cr_assert(known == CNN_GEMM_OPENBLAS || known == CNN_GEMM_AVX512,
              "%zux%zux%zu (%d%d): no decision after the call", m, n, k, ta,
              tb);
    cnn_sgemm_with(known, ta, tb, m, n, k, 1.5f, a, lda, b, ldb, 0.5f, c2, n);
    cr_expect(memcmp(c1, c2, m * n * sizeof *c1) == 0,
              "%zux%zux%zu (%d%d): cnn_sgemm differs from the chosen %s", m,
              n, k, ta, tb, known == CNN_GEMM_AVX512 ? "avx512" : "openblas");
    free(a), free(b), free(c1), free(c2);
}

static void gemv_follows_choice(size_t m, size_t k)
{
    float *a = matrix(m * k, 4), *x = matrix(k, 5);
    float *y1 = matrix(m, 6), *y2 = matrix(m, 6);
    gemm_problem p = {.gemv = 1, .m = m, .n = 1, .k = k};
    cnn_gemm_impl known;
    cnn_sgemv(m, k, 1.0f, a, k, x, 1.0f, y1);
    known = gemm_calib_known(&p);
    cr_assert(known == CNN_GEMM_OPENBLAS || known == CNN_GEMM_AVX512,
              "gemv %zux%zu: no decision after the call", m, k);
    cnn_sgemv_with(known, m, k, 1.0f, a, k, x, 1.0f, y2);
    cr_expect(memcmp(y1, y2, m * sizeof *y1) == 0,
              "gemv %zux%zu: cnn_sgemv differs from the chosen impl", m, k);
    free(a), free(x), free(y1), free(y2);
}

/* Three classes: a conv-like product, a thin one (a batch-8 dense layer,
 * B transposed), a batch-1 dense layer. */
static void three_classes(void)
{
    product_follows_choice(0, 0, 64, 784, 576);
    product_follows_choice(0, 1, 8, 512, 1024);
    gemv_follows_choice(512, 2048);
}

/* Only a CPU with our AVX-512 GEMM has two implementations to choose
 * between for every class used here. */
static void need_kernels(void)
{
    if (!cnn_gemm_has_avx512())
        cr_skip_test("no AVX-512 on this CPU: OpenBLAS is the only GEMM");
}

/* ---- Buckets ------------------------------------------------------------- */

Test(gemm_calib, buckets)
{
    cr_expect_eq(gemm_cache_bucket(0), 0u);
    cr_expect_eq(gemm_cache_bucket(1), 0u);
    cr_expect_eq(gemm_cache_bucket(2), 2u);
    cr_expect_eq(gemm_cache_bucket(3), 3u);
    cr_expect_eq(gemm_cache_bucket(4), 4u);
    cr_expect_eq(gemm_cache_bucket(5), 4u);
    cr_expect_eq(gemm_cache_bucket(6), 5u);
    cr_expect_eq(gemm_cache_bucket(4095), 23u);
    cr_expect_eq(gemm_cache_bucket(4096), 24u);
    cr_expect_eq(gemm_cache_bucket(6144), 25u);
    /* Every bucket's first size is in it, and the size before is not. */
    for (unsigned b = 2; b < GEMM_BUCKETS; b++) {
        size_t s = gemm_cache_bucket_start(b);
        if (b == 1)
            continue;
        cr_expect_eq(gemm_cache_bucket(s), b, "bucket %u starts at %zu", b, s);
        cr_expect_lt(gemm_cache_bucket(s - 1), b, "size %zu", s - 1);
    }
    cr_expect_eq(gemm_cache_bucket(SIZE_MAX), GEMM_BUCKETS - 1u);
}

/* ---- Measure, keep, adopt ------------------------------------------------ */

Test(gemm_calib, measures_once_and_keeps_the_answer, .timeout = 60)
{
    char path[128];
    struct timespec t0, t1;
    need_kernels();
    cache_file("gemm.txt", path, sizeof path);
    gemm_calib_restart(GEMM_CALIB_ON, path);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    three_classes();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_expect_eq(gemm_calib_measured_count(), 3u,
                 "three new classes, %zu measured",
                 gemm_calib_measured_count());
    /* The same classes again (other sizes in the same buckets): no new
     * measurement. */
    product_follows_choice(0, 0, 64, 800, 580);
    gemv_follows_choice(520, 2100);
    cr_expect_eq(gemm_calib_measured_count(), 3u);
    cr_expect_eq(entry_lines(path), 3, "cache file:\n%s", slurp(path));
    /* Cheap: the sum of three measurements plus the products, well under
     * a second on any machine this runs on (generous for a loaded one). */
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    cr_expect_lt(s, 2.0, "three calibrations took %.3f s", s);

    /* A later process (here: a restart) adopts the file: nothing measured,
     * the same answers. */
    gemm_problem conv = {.m = 64, .n = 784, .k = 576};
    cnn_gemm_impl before = gemm_calib_known(&conv);
    gemm_calib_restart(GEMM_CALIB_ON, path);
    cr_expect_eq(gemm_calib_known(&conv), CNN_GEMM_AUTO,
                 "restart forgets the process's table");
    three_classes();
    cr_expect_eq(gemm_calib_measured_count(), 0u,
                 "the file's answers were measured again");
    cr_expect_eq(gemm_calib_known(&conv), before);
}

Test(gemm_calib, file_answer_is_obeyed, .timeout = 60)
{
    char path[128], *key, text[2048];
    gemm_problem conv = {.m = 64, .n = 784, .k = 576};
    need_kernels();
    cache_file("obeyed.txt", path, sizeof path);
    gemm_calib_restart(GEMM_CALIB_ON, path);
    product_follows_choice(0, 0, 64, 784, 576);
    key = key_line(path);
    /* Rewritten by hand to the other implementation, with times that say
     * so: the file, not a new measurement, decides. */
    for (int want = 1; want <= 2; want++) {
        snprintf(text, sizeof text,
                 "# by hand\n%s\ngemm 0 0 64 768 512 %s 10.0 20.0\n", key,
                 want == 2 ? "ours" : "openblas");
        write_text(path, text);
        gemm_calib_restart(GEMM_CALIB_ON, path);
        product_follows_choice(0, 0, 64, 784, 576);
        cr_expect_eq(gemm_calib_measured_count(), 0u);
        cr_expect_eq(gemm_calib_known(&conv), (cnn_gemm_impl)want,
                     "the file says %s", want == 2 ? "ours" : "openblas");
    }
    /* reset: the file is ignored, the class measured again and the file
     * rewritten from this process's answers. */
    gemm_calib_restart(GEMM_CALIB_RESET, path);
    product_follows_choice(0, 0, 64, 784, 576);
    cr_expect_eq(gemm_calib_measured_count(), 1u);
    cr_expect_eq(entry_lines(path), 1);
    free(key);
}

/* ---- Bad files ----------------------------------------------------------- */

Test(gemm_calib, bad_files_are_measured_again, .timeout = 120)
{
    char path[128], *key, text[4096];
    need_kernels();
    cache_file("bad.txt", path, sizeof path);
    gemm_calib_restart(GEMM_CALIB_ON, path);
    product_follows_choice(0, 0, 64, 784, 576);
    key = key_line(path);

    const char *bodies[] = {
        "", /* empty */
        "gemm 0 0 64 768 512 ours 1.0 2.0\n", /* no key line */
        "key another machine\ngemm 0 0 64 768 512 ours 1.0 2.0\n",
        "%s\ngemm 0 0 64 768 512 ours 1.0 2.0", /* cut short: no newline */
        "%s\ngemm 0 0 64 768 512 fastest 1.0 2.0\n",  /* unknown word */
        "%s\ngemm 0 0 65 768 512 ours 1.0 2.0\n",     /* not a bucket start */
        "%s\ngemm 2 0 64 768 512 ours 1.0 2.0\n",     /* transpose 2 */
        "%s\ngemm 0 0 64 768 512 ours nan 2.0\n",     /* not a time */
        "%s\ngemm 0 0 64 768 512 ours 1.0 2.0 extra\n",
        "%s\ngemm 0 0 -64 768 512 ours 1.0 2.0\n",
        "%s\ngemm 0 0 64 768 99999999999999999999 ours 1.0 2.0\n",
        "%s\n\x01\x02\xff\xfe binary\n",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        snprintf(text, sizeof text, bodies[i], key);
        write_text(path, text);
        gemm_calib_restart(GEMM_CALIB_ON, path);
        product_follows_choice(0, 0, 64, 784, 576);
        cr_expect_eq(gemm_calib_measured_count(), 1u,
                     "file %zu (%s): not measured again", i, bodies[i]);
        /* Rewritten, valid: this process's one answer. */
        gemm_cache_entry *e = NULL;
        long n = gemm_cache_load(path, key + 4, 64, &e);
        cr_expect_eq(n, 1, "file %zu: rewritten file reads %ld entries:\n%s",
                     i, n, slurp(path));
        free(e);
    }
    /* A line longer than any we write. */
    {
        size_t at = (size_t)snprintf(text, sizeof text, "%s\ngemm 0 0 64 768 512 ours 1.0 ", key);
        memset(text + at, '7', sizeof text - at - 3);
        strcpy(text + sizeof text - 3, "\n");
        write_text(path, text);
        gemm_calib_restart(GEMM_CALIB_ON, path);
        product_follows_choice(0, 0, 64, 784, 576);
        cr_expect_eq(gemm_calib_measured_count(), 1u, "overlong line trusted");
    }
    free(key);
}

Test(gemm_calib, unusable_paths_still_work, .timeout = 60)
{
    char dir_path[128], missing[160];
    need_kernels();
    cache_file("a_folder", dir_path, sizeof dir_path);
    cr_assert_eq(mkdir(dir_path, 0755), 0);
    snprintf(missing, sizeof missing, "%s/no/such/folder/gemm.txt", folder);
    const char *paths[] = {dir_path, missing, NULL};
    for (size_t i = 0; i < 3; i++) {
        gemm_calib_restart(GEMM_CALIB_ON, paths[i]);
        three_classes();
        cr_expect_eq(gemm_calib_measured_count(), 3u, "path %s",
                     paths[i] ? paths[i] : "(none)");
        /* Again in the same process: remembered without a file. */
        three_classes();
        cr_expect_eq(gemm_calib_measured_count(), 3u);
    }
    struct stat st;
    cr_expect(stat(missing, &st) != 0, "a file appeared at %s", missing);
}

Test(gemm_calib, off_measures_nothing, .timeout = 60)
{
    char path[128];
    struct stat st;
    gemm_problem conv = {.m = 64, .n = 784, .k = 576};
    float *a = matrix(64 * 576, 1), *b = matrix(576 * 784, 2);
    float *c = matrix(64 * 784, 3);
    cache_file("off.txt", path, sizeof path);
    gemm_calib_restart(GEMM_CALIB_OFF, path);
    cnn_sgemm(0, 0, 64, 784, 576, 1.0f, a, 576, b, 784, 0.0f, c, 784);
    cr_expect_eq(gemm_calib_measured_count(), 0u);
    cr_expect_eq(gemm_calib_known(&conv), CNN_GEMM_AUTO);
    cr_expect(stat(path, &st) != 0, "CNN_GEMM_CALIBRATE=off wrote %s", path);
    free(a), free(b), free(c);
}

/* ---- Threads ------------------------------------------------------------- */

typedef struct racer {
    const float *a, *b;
    float *c;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    cnn_sgemm(0, 0, 64, 784, 576, 1.0f, r->a, 576, r->b, 784, 0.0f, r->c,
              784);
    return NULL;
}

Test(gemm_calib, two_threads_one_measurement, .timeout = 60)
{
    char path[128];
    pthread_t t[2];
    racer r[2];
    float *a = matrix(64 * 576, 1), *b = matrix(576 * 784, 2);
    need_kernels();
    cache_file("race.txt", path, sizeof path);
    gemm_calib_restart(GEMM_CALIB_ON, path);
    for (int i = 0; i < 2; i++) {
        r[i] = (racer){a, b, matrix(64 * 784, 3)};
        cr_assert_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_expect_eq(gemm_calib_measured_count(), 1u);
    cr_expect(memcmp(r[0].c, r[1].c, 64 * 784 * sizeof(float)) == 0,
              "the two threads used different implementations");
    free(r[0].c), free(r[1].c), free(a), free(b);
}
