/* SPDX-License-Identifier: MIT */
/* Which implementation runs a product, by measured speed: gemm.c asks for
 * each call; the first call of a shape class times both implementations
 * on that class, and the answer is kept for the process and in a per-
 * machine cache file (gemm_cache.c). docs/performance.md, "Choosing the
 * GEMM by measurement", has the reasoning. */
#ifndef CNN_PLUGIN_GEMM_CALIB_H
#define CNN_PLUGIN_GEMM_CALIB_H

#include <stddef.h>

#include "gemm.h"

typedef enum gemm_calib_mode {
    GEMM_CALIB_OFF = 0,   /* CNN_GEMM_CALIBRATE=off: the fixed rule */
    GEMM_CALIB_ON = 1,    /* default: measure once, keep the answer */
    GEMM_CALIB_RESET = 2, /* CNN_GEMM_CALIBRATE=reset: empty the file first */
} gemm_calib_mode;

/* One product to decide: C = op(A) op(B) with C m x n (GEMV: n is 1, b is
 * x and trans_b 0). a and b may be NULL, and then the calibration makes
 * operands of its own. */
typedef struct gemm_problem {
    int gemv;
    int trans_a, trans_b;
    size_t m, n, k;
    const float *a, *b;
    size_t lda, ldb;
} gemm_problem;

/* Runs impl (CNN_GEMM_OPENBLAS or CNN_GEMM_AVX512, meaning ours) on p,
 * C = op(A) op(B) with beta 0 into c (row stride ldc). gemm.c's. */
typedef void gemm_calib_run_fn(cnn_gemm_impl impl, const gemm_problem *p,
                               float *c, size_t ldc);

/* The mode CNN_GEMM_CALIBRATE asks for (read once). */
gemm_calib_mode gemm_calib_mode_now(void);

/* The faster implementation for p's shape class: CNN_GEMM_OPENBLAS or
 * CNN_GEMM_AVX512. Measures (through run) when the class is new to this
 * process and to the cache file; thread-safe, and other threads asking
 * for a class being measured wait for the answer, so every call of one
 * class in a process uses the same implementation. */
cnn_gemm_impl gemm_calib_choose(const gemm_problem *p, gemm_calib_run_fn *run);

/* The decision already known for p's class, without measuring:
 * CNN_GEMM_AUTO when there is none. */
cnn_gemm_impl gemm_calib_known(const gemm_problem *p);

/* For tests: forgets every decision and the file read, and takes mode and
 * cache path afresh (path NULL: none; the environment is not read again). */
void gemm_calib_restart(gemm_calib_mode mode, const char *cache_path);

/* For tests and reports: how many classes this process measured itself. */
size_t gemm_calib_measured_count(void);

#endif
