/* SPDX-License-Identifier: MIT */
/* The lecture's worked examples, run through the real plugins.
 *
 * Every expected value is computed here, by explicit loops written from the
 * lecture's formulas, and a few entries are also checked against numbers
 * worked out by hand (shown in the comments). The inputs are small integers
 * (or multiples of powers of two), so every product and sum is exact in
 * float32 whatever order the plugin sums in: those comparisons are exact,
 * except where a division by a non-power of two is involved (stated). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "harness.h"

/* The 5x5 magic square and the lecture's 3x3 kernel. */
static const float magic5[5][5] = {{17, 24, 1, 8, 15},
                                   {23, 5, 7, 14, 16},
                                   {4, 6, 13, 20, 22},
                                   {10, 12, 19, 21, 3},
                                   {11, 18, 25, 2, 9}};
static const float kernel3[3][3] = {{1, 3, 1}, {0, 5, 0}, {2, 1, 2}};

static void open_single(lh_layer *L, cnn_context *ctx, const char *type,
                        const char *const *settings, size_t n, int64_t h,
                        int64_t w)
{
    cnn_shape s = cnn_shape4(1, 1, h, w);
    lh_layer_open(L, ctx, type, settings, n, &s, 1);
}

/* Full convolution: C[i][j] = sum_{a,b} A[a][b] K[i-a][j-b], a 7x7 result.
 * A cross-correlation layer computes it from the input zero-padded by 2 and
 * the kernel rotated by 180 degrees. */
Test(lecture, full_convolution_of_magic_square)
{
    double full[7][7];
    memset(full, 0, sizeof full);
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 7; j++)
            for (int a = 0; a < 5; a++)
                for (int b = 0; b < 5; b++) {
                    int u = i - a, v = j - b;
                    if (u >= 0 && u < 3 && v >= 0 && v < 3)
                        full[i][j] += (double)magic5[a][b] * kernel3[u][v];
                }
    /* By hand: only A[0][0] K[0][0] reaches the corner, 17 * 1 = 17;
     * (0,1) = A[0][0] K[0][1] + A[0][1] K[0][0] = 17*3 + 24*1 = 75;
     * (6,6) = A[4][4] K[2][2] = 9 * 2 = 18; (6,0) = A[4][0] K[2][0] = 22;
     * (0,6) = A[0][4] K[0][2] = 15;
     * centre (3,3) = sum over a,b in 1..3 of A[a][b] K[3-a][3-b]
     *   = 5*2 + 7*1 + 14*2 + 6*0 + 13*5 + 20*0 + 12*1 + 19*3 + 21*1 = 200;
     * and the sum of a full convolution is sum(A) * sum(K) = 325 * 15. */
    cr_assert_eq(full[0][0], 17.0);
    cr_assert_eq(full[0][1], 75.0);
    cr_assert_eq(full[6][6], 18.0);
    cr_assert_eq(full[6][0], 22.0);
    cr_assert_eq(full[0][6], 15.0);
    cr_assert_eq(full[3][3], 200.0);
    double total = 0.0;
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 7; j++)
            total += full[i][j];
    cr_assert_eq(total, 4875.0);

    cnn_context *ctx = lh_context();
    const char *set[] = {"filters=1", "kernel=3", "padding=2", "bias=false"};
    lh_layer L;
    open_single(&L, ctx, "conv", set, 4, 5, 5);
    cr_assert_eq(L.n_params, 1u, "conv with bias=false has %u params",
                 L.n_params);
    cr_assert(L.out_shape.dims[2] == 7 && L.out_shape.dims[3] == 7,
              "full convolution of 5x5 by 3x3 must be 7x7");
    memcpy(L.x[0].data, magic5, sizeof magic5);
    for (int u = 0; u < 3; u++)
        for (int v = 0; v < 3; v++)
            L.p[0].data[u * 3 + v] = kernel3[2 - u][2 - v]; /* rot180 */
    lh_forward(&L, 0, 0);
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 7; j++)
            cr_expect_eq(L.y.data[i * 7 + j], (float)full[i][j],
                         "full conv (%d,%d): got %g, want %g", i, j,
                         (double)L.y.data[i * 7 + j], full[i][j]);
    lh_layer_close(&L);
    cnn_context_destroy(ctx);
}

