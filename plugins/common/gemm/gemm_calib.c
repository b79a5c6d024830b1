/* SPDX-License-Identifier: MIT */
/* The GEMM choice by measurement (gemm_calib.h).
 *
 * Why measure: which of OpenBLAS and our AVX-512 kernel is faster depends
 * on the machine, on the kernels OpenBLAS picked for it (OPENBLAS_CORETYPE
 * may pin AVX2 ones on an AVX-512 core), on its version, and on the shape:
 * the old rule (ours only when OpenBLAS runs AVX2 kernels) lost on a Zen 4
 * whose OpenBLAS ran its AVX-512 "Cooperlake" kernels, where ours was
 * still faster on AlexNet. A rule by kernel name cannot know that; a
 * measurement can.
 *
 * A shape class is the kind of product (GEMM or GEMV), the transposes, and
 * the half-octave buckets of m, n and k (gemm_cache_bucket). The first call
 * of a class in a process times both implementations on it, on the call's
 * own operands (read only; the output goes to a scratch buffer), before
 * the call itself runs: so every call of the class, the first included,
 * uses one implementation, and a process's results do not depend on when
 * the measurement happened. The answer goes into a lock-free table and the
 * per-machine file, whose key names the CPU, OpenBLAS's core and build and
 * our kernels: another OPENBLAS_CORETYPE is another file.
 *
 * Cost: a trial is cut to about CALIB_MACS multiply-adds (compute-bound
 * shapes keep their speed per multiply-add when cut along m or n, as long
 * as the cut side stays CALIB_MIN_SIDE or more), but products thinner than
 * CALIB_THIN and GEMVs run whole, since they are bound by memory and a cut
 * would fit in cache. Each implementation runs two untimed warm-up calls,
 * one timed call, and one or three timed rounds (reps calls each, at
 * least CALIB_TRIAL_S), alternating the order, and keeps its best: a few
 * milliseconds per class, paid once per machine.
 *
 * Time is the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so a
 * process preempted by others on a shared machine still measures the work
 * (unless OpenBLAS runs threads of its own, which the plugins never let it:
 * then wall time). Processes calibrating at once take turns on the file's
 * lock, and a class another process decided in the meantime is adopted,
 * not measured again: one machine, one answer per class. */
#include "gemm_calib.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm_avx512.h"
#include "gemm_cache.h"
#include "gemv_simd.h"

/* Multiply-adds a compute-bound trial is cut to. */
#define CALIB_MACS ((size_t)32 << 20)
/* Cuts never make m or n smaller than this (blocking of both kernels). */
#define CALIB_MIN_SIDE 256
/* Products with m or n at most this are bound by memory: never cut. */
#define CALIB_THIN 16
/* Operands the calibration allocates itself (no data given) are kept
 * under this many floats each. */
#define CALIB_OWN_FLOATS ((size_t)16 << 20)
/* A timed round repeats the call until it lasts about this long. */
#define CALIB_TRIAL_S 1e-3
#define CALIB_MAX_REPS 1000
/* Warm-up calls longer than this together: one timed round, not two. */
#define CALIB_LONG_S 4e-3

/* Open addressing; a slot is 0 (empty) or VALID | impl << 24 | key. */
#define TABLE_BITS 10
#define TABLE_SIZE (1u << TABLE_BITS)
#define TABLE_LIMIT (TABLE_SIZE * 3 / 4)
#define SLOT_VALID (1u << 31)

static _Atomic uint32_t table[TABLE_SIZE];
/* Measured microseconds per call (ours, OpenBLAS); written before the slot
 * is published, read under `lock`. */
static double table_us[TABLE_SIZE][2];
static size_t table_count;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Under `lock`: configured once, then the file's path (NULL: no file) and
 * the machine's key. */
static int configured;
static char *cache_path;
static char *machine_key;
static size_t measured;
/* -1 until CNN_GEMM_CALIBRATE is read. */
static atomic_int mode_value = -1;

gemm_calib_mode gemm_calib_mode_now(void)
{
    int v = atomic_load_explicit(&mode_value, memory_order_relaxed);
    if (v < 0) {
        const char *s = getenv("CNN_GEMM_CALIBRATE");
        v = GEMM_CALIB_ON;
        if (s && (strcmp(s, "off") == 0 || strcmp(s, "0") == 0 ||
                  strcmp(s, "no") == 0))
            v = GEMM_CALIB_OFF;
        else if (s && strcmp(s, "reset") == 0)
            v = GEMM_CALIB_RESET;
        atomic_store_explicit(&mode_value, v, memory_order_relaxed);
    }
    return (gemm_calib_mode)v;
}

