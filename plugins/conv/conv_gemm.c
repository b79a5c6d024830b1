/* SPDX-License-Identifier: MIT */
/* im2col + GEMM convolution, per image or per band of output rows.
 *
 *   forward   Y_band = W X_band (+ b): bias written first, GEMM with beta 1
 *   weight    dW += dY_band X_band^T, one partial sum per slot
 *   input     dX_band = col2im(W^T dY_band)
 *
 * One GEMM per image (or band), straight into the output: measured on
 * LeNet's shapes, OpenBLAS runs [16 x 150] x [150 x 100] within 15% of the
 * rate of the same product over 11 images side by side, and the side-by-side
 * layout cost a scatter of the output and a gather of dy that together took
 * longer than that. A 1x1 kernel with stride 1 and no padding has X = x and
 * skips im2col. Bands keep the column matrix of a large image bounded (and
 * give the threads of a batch-1 call something to share).
 *
 * Groups: per image (or band), one im2col and one GEMM per group, the
 * group's [kg, ckk] block of W against its channels' column matrix, into
 * its kg output planes. Dilation and unequal padding live in im2col.
 *
 * Forward with groups 1 and a small filter bank (AVX-512 builds) runs the
 * column matrix through pointwise.c's tiles instead of the GEMM, bias and
 * epilogue applied in the store (conv_pw_band_applies). */
#include "gemm.h"
#include <string.h>

#include "conv_impl.h"

/* Floats of column matrix per slot (4 MiB): VGG's and AlexNet's layers ran
 * as fast with 1 to 8 MiB (measured), and batch-1 inference has a memory
 * budget. */
#ifndef CONV_WS_BUDGET
#define CONV_WS_BUDGET ((size_t)1 << 20)
#endif

size_t conv_slots(const conv_run *r, size_t items, uint64_t macs)
{
    const cnn_layer_env *env = r->env;
    size_t s;
    if (!env || !env->parallel_for || env->threads < 2 ||
        macs < CONV_PAR_MIN_MACS || items < 2)
        return 1;
    s = (size_t)env->threads;
    return s < items ? s : items;
}

void conv_run_slots(conv_run *r, cnn_range_fn fn)
{
    if (r->slots > 1)
        r->env->parallel_for(r->env->host, r->slots, fn, r);
    else
        fn(r, 0, 1);
}

static int conv_is_pointwise(const conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 &&
           g->ph == 0 && g->pw == 0 && g->pb == 0 && g->pr == 0;
}

/* Output rows per band: as many as the budget allows, but at least
 * min_bands bands per image. */
static void plan_bands(conv_run *r, size_t budget, int64_t min_bands)
{
    size_t per_row = (size_t)r->ckk * (size_t)r->g.ow;
    int64_t rows = (int64_t)(budget / (per_row ? per_row : 1));
    if (rows < 1)
        rows = 1;
    if (min_bands > 1) {
        int64_t cap = (r->g.oh + min_bands - 1) / min_bands;
        if (rows > cap)
            rows = cap;
    }
    if (rows > r->g.oh)
        rows = r->g.oh;
    /* Bands of equal height: a thin last band runs a thin GEMM. */
    r->bands = (r->g.oh + rows - 1) / rows;
    r->rows = (r->g.oh + r->bands - 1) / r->bands;
}

/* Gets slots * slot_floats + extra floats; when refused, falls back to one
 * slot and one output row per band (extra_one: the extra floats then). */
