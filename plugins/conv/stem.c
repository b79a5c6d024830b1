/* SPDX-License-Identifier: MIT */
/* Forward of a 3x3 stride-2 stem on AVX-512: the first layer of
 * MobileNetV2, EfficientNet, MnasNet and RegNet (3 -> 32 channels at
 * 224x224), MobileNetV3 (3 -> 16) and ShuffleNet V2 (3 -> 24); any layer
 * of at most 4 input channels with that kernel and stride.
 *
 * Its sums are 27 multiply-adds long. Through im2col and the pointwise
 * tiles (its path before) the column matrix, 27 rows of the whole output
 * plane, was written and read again for as many multiply-adds as it holds,
 * and filter lanes' blocks spend as long storing as summing at that length.
 * Here the lanes are 16 output pixels of a row: for each channel and
 * kernel row, the inputs under tap columns 0, 1 and 2 are the even lanes,
 * the odd lanes and the even lanes two further of the padded input row
 * from column 2 j0 (two loads and a two-source permute each), and each of
 * those three vectors feeds 16 (or 8) filters' accumulators, the weights
 * broadcast. Each work item first copies the 3 input rows of each channel
 * it reads, zero-padded, into a buffer of its slot in the host's workspace
 * (a few KiB, in L1): padding the whole image first wrote and read it once
 * more, which inside a network, with the image and the output coming from
 * memory, was a fifth of the layer's traffic.
 *
 * Sums run over channels, kernel rows, then kernel columns, from the bias:
 * results do not depend on the thread count. Work items are (image, output
 * row), each for all filters. */
#include <string.h>

#include "conv_impl.h"

#if defined(__GNUC__) && defined(__AVX512F__)

#include <immintrin.h>

#include "epilogue_avx512.h"

enum {
    ST_MAX_C = 4, /* input channels at most: images (RGB, RGBA, grey) */
    ST_FB = 16,   /* filters per block; a last one of up to 8 takes 8 */
    ST_TAPS = 9,
};

typedef struct st_run {
    conv_run *r;
    const float *wpad; /* the filters in blocks of 16, [K/16][C 9][16],
                          zeros past K */
    float *rows;       /* per slot: C x 3 padded input rows of wp floats */
    int64_t wp;        /* padded row width */
    size_t slot_floats;
    conv_queue queue;
} st_run;

int conv_stem_applies(const conv_run *r)
{
    const conv_geom *g = &r->g;
    return r->groups == 1 && g->c <= ST_MAX_C && g->kh == 3 && g->kw == 3 &&
           g->sh == 2 && g->sw == 2 && g->dh == 1 && g->dw == 1 &&
           g->ow >= 16 && r->k <= 1024;
}

/* Input rows 2 i - ph .. 2 i - ph + 2 of each channel of image img,
 * zero-padded to wp floats with the image from column pw: rows[(c 3 + a)
 * wp + column]. */
static void st_rows(const st_run *sr, size_t img, int64_t i, float *rows)
{
    const conv_run *r = sr->r;
    const conv_geom *g = &r->g;
    const size_t hw = (size_t)(g->h * g->w), wp = (size_t)sr->wp;
    const float *src = r->x + img * (size_t)g->c * hw;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t a = 0; a < 3; a++) {
            float *dst = rows + (size_t)(c * 3 + a) * wp;
            int64_t y = 2 * i + a - g->ph;
            if (y < 0 || y >= g->h) {
                memset(dst, 0, wp * sizeof *dst);
                continue;
            }
            memset(dst, 0, (size_t)g->pw * sizeof *dst);
            memcpy(dst + g->pw, src + (size_t)c * hw + (size_t)y * (size_t)g->w,
                   (size_t)g->w * sizeof *dst);
            memset(dst + g->pw + g->w, 0,
                   (wp - (size_t)(g->pw + g->w)) * sizeof *dst);
        }
}

/* Output row i, pixels [j0, j0 + 16) (lanes m), filters [k0, k0 + nf),
 * nf <= NF, of one image: x the row's padded input rows (st_rows), y the
 * image's output. */
static inline __attribute__((always_inline)) void
st_block(const st_run *sr, const float *x, float *y, int64_t i, int64_t j0,
         __mmask16 m, int64_t k0, int nf, const int NF)
{
    const conv_run *r = sr->r;
    const int64_t c_count = r->g.c, ckk = r->ckk, plane = r->ohw;
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14,
                                          12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15,
                                         13, 11, 9, 7, 5, 3, 1);
    const float *w = sr->wpad + k0 * ckk; /* k0 is a multiple of 16 */
    __m512 acc[ST_FB];

#pragma GCC unroll 16
    for (int f = 0; f < NF; f++)
        acc[f] = _mm512_set1_ps(r->b && f < nf ? r->b[k0 + f] : 0.0f);
    for (int64_t c = 0; c < c_count; c++)
        for (int a = 0; a < 3; a++) {
            const float *row = x + (size_t)(c * 3 + a) * (size_t)sr->wp +
                               (size_t)(2 * j0);
            __m512 lo = _mm512_loadu_ps(row), hi = _mm512_loadu_ps(row + 16);
            __m512 lo2 = _mm512_loadu_ps(row + 2);
            __m512 hi2 = _mm512_loadu_ps(row + 18);
            __m512 v0 = _mm512_permutex2var_ps(lo, even, hi);
            __m512 v1 = _mm512_permutex2var_ps(lo, odd, hi);
            __m512 v2 = _mm512_permutex2var_ps(lo2, even, hi2);
            /* Tap t's weight of filter f at wt[t 16 + f]: one pointer
             * (16 filters' rows as they are took 16 registers, and the
             * compiler spilled them inside this loop). */
            const float *wt = w + (size_t)(c * ST_TAPS + a * 3) * ST_FB;
#pragma GCC unroll 16
            for (int f = 0; f < NF; f++) {
                acc[f] = _mm512_fmadd_ps(_mm512_set1_ps(wt[f]), v0, acc[f]);
                acc[f] = _mm512_fmadd_ps(_mm512_set1_ps(wt[ST_FB + f]), v1,
                                         acc[f]);
                acc[f] = _mm512_fmadd_ps(_mm512_set1_ps(wt[2 * ST_FB + f]),
                                         v2, acc[f]);
            }
        }
