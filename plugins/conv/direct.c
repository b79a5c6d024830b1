/* SPDX-License-Identifier: MIT */
/* Direct ("implicit GEMM") convolution for stride 1 and few filters:
 * LeNet's layers, where im2col + GEMM spends more time copying and calling
 * than multiplying (a [6 x 25] x [25 x 784] GEMM runs at a third of
 * OpenBLAS's peak, and the column matrix is 25 times the image).
 *
 * The trick that makes it one loop: pad the image into xp [C][Hp][Wp] and
 * compute the output on a "virtual" grid of width Wp instead of OW. Output
 * pixel p = oh Wp + ow reads xp[c][p + ki Wp + kj], so consecutive p read
 * consecutive floats, across row ends too, and a vector of pixels is one
 * unaligned load. The kw - 1 columns past OW of each virtual row are
 * computed and dropped when the rows are copied out.
 *
 *   forward  yv[k][p] = sum over c, ki, kj of
 *                       w[k][c][ki][kj] xp[c][p + ki Wp + kj]
 *            (vectors of pixels, DB filters at a time, weights broadcast)
 *   dx       the same with dy padded by k - 1 - p as input and the filters
 *            rotated by 180 degrees with input and output channels swapped
 *   dw       dw[k][c][ki][kj] = sum over p of dyv[k][p] xp[c][p + ki Wp + kj],
 *            dyv being dy on the virtual grid with zeros in the dropped
 *            columns (vector partial sums, reduced once per call)
 *
 * Sums run in a fixed order (per output: channel, then kernel row, then
 * column; per weight: pixel blocks in order), so results are the same for a
 * given thread count. Needs GCC/Clang vector extensions; without them (or
 * for larger layers) the layer goes through im2col + GEMM. */
#include <string.h>

#include "conv_impl.h"

/* With AVX-512 (-march=native on Zen 4/5, Skylake-X) a vector holds 16
 * floats: LeNet's forward passes run 1.6 times faster than with 8. */
#if defined(__GNUC__) && defined(__AVX512F__)
#define DIRECT_VL 16
#elif defined(__GNUC__) && defined(__AVX__)
#define DIRECT_VL 8
#elif defined(__GNUC__) && (defined(__SSE2__) || defined(__ARM_NEON))
#define DIRECT_VL 4
#endif

/* Largest layer taken here: up to 16 filters of up to 400 weights
 * (LeNet's second layer has 16 of 150). Beyond that a GEMM reuses each
 * loaded input for enough filters to win. */
#ifndef DIRECT_MAX_K
#define DIRECT_MAX_K 16
#endif
#ifndef DIRECT_MAX_CKK
#define DIRECT_MAX_CKK 400
#endif

#ifdef DIRECT_VL
typedef float dvf __attribute__((vector_size(DIRECT_VL * sizeof(float))));

/* Filters per forward block and pixel vectors per block: 12 accumulators,
 * which with an input vector pair and a broadcast fit AVX's 16 registers. */
#define DB 6
#define PB 2
#define PIX (PB * DIRECT_VL) /* virtual pixels per block */

