/* SPDX-License-Identifier: MIT */
/* Direct convolution with the vector lanes over filters, forward on
 * AVX-512, for inference with constant parameters (ABI 1.5's
 * params_token): AlexNet's convolutions, ResNet's 14x14 and 7x7 layers,
 * strided ones and stems, and the
 * grouped layers of RegNetX and ResNeXt whose groups hold whole vectors
 * of filters, each group's filters over its own channels.
 *
 * im2col + GEMM runs these at 78-80% of the FMA peak (the column matrix is
 * written, then packed again), and direct_deep.c, with the lanes over
 * pixels, computes each row over the padded width, so a 7x7 output fills
 * 49 of 64 lanes and a 13x13 one 169 of 208. With the lanes over 16
 * filters instead, every lane is an output: a register block is 4 vectors
 * of filters by 6 output pixels (24 accumulators); each step over
 * (channel, tap) loads 4 filter vectors and broadcasts 6 input values,
 * from wherever the pixels' windows start, so the 6 pixels may span rows
 * and no column is computed twice. A standalone driver of this loop ran
 * at 105-116 GFLOP/s of the machine's 116 on those shapes (Zen 4).
 *
 * The filters must be in [K/64][C][kh kw][64] order for those loads: a
 * repacked copy of the weights, which would cost as much as the
 * convolution if redone at every call (ResNet's 9 MiB layers at batch 1).
 * So this runs only when the host names the parameter values with a token
 * (cnn_forward_args.params_token, an executor whose caller promised not to
 * change them); conv.c keeps the copy in the layer's state and repacks
 * when the token or the weight pointer changes. Other calls, and every
 * training pass, take the other algorithms.
 *
 * The image is zero-padded first (one copy per image, skipped without
 * padding). Sums run over channels, then taps, in order, from the bias:
 * results do not depend on the thread count. Work items are (image, chunk
 * of pixels, block of 64 filters), in image order. */
#include <stdlib.h>
#include <string.h>

#include "conv_impl.h"

#if defined(__GNUC__) && defined(__AVX512F__)

#include <immintrin.h>

#include "epilogue_avx512.h"

enum {
    FL_VL = 16,        /* filters per vector */
    FL_FV = 4,         /* filter vectors per block */
    FL_KB = 64,        /* filters per block: FL_FV FL_VL */
    FL_PB = 6,         /* output pixels per register block */
    FL_MAX_TAPS = 121, /* 11x11: AlexNet's conv1 */
};

/* Below this many filters a block is one vector of 6 accumulators, with
 * lanes left empty unless the layer has exactly 16 filters. Exactly 16
 * is taken (LeNet's conv2, batch 8: 0.064 -> 0.039 ms; 16 filters at
 * 14x14 from 64 channels, batch 1: 0.065 -> 0.042; stride 2 from 16 at
 * 28x28: 0.146 -> 0.094 at batch 8; elsewhere level); 20 or 24 filters
 * were level or slower (24 at stride 2 from 8 channels at 56x56, batch 8:
 * 0.277 -> 0.381 ms), so they keep direct.c and im2col. */
#ifndef FL_MIN_K
#define FL_MIN_K 32
#endif

/* Shorter sums (C kh kw) spend as long storing a block as computing it:
 * MobileNetV2's stem (27), 0.46 -> 0.50 ms at batch 1; pointwise.c and
 * im2col keep them. */
#ifndef FL_MIN_CKK
#define FL_MIN_CKK 32
#endif

/* 1x1 stride-1 layers up to this many pixels (7x7); on larger planes
 * pointwise.c, which reads whole pixel vectors, is faster (MobileNetV2,
 * batch 1: 160 -> 960 at 7x7 0.24 -> 0.18 ms here; its 56x56 and 28x28
 * layers 1.4-1.7x slower here). conv.c now gives every 1x1 stride-1
 * layer of up to 1024 channels under a params token to pointwise.c's
 * packed filters (7x7: 0.18 -> 0.16 ms); this kernel takes deeper ones
 * (ResNet-50's 2048 -> 512) and any whose copy cannot be allocated. */
