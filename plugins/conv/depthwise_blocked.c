/* SPDX-License-Identifier: MIT */
/* Depthwise convolution over blocks of 16 channels, one channel per vector
 * lane (AVX-512; multiplier 1, MobileNet's case). depthwise.c vectorises
 * along the output row of one channel: on MobileNetV2's 7x7 and 14x14
 * planes a channel is under a microsecond of products, and its fixed costs
 * (phase planes, row ends, a horizontal sum per tap for dw) dominated.
 * Here 16 channels are transposed into a zero-padded, channel-interleaved
 * buffer xb[R][C][16] (padded row R, padded column C), so that every tap of
 * every output pixel is one full vector load at any stride, dilation or
 * padding, with the 16 channels' weights of a tap in one register:
 *
 *   yb[o][j] = b + sum over ki, kj of w[ki][kj] *
 *              xb[o sh + ki dh][j sw + kj dw]            (16 lanes)
 *
 * and yb is transposed back into the 16 output planes. The padding border
 * columns of xb are the same for every block, so a slot zeroes its buffer
 * once per call and each block only overwrites the interior (and the
 * padding rows of its band). For dw, dy is
 * transposed alike and every tap keeps a vector of 16 channels' sums: the
 * result needs no horizontal sum, and a block sums its images in order
 * (deterministic whatever the thread count).
 *
 * Output rows go in bands whose interleaved input fits in the L2 cache
 * (a 113x113 plane of 16 channels is 817 KB), packed, computed and
 * unpacked one after the other. Work items: (image, block, band) for
 * forward, block for dw (its images and bands in order), from the conv
 * work queue. */
#include <string.h>

#include "conv_impl.h"

#if defined(__GNUC__) && defined(__AVX512F__)
#include <immintrin.h>

/* Stride-1 outputs up to this many pixels (MobileNetV2's 56x56 and
 * smaller): its 112x112 stride-1 layer (32 channels) ran as fast or faster
 * on depthwise.c's row kernels, at full vector width there and with no
 * transposes. Strided layers of any size come here (the row kernels' phase
 * planes cost more). */
#define DWB_MAX_STRIDE1_PIXELS (56 * 56)
/* Taps up to 7x7 (ConvNeXt). Up to 5x5 the weight vectors stay in
 * registers; 7x7's 49 do not, and each tap's weight is loaded once per 8
 * pixels' multiply-adds instead: ConvNeXt-Tiny's 96 channels at 56x56,
 * one thread, 1.41 -> 0.40 ms against depthwise.c's gather (measured:
 * docs/performance.md, "Depthwise and grouped convolutions"). */
#define DWB_MAX_TAPS 49

int conv_dwb_applies(const conv_run *r)
{
    const conv_geom *g = &r->g;
    return r->groups > 1 && g->c == 1 && r->kg == 1 &&
           g->kh * g->kw <= DWB_MAX_TAPS && g->ph >= 0 && g->pw >= 0 &&
           (g->sh > 1 || g->oh * g->ow <= DWB_MAX_STRIDE1_PIXELS);
}

/* In place: r[i] lane j <- r[j] lane i. Pairs, then quads within 128-bit
 * lanes, then the 128-bit lanes across registers. */
static inline void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* r[4i + k] lane L: rows 4i .. 4i + 3 of column 4L + k. */
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int k = 0; k < 4; k++) {
        __m512 u0 = _mm512_shuffle_f32x4(r[k], r[4 + k], 0x44);
        __m512 u1 = _mm512_shuffle_f32x4(r[k], r[4 + k], 0xEE);
        __m512 v0 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0x44);
        __m512 v1 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0xEE);
        t[k] = _mm512_shuffle_f32x4(u0, v0, 0x88);
        t[4 + k] = _mm512_shuffle_f32x4(u0, v0, 0xDD);
        t[8 + k] = _mm512_shuffle_f32x4(u1, v1, 0x88);
        t[12 + k] = _mm512_shuffle_f32x4(u1, v1, 0xDD);
    }
    for (int i = 0; i < 16; i++)
        r[i] = t[i];
}

