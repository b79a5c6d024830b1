/* SPDX-License-Identifier: MIT */
/* The roofline of `cnnrun bench --roofline`: the machine's measured FMA
 * peak and memory bandwidth, and each layer's lower bound from them. */
#ifndef CNNRUN_BENCH_ROOFLINE_H
#define CNNRUN_BENCH_ROOFLINE_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/graph.h"

#define BENCH_ROOFLINE_MAX_THREADS 256

typedef struct bench_machine {
    int threads;
    const char *fma_kind; /* "AVX-512", "AVX2" or "scalar" */
    double peak_gflops;   /* FMA throughput on all threads at once */
    double triad_gbs;     /* STREAM triad, GB/s (1e9 bytes) */
} bench_machine;

/* Bytes a layer's passes must at least move for a batch. */
typedef struct bench_traffic {
    double forward_bytes;  /* inputs + output + parameters */
    double backward_bytes; /* inputs, output gradient, input gradients,
                              parameters and their gradients */
} bench_traffic;

/* Monotonic seconds (cmd_bench.c). */
double bench_now(void);

/* The widest FMA this CPU has. */
const char *bench_fma_kind(void);
/* Measures the peak and the triad on threads threads (about half a
 * second; 300 MiB of arrays). 0 on success, -1 when out of memory. */
int bench_measure_machine(int threads, bench_machine *m);
void bench_layer_traffic(const cnn_graph *g, size_t layer, int64_t batch,
                         bench_traffic *t);
/* max(flops at the peak, bytes at the bandwidth); *memory_bound set when
 * the bytes term is the larger. */
double bench_bound_seconds(const bench_machine *m, double flops, double bytes,
                           int *memory_bound);

#endif
