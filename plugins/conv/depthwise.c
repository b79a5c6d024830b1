/* SPDX-License-Identifier: MIT */
/* Depthwise convolution (groups == C > 1, K = m C): every input channel c
 * is convolved on its own with m filters, giving output channels
 * c m .. c m + m - 1 (PyTorch's order). MobileNet's 3x3 layers, stride 1
 * and 2. A GEMM per channel would multiply [m, kh kw] by [kh kw, OH OW]:
 * a product too thin for any GEMM to run well, after an im2col nine times
 * the image. Here each output row is a short sum of shifted input rows,
 * with vectors of output pixels and the accumulators in registers:
 *
 *   y[k][o][j] = b[k] + sum over ki, kj of w[k][ki][kj] *
 *                xp[c][o sh + ki dh][j sw + kj dw]
 *
 * xp being the zero-padded input. To make every tap a contiguous vector
 * load whatever the stride, the padded input of a channel is stored as
 * sh sw "phase planes" (see dw_gather), with one table of tap offsets per
 * call; narrow outputs are computed over "virtual pixels", vectors running
 * across row ends. The planes have zeros past their last row, so no load
 * needs a bound test; the columns computed past OW are dropped.
 *
 *   dx, stride 1  the same gather over dy, padded by dh (kh - 1) - pt above
 *                 (likewise on the other sides), with the filters rotated by
 *                 180 degrees, summing the m output channels of c
 *   dx, stride>1  the adjoint of the forward gather: every dy row is added,
 *                 times each tap's weight, where the gather read that tap
 *                 in the phase planes of a padded dx, which are then
 *                 cropped and interleaved into dx
 *   dw            dw[k][ki][kj] = sum over n, o, j of dy[n][k][o][j] times
 *                 the forward's tap (ki, kj) at (o, j): one vector of
 *                 partial sums per tap, reduced once per channel; db[k]
 *                 in the same pass over dy
 *
 * Work items: (image, channel) for forward and dx, channel for dw (all
 * images summed in order), taken from a conv_queue; every item's result is
 * the same whichever thread computes it, so results depend on nothing but
 * the inputs. Needs GCC/Clang vector extensions; without them the layer
 * goes through im2col + GEMM per group. With AVX-512, multiplier 1 and
 * small or strided planes, forward and dw go to depthwise_blocked.c (16
 * channels per vector) instead. */
#include <string.h>

#include "conv_impl.h"

#if defined(__GNUC__) && defined(__AVX512F__)
#include <immintrin.h>
#define DWV 16
#elif defined(__GNUC__) && defined(__AVX__)
#define DWV 8
#elif defined(__GNUC__) && (defined(__SSE2__) || defined(__ARM_NEON))
#define DWV 4
#endif

/* Taps a gather keeps pointers for (kh kw m for the stride-1 dx, which
 * sums m output channels): 3x3 up to m = 28, 7x7 up to m = 5. Larger
 * kernels or multipliers go through im2col + GEMM. */
#define DW_MAX_TAPS 256
/* Taps per filter for dw's partial sums (kept on the stack). */
#define DW_MAX_KHW 64

int conv_dw_applies(const conv_run *r)
{
#ifdef DWV
    const conv_geom *g = &r->g;
    return r->groups > 1 && g->c == 1 && g->kh * g->kw <= DW_MAX_KHW &&
           r->kg * g->kh * g->kw <= DW_MAX_TAPS;
#else
    (void)r;
    return 0;
#endif
}

#ifdef DWV

typedef float dwv __attribute__((vector_size(DWV * sizeof(float))));

static inline dwv v_load(const float *p)
{
    dwv v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void v_store(float *p, dwv v)
{
    memcpy(p, &v, sizeof v);
}

static inline dwv v_splat(float x)
{
    return (dwv){0} + x;
}

/* The first n <= DWV floats of v to p, and p[0..n) as a vector with zeros
 * after: a masked move where AVX-512 has one, else a short loop (a libc
 * call per row end cost more than a 7x7 plane's products). */
static inline void v_store_part(float *p, dwv v, size_t n)
{
#if DWV == 16
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1u), (__m512)v);
#else
    float tmp[DWV];
    v_store(tmp, v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[i];
#endif
}