static inline __mmask16 lanes(size_t n)
{
    return (__mmask16)((1u << n) - 1u);
}

/* The 16 channel planes (cnt of them, hw floats each, `stride` apart)
 * interleaved: pixel p's 16 channels (zeros past cnt) to dst + off(p) 16,
 * off(p) = (p / w) pitch + p % w (rows of w pixels placed pitch apart). */
static void pack(const float *src, size_t stride, size_t cnt, size_t hw,
                 size_t w, size_t pitch, float *dst)
{
    __m512 v[16];
    size_t row = 0, col = 0;
    for (size_t p = 0; p < hw; p += 16) {
        size_t n = hw - p < 16 ? hw - p : 16;
        for (size_t c = 0; c < 16; c++)
            v[c] = c < cnt ? _mm512_maskz_loadu_ps(lanes(n),
                                                   src + c * stride + p)
                           : _mm512_setzero_ps();
        transpose16(v);
        for (size_t i = 0; i < n; i++) {
            _mm512_storeu_ps(dst + (row * pitch + col) * 16, v[i]);
            if (++col == w)
                col = 0, row++;
        }
    }
}

/* The adjoint of pack for a dense [hw][16] buffer: lane c of pixel p to
 * dst[c stride + p], c < cnt. */
static void unpack(const float *src, size_t cnt, size_t hw, float *dst,
                   size_t stride)
{
    __m512 v[16];
    for (size_t p = 0; p < hw; p += 16) {
        size_t n = hw - p < 16 ? hw - p : 16;
        for (size_t i = 0; i < 16; i++)
            v[i] = i < n ? _mm512_loadu_ps(src + (p + i) * 16)
                         : _mm512_setzero_ps();
        transpose16(v);
        for (size_t c = 0; c < cnt; c++)
            _mm512_mask_storeu_ps(dst + c * stride + p, lanes(n), v[c]);
    }
}

/* Tap t's 16 channels' weights, zeros past cnt: a channel's taps are
 * contiguous, so 16 channels' runs of up to 16 taps are one transpose
 * (scalar copies through a stack array cost a store-forwarding stall per
 * tap, a fifth of a 7x7 plane's block). */
static void weights(const float *w, size_t khw, size_t cnt, int rotate,
                    __m512 *wv)
{
    __m512 v[16];
    for (size_t t0 = 0; t0 < khw; t0 += 16) {
        size_t n = khw - t0 < 16 ? khw - t0 : 16;
        for (size_t c = 0; c < 16; c++)
            v[c] = c < cnt ? _mm512_maskz_loadu_ps(lanes(n), w + c * khw + t0)
                           : _mm512_setzero_ps();
        transpose16(v);
        for (size_t i = 0; i < n; i++)
            wv[rotate ? khw - 1 - (t0 + i) : t0 + i] = v[i];
    }
}

/* Bytes of interleaved input a band of output rows reads at most: xb
 * stays in the L2 cache between its packing and its nine reads per
 * output (a whole 113x113 stride-2 plane is 817 KB). */
#define DWB_BAND_BYTES (128 * 1024)

typedef struct dwb_job {
    conv_run *r;
    /* What the job computes: the forward's geometry over x into y, or
     * (stride-1 dx) the same convolution over dy, padded by d (k - 1) -
     * p, with the filters rotated by 180 degrees, into dx. */
    conv_geom g;
    const float *src, *bias;
    float *dst;
    int rotate;
    const cnn_epilogue *ep; /* forward at inference: folded layers, or NULL */
    int64_t wp;         /* padded columns the windows read */
    int64_t band;       /* output rows per band */
    int64_t band_rows;  /* padded input rows a band reads */
    size_t bands;       /* ceil(oh / band) */
    size_t xb_floats;   /* band_rows wp 16 */
    size_t yb_floats;   /* band ow 16 */
    size_t slot_floats;
    size_t blocks;      /* ceil(C / 16) */
    size_t tap[DWB_MAX_TAPS]; /* pixel offset of tap t in xb */
    float *ws;
    conv_queue queue;
} dwb_job;