/* 4x4 input, 2x2 filter, 3x3 output:
 *   db = sum dy
 *   dw = x (valid cross-correlation) dy
 *   dx = full convolution of dy with w, computed as the cross-correlation
 *        of dy zero-padded by 1 with w rotated by 180 degrees. */
Test(lecture, conv_gradients_4x4_by_2x2)
{
    static const float x[4][4] = {
        {1, 2, 0, -1}, {3, -2, 4, 1}, {0, 1, -3, 2}, {2, 0, 1, -1}};
    static const float w[2][2] = {{1, -2}, {3, 0.5f}};
    static const float b = 0.25f;
    static const float dy[3][3] = {{1, 0, -1}, {2, 1, 0}, {-1, 3, 2}};

    double y[3][3], dw[2][2], db = 0.0, dx[4][4];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            y[i][j] = b;
            for (int a = 0; a < 2; a++)
                for (int c = 0; c < 2; c++)
                    y[i][j] += (double)x[i + a][j + c] * w[a][c];
            db += dy[i][j];
        }
    for (int a = 0; a < 2; a++)
        for (int c = 0; c < 2; c++) {
            dw[a][c] = 0.0;
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    dw[a][c] += (double)x[i + a][j + c] * dy[i][j];
        }
    double dypad[5][5];
    memset(dypad, 0, sizeof dypad);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            dypad[i + 1][j + 1] = dy[i][j];
    for (int r = 0; r < 4; r++)
        for (int q = 0; q < 4; q++) {
            dx[r][q] = 0.0;
            for (int a = 0; a < 2; a++)
                for (int c = 0; c < 2; c++)
                    dx[r][q] += dypad[r + a][q + c] * w[1 - a][1 - c];
        }
    /* By hand: y(0,0) = 1*1 + 2*-2 + 3*3 + -2*0.5 + 0.25 = 5.25;
     * db = 1+0-1+2+1+0-1+3+2 = 7;
     * dw(0,0) = sum x[i][j] dy[i][j] over the top-left 3x3
     *         = 1 + 0 + 0 + 6 - 2 + 0 + 0 + 3 - 6 = 2;
     * dx(0,0) = dy(0,0) w(0,0) = 1; dx(3,3) = dy(2,2) w(1,1) = 1;
     * dx(0,1) = dy(0,0) w(0,1) + dy(0,1) w(0,0) = -2 + 0 = -2. */
    cr_assert_eq(y[0][0], 5.25);
    cr_assert_eq(db, 7.0);
    cr_assert_eq(dw[0][0], 2.0);
    cr_assert_eq(dx[0][0], 1.0);
    cr_assert_eq(dx[3][3], 1.0);
    cr_assert_eq(dx[0][1], -2.0);

    cnn_context *ctx = lh_context();
    const char *set[] = {"filters=1", "kernel=2"};
    lh_layer L;
    open_single(&L, ctx, "conv", set, 2, 4, 4);
    cr_assert_eq(L.n_params, 2u);
    cr_assert(L.out_shape.dims[2] == 3 && L.out_shape.dims[3] == 3);
    memcpy(L.x[0].data, x, sizeof x);
    memcpy(L.p[0].data, w, sizeof w);
    L.p[1].data[0] = b;
    lh_forward(&L, 0, 0);
    for (int i = 0; i < 9; i++)
        cr_expect_eq(L.y.data[i], (float)y[i / 3][i % 3], "y(%d,%d): %g vs %g",
                     i / 3, i % 3, (double)L.y.data[i], y[i / 3][i % 3]);
    memcpy(L.dy.data, dy, sizeof dy);
    lh_backward(&L, NULL, 1, 0, 0);
    cr_expect_eq(L.dp[1].data[0], (float)db, "db: got %g, want %g",
                 (double)L.dp[1].data[0], db);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(L.dp[0].data[i], (float)dw[i / 2][i % 2],
                     "dw(%d,%d): got %g, want %g", i / 2, i % 2,
                     (double)L.dp[0].data[i], dw[i / 2][i % 2]);
    for (int i = 0; i < 16; i++)
        cr_expect_eq(L.dx[0].data[i], (float)dx[i / 4][i % 4],
                     "dx(%d,%d): got %g, want %g", i / 4, i % 4,
                     (double)L.dx[0].data[i], dx[i / 4][i % 4]);
    lh_layer_close(&L);
    cnn_context_destroy(ctx);
}

