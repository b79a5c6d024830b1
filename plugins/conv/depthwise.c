/* SPDX-License-Identifier: MIT */
/* Depthwise convolution (groups == C > 1, K = m C): every input channel c
 * is convolved on its own with m filters, giving output channels
 * c m .. c m + m - 1 (PyTorch's order). MobileNet's 3x3 layers, stride 1
 * and 2. A GEMM per channel would multiply [m, kh kw] by [kh kw, OH OW]:
 * a product too thin for any GEMM to run well, after an im2col nine times
 * the image. Here each output row is a short sum of shifted input rows,
 * with vectors of output pixels and the accumulator in a register:
 *
 *   y[k][o][j] = b[k] + sum over ki, kj of w[k][ki][kj] *
 *                xp[c][o sh + ki dh][j sw + kj dw]
 *
 * xp being the zero-padded input. To make every tap a contiguous vector
 * load whatever the stride, each padded input row is stored split into
 * its sw "phases", phase p holding columns p, p + sw, p + 2 sw, ...: tap
 * kj then reads phase (kj dw) mod sw from offset (kj dw) / sw on, at
 * consecutive j. Rows above and below the image point at one row of zeros
 * instead of being stored. Each phase row is padded with zeros past the
 * last output vector, so no load needs a bound test; the stored columns
 * past OW are dropped.
 *
 *   dx, stride 1  the same gather over dy, padded by dh (kh - 1) - pt above
 *                 (likewise on the other sides), with the filters rotated by
 *                 180 degrees, summing the m output channels of c
 *   dx, stride>1  the adjoint of the forward gather: every dy row is added,
 *                 times each tap's weight, into a padded, phase-split dx
 *                 buffer, which is then cropped and interleaved into dx
 *   dw            dw[k][ki][kj] = sum over n, o, j of dy[n][k][o][j] times
 *                 the forward's tap (ki, kj) at (o, j): one vector of
 *                 partial sums per tap, reduced once per channel
 *
 * Work items: (image, channel) for forward and dx, channel for dw (all
 * images summed in order), taken from a conv_queue; every item's result is
 * the same whichever thread computes it, so results depend on nothing but
 * the inputs. Needs GCC/Clang vector extensions; without them the layer
 * goes through im2col + GEMM per group. */
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

/* The first n < DWV floats of v to p, and p[0..n) as a vector with zeros
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
 * dropped), with the kernel, stride and dilation given. */
typedef struct dw_gather {
    int64_t ih, iw, pt, pl, sh, sw, dh, dw, kh, kw, oh, ow;
    size_t L;   /* floats per phase of a stored row */
    size_t row; /* sw L */
    /* Where tap column kj starts in a stored row: its phase's first float
     * plus its offset, computed once (a division per tap and output row
     * took longer than the products of a 7x7 plane). */
    size_t col[DW_MAX_KHW];
} dw_gather;

static void gather_setup(dw_gather *g)
{
    /* Loads reach ow rounded up to whole vectors plus the largest tap
     * offset; stores of the input reach its last column's slot. */
    size_t need = round_v((size_t)g->ow) + (size_t)((g->kw - 1) * g->dw /
                                                    g->sw);
    int64_t cols = (g->iw - 1 + g->pl) / g->sw + 1;
    if (cols > 0 && (size_t)cols > need)
        need = (size_t)cols;
    g->L = round_v(need);
    g->row = g->L * (size_t)g->sw;
    for (int64_t kj = 0; kj < g->kw; kj++) {
        int64_t t = kj * g->dw;
        g->col[kj] = (size_t)(t % g->sw) * g->L + (size_t)(t / g->sw);
    }
}

/* dst (g->row floats) = input row src (g->iw floats), padded and split
 * into phases. */
