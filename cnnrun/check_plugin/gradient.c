/* SPDX-License-Identifier: MIT */
/* backward against central finite differences.
 *
 * With r = dy (random in [-1, 1]) and L(x) = sum_k r_k y_k(x) evaluated in
 * double, backward's dx is exactly dL/dx. For an element x_j, forward runs
 * at x_j + h and x_j - h (float32 inputs, as the plugin computes), and
 *
 *     numeric_j = (L(x_j + h) - L(x_j - h)) / ((x_j + h) - (x_j - h))
 *
 * with the denominator taken from the floats actually used. h is 2^-8 of
 * the element's scale and at most a third of the spacing between the test
 * values, so the step never crosses another value (a maxpool tie) or the
 * middle of the range (a relu kink).
 *
 * Rounding: each y_k carries a few ulps of error, which the difference
 * quotient divides by 2h. The noise bound of element j is
 *     noise_j = 16 u sum_k |r_k| (|y_k(x+h)| + |y_k(x-h)|) / 2h
 * over the outputs that changed, u = 2^-24. Element j passes when
 *     |analytic - numeric| <= rtol * max(|analytic|, |numeric|, floor)
 *                              + noise_j
 * where floor = 1e-3 times the largest gradient seen in the tensor, so that
 * near-zero gradients are judged against the tensor's scale. The report
 * gives the largest absolute and relative errors and how much of its
 * allowance the worst element used. The reported
 * relative error is the left side less the noise, over the same scale: the
 * number that is compared with rtol.
 *
 * Points where the function is not differentiable are found by comparing
 * the one-sided differences: if they disagree by more than 10% (beyond the
 * noise), the element sits on a kink and is skipped and counted. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_plugin.h"

#define CK_UNIT_ROUNDOFF (1.0 / 16777216.0)

typedef struct fd_point {
    size_t index;
    double analytic;
    double numeric;
    double noise;
    int kink;
} fd_point;

/* L = sum r * y in double. */
static double functional(const float *r, const float *y, size_t n)
{
    double s = 0.0;
    for (size_t k = 0; k < n; k++)
        s += (double)r[k] * (double)y[k];
    return s;
}

/* Sorted distinct indices: all of [0, n) when n <= want, else a random
 * sample of want (partial Fisher-Yates). NULL when out of memory. */
static size_t *sample_indices(ck_rng *rng, size_t n, size_t want, size_t *count)
{
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    if (!idx)
        return NULL;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    if (n > want) {
        for (size_t i = 0; i < want; i++) {
            size_t j = i + (size_t)(ck_rng_next(rng) % (n - i));
            size_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        n = want;
        /* Insertion sort: want is small and the order only helps caches
         * and readability. */
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && idx[j - 1] > idx[j]; j--) {
                size_t t = idx[j];
                idx[j] = idx[j - 1];
                idx[j - 1] = t;
            }
    }
    *count = n;
    return idx;
}

/* "(0, 2, 1, 3)": the multi-index of a flat element of shape s. */
static void index_text(const cnn_shape *s, size_t flat, char *buf, size_t size)
{
    size_t coords[CNN_MAX_RANK], used = 0;
    for (int32_t d = s->rank - 1; d >= 0; d--) {
        size_t dim = s->dims[d] > 0 ? (size_t)s->dims[d] : 1;
        coords[d] = flat % dim;
        flat /= dim;
    }
    buf[0] = '\0';
    for (int32_t d = 0; d < s->rank && used < size; d++) {
        int n = snprintf(buf + used, size - used, "%s%zu", d ? ", " : "(",
                         coords[d]);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < size)
        snprintf(buf + used, size - used, ")");
}

/* What the errors look like, for a failing tensor: the opposite sign or a
 * constant factor point straight at the bug. */
