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
 * filters' rows of W as they are: each row's cache line serves 16 steps
 * (packing W at every call cost more than it saved on MobileNetV2's 14x14
 * layers). When 1 to 16 pixels are left past a 48-pixel tile, the last
 * tile is 6 filters by 64 pixels instead.
 *
 * With a params token (inference on constant weights) conv.c keeps W
 * packed in panels of 16 filters, [K/16][C][16]: a tile's 8 weights of a
 * step are adjacent, and in a network whose weights do not fit L2 the
 * filters stream in as one sequence, where 8 rows of 160 channels (10
 * cache lines each) were too short for the prefetchers. The last 1 to 16
 * pixels are then dot products with the vector along a panel's 16
 * filters, every lane used (pw_dot_columns). MobileNetV2 at batch 1, one
 * thread, Zen 4: its 7x7 layers 0.18 -> 0.16 ms, 14x14 expansions 0.233
 * -> 0.211, the whole pass 7.80 -> 7.39 ms.
 *
 * Sums run over c in a fixed order, so results do not depend on the
 * thread count. Work items are (image, pixel chunk, block of filters), in
 * image order.
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
    PW_MR = 8,     /* filters per tile */
    PW_NR = 48,    /* pixels per tile: three vectors */
    PW_PANEL = 16, /* filters per panel of the packed filters */
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

/* A product Y[K, cols] = W[K, c_count] X[c_count, cols] + b, then the
 * epilogue: W, b and the epilogue are the layer's (r). */
typedef struct pw_mat {
    const conv_run *r;
    size_t ldx, ldy, c_count;
    const float *wp; /* the filters packed (conv_pw_pack), or NULL: W's
                        rows as they are */
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
        size_t cols, const int MR, const int NV, const int PACKED)
{
    const conv_run *r = mt->r;
    const size_t ldx = mt->ldx, ldy = mt->ldy, c_count = mt->c_count;
    const __mmask16 m[4] = {
        pw_lanes((ptrdiff_t)cols), pw_lanes((ptrdiff_t)cols - 16),
        pw_lanes((ptrdiff_t)cols - 32), pw_lanes((ptrdiff_t)cols - 48)};
    __m512 acc[PW_MR][4];
    const float *wr[PW_MR]; /* the filters' rows; past the last, the last */
    /* Packed: filter k0 + i of step c at wq[16 c + i] (k0 is 8-aligned);
     * a panel's rows past K are zeros. */
    const float *wq = PACKED ? mt->wp + (size_t)(k0 / PW_PANEL) * PW_PANEL *
                                            c_count +
                                   (size_t)(k0 % PW_PANEL)
                             : NULL;

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
            __m512 w = _mm512_set1_ps(PACKED ? wq[c * PW_PANEL + (size_t)i]
                                             : wr[i][c]);
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
    pw_tile(mt, x, y, k0, rows, cols, 8, 3, 0);
}

static void pw_tile48p(const pw_mat *mt, const float *x, float *y,
                       int64_t k0, int rows, size_t cols)
{
    pw_tile(mt, x, y, k0, rows, cols, 8, 3, 1);
}

static void pw_tile32(const pw_mat *mt, const float *x, float *y,
                      int64_t k0, int rows, size_t cols)
{
    pw_tile(mt, x, y, k0, rows, cols, 8, 2, 0);
}

static void pw_tile32p(const pw_mat *mt, const float *x, float *y,
                       int64_t k0, int rows, size_t cols)
{
    pw_tile(mt, x, y, k0, rows, cols, 8, 2, 1);
}

static void pw_tile16(const pw_mat *mt, const float *x, float *y,
                      int64_t k0, int rows, size_t cols)
{
    pw_tile(mt, x, y, k0, rows, cols, 8, 1, 0);
}

static void pw_tile16p(const pw_mat *mt, const float *x, float *y,
                       int64_t k0, int rows, size_t cols)
{
    pw_tile(mt, x, y, k0, rows, cols, 8, 1, 1);
}

