/* SPDX-License-Identifier: MIT */
/* Direct convolution for small, deep stride-1 layers on AVX-512: ResNet's
 * 3x3 convolutions at 14x14 and 7x7 with 256 and 512 channels. There
 * im2col + GEMM multiplies a [K, 9 C] filter matrix by a [9 C, OH OW]
 * column matrix only 196 or 49 columns wide, which a GEMM blocked for large
 * images runs at a third to a half of its rate; and Winograd's filter
 * transform, redone at every call, costs more than it saves on so few
 * tiles.
 *
 * As in direct.c the image is zero-padded and the output computed on a
 * "virtual" grid a little wider than the output, so that a vector of
 * consecutive pixels is one unaligned load, across row ends too (the
 * extra columns of each row are computed and dropped). With stride s the
 * padded image is first split into its s x s phases (rows = r mod s,
 * columns = c mod s), each [Hq][Wq] with Hq = ceil(Hp / s), Wq =
 * ceil(Wp / s): tap (a, b) of output pixel p = oh Wq + ow is element
 * p + (a / s) Wq + b / s of phase (a mod s, b mod s), again consecutive
 * for consecutive p. Stride 1 is the one-phase case, Wq = Wp. A 7x7 output
 * is 63 virtual pixels (four vectors), a 14x14 one 224 (fourteen), the
 * 14x14 output of a stride-2 layer on 28x28 210. Unlike direct.c the filters are read in the
 * layer's own [K][C][kh][kw] layout, each weight broadcast from memory: no
 * per-call repacking of a 9 MiB filter bank, whose scalar loop would cost
 * as much as the convolution.
 *
 * Register block: DB filters by up to PB pixel vectors (24 accumulators of
 * AVX-512's 32 registers), summed over channels, then kernel rows, then
 * columns, the same order whatever the thread count. Work items are
 * (image, block of DB filters), in image order, so each thread keeps its
 * images (conv_impl.h). */
#include <string.h>

#include "conv_impl.h"

#if defined(__GNUC__) && defined(__AVX512F__)

#define DD_VL 16
#define DD_DB 6 /* filters per register block */
#define DD_PB 4 /* pixel vectors per register block, at most */

typedef float ddvf __attribute__((vector_size(DD_VL * sizeof(float))));

/* Virtual pixels per image above which the GEMM's columns are wide enough:
 * ResNet-18's 3x3 layers at 28x28 (840 virtual pixels) stay with Winograd
 * and im2col, at 14x14 and 7x7 they come here. */
#ifndef DEEP_MAX_PIXELS
#define DEEP_MAX_PIXELS 256
#endif

/* 1x1 kernels: a plain GEMM with nothing to gather, which the GEMM runs
 * as fast at 14x14 (MobileNetV2's 96 -> 576 and 576 -> 96 layers: 0.14
 * against 0.21 ms here); at 7x7 (960 -> 160) the direct kernel is faster,
 * 0.15-0.29 against 0.25-0.50 ms. Stride-1 1x1 layers now go to
 * pointwise.c before they get here (faster again at 7x7: MobileNetV2's
 * 160 -> 960 0.24 against 0.28 ms); this covers the strided ones. */
#ifndef DEEP_MAX_PIXELS_1X1
#define DEEP_MAX_PIXELS_1X1 64
#endif

/* Largest kernel and stride taken: the tap offset table's size. */
#define DEEP_MAX_K 7
#define DEEP_MAX_S 2
#ifndef DEEP_MIN_C
#define DEEP_MIN_C 16
#endif

typedef struct deep_run {
    conv_run *r;
    int64_t s;          /* stride, both axes */
    int64_t hq, wq;     /* one phase of the padded plane */
    size_t chan;        /* floats per channel: s s Hq Wq */
    size_t nv;          /* pixel vectors per image: ceil(OH Wq / VL) */
    size_t xp_floats;   /* one split image with its read-past slack */
    size_t blocks;      /* filter blocks: ceil(K / DB) */
    size_t off[DEEP_MAX_K * DEEP_MAX_K]; /* tap (a, b) in a channel */
    float *xp;          /* [n][xp_floats] */
    float *yv;          /* [slots][DB][nv VL] */
    conv_queue pad_queue, queue;
} deep_run;