static inline dwv v_load_part(const float *p, size_t n)
{
#if DWV == 16
    return (dwv)_mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1u), p);
#else
    float tmp[DWV] = {0};
    for (size_t i = 0; i < n; i++)
        tmp[i] = p[i];
    return v_load(tmp);
#endif
}

static size_t round_v(size_t n)
{
    return (n + DWV - 1) / DWV * DWV;
}

/* One gather: output [oh, ow] from an input plane [ih, iw] padded by pt
 * above and pl on the left (either may be negative: rows or columns
 * dropped), with the kernel, stride and dilation given.
 *
 * The padded input is stored as sh sw "phase planes": plane (a, b) holds
 * the padded rows a, a + sh, ... and columns b, b + sw, ..., hq x wq of
 * them, row after row. Tap (ki, kj) of output (o, j) is then element
 * (o + ki dh / sh) wq + j + kj dw / sw of plane (ki dh mod sh, kj dw mod
 * sw): for consecutive j consecutive floats, whatever the stride. Output
 * (o, j) is "virtual pixel" o wq + j, and a narrow output (MobileNet's
 * 7x7 and 14x14) is computed over all its virtual pixels at once, vectors
 * running across row ends (the wq - ow extra columns of each row are
 * computed and dropped): a 7-wide row would fill 7 of 16 lanes. */
typedef struct dw_gather {
    int64_t ih, iw, pt, pl, sh, sw, dh, dw, kh, kw, oh, ow;
    int64_t hp, wp;   /* padded rows and columns the windows read */
    size_t hq, wq;    /* rows and columns of a phase plane */
    size_t plane;     /* floats per phase plane, with read-past slack */
    size_t floats;    /* sh sw planes */
    size_t virt;      /* oh wq virtual pixels, rounded up to vectors */
    int flat;         /* narrow output: computed over the virtual pixels */
    size_t tap[DW_MAX_KHW]; /* where tap (ki, kj) of output (0, 0) is */
} dw_gather;

static void gather_init(dw_gather *g, int64_t ih, int64_t iw, int64_t pt,
                        int64_t pl, int64_t sh, int64_t sw, int64_t dh,
                        int64_t dw, int64_t kh, int64_t kw, int64_t oh,
                        int64_t ow)
{
    memset(g, 0, sizeof *g);
    g->ih = ih, g->iw = iw, g->pt = pt, g->pl = pl, g->sh = sh, g->sw = sw;
    g->dh = dh, g->dw = dw, g->kh = kh, g->kw = kw, g->oh = oh, g->ow = ow;
    g->hp = (oh - 1) * sh + (kh - 1) * dh + 1;
    g->wp = (ow - 1) * sw + (kw - 1) * dw + 1;
    g->hq = (size_t)((g->hp + sh - 1) / sh);
    g->wq = (size_t)((g->wp + sw - 1) / sw);
    /* The last vector of the last row reads up to DWV - 1 past the
     * row's end, plus the largest column offset. */
    g->plane = round_v(g->hq * g->wq + (size_t)((kw - 1) * dw / sw) + DWV);
    g->floats = (size_t)(sh * sw) * g->plane;
    g->virt = round_v((size_t)oh * g->wq);
    g->flat = ow < 2 * DWV;
    for (int64_t ki = 0; ki < kh; ki++)
        for (int64_t kj = 0; kj < kw; kj++) {
            int64_t a = ki * dh % sh, b = kj * dw % sw;
            g->tap[ki * kw + kj] = (size_t)(a * sw + b) * g->plane +
                                   (size_t)(ki * dh / sh) * g->wq +
                                   (size_t)(kj * dw / sw);
        }
}

/* Columns of input row src into the row's slots of the sw phase planes
 * starting at dst: padded column C = x + pl goes to plane C mod sw, slot
 * C / sw < wq. */