static void gather_row_store(const dw_gather *g, const float *restrict src,
                             float *restrict dst)
{
    const int64_t sw = g->sw, pl = g->pl, iw = g->iw;
    if (sw == 1) {
        /* Zeros, the row, zeros: plain loops the compiler vectorises
         * (libc calls cost more than these short rows). */
        int64_t from = pl < 0 ? -pl : 0, i = 0, n = (int64_t)g->L;
        for (; i < pl && i < n; i++)
            dst[i] = 0.0f;
        for (int64_t x = from; x < iw; x++, i++)
            dst[i] = src[x];
        for (; i < n; i++)
            dst[i] = 0.0f;
        return;
    }
    memset(dst, 0, g->row * sizeof *dst);
    if (sw == 2 && pl >= 0) {
        /* Padded column q = x + pl goes to phase q & 1, slot q >> 1. Slots
         * i in [lo, hi) take both src[2 i - pl] and src[2 i + 1 - pl]:
         * one loop of pairs, which the compiler turns into vector loads
         * and shuffles (a strided scalar loop took most of the time of a
         * stride-2 layer). */
        float *restrict ev = dst, *restrict od = dst + g->L;
        int64_t lo = (pl + 1) / 2, hi = (iw + pl) / 2;
        for (int64_t i = lo; i < hi; i++) {
            ev[i] = src[2 * i - pl];
            od[i] = src[2 * i + 1 - pl];
        }
        for (int64_t q = pl; q < 2 * lo; q++) /* a leading odd column */
            dst[(size_t)(q & 1) * g->L + (size_t)(q >> 1)] = src[q - pl];
        for (int64_t q = 2 * (hi > lo ? hi : lo); q < iw + pl; q++)
            dst[(size_t)(q & 1) * g->L + (size_t)(q >> 1)] = src[q - pl];
        return;
    }
    for (int64_t p = 0; p < sw; p++) {
        /* Columns x with (x + pl) mod sw == p go to phase p, slots in
         * order. */
        int64_t x = ((p - pl) % sw + sw) % sw;
        if (x + pl < 0)
            x += (-(x + pl) + sw - 1) / sw * sw;
        float *d = dst + (size_t)p * g->L + (size_t)((x + pl) / sw);
        for (; x < iw; x += sw)
            *d++ = src[x];
    }
}

/* Tap pointers for output row o: tp[ki kw + kj]. rows: the stored input
 * rows, zero: a stored row of zeros. */
