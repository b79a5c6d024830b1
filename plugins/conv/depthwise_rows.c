/* SPDX-License-Identifier: MIT */
/* Depthwise 3x3 and 5x5 convolutions forward on AVX-512, straight from and
 * into NCHW planes: stride 1 on outputs 56 to 128 wide (MobileNetV2's
 * 112x112 and 56x56 layers), stride 2 on outputs 14 to 128 wide (its
 * 112 -> 56, 56 -> 28 and 28 -> 14 layers). Before, depthwise.c took the
 * first and depthwise_blocked.c the others.
 *
 * Each output row is computed in vectors of 16 pixels, the taps' weights
 * in registers for the whole plane; bias, then the taps in order, then the
 * folded batch norm and relu (ABI 1.4), and one store. The inputs of tap
 * (ki, kj) for a vector are the columns j - pl + kj.. of input row
 * o - pt + ki: for 3x3 at stride 1, one load per row and vector, the
 * three taps being that vector and its neighbours shifted by a lane
 * (valignd); otherwise one load per tap, masked to the lanes inside the
 * plane, and at stride 2 taps kj and kj + 1 are the even and odd lanes of
 * the same two loads. Padding columns fall to the masks; padding rows are
 * zeros. depthwise.c copies each plane into padded phase planes and its
 * result out of a virtual grid, depthwise_blocked.c transposes 16
 * channels into and out of an interleaved buffer: three passes where this
 * is one. One thread, Zen 4, `cnnrun bench --conv`, 5-7 alternations,
 * medians: stride 1, 32 channels at 112x112 0.24 -> 0.11 ms, 144 at 56x56
 * 0.22 -> 0.16 in the pass; stride 2, 96 channels 112 -> 56 0.29 ->
 * 0.21-0.24 ms, 144 channels 56 -> 28 0.11 -> 0.08 ms, 192 channels 28 ->
 * 14 level. At stride 1 on 28x28 and 14x14 depthwise_blocked.c is as fast
 * (16 channels per vector, no lanes idle), and keeps them.
 *
 * Work items: (image, channel), in order; a plane's result does not depend
 * on which thread computes it. */
#include <stdint.h>

#include "conv_impl.h"

#if defined(__GNUC__) && defined(__AVX512F__)

#include <immintrin.h>

#include "epilogue_avx512.h"

/* Stride-1 output widths from which this beats depthwise_blocked.c. */
#ifndef DWR_MIN_OW
#define DWR_MIN_OW 56
#endif
#ifndef DWR_MIN_OW_S2
#define DWR_MIN_OW_S2 14 /* 7 would fill 7 lanes of 16 */
#endif
/* Vectors per output row at most (the column masks are a table). */
#define DWR_MAX_VECTORS 8

int conv_dwr_applies(const conv_run *r)
{
    const conv_geom *g = &r->g;
    if (!(r->groups > 1 && g->c == 1 && r->kg == 1 && g->kh == g->kw &&
          (g->kh == 3 || g->kh == 5) && g->sh == g->sw &&
          (g->sh == 1 || g->sh == 2) && g->dh == 1 && g->dw == 1 &&
          g->ph >= 0 && g->pw >= 0 && g->ph < g->kh && g->pw < g->kw &&
          g->ow <= 16 * DWR_MAX_VECTORS))
        return 0;
    return g->ow >= (g->sh == 2 ? DWR_MIN_OW_S2 : DWR_MIN_OW);
}