/* Max-pool: the whole gradient goes to the window's maximum, 0 elsewhere;
 * on a tie the first maximum in row-major window order takes it. */
Test(lecture, maxpool_routes_gradient_to_max)
{
    /* Windows (2x2, stride 2):
     *   top-left  {1, 7, 3, 2}: max 7 at (0,1)
     *   top-right {5, 5, 1, 5}: three-way tie, first is (0,2)
     *   bot-left  {0, 4, 4, 2}: tie between (2,1) and (3,0): (2,1) first
     *   bot-right {-3, -1, -2, -4}: all negative, max -1 at (2,3). */
    static const float x[16] = {1, 7, 5, 5,  3, 2, 1, 5,
                                0, 4, -3, -1, 4, 2, -2, -4};
    static const float dy[4] = {10, 20, 30, 40};
    static const float want_y[4] = {7, 5, 4, -1};
    static const float want_dx[16] = {0, 10, 20, 0, 0, 0, 0, 0,
                                      0, 30, 0, 40, 0, 0, 0, 0};
    cnn_context *ctx = lh_context();
    const char *set[] = {"size=2"};
    lh_layer L;
    open_single(&L, ctx, "maxpool", set, 1, 4, 4);
    memcpy(L.x[0].data, x, sizeof x);
    lh_forward(&L, 0, 0);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(L.y.data[i], want_y[i], "y[%d]: got %g, want %g", i,
                     (double)L.y.data[i], (double)want_y[i]);
    memcpy(L.dy.data, dy, sizeof dy);
    lh_backward(&L, NULL, 1, 0, 0);
    for (int i = 0; i < 16; i++)
        cr_expect_eq(L.dx[0].data[i], want_dx[i],
                     "dx(%d,%d): got %g, want %g", i / 4, i % 4,
                     (double)L.dx[0].data[i], (double)want_dx[i]);
    lh_layer_close(&L);
    cnn_context_destroy(ctx);
}

/* Max-pool on rows wider than one vector (18 windows of 2x2): a NaN is the
 * maximum of its window and takes the gradient, the first NaN when there
 * are two; a tie goes to the first maximum. Elsewhere values grow along the
 * row, so the bottom-right element of each window is its maximum. */
Test(lecture, maxpool_nan_and_ties_across_vector_steps)
{
    enum { W = 36, OW = 18 };
    float x[2 * W], dy[OW];
    int want_at[OW]; /* window element taking dy: 0 a, 1 b, 2 c, 3 d */
    cnn_context *ctx = lh_context();
    const char *set[] = {"size=2"};
    lh_layer L;

    for (int r = 0; r < 2; r++)
        for (int c = 0; c < W; c++)
            x[r * W + c] = (float)(c + r * W);
    for (int j = 0; j < OW; j++) {
        dy[j] = (float)(j + 1);
        want_at[j] = 3;
    }
    x[W + 5] = NAN; /* window 2: d is NaN */
    want_at[2] = 3;
    x[0 * W + 35] = NAN; /* window 17: b and d NaN, b first */
    x[1 * W + 35] = NAN;
    want_at[17] = 1;
    x[0 * W + 32] = 500; /* window 16: a and c tie above b, d */
    x[1 * W + 32] = 500;
    want_at[16] = 0;
    open_single(&L, ctx, "maxpool", set, 1, 2, W);
    memcpy(L.x[0].data, x, sizeof x);
    /* lh_forward treats a NaN output as unwritten: fill with a sentinel. */
    lh_buf_fill(&L.y, -12345.0f);
    lh_forward_batch(&L, 0, 0, -1, L.y.data);
    for (int j = 0; j < OW; j++) {
        int at = want_at[j];
        float want = x[(at / 2) * W + 2 * j + at % 2];
        if (isnan(want))
            cr_expect(isnan(L.y.data[j]), "y[%d]: got %g, want NaN", j,
                      (double)L.y.data[j]);
        else
            cr_expect_eq(L.y.data[j], want, "y[%d]: got %g, want %g", j,
                         (double)L.y.data[j], (double)want);
    }
    memcpy(L.dy.data, dy, sizeof dy);
    lh_backward(&L, NULL, 1, 0, 0);
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < W; c++) {
            int j = c / 2, at = r * 2 + c % 2;
            float want = at == want_at[j] ? dy[j] : 0.0f;
            cr_expect_eq(L.dx[0].data[r * W + c], want,
                         "dx(%d,%d): got %g, want %g", r, c,
                         (double)L.dx[0].data[r * W + c], (double)want);
        }
    lh_layer_close(&L);
    cnn_context_destroy(ctx);
}