#pragma GCC unroll 16
    for (int f = 0; f < NF; f++) {
        conv_ep512 e;
        if (f >= nf)
            break;
        conv_ep512_init(&e, r->ep, k0 + f);
        _mm512_mask_storeu_ps(y + (size_t)(k0 + f) * (size_t)plane +
                                  (size_t)(i * r->g.ow + j0),
                              m, conv_ep512_apply(&e, acc[f]));
    }
}

static void st_block16(const st_run *sr, const float *x, float *y, int64_t i,
                       int64_t j0, __mmask16 m, int64_t k0, int nf)
{
    st_block(sr, x, y, i, j0, m, k0, nf, 16);
}

static void st_block8(const st_run *sr, const float *x, float *y, int64_t i,
                      int64_t j0, __mmask16 m, int64_t k0, int nf)
{
    st_block(sr, x, y, i, j0, m, k0, nf, 8);
}

static void st_compute(void *arg, size_t s0, size_t s1)
{
    st_run *sr = arg;
    const conv_run *r = sr->r;
    const int64_t ow = r->g.ow, oh = r->g.oh, k = r->k;
    for (size_t s = s0; s < s1; s++) {
        size_t item;
        while (conv_queue_take(&sr->queue, s, &item)) {
            size_t img = item / (size_t)oh;
            int64_t i = (int64_t)(item % (size_t)oh);
            float *x = sr->rows + s * sr->slot_floats;
            float *y = r->y + img * (size_t)k * (size_t)r->ohw;
            st_rows(sr, img, i, x);
            for (int64_t j0 = 0; j0 < ow; j0 += 16) {
                int64_t left = ow - j0;
                __mmask16 m = left >= 16 ? (__mmask16)0xFFFF
                                         : (__mmask16)((1u << left) - 1u);
                for (int64_t k0 = 0; k0 < k; k0 += ST_FB) {
                    int nf = k - k0 < ST_FB ? (int)(k - k0) : ST_FB;
                    if (nf > 8)
                        st_block16(sr, x, y, i, j0, m, k0, nf);
                    else
                        st_block8(sr, x, y, i, j0, m, k0, nf);
                }
            }
        }
    }
}

cnn_status conv_stem_forward(conv_run *r, cnn_errbuf *err)
{
    const conv_geom *g = &r->g;
    const size_t ckk = (size_t)r->ckk, k = (size_t)r->k;
    const size_t kpad = (k + ST_FB - 1) / ST_FB * ST_FB;
    /* The wider of the padded input and what the last 16 outputs of a row
     * read: columns up to 2 (j0 + 15) + 2, from two loads of 16 at 2 j0
     * and 2 j0 + 2 and two at 16 past them. */
    const int64_t reach_w = 2 * ((g->ow + 15) / 16 * 16) + 2;
    st_run sr;
    float *wpad;

    memset(&sr, 0, sizeof sr);
    sr.r = r;
    sr.wp = g->w + g->pw + g->pr > reach_w ? g->w + g->pw + g->pr : reach_w;
    sr.slot_floats = ((size_t)g->c * 3 * (size_t)sr.wp + 15) / 16 * 16;

    uint64_t macs = (uint64_t)r->n * (uint64_t)k * (uint64_t)r->ohw * ckk;
    size_t items = (size_t)r->n * (size_t)g->oh;
    r->slots = conv_slots(r, items, macs);
    size_t need = r->slots * sr.slot_floats + kpad * ckk;
    sr.rows = r->env && r->env->workspace
                  ? r->env->workspace(r->env->host, need)
                  : NULL;
    if (!sr.rows)
        return conv_gemm_forward(r, err); /* its own, smaller, workspace */
    wpad = sr.rows + r->slots * sr.slot_floats;
    for (size_t k0 = 0; k0 < kpad; k0 += ST_FB)
        for (size_t t = 0; t < ckk; t++)
            for (size_t f = 0; f < ST_FB; f++)
                wpad[k0 * ckk + t * ST_FB + f] =
                    k0 + f < k ? r->w[(k0 + f) * ckk + t] : 0.0f;
    sr.wpad = wpad;

    conv_queue_init(&sr.queue, items, r->slots);
    if (r->slots > 1)
        r->env->parallel_for(r->env->host, r->slots, st_compute, &sr);
    else
        st_compute(&sr, 0, 1);
    r->epilogue_done = 1;
    return CNN_OK;
}

#else /* no AVX-512 in this build: never chosen */

int conv_stem_applies(const conv_run *r)
{
    (void)r;
    return 0;
}

cnn_status conv_stem_forward(conv_run *r, cnn_errbuf *err)
{
    return conv_gemm_forward(r, err);
}

#endif