static cnn_status get_workspace(conv_run *r, size_t extra, size_t extra_one,
                                cnn_errbuf *err)
{
    size_t need = r->slots * r->slot_floats + extra;
    int pointwise = conv_is_pointwise(&r->g);

    r->ws = NULL;
    if (need == 0)
        return CNN_OK;
    if (r->env && r->env->workspace)
        r->ws = r->env->workspace(r->env->host, need);
    if (!r->ws && r->env && r->env->workspace) {
        r->slots = 1;
        r->rows = 1;
        r->bands = r->g.oh;
        r->slot_floats = pointwise ? 0 : (size_t)r->ckk * (size_t)r->g.ow;
        need = r->slot_floats + extra_one;
        r->ws = need ? r->env->workspace(r->env->host, need) : NULL;
        if (!need)
            return CNN_OK;
    }
    if (!r->ws)
        return cnn_layer_fail(err, CNN_ERR_NOMEM,
                              "conv layer '%s': no workspace of %zu floats",
                              r->name, need);
    return CNN_OK;
}

/* The GEMM's B for one group's channels x_g and output rows [oh0, oh1):
 * the image itself for a pointwise convolution (ldb the plane), else its
 * column matrix, written to col (ldb the band's columns). */
static const float *band_matrix(const conv_geom *g, const float *x_g,
                                int64_t oh0, int64_t oh1, float *col,
                                size_t *ldb)
{
    if (conv_is_pointwise(g)) {
        *ldb = (size_t)(g->oh * g->ow);
        return x_g + oh0 * g->ow;
    }
    conv_im2col(g, x_g, oh0, oh1, col);
    *ldb = (size_t)((oh1 - oh0) * g->ow);
    return col;
}

/* ---- Forward ------------------------------------------------------------ */

static void fwd_slot(void *arg, size_t s0, size_t s1)
{
    conv_run *r = arg;
    const conv_geom *g = &r->g;
    const size_t ohw = (size_t)r->ohw, kohw = (size_t)r->k * ohw;
    const size_t plane = (size_t)(g->h * g->w);
    const size_t kg = (size_t)r->kg, ckk = (size_t)r->ckk;

    for (size_t s = s0; s < s1; s++) {
        float *col = r->ws ? r->ws + s * r->slot_floats : NULL;
        size_t t;
        while (conv_queue_take(&r->queue, s, &t)) {
            size_t img = t / (size_t)r->bands;
            int64_t oh0 = (int64_t)(t % (size_t)r->bands) * r->rows;
            int64_t oh1 = oh0 + r->rows < g->oh ? oh0 + r->rows : g->oh;
            size_t cols = (size_t)((oh1 - oh0) * g->ow);
            size_t off = (size_t)(oh0 * g->ow);
            float *yb = r->y + img * kohw + off;
            const float *x_img = r->x + img * (size_t)r->cin * plane;

            if (r->pw_band) { /* bias and epilogue in the tile's store */
                size_t ldb;
                const float *bm = band_matrix(g, x_img, oh0, oh1, col, &ldb);
                conv_pw_columns(r, bm, ldb, ckk, yb, ohw, 0, cols, 0, r->k);
                continue;
            }
            if (r->b)
                for (int64_t k = 0; k < r->k; k++) {
                    float *row = yb + (size_t)k * ohw, v = r->b[k];
                    for (size_t p = 0; p < cols; p++)
                        row[p] = v;
                }
            for (size_t gi = 0; gi < (size_t)r->groups; gi++) {
                size_t ldb;
                const float *bm =
                    band_matrix(g, x_img + gi * (size_t)g->c * plane, oh0,
                                oh1, col, &ldb);
                cnn_sgemm(0, 0, kg, cols, ckk, 1.0f, r->w + gi * kg * ckk,
                          ckk, bm, ldb, r->b ? 1.0f : 0.0f,
                          yb + gi * kg * ohw, ohw);
            }
            if (r->ep) /* while the tile is in cache */
                conv_epilogue_rows(r, r->y + img * kohw, 0, r->k, off, cols);
        }
    }
}