/* Max-pool 3x3 stride 2 with padding (ResNet's and AlexNet's pools, the
 * separable path: a vertical pass over each window's rows, then windows
 * along the row) on rows wider than one vector: each output is its
 * window's maximum, or NaN when the window holds a NaN, whichever row or
 * column holds it; padding never wins over a real -inf. */
Test(lecture, maxpool_separable_nan_and_inf)
{
    enum { H = 7, W = 41 };
    const char *set[] = {"size=3", "stride=2", "padding=1"};
    cnn_context *ctx = lh_context();
    float x[H * W];
    lh_layer L;

    for (int i = 0; i < H * W; i++)
        x[i] = (float)((i * 37) % 101) - 50.0f;
    x[0 * W + 3] = NAN;   /* top row, the first vector */
    x[4 * W + 20] = NAN;  /* a middle row, the second vector */
    x[6 * W + 40] = NAN;  /* bottom row, the last column */
    for (int c = 30; c < 34; c++) /* a block of -inf: windows of -inf only */
        for (int r = 0; r < 3; r++)
            x[r * W + c] = -INFINITY;
    open_single(&L, ctx, "maxpool", set, 3, H, W);
    memcpy(L.x[0].data, x, sizeof x);
    lh_buf_fill(&L.y, -12345.0f);
    lh_forward_batch(&L, 0, 0, -1, L.y.data);
    const int oh = (H + 2 - 3) / 2 + 1, ow = (W + 2 - 3) / 2 + 1;
    for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++) {
            float m = -INFINITY;
            int nan = 0;
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) {
                    int r = 2 * i - 1 + a, c = 2 * j - 1 + b;
                    if (r < 0 || r >= H || c < 0 || c >= W)
                        continue;
                    nan |= isnan(x[r * W + c]);
                    m = x[r * W + c] > m ? x[r * W + c] : m;
                }
            float got = L.y.data[i * ow + j];
            if (nan)
                cr_expect(isnan(got), "y(%d,%d): got %g, want NaN", i, j,
                          (double)got);
            else
                cr_expect_eq(got, m, "y(%d,%d): got %g, want %g", i, j,
                             (double)got, (double)m);
        }
    lh_layer_close(&L);
    cnn_context_destroy(ctx);
}

/* Overlapping windows (2x2, stride 1 on 3x3): the centre is the maximum of
 * all four windows and collects the sum of their gradients. */
Test(lecture, maxpool_overlapping_windows_accumulate)
{
    static const float x[9] = {1, 2, 3, 4, 9, 5, 6, 7, 8};
    static const float dy[4] = {1, 2, 4, 8};
    cnn_context *ctx = lh_context();
    const char *set[] = {"size=2", "stride=1"};
    lh_layer L;
    open_single(&L, ctx, "maxpool", set, 2, 3, 3);
    memcpy(L.x[0].data, x, sizeof x);
    lh_forward(&L, 0, 0);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(L.y.data[i], 9.0f);
    memcpy(L.dy.data, dy, sizeof dy);
    lh_backward(&L, NULL, 1, 0, 0);
    for (int i = 0; i < 9; i++)
        cr_expect_eq(L.dx[0].data[i], i == 4 ? 15.0f : 0.0f,
                     "dx[%d] = %g", i, (double)L.dx[0].data[i]);
    lh_layer_close(&L);
    cnn_context_destroy(ctx);
}

