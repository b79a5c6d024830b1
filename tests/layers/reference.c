/* SPDX-License-Identifier: MIT */
/* Naive double-precision references; see reference.h. */
#include "reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double *ref_from_float(const float *x, size_t n, int absolute)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    if (!d)
        abort(); /* test code: no way to continue */
    for (size_t i = 0; i < n; i++)
        d[i] = absolute ? fabs((double)x[i]) : (double)x[i];
    return d;
}

/* ---- Convolution -------------------------------------------------------- */

int ref_conv_geometry(ref_conv *g)
{
    if (g->dh < 1)
        g->dh = 1;
    if (g->dw < 1)
        g->dw = 1;
    if (g->groups < 1)
        g->groups = 1;
    int64_t ekh = g->dh * (g->kh - 1) + 1, ekw = g->dw * (g->kw - 1) + 1;
    if (g->sh < 1 || g->sw < 1 || g->h + g->ph + g->pb < ekh ||
        g->w + g->pw + g->pr < ekw || g->c % g->groups || g->o % g->groups)
        return 0;
    g->oh = (g->h + g->ph + g->pb - ekh) / g->sh + 1;
    g->ow = (g->w + g->pw + g->pr - ekw) / g->sw + 1;
    return 1;
}

#define X4(a, d1, d2, d3, i0, i1, i2, i3)                                      \
    (a)[(((i0) * (d1) + (i1)) * (d2) + (i2)) * (d3) + (i3)]

void ref_conv_forward(const ref_conv *g, const double *x, const double *w,
                      const double *b, double *y)
{
    const int64_t cg = g->c / g->groups, og = g->o / g->groups;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t o = 0; o < g->o; o++)
            for (int64_t i = 0; i < g->oh; i++)
                for (int64_t j = 0; j < g->ow; j++) {
                    double s = b ? b[o] : 0.0;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t ki = 0; ki < g->kh; ki++)
                            for (int64_t kj = 0; kj < g->kw; kj++) {
                                int64_t r = i * g->sh - g->ph + ki * g->dh;
                                int64_t q = j * g->sw - g->pw + kj * g->dw;
                                if (r < 0 || r >= g->h || q < 0 || q >= g->w)
                                    continue;
                                s += X4(x, g->c, g->h, g->w, n,
                                        o / og * cg + c, r, q) *
                                     X4(w, cg, g->kh, g->kw, o, c, ki, kj);
                            }
                    X4(y, g->o, g->oh, g->ow, n, o, i, j) = s;
                }
}

void ref_conv_backward(const ref_conv *g, const double *x, const double *w,
                       const double *dy, double *dx, double *dw, double *db)
{
    const int64_t cg = g->c / g->groups, og = g->o / g->groups;
    if (dx)
        memset(dx, 0, (size_t)(g->n * g->c * g->h * g->w) * sizeof *dx);
    if (dw)
        memset(dw, 0, (size_t)(g->o * cg * g->kh * g->kw) * sizeof *dw);
    if (db)
        memset(db, 0, (size_t)g->o * sizeof *db);
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t o = 0; o < g->o; o++)
            for (int64_t i = 0; i < g->oh; i++)
                for (int64_t j = 0; j < g->ow; j++) {
                    double d = X4(dy, g->o, g->oh, g->ow, n, o, i, j);
                    if (db)
                        db[o] += d;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t ki = 0; ki < g->kh; ki++)
                            for (int64_t kj = 0; kj < g->kw; kj++) {
                                int64_t r = i * g->sh - g->ph + ki * g->dh;
                                int64_t q = j * g->sw - g->pw + kj * g->dw;
                                int64_t ci = o / og * cg + c;
                                if (r < 0 || r >= g->h || q < 0 || q >= g->w)
                                    continue;
                                if (dx)
                                    X4(dx, g->c, g->h, g->w, n, ci, r, q) +=
                                        d * X4(w, cg, g->kh, g->kw, o, c, ki,
                                               kj);
                                if (dw)
                                    X4(dw, cg, g->kh, g->kw, o, c, ki, kj) +=
                                        d * X4(x, g->c, g->h, g->w, n, ci, r,
                                               q);
                            }
                }
}