/* 6 filters by 64 pixels: the last tile of a row of tiles when 1 to 16
 * pixels are left past a 48-pixel tile (a 7x7 plane is 48 + 1, 14x14 4 x
 * 48 + 4). A separate 8 x 16 tile there loads 8 weights for every 8
 * multiply-adds, and cost 7% of MobileNetV2's time; here the 6 weights of
 * a step serve 4 vectors. */
static void pw_tile64(const pw_mat *mt, const float *x, float *y,
                      int64_t k0, int rows, size_t cols)
{
    pw_tile(mt, x, y, k0, rows, cols, 6, 4, 0);
}

/* Above this many bytes of X per chunk (C x its pixels), a chunk's
 * columns are the outer loop, so that each column block passes through L1
 * once for every filter panel; below it, the filter panels are: each
 * writes its 8 rows of Y as 8 long streams, where a column block wrote
 * 192 bytes into each of K rows. MobileNetV2 at batch 1: 32 -> 16 at
 * 112x112 0.194 -> 0.157 ms, 16 -> 96 0.561 -> 0.458; 144 -> 24 at 56x56
 * (884 KiB of X per chunk) level to slower. */
#ifndef PW_PANELS_OUTER_BYTES
#define PW_PANELS_OUTER_BYTES ((size_t)512 << 10)
#endif

static void pw_tile_cols(const pw_mat *mt, const float *x, float *y,
                         int64_t k0, int rows, size_t cols)
{
    if (mt->wp) {
        if (cols > 32)
            pw_tile48p(mt, x, y, k0, rows, cols);
        else if (cols > 16)
            pw_tile32p(mt, x, y, k0, rows, cols);
        else
            pw_tile16p(mt, x, y, k0, rows, cols);
    } else if (cols > 32) {
        pw_tile48(mt, x, y, k0, rows, cols);
    } else if (cols > 16) {
        pw_tile32(mt, x, y, k0, rows, cols);
    } else {
        pw_tile16(mt, x, y, k0, rows, cols);
    }
}

/* Columns [p, p + cols), 1 to 4 of them, of filters [k0, k0 + rows) of one
 * packed panel (rows <= 16), with the vector along the panel's 16 filters:
 * each step over c loads the panel's 16 weights and broadcasts each
 * column's x. Four partial sums per column, over c mod 4, keep four
 * multiply-adds in flight; they are added in a fixed order. */
static inline __attribute__((always_inline)) void
pw_dot_panel(const pw_mat *mt, const float *x, float *y, int64_t k0,
             int rows, size_t p, const int NJ)
{
    const conv_run *r = mt->r;
    const size_t ldx = mt->ldx, c_count = mt->c_count;
    const float *wq = mt->wp + (size_t)(k0 / PW_PANEL) * PW_PANEL * c_count;
    const __mmask16 lanes = pw_lanes(rows);
    __m512 acc[4][4];
    size_t c = 0;

#pragma GCC unroll 4
    for (int j = 0; j < NJ; j++)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++)
            acc[j][u] = _mm512_setzero_ps();
    for (; c + 4 <= c_count; c += 4) {
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) {
            __m512 w = _mm512_load_ps(wq + (c + (size_t)u) * PW_PANEL);
            const float *xc = x + (c + (size_t)u) * ldx + p;
#pragma GCC unroll 4
            for (int j = 0; j < NJ; j++)
                acc[j][u] =
                    _mm512_fmadd_ps(w, _mm512_set1_ps(xc[j]), acc[j][u]);
        }
    }
    for (; c < c_count; c++) {
        __m512 w = _mm512_load_ps(wq + c * PW_PANEL);
#pragma GCC unroll 4
        for (int j = 0; j < NJ; j++)
            acc[j][0] = _mm512_fmadd_ps(w, _mm512_set1_ps(x[c * ldx + p + j]),
                                        acc[j][0]);
    }
    {
        __m512 b = r->b ? _mm512_maskz_loadu_ps(lanes, r->b + k0)
                        : _mm512_setzero_ps();
        conv_ep512 e;
        conv_ep512_init_lanes(&e, r->ep, k0, lanes);
#pragma GCC unroll 4
        for (int j = 0; j < NJ; j++) {
            float out[16];
            __m512 v = _mm512_add_ps(_mm512_add_ps(acc[j][0], acc[j][1]),
                                     _mm512_add_ps(acc[j][2], acc[j][3]));
            _mm512_storeu_ps(out, conv_ep512_apply(&e, _mm512_add_ps(b, v)));
            for (int i = 0; i < rows; i++)
                y[(size_t)(k0 + i) * mt->ldy + p + (size_t)j] = out[i];
        }
    }
}

