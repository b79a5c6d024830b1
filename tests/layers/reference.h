/* SPDX-License-Identifier: MIT */
/* Plain double-precision reference implementations of the layer math, as
 * naive loops straight from the definitions: no im2col, no BLAS, nothing
 * shared with the plugins. Backward passes are written as the adjoint of the
 * forward loops (scatter), so they are an independent derivation from the
 * plugins' gather/GEMM formulations.
 *
 * Layouts are the project's: NCHW activations, conv weight [O, C, kh, kw],
 * dense weight [M, K]. Every function overwrites its outputs.
 *
 * Error model used by the tests: for the multilinear ops (conv, dense, the
 * pools, add) calling the same function on |inputs| gives sum |terms| for
 * every output, which bounds the float32 rounding error of any summation
 * order by gamma_n * sum|terms| (Higham, Thm. 3.1 / 4.2). */
#ifndef CNN_TEST_LAYERS_REFERENCE_H
#define CNN_TEST_LAYERS_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

/* Copies n floats to a malloc'd double array, optionally taking |x|. */
double *ref_from_float(const float *x, size_t n, int absolute);

typedef struct ref_conv {
    int64_t n, c, h, w; /* input */
    int64_t o, kh, kw;  /* filters and kernel */
    int64_t sh, sw, ph, pw;
    int64_t pb, pr;     /* bottom and right padding (ph, pw: top, left) */
    int64_t dh, dw;     /* dilation; 0 is taken as 1 */
    int64_t groups;     /* 0 is taken as 1 */
    int64_t oh, ow;     /* output: floor((h + ph + pb - dh (kh - 1) - 1)
                           / sh) + 1 */
} ref_conv;

/* Fills oh and ow (and the defaults above); returns 0 when the kernel does
 * not fit or groups divides neither c nor o. */
int ref_conv_geometry(ref_conv *g);
/* y[n,o,i,j] = b[o] + sum_{c,ki,kj} x[n,g cg + c,i*sh-ph+ki*dh,j*sw-pw+kj*dw]
 * w[o,c,ki,kj], c < cg = C / groups and g = o / (O / groups), the group of
 * filter o; b may be NULL. */
void ref_conv_forward(const ref_conv *g, const double *x, const double *w,
                      const double *b, double *y);
/* Adjoint of the forward loop; any output pointer may be NULL. */
void ref_conv_backward(const ref_conv *g, const double *x, const double *w,
                       const double *dy, double *dx, double *dw, double *db);

typedef struct ref_pool {
    int64_t n, c, h, w;
    int64_t kh, kw, sh, sw;
    int64_t ph, pw; /* padding at the top and left */
    int64_t pb, pr; /* padding at the bottom and right */
    int64_t dh, dw; /* dilation (maxpool), 1 for none */
    int ceil_mode;  /* PyTorch's: a last window starting inside the input
                       or the top/left padding counts */
    int64_t oh, ow;
    /* avgpool divisor: 1 counts padded positions (PyTorch's default
     * count_include_pad=True; cells past the padded input never count),
     * 0 only the real inputs in the window. */
    int count_include_pad;
} ref_pool;

int ref_pool_geometry(ref_pool *g);
/* Max over the window's real inputs (padding never wins); ties go to the
 * first in row-major order within the window. argmax (may be NULL) gets the
 * flat input index chosen per output, -1 (and y -inf) for a window of
 * padding only. */
void ref_maxpool_forward(const ref_pool *g, const double *x, double *y,
                         int64_t *argmax);
/* Routes each dy to its argmax, adding where windows overlap. */
void ref_maxpool_backward(const ref_pool *g, const int64_t *argmax,
                          const double *dy, double *dx);
void ref_avgpool_forward(const ref_pool *g, const double *x, double *y);
void ref_avgpool_backward(const ref_pool *g, const double *dy, double *dx);

/* x [n, k], w [m, k], b [m] or NULL, y [n, m]. */
void ref_dense_forward(int64_t n, int64_t k, int64_t m, const double *x,
                       const double *w, const double *b, double *y);
void ref_dense_backward(int64_t n, int64_t k, int64_t m, const double *x,
                        const double *w, const double *dy, double *dx,
                        double *dw, double *db);