static void job_init(dwb_job *j, conv_run *r, const conv_geom *geom,
                     const float *src, float *dst, const float *bias,
                     int rotate)
{
    const conv_geom *g = &j->g;
    memset(j, 0, sizeof *j);
    j->r = r;
    j->g = *geom;
    j->src = src, j->dst = dst, j->bias = bias, j->rotate = rotate;
    j->wp = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1;
    int64_t reach = (g->kh - 1) * g->dh + 1, row = j->wp * 64;
    j->band = (DWB_BAND_BYTES / row - reach) / g->sh + 1;
    if (j->band < 1)
        j->band = 1;
    if (j->band > g->oh)
        j->band = g->oh;
    j->band_rows = (j->band - 1) * g->sh + reach;
    j->bands = (size_t)((g->oh + j->band - 1) / j->band);
    j->xb_floats = (size_t)(j->band_rows * j->wp) * 16;
    j->yb_floats = (size_t)(j->band * g->ow) * 16;
    j->slot_floats = j->xb_floats + j->yb_floats;
    j->blocks = (size_t)(r->cin + 15) / 16;
    for (int64_t ki = 0; ki < g->kh; ki++)
        for (int64_t kj = 0; kj < g->kw; kj++)
            j->tap[ki * g->kw + kj] =
                (size_t)(ki * g->dh * j->wp + kj * g->dw);
}

/* xb = the padded rows [R0, R0 + rows) of block (n, b) of x, interleaved.
 * The left and right padding columns are zero already (zeroed once per
 * slot, never written); padding rows are zeroed here, as an earlier band
 * may have left data there. Columns the windows never read are
 * skipped. */
static void pack_band(const dwb_job *j, size_t n, size_t b, int64_t R0,
                      int64_t rows, float *xb)
{
    const conv_run *r = j->r;
    const conv_geom *g = &j->g;
    size_t c0 = b * 16, cnt = (size_t)r->cin - c0 < 16 ? (size_t)r->cin - c0
                                                       : 16;
    size_t plane = (size_t)(g->h * g->w), rowf = (size_t)j->wp * 16;
    const float *src = j->src + (n * (size_t)r->cin + c0) * plane;
    /* Input rows [y0, y1) land in this band, columns [0, x1). */
    int64_t y0 = R0 - g->ph, y1 = R0 + rows - g->ph;
    int64_t x1 = g->w < j->wp - g->pw ? g->w : j->wp - g->pw;
    if (y0 < 0)
        y0 = 0;
    if (y1 > g->h)
        y1 = g->h;
    if (y1 < y0)
        y1 = y0;
    if (x1 < 0)
        x1 = 0;
    for (int64_t i = 0; i < rows; i++) {
        int64_t y = R0 + i - g->ph;
        if (y < y0 || y >= y1 || x1 == 0)
            memset(xb + (size_t)i * rowf, 0, rowf * sizeof *xb);
    }
    if (y1 == y0 || x1 == 0)
        return;
    float *dst = xb + (size_t)((y0 + g->ph - R0) * j->wp + g->pw) * 16;
    if (x1 == g->w) /* whole rows: one run over the band */
        pack(src + (size_t)(y0 * g->w), plane, cnt,
             (size_t)((y1 - y0) * g->w), (size_t)g->w, (size_t)j->wp, dst);
    else
        for (int64_t y = y0; y < y1; y++)
            pack(src + (size_t)(y * g->w), plane, cnt, (size_t)x1,
                 (size_t)x1, 0, dst + (size_t)((y - y0) * j->wp) * 16);
}

/* One output row segment of J pixels starting at xb pixel `at`, columns
 * sw pixels apart. */
