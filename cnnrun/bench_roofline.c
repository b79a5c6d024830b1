/* SPDX-License-Identifier: MIT */
/* cnnrun bench --roofline: what this machine can do at most, measured, and
 * each layer's lower bound from it (Williams, Waterman and Patterson's
 * roofline, CACM 2009): a pass cannot be faster than its FLOPs at the FMA
 * peak, nor than the bytes it must move at the memory bandwidth.
 *
 * The peak is a loop of independent fused multiply-adds in the widest
 * vectors the CPU has (AVX-512, else AVX2, else scalar), on every thread at
 * once. The bandwidth is STREAM's triad a = b + s c over arrays far larger
 * than the caches, counted as STREAM counts it (three arrays, no
 * write-allocate), best of several trials. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ROOFLINE_X86 1
#endif

#include "bench_roofline.h"

#define FMA_ITERS 1000000L     /* per trial and thread: about 12 ms */
#define FMA_TRIALS 5
#define TRIAD_FLOATS (24L << 20) /* 96 MiB an array, past any L3 here */
#define TRIAD_TRIALS 5

/* ---- FMA peak ------------------------------------------------------------ */

/* Twelve independent chains hide the FMA latency (4 cycles, 2 ports on
 * current cores: 8 in flight; 12 leaves room). Each returns its flops. */
#ifdef ROOFLINE_X86
__attribute__((target("avx512f"))) static double fma_avx512(long iters,
                                                           float *sink)
{
    __m512 a[12], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    for (int k = 0; k < 12; k++)
        a[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 12; k++)
            a[k] = _mm512_fmadd_ps(a[k], m, c);
    for (int k = 1; k < 12; k++)
        a[0] = _mm512_add_ps(a[0], a[k]);
    *sink = _mm512_reduce_add_ps(a[0]);
    return 2.0 * 16 * 12 * (double)iters;
}

__attribute__((target("avx2,fma"))) static double fma_avx2(long iters,
                                                          float *sink)
{
    __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    float out[8];
    for (int k = 0; k < 12; k++)
        a[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 12; k++)
            a[k] = _mm256_fmadd_ps(a[k], m, c);
    for (int k = 1; k < 12; k++)
        a[0] = _mm256_add_ps(a[0], a[k]);
    _mm256_storeu_ps(out, a[0]);
    *sink = out[0] + out[7];
    return 2.0 * 8 * 12 * (double)iters;
}
#endif

static double fma_scalar(long iters, float *sink)
{
    float a[12];
    for (int k = 0; k < 12; k++)
        a[k] = (float)k;
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 12; k++)
            a[k] = a[k] * 0.999999f + 1e-6f;
    for (int k = 1; k < 12; k++)
        a[0] += a[k];
    *sink = a[0];
    return 2.0 * 12 * (double)iters;
}

const char *bench_fma_kind(void)
{
#ifdef ROOFLINE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return "AVX-512";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "AVX2";
#endif
    return "scalar";
}

/* ---- Threads running one kernel at once ---------------------------------- */

typedef struct worker {
    pthread_barrier_t *start;
    int kind; /* 0 FMA, 1 triad */
    /* FMA */
    double flops;
    float sink;
    /* triad: this thread's part of the arrays */
    float *a, *b, *c;
    size_t n;
    double seconds;
} worker;

static void triad(float *a, const float *b, const float *c, size_t n)
{
    const float s = 3.0f;
    for (size_t i = 0; i < n; i++)
        a[i] = b[i] + s * c[i];
}

static void *work(void *arg)
{
    worker *w = arg;
    double t0;
    if (w->kind == 1) /* first touch: the pages live near this thread */
        for (size_t i = 0; i < w->n; i++) {
            w->a[i] = 0.0f;
            w->b[i] = 1.0f;
            w->c[i] = 2.0f;
        }
    pthread_barrier_wait(w->start);
    if (w->kind == 0) {
        /* Best of several trials: a machine shared with other work only
         * ever makes a trial slower. */
        const char *k = bench_fma_kind();
        w->seconds = 1e30;
        for (int t = 0; t < FMA_TRIALS; t++) {
            double s;
            pthread_barrier_wait(w->start);
            t0 = bench_now();
#ifdef ROOFLINE_X86
            if (strcmp(k, "AVX-512") == 0)
                w->flops = fma_avx512(FMA_ITERS, &w->sink);
            else if (strcmp(k, "AVX2") == 0)
                w->flops = fma_avx2(FMA_ITERS, &w->sink);
            else
#endif
                w->flops = fma_scalar(FMA_ITERS / 8, &w->sink);
            s = bench_now() - t0;
            if (s < w->seconds)
                w->seconds = s;
        }
    } else {
        w->seconds = 1e30;
        for (int t = 0; t < TRIAD_TRIALS; t++) {
            double s;
            pthread_barrier_wait(w->start);
            s = bench_now();
            triad(w->a, w->b, w->c, w->n);
            s = bench_now() - s;
            if (s < w->seconds)
                w->seconds = s;
        }
    }
    return NULL;
}