/* ---- Pooling ------------------------------------------------------------ */

/* Output size along one axis, from the definitions: floor or ceil of
 * (in + pads - effective window) / stride, plus one; with ceil, a last
 * window starting at or past in + pad_begin is dropped. */
static int64_t ref_pool_out(int64_t in, int64_t k, int64_t s, int64_t pa,
                            int64_t pb, int64_t d, int ceil_mode)
{
    int64_t span = in + pa + pb - (d * (k - 1) + 1);
    if (span < 0 || s < 1)
        return -1;
    int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (out - 1) * s >= in + pa)
        out--;
    return out;
}

int ref_pool_geometry(ref_pool *g)
{
    if (g->dh < 1)
        g->dh = 1;
    if (g->dw < 1)
        g->dw = 1;
    g->oh = ref_pool_out(g->h, g->kh, g->sh, g->ph, g->pb, g->dh,
                         g->ceil_mode);
    g->ow = ref_pool_out(g->w, g->kw, g->sw, g->pw, g->pr, g->dw,
                         g->ceil_mode);
    return g->oh >= 1 && g->ow >= 1;
}

/* Input row and column of tap (ki, kj) of output (i, j); 0 when it is
 * padding. */
static int ref_pool_tap(const ref_pool *g, int64_t i, int64_t j, int64_t ki,
                        int64_t kj, int64_t *r, int64_t *q)
{
    *r = i * g->sh - g->ph + ki * g->dh;
    *q = j * g->sw - g->pw + kj * g->dw;
    return *r >= 0 && *r < g->h && *q >= 0 && *q < g->w;
}

void ref_maxpool_forward(const ref_pool *g, const double *x, double *y,
                         int64_t *argmax)
{
    for (int64_t nc = 0; nc < g->n * g->c; nc++)
        for (int64_t i = 0; i < g->oh; i++)
            for (int64_t j = 0; j < g->ow; j++) {
                double best = -INFINITY;
                int64_t at = -1, r, q;
                for (int64_t ki = 0; ki < g->kh; ki++)
                    for (int64_t kj = 0; kj < g->kw; kj++) {
                        if (!ref_pool_tap(g, i, j, ki, kj, &r, &q))
                            continue;
                        int64_t idx = (nc * g->h + r) * g->w + q;
                        if (at < 0 || x[idx] > best) {
                            best = x[idx];
                            at = idx;
                        }
                    }
                int64_t o = (nc * g->oh + i) * g->ow + j;
                y[o] = best;
                if (argmax)
                    argmax[o] = at;
            }
}

void ref_maxpool_backward(const ref_pool *g, const int64_t *argmax,
                          const double *dy, double *dx)
{
    memset(dx, 0, (size_t)(g->n * g->c * g->h * g->w) * sizeof *dx);
    for (int64_t o = 0; o < g->n * g->c * g->oh * g->ow; o++)
        if (argmax[o] >= 0)
            dx[argmax[o]] += dy[o];
}

/* The divisor of output (i, j), counted cell by cell. */
static double ref_avg_count(const ref_pool *g, int64_t i, int64_t j)
{
    int64_t cnt = 0, r, q;
    for (int64_t ki = 0; ki < g->kh; ki++)
        for (int64_t kj = 0; kj < g->kw; kj++) {
            int real = ref_pool_tap(g, i, j, ki, kj, &r, &q);
            /* PyTorch: padded cells count, cells past the padded input
             * (a ceil_mode window's overhang) do not. */
            int padded = r >= -g->ph && r < g->h + g->pb && q >= -g->pw &&
                         q < g->w + g->pr;
            cnt += g->count_include_pad ? padded : real;
        }
    return (double)cnt;
}

void ref_avgpool_forward(const ref_pool *g, const double *x, double *y)
{
    for (int64_t nc = 0; nc < g->n * g->c; nc++)
        for (int64_t i = 0; i < g->oh; i++)
            for (int64_t j = 0; j < g->ow; j++) {
                double s = 0.0;
                int64_t r, q;
                for (int64_t ki = 0; ki < g->kh; ki++)
                    for (int64_t kj = 0; kj < g->kw; kj++)
                        if (ref_pool_tap(g, i, j, ki, kj, &r, &q))
                            s += x[(nc * g->h + r) * g->w + q];
                y[(nc * g->oh + i) * g->ow + j] = s / ref_avg_count(g, i, j);
            }
}