cnn_status conv_gemm_forward(conv_run *r, cnn_errbuf *err)
{
    uint64_t macs = (uint64_t)r->n * (uint64_t)r->k * (uint64_t)r->ohw *
                    (uint64_t)r->ckk;
    int64_t min_bands = 1;
    cnn_status st;

    /* Enough tiles for every thread even at batch 1. */
    if (r->env && r->env->threads > r->n && macs >= CONV_PAR_MIN_MACS &&
        r->n > 0)
        min_bands = (r->env->threads + r->n - 1) / r->n;
    plan_bands(r, CONV_WS_BUDGET, min_bands);
    r->slots = conv_slots(r, (size_t)(r->n * r->bands), macs);
    r->slot_floats = conv_is_pointwise(&r->g)
                         ? 0
                         : (size_t)r->ckk * (size_t)r->rows * (size_t)r->g.ow;
    st = get_workspace(r, 0, 0, err);
    if (st != CNN_OK)
        return st;
    conv_queue_init(&r->queue, (size_t)(r->n * r->bands), r->slots);
    r->pw_band = conv_pw_band_applies(r);
    conv_run_slots(r, fwd_slot);
    r->epilogue_done = 1;
    return CNN_OK;
}

/* ---- Backward ----------------------------------------------------------- */

/* Slot s takes whole images (bands of one image overlap in dx), and sums
 * its dW into r->dw (slot 0) or its own partial buffer. */
static void bwd_slot(void *arg, size_t s0, size_t s1)
{
    const conv_run *r = arg;
    const conv_geom *g = &r->g;
    const size_t ohw = (size_t)r->ohw, kohw = (size_t)r->k * ohw;
    const size_t plane = (size_t)(g->h * g->w);
    const size_t plane_in = (size_t)r->cin * plane;
    const size_t kg = (size_t)r->kg, ckk = (size_t)r->ckk;
    const size_t kckk = (size_t)r->k * ckk;
    const float *parts = r->ws ? r->ws + r->slots * r->slot_floats : NULL;
    const int pointwise = conv_is_pointwise(g);

    for (size_t s = s0; s < s1; s++) {
        float *col = r->ws ? r->ws + s * r->slot_floats : NULL;
        float *dwp = s == 0 ? r->dw : (float *)parts + (s - 1) * kckk;
        size_t i0 = (size_t)r->n * s / r->slots;
        size_t i1 = (size_t)r->n * (s + 1) / r->slots;
        int first = 1;

        for (size_t img = i0; img < i1; img++) {
            const float *x_img = r->x + img * plane_in;
            float *dx_img = r->dx ? r->dx + img * plane_in : NULL;
            if (dx_img && !pointwise)
                memset(dx_img, 0, plane_in * sizeof *dx_img);
            for (int64_t band = 0; band < r->bands; band++) {
                int64_t oh0 = band * r->rows;
                int64_t oh1 = oh0 + r->rows < g->oh ? oh0 + r->rows : g->oh;
                size_t cols = (size_t)((oh1 - oh0) * g->ow);
                size_t off = (size_t)(oh0 * g->ow);

                for (size_t gi = 0; gi < (size_t)r->groups; gi++) {
                    const float *dyb = r->dy + img * kohw + gi * kg * ohw + off;
                    const float *x_g = x_img + gi * (size_t)g->c * plane;
                    const float *w_g = r->w + gi * kg * ckk;
                    float *dx_g = dx_img ? dx_img + gi * (size_t)g->c * plane
                                         : NULL;
                    if (r->dw) {
                        size_t ldb;
                        const float *bm =
                            band_matrix(g, x_g, oh0, oh1, col, &ldb);
                        cnn_sgemm(0, 1, kg, ckk, cols, 1.0f, dyb, ohw, bm,
                                  ldb, first ? 0.0f : 1.0f,
                                  dwp + gi * kg * ckk, ckk);
                    }
                    if (dx_g && pointwise) {
                        cnn_sgemm(1, 0, ckk, cols, kg, 1.0f, w_g, ckk, dyb,
                                  ohw, 0.0f, dx_g + off, ohw);
                    } else if (dx_g) {
                        cnn_sgemm(1, 0, ckk, cols, kg, 1.0f, w_g, ckk, dyb,
                                  ohw, 0.0f, col, cols);
                        conv_col2im(g, col, oh0, oh1, dx_g);
                    }
                }
                if (r->dw)
                    first = 0;
            }
        }
        if (r->dw && first) /* a slot without images: nothing to add */
            memset(dwp, 0, kckk * sizeof *dwp);
    }
}