/* Lanes [lo, hi) of a vector, clamped to 0..16. */
static inline __mmask16 dwr_span(int64_t lo, int64_t hi)
{
    if (lo < 0)
        lo = 0;
    if (hi > 16)
        hi = 16;
    if (hi <= lo)
        return 0;
    return (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

/* The 16 floats from row[col], col possibly negative: the lanes outside
 * the plane are masked off, and a masked lane is never read. Computed as
 * an integer, since row + col may point before the plane. */
static inline __m512 dwr_load(const float *row, int64_t col, __mmask16 m)
{
    uintptr_t at = (uintptr_t)row + (uintptr_t)(col * (int64_t)sizeof(float));
    return _mm512_maskz_loadu_ps(m, (const float *)at);
}

/* A channel's constants: its taps' weights, bias and folded map. */
typedef struct dwr_chan {
    __m512 w[25], bias;
    conv_ep512 ep;
} dwr_chan;

static inline __attribute__((always_inline)) void
dwr_chan_init(dwr_chan *c, const conv_run *r, int64_t ch, const int taps)
{
    const float *wt = r->w + ch * taps;
#pragma GCC unroll 25
    for (int q = 0; q < taps; q++)
        c->w[q] = _mm512_set1_ps(wt[q]);
    c->bias = _mm512_set1_ps(r->b ? r->b[ch] : 0.0f);
    conv_ep512_init(&c->ep, r->ep, ch);
}

/* acc through the folded map, stored to the lanes of m. */
static inline __attribute__((always_inline)) void
dwr_store(const dwr_chan *c, float *y, __mmask16 m, __m512 acc)
{
    _mm512_mask_storeu_ps(y, m, conv_ep512_apply(&c->ep, acc));
}

/* One plane: channel ch of one image, x its input plane, y its output. */
static inline __attribute__((always_inline)) void
dwr_plane(const conv_run *r, const float *x, float *y, int64_t ch,
          const int K)
{
    const conv_geom *g = &r->g;
    const int64_t h = g->h, w = g->w, oh = g->oh, ow = g->ow;
    const int64_t pt = g->ph, pl = g->pw;
    dwr_chan c;
    /* A row of zeros stands for the padding rows, so that every row is
     * read the same way. */
    float zrow[16 * DWR_MAX_VECTORS + 16] = {0};
    __mmask16 cm[DWR_MAX_VECTORS][5], om[DWR_MAX_VECTORS];
    const int64_t nvec = (ow + 15) / 16;

    dwr_chan_init(&c, r, ch, K * K);
    /* Each vector's lanes for each tap column, the same on every row. */
    for (int64_t vi = 0; vi < nvec; vi++) {
        om[vi] = dwr_span(0, ow - vi * 16);
        for (int kj = 0; kj < K; kj++) {
            int64_t col = vi * 16 - pl + kj;
            cm[vi][kj] = dwr_span(-col, w - col) & om[vi];
        }
    }
    for (int64_t o = 0; o < oh; o++) {
        const float *rows[5];
#pragma GCC unroll 5
        for (int ki = 0; ki < K; ki++) {
            int64_t ri = o - pt + ki;
            rows[ki] = ri >= 0 && ri < h ? x + ri * w : zrow;
        }
        /* The vectors of a row are independent: the processor overlaps
         * their chains of multiply-adds. */
        for (int64_t vi = 0; vi < nvec; vi++) {
            __m512 acc = c.bias;
#pragma GCC unroll 5
            for (int ki = 0; ki < K; ki++)
#pragma GCC unroll 5
                for (int kj = 0; kj < K; kj++)
                    acc = _mm512_fmadd_ps(
                        c.w[ki * K + kj],
                        dwr_load(rows[ki], vi * 16 - pl + kj, cm[vi][kj]),
                        acc);
            dwr_store(&c, y + o * ow + vi * 16, om[vi], acc);
        }
    }
}

/* 3x3, stride 1, padding PL (0 or 1) on the left: the three taps of a row
 * from one load per vector. Walking a row left to right, vector vi keeps
 * the inputs at columns 16 vi - 16.. (p), 16 vi.. (a) and 16 vi + 16.. (b),
 * and tap kj, at offset d = kj - PL, is a, or a shifted in from p or b by
 * |d| lanes (valignd). Nine masked loads per vector, three of every four
 * splitting a cache line, were the bound before. */
static inline __attribute__((always_inline)) void
dwr_plane_k3(const conv_run *r, const float *x, float *y, int64_t ch,
             const int PL)
{
    const conv_geom *g = &r->g;
    const int64_t h = g->h, w = g->w, oh = g->oh, ow = g->ow;
    const int64_t pt = g->ph;
    dwr_chan c;
    const int64_t nvec = (ow + 15) / 16;

    dwr_chan_init(&c, r, ch, 9);
    for (int64_t o = 0; o < oh; o++) {
        const float *rows[3];
        __m512 p[3], a[3];
#pragma GCC unroll 3
        for (int ki = 0; ki < 3; ki++) {
            int64_t ri = o - pt + ki;
            rows[ki] = ri >= 0 && ri < h ? x + ri * w : NULL;
            p[ki] = _mm512_setzero_ps();
            a[ki] = rows[ki] ? _mm512_maskz_loadu_ps(dwr_span(0, w), rows[ki])
                             : _mm512_setzero_ps();
        }
        for (int64_t vi = 0; vi < nvec; vi++) {
            const int64_t j = vi * 16;
            const __mmask16 mb = dwr_span(0, w - j - 16);
            __m512 acc = c.bias;
#pragma GCC unroll 3
            for (int ki = 0; ki < 3; ki++) {
                __m512 b = rows[ki] ? _mm512_maskz_loadu_ps(
                                          mb, (const float *)((uintptr_t)(
                                                  rows[ki] + j) + 64))
                                    : _mm512_setzero_ps();
                __m512 v0, v1, v2;
                if (PL == 1) {
                    v0 = _mm512_castsi512_ps(_mm512_alignr_epi32(
                        _mm512_castps_si512(a[ki]), _mm512_castps_si512(p[ki]),
                        15));
                    v1 = a[ki];
                    v2 = _mm512_castsi512_ps(_mm512_alignr_epi32(
                        _mm512_castps_si512(b), _mm512_castps_si512(a[ki]), 1));
                } else {
                    v0 = a[ki];
                    v1 = _mm512_castsi512_ps(_mm512_alignr_epi32(
                        _mm512_castps_si512(b), _mm512_castps_si512(a[ki]), 1));
                    v2 = _mm512_castsi512_ps(_mm512_alignr_epi32(
                        _mm512_castps_si512(b), _mm512_castps_si512(a[ki]), 2));
                }
                acc = _mm512_fmadd_ps(c.w[ki * 3 + 0], v0, acc);
                acc = _mm512_fmadd_ps(c.w[ki * 3 + 1], v1, acc);
                acc = _mm512_fmadd_ps(c.w[ki * 3 + 2], v2, acc);
                p[ki] = a[ki];
                a[ki] = b;
            }
            dwr_store(&c, y + o * ow + j, dwr_span(0, ow - j), acc);
        }
    }
}

static void dwr_plane3_pad0(const conv_run *r, const float *x, float *y,
                            int64_t ch)
{
    dwr_plane_k3(r, x, y, ch, 0);
}

static void dwr_plane3_pad1(const conv_run *r, const float *x, float *y,
                            int64_t ch)
{
    dwr_plane_k3(r, x, y, ch, 1);
}

/* Stride 2: tap kj of output vector vi reads input columns
 * 32 vi - pl + kj + 2 lane, the even lanes of the 32 floats from there,
 * and tap kj + 1 their odd lanes: two masked loads and two permutes for
 * two taps. (The odd lanes may read one column past what tap kj needs;
 * the masks keep every load inside the row.) */
static inline __attribute__((always_inline)) void
dwr_plane_s2(const conv_run *r, const float *x, float *y, int64_t ch,
             const int K)
{
    const conv_geom *g = &r->g;
    const int64_t h = g->h, w = g->w, oh = g->oh, ow = g->ow;
    const int64_t pt = g->ph, pl = g->pw;
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14,
                                          12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15,
                                         13, 11, 9, 7, 5, 3, 1);
    dwr_chan c;
    float zrow[32 * DWR_MAX_VECTORS + 32] = {0};
    __mmask16 cm[DWR_MAX_VECTORS][5][2], om[DWR_MAX_VECTORS];
    const int64_t nvec = (ow + 15) / 16;

    dwr_chan_init(&c, r, ch, K * K);
    for (int64_t vi = 0; vi < nvec; vi++) {
        om[vi] = dwr_span(0, ow - vi * 16);
        for (int kj = 0; kj < K; kj++)
            for (int half = 0; half < 2; half++) {
                int64_t col = 32 * vi - pl + kj + 16 * half;
                cm[vi][kj][half] = dwr_span(-col, w - col);
            }
    }
    for (int64_t o = 0; o < oh; o++) {
        const float *rows[5];
#pragma GCC unroll 5
        for (int ki = 0; ki < K; ki++) {
            int64_t ri = 2 * o - pt + ki;
            rows[ki] = ri >= 0 && ri < h ? x + ri * w : zrow;
        }
        for (int64_t vi = 0; vi < nvec; vi++) {
            __m512 acc = c.bias;
#pragma GCC unroll 5
            for (int ki = 0; ki < K; ki++)
#pragma GCC unroll 3
                for (int kj = 0; kj < K; kj += 2) {
                    /* Taps kj and kj + 1: the even and the odd lanes of
                     * the same 32 floats. */
                    int64_t col = 32 * vi - pl + kj;
                    __m512 a = dwr_load(rows[ki], col, cm[vi][kj][0]);
                    __m512 b = dwr_load(rows[ki], col + 16, cm[vi][kj][1]);
                    acc = _mm512_fmadd_ps(c.w[ki * K + kj],
                                          _mm512_permutex2var_ps(a, even, b),
                                          acc);
                    if (kj + 1 < K)
                        acc = _mm512_fmadd_ps(
                            c.w[ki * K + kj + 1],
                            _mm512_permutex2var_ps(a, odd, b), acc);
                }
            dwr_store(&c, y + o * ow + vi * 16, om[vi], acc);
        }
    }
}

static void dwr_plane3_s2(const conv_run *r, const float *x, float *y,
                          int64_t ch)
{
    dwr_plane_s2(r, x, y, ch, 3);
}

static void dwr_plane5_s2(const conv_run *r, const float *x, float *y,
                          int64_t ch)
{
    dwr_plane_s2(r, x, y, ch, 5);
}

static void dwr_plane3(const conv_run *r, const float *x, float *y,
                       int64_t ch)
{
    dwr_plane(r, x, y, ch, 3);
}

static void dwr_plane5(const conv_run *r, const float *x, float *y,
                       int64_t ch)
{
    dwr_plane(r, x, y, ch, 5);
}

static void dwr_slot(void *arg, size_t s0, size_t s1)
{
    conv_run *r = arg;
    const conv_geom *g = &r->g;
    const size_t in_plane = (size_t)(g->h * g->w);
    const size_t out_plane = (size_t)(g->oh * g->ow);
    const size_t channels = (size_t)r->cin;

    for (size_t s = s0; s < s1; s++) {
        size_t item;
        while (conv_queue_take(&r->queue, s, &item)) {
            int64_t ch = (int64_t)(item % channels);
            const float *x = r->x + item * in_plane;
            float *y = r->y + item * out_plane;
            if (g->sh == 2)
                (g->kh == 3 ? dwr_plane3_s2 : dwr_plane5_s2)(r, x, y, ch);
            else if (g->kh == 3 && g->pw <= 1)
                (g->pw ? dwr_plane3_pad1 : dwr_plane3_pad0)(r, x, y, ch);
            else
                (g->kh == 3 ? dwr_plane3 : dwr_plane5)(r, x, y, ch);
        }
    }
}

cnn_status conv_dwr_forward(conv_run *r, cnn_errbuf *err)
{
    size_t items = (size_t)(r->n * r->cin);
    uint64_t macs = (uint64_t)items * (uint64_t)(r->g.oh * r->g.ow) *
                    (uint64_t)(r->g.kh * r->g.kw);
    (void)err;
    r->slots = conv_slots(r, items, macs);
    conv_queue_init(&r->queue, items, r->slots);
    conv_run_slots(r, dwr_slot);
    r->epilogue_done = 1;
    return CNN_OK;
}

#else /* no AVX-512 in this build: depthwise.c takes these layers */

int conv_dwr_applies(const conv_run *r)
{
    (void)r;
    return 0;
}

cnn_status conv_dwr_forward(conv_run *r, cnn_errbuf *err)
{
    (void)r;
    (void)err;
    return CNN_ERR_UNSUPPORTED;
}

#endif