void ref_avgpool_backward(const ref_pool *g, const double *dy, double *dx)
{
    memset(dx, 0, (size_t)(g->n * g->c * g->h * g->w) * sizeof *dx);
    for (int64_t nc = 0; nc < g->n * g->c; nc++)
        for (int64_t i = 0; i < g->oh; i++)
            for (int64_t j = 0; j < g->ow; j++) {
                double d = dy[(nc * g->oh + i) * g->ow + j] /
                           ref_avg_count(g, i, j);
                int64_t r, q;
                for (int64_t ki = 0; ki < g->kh; ki++)
                    for (int64_t kj = 0; kj < g->kw; kj++)
                        if (ref_pool_tap(g, i, j, ki, kj, &r, &q))
                            dx[(nc * g->h + r) * g->w + q] += d;
            }
}

/* ---- Dense -------------------------------------------------------------- */

void ref_dense_forward(int64_t n, int64_t k, int64_t m, const double *x,
                       const double *w, const double *b, double *y)
{
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < m; j++) {
            double s = b ? b[j] : 0.0;
            for (int64_t t = 0; t < k; t++)
                s += x[r * k + t] * w[j * k + t];
            y[r * m + j] = s;
        }
}

void ref_dense_backward(int64_t n, int64_t k, int64_t m, const double *x,
                        const double *w, const double *dy, double *dx,
                        double *dw, double *db)
{
    if (dx)
        memset(dx, 0, (size_t)(n * k) * sizeof *dx);
    if (dw)
        memset(dw, 0, (size_t)(m * k) * sizeof *dw);
    if (db)
        memset(db, 0, (size_t)m * sizeof *db);
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < m; j++) {
            double d = dy[r * m + j];
            if (db)
                db[j] += d;
            for (int64_t t = 0; t < k; t++) {
                if (dx)
                    dx[r * k + t] += d * w[j * k + t];
                if (dw)
                    dw[j * k + t] += d * x[r * k + t];
            }
        }
}

/* ---- Softmax ------------------------------------------------------------ */

void ref_softmax_forward(int64_t n, int64_t c, int64_t p, const double *x,
                         double *y)
{
    for (int64_t a = 0; a < n; a++)
        for (int64_t q = 0; q < p; q++) {
            const double *xa = x + a * c * p + q;
            double *ya = y + a * c * p + q;
            double m = xa[0];
            for (int64_t j = 1; j < c; j++)
                m = fmax(m, xa[j * p]);
            double s = 0.0;
            for (int64_t j = 0; j < c; j++)
                s += exp(xa[j * p] - m);
            for (int64_t j = 0; j < c; j++)
                ya[j * p] = exp(xa[j * p] - m) / s;
        }
}

void ref_softmax_backward(int64_t n, int64_t c, int64_t p, const double *y,
                          const double *dy, double *dx, double *mag)
{
    for (int64_t a = 0; a < n; a++)
        for (int64_t q = 0; q < p; q++) {
            size_t base = (size_t)(a * c * p + q);
            /* dx_i = sum_j (d y_j / d x_i) dy_j = y_i (dy_i - sum_j y_j dy_j) */
            double dot = 0.0, adot = 0.0;
            for (int64_t j = 0; j < c; j++) {
                dot += y[base + (size_t)(j * p)] * dy[base + (size_t)(j * p)];
                adot += y[base + (size_t)(j * p)] *
                        fabs(dy[base + (size_t)(j * p)]);
            }
            for (int64_t i = 0; i < c; i++) {
                size_t k = base + (size_t)(i * p);
                dx[k] = y[k] * (dy[k] - dot);
                if (mag)
                    mag[k] = y[k] * (fabs(dy[k]) + adot);
            }
        }
}

/* ---- Concat ------------------------------------------------------------- */