/* Winograd's 2x2 output tiles over the whole batch from which its 16
 * GEMMs are wide enough to beat this kernel, and the most of its tiles'
 * area that may fall outside the output (a 7x7 plane is covered by 8x8,
 * 31% wasted; 13x13 by 14x14, 16%; 14x14 by itself). */
#ifndef DEEP_WINO_MIN_TILES
#define DEEP_WINO_MIN_TILES 96
#endif
#ifndef DEEP_WINO_MAX_WASTE
#define DEEP_WINO_MAX_WASTE 1.2
#endif

/* Whether a 3x3 stride-1 layer that Winograd takes runs faster there than
 * here: at a batch of 2 or more on 14x14 and 13x13 planes, not at batch 1
 * and not on 7x7 planes. Measured on Zen 4, one thread (docs/performance.md,
 * "Deep direct or Winograd at 14x14 and 13x13"): ResNet-18's 14x14 layers at
 * batch 8 take 14-15 ms through Winograd against 20-21 here, at batch 2
 * 3.5-3.8 against 5.0-5.5, at batch 1 2.9 against 2.5; its 7x7 layers at
 * batch 8 25 against 23. */
static int deep_wino_wins(const conv_run *r)
{
    const conv_geom *g = &r->g;
    uint64_t th = (uint64_t)(g->oh + 1) / 2, tw = (uint64_t)(g->ow + 1) / 2;
    uint64_t tiles = (uint64_t)r->n * th * tw;
    double covered = 4.0 * (double)th * (double)tw;
    return tiles >= DEEP_WINO_MIN_TILES &&
           covered <= DEEP_WINO_MAX_WASTE * (double)g->oh * (double)g->ow;
}

int conv_deep_applies(const conv_run *r)
{
    const conv_geom *g = &r->g;
    int64_t s = g->sh;
    uint64_t wq = (uint64_t)((g->w + 2 * g->pw + s - 1) / s);
    if (!(conv_is_plain(r) && g->sw == s && s <= DEEP_MAX_S &&
          g->kh <= DEEP_MAX_K && g->kw <= DEEP_MAX_K && g->ph < g->kh &&
          g->pw < g->kw && r->k >= 32))
        return 0;
    /* A stem: few input channels, a large strided kernel (ResNet's 7x7
     * stride 2 on RGB), where im2col's columns are only C kh kw long. */
    if (g->c <= 4 && s == 2 && g->kh * g->kw >= 25)
        return 1;
    if (!(g->c >= DEEP_MIN_C &&
          (uint64_t)g->oh * wq <=
              (g->kh * g->kw == 1 ? DEEP_MAX_PIXELS_1X1 : DEEP_MAX_PIXELS)))
        return 0;
    return !conv_wino_applies(r) || !deep_wino_wins(r);
}

static inline ddvf dd_load(const float *p)
{
    ddvf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void dd_store(float *p, ddvf v)
{
    memcpy(p, &v, sizeof v);
}

/* yv[d][p0 + q VL + lane] for DB filters whose weights start at wk[d], NPB
 * pixel vectors from virtual pixel p0. */
#define DEEP_KERNEL(NPB)                                                       \
    static void deep_block_##NPB(const deep_run *dr, const float *xp,          \
                                 const float *const wk[DD_DB], size_t p0,      \
                                 float *yv, size_t ldy)                        \
    {                                                                          \
        const conv_geom *g = &dr->r->g;                                        \
        const size_t khw = (size_t)(g->kh * g->kw);                            \
        ddvf acc[DD_DB][NPB];                                                  \
        for (int d = 0; d < DD_DB; d++)                                        \
            for (int q = 0; q < NPB; q++)                                      \
                acc[d][q] = (ddvf){0};                                         \
        for (size_t c = 0; c < (size_t)g->c; c++) {                            \
            const float *xc = xp + c * dr->chan + p0;                          \
            for (size_t e = 0; e < khw; e++) {                                 \
                const float *xr = xc + dr->off[e];                             \
                ddvf x[NPB];                                                   \
                for (int q = 0; q < NPB; q++)                                  \
                    x[q] = dd_load(xr + (size_t)q * DD_VL);                    \
                for (int d = 0; d < DD_DB; d++) {                              \
                    float wv = wk[d][c * khw + e];                             \
                    for (int q = 0; q < NPB; q++)                              \
                        acc[d][q] += wv * x[q];                                \
                }                                                              \
            }                                                                  \
        }                                                                      \
        for (int d = 0; d < DD_DB; d++)                                        \
            for (int q = 0; q < NPB; q++)                                      \
                dd_store(yv + (size_t)d * ldy + p0 + (size_t)q * DD_VL,        \
                         acc[d][q]);                                           \
    }