static void diagnose(const fd_point *pts, size_t n, char *buf, size_t size)
{
    double an = 0.0, nn = 0.0, aa = 0.0, scale, resid = 0.0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (pts[i].kink)
            continue;
        an += pts[i].analytic * pts[i].numeric;
        nn += pts[i].numeric * pts[i].numeric;
        aa += pts[i].analytic * pts[i].analytic;
    }
    if (nn == 0.0 || aa == 0.0) {
        if (aa == 0.0 && nn > 0.0)
            snprintf(buf, size,
                     "; backward gives zeros where the function changes");
        return;
    }
    scale = an / nn;
    for (size_t i = 0; i < n; i++)
        if (!pts[i].kink) {
            double e = pts[i].analytic - scale * pts[i].numeric;
            resid += e * e;
        }
    if (resid > 1e-4 * aa)
        return;
    if (fabs(scale + 1.0) < 0.02)
        snprintf(buf, size,
                 "; backward is the exact negative of the finite differences: "
                 "a sign error");
    else if (fabs(scale - 1.0) > 0.02)
        snprintf(buf, size,
                 "; backward is %.4g times the finite differences: a missing "
                 "or extra factor",
                 scale);
}

/* Checks one tensor (an input or a parameter) in place: t is perturbed
 * and restored. 1 when it passed. */
static int check_tensor(ck_report *r, const ck_options *opt, ck_layer *L,
                        ck_buf *t, const cnn_shape *shape,
                        const float *analytic, double spacing, const char *what,
                        ck_buf *yp, ck_buf *ym, ck_rng *rng, uint64_t seed)
{
    char name[CNN_NAME_MAX + 192];
    size_t n_pts = 0, *idx;
    fd_point *pts;
    double l0, gmax = 0.0, max_abs = 0.0, max_rel = 0.0, max_used = 0.0;
    size_t worst = 0, n_kinks = 0, n_fail = 0;
    const float *dy = L->dy.data;
    ck_outcome o;

    snprintf(name, sizeof name, "gradient %s %s", what, L->label);
    if (t->n == 0) {
        ck_report_add(r, CK_SKIP, name, "empty tensor");
        return 1;
    }
    idx = sample_indices(rng, t->n, opt->samples, &n_pts);
    pts = calloc(n_pts ? n_pts : 1, sizeof *pts);
    if (!idx || !pts) {
        free(idx);
        free(pts);
        ck_report_add(r, CK_FAIL, name, "out of memory");
        return 0;
    }
    l0 = functional(dy, L->y.data, L->y.n);
    for (size_t p = 0; p < n_pts; p++) {
        size_t j = idx[p];
        float x0 = t->data[j];
        double h = ldexp(fmax(fabs((double)x0), 1.0), -8);
        float xp, xm;
        double lp, lm, den, df, db, s = 0.0;
        if (h > spacing / 3.0)
            h = spacing / 3.0;
        xp = (float)((double)x0 + h);
        xm = (float)((double)x0 - h);
        t->data[j] = xp;
        ck_forward(L, yp, NULL, &L->out_shape, 1, seed, 0, &o);
        if (o.status == CNN_OK && !o.faults) {
            t->data[j] = xm;
            ck_forward(L, ym, NULL, &L->out_shape, 1, seed, 0, &o);
        }
        t->data[j] = x0;
        if (o.status != CNN_OK || o.faults) {
            ck_report_add(r, CK_FAIL, name,
                          "forward on a perturbed %s failed: %s%s%s", what,
                          o.faults ? o.fault : "",
                          o.faults && o.status != CNN_OK ? "; " : "",
                          o.status != CNN_OK ? o.error : "");
            free(idx);
            free(pts);
            return 0;
        }
        lp = functional(dy, yp->data, yp->n);
        lm = functional(dy, ym->data, ym->n);
        den = (double)xp - (double)xm;
        for (size_t k = 0; k < yp->n; k++)
            if (yp->data[k] != ym->data[k])
                s += fabs((double)dy[k]) *
                     (fabs((double)yp->data[k]) + fabs((double)ym->data[k]));
        pts[p].index = j;
        pts[p].analytic = (double)analytic[j];
        pts[p].numeric = (lp - lm) / den;
        pts[p].noise = 16.0 * CK_UNIT_ROUNDOFF * s / den;
        df = (lp - l0) / ((double)xp - (double)x0);
        db = (l0 - lm) / ((double)x0 - (double)xm);
        pts[p].kink =
            fabs(df - db) > 0.1 * fmax(fabs(df), fabs(db)) + 4.0 * pts[p].noise;
        if (pts[p].kink)
            n_kinks++;
        else
            gmax =
                fmax(gmax, fmax(fabs(pts[p].analytic), fabs(pts[p].numeric)));
    }
    for (size_t p = 0; p < n_pts; p++) {
        double a = pts[p].analytic, num = pts[p].numeric;
        double err = fabs(a - num);
        double scale = fmax(fmax(fabs(a), fabs(num)), 1e-3 * gmax);
        double allowed = opt->rtol * scale + pts[p].noise;
        double rel = scale > 0.0 ? err / scale : 0.0;
        double used = allowed > 0.0 ? err / allowed
                      : err > 0.0   ? INFINITY
                                    : 0.0;
        if (pts[p].kink)
            continue;
        if (!isfinite(a) || !isfinite(num))
            err = rel = used = INFINITY;
        if (!(err <= max_abs))
            max_abs = err;
        if (!(rel <= max_rel))
            max_rel = rel;
        if (!(used <= max_used)) {
            max_used = used;
            worst = p;
        }
        if (!(used <= 1.0))
            n_fail++;
    }

    char counted[96];
    snprintf(counted, sizeof counted, "%zu of %zu elements%s", n_pts - n_kinks,
             t->n, n_pts < t->n ? " (sampled)" : "");
    char kinks[96] = "";
    if (n_kinks)
        snprintf(kinks, sizeof kinks,
                 ", %zu skipped at non-differentiable points", n_kinks);
    int ok = 1;
    if (n_pts && n_kinks * 2 > n_pts) {
        ck_report_add(r, CK_FAIL, name,
                      "%zu of %zu sampled elements sit where the one-sided "
                      "differences disagree; the layer does not look "
                      "differentiable on inputs in [-1, 1]",
                      n_kinks, n_pts);
        ok = 0;
    } else if (n_fail) {
        char where[128], why[256];
        const fd_point *w = &pts[worst];
        index_text(shape, w->index, where, sizeof where);
        diagnose(pts, n_pts, why, sizeof why);
        ck_report_add_errors(
            r, CK_FAIL, name, max_abs, max_rel,
            "%zu of %zu checked elements disagree: max abs err %.3g, max rel "
            "err %.3g (limit %.0e + rounding noise)%s; worst at element %zu "
            "%s: backward %.6g, finite difference %.6g%s",
            n_fail, n_pts - n_kinks, max_abs, max_rel, opt->rtol, kinks,
            w->index, where, w->analytic, w->numeric, why);
        ok = 0;
    } else {
        ck_report_add_errors(r, CK_PASS, name, max_abs, max_rel,
                             "%s: max abs err %.2e, max rel err %.2e; within "
                             "%.0e + rounding noise (worst used %.0f%% of its "
                             "allowance)%s",
                             counted, max_abs, max_rel, opt->rtol,
                             100.0 * max_used, kinks);
    }
    free(idx);
    free(pts);
    return ok;
}