void ref_concat_forward(int64_t n, int64_t p, size_t k, const int64_t *c,
                        const double *const *x, double *y)
{
    int64_t total = 0;
    for (size_t i = 0; i < k; i++)
        total += c[i];
    for (int64_t a = 0; a < n; a++) {
        int64_t off = 0;
        for (size_t i = 0; i < k; i++) {
            for (int64_t ch = 0; ch < c[i]; ch++)
                for (int64_t q = 0; q < p; q++)
                    y[(a * total + off + ch) * p + q] =
                        x[i][(a * c[i] + ch) * p + q];
            off += c[i];
        }
    }
}

void ref_concat_backward(int64_t n, int64_t p, size_t k, const int64_t *c,
                         const double *dy, double *const *dx)
{
    int64_t total = 0;
    for (size_t i = 0; i < k; i++)
        total += c[i];
    for (int64_t a = 0; a < n; a++) {
        int64_t off = 0;
        for (size_t i = 0; i < k; i++) {
            for (int64_t ch = 0; ch < c[i]; ch++)
                for (int64_t q = 0; q < p; q++)
                    dx[i][(a * c[i] + ch) * p + q] =
                        dy[(a * total + off + ch) * p + q];
            off += c[i];
        }
    }
}

/* ---- Channel shuffle and slice ------------------------------------------ */

/* torch.nn.ChannelShuffle's definition: x viewed as [n, g, c/g, p],
 * dims 1 and 2 swapped, read back as [n, c, p]. */
void ref_channel_shuffle_forward(int64_t n, int64_t c, int64_t p, int64_t g,
                                 const double *x, double *y)
{
    int64_t cg = c / g;
    for (int64_t a = 0; a < n; a++)
        for (int64_t i = 0; i < g; i++)
            for (int64_t j = 0; j < cg; j++)
                for (int64_t q = 0; q < p; q++)
                    y[((a * cg + j) * g + i) * p + q] =
                        x[((a * g + i) * cg + j) * p + q];
}

/* The transpose of the permutation: each input gets its output's dy. */
void ref_channel_shuffle_backward(int64_t n, int64_t c, int64_t p, int64_t g,
                                  const double *dy, double *dx)
{
    int64_t cg = c / g;
    for (int64_t a = 0; a < n; a++)
        for (int64_t i = 0; i < g; i++)
            for (int64_t j = 0; j < cg; j++)
                for (int64_t q = 0; q < p; q++)
                    dx[((a * g + i) * cg + j) * p + q] =
                        dy[((a * cg + j) * g + i) * p + q];
}

void ref_slice_forward(int64_t n, int64_t c, int64_t p, int64_t start,
                       int64_t end, const double *x, double *y)
{
    int64_t m = end - start;
    for (int64_t a = 0; a < n; a++)
        for (int64_t ch = 0; ch < m; ch++)
            for (int64_t q = 0; q < p; q++)
                y[(a * m + ch) * p + q] = x[(a * c + start + ch) * p + q];
}

void ref_slice_backward(int64_t n, int64_t c, int64_t p, int64_t start,
                        int64_t end, const double *dy, double *dx)
{
    int64_t m = end - start;
    for (int64_t a = 0; a < n; a++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t q = 0; q < p; q++)
                dx[(a * c + ch) * p + q] =
                    ch >= start && ch < end
                        ? dy[(a * m + ch - start) * p + q]
                        : 0.0;
}

/* ---- Batch normalisation ------------------------------------------------ */

#define BN_AT(g, a, ch, q) ((size_t)(((a) * (g)->c + (ch)) * (g)->p + (q)))