static void row_store(const dw_gather *g, const float *restrict src,
                      float *restrict dst)
{
    const int64_t sw = g->sw, pl = g->pl, iw = g->iw;
    const int64_t wq = (int64_t)g->wq;
    if (sw == 1) {
        int64_t x0 = pl < 0 ? -pl : 0, x1 = iw < wq - pl ? iw : wq - pl;
        for (int64_t x = x0; x < x1; x++)
            dst[x + pl] = src[x];
        return;
    }
    if (sw == 2 && pl >= 0) {
        /* Pairs of columns into the two planes: one loop the compiler
         * turns into vector loads and shuffles (a strided scalar loop
         * took most of a stride-2 layer's time). */
        float *restrict ev = dst, *restrict od = dst + g->plane;
        int64_t lo = (pl + 1) / 2, hi = (iw + pl) / 2, end = iw + pl;
        if (hi > wq)
            hi = wq;
        if (end > 2 * wq)
            end = 2 * wq;
        for (int64_t i = lo; i < hi; i++) {
            ev[i] = src[2 * i - pl];
            od[i] = src[2 * i + 1 - pl];
        }
        /* The unpaired columns at the two ends. */
        for (int64_t q = pl; q < end && q < 2 * lo; q++)
            dst[(size_t)(q & 1) * g->plane + (size_t)(q >> 1)] = src[q - pl];
        for (int64_t q = 2 * (hi > lo ? hi : lo); q < end; q++)
            dst[(size_t)(q & 1) * g->plane + (size_t)(q >> 1)] = src[q - pl];
        return;
    }
    for (int64_t b = 0; b < sw; b++) {
        int64_t x = ((b - pl) % sw + sw) % sw;
        if (x + pl < 0)
            x += (-(x + pl) + sw - 1) / sw * sw;
        float *d = dst + (size_t)b * g->plane;
        for (int64_t i = (x + pl) / sw; x < iw && i < wq; x += sw, i++)
            d[i] = src[x];
    }
}

/* The adjoint of row_store: x[c] = its slot, or 0 where none. */
static void row_crop(const dw_gather *g, const float *restrict src,
                     float *restrict x)
{
    const int64_t sw = g->sw, pl = g->pl, iw = g->iw;
    const int64_t wq = (int64_t)g->wq;
    for (int64_t c = 0; c < iw; c++)
        x[c] = 0.0f;
    if (sw == 2 && pl >= 0) {
        const float *restrict ev = src, *restrict od = src + g->plane;
        int64_t lo = (pl + 1) / 2, hi = (iw + pl) / 2, end = iw + pl;
        if (hi > wq)
            hi = wq;
        if (end > 2 * wq)
            end = 2 * wq;
        for (int64_t i = lo; i < hi; i++) {
            x[2 * i - pl] = ev[i];
            x[2 * i + 1 - pl] = od[i];
        }
        for (int64_t q = pl; q < end && q < 2 * lo; q++)
            x[q - pl] = src[(size_t)(q & 1) * g->plane + (size_t)(q >> 1)];
        for (int64_t q = 2 * (hi > lo ? hi : lo); q < end; q++)
            x[q - pl] = src[(size_t)(q & 1) * g->plane + (size_t)(q >> 1)];
        return;
    }
    for (int64_t b = 0; b < sw; b++) {
        int64_t c = ((b - pl) % sw + sw) % sw;
        if (c + pl < 0)
            c += (-(c + pl) + sw - 1) / sw * sw;
        const float *d = src + (size_t)b * g->plane;
        for (int64_t i = (c + pl) / sw; c < iw && i < wq; c += sw, i++)
            x[c] = d[i];
    }
}