#ifndef FL_MAX_PW_PIXELS
#define FL_MAX_PW_PIXELS 64
#endif

/* Bytes of a block's filters summed over every pixel block of a chunk
 * before the next channels' (a slab): read from L1 instead of once per
 * 6-pixel block from L2, or from L3 and memory when a block's filters
 * (C kh kw 256 bytes: 1.2 MiB for ResNet-50's 512-channel 3x3 layers)
 * exceed L2. Partial sums between slabs wait in a per-slot buffer; the
 * sums still run over channels in order (the same bits). ResNet-50 at
 * batch 1, one thread, Zen 5, in the network: its 7x7 3x3 layers 1.73-2.08
 * -> 1.39-1.55 ms, 2048 -> 512 0.92-0.96 -> 0.72-0.74 ms; ResNet-18 at
 * batch 8 and AlexNet level (docs/performance.md, "A second machine"). */
#ifndef FL_SLAB_BYTES
#define FL_SLAB_BYTES ((size_t)16 << 10)
#endif
/* Blocks of filters up to this size are summed whole: ResNet's conv1 (37
 * KiB: 3 channels of 7x7) in slabs of one channel, its partial sums
 * stored and loaded twice more, ran 7% slower. */
#ifndef FL_SLAB_FROM_BYTES
#define FL_SLAB_FROM_BYTES ((size_t)256 << 10)
#endif

/* Pixels per work item at most (a multiple of FL_PB). */
#ifndef FL_CHUNK
#define FL_CHUNK (FL_PB * 64)
#endif

typedef struct fl_run {
    conv_run *r;
    const float *wp;  /* packed filters: block kb at kb FL_KB ckk */
    int64_t hp, wpd;  /* padded plane */
    size_t chan;      /* floats per padded channel */
    size_t img;       /* floats per padded image */
    const float *xp;  /* padded images, or r->x without padding */
    float *pad;       /* the padded copies, NULL without padding */
    size_t taps;
    size_t off[FL_MAX_TAPS]; /* tap (a, b) at a Wp + b */
    size_t chunk, chunks;
    size_t kblocks;      /* blocks of filters over all groups */
    size_t group_blocks; /* of one group */
    size_t group_floats; /* a group's input channels, padded */
    int64_t cblock;      /* channels per slab of filters (see FL_SLAB_BYTES) */
    float *part;         /* per slot: a chunk's partial sums, [chunk][FL_KB],
                            when a block's channels take several slabs */
    size_t part_floats;
    conv_queue pad_queue, queue;
} fl_run;

/* Each group's filters (the layer's when groups = 1) in blocks of up to
 * FL_KB, a block of width v FL_VL at (group's first filter + k0) ckk:
 * groups of more than one take whole vectors (kg a multiple of FL_VL). */
size_t conv_fl_packed_floats(const conv_run *r)
{
    size_t kg = (size_t)(r->k / r->groups);
    return (size_t)r->groups * ((kg + FL_VL - 1) / FL_VL * FL_VL) *
           (size_t)r->ckk;
}

void conv_fl_pack(const conv_run *r, float *dst)
{
    const size_t ckk = (size_t)r->ckk, taps = (size_t)(r->g.kh * r->g.kw);
    const size_t c_count = (size_t)r->g.c, kg = (size_t)(r->k / r->groups);
    for (size_t g0 = 0; g0 < (size_t)r->k; g0 += kg)
        for (size_t k0 = 0; k0 < kg; k0 += FL_KB) {
            size_t fv = (kg - k0 + FL_VL - 1) / FL_VL;
            size_t width = (fv < FL_FV ? fv : FL_FV) * FL_VL;
            float *blk = dst + (g0 + k0) * ckk;
            const float *wk = r->w + (g0 + k0) * ckk;
            for (size_t c = 0; c < c_count; c++)
                for (size_t t = 0; t < taps; t++) {
                    float *out = blk + (c * taps + t) * width;
                    for (size_t i = 0; i < width; i++)
                        out[i] = k0 + i < kg ? wk[i * ckk + c * taps + t]
                                             : 0.0f;
                }
        }
}