void ck_check_gradients(ck_report *r, const ck_options *opt, ck_layer *L,
                        float *const *dx_ref, float *const *dp_ref,
                        const double *spacing_x, const double *spacing_p,
                        uint64_t seed)
{
    ck_buf yp, ym;
    ck_rng rng = {seed ^ 0x6a09e667f3bcc909ull};
    if (!ck_buf_alloc(&yp, L->y.n) || !ck_buf_alloc(&ym, L->y.n)) {
        ck_buf_free(&yp);
        ck_report_add(r, CK_FAIL, "gradients", "out of memory");
        return;
    }
    for (uint32_t i = 0; i < L->n_in; i++) {
        char what[32];
        if (L->n_in == 1)
            snprintf(what, sizeof what, "input");
        else
            snprintf(what, sizeof what, "input%u", i);
        check_tensor(r, opt, L, &L->x[i], &L->in_shapes[i], dx_ref[i],
                     spacing_x[i], what, &yp, &ym, &rng, seed);
    }
    for (uint32_t i = 0; i < L->n_params; i++) {
        if (L->specs[i].flags & CNN_PARAM_STATE) {
            char name[CNN_NAME_MAX + 192];
            snprintf(name, sizeof name, "gradient %s %s", L->specs[i].name,
                     L->label);
            ck_report_add(r, CK_SKIP, name,
                          "a running statistic (CNN_PARAM_STATE) has no "
                          "gradient; backward wrote zeros");
            continue;
        }
        check_tensor(r, opt, L, &L->p[i], &L->specs[i].shape, dp_ref[i],
                     spacing_p[i], L->specs[i].name, &yp, &ym, &rng, seed);
    }
    ck_buf_free(&yp);
    ck_buf_free(&ym);
}