/* dst (g->floats) = the phase planes of input plane x (ih x iw floats). */
static void plane_store(const dw_gather *g, const float *x, float *dst)
{
    const size_t wq = g->wq, used = g->hq * wq;
    const int64_t rows = g->sh * (int64_t)g->hq;
    /* Zeros where no input lands (padding rows, the ends of rows, the
     * read-past slack); zeroing the whole buffer first cost as much as
     * the stores on a 112x112 plane. */
    for (int64_t p = 0; p < g->sh * g->sw; p++)
        memset(dst + (size_t)p * g->plane + used, 0,
               (g->plane - used) * sizeof *dst);
    for (int64_t R = 0; R < rows; R++) {
        int64_t r = R - g->pt;
        float *row = dst + (size_t)(R % g->sh * g->sw) * g->plane +
                     (size_t)(R / g->sh) * wq;
        if (r < 0 || r >= g->ih || g->sw > 1) {
            for (int64_t b = 0; b < g->sw; b++)
                memset(row + (size_t)b * g->plane, 0, wq * sizeof *row);
        } else { /* stride 1: slots [s0, s1) get the row */
            int64_t s0 = g->pl > 0 ? g->pl : 0;
            int64_t s1 = g->iw + g->pl < (int64_t)wq ? g->iw + g->pl
                                                     : (int64_t)wq;
            if (s1 < s0)
                s1 = s0;
            for (int64_t i = 0; i < s0; i++)
                row[i] = 0.0f;
            for (int64_t i = s1; i < (int64_t)wq; i++)
                row[i] = 0.0f;
        }
        if (r >= 0 && r < g->ih)
            row_store(g, x + (size_t)r * (size_t)g->iw, row);
    }
}

/* The adjoint: x (ih x iw) = the phase planes' slots, 0 where none. */
static void plane_crop(const dw_gather *g, const float *src, float *x)
{
    for (int64_t r = 0; r < g->ih; r++) {
        int64_t R = r + g->pt;
        float *xr = x + (size_t)r * (size_t)g->iw;
        if (R < 0 || R >= g->sh * (int64_t)g->hq) {
            memset(xr, 0, (size_t)g->iw * sizeof *xr);
            continue;
        }
        const float *row = src + (size_t)(R % g->sh * g->sw) * g->plane +
                           (size_t)(R / g->sh) * g->wq;
        row_crop(g, row, xr);
    }
}

/* dst[o wq + j] = src[o ow + j] for j < ow, zeros elsewhere (virt
 * floats): dy on the virtual pixels. */
static void to_virtual(const dw_gather *g, const float *src, float *dst)
{
    const size_t ow = (size_t)g->ow;
    memset(dst, 0, g->virt * sizeof *dst);
    for (int64_t o = 0; o < g->oh; o++) {
        const float *s = src + (size_t)o * ow;
        float *d = dst + (size_t)o * g->wq;
        for (size_t j = 0; j < ow; j += DWV) /* rows narrower than 2 DWV */
            v_store_part(d + j, v_load_part(s + j, ow - j < DWV ? ow - j
                                                               : DWV),
                         ow - j < DWV ? ow - j : DWV);
    }
}

/* dst[o ow + j] = src[o wq + j]: the virtual pixels' real ones. */
static void from_virtual(const dw_gather *g, const float *src, float *dst)
{
    const size_t ow = (size_t)g->ow;
    for (int64_t o = 0; o < g->oh; o++) {
        const float *s = src + (size_t)o * g->wq;
        float *d = dst + (size_t)o * ow;
        for (size_t j = 0; j < ow; j += DWV)
            v_store_part(d + j, v_load(s + j), ow - j < DWV ? ow - j : DWV);
    }
}

/* The sum of v's lanes, as a tree (in a fixed order): a chain of DWV
 * dependent additions per filter tap cost more than a 7x7 plane's
 * products. */