static inline __attribute__((always_inline)) void
row_seg(const float *xb, size_t at, size_t sw, const size_t *tap, size_t nt,
        const __m512 *wv, __m512 bias, float *yb, size_t J)
{
    __m512 acc[8];
    for (size_t i = 0; i < J; i++)
        acc[i] = bias;
    for (size_t t = 0; t < nt; t++) {
        const float *p = xb + (at + tap[t]) * 16;
        for (size_t i = 0; i < J; i++)
            acc[i] = _mm512_fmadd_ps(wv[t], _mm512_loadu_ps(p + i * sw * 16),
                                     acc[i]);
    }
    for (size_t i = 0; i < J; i++)
        _mm512_storeu_ps(yb + i * 16, acc[i]);
}

/* A row's last 1-7 pixels as one segment of that many. */
static inline __attribute__((always_inline)) void
row_tail(const float *xb, size_t at, size_t sw, const size_t *tap, size_t nt,
         const __m512 *wv, __m512 bias, float *yb, size_t J)
{
    switch (J) {
    case 7: row_seg(xb, at, sw, tap, nt, wv, bias, yb, 7); break;
    case 6: row_seg(xb, at, sw, tap, nt, wv, bias, yb, 6); break;
    case 5: row_seg(xb, at, sw, tap, nt, wv, bias, yb, 5); break;
    case 4: row_seg(xb, at, sw, tap, nt, wv, bias, yb, 4); break;
    case 3: row_seg(xb, at, sw, tap, nt, wv, bias, yb, 3); break;
    case 2: row_seg(xb, at, sw, tap, nt, wv, bias, yb, 2); break;
    case 1: row_seg(xb, at, sw, tap, nt, wv, bias, yb, 1); break;
    default: break;
    }
}

static inline __attribute__((always_inline)) void
forward_block(const dwb_job *j, const float *xb, const __m512 *wv,
              __m512 bias, float *yb, size_t oh, size_t nt)
{
    const conv_geom *g = &j->g;
    const size_t sh = (size_t)g->sh, sw = (size_t)g->sw, ow = (size_t)g->ow;
    const size_t wp = (size_t)j->wp;
    for (size_t o = 0; o < oh; o++) {
        size_t at = o * sh * wp, x = 0;
        float *yr = yb + o * ow * 16;
        for (; x + 8 <= ow; x += 8)
            row_seg(xb, at + x * sw, sw, j->tap, nt, wv, bias, yr + x * 16,
                    8);
        row_tail(xb, at + x * sw, sw, j->tap, nt, wv, bias, yr + x * 16,
                 ow - x);
    }
}

static void forward_slot(void *arg, size_t s0, size_t s1)
{
    dwb_job *j = arg;
    const conv_run *r = j->r;
    const conv_geom *g = &j->g;
    const size_t khw = (size_t)(g->kh * g->kw);
    const size_t ohw = (size_t)(g->oh * g->ow), cin = (size_t)r->cin;
    __m512 wv[DWB_MAX_TAPS];

    for (size_t s = s0; s < s1; s++) {
        float *xb = j->ws + s * j->slot_floats, *yb = xb + j->xb_floats;
        size_t item;
        memset(xb, 0, j->xb_floats * sizeof *xb);
        while (conv_queue_take(&j->queue, s, &item)) {
            /* (image, block, band): bands as items keep two threads
             * busy on layers of few blocks (MobileNetV2's first has 2). */
            size_t band = item % j->bands, nb = item / j->bands;
            size_t n = nb / j->blocks, b = nb % j->blocks;
            size_t c0 = b * 16, cnt = cin - c0 < 16 ? cin - c0 : 16;
            int64_t o0 = (int64_t)band * j->band;
            int64_t bo = g->oh - o0 < j->band ? g->oh - o0 : j->band;
            float bias[16] = {0};
            if (j->bias)
                memcpy(bias, j->bias + c0, cnt * sizeof *bias);
            weights(r->w + c0 * khw, khw, cnt, j->rotate, wv);
            pack_band(j, n, b, o0 * g->sh,
                      (bo - 1) * g->sh + (j->band_rows - (j->band - 1) *
                                                             g->sh),
                      xb);
            /* 3x3 and 5x5 with the taps unrolled, their weights in
             * registers. */
            if (khw == 9)
                forward_block(j, xb, wv, _mm512_loadu_ps(bias), yb,
                              (size_t)bo, 9);
            else if (khw == 25)
                forward_block(j, xb, wv, _mm512_loadu_ps(bias), yb,
                              (size_t)bo, 25);
            else
                forward_block(j, xb, wv, _mm512_loadu_ps(bias), yb,
                              (size_t)bo, khw);
            unpack(yb, cnt, (size_t)(bo * g->ow),
                   j->dst + (n * cin + c0) * ohw + (size_t)(o0 * g->ow), ohw);
            if (j->ep) /* the band's rows, still in L1 */
                conv_epilogue_rows(r, j->dst + n * cin * ohw, (int64_t)c0,
                                   (int64_t)(c0 + cnt),
                                   (size_t)(o0 * g->ow),
                                   (size_t)(bo * g->ow));
        }
    }
}