/* The last 1 to 16 columns [p, p + cols) of filters [kb0, kb1) (kb0 a
 * multiple of 16), as dot products along c: a tile of vectors along the
 * pixels would leave most of its lanes empty there (a 7x7 plane is 48 + 1
 * pixels; a 6 x 64 tile over the last 49 used 77% of its lanes). */
static void pw_dot_columns(const pw_mat *mt, const float *x, float *y,
                           size_t p, size_t cols, int64_t kb0, int64_t kb1)
{
    for (int64_t k0 = kb0; k0 < kb1; k0 += PW_PANEL) {
        const int rows = kb1 - k0 < PW_PANEL ? (int)(kb1 - k0) : PW_PANEL;
        /* Four columns at a time, then the 1 to 3 left. */
        size_t q = p, end = p + cols;
        for (; q + 4 <= end; q += 4)
            pw_dot_panel(mt, x, y, k0, rows, q, 4);
        if (end - q == 3)
            pw_dot_panel(mt, x, y, k0, rows, q, 3);
        else if (end - q == 2)
            pw_dot_panel(mt, x, y, k0, rows, q, 2);
        else if (end - q == 1)
            pw_dot_panel(mt, x, y, k0, rows, q, 1);
    }
}

/* Columns [p0, p1) and filters [kb0, kb1) of Y = W X + b, then the
 * epilogue. Packed filters (mt->wp; kb0 a multiple of 16) take 48-pixel
 * tiles and leave the last 1 to 16 columns (all of them on a plane that
 * small) to pw_dot_columns; W's rows take a 6 x 64 tile there instead. */
static void pw_columns(const pw_mat *mt, const float *x, float *y,
                       size_t p0, size_t p1, int64_t kb0, int64_t kb1)
{
    const size_t ldy = mt->ldy, width = p1 - p0;
    size_t tiled = width, tail = 0; /* columns for tiles; after them */

    if (mt->wp && width % PW_NR != 0 && width % PW_NR <= 16) {
        /* Also a whole plane of 1 to 16 pixels (squeeze-and-excitation's
         * 1x1 planes): a pixel tile there would use 1 of 16 lanes. */
        tail = width % PW_NR;
        tiled = width - tail;
    } else if (!mt->wp && width > PW_NR && width % PW_NR != 0 &&
               width % PW_NR <= 16) {
        tail = width % PW_NR + PW_NR; /* one 6 x 64 tile */
        tiled = width - tail;
    }
    if (mt->c_count * width * sizeof(float) <= PW_PANELS_OUTER_BYTES) {
        for (int64_t k0 = kb0; k0 < kb1; k0 += PW_MR) {
            int rows = kb1 - k0 < PW_MR ? (int)(kb1 - k0) : PW_MR;
            for (size_t p = p0; p < p0 + tiled; p += PW_NR) {
                size_t left = p0 + tiled - p;
                pw_tile_cols(mt, x + p, y + (size_t)k0 * ldy + p, k0, rows,
                             left < PW_NR ? left : PW_NR);
            }
        }
    } else {
        for (size_t p = p0; p < p0 + tiled; p += PW_NR) {
            size_t left = p0 + tiled - p;
            for (int64_t k0 = kb0; k0 < kb1; k0 += PW_MR)
                pw_tile_cols(mt, x + p, y + (size_t)k0 * ldy + p, k0,
                             kb1 - k0 < PW_MR ? (int)(kb1 - k0) : PW_MR,
                             left < PW_NR ? left : PW_NR);
        }
    }
    if (!tail)
        return;
    if (mt->wp) {
        pw_dot_columns(mt, x, y, p0 + tiled, tail, kb0, kb1);
        return;
    }
    for (int64_t k0 = kb0; k0 < kb1; k0 += 6)
        pw_tile64(mt, x + p0 + tiled, y + (size_t)k0 * ldy + p0 + tiled, k0,
                  kb1 - k0 < 6 ? (int)(kb1 - k0) : 6, tail);
}