DEEP_KERNEL(1)
DEEP_KERNEL(2)
DEEP_KERNEL(3)
DEEP_KERNEL(4)

/* xp for image img: each channel's padded plane split into its s x s
 * phases, zeros for the padding, zeroed slack. */
static void deep_pad(void *arg, size_t s0, size_t s1)
{
    deep_run *dr = arg;
    const conv_run *r = dr->r;
    const conv_geom *g = &r->g;
    const size_t plane = (size_t)(g->h * g->w), iw = (size_t)g->w;
    const size_t wq = (size_t)dr->wq, hqwq = (size_t)(dr->hq * dr->wq);
    const int64_t st = dr->s;
    for (size_t sl = s0; sl < s1; sl++) {
        size_t img;
        while (conv_queue_take(&dr->pad_queue, sl, &img)) {
            const float *x = r->x + img * (size_t)g->c * plane;
            float *xp = dr->xp + img * dr->xp_floats;
            memset(xp, 0, dr->xp_floats * sizeof *xp);
            for (size_t c = 0; c < (size_t)g->c; c++) {
                const float *src = x + c * plane;
                float *dst = xp + c * dr->chan;
                if (st == 1) {
                    for (size_t y = 0; y < (size_t)g->h; y++)
                        memcpy(dst + (y + (size_t)g->ph) * wq + (size_t)g->pw,
                               src + y * iw, iw * sizeof *dst);
                    continue;
                }
                /* Input (y, x) is padded (y + ph, x + pw): phase
                 * ((y + ph) mod s, (x + pw) mod s), at ((y + ph) / s,
                 * (x + pw) / s). */
                for (int64_t y = 0; y < g->h; y++) {
                    int64_t py = y + g->ph;
                    const float *row = src + (size_t)y * iw;
                    for (int64_t pb = 0; pb < st; pb++) {
                        float *drow = dst + (size_t)((py % st) * st + pb) * hqwq +
                                      (size_t)(py / st) * wq;
                        /* Columns x with (x + pw) mod s == pb. */
                        int64_t x0 = ((pb - g->pw) % st + st) % st;
                        for (int64_t xx = x0; xx < g->w; xx += st)
                            drow[(xx + g->pw) / st] = row[xx];
                    }
                }
            }
        }
    }
}

static void deep_compute(void *arg, size_t s0, size_t s1)
{
    deep_run *dr = arg;
    const conv_run *r = dr->r;
    const conv_geom *g = &r->g;
    const size_t ldy = dr->nv * DD_VL, ckk = (size_t)r->ckk;
    const size_t k = (size_t)r->k, oh = (size_t)g->oh, ow = (size_t)g->ow;
    const size_t wq = (size_t)dr->wq;
    for (size_t s = s0; s < s1; s++) {
        float *yv = dr->yv + s * DD_DB * ldy;
        size_t item;
        while (conv_queue_take(&dr->queue, s, &item)) {
            size_t img = item / dr->blocks, k0 = item % dr->blocks * DD_DB;
            size_t nd = k - k0 < DD_DB ? k - k0 : DD_DB;
            const float *xp = dr->xp + img * dr->xp_floats;
            const float *wk[DD_DB];
            /* Past K: the last filter again, its results dropped. */
            for (size_t d = 0; d < DD_DB; d++)
                wk[d] = r->w + (k0 + (d < nd ? d : nd - 1)) * ckk;
            for (size_t v = 0; v < dr->nv; v += DD_PB) {
                size_t p0 = v * DD_VL;
                switch (dr->nv - v < DD_PB ? dr->nv - v : DD_PB) {
                case 1: deep_block_1(dr, xp, wk, p0, yv, ldy); break;
                case 2: deep_block_2(dr, xp, wk, p0, yv, ldy); break;
                case 3: deep_block_3(dr, xp, wk, p0, yv, ldy); break;
                default: deep_block_4(dr, xp, wk, p0, yv, ldy); break;
                }
            }
            float *y = r->y + (img * k + k0) * oh * ow;
            for (size_t d = 0; d < nd; d++) {
                float bias = r->b ? r->b[k0 + d] : 0.0f;
                for (size_t row = 0; row < oh; row++) {
                    const float *restrict src = yv + d * ldy + row * wq;
                    float *restrict dst = y + (d * oh + row) * ow;
                    for (size_t x = 0; x < ow; x++)
                        dst[x] = src[x] + bias;
                }
            }
        }
    }
}