/* Avg-pool: each input of a window gets dy / n, n the window size. */
Test(lecture, avgpool_spreads_gradient_evenly)
{
    static const float x[16] = {1, 2, 3, 4,   5, 6, 7, 8,
                                9, 10, 11, 12, 13, 14, 15, 16};
    static const float dy[4] = {4, -8, 2, 1};
    cnn_context *ctx = lh_context();
    const char *set[] = {"size=2"};
    lh_layer L;
    open_single(&L, ctx, "avgpool", set, 1, 4, 4);
    memcpy(L.x[0].data, x, sizeof x);
    lh_forward(&L, 0, 0);
    /* (1+2+5+6)/4 = 3.5, (3+4+7+8)/4 = 5.5, 11.5, 13.5: exact. */
    static const float want_y[4] = {3.5f, 5.5f, 11.5f, 13.5f};
    for (int i = 0; i < 4; i++)
        cr_expect_eq(L.y.data[i], want_y[i], "y[%d] = %g", i,
                     (double)L.y.data[i]);
    memcpy(L.dy.data, dy, sizeof dy);
    lh_backward(&L, NULL, 1, 0, 0);
    for (int r = 0; r < 4; r++)
        for (int q = 0; q < 4; q++) {
            float want = dy[(r / 2) * 2 + q / 2] / 4.0f; /* exact */
            cr_expect_eq(L.dx[0].data[r * 4 + q], want,
                         "dx(%d,%d): got %g, want %g", r, q,
                         (double)L.dx[0].data[r * 4 + q], (double)want);
        }
    lh_layer_close(&L);

    /* A 3x3 window: n = 9, dy / 9 is not exact in float32, so compare to
     * within 2 ulp. */
    const char *set3[] = {"size=3"};
    open_single(&L, ctx, "avgpool", set3, 1, 3, 3);
    for (int i = 0; i < 9; i++)
        L.x[0].data[i] = (float)(i + 1);
    lh_forward(&L, 0, 0);
    cr_expect(fabsf(L.y.data[0] - 5.0f) <= 2 * 5.0f * 1.2e-7f, "mean %g",
              (double)L.y.data[0]);
    L.dy.data[0] = 1.0f;
    lh_backward(&L, NULL, 1, 0, 0);
    for (int i = 0; i < 9; i++)
        cr_expect(fabs(L.dx[0].data[i] - 1.0 / 9.0) <= 2 * 1.2e-7 / 9.0,
                  "dx[%d] = %.9g, want 1/9", i, (double)L.dx[0].data[i]);
    lh_layer_close(&L);
    cnn_context_destroy(ctx);
}

/* Softmax shifts by the maximum before exp: adding 1000 to every logit
 * (exp(1000) overflows any float) must not change the result.
 * softmax(1, 2, 3) = (e^-2, e^-1, 1) / (e^-2 + e^-1 + 1). */
Test(lecture, softmax_is_shift_invariant)
{
    cnn_context *ctx = lh_context();
    cnn_shape s = cnn_shape2(2, 3);
    lh_layer L;
    lh_layer_open(&L, ctx, "softmax", NULL, 0, &s, 1);
    static const float x[6] = {1, 2, 3, 1001, 1002, 1003};
    memcpy(L.x[0].data, x, sizeof x);
    lh_forward(&L, 0, 0);
    double z = exp(-2.0) + exp(-1.0) + 1.0;
    double want[3] = {exp(-2.0) / z, exp(-1.0) / z, 1.0 / z};
    for (int r = 0; r < 2; r++)
        for (int j = 0; j < 3; j++)
            cr_expect(fabs(L.y.data[r * 3 + j] - want[j]) <= 1e-6 * want[j],
                      "row %d p[%d] = %.9g, want %.9g", r, j,
                      (double)L.y.data[r * 3 + j], want[j]);
    lh_layer_close(&L);
    cnn_context_destroy(ctx);
}