int conv_fl_applies(const conv_run *r)
{
    const conv_geom *g = &r->g;
    /* Groups of whole vectors of filters (RegNet's 16-channel groups):
     * each (image, group) is a layer of its own, its block one vector
     * wide, which still beats the direct kernels grouped.c hands them to
     * (measured: docs/performance.md, "Grouped, not depthwise"). */
    int grouped_ok = r->groups > 1 && g->c > 1 && r->kg % FL_VL == 0;
    int whole_ok = r->k >= FL_MIN_K || r->k == FL_VL;
    if (!((r->groups == 1 ? whole_ok : grouped_ok) && g->dh == 1 &&
          g->dw == 1 && g->kh * g->kw <= FL_MAX_TAPS &&
          r->ckk >= FL_MIN_CKK))
        return 0;
    if (g->kh * g->kw == 1 && g->sh == 1 && g->sw == 1 &&
        r->ohw > FL_MAX_PW_PIXELS)
        return 0;
    /* Winograd does a 3x3 stride-1 layer in fewer multiplies wherever it
     * is chosen over the deep direct kernel (planes of 28x28 and more, and
     * 14x14 ones over a batch: docs/performance.md). Also faster than this
     * kernel there: AlexNet's conv3-5 at batch 8, 19-30 against 22-33 ms. */
    if (conv_wino_applies(r) && !conv_deep_applies(r))
        return 0;
    /* The same for a group taken as a layer: RegNetX's 2 groups of 32
     * at 56x56, 1.43-1.57 ms here against 0.75-0.87 in Winograd. */
    if (r->groups > 1 && conv_group_algorithm(r) == CONV_ALG_WINOGRAD)
        return 0;
    return 1;
}

/* The block's sums for np pixels from p0 and nv filter vectors over
 * channels [c0, c1): from the bias when c0 is the first channel, else
 * from the partial sums in `part` ([np][FL_KB]); through the epilogue
 * into y_img's planes k0 ... when c1 is the last, else back into part.
 * w points at channel c0 of the block's packed filters. */