static inline float v_sum(dwv v)
{
#if DWV == 16
    return _mm512_reduce_add_ps((__m512)v);
#else
    float l[DWV];
    v_store(l, v);
    for (int w = DWV / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            l[i] += l[i + w];
    return l[0];
#endif
}

/* y[j] = b + sum over t of wt[t] tp[t][j], j < ow. Two vectors per step:
 * independent sums for the FMA pipelines. Inlined with a constant nt (9)
 * for 3x3 kernels, so the tap loop unrolls; the weights are broadcast
 * once into a local array, which no store to y can alias, so they stay in
 * registers. */
static inline __attribute__((always_inline)) void
gather_row(const float *const *tp, const float *wt, size_t nt, float b,
           float *restrict y, size_t ow)
{
    dwv w[DW_MAX_TAPS];
    size_t j = 0;
    for (size_t t = 0; t < nt; t++)
        w[t] = v_splat(wt[t]);
    for (; j + 4 * DWV <= ow; j += 4 * DWV) {
        dwv a0 = v_splat(b), a1 = a0, a2 = a0, a3 = a0;
        for (size_t t = 0; t < nt; t++) {
            a0 += w[t] * v_load(tp[t] + j);
            a1 += w[t] * v_load(tp[t] + j + DWV);
            a2 += w[t] * v_load(tp[t] + j + 2 * DWV);
            a3 += w[t] * v_load(tp[t] + j + 3 * DWV);
        }
        v_store(y + j, a0);
        v_store(y + j + DWV, a1);
        v_store(y + j + 2 * DWV, a2);
        v_store(y + j + 3 * DWV, a3);
    }
    for (; j + 2 * DWV <= ow; j += 2 * DWV) {
        dwv a0 = v_splat(b), a1 = a0;
        for (size_t t = 0; t < nt; t++) {
            a0 += w[t] * v_load(tp[t] + j);
            a1 += w[t] * v_load(tp[t] + j + DWV);
        }
        v_store(y + j, a0);
        v_store(y + j + DWV, a1);
    }
    for (; j < ow; j += DWV) {
        dwv a0 = v_splat(b);
        for (size_t t = 0; t < nt; t++)
            a0 += w[t] * v_load(tp[t] + j);
        if (j + DWV <= ow)
            v_store(y + j, a0);
        else
            v_store_part(y + j, a0, ow - j);
    }
}

static void gather_row_any(const float *const *tp, const float *wt,
                           size_t nt, float b, float *y, size_t ow)
{
    if (nt == 9)
        gather_row(tp, wt, 9, b, y, ow);
    else
        gather_row(tp, wt, nt, b, y, ow);
}

/* acc[t] += dy[j] tp[t][j] over j < ow, vector lane by lane, and
 * acc[nt] += dy[j] (the bias gradient, in the same pass over dy). */
static inline __attribute__((always_inline)) void
dw_row(const float *const *tp, size_t nt, const float *dy, size_t ow,
       dwv *acc)
{
    size_t j = 0;
    for (; j + DWV <= ow; j += DWV) {
        dwv g = v_load(dy + j);
        for (size_t t = 0; t < nt; t++)
            acc[t] += g * v_load(tp[t] + j);
        acc[nt] += g;
    }
    if (j < ow) {
        dwv g = v_load_part(dy + j, ow - j);
        for (size_t t = 0; t < nt; t++)
            acc[t] += g * v_load(tp[t] + j);
        acc[nt] += g;
    }
}

/* ---- The call ----------------------------------------------------------- */

typedef struct dw_job {
    conv_run *r;
    dw_gather f; /* the forward gather (forward, dw, stride > 1 dx) */
    dw_gather t; /* the stride-1 dx gather over dy */
    size_t slot_floats;
    float *ws;
    conv_queue queue;
} dw_job;

static void forward_gather(dw_gather *f, const conv_run *r)
{
    const conv_geom *g = &r->g;
    gather_init(f, g->h, g->w, g->ph, g->pw, g->sh, g->sw, g->dh, g->dw,
                g->kh, g->kw, g->oh, g->ow);
}

/* Slot buffers, falling back to one slot; NULL when refused. */
static float *dw_workspace(dw_job *j, size_t items, uint64_t macs)
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

static cnn_status dw_nomem(const dw_job *j, cnn_errbuf *err)
{
    return cnn_layer_fail(err, CNN_ERR_NOMEM,
                          "conv layer '%s': no workspace of %zu floats",
                          j->r->name, j->slot_floats);
}

static void run_job(dw_job *j, cnn_range_fn fn)
{
    if (j->r->slots > 1)
        j->r->env->parallel_for(j->r->env->host, j->r->slots, fn, j);
    else
        fn(j, 0, 1);
}

static uint64_t dw_macs(const conv_run *r)
{
    return (uint64_t)r->n * (uint64_t)r->k * (uint64_t)r->ohw *
           (uint64_t)(r->g.kh * r->g.kw);
}

/* out (oh x ow) = b + the gather of the nt taps over `planes` (nplanes
 * sets of phase planes, g->floats apart, khw taps each) with weights wt:
 * per output row, or over the virtual pixels into vbuf and then copied
 * out. */
static void gather_plane(const dw_gather *g, const float *planes,
                         size_t nplanes, const float *wt, float b,
                         float *vbuf, float *out)
{
    const size_t khw = (size_t)(g->kh * g->kw), nt = nplanes * khw;
    const float *tp[DW_MAX_TAPS];
    if (g->flat) {
        for (size_t t = 0; t < nt; t++)
            tp[t] = planes + t / khw * g->floats + g->tap[t % khw];
        gather_row_any(tp, wt, nt, b, vbuf, (size_t)g->oh * g->wq);
        from_virtual(g, vbuf, out);
        return;
    }
    for (int64_t o = 0; o < g->oh; o++) {
        for (size_t t = 0; t < nt; t++)
            tp[t] = planes + t / khw * g->floats + (size_t)o * g->wq +
                    g->tap[t % khw];
        gather_row_any(tp, wt, nt, b, out + (size_t)(o * g->ow),
                       (size_t)g->ow);
    }
}

/* ---- Forward ------------------------------------------------------------ */

static void forward_slot(void *arg, size_t s0, size_t s1)
{
    dw_job *j = arg;
    const conv_run *r = j->r;
    const dw_gather *f = &j->f;
    const size_t khw = (size_t)(f->kh * f->kw), m = (size_t)r->kg;
    const size_t plane = (size_t)(f->ih * f->iw), ohw = (size_t)r->ohw;

    for (size_t s = s0; s < s1; s++) {
        float *planes = j->ws + s * j->slot_floats;
        float *vbuf = planes + f->floats;
        size_t item;
        while (conv_queue_take(&j->queue, s, &item)) {
            size_t n = item / (size_t)r->cin, c = item % (size_t)r->cin;
            plane_store(f, r->x + item * plane, planes);
            for (size_t t = 0; t < m; t++) {
                size_t k = c * m + t;
                gather_plane(f, planes, 1, r->w + k * khw,
                             r->b ? r->b[k] : 0.0f, vbuf,
                             r->y + (n * (size_t)r->k + k) * ohw);
            }
        }
    }
}

cnn_status conv_dw_forward(conv_run *r, cnn_errbuf *err)
{
    dw_job j;
    size_t items = (size_t)(r->n * r->cin);

#ifdef CONV_DWB
    if (conv_dwb_applies(r))
        return conv_dwb_forward(r, err);
#endif
    memset(&j, 0, sizeof j);
    j.r = r;
    forward_gather(&j.f, r);
    j.slot_floats = j.f.floats + (j.f.flat ? j.f.virt + DWV : 0);
    if (!dw_workspace(&j, items, dw_macs(r)))
        return dw_nomem(&j, err);
    conv_queue_init(&j.queue, items, r->slots);
    run_job(&j, forward_slot);
    return CNN_OK;
}

/* ---- Input gradient ----------------------------------------------------- */

/* Stride 1: dx[c] = the gather of the m planes dy[c m + t], padded by
 * dh (kh - 1) - pt above and dw (kw - 1) - pl on the left, with every
 * filter rotated by 180 degrees. */
static void dx_gather_slot(void *arg, size_t s0, size_t s1)
{
    dw_job *j = arg;
    const conv_run *r = j->r;
    const dw_gather *g = &j->t;
    const size_t khw = (size_t)(g->kh * g->kw), m = (size_t)r->kg;
    const size_t dyplane = (size_t)r->ohw, plane = (size_t)(r->g.h * r->g.w);
    float wr[DW_MAX_TAPS];

    for (size_t s = s0; s < s1; s++) {
        float *planes = j->ws + s * j->slot_floats;
        float *vbuf = planes + m * g->floats;
        size_t item;
        while (conv_queue_take(&j->queue, s, &item)) {
            size_t n = item / (size_t)r->cin, c = item % (size_t)r->cin;
            for (size_t t = 0; t < m; t++) {
                size_t k = c * m + t;
                plane_store(g, r->dy + (n * (size_t)r->k + k) * dyplane,
                            planes + t * g->floats);
                for (size_t e = 0; e < khw; e++)
                    wr[t * khw + e] = r->w[k * khw + khw - 1 - e];
            }
            gather_plane(g, planes, m, wr, 0.0f, vbuf, r->dx + item * plane);
        }
    }
}

/* Stride > 1: the forward's adjoint. Every dy row, times each tap's
 * weight, is added where the forward gather read that tap (the phase
 * planes of a padded dx), which are then cropped into dx. Slot layout:
 * the planes, then dy on the virtual pixels (narrow outputs). */
static void dx_scatter_slot(void *arg, size_t s0, size_t s1)
{
    dw_job *j = arg;
    const conv_run *r = j->r;
    const dw_gather *f = &j->f;
    const size_t khw = (size_t)(f->kh * f->kw), m = (size_t)r->kg;
    const size_t ow = (size_t)f->ow;
    const size_t plane = (size_t)(f->ih * f->iw), ohw = (size_t)r->ohw;

    for (size_t s = s0; s < s1; s++) {
        float *buf = j->ws + s * j->slot_floats;
        float *dyv = buf + f->floats;
        size_t item;
        while (conv_queue_take(&j->queue, s, &item)) {
            size_t n = item / (size_t)r->cin, c = item % (size_t)r->cin;
            memset(buf, 0, f->floats * sizeof *buf);
            for (size_t t = 0; t < m; t++) {
                size_t k = c * m + t;
                const float *dy = r->dy + (n * (size_t)r->k + k) * ohw;
                const float *w = r->w + k * khw;
                if (f->flat) {
                    to_virtual(f, dy, dyv);
                    for (size_t e = 0; e < khw; e++) {
                        float *d = buf + f->tap[e];
                        dwv wv = v_splat(w[e]);
                        for (size_t x = 0; x < f->virt; x += DWV)
                            v_store(d + x,
                                    v_load(d + x) + wv * v_load(dyv + x));
                    }
                    continue;
                }
                for (int64_t o = 0; o < f->oh; o++) {
                    const float *dr = dy + (size_t)o * ow;
                    for (size_t e = 0; e < khw; e++) {
                        float *d = buf + (size_t)o * f->wq + f->tap[e];
                        dwv wv = v_splat(w[e]);
                        for (size_t x = 0; x < ow; x += DWV) {
                            dwv g = x + DWV <= ow ? v_load(dr + x)
                                                  : v_load_part(dr + x,
                                                                ow - x);
                            v_store(d + x, v_load(d + x) + wv * g);
                        }
                    }
                }
            }
            plane_crop(f, buf, r->dx + item * plane);
        }
    }
}

static cnn_status dx_pass(conv_run *r, cnn_errbuf *err)
{
    dw_job j;
    const conv_geom *g = &r->g;
    size_t items = (size_t)(r->n * r->cin);
    int gather = g->sh == 1 && g->sw == 1;

    memset(&j, 0, sizeof j);
    j.r = r;
    forward_gather(&j.f, r);
    if (gather) {
        gather_init(&j.t, g->oh, g->ow, g->dh * (g->kh - 1) - g->ph,
                    g->dw * (g->kw - 1) - g->pw, 1, 1, g->dh, g->dw, g->kh,
                    g->kw, g->h, g->w);
        j.slot_floats = (size_t)r->kg * j.t.floats +
                        (j.t.flat ? j.t.virt + DWV : 0);
    } else {
        j.slot_floats = j.f.floats + (j.f.flat ? j.f.virt : 0);
    }
    if (!dw_workspace(&j, items, dw_macs(r)))
        return dw_nomem(&j, err);
    conv_queue_init(&j.queue, items, r->slots);
    run_job(&j, gather ? dx_gather_slot : dx_scatter_slot);
    return CNN_OK;
}

/* ---- Weight gradient ---------------------------------------------------- */

/* One channel's m filters over every image; nt = kh kw taps, each with a
 * vector of partial sums. Inlined with nt = 9 for 3x3 kernels
 * (accumulators in registers). */
static inline __attribute__((always_inline)) void
dw_channel(const dw_job *j, size_t c, float *planes, float *dyv, size_t nt)
{
    const conv_run *r = j->r;
    const dw_gather *f = &j->f;
    const size_t m = (size_t)r->kg, plane = (size_t)(f->ih * f->iw);
    const size_t ohw = (size_t)r->ohw, ow = (size_t)f->ow;
    const float *tp[DW_MAX_KHW];
    dwv acc[DW_MAX_KHW + 1];

    for (size_t t = 0; t < m; t++) {
        size_t k = c * m + t;
        for (size_t e = 0; e <= nt; e++)
            acc[e] = v_splat(0.0f);
        for (size_t n = 0; n < (size_t)r->n; n++) {
            /* At batch 1 the planes are stored once for the m filters. */
            if (t == 0 || r->n > 1)
                plane_store(f, r->x + (n * (size_t)r->cin + c) * plane,
                            planes);
            const float *dy = r->dy + (n * (size_t)r->k + k) * ohw;
            if (f->flat) {
                to_virtual(f, dy, dyv);
                for (size_t e = 0; e < nt; e++)
                    tp[e] = planes + f->tap[e];
                dw_row(tp, nt, dyv, f->virt, acc);
                continue;
            }
            for (int64_t o = 0; o < f->oh; o++) {
                for (size_t e = 0; e < nt; e++)
                    tp[e] = planes + (size_t)o * f->wq + f->tap[e];
                dw_row(tp, nt, dy + (size_t)o * ow, ow, acc);
            }
        }
        for (size_t e = 0; e < nt; e++)
            r->dw[k * nt + e] = v_sum(acc[e]);
        if (r->db)
            r->db[k] = v_sum(acc[nt]);
    }
}

static void dw_slot(void *arg, size_t s0, size_t s1)
{
    dw_job *j = arg;
    const dw_gather *f = &j->f;
    const size_t khw = (size_t)(f->kh * f->kw);

    for (size_t s = s0; s < s1; s++) {
        float *planes = j->ws + s * j->slot_floats;
        float *dyv = planes + f->floats;
        size_t c;
        while (conv_queue_take(&j->queue, s, &c)) {
            if (khw == 9)
                dw_channel(j, c, planes, dyv, 9);
            else
                dw_channel(j, c, planes, dyv, khw);
        }
    }
}

static cnn_status dw_pass(conv_run *r, cnn_errbuf *err)
{
    dw_job j;
    size_t items = (size_t)r->cin;

    memset(&j, 0, sizeof j);
    j.r = r;
    forward_gather(&j.f, r);
    j.slot_floats = j.f.floats + (j.f.flat ? j.f.virt : 0);
    if (!dw_workspace(&j, items, dw_macs(r)))
        return dw_nomem(&j, err);
    conv_queue_init(&j.queue, items, r->slots);
    run_job(&j, dw_slot);
    return CNN_OK;
}

cnn_status conv_dw_backward(conv_run *r, cnn_errbuf *err)
{
    cnn_status st = CNN_OK;
    if (r->dx) {
#ifdef CONV_DWB
        if (conv_dwb_dx_applies(r))
            st = conv_dwb_backward_dx(r, err);
        else
#endif
            st = dx_pass(r, err);
    }
    if (st == CNN_OK && r->dw) {
#ifdef CONV_DWB
        if (conv_dwb_applies(r))
            return conv_dwb_backward_dw(r, err);
#endif
        st = dw_pass(r, err);
    }
    return st;
}

#else /* no vector extensions: never chosen (conv_dw_applies) */

cnn_status conv_dw_forward(conv_run *r, cnn_errbuf *err)
{
    return conv_gemm_forward(r, err);
}

cnn_status conv_dw_backward(conv_run *r, cnn_errbuf *err)
{
    return conv_gemm_backward(r, err);
}

#endif