static inline dvf dv_load(const float *p)
{
    dvf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void dv_store(float *p, dvf v)
{
    memcpy(p, &v, sizeof v);
}

static inline dvf dv_splat(float x)
{
    /* A scalar operand of a vector operation is broadcast: one
     * vbroadcastss, where filling the lanes in a loop was not. */
    return (dvf){0} + x;
}

#endif

/* One direct convolution: forward (x -> y) or input gradient (dy -> dx). */
typedef struct direct_conv {
    const float *in; /* [n][ci][ih][iw] */
    float *out;      /* [n][co][oh][ow] */
    const float *b;  /* bias or NULL */
    int64_t n, ci, ih, iw, co, oh, ow, kh, kw, ph, pw;
    int64_t hp, wp;     /* padded input */
    size_t pv;          /* virtual pixels, a multiple of PIX */
    size_t xp_floats;   /* padded input with its read-past slack */
    const float *wr;    /* repacked filters [blocks][ci][kh][kw][DB] */
} direct_conv;

/* The whole call: forward, or backward with its dx and dw parts. */
typedef struct direct_run {
    conv_run *r;
    conv_queue queue;   /* forward: images */
    direct_conv f;      /* forward, or the dx convolution */
    int do_dx, do_dw;
    size_t slot_floats; /* per slot */
    float *slots_ws;
} direct_run;

int conv_direct_applies(const conv_run *r)
{
#ifdef DIRECT_VL
    const conv_geom *g = &r->g;
    return conv_is_plain(r) && g->sh == 1 && g->sw == 1 &&
           r->k <= DIRECT_MAX_K &&
           r->ckk <= DIRECT_MAX_CKK && g->kw <= 7 && g->ph < g->kh &&
           g->pw < g->kw;
#else
    (void)r;
    return 0;
#endif
}

/* Twice the largest ratio of direct dx's virtual pixels to the GEMM path's
 * columns that still pays. With 8-float vectors 1.5 (measured); with 16
 * the kernel runs at twice the rate and LeNet's conv2 (ratio 2.5) takes dx
 * in 0.40 ms instead of 0.63 ms through im2col + GEMM + col2im. */
#if defined(DIRECT_VL) && DIRECT_VL == 16
#define DIRECT_DX_MAX_RATIO2 6
#else
#define DIRECT_DX_MAX_RATIO2 3
#endif

int conv_direct_dx_applies(const conv_run *r)
{
    const conv_geom *g = &r->g;
    /* dx's virtual grid: H rows of W + kw - 1 columns, against the
     * OH x OW columns of the GEMM path. */
    uint64_t direct = (uint64_t)g->h * (uint64_t)(g->w + g->kw - 1);
    uint64_t gemm = (uint64_t)g->oh * (uint64_t)g->ow;
    return conv_direct_applies(r) && 2 * direct <= DIRECT_DX_MAX_RATIO2 * gemm;
}

int conv_direct_dw_applies(const conv_run *r)
{
    const conv_geom *g = &r->g;
    /* dw's products run over the forward's virtual grid, Wp / OW times
     * the real pixels: LeNet's first layer 32 / 28 (2.2 times faster
     * than im2col + GEMM), its second 14 / 10 (16% slower). */
    return conv_direct_applies(r) &&
           4 * (g->w + 2 * g->pw) <= 5 * g->ow;
}

#ifdef DIRECT_VL

static void direct_geometry(direct_conv *f)
{
    f->hp = f->ih + 2 * f->ph;
    f->wp = f->iw + 2 * f->pw;
    size_t used = (size_t)(f->oh * f->wp);
    f->pv = (used + PIX - 1) / PIX * PIX;
    /* The last block reads up to pv - 1 + (kh - 1) Wp + kw - 1 past the
     * channel start: one padded plane per channel plus the slack. */
    f->xp_floats = (size_t)(f->ci * f->hp * f->wp) + (f->pv - used) +
                   (size_t)f->kw + DIRECT_VL;
}

static size_t blocks_of(int64_t co)
{
    return (size_t)((co + DB - 1) / DB);
}

/* wr[blk][i][a][b][d] = filter (blk DB + d, i) at (a, b), zero past co.
 * transpose: filter (o, i) of the input gradient is the layer's filter
 * (k = i, c = o) rotated by 180 degrees; w is the layer's [K][C][kh][kw]. */
static void repack(const direct_conv *f, const float *w, int transpose,
                   float *wr)
{
    const size_t ci = (size_t)f->ci, kh = (size_t)f->kh, kw = (size_t)f->kw;
    const size_t co = (size_t)f->co, khw = kh * kw;
    for (size_t blk = 0; blk < blocks_of(f->co); blk++)
        for (size_t i = 0; i < ci; i++)
            for (size_t e = 0; e < khw; e++)
                for (size_t d = 0; d < DB; d++) {
                    size_t o = blk * DB + d;
                    float v = 0.0f;
                    if (o < co)
                        v = transpose ? w[(i * co + o) * khw + (khw - 1 - e)]
                                      : w[(o * ci + i) * khw + e];
                    wr[((blk * ci + i) * khw + e) * DB + d] = v;
                }
}

/* xp = image img of f->in, zero-padded, plus zeroed slack. */
static void pad_input(const direct_conv *f, size_t img, float *xp)
{
    const size_t plane = (size_t)(f->ih * f->iw), iw = (size_t)f->iw;
    const size_t wp = (size_t)f->wp, hpwp = (size_t)(f->hp * f->wp);
    const float *x = f->in + img * (size_t)f->ci * plane;

    memset(xp, 0, f->xp_floats * sizeof *xp);
    for (size_t c = 0; c < (size_t)f->ci; c++)
        for (size_t y = 0; y < (size_t)f->ih; y++)
            memcpy(xp + c * hpwp + (y + (size_t)f->ph) * wp + (size_t)f->pw,
                   x + c * plane + y * iw, iw * sizeof *xp);
}

/* yv[o][p] for the virtual pixels, all filters (blocks of DB). */
static void forward_image(const direct_conv *f, const float *xp, float *yv)
{
    const size_t ci = (size_t)f->ci, kh = (size_t)f->kh, kw = (size_t)f->kw;
    const size_t wp = (size_t)f->wp, hpwp = (size_t)(f->hp * f->wp);
    const size_t khw = kh * kw, co = (size_t)f->co;

    for (size_t blk = 0; blk < blocks_of(f->co); blk++) {
        const float *wb = f->wr + blk * ci * khw * DB;
        size_t nd = co - blk * DB < DB ? co - blk * DB : DB;
        for (size_t p0 = 0; p0 < f->pv; p0 += PIX) {
            dvf acc[DB][PB];
            for (int d = 0; d < DB; d++)
                for (int q = 0; q < PB; q++)
                    acc[d][q] = dv_splat(0.0f);
            for (size_t c = 0; c < ci; c++) {
                for (size_t a = 0; a < kh; a++) {
                    const float *xr = xp + c * hpwp + a * wp + p0;
                    const float *wa = wb + (c * khw + a * kw) * DB;
                    for (size_t b = 0; b < kw; b++) {
                        dvf x0 = dv_load(xr + b);
                        dvf x1 = dv_load(xr + b + DIRECT_VL);
                        const float *wv = wa + b * DB;
                        for (int d = 0; d < DB; d++) {
                            acc[d][0] += wv[d] * x0;
                            acc[d][1] += wv[d] * x1;
                        }
                    }
                }
            }
            for (size_t d = 0; d < nd; d++) {
                float *dst = yv + (blk * DB + d) * f->pv + p0;
                dv_store(dst, acc[d][0]);
                dv_store(dst + DIRECT_VL, acc[d][1]);
            }
        }
    }
}

/* out[img] = the valid columns of yv (+ bias). */
static void copy_out(const direct_conv *f, size_t img, const float *yv)
{
    const size_t oh = (size_t)f->oh, ow = (size_t)f->ow, wp = (size_t)f->wp;
    float *y = f->out + img * (size_t)f->co * oh * ow;
    for (size_t o = 0; o < (size_t)f->co; o++) {
        float bias = f->b ? f->b[o] : 0.0f;
        for (size_t r = 0; r < oh; r++) {
            const float *restrict src = yv + o * f->pv + r * wp;
            float *restrict dst = y + (o * oh + r) * ow;
            for (size_t x = 0; x < ow; x++)
                dst[x] = src[x] + bias;
        }
    }
}

/* ---- Forward ------------------------------------------------------------ */

static size_t forward_slot_floats(const direct_conv *f)
{
    size_t s = f->xp_floats + blocks_of(f->co) * DB * f->pv;
    return (s + 15) / 16 * 16;
}

static void forward_slot(void *arg, size_t s0, size_t s1)
{
    direct_run *d = arg;
    const direct_conv *f = &d->f;
    for (size_t s = s0; s < s1; s++) {
        float *xp = d->slots_ws + s * d->slot_floats;
        float *yv = xp + f->xp_floats;
        size_t img;
        while (conv_queue_take(&d->queue, s, &img)) {
            pad_input(f, img, xp);
            forward_image(f, xp, yv);
            copy_out(f, img, yv);
        }
    }
}

static void conv_as_direct(direct_conv *f, const conv_run *r)
{
    f->in = r->x;
    f->out = r->y;
    f->b = r->b;
    f->n = r->n;
    f->ci = r->g.c;
    f->ih = r->g.h;
    f->iw = r->g.w;
    f->co = r->k;
    f->oh = r->g.oh;
    f->ow = r->g.ow;
    f->kh = r->g.kh;
    f->kw = r->g.kw;
    f->ph = r->g.ph;
    f->pw = r->g.pw;
    direct_geometry(f);
}

static uint64_t direct_macs(const conv_run *r)
{
    return (uint64_t)r->n * (uint64_t)r->k * (uint64_t)r->ohw *
           (uint64_t)r->ckk;
}

static void run_slots(const conv_run *r, cnn_range_fn fn, void *arg)
{
    if (r->slots > 1)
        r->env->parallel_for(r->env->host, r->slots, fn, arg);
    else
        fn(arg, 0, 1);
}

/* Gets repacked-filter floats + slots * slot_floats, falling back to one
 * slot; NULL when even that is refused. */
static float *get_ws(conv_run *r, size_t fixed, size_t per_slot)
{
    float *ws = NULL;
    if (!r->env || !r->env->workspace)
        return NULL;
    ws = r->env->workspace(r->env->host, fixed + r->slots * per_slot);
    if (!ws && r->slots > 1) {
        r->slots = 1;
        ws = r->env->workspace(r->env->host, fixed + per_slot);
    }
    return ws;
}

static size_t round16(size_t n)
{
    return (n + 15) / 16 * 16;
}

cnn_status conv_direct_forward(conv_run *r, cnn_errbuf *err)
{
    direct_run d;
    size_t wr_floats;
    float *ws;

    memset(&d, 0, sizeof d);
    d.r = r;
    conv_as_direct(&d.f, r);
    r->slots = conv_slots(r, (size_t)r->n, direct_macs(r));
    wr_floats = round16(blocks_of(d.f.co) *
                        (size_t)(d.f.ci * d.f.kh * d.f.kw) * DB);
    d.slot_floats = forward_slot_floats(&d.f);
    ws = get_ws(r, wr_floats, d.slot_floats);
    if (!ws)
        return conv_gemm_forward(r, err); /* its own, smaller, workspace */
    repack(&d.f, r->w, 0, ws);
    d.f.wr = ws;
    d.slots_ws = ws + wr_floats;
    conv_queue_init(&d.queue, (size_t)r->n, r->slots);
    run_slots(r, forward_slot, &d);
    return CNN_OK;
}

/* ---- Backward ----------------------------------------------------------- */

/* dw partials of one (channel, kernel row) and KD filters at a time: for
 * every kernel column, the dot product of dyv[k] with xp shifted, kept as
 * a vector of DIRECT_VL partial sums (part holds one vector per weight)
 * and reduced once per call: reducing per image took as long as the
 * products on LeNet's 10x10 outputs. */
#define DW_KERNEL(KW, KD)                                                     \
    static void dw_kernel_##KW(const direct_conv *f, const float *xrow,     \
                               const float *dyv, size_t nk, float *part,     \
                               size_t part_ld)                               \
    {                                                                        \
        for (size_t k0 = 0; k0 < nk; k0 += KD) {                             \
            size_t nd = nk - k0 < KD ? nk - k0 : KD;                         \
            dvf acc[KD][KW];                                                 \
            for (int d = 0; d < KD; d++)                                     \
                for (int b = 0; b < KW; b++)                                 \
                    acc[d][b] = dv_splat(0.0f);                              \
            for (size_t p = 0; p < f->pv; p += DIRECT_VL) {                  \
                dvf x[KW];                                                   \
                for (int b = 0; b < KW; b++)                                 \
                    x[b] = dv_load(xrow + p + (size_t)b);                    \
                for (int d = 0; d < KD; d++) {                               \
                    /* Past nk: reuse the last filter, results dropped. */   \
                    size_t k = k0 + ((size_t)d < nd ? (size_t)d : nd - 1);   \
                    dvf g = dv_load(dyv + k * f->pv + p);                    \
                    for (int b = 0; b < KW; b++)                             \
                        acc[d][b] += g * x[b];                               \
                }                                                            \
            }                                                                \
            for (size_t d = 0; d < nd; d++)                                  \
                for (int b = 0; b < KW; b++) {                               \
                    float *pp = part + ((k0 + d) * part_ld + (size_t)b) *    \
                                           DIRECT_VL;                        \
                    dv_store(pp, dv_load(pp) + acc[d][b]);                   \
                }                                                            \
        }                                                                    \
    }

