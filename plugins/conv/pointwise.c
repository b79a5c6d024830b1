/* SPDX-License-Identifier: MIT */
/* Pointwise (1x1, stride 1, no padding) convolutions forward on AVX-512:
 * MobileNetV2's expansion and projection layers, ResNet's 1x1 layers.
 *
 * Y[K, HW] = W[K, C] X[C, HW] is a GEMM whose B, the image itself, needs
 * no im2col; but through the GEMM it still costs three passes over Y
 * besides the product: the bias written first (the GEMM adds with beta
 * 1), and the folded batch norm and relu (ABI 1.4) applied after. On
 * MobileNetV2's 112x112 and 56x56 layers, with 16 to 32 channels in and
 * 4.8 MiB out per image, those passes cost more than the multiply-adds.
 * Here each 8 x 48 tile of Y is summed in registers from the bias, and
 * leaves them once, through the epilogue.
 *
 * The micro-kernel is the GEMM's (gemm_avx512.c): 8 filters by 48 pixels,
 * 24 accumulators; each step over c loads 48 pixels of channel c straight
 * from X (the rows of a 48-pixel column block stay in L1 or L2 while every
 * filter panel passes over them) and broadcasts 8 weights from the 8
 * filters' rows of W as they are: each row's cache line serves 16 steps,
 * so W needs no packed copy (packing it per call cost more than it saved
 * on MobileNetV2's 14x14 layers). When 1 to 16 pixels are left past a
 * 48-pixel tile, the last tile is 6 filters by 64 pixels instead. Sums run
 * over c in order, so results do not depend on the thread count. Work
 * items are (image, pixel chunk, block of filters), in image order.
 *
 * conv.c tries this before direct.c and direct_deep.c: on MobileNetV2 at
 * batch 1 it took the 32 -> 16 layer at 112x112 from 0.56 ms (direct.c)
 * to 0.23, and its 7x7 layers from 0.28 to 0.24 (direct_deep.c). The
 * im2col path (conv_gemm.c) runs its column matrix through the same tiles
 * when the filter bank is small (conv_pw_columns). */

#include "conv_impl.h"

#if defined(__GNUC__) && defined(__AVX512F__)

#include <immintrin.h>

#include "epilogue_avx512.h"

enum {
    PW_MR = 8,  /* filters per tile */
    PW_NR = 48, /* pixels per tile: three vectors */
};

/* Channels up to which a 48-pixel column block (C x 192 bytes) stays in
 * L2 while the filter panels pass over it; deeper layers go to the GEMM,
 * which blocks the sum. */
#ifndef PW_MAX_C
#define PW_MAX_C 1024
#endif

/* Pixels per work item at most (a multiple of PW_NR). */
#ifndef PW_CHUNK
#define PW_CHUNK (PW_NR * 32)
#endif

typedef struct pw_run {
    conv_run *r;
    size_t chunk;   /* pixels per item, a multiple of PW_NR (the last
                       chunk of an image takes the rest) */
    size_t chunks;  /* chunks per image */
    int64_t kblock; /* filters per item, a multiple of 24 (8- and 6-filter
                       panels alike), but the last */
    size_t kblocks; /* filter blocks per chunk */
} pw_run;

/* A product Y[K, cols] = W[K, c_count] X[c_count, cols] + b, then the
 * epilogue: W, b and the epilogue are the layer's (r). */
typedef struct pw_mat {
    const conv_run *r;
    size_t ldx, ldy, c_count;
} pw_mat;

int conv_pw_applies(const conv_run *r)
{
    const conv_geom *g = &r->g;
    return r->groups == 1 && g->kh == 1 && g->kw == 1 && g->sh == 1 &&
           g->sw == 1 && g->ph == 0 && g->pw == 0 && g->pb == 0 &&
           g->pr == 0 && g->dh == 1 && g->dw == 1 && g->c <= PW_MAX_C;
}

/* The im2col path (conv_gemm.c) multiplies its column matrix here when
 * the filters, W [K, C kh kw], are small enough to stay in L2 beside a
 * column block (C kh kw x 48 floats): a stem (MobileNetV2's 3 -> 32, 27
 * columns), where the GEMM's bias and epilogue passes over the output
 * cost as much as the product. Larger filter banks go to the GEMM, which
 * blocks them. */
#ifndef PW_BAND_MAX_W_FLOATS
#define PW_BAND_MAX_W_FLOATS ((size_t)1 << 15) /* 128 KiB */
#endif

int conv_pw_band_applies(const conv_run *r)
{
    return r->groups == 1 && (size_t)r->ckk <= PW_MAX_C &&
           (size_t)r->k * (size_t)r->ckk <= PW_BAND_MAX_W_FLOATS;
}