static inline __attribute__((always_inline)) void
fl_block(const fl_run *fr, const float *x, const float *w, size_t k0,
         size_t kend, size_t p0, float *y_img, float *part, int64_t c0,
         int64_t c1, const int np, const int nv)
{
    const conv_run *r = fr->r;
    const conv_geom *g = &r->g;
    const size_t width = (size_t)nv * FL_VL, ow = (size_t)g->ow;
    const size_t plane = (size_t)r->ohw, kleft = kend - k0;
    size_t pix[FL_PB];
    __m512 acc[FL_PB][FL_FV];
    __mmask16 lanes[FL_FV];

    for (int v = 0; v < nv; v++) {
        size_t have = kleft > (size_t)v * FL_VL ? kleft - (size_t)v * FL_VL : 0;
        lanes[v] = have >= FL_VL ? (__mmask16)0xffff
                                 : (__mmask16)((1u << have) - 1u);
        if (c0 > 0) {
            for (int j = 0; j < np; j++)
                acc[j][v] = _mm512_load_ps(part + j * FL_KB + v * FL_VL);
            continue;
        }
        __m512 b = r->b ? _mm512_maskz_loadu_ps(lanes[v], r->b + k0 + v * FL_VL)
                        : _mm512_setzero_ps();
        for (int j = 0; j < np; j++)
            acc[j][v] = b;
    }
    for (int j = 0; j < np; j++) {
        size_t p = p0 + (size_t)j, oh = p / ow, oc = p % ow;
        pix[j] = oh * (size_t)g->sh * (size_t)fr->wpd + oc * (size_t)g->sw;
    }
    for (int64_t c = c0; c < c1; c++) {
        const float *xc = x + (size_t)c * fr->chan;
        for (size_t t = 0; t < fr->taps; t++) {
            const float *q = xc + fr->off[t];
            __m512 wv[FL_FV];
            for (int v = 0; v < nv; v++)
                wv[v] = _mm512_loadu_ps(w + v * FL_VL);
            w += width;
            for (int j = 0; j < np; j++) {
                __m512 xb = _mm512_set1_ps(q[pix[j]]);
                for (int v = 0; v < nv; v++)
                    acc[j][v] = _mm512_fmadd_ps(xb, wv[v], acc[j][v]);
            }
        }
    }
    if (c1 < g->c) {
        for (int v = 0; v < nv; v++)
            for (int j = 0; j < np; j++)
                _mm512_store_ps(part + j * FL_KB + v * FL_VL, acc[j][v]);
        return;
    }
    /* Through the epilogue, per lane's filter, then out: each filter's np
     * pixels are consecutive in its plane. */
    _Alignas(64) float tile[FL_PB][FL_KB];
    for (int v = 0; v < nv; v++) {
        conv_ep512 e;
        conv_ep512_init_lanes(&e, r->ep, (int64_t)(k0 + (size_t)v * FL_VL),
                              lanes[v]);
        for (int j = 0; j < np; j++)
            _mm512_store_ps(&tile[j][v * FL_VL], conv_ep512_apply(&e, acc[j][v]));
    }
    size_t nk = kleft < width ? kleft : width;
    for (size_t kk = 0; kk < nk; kk++) {
        float *dst = y_img + (k0 + kk) * plane + p0;
        for (int j = 0; j < np; j++)
            dst[j] = tile[j][kk];
    }
}

#define FL_BLOCK(NP, NV)                                                       \
    static void fl_block_##NP##_##NV(                                          \
        const fl_run *fr, const float *x, const float *w, size_t k0,           \
        size_t kend, size_t p0, float *y_img, float *part, int64_t c0,         \
        int64_t c1)                                                            \
    {                                                                          \
        fl_block(fr, x, w, k0, kend, p0, y_img, part, c0, c1, NP, NV);         \
    }
#define FL_BLOCKS(NV)                                                          \
    FL_BLOCK(1, NV) FL_BLOCK(2, NV) FL_BLOCK(3, NV) FL_BLOCK(4, NV)            \
        FL_BLOCK(5, NV) FL_BLOCK(6, NV)
FL_BLOCKS(1)
FL_BLOCKS(2)
FL_BLOCKS(3)
FL_BLOCKS(4)

typedef void (*fl_block_fn)(const fl_run *, const float *, const float *,
                            size_t, size_t, size_t, float *, float *, int64_t,
                            int64_t);
static const fl_block_fn fl_blocks[FL_FV][FL_PB] = {
    {fl_block_1_1, fl_block_2_1, fl_block_3_1, fl_block_4_1, fl_block_5_1,
     fl_block_6_1},
    {fl_block_1_2, fl_block_2_2, fl_block_3_2, fl_block_4_2, fl_block_5_2,
     fl_block_6_2},
    {fl_block_1_3, fl_block_2_3, fl_block_3_3, fl_block_4_3, fl_block_5_3,
     fl_block_6_3},
    {fl_block_1_4, fl_block_2_4, fl_block_3_4, fl_block_4_4, fl_block_5_4,
     fl_block_6_4},
};

static void fl_pad(void *arg, size_t s0, size_t s1)
{
    fl_run *fr = arg;
    for (size_t s = s0; s < s1; s++) {
        size_t img;
        while (conv_queue_take(&fr->pad_queue, s, &img))
            conv_pad_image(fr->r, img, fr->pad + img * fr->img, fr->img,
                           fr->chan, fr->wpd);
    }
}