static void reduce_range(void *arg, size_t begin, size_t end)
{
    const conv_run *r = arg;
    const size_t ckk = (size_t)r->ckk, kckk = (size_t)r->k * ckk;
    const float *parts = r->ws + r->slots * r->slot_floats;

    for (size_t k = begin; k < end; k++) {
        float *d = r->dw + k * ckk;
        for (size_t s = 1; s < r->slots; s++) {
            const float *p = parts + (s - 1) * kckk + k * ckk;
            for (size_t i = 0; i < ckk; i++)
                d[i] += p[i];
        }
    }
}

void conv_reduce_dw(conv_run *r)
{
    uint64_t work = (uint64_t)r->k * (uint64_t)r->ckk * (uint64_t)r->slots;
    if (r->slots > 1 && work >= CONV_PAR_MIN_MACS)
        r->env->parallel_for(r->env->host, (size_t)r->k, reduce_range, r);
    else
        reduce_range(r, 0, (size_t)r->k);
}

static void db_range(void *arg, size_t begin, size_t end)
{
    const conv_run *r = arg;
    size_t k = (size_t)r->k, ohw = (size_t)r->ohw;

    /* Eight partial sums in double keep it accurate; the fixed-length
     * inner loop vectorises (float to double conversions, four lanes at a
     * time), where four scalar sums did not. */
    for (size_t kk = begin; kk < end; kk++) {
        double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (size_t n = 0; n < (size_t)r->n; n++) {
            const float *row = r->dy + (n * k + kk) * ohw;
            size_t p = 0;
            for (; p + 8 <= ohw; p += 8)
                for (size_t j = 0; j < 8; j++)
                    s[j] += (double)row[p + j];
            for (; p < ohw; p++)
                s[p % 8] += (double)row[p];
        }
        r->db[kk] = (float)(((s[0] + s[1]) + (s[2] + s[3])) +
                            ((s[4] + s[5]) + (s[6] + s[7])));
    }
}

void conv_bias_grad(conv_run *r)
{
    uint64_t work = (uint64_t)r->n * (uint64_t)r->k * (uint64_t)r->ohw;
    const cnn_layer_env *env = r->env;
    if (r->k > 1 && work >= CONV_PAR_MIN_MACS && env && env->parallel_for &&
        env->threads > 1)
        env->parallel_for(env->host, (size_t)r->k, db_range, r);
    else
        db_range(r, 0, (size_t)r->k);
}

cnn_status conv_gemm_backward(conv_run *r, cnn_errbuf *err)
{
    int pointwise = conv_is_pointwise(&r->g);
    /* As if both products were wanted: the slots (and so the order dw's
     * partial sums are added in) must not depend on whether dx is. */
    uint64_t macs = 2 * (uint64_t)r->n * (uint64_t)r->k * (uint64_t)r->ohw *
                    (uint64_t)r->ckk;
    size_t part = r->dw ? (size_t)r->k * (size_t)r->ckk : 0;
    cnn_status st;

    plan_bands(r, CONV_WS_BUDGET, 1);
    r->slots = conv_slots(r, (size_t)r->n, macs);
    /* The column matrix is needed for dw (im2col) and dx (col2im). */
    r->slot_floats = pointwise ? 0
                               : (size_t)r->ckk * (size_t)r->rows *
                                     (size_t)r->g.ow;
    st = get_workspace(r, (r->slots - 1) * part, 0, err);
    if (st != CNN_OK)
        return st;
    conv_run_slots(r, bwd_slot);
    if (r->dw && r->slots > 1)
        conv_reduce_dw(r);
    return CNN_OK;
}