static inline __mmask16 pw_lanes(ptrdiff_t count)
{
    if (count <= 0)
        return 0;
    return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1u);
}

/* One tile: filters [k0, k0 + rows) by columns [p, p + cols) of the
 * product, cols <= 16 NV, rows <= MR. x points at column p of X's row 0, y
 * at column p of Y's row k0 (row strides mt->ldx, mt->ldy). */
static inline __attribute__((always_inline)) void
pw_tile(const pw_mat *mt, const float *x, float *y, int64_t k0, int rows,
        size_t cols, const int MR, const int NV)
{
    const conv_run *r = mt->r;
    const size_t ldx = mt->ldx, ldy = mt->ldy, c_count = mt->c_count;
    const __mmask16 m[4] = {
        pw_lanes((ptrdiff_t)cols), pw_lanes((ptrdiff_t)cols - 16),
        pw_lanes((ptrdiff_t)cols - 32), pw_lanes((ptrdiff_t)cols - 48)};
    __m512 acc[PW_MR][4];
    const float *wr[PW_MR]; /* the filters' rows; past the last, the last */

#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
        wr[i] = r->w + (size_t)(k0 + (i < rows ? i : rows - 1)) * c_count;

#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        __m512 b = _mm512_setzero_ps();
        if (r->b && i < rows)
            b = _mm512_set1_ps(r->b[k0 + i]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            acc[i][v] = b;
    }
    for (size_t c = 0; c < c_count; c++, x += ldx) {
        __m512 xv[4];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            xv[v] = _mm512_maskz_loadu_ps(m[v], x + v * 16);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            __m512 w = _mm512_set1_ps(wr[i][c]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[i][v] = _mm512_fmadd_ps(w, xv[v], acc[i][v]);
        }
    }
    /* Unrolled with constant indices, so that acc stays in registers (a
     * loop to `rows` made the compiler keep acc on the stack). */
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        float *row = y + (size_t)i * ldy;
        conv_ep512 e;
        if (i >= rows)
            break;
        conv_ep512_init(&e, r->ep, k0 + i);
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            _mm512_mask_storeu_ps(row + v * 16, m[v],
                                  conv_ep512_apply(&e, acc[i][v]));
    }
}

static void pw_tile48(const pw_mat *mt, const float *x, float *y,
                      int64_t k0, int rows, size_t cols)
{
    pw_tile(mt, x, y, k0, rows, cols, 8, 3);
}

static void pw_tile32(const pw_mat *mt, const float *x, float *y,
                      int64_t k0, int rows, size_t cols)
{
    pw_tile(mt, x, y, k0, rows, cols, 8, 2);
}

static void pw_tile16(const pw_mat *mt, const float *x, float *y,
                      int64_t k0, int rows, size_t cols)
{
    pw_tile(mt, x, y, k0, rows, cols, 8, 1);
}

/* 6 filters by 64 pixels: the last tile of a row of tiles when 1 to 16
 * pixels are left past a 48-pixel tile (a 7x7 plane is 48 + 1, 14x14 4 x
 * 48 + 4). A separate 8 x 16 tile there loads 8 weights for every 8
 * multiply-adds, and cost 7% of MobileNetV2's time; here the 6 weights of
 * a step serve 4 vectors. */
static void pw_tile64(const pw_mat *mt, const float *x, float *y,
                      int64_t k0, int rows, size_t cols)
{
    pw_tile(mt, x, y, k0, rows, cols, 6, 4);
}

/* Columns [p0, p1) and filters [kb0, kb1) of Y = W X + b, then the
 * epilogue (conv_impl.h). */
void conv_pw_columns(const conv_run *r, const float *x, size_t ldx,
                     size_t c_count, float *y, size_t ldy, size_t p0,
                     size_t p1, int64_t kb0, int64_t kb1)
{
    const pw_mat mt = {r, ldx, ldy, c_count};
    for (size_t p = p0, cols; p < p1; p += cols) {
        size_t left = p1 - p;
        if (left > PW_NR && left <= PW_NR + 16) {
            cols = left;
            for (int64_t k0 = kb0; k0 < kb1; k0 += 6)
                pw_tile64(&mt, x + p,
                          y + (size_t)k0 * ldy + p, k0,
                          kb1 - k0 < 6 ? (int)(kb1 - k0) : 6, cols);
            continue;
        }
        cols = left < PW_NR ? left : PW_NR;
        for (int64_t k0 = kb0; k0 < kb1; k0 += PW_MR) {
            int rows = kb1 - k0 < PW_MR ? (int)(kb1 - k0) : PW_MR;
            float *yt = y + (size_t)k0 * ldy + p;
            /* A narrow last tile computes only its vectors. */
            if (cols > 32)
                pw_tile48(&mt, x + p, yt, k0, rows, cols);
            else if (cols > 16)
                pw_tile32(&mt, x + p, yt, k0, rows, cols);
            else
                pw_tile16(&mt, x + p, yt, k0, rows, cols);
        }
    }
}