void conv_pw_columns(const conv_run *r, const float *x, size_t ldx,
                     size_t c_count, float *y, size_t ldy, size_t p0,
                     size_t p1, int64_t kb0, int64_t kb1)
{
    const pw_mat mt = {r, ldx, ldy, c_count, NULL};
    pw_columns(&mt, x, y, p0, p1, kb0, kb1);
}

size_t conv_pw_packed_floats(const conv_run *r)
{
    return (size_t)((r->k + PW_PANEL - 1) / PW_PANEL) * PW_PANEL *
           (size_t)r->g.c;
}

/* W [K, C] as panels of 16 filters, [K/16][C][16], the last panel's rows
 * past K zeros: a tile's 8 weights of one step are then adjacent, and the
 * filters stream through the cache in one pass. */
void conv_pw_pack(const conv_run *r, float *dst)
{
    const size_t c_count = (size_t)r->g.c;
    for (int64_t k0 = 0; k0 < r->k; k0 += PW_PANEL)
        for (size_t c = 0; c < c_count; c++)
            for (int64_t i = 0; i < PW_PANEL; i++)
                *dst++ = k0 + i < r->k
                             ? r->w[(size_t)(k0 + i) * c_count + c]
                             : 0.0f;
}

typedef struct pw_run {
    conv_run *r;
    const float *wp; /* packed filters, or NULL */
    size_t chunk;    /* pixels per item, a multiple of PW_NR (the last
                        chunk of an image takes the rest) */
    size_t chunks;   /* chunks per image */
    int64_t kblock;  /* filters per item, a multiple of 48 (8-, 6- and
                        16-filter panels alike), but the last */
    size_t kblocks;  /* filter blocks per chunk */
} pw_run;

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
            const pw_mat mt = {r, plane, plane, c_count, pr->wp};
            pw_columns(&mt, r->x + img * c_count * plane,
                       r->y + img * (size_t)k * plane, p0, p1, kb0, kb1);
        }
    }
}

cnn_status conv_pw_forward_with(conv_run *r, const float *packed,
                                cnn_errbuf *err)
{
    const size_t plane = (size_t)r->ohw, c_count = (size_t)r->g.c;
    uint64_t macs = (uint64_t)r->n * (uint64_t)r->k * (uint64_t)plane *
                    (uint64_t)c_count;
    size_t threads = r->env && r->env->threads > 1 ? (size_t)r->env->threads
                                                   : 1;
    pw_run pr = {.r = r, .wp = packed};
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
    while (threads > 1 && pr.kblock > 48 &&
           (size_t)r->n * pr.chunks *
                   (size_t)((r->k + pr.kblock - 1) / pr.kblock) <
               2 * threads)
        pr.kblock = ((pr.kblock + 1) / 2 + 47) / 48 * 48;
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

cnn_status conv_pw_forward(conv_run *r, cnn_errbuf *err)
{
    return conv_pw_forward_with(r, NULL, err);
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

size_t conv_pw_packed_floats(const conv_run *r)
{
    (void)r;
    return 0;
}

void conv_pw_pack(const conv_run *r, float *dst)
{
    (void)r, (void)dst;
}

cnn_status conv_pw_forward_with(conv_run *r, const float *packed,
                                cnn_errbuf *err)
{
    (void)r, (void)packed;
    (void)err;
    return CNN_ERR_UNSUPPORTED;
}

#endif