cnn_status conv_deep_forward(conv_run *r, cnn_errbuf *err)
{
    const conv_geom *g = &r->g;
    deep_run dr;
    memset(&dr, 0, sizeof dr);
    dr.r = r;
    dr.s = g->sh;
    dr.hq = (g->h + 2 * g->ph + dr.s - 1) / dr.s;
    dr.wq = (g->w + 2 * g->pw + dr.s - 1) / dr.s;
    dr.chan = (size_t)(dr.s * dr.s * dr.hq * dr.wq);
    size_t max_off = 0;
    for (int64_t a = 0; a < g->kh; a++)
        for (int64_t b = 0; b < g->kw; b++) {
            size_t o = (size_t)((a % dr.s) * dr.s + b % dr.s) *
                           (size_t)(dr.hq * dr.wq) +
                       (size_t)((a / dr.s) * dr.wq + b / dr.s);
            dr.off[a * g->kw + b] = o;
            max_off = o > max_off ? o : max_off;
        }
    size_t used = (size_t)(g->oh * dr.wq);
    dr.nv = (used + DD_VL - 1) / DD_VL;
    /* The last channel's vectors read up to max_off + nv VL past its
     * start. */
    dr.xp_floats = (size_t)(g->c - 1) * dr.chan + max_off + dr.nv * DD_VL;
    if (dr.xp_floats < (size_t)g->c * dr.chan)
        dr.xp_floats = (size_t)g->c * dr.chan;
    dr.xp_floats = (dr.xp_floats + 15) / 16 * 16;
    dr.blocks = ((size_t)r->k + DD_DB - 1) / DD_DB;

    uint64_t macs = (uint64_t)r->n * (uint64_t)r->k * (uint64_t)r->ohw *
                    (uint64_t)r->ckk;
    size_t items = (size_t)r->n * dr.blocks;
    r->slots = conv_slots(r, items, macs);
    size_t yv_floats = DD_DB * dr.nv * DD_VL;
    size_t need = (size_t)r->n * dr.xp_floats + r->slots * yv_floats;
    float *ws = r->env && r->env->workspace
                    ? r->env->workspace(r->env->host, need)
                    : NULL;
    if (!ws)
        return conv_gemm_forward(r, err); /* its own, smaller, workspace */
    dr.xp = ws;
    dr.yv = ws + (size_t)r->n * dr.xp_floats;

    size_t pad_slots = r->slots < (size_t)r->n ? r->slots : (size_t)r->n;
    conv_queue_init(&dr.pad_queue, (size_t)r->n, pad_slots);
    if (pad_slots > 1)
        r->env->parallel_for(r->env->host, pad_slots, deep_pad, &dr);
    else
        deep_pad(&dr, 0, 1);
    conv_queue_init(&dr.queue, items, r->slots);
    if (r->slots > 1)
        r->env->parallel_for(r->env->host, r->slots, deep_compute, &dr);
    else
        deep_compute(&dr, 0, 1);
    return CNN_OK;
}

#else /* not chosen without AVX-512 (conv_deep_applies) */

int conv_deep_applies(const conv_run *r)
{
    (void)r;
    return 0;
}

cnn_status conv_deep_forward(conv_run *r, cnn_errbuf *err)
{
    return conv_gemm_forward(r, err);
}

#endif