static void fl_compute(void *arg, size_t s0, size_t s1)
{
    fl_run *fr = arg;
    const conv_run *r = fr->r;
    const size_t plane = (size_t)r->ohw, k = (size_t)r->k;
    const size_t ckk = (size_t)r->ckk, kg = (size_t)(r->k / r->groups);
    for (size_t s = s0; s < s1; s++) {
        size_t item;
        while (conv_queue_take(&fr->queue, s, &item)) {
            size_t img = item / (fr->chunks * fr->kblocks);
            size_t rest = item % (fr->chunks * fr->kblocks);
            size_t ci = rest / fr->kblocks, kb = rest % fr->kblocks;
            size_t gi = kb / fr->group_blocks;
            size_t kend = (gi + 1) * kg;
            size_t k0 = gi * kg + kb % fr->group_blocks * FL_KB;
            size_t p0 = ci * fr->chunk;
            size_t p1 = ci + 1 == fr->chunks ? plane : p0 + fr->chunk;
            size_t fv = (kend - k0 + FL_VL - 1) / FL_VL;
            fv = fv < FL_FV ? fv : FL_FV;
            const float *x = fr->xp + img * fr->img + gi * fr->group_floats;
            const float *w = fr->wp + k0 * ckk;
            float *y_img = r->y + img * k * plane;
            float *part = fr->part ? fr->part + s * fr->part_floats : NULL;
            const int64_t cin = r->g.c;
            const size_t chan_floats = fr->taps * fv * FL_VL; /* per channel */
            /* A slab of channels' filters at a time over every pixel block
             * of the chunk, so that the slab is read from L1 (see
             * FL_SLAB_BYTES); the sums still run over channels in order. */
            for (int64_t c0 = 0; c0 < cin; c0 += fr->cblock) {
                int64_t c1 = cin - c0 < fr->cblock ? cin : c0 + fr->cblock;
                const float *wc = w + (size_t)c0 * chan_floats;
                /* The next slab's filters (none after the last), a share
                 * before each of this slab's pixel blocks: they come from
                 * L3 or memory, and a slab read on demand at its first
                 * block waited for them. */
                int64_t c2 = cin - c1 < fr->cblock ? cin : c1 + fr->cblock;
                const char *next = (const char *)(w + (size_t)c1 * chan_floats);
                size_t next_bytes = (size_t)(c2 - c1) * chan_floats *
                                    sizeof(float);
                size_t blocks = (p1 - p0 + FL_PB - 1) / FL_PB;
                size_t step = (next_bytes / 64 + blocks - 1) / blocks * 64;
                for (size_t p = p0, at = 0; p < p1; p += FL_PB) {
                    size_t np = p1 - p < FL_PB ? p1 - p : FL_PB;
                    for (size_t e = at + step; at < e && at < next_bytes;
                         at += 64)
                        __builtin_prefetch(next + at);
                    fl_blocks[fv - 1][np - 1](
                        fr, x, wc, k0, kend, p, y_img,
                        part ? part + (p - p0) * FL_KB : NULL, c0, c1);
                }
            }
        }
    }
}