static float *job_workspace(dwb_job *j, size_t items, uint64_t macs)
{
    conv_run *r = j->r;
    if (!r->env || !r->env->workspace)
        return NULL;
    r->slots = conv_slots(r, items, macs);
    j->ws = r->env->workspace(r->env->host, r->slots * j->slot_floats);
    if (!j->ws && r->slots > 1) {
        r->slots = 1;
        j->ws = r->env->workspace(r->env->host, j->slot_floats);
    }
    return j->ws;
}

static cnn_status job_run(dwb_job *j, size_t items, cnn_range_fn fn,
                          cnn_errbuf *err)
{
    conv_run *r = j->r;
    uint64_t macs = (uint64_t)r->n * (uint64_t)r->k * (uint64_t)r->ohw *
                    (uint64_t)(r->g.kh * r->g.kw);
    if (!job_workspace(j, items, macs))
        return cnn_layer_fail(err, CNN_ERR_NOMEM,
                              "conv layer '%s': no workspace of %zu floats",
                              r->name, j->slot_floats);
    conv_queue_init(&j->queue, items, r->slots);
    if (r->slots > 1)
        r->env->parallel_for(r->env->host, r->slots, fn, j);
    else
        fn(j, 0, 1);
    return CNN_OK;
}

cnn_status conv_dwb_forward(conv_run *r, cnn_errbuf *err)
{
    dwb_job j;
    cnn_status st;
    job_init(&j, r, &r->g, r->x, r->y, r->b, 0);
    j.ep = r->ep;
    st = job_run(&j, (size_t)r->n * j.blocks * j.bands, forward_slot, err);
    r->epilogue_done = st == CNN_OK;
    return st;
}

/* Stride 1 and padding no wider than the kernel's reach: dx is a forward
 * over dy (see dwb_job). */
static int dx_geom(const conv_run *r, conv_geom *t)
{
    const conv_geom *g = &r->g;
    *t = *g;
    t->h = g->oh, t->w = g->ow, t->oh = g->h, t->ow = g->w;
    t->ph = g->dh * (g->kh - 1) - g->ph, t->pw = g->dw * (g->kw - 1) - g->pw;
    t->pb = g->dh * (g->kh - 1) - g->pb, t->pr = g->dw * (g->kw - 1) - g->pr;
    return g->sh == 1 && g->sw == 1 && t->ph >= 0 && t->pw >= 0;
}

int conv_dwb_dx_applies(const conv_run *r)
{
    conv_geom t;
    return conv_dwb_applies(r) && dx_geom(r, &t);
}

cnn_status conv_dwb_backward_dx(conv_run *r, cnn_errbuf *err)
{
    dwb_job j;
    conv_geom t;
    dx_geom(r, &t);
    job_init(&j, r, &t, r->dy, r->dx, NULL, 1);
    return job_run(&j, (size_t)r->n * j.blocks * j.bands, forward_slot,
                   err);
}

/* ---- Weight gradient ---------------------------------------------------- */