void ref_bn_stats(const ref_bn *g, const double *x, const double *rmean,
                  const double *rvar, double *mean, double *invstd,
                  double *rmean_new, double *rvar_new)
{
    double m = (double)(g->n * g->p);
    for (int64_t ch = 0; ch < g->c; ch++) {
        double mu, var;
        if (g->training) {
            double s = 0.0, v = 0.0;
            for (int64_t a = 0; a < g->n; a++)
                for (int64_t q = 0; q < g->p; q++)
                    s += x[BN_AT(g, a, ch, q)];
            mu = s / m;
            for (int64_t a = 0; a < g->n; a++)
                for (int64_t q = 0; q < g->p; q++) {
                    double d = x[BN_AT(g, a, ch, q)] - mu;
                    v += d * d;
                }
            var = v / m;
            if (rmean_new)
                rmean_new[ch] =
                    (1.0 - g->momentum) * rmean[ch] + g->momentum * mu;
            if (rvar_new)
                rvar_new[ch] = (1.0 - g->momentum) * rvar[ch] +
                               g->momentum * v / (m - 1.0);
        } else {
            mu = rmean[ch];
            var = rvar[ch];
            if (rmean_new)
                rmean_new[ch] = rmean[ch];
            if (rvar_new)
                rvar_new[ch] = rvar[ch];
        }
        mean[ch] = mu;
        invstd[ch] = 1.0 / sqrt(var + g->eps);
    }
}

void ref_bn_forward(const ref_bn *g, const double *x, const double *mean,
                    const double *invstd, const double *gamma,
                    const double *beta, double *y, double *ymag)
{
    for (int64_t a = 0; a < g->n; a++)
        for (int64_t ch = 0; ch < g->c; ch++)
            for (int64_t q = 0; q < g->p; q++) {
                size_t i = BN_AT(g, a, ch, q);
                double t = gamma[ch] * (x[i] - mean[ch]) * invstd[ch];
                y[i] = t + beta[ch];
                if (ymag)
                    ymag[i] = fabs(t) + fabs(beta[ch]);
            }
}

void ref_bn_backward(const ref_bn *g, const double *x, const double *mean,
                     const double *invstd, const double *gamma,
                     const double *dy, double *dx, double *dxmag,
                     double *dgamma, double *dgmag, double *dbeta,
                     double *dbmag)
{
    double m = (double)(g->n * g->p);
    for (int64_t ch = 0; ch < g->c; ch++) {
        double is = invstd[ch], mu = mean[ch];
        double dg = 0.0, dga = 0.0, db = 0.0, dba = 0.0;
        double dvar = 0.0, dvara = 0.0, dmean = 0.0, dmeana = 0.0;
        double sumd = 0.0;
        for (int64_t a = 0; a < g->n; a++)
            for (int64_t q = 0; q < g->p; q++) {
                size_t i = BN_AT(g, a, ch, q);
                double xhat = (x[i] - mu) * is;
                double dxhat = dy[i] * gamma[ch];
                dg += dy[i] * xhat;
                dga += fabs(dy[i] * xhat);
                db += dy[i];
                dba += fabs(dy[i]);
                /* d var: dxhat (x - mean) * -1/2 (var + eps)^-3/2 */
                dvar += dxhat * (x[i] - mu) * -0.5 * is * is * is;
                dvara += fabs(dxhat * (x[i] - mu)) * 0.5 * is * is * is;
                dmean += -dxhat * is;
                dmeana += fabs(dxhat) * is;
                sumd += -2.0 * (x[i] - mu);
            }
        if (g->training)
            dmean += dvar * sumd / m; /* zero analytically; kept */
        if (dgamma)
            dgamma[ch] = dg;
        if (dgmag)
            dgmag[ch] = dga;
        if (dbeta)
            dbeta[ch] = db;
        if (dbmag)
            dbmag[ch] = dba;
        for (int64_t a = 0; a < g->n; a++)
            for (int64_t q = 0; q < g->p; q++) {
                size_t i = BN_AT(g, a, ch, q);
                double dxhat = dy[i] * gamma[ch];
                if (!g->training) {
                    dx[i] = dxhat * is;
                    if (dxmag)
                        dxmag[i] = fabs(dx[i]);
                    continue;
                }
                double t1 = dxhat * is;
                double t2 = dvar * 2.0 * (x[i] - mu) / m;
                double t3 = dmean / m;
                dx[i] = t1 + t2 + t3;
                if (dxmag)
                    dxmag[i] = fabs(t1) + dvara * 2.0 * fabs(x[i] - mu) / m +
                               dmeana / m;
            }
    }
}