cnn_status conv_fl_forward(conv_run *r, const float *packed, cnn_errbuf *err)
{
    const conv_geom *g = &r->g;
    const size_t plane = (size_t)r->ohw;
    size_t threads = r->env && r->env->threads > 1 ? (size_t)r->env->threads
                                                   : 1;
    fl_run fr;
    memset(&fr, 0, sizeof fr);
    fr.r = r;
    fr.wp = packed;
    fr.hp = g->h + g->ph + g->pb;
    fr.wpd = g->w + g->pw + g->pr;
    fr.chan = (size_t)(fr.hp * fr.wpd);
    fr.img = (size_t)r->cin * fr.chan;
    fr.group_floats = (size_t)g->c * fr.chan;
    fr.taps = (size_t)(g->kh * g->kw);
    for (int64_t a = 0; a < g->kh; a++)
        for (int64_t b = 0; b < g->kw; b++)
            fr.off[a * g->kw + b] = (size_t)(a * fr.wpd + b);
    fr.group_blocks = (size_t)(r->k / r->groups + FL_KB - 1) / FL_KB;
    fr.kblocks = (size_t)r->groups * fr.group_blocks;
    /* Chunks of whole blocks; with threads, enough items for four per
     * thread where the images allow (ResNet's 7x7 layers at batch 1 have
     * 8 blocks of filters, 49 pixels). */
    fr.chunk = (plane + FL_PB - 1) / FL_PB * FL_PB;
    if (fr.chunk > FL_CHUNK)
        fr.chunk = FL_CHUNK;
    while (threads > 1 && fr.chunk > FL_PB &&
           (size_t)r->n * fr.kblocks * ((plane + fr.chunk - 1) / fr.chunk) <
               4 * threads)
        fr.chunk = (fr.chunk / 2 + FL_PB - 1) / FL_PB * FL_PB;
    fr.chunks = (plane + fr.chunk - 1) / fr.chunk;

    uint64_t macs = (uint64_t)r->n * (uint64_t)r->k * (uint64_t)plane *
                    (uint64_t)r->ckk;
    size_t items = (size_t)r->n * fr.chunks * fr.kblocks;
    r->slots = conv_slots(r, items, macs);
    /* Channels per slab: a block's filters of up to FL_SLAB_BYTES. */
    size_t chan_bytes = fr.taps * FL_KB * sizeof(float);
    fr.cblock = (int64_t)(FL_SLAB_BYTES / chan_bytes);
    if (fr.cblock < 1)
        fr.cblock = 1;
    if (fr.cblock >= g->c || (size_t)g->c * chan_bytes <= FL_SLAB_FROM_BYTES)
        fr.cblock = g->c;
    fr.part_floats = fr.cblock < g->c ? fr.chunk * FL_KB : 0;
    int padded = g->ph || g->pw || g->pb || g->pr;
    /* Rounded to 16 floats: the partial sums after it are aligned. */
    size_t pad_floats = padded ? ((size_t)r->n * fr.img + 15) / 16 * 16 : 0;
    size_t need = pad_floats + r->slots * fr.part_floats;
    if (need) {
        float *ws = r->env && r->env->workspace
                        ? r->env->workspace(r->env->host, need)
                        : NULL;
        if (!ws)
            return conv_gemm_forward(r, err); /* its own, smaller, workspace */
        fr.pad = padded ? ws : NULL;
        fr.part = fr.part_floats ? ws + pad_floats : NULL;
    }
    if (padded) {
        fr.xp = fr.pad;
        size_t pad_slots = r->slots < (size_t)r->n ? r->slots : (size_t)r->n;
        conv_queue_init(&fr.pad_queue, (size_t)r->n, pad_slots);
        if (pad_slots > 1)
            r->env->parallel_for(r->env->host, pad_slots, fl_pad, &fr);
        else
            fl_pad(&fr, 0, 1);
    } else {
        fr.xp = r->x;
    }
    conv_queue_init(&fr.queue, items, r->slots);
    if (r->slots > 1)
        r->env->parallel_for(r->env->host, r->slots, fl_compute, &fr);
    else
        fl_compute(&fr, 0, 1);
    r->epilogue_done = 1;
    return CNN_OK;
}

#else /* no AVX-512 in this build: never chosen */

size_t conv_fl_packed_floats(const conv_run *r)
{
    (void)r;
    return 0;
}

void conv_fl_pack(const conv_run *r, float *dst)
{
    (void)r, (void)dst;
}

int conv_fl_applies(const conv_run *r)
{
    (void)r;
    return 0;
}

cnn_status conv_fl_forward(conv_run *r, const float *packed, cnn_errbuf *err)
{
    (void)packed;
    return conv_gemm_forward(r, err);
}

#endif