/* Filters per pass: about 12 accumulators, as in the forward kernel. */
DW_KERNEL(1, 8)
DW_KERNEL(2, 6)
DW_KERNEL(3, 4)
DW_KERNEL(4, 3)
DW_KERNEL(5, 2)
DW_KERNEL(6, 2)
DW_KERNEL(7, 1)

/* part[k][c][a][b][lane] += the lane's share of
 * sum over p of dyv[k][p] xp[c][p + a Wp + b]. */
static void dw_image(const direct_conv *f, const float *xp, const float *dyv,
                     float *part)
{
    const size_t kh = (size_t)f->kh, kw = (size_t)f->kw;
    const size_t wp = (size_t)f->wp, hpwp = (size_t)(f->hp * f->wp);
    const size_t ckk = (size_t)f->ci * kh * kw, nk = (size_t)f->co;

    for (size_t c = 0; c < (size_t)f->ci; c++)
        for (size_t a = 0; a < kh; a++) {
            const float *xrow = xp + c * hpwp + a * wp;
            float *pp = part + (c * kh + a) * kw * DIRECT_VL;
            switch (kw) {
            case 1: dw_kernel_1(f, xrow, dyv, nk, pp, ckk); break;
            case 2: dw_kernel_2(f, xrow, dyv, nk, pp, ckk); break;
            case 3: dw_kernel_3(f, xrow, dyv, nk, pp, ckk); break;
            case 4: dw_kernel_4(f, xrow, dyv, nk, pp, ckk); break;
            case 5: dw_kernel_5(f, xrow, dyv, nk, pp, ckk); break;
            case 6: dw_kernel_6(f, xrow, dyv, nk, pp, ckk); break;
            default: dw_kernel_7(f, xrow, dyv, nk, pp, ckk); break;
            }
        }
}

