/* SPDX-License-Identifier: MIT */
/* What `cnnrun bench` shares between its graph mode (cmd_bench.c) and its
 * single-convolution mode (bench_conv.c): clocks, medians, memory. */
#ifndef CNNRUN_BENCH_H
#define CNNRUN_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "classifier.h"
#include "cli.h"
#include "cnn/context.h"
#include "cnn/data.h"
#include "cnn/exec.h"
#include "cnn/train.h"
#include "bench_roofline.h"
#include "model.h"

typedef struct bench_options {
    int64_t batch;
    int runs;      /* timed repetitions, medians over these */
    int warmup;    /* untimed repetitions first */
    int json;      /* one JSON object on stdout instead of tables */
    uint64_t seed; /* weights, inputs and labels */
    int roofline;  /* measure the machine; each layer against its bound */
    int augment_imagenet; /* --data with --train: RandomResizedCrop + flip */
} bench_options;

/* Median of n values (n >= 1); sorts v in place. */
double bench_median(double *v, size_t n);
/* The process's peak resident set so far, in bytes (getrusage). */
uint64_t bench_peak_rss(void);
/* Fills n floats with uniform values in [lo, hi), reproducibly from seed. */
void bench_fill_uniform(float *v, size_t n, uint64_t seed, float lo, float hi);
/* GFLOP/s of flops done in seconds; 0 when either is 0. */
double bench_gflops(double flops, double seconds);

/* ---- Graph mode (cmd_bench.c runs it, bench_report.c prints it) ---------- */

/* One graph under test and the raw times of every timed pass. */
typedef struct bench_graph {
    cnn_context *ctx;
    const bench_options *o;
    const char *graph_path;
    int train;
    double lr, momentum;
    model m;
    classifier_head head;
    cnn_exec *ex;
    cnn_optim *optim;
    cnn_dataset *ds;
    cnn_loader *loader;
    uint64_t epoch;
    uint64_t step;
    size_t n_layers;
    size_t until;
    int *need_grad;
    double *fwd_flops, *bwd_flops; /* per layer, whole batch */
    float *input;                  /* fixed images when there is no loader */
    int32_t *labels;
    float *grad; /* dL/dlogits */
    size_t input_bytes;
    double *layer_fwd, *layer_bwd; /* runs x layers */
    double *t_data, *t_fwd, *t_loss, *t_bwd, *t_opt, *t_step; /* per run */
    double loss;
    bench_machine machine; /* measured when o->roofline */
} bench_graph;

/* Medians and memory, derived from the raw times (seconds, bytes). */
typedef struct bench_summary {
    double *layer_fwd, *layer_bwd; /* per layer */
    double data, fwd, loss, bwd, opt, step;
    double step_mean;
    double fwd_flops, bwd_flops; /* whole batch, all layers */
    uint64_t weights_bytes, grad_bytes, optim_bytes, exec_bytes, input_bytes;
    uint64_t total_bytes, peak_rss;
} bench_summary;

/* 0 on success, -1 when out of memory. */
int bench_summarize(const bench_graph *b, bench_summary *s);
void bench_summary_free(bench_summary *s);
void bench_print_table(const bench_graph *b, const bench_summary *s);
/* 0 on success, -1 when out of memory. */
int bench_print_json(const bench_graph *b, const bench_summary *s);

/* cnnrun bench --conv SPEC: one convolution layer's forward, input-gradient
 * and weight-gradient passes through the executor, against cblas_sgemm on
 * the GEMM of the same M, N, K. Returns a cnnrun exit code. */
int bench_conv_run(const cli_common *common, cnn_context *ctx,
                   const char *spec, const bench_options *opts);

/* "cnnrun AVX-512" or "OpenBLAS": the GEMM conv and dense use for large
 * products in this process (plugins/common/gemm). */
const char *bench_gemm_name(void);

#endif
