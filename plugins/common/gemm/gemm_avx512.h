/* SPDX-License-Identifier: MIT */
/* The AVX-512 packed GEMM behind cnn_sgemm (gemm.h has the contract). */
#ifndef CNN_PLUGIN_GEMM_AVX512_H
#define CNN_PLUGIN_GEMM_AVX512_H

#include <stddef.h>

/* Whether this build carries the kernel and the CPU (and OS) can run it. */
int gemm_avx512_usable(void);

/* C = alpha op(A) op(B) + beta C, as cnn_sgemm; only call when
 * gemm_avx512_usable(). Returns 0, or -1 when packing memory could not be
 * allocated (the caller then uses OpenBLAS). */
int gemm_avx512(int trans_a, int trans_b, size_t m, size_t n, size_t k,
                float alpha, const float *a, size_t lda, const float *b,
                size_t ldb, float beta, float *c, size_t ldc);

#endif