/* dyv[k][oh Wp + ow] = dy[img][k][oh][ow]; zeros in the dropped columns
 * and past the last row. */
static void virtual_dy(const direct_conv *f, const float *dy, size_t img,
                       float *dyv)
{
    const size_t oh = (size_t)f->oh, ow = (size_t)f->ow, wp = (size_t)f->wp;
    const float *src = dy + img * (size_t)f->co * oh * ow;
    memset(dyv, 0, (size_t)f->co * f->pv * sizeof *dyv);
    for (size_t k = 0; k < (size_t)f->co; k++)
        for (size_t r = 0; r < oh; r++)
            memcpy(dyv + k * f->pv + r * wp, src + (k * oh + r) * ow,
                   ow * sizeof *dyv);
}

/* Slot layout: [xp | dyv | dw partial] for dw, [dyp | dxv] for dx. */
typedef struct direct_bwd {
    direct_run d;       /* d.f: the dx convolution */
    direct_conv ff;     /* the forward geometry, for dw */
    const float *dy;
    size_t off_dyv, off_part, off_dyp, off_dxv;
} direct_bwd;

static void backward_slot(void *arg, size_t s0, size_t s1)
{
    const direct_bwd *b = arg;
    const conv_run *r = b->d.r;
    const size_t ckk = (size_t)r->ckk, kckk = (size_t)r->k * ckk;
    for (size_t s = s0; s < s1; s++) {
        float *base = b->d.slots_ws + s * b->d.slot_floats;
        size_t i0 = (size_t)r->n * s / r->slots;
        size_t i1 = (size_t)r->n * (s + 1) / r->slots;
        if (b->d.do_dw)
            memset(base + b->off_part, 0, kckk * DIRECT_VL * sizeof *base);
        for (size_t img = i0; img < i1; img++) {
            if (b->d.do_dw) {
                pad_input(&b->ff, img, base);
                virtual_dy(&b->ff, b->dy, img, base + b->off_dyv);
                dw_image(&b->ff, base, base + b->off_dyv,
                         base + b->off_part);
            }
            if (b->d.do_dx) {
                pad_input(&b->d.f, img, base + b->off_dyp);
                forward_image(&b->d.f, base + b->off_dyp,
                              base + b->off_dxv);
                copy_out(&b->d.f, img, base + b->off_dxv);
            }
        }
    }
}