static void gather_taps(const dw_gather *g, const float *rows,
                        const float *zero, int64_t o, const float **tp)
{
    for (int64_t ki = 0; ki < g->kh; ki++) {
        int64_t i = o * g->sh - g->pt + ki * g->dh;
        const float *base =
            i >= 0 && i < g->ih ? rows + (size_t)i * g->row : zero;
        for (int64_t kj = 0; kj < g->kw; kj++)
            tp[ki * g->kw + kj] = base + g->col[kj];
    }
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

/* acc[t] += dy[j] tp[t][j] over j < ow, vector lane by lane. */
static inline __attribute__((always_inline)) void
dw_row(const float *const *tp, size_t nt, const float *dy, size_t ow,
       dwv *acc)
{
    size_t j = 0;
    for (; j + DWV <= ow; j += DWV) {
        dwv g = v_load(dy + j);
        for (size_t t = 0; t < nt; t++)
            acc[t] += g * v_load(tp[t] + j);
    }
    if (j < ow) {
        dwv g = v_load_part(dy + j, ow - j);
        for (size_t t = 0; t < nt; t++)
            acc[t] += g * v_load(tp[t] + j);
    }
}

/* ---- The call ----------------------------------------------------------- */

typedef struct dw_job {
    conv_run *r;
    dw_gather f;      /* the forward gather (forward, dw) */
    dw_gather t;      /* the stride-1 dx gather over dy */
    size_t rp;        /* stride > 1 dx: padded rows of the dx buffer */
    size_t slot_floats;
    float *ws;
    conv_queue queue;
} dw_job;

static void forward_gather(dw_gather *f, const conv_run *r)
{
    const conv_geom *g = &r->g;
    *f = (dw_gather){g->h,  g->w,  g->ph, g->pw, g->sh, g->sw, g->dh,
                     g->dw, g->kh, g->kw, g->oh, g->ow, 0,     0};
    gather_setup(f);
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

/* ---- Forward ------------------------------------------------------------ */

static void forward_slot(void *arg, size_t s0, size_t s1)
{
    dw_job *j = arg;
    const conv_run *r = j->r;
    const dw_gather *f = &j->f;
    const size_t khw = (size_t)(f->kh * f->kw), m = (size_t)r->kg;
    const size_t plane = (size_t)(f->ih * f->iw), ohw = (size_t)r->ohw;
    const float *tp[DW_MAX_TAPS];

    for (size_t s = s0; s < s1; s++) {
        float *rows = j->ws + s * j->slot_floats;
        float *zero = rows + (size_t)f->ih * f->row;
        size_t item;
        memset(zero, 0, f->row * sizeof *zero);
        while (conv_queue_take(&j->queue, s, &item)) {
            size_t n = item / (size_t)r->cin, c = item % (size_t)r->cin;
            const float *x = r->x + item * plane;
            for (int64_t i = 0; i < f->ih; i++)
                gather_row_store(f, x + (size_t)i * (size_t)f->iw,
                                 rows + (size_t)i * f->row);
            for (size_t t = 0; t < m; t++) {
                size_t k = c * m + t;
                float *y = r->y + (n * (size_t)r->k + k) * ohw;
                float b = r->b ? r->b[k] : 0.0f;
                for (int64_t o = 0; o < f->oh; o++) {
                    gather_taps(f, rows, zero, o, tp);
                    gather_row_any(tp, r->w + k * khw, khw, b,
                                   y + (size_t)o * (size_t)f->ow,
                                   (size_t)f->ow);
                }
            }
        }
    }
}

static uint64_t dw_macs(const conv_run *r)
{
    return (uint64_t)r->n * (uint64_t)r->k * (uint64_t)r->ohw *
           (uint64_t)(r->g.kh * r->g.kw);
}

cnn_status conv_dw_forward(conv_run *r, cnn_errbuf *err)
{
    dw_job j;
    size_t items = (size_t)(r->n * r->cin);

    memset(&j, 0, sizeof j);
    j.r = r;
    forward_gather(&j.f, r);
    j.slot_floats = round_v(((size_t)j.f.ih + 1) * j.f.row);
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
    const float *tp[DW_MAX_TAPS];
    float wr[DW_MAX_TAPS];

    for (size_t s = s0; s < s1; s++) {
        float *rows = j->ws + s * j->slot_floats;
        float *zero = rows + m * (size_t)g->ih * g->row;
        size_t item;
        memset(zero, 0, g->row * sizeof *zero);
        while (conv_queue_take(&j->queue, s, &item)) {
            size_t n = item / (size_t)r->cin, c = item % (size_t)r->cin;
            for (size_t t = 0; t < m; t++) {
                size_t k = c * m + t;
                const float *dy = r->dy + (n * (size_t)r->k + k) * dyplane;
                float *dst = rows + t * (size_t)g->ih * g->row;
                for (int64_t i = 0; i < g->ih; i++)
                    gather_row_store(g, dy + (size_t)i * (size_t)g->iw,
                                     dst + (size_t)i * g->row);
                for (size_t e = 0; e < khw; e++)
                    wr[t * khw + e] = r->w[k * khw + khw - 1 - e];
            }
            float *dx = r->dx + item * plane;
            for (int64_t o = 0; o < g->oh; o++) {
                for (size_t t = 0; t < m; t++)
                    gather_taps(g, rows + t * (size_t)g->ih * g->row, zero,
                                o, tp + t * khw);
                gather_row_any(tp, wr, m * khw, 0.0f,
                               dx + (size_t)o * (size_t)g->ow, (size_t)g->ow);
            }
        }
    }
}

/* Stride > 1: the forward's adjoint. Slot layout: the padded, phase-split
 * dx buffer (rp rows of f.row), then one dy row padded with zeros to
 * whole vectors. */
static void dx_scatter_slot(void *arg, size_t s0, size_t s1)
{
    dw_job *j = arg;
    const conv_run *r = j->r;
    const dw_gather *f = &j->f;
    const size_t khw = (size_t)(f->kh * f->kw), m = (size_t)r->kg;
    const size_t ow = (size_t)f->ow, owp = round_v(ow);
    const size_t plane = (size_t)(f->ih * f->iw), ohw = (size_t)r->ohw;
    const int64_t sw = f->sw;

    for (size_t s = s0; s < s1; s++) {
        float *buf = j->ws + s * j->slot_floats;
        float *dyz = buf + j->rp * f->row;
        size_t item;
        memset(dyz, 0, owp * sizeof *dyz);
        while (conv_queue_take(&j->queue, s, &item)) {
            size_t n = item / (size_t)r->cin, c = item % (size_t)r->cin;
            memset(buf, 0, j->rp * f->row * sizeof *buf);
            for (size_t t = 0; t < m; t++) {
                size_t k = c * m + t;
                const float *dy = r->dy + (n * (size_t)r->k + k) * ohw;
                const float *w = r->w + k * khw;
                for (int64_t o = 0; o < f->oh; o++) {
                    memcpy(dyz, dy + (size_t)o * ow, ow * sizeof *dyz);
                    for (int64_t ki = 0; ki < f->kh; ki++) {
                        float *drow = buf + (size_t)(o * f->sh + ki * f->dh) *
                                                f->row;
                        for (int64_t kj = 0; kj < f->kw; kj++) {
                            float *d = drow + f->col[kj];
                            dwv wv = v_splat(w[ki * f->kw + kj]);
                            for (size_t x = 0; x < owp; x += DWV)
                                v_store(d + x,
                                        v_load(d + x) + wv * v_load(dyz + x));
                        }
                    }
                }
            }
            /* Crop and interleave: dx[i][x] is buffer row i + pt, phase
             * (x + pl) mod sw, slot (x + pl) / sw. */
            float *dx = r->dx + item * plane;
            for (int64_t i = 0; i < f->ih; i++) {
                float *d = dx + (size_t)i * (size_t)f->iw;
                size_t br = (size_t)(i + f->pt);
                if (br >= j->rp) {
                    memset(d, 0, (size_t)f->iw * sizeof *d);
                    continue;
                }
                const float *src = buf + br * f->row;
                if (sw == 2) { /* pairs, as in gather_row_store */
                    const float *ev = src, *od = src + f->L;
                    int64_t pl = f->pl, lo = (pl + 1) / 2;
                    int64_t hi = (f->iw + pl) / 2;
                    for (int64_t q = 2 * lo; q < 2 * hi; q += 2) {
                        d[q - pl] = ev[q >> 1];
                        d[q + 1 - pl] = od[q >> 1];
                    }
                    for (int64_t q = pl; q < 2 * lo; q++)
                        d[q - pl] = src[(size_t)(q & 1) * f->L +
                                        (size_t)(q >> 1)];
                    for (int64_t q = 2 * (hi > lo ? hi : lo); q < f->iw + pl;
                         q++)
                        d[q - pl] = src[(size_t)(q & 1) * f->L +
                                        (size_t)(q >> 1)];
                    continue;
                }
                for (int64_t p = 0; p < sw; p++) {
                    int64_t x = ((p - f->pl) % sw + sw) % sw;
                    const float *ph = src + (size_t)p * f->L +
                                      (size_t)((x + f->pl) / sw);
                    for (; x < f->iw; x += sw)
                        d[x] = *ph++;
                }
            }
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
        j.t = (dw_gather){g->oh,
                          g->ow,
                          g->dh * (g->kh - 1) - g->ph,
                          g->dw * (g->kw - 1) - g->pw,
                          1,
                          1,
                          g->dh,
                          g->dw,
                          g->kh,
                          g->kw,
                          g->h,
                          g->w,
                          0,
                          0};
        gather_setup(&j.t);
        j.slot_floats =
            round_v(((size_t)r->kg * (size_t)j.t.ih + 1) * j.t.row);
    } else {
        /* Rows the windows reach: (oh - 1) sh + dh (kh - 1) + 1. */
        j.rp = (size_t)((g->oh - 1) * g->sh + g->dh * (g->kh - 1) + 1);
        j.slot_floats = round_v(j.rp * j.f.row + round_v((size_t)g->ow));
    }
    if (!dw_workspace(&j, items, dw_macs(r)))
        return dw_nomem(&j, err);
    conv_queue_init(&j.queue, items, r->slots);
    run_job(&j, gather ? dx_gather_slot : dx_scatter_slot);
    return CNN_OK;
}

/* ---- Weight gradient ---------------------------------------------------- */

/* One channel's m filters over every image; acc: the slot's partial sums,
 * nt vectors. Inlined with nt = 9 for 3x3 kernels (accumulators in
 * registers). */
static inline __attribute__((always_inline)) void
dw_channel(const dw_job *j, size_t c, float *rows, const float *zero,
           size_t nt)
{
    const conv_run *r = j->r;
    const dw_gather *f = &j->f;
    const size_t m = (size_t)r->kg, plane = (size_t)(f->ih * f->iw);
    const size_t ohw = (size_t)r->ohw, ow = (size_t)f->ow;
    const float *tp[DW_MAX_KHW];
    dwv acc[DW_MAX_KHW];

    for (size_t t = 0; t < m; t++) {
        size_t k = c * m + t;
        for (size_t e = 0; e < nt; e++)
            acc[e] = v_splat(0.0f);
        for (size_t n = 0; n < (size_t)r->n; n++) {
            /* At batch 1 the image's rows are stored once for the m
             * filters. */
            if (t == 0 || r->n > 1) {
                const float *x = r->x + (n * (size_t)r->cin + c) * plane;
                for (int64_t i = 0; i < f->ih; i++)
                    gather_row_store(f, x + (size_t)i * (size_t)f->iw,
                                     rows + (size_t)i * f->row);
            }
            const float *dy = r->dy + (n * (size_t)r->k + k) * ohw;
            for (int64_t o = 0; o < f->oh; o++) {
                gather_taps(f, rows, zero, o, tp);
                dw_row(tp, nt, dy + (size_t)o * ow, ow, acc);
            }
        }
        for (size_t e = 0; e < nt; e++) {
            float lanes[DWV], sum = 0.0f;
            v_store(lanes, acc[e]);
            for (int l = 0; l < DWV; l++)
                sum += lanes[l];
            r->dw[k * nt + e] = sum;
        }
    }
}

static void dw_slot(void *arg, size_t s0, size_t s1)
{
    dw_job *j = arg;
    const dw_gather *f = &j->f;
    const size_t khw = (size_t)(f->kh * f->kw);

    for (size_t s = s0; s < s1; s++) {
        float *rows = j->ws + s * j->slot_floats;
        float *zero = rows + (size_t)f->ih * f->row;
        size_t c;
        memset(zero, 0, f->row * sizeof *zero);
        while (conv_queue_take(&j->queue, s, &c)) {
            if (khw == 9)
                dw_channel(j, c, rows, zero, 9);
            else
                dw_channel(j, c, rows, zero, khw);
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
    j.slot_floats = round_v(((size_t)j.f.ih + 1) * j.f.row);
    if (!dw_workspace(&j, items, dw_macs(r)))
        return dw_nomem(&j, err);
    conv_queue_init(&j.queue, items, r->slots);
    run_job(&j, dw_slot);
    return CNN_OK;
}

cnn_status conv_dw_backward(conv_run *r, cnn_errbuf *err)
{
    cnn_status st = CNN_OK;
    if (r->dx)
        st = dx_pass(r, err);
    if (st == CNN_OK && r->dw)
        st = dw_pass(r, err);
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