/* ---- Layer normalisation ------------------------------------------------ */

#define LN_AT(g, a, ch, q) ((size_t)(((a) * (g)->c + (ch)) * (g)->p + (q)))

/* Mean and 1 / sqrt(var + eps) of sample a, position q. */
static void ref_ln_stats(const ref_ln *g, const double *x, int64_t a,
                         int64_t q, double *mean, double *rstd)
{
    double s = 0.0, v = 0.0;
    for (int64_t ch = 0; ch < g->c; ch++)
        s += x[LN_AT(g, a, ch, q)];
    *mean = s / (double)g->c;
    for (int64_t ch = 0; ch < g->c; ch++) {
        double d = x[LN_AT(g, a, ch, q)] - *mean;
        v += d * d;
    }
    *rstd = 1.0 / sqrt(v / (double)g->c + g->eps);
}

void ref_ln_forward(const ref_ln *g, const double *x, const double *gamma,
                    const double *beta, double *y, double *ymag)
{
    for (int64_t a = 0; a < g->n; a++)
        for (int64_t q = 0; q < g->p; q++) {
            double mu, rs;
            ref_ln_stats(g, x, a, q, &mu, &rs);
            for (int64_t ch = 0; ch < g->c; ch++) {
                size_t i = LN_AT(g, a, ch, q);
                double t = (x[i] - mu) * rs * (gamma ? gamma[ch] : 1.0);
                double b = beta ? beta[ch] : 0.0;
                y[i] = t + b;
                if (ymag)
                    ymag[i] = fabs(t) + fabs(b);
            }
        }
}

void ref_ln_backward(const ref_ln *g, const double *x, const double *gamma,
                     const double *dy, double *dx, double *dxmag,
                     double *dgamma, double *dgmag, double *dbeta,
                     double *dbmag)
{
    double m = (double)g->c;
    if (gamma)
        for (int64_t ch = 0; ch < g->c; ch++) {
            dgamma[ch] = dbeta[ch] = 0.0;
            if (dgmag)
                dgmag[ch] = 0.0;
            if (dbmag)
                dbmag[ch] = 0.0;
        }
    for (int64_t a = 0; a < g->n; a++)
        for (int64_t q = 0; q < g->p; q++) {
            double mu, rs;
            double dvar = 0.0, dvara = 0.0, dmean = 0.0, dmeana = 0.0;
            double sumd = 0.0;
            ref_ln_stats(g, x, a, q, &mu, &rs);
            for (int64_t ch = 0; ch < g->c; ch++) {
                size_t i = LN_AT(g, a, ch, q);
                double xhat = (x[i] - mu) * rs;
                double dxhat = dy[i] * (gamma ? gamma[ch] : 1.0);
                if (gamma) {
                    dgamma[ch] += dy[i] * xhat;
                    dbeta[ch] += dy[i];
                    if (dgmag)
                        dgmag[ch] += fabs(dy[i] * xhat);
                    if (dbmag)
                        dbmag[ch] += fabs(dy[i]);
                }
                /* d var: dxhat (x - mean) * -1/2 (var + eps)^-3/2 */
                dvar += dxhat * (x[i] - mu) * -0.5 * rs * rs * rs;
                dvara += fabs(dxhat * (x[i] - mu)) * 0.5 * rs * rs * rs;
                dmean += -dxhat * rs;
                dmeana += fabs(dxhat) * rs;
                sumd += -2.0 * (x[i] - mu);
            }
            dmean += dvar * sumd / m; /* zero analytically; kept */
            for (int64_t ch = 0; ch < g->c; ch++) {
                size_t i = LN_AT(g, a, ch, q);
                double dxhat = dy[i] * (gamma ? gamma[ch] : 1.0);
                double t1 = dxhat * rs;
                double t2 = dvar * 2.0 * (x[i] - mu) / m;
                double t3 = dmean / m;
                dx[i] = t1 + t2 + t3;
                if (dxmag)
                    dxmag[i] = fabs(t1) + dvara * 2.0 * fabs(x[i] - mu) / m +
                               dmeana / m;
            }
        }
}