/* Runs kind on threads threads at once; 0 on success. */
static int run_all(int threads, int kind, float *arrays, size_t n,
                   worker *ws)
{
    pthread_t tid[BENCH_ROOFLINE_MAX_THREADS];
    pthread_barrier_t start;
    int started = 0, rc = 0;
    if (pthread_barrier_init(&start, NULL, (unsigned)threads) != 0)
        return -1;
    for (int t = 0; t < threads; t++) {
        size_t lo = n * (size_t)t / (size_t)threads;
        size_t hi = n * (size_t)(t + 1) / (size_t)threads;
        memset(&ws[t], 0, sizeof ws[t]);
        ws[t].start = &start;
        ws[t].kind = kind;
        if (arrays) {
            ws[t].a = arrays + lo;
            ws[t].b = arrays + n + lo;
            ws[t].c = arrays + 2 * n + lo;
            ws[t].n = hi - lo;
        }
    }
    /* Thread 0 is this one; the others are started. A failed start leaves
     * the barrier short: run nothing then. */
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&tid[t], NULL, work, &ws[t]) != 0) {
            rc = -1;
            break;
        }
        started++;
    }
    if (rc == 0)
        work(&ws[0]);
    for (int t = 1; t <= started; t++)
        pthread_join(tid[t], NULL);
    pthread_barrier_destroy(&start);
    return rc;
}

int bench_measure_machine(int threads, bench_machine *m)
{
    worker ws[BENCH_ROOFLINE_MAX_THREADS];
    size_t n = (size_t)TRIAD_FLOATS;
    float *arrays;
    double flops = 0, slowest = 0, triad_s = 0;

    memset(m, 0, sizeof *m);
    if (threads < 1)
        threads = 1;
    if (threads > BENCH_ROOFLINE_MAX_THREADS)
        threads = BENCH_ROOFLINE_MAX_THREADS;
    m->threads = threads;
    m->fma_kind = bench_fma_kind();
    if (run_all(threads, 0, NULL, 0, ws) != 0)
        return -1;
    for (int t = 0; t < threads; t++) {
        flops += ws[t].flops;
        if (ws[t].seconds > slowest)
            slowest = ws[t].seconds;
    }
    m->peak_gflops = slowest > 0 ? flops / slowest * 1e-9 : 0;

    arrays = malloc(3 * n * sizeof *arrays);
    if (!arrays)
        return -1;
    if (run_all(threads, 1, arrays, n, ws) != 0) {
        free(arrays);
        return -1;
    }
    /* The threads' best trials ran side by side; the slowest part bounds
     * the whole triad. */
    for (int t = 0; t < threads; t++)
        if (ws[t].seconds > triad_s)
            triad_s = ws[t].seconds;
    m->triad_gbs = triad_s > 0 ? 3.0 * (double)n * sizeof(float) / triad_s * 1e-9
                               : 0;
    free(arrays);
    return 0;
}

/* ---- Per layer ----------------------------------------------------------- */

static double numel_batch(const cnn_shape *per_sample, int64_t batch)
{
    double n = (double)batch;
    for (int32_t d = 1; d < per_sample->rank; d++)
        n *= (double)per_sample->dims[d];
    return n;
}

void bench_layer_traffic(const cnn_graph *g, size_t l, int64_t batch,
                         bench_traffic *t)
{
    cnn_layer_info li, in;
    double x = 0, y, w;
    cnn_graph_layer_info(g, l, &li);
    for (uint32_t j = 0; j < li.n_inputs; j++) {
        if (li.inputs[j] < 0) {
            cnn_shape s = cnn_graph_input_shape(g);
            x += numel_batch(&s, batch);
            continue;
        }
        cnn_graph_layer_info(g, (size_t)li.inputs[j], &in);
        x += numel_batch(&in.output_shape, batch);
    }
    y = numel_batch(&li.output_shape, batch);
    w = (double)li.param_count;
    /* What each pass must at least read and write once: forward x, w -> y;
     * backward x, dy, w -> dx, dw. */
    t->forward_bytes = (x + y + w) * sizeof(float);
    t->backward_bytes = (2 * x + y + 2 * w) * sizeof(float);
}

double bench_bound_seconds(const bench_machine *m, double flops, double bytes,
                           int *memory_bound)
{
    double tc = m->peak_gflops > 0 ? flops / (m->peak_gflops * 1e9) : 0;
    double tm = m->triad_gbs > 0 ? bytes / (m->triad_gbs * 1e9) : 0;
    if (memory_bound)
        *memory_bound = tm > tc;
    return tm > tc ? tm : tc;
}