/* acc[t] += dyb[o][x] xb[tap t of (o, x)] over the output, and acc[nt] +=
 * dyb (the bias gradient). */
static inline __attribute__((always_inline)) void
dw_block(const dwb_job *j, const float *xb, const float *dyb, __m512 *acc,
         size_t oh, size_t nt)
{
    const conv_geom *g = &j->g;
    const size_t sh = (size_t)g->sh, sw = (size_t)g->sw, ow = (size_t)g->ow;
    const size_t wp = (size_t)j->wp;
    __m512 a[DWB_MAX_TAPS + 1];
    for (size_t t = 0; t <= nt; t++)
        a[t] = acc[t];
    for (size_t o = 0; o < oh; o++) {
        const float *d = dyb + o * ow * 16;
        for (size_t x = 0; x < ow; x++) {
            __m512 dy = _mm512_loadu_ps(d + x * 16);
            const float *p = xb + (o * sh * wp + x * sw) * 16;
            for (size_t t = 0; t < nt; t++)
                a[t] = _mm512_fmadd_ps(dy, _mm512_loadu_ps(p + j->tap[t] * 16),
                                       a[t]);
            a[nt] = _mm512_add_ps(a[nt], dy);
        }
    }
    for (size_t t = 0; t <= nt; t++)
        acc[t] = a[t];
}

static void dw_slot(void *arg, size_t s0, size_t s1)
{
    dwb_job *j = arg;
    const conv_run *r = j->r;
    const size_t khw = (size_t)(r->g.kh * r->g.kw);
    const size_t ohw = (size_t)r->ohw, cin = (size_t)r->cin;

    for (size_t s = s0; s < s1; s++) {
        float *xb = j->ws + s * j->slot_floats, *dyb = xb + j->xb_floats;
        size_t b;
        memset(xb, 0, j->xb_floats * sizeof *xb);
        while (conv_queue_take(&j->queue, s, &b)) {
            size_t c0 = b * 16, cnt = cin - c0 < 16 ? cin - c0 : 16;
            __m512 acc[DWB_MAX_TAPS + 1];
            float out[16];
            for (size_t t = 0; t <= khw; t++)
                acc[t] = _mm512_setzero_ps();
            for (size_t n = 0; n < (size_t)r->n; n++)
                for (int64_t o0 = 0; o0 < r->g.oh; o0 += j->band) {
                    int64_t bo = r->g.oh - o0 < j->band ? r->g.oh - o0
                                                        : j->band;
                    size_t px = (size_t)(bo * r->g.ow);
                    pack_band(j, n, b, o0 * r->g.sh,
                              (bo - 1) * r->g.sh +
                                  (j->band_rows - (j->band - 1) * r->g.sh),
                              xb);
                    pack(r->dy + (n * cin + c0) * ohw +
                             (size_t)(o0 * r->g.ow),
                         ohw, cnt, px, px, 0, dyb);
                    if (khw == 9)
                        dw_block(j, xb, dyb, acc, (size_t)bo, 9);
                    else
                        dw_block(j, xb, dyb, acc, (size_t)bo, khw);
                }
            for (size_t t = 0; t < khw; t++) {
                _mm512_storeu_ps(out, acc[t]);
                for (size_t c = 0; c < cnt; c++)
                    r->dw[(c0 + c) * khw + t] = out[c];
            }
            if (r->db) {
                _mm512_storeu_ps(out, acc[khw]);
                memcpy(r->db + c0, out, cnt * sizeof *out);
            }
        }
    }
}

cnn_status conv_dwb_backward_dw(conv_run *r, cnn_errbuf *err)
{
    dwb_job j;
    job_init(&j, r, &r->g, r->x, NULL, NULL, 0);
    return job_run(&j, j.blocks, dw_slot, err);
}

#else /* no AVX-512: depthwise.c's row kernels do all the work */

int conv_dwb_applies(const conv_run *r)
{
    (void)r;
    return 0;
}

int conv_dwb_dx_applies(const conv_run *r)
{
    (void)r;
    return 0;
}

#endif