/* Softmax over dim 1 of [n, c, p] (p = product of trailing dims). */
void ref_softmax_forward(int64_t n, int64_t c, int64_t p, const double *x,
                         double *y);
/* dx = J^T dy with J the softmax Jacobian at y; also mag[i] =
 * y_i (|dy_i| + sum_j y_j |dy_j|), the scale of its rounding error. */
void ref_softmax_backward(int64_t n, int64_t c, int64_t p, const double *y,
                          const double *dy, double *dx, double *mag);

/* Concatenation along dim 1 of k inputs [n, c_i, p]. */
void ref_concat_forward(int64_t n, int64_t p, size_t k, const int64_t *c,
                        const double *const *x, double *y);
void ref_concat_backward(int64_t n, int64_t p, size_t k, const int64_t *c,
                         const double *dy, double *const *dx);

/* torch.nn.ChannelShuffle(g) on [n, c, p] (g divides c): y channel
 * j g + i is x channel i (c / g) + j. */
void ref_channel_shuffle_forward(int64_t n, int64_t c, int64_t p, int64_t g,
                                 const double *x, double *y);
void ref_channel_shuffle_backward(int64_t n, int64_t c, int64_t p, int64_t g,
                                  const double *dy, double *dx);

/* x[:, start:end] of [n, c, p]; backward zeros the channels not taken. */
void ref_slice_forward(int64_t n, int64_t c, int64_t p, int64_t start,
                       int64_t end, const double *x, double *y);
void ref_slice_backward(int64_t n, int64_t c, int64_t p, int64_t start,
                        int64_t end, const double *dy, double *dx);

/* Batch normalisation over dim 1 of [n, c, p] (p = H * W, or 1 for
 * [n, c]). Training: the batch's mean and biased variance, and the running
 * statistics moved towards them (PyTorch's momentum, unbiased variance);
 * inference: the running statistics, unchanged. */
typedef struct ref_bn {
    int64_t n, c, p;
    double eps, momentum;
    int training;
} ref_bn;

/* mean and invstd per channel; rmean_new / rvar_new (may be NULL) get the
 * running statistics after this forward. */
void ref_bn_stats(const ref_bn *g, const double *x, const double *rmean,
                  const double *rvar, double *mean, double *invstd,
                  double *rmean_new, double *rvar_new);
/* y = gamma (x - mean) invstd + beta; ymag (may be NULL) gets the sum of
 * the absolute terms. */
void ref_bn_forward(const ref_bn *g, const double *x, const double *mean,
                    const double *invstd, const double *gamma,
                    const double *beta, double *y, double *ymag);
/* The textbook chain rule through mean and variance (Ioffe and Szegedy,
 * 2015), not the plugin's closed form; in inference the statistics are
 * constants. The *mag outputs (may be NULL) get sums of absolute terms. */
void ref_bn_backward(const ref_bn *g, const double *x, const double *mean,
                     const double *invstd, const double *gamma,
                     const double *dy, double *dx, double *dxmag,
                     double *dgamma, double *dgmag, double *dbeta,
                     double *dbmag);

/* Layer normalisation over dim 1 of [n, c, p] (p = the product of the dims
 * after C, or 1 for [n, c]): at each sample and position, the mean and
 * biased variance of its c values. */
typedef struct ref_ln {
    int64_t n, c, p;
    double eps;
} ref_ln;

/* y = gamma (x - mean) rstd + beta per channel, or (x - mean) rstd when
 * gamma and beta are NULL; ymag (may be NULL) gets the sum of the absolute
 * terms. */
void ref_ln_forward(const ref_ln *g, const double *x, const double *gamma,
                    const double *beta, double *y, double *ymag);
/* The chain rule through mean and variance, as ref_bn_backward writes it,
 * not the plugin's closed form. gamma NULL: no affine map (dgamma and
 * dbeta are then not written). The *mag outputs (may be NULL) get sums
 * of absolute terms. */
void ref_ln_backward(const ref_ln *g, const double *x, const double *gamma,
                     const double *dy, double *dx, double *dxmag,
                     double *dgamma, double *dgmag, double *dbeta,
                     double *dbmag);

#endif