/* ---- The table ----------------------------------------------------------- */

static uint32_t key_of(const gemm_problem *p)
{
    return GEMM_KEY(p->gemv ? 1u : 0u, p->trans_a ? 1u : 0u,
                    p->trans_b ? 1u : 0u, gemm_cache_bucket(p->m),
                    gemm_cache_bucket(p->gemv ? 1 : p->n),
                    gemm_cache_bucket(p->k));
}

static uint32_t home_slot(uint32_t key)
{
    return (key * 2654435761u) >> (32 - TABLE_BITS);
}

/* The slot holding key, or -1. Lock-free. */
static long find(uint32_t key)
{
    uint32_t i = home_slot(key);
    for (uint32_t n = 0; n < TABLE_SIZE; n++, i = (i + 1) & (TABLE_SIZE - 1)) {
        uint32_t v = atomic_load_explicit(&table[i], memory_order_acquire);
        if (v == 0)
            return -1;
        if ((v & GEMM_KEY_MASK) == key)
            return (long)i;
    }
    return -1;
}

static cnn_gemm_impl impl_at(long slot)
{
    uint32_t v = atomic_load_explicit(&table[slot], memory_order_acquire);
    return (cnn_gemm_impl)((v >> 24) & 3u);
}

/* Adds key's decision (under `lock`); 0, or -1 when the table is full. */
static int insert(uint32_t key, cnn_gemm_impl impl, double us_ours,
                  double us_blas)
{
    uint32_t i = home_slot(key);
    if (find(key) >= 0)
        return 0;
    if (table_count >= TABLE_LIMIT)
        return -1;
    while (atomic_load_explicit(&table[i], memory_order_relaxed) != 0)
        i = (i + 1) & (TABLE_SIZE - 1);
    table_us[i][0] = us_ours;
    table_us[i][1] = us_blas;
    table_count++;
    atomic_store_explicit(&table[i], SLOT_VALID | (uint32_t)impl << 24 | key,
                          memory_order_release);
    return 0;
}

/* ---- The machine --------------------------------------------------------- */

/* The CPU's model name from Linux's /proc, or "unknown". */
static void cpu_model(char *buf, size_t size)
{
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(buf, size, "unknown");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            char *name = colon + 1 + (colon[1] == ' ');
            name[strcspn(name, "\n")] = '\0';
            if (snprintf(buf, size, "%s", name) < 0)
                buf[0] = '\0';
            break;
        }
    }
    fclose(f);
}

/* Everything that changes which implementation is faster, on one line:
 * the CPU, OpenBLAS's core and build (its version is in the config
 * string), which kernels of ours this CPU runs, and the file format. */