/* dw = the slots' partial sums, added in slot then lane order. */
static void sum_parts(const direct_bwd *b)
{
    const conv_run *r = b->d.r;
    const size_t kckk = (size_t)r->k * (size_t)r->ckk;
    for (size_t i = 0; i < kckk; i++) {
        float s = 0.0f;
        for (size_t sl = 0; sl < r->slots; sl++) {
            const float *p = b->d.slots_ws + sl * b->d.slot_floats +
                             b->off_part + i * DIRECT_VL;
            for (int l = 0; l < DIRECT_VL; l++)
                s += p[l];
        }
        r->dw[i] = s;
    }
}

cnn_status conv_direct_backward(conv_run *r, cnn_errbuf *err)
{
    direct_bwd b;
    size_t wr_floats = 0, slot = 0;
    float *ws;

    memset(&b, 0, sizeof b);
    b.d.r = r;
    b.dy = r->dy;
    b.d.do_dx = r->dx != NULL;
    b.d.do_dw = r->dw != NULL;
    conv_as_direct(&b.ff, r);
    b.ff.co = r->k;
    if (b.d.do_dx) {
        direct_conv *f = &b.d.f;
        f->in = r->dy;
        f->out = r->dx;
        f->b = NULL;
        f->n = r->n;
        f->ci = r->k;
        f->ih = r->g.oh;
        f->iw = r->g.ow;
        f->co = r->g.c;
        f->oh = r->g.h;
        f->ow = r->g.w;
        f->kh = r->g.kh;
        f->kw = r->g.kw;
        f->ph = r->g.kh - 1 - r->g.ph;
        f->pw = r->g.kw - 1 - r->g.pw;
        direct_geometry(f);
        wr_floats = round16(blocks_of(f->co) * (size_t)(f->ci * f->kh * f->kw) *
                            DB);
    }
    if (b.d.do_dw) {
        b.off_dyv = round16(b.ff.xp_floats);
        b.off_part = b.off_dyv + round16((size_t)r->k * b.ff.pv);
        slot = b.off_part +
               round16((size_t)r->k * (size_t)r->ckk * DIRECT_VL);
    }
    if (b.d.do_dx) {
        b.off_dyp = slot;
        b.off_dxv = b.off_dyp + round16(b.d.f.xp_floats);
        slot = b.off_dxv + round16(blocks_of(b.d.f.co) * DB * b.d.f.pv);
    }
    b.d.slot_floats = round16(slot);
    /* Slots from the geometry alone: dw's sum order must not depend on
     * whether dx is wanted. */
    r->slots = conv_slots(r, (size_t)r->n, 2 * direct_macs(r));
    ws = get_ws(r, wr_floats, b.d.slot_floats);
    if (!ws)
        return conv_gemm_backward(r, err);
    if (b.d.do_dx) {
        repack(&b.d.f, r->w, 1, ws);
        b.d.f.wr = ws;
    }
    b.d.slots_ws = ws + wr_floats;
    run_slots(r, backward_slot, &b);
    if (b.d.do_dw)
        sum_parts(&b);
    return CNN_OK;
}

#else /* no vector extensions: never chosen (conv_direct_applies) */

cnn_status conv_direct_forward(conv_run *r, cnn_errbuf *err)
{
    return conv_gemm_forward(r, err);
}

cnn_status conv_direct_backward(conv_run *r, cnn_errbuf *err)
{
    return conv_gemm_backward(r, err);
}

#endif