static void pw_slot(void *arg, size_t s0, size_t s1)
{
    pw_run *pr = arg;
    conv_run *r = pr->r;
    const size_t plane = (size_t)r->ohw, c_count = (size_t)r->g.c;
    const int64_t k = r->k;

    for (size_t s = s0; s < s1; s++) {
        size_t item;
        while (conv_queue_take(&r->queue, s, &item)) {
            size_t img = item / (pr->chunks * pr->kblocks);
            size_t rest = item % (pr->chunks * pr->kblocks);
            size_t ci = rest / pr->kblocks;
            int64_t kb0 = (int64_t)(rest % pr->kblocks) * pr->kblock;
            int64_t kb1 = kb0 + pr->kblock < k ? kb0 + pr->kblock : k;
            size_t p0 = ci * pr->chunk;
            size_t p1 = ci + 1 == pr->chunks ? plane : p0 + pr->chunk;
            const float *x_img = r->x + img * c_count * plane;
            float *y_img = r->y + img * (size_t)k * plane;
            conv_pw_columns(r, x_img, plane, c_count, y_img, plane, p0, p1,
                            kb0, kb1);
        }
    }
}

cnn_status conv_pw_forward(conv_run *r, cnn_errbuf *err)
{
    const size_t plane = (size_t)r->ohw, c_count = (size_t)r->g.c;
    uint64_t macs = (uint64_t)r->n * (uint64_t)r->k * (uint64_t)plane *
                    (uint64_t)c_count;
    size_t threads = r->env && r->env->threads > 1 ? (size_t)r->env->threads
                                                   : 1;
    pw_run pr = {.r = r};
    size_t items;

    (void)err;
    /* Chunks of whole tiles, at most PW_CHUNK pixels; with threads, enough
     * items for four per thread where the images allow, then blocks of
     * filters for two per thread (MobileNetV2's 7x7 layers at batch 1 are
     * one chunk). An image's last chunk takes up to 16 pixels more rather
     * than leaving them to a chunk of their own (7x7: 48 + 1). */
    pr.chunk = (plane + PW_NR - 1) / PW_NR * PW_NR;
    if (pr.chunk > PW_CHUNK)
        pr.chunk = PW_CHUNK;
    while (threads > 1 && pr.chunk > PW_NR &&
           (size_t)r->n * ((plane + pr.chunk - 1) / pr.chunk) < 4 * threads)
        pr.chunk -= PW_NR;
    pr.chunks = (plane + pr.chunk - 1) / pr.chunk;
    if (pr.chunks > 1 && plane - (pr.chunks - 1) * pr.chunk <= 16)
        pr.chunks--;
    pr.kblock = r->k;
    while (threads > 1 && pr.kblock > 24 &&
           (size_t)r->n * pr.chunks *
                   (size_t)((r->k + pr.kblock - 1) / pr.kblock) <
               2 * threads)
        pr.kblock = ((pr.kblock + 1) / 2 + 23) / 24 * 24;
    pr.kblocks = (size_t)((r->k + pr.kblock - 1) / pr.kblock);
    items = (size_t)r->n * pr.chunks * pr.kblocks;
    r->slots = conv_slots(r, items, macs);
    conv_queue_init(&r->queue, items, r->slots);
    if (r->slots > 1)
        r->env->parallel_for(r->env->host, r->slots, pw_slot, &pr);
    else
        pw_slot(&pr, 0, 1);
    r->epilogue_done = 1;
    return CNN_OK;
}

#else /* no AVX-512 in this build: the GEMM path takes every 1x1 layer */

int conv_pw_applies(const conv_run *r)
{
    (void)r;
    return 0;
}

int conv_pw_band_applies(const conv_run *r)
{
    (void)r;
    return 0;
}

void conv_pw_columns(const conv_run *r, const float *x, size_t ldx,
                     size_t c_count, float *y, size_t ldy, size_t p0,
                     size_t p1, int64_t kb0, int64_t kb1)
{
    (void)r, (void)x, (void)ldx, (void)c_count, (void)y, (void)ldy;
    (void)p0, (void)p1, (void)kb0, (void)kb1;
}

cnn_status conv_pw_forward(conv_run *r, cnn_errbuf *err)
{
    (void)r;
    (void)err;
    return CNN_ERR_UNSUPPORTED;
}

#endif