static char *make_machine_key(void)
{
    char cpu[256], key[1024];
    const char *core = openblas_get_corename();
    const char *config = openblas_get_config();
    gemv_simd_kind gemv = gemv_simd_best();
    char *out;
    cpu_model(cpu, sizeof cpu);
    /* (The count is checked only so that gcc sees it used: a key cut
     * short still names the machine well enough.) */
    if (snprintf(key, sizeof key,
             "cpu=%s | openblas=%s, %s | ours: gemm %s, gemv %s | format 1",
             cpu, core ? core : "?", config ? config : "?",
             gemm_avx512_usable() ? "avx512" : "none",
             gemv == GEMV_SIMD_AVX512 ? "avx512"
             : gemv == GEMV_SIMD_AVX2 ? "avx2"
                                      : "none") < 0)
        key[0] = '\0';
    /* One line, whatever the strings held. */
    for (char *c = key; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    out = malloc(strlen(key) + 1);
    if (out)
        strcpy(out, key);
    return out;
}

/* Under `lock`: the key and the file, once. */
static void configure(void)
{
    if (configured)
        return;
    configured = 1;
    machine_key = make_machine_key();
    cache_path = machine_key && gemm_calib_mode_now() != GEMM_CALIB_OFF
                     ? gemm_cache_path(machine_key)
                     : NULL;
    if (cache_path && gemm_calib_mode_now() == GEMM_CALIB_RESET) {
        int fd = gemm_cache_lock(cache_path);
        gemm_cache_forget_once(fd, cache_path);
        gemm_cache_unlock(fd);
    }
}

/* Under `lock`: the file's decisions that this process lacks. */
static void adopt_file(void)
{
    gemm_cache_entry *e = NULL;
    long n;
    if (!cache_path)
        return;
    n = gemm_cache_load(cache_path, machine_key, TABLE_LIMIT, &e);
    for (long i = 0; i < n; i++)
        if (e[i].impl == CNN_GEMM_OPENBLAS || e[i].impl == CNN_GEMM_AVX512)
            (void)insert(e[i].key, (cnn_gemm_impl)e[i].impl, e[i].us_ours,
                         e[i].us_blas);
    free(e);
}

/* Under `lock`: every decision into the file. */
static void save_file(void)
{
    gemm_cache_entry *e;
    size_t n = 0;
    if (!cache_path || !machine_key)
        return;
    e = malloc((table_count ? table_count : 1) * sizeof *e);
    if (!e)
        return;
    for (uint32_t i = 0; i < TABLE_SIZE && n < table_count; i++) {
        uint32_t v = atomic_load_explicit(&table[i], memory_order_relaxed);
        if (!v)
            continue;
        e[n].key = v & GEMM_KEY_MASK;
        e[n].impl = (int)((v >> 24) & 3u);
        e[n].us_ours = table_us[i][0];
        e[n].us_blas = table_us[i][1];
        n++;
    }
    (void)gemm_cache_save(cache_path, machine_key, e, n);
    free(e);
}

/* ---- Measuring ----------------------------------------------------------- */

static double seconds_now(int wall)
{
    struct timespec ts;
    clock_gettime(wall ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Seconds per call of impl on p, over reps calls. */
static double time_calls(gemm_calib_run_fn *run, cnn_gemm_impl impl,
                         const gemm_problem *p, float *c, size_t reps,
                         int wall)
{
    double t0 = seconds_now(wall);
    for (size_t r = 0; r < reps; r++)
        run(impl, p, c, p->gemv ? 1 : p->n);
    return (seconds_now(wall) - t0) / (double)reps;
}

/* Cuts the larger of *m and *n so that m n k stays near `macs` (never
 * below CALIB_MIN_SIDE, nor above what it was). */
static void cut(size_t *m, size_t *n, size_t k, size_t macs)
{
    size_t *big = *m >= *n ? m : n;
    size_t other = big == m ? *n : *m;
    size_t area = other * k;
    size_t want = macs / (area ? area : 1);
    if (want < CALIB_MIN_SIDE)
        want = CALIB_MIN_SIDE;
    if (want < *big)
        *big = want;
}

/* Operands of the trial's shape for a problem that came without data:
 * small, finite, normal values. 0, or -1 when memory is short. */
static int own_operands(gemm_problem *t, float **mem)
{
    size_t a_n = t->m * t->k, b_n = (t->gemv ? 1 : t->n) * t->k;
    float *m = malloc((a_n + b_n) * sizeof *m);
    if (!m)
        return -1;
    for (size_t i = 0; i < a_n + b_n; i++)
        m[i] = (float)((int)(i % 13) - 6) * 0.0625f;
    t->a = m;
    t->b = m + a_n;
    t->lda = t->trans_a ? t->m : t->k;
    t->ldb = t->gemv ? 1 : t->trans_b ? t->k : t->n;
    *mem = m;
    return 0;
}

/* Times both implementations on p; the faster into *impl and the
 * microseconds per call of the whole product (scaled up from a cut trial)
 * into us[0] (ours) and us[1] (OpenBLAS). 0, or -1 when memory is short. */
static int measure(const gemm_problem *p, gemm_calib_run_fn *run,
                   cnn_gemm_impl *impl, double us[2])
{
    gemm_problem t = *p;
    size_t n = p->gemv ? 1 : p->n, reps;
    int thin = p->gemv || p->m <= CALIB_THIN || n <= CALIB_THIN;
    int wall = openblas_get_num_threads() > 1;
    float *own = NULL, *c;
    double best[2], scale;

    if (!thin && p->m * n * p->k > CALIB_MACS)
        cut(&t.m, &t.n, t.k, CALIB_MACS);
    if (!p->a || !p->b) {
        size_t tn = t.gemv ? 1 : t.n;
        if (t.m * t.k > CALIB_OWN_FLOATS || tn * t.k > CALIB_OWN_FLOATS)
            cut(&t.m, &t.n, t.k, CALIB_OWN_FLOATS);
        if (t.gemv && t.m * t.k > CALIB_OWN_FLOATS)
            t.m = CALIB_OWN_FLOATS / t.k ? CALIB_OWN_FLOATS / t.k : 1;
        if (own_operands(&t, &own) != 0)
            return -1;
    }
    n = t.gemv ? 1 : t.n;
    c = calloc(t.m * n, sizeof *c);
    if (!c) {
        free(own);
        return -1;
    }
    /* Warm-up, untimed: first touch of C, OpenBLAS's buffers, and the
     * first packing buffers of ours (whose first calls page-fault: the
     * allocator's mmap threshold rises only once one is freed). Then one
     * timed call each, which also counts. */
    for (int i = 0; i < 2; i++) {
        run(CNN_GEMM_AVX512, &t, c, n);
        run(CNN_GEMM_OPENBLAS, &t, c, n);
    }
    best[0] = time_calls(run, CNN_GEMM_AVX512, &t, c, 1, wall);
    best[1] = time_calls(run, CNN_GEMM_OPENBLAS, &t, c, 1, wall);
    {
        double shorter = best[0] < best[1] ? best[0] : best[1];
        double r = shorter > 0 ? CALIB_TRIAL_S / shorter : CALIB_MAX_REPS;
        reps = r < 1 ? 1 : r > CALIB_MAX_REPS ? CALIB_MAX_REPS : (size_t)r;
    }
    for (int round = 0; round < (best[0] + best[1] > CALIB_LONG_S ? 1 : 3);
         round++) {
        /* OpenBLAS first, then ours first: neither always follows the
         * other's traffic. */
        for (int i = 0; i < 2; i++) {
            int which = (i + round + 1) % 2; /* 1 OpenBLAS, 0 ours */
            double s = time_calls(run,
                                  which ? CNN_GEMM_OPENBLAS : CNN_GEMM_AVX512,
                                  &t, c, reps, wall);
            if (s < best[which])
                best[which] = s;
        }
    }
    free(c);
    free(own);
    scale = (double)p->m * (double)(p->gemv ? 1 : p->n) /
            ((double)t.m * (double)n);
    us[0] = 1e6 * best[0] * scale;
    us[1] = 1e6 * best[1] * scale;
    *impl = best[0] < best[1] ? CNN_GEMM_AVX512 : CNN_GEMM_OPENBLAS;
    return 0;
}

/* ---- The answers --------------------------------------------------------- */

cnn_gemm_impl gemm_calib_known(const gemm_problem *p)
{
    long slot = find(key_of(p));
    return slot >= 0 ? impl_at(slot) : CNN_GEMM_AUTO;
}

cnn_gemm_impl gemm_calib_choose(const gemm_problem *p, gemm_calib_run_fn *run)
{
    uint32_t key = key_of(p);
    long slot = find(key);
    cnn_gemm_impl impl = CNN_GEMM_AUTO;
    double us[2] = {0.0, 0.0};
    int fd = -1;

    if (slot >= 0)
        return impl_at(slot);
    pthread_mutex_lock(&lock);
    configure();
    slot = find(key);
    if (slot < 0 && cache_path) {
        fd = gemm_cache_lock(cache_path);
        adopt_file();
        slot = find(key);
    }
    if (slot >= 0) {
        impl = impl_at(slot);
    } else if (measure(p, run, &impl, us) == 0) {
        measured++;
        if (insert(key, impl, us[0], us[1]) == 0)
            save_file();
        else
            impl = CNN_GEMM_AUTO; /* table full: the caller's fixed rule */
    } else {
        impl = CNN_GEMM_AUTO; /* no memory to measure in */
    }
    gemm_cache_unlock(fd);
    pthread_mutex_unlock(&lock);
    return impl;
}

void gemm_calib_restart(gemm_calib_mode mode, const char *path)
{
    pthread_mutex_lock(&lock);
    for (uint32_t i = 0; i < TABLE_SIZE; i++)
        atomic_store_explicit(&table[i], 0, memory_order_relaxed);
    table_count = 0;
    measured = 0;
    free(cache_path);
    free(machine_key);
    atomic_store_explicit(&mode_value, (int)mode, memory_order_relaxed);
    machine_key = make_machine_key();
    cache_path = NULL;
    if (path && mode != GEMM_CALIB_OFF) {
        cache_path = malloc(strlen(path) + 1);
        if (cache_path)
            strcpy(cache_path, path);
    }
    if (cache_path && mode == GEMM_CALIB_RESET) {
        int fd = gemm_cache_lock(cache_path);
        gemm_cache_forget_once(fd, cache_path);
        gemm_cache_unlock(fd);
    }
    configured = 1;
    pthread_mutex_unlock(&lock);
}

/* At unload (dlclose) or exit: the strings configure() kept would
 * otherwise outlive the plugin that holds the only pointers to them. */
__attribute__((destructor)) static void gemm_calib_free(void)
{
    pthread_mutex_lock(&lock);
    free(cache_path);
    free(machine_key);
    cache_path = machine_key = NULL;
    configured = 0;
    pthread_mutex_unlock(&lock);
}

size_t gemm_calib_measured_count(void)
{
    size_t n;
    pthread_mutex_lock(&lock);
    n = measured;
    pthread_mutex_unlock(&lock);
    return n;
}
