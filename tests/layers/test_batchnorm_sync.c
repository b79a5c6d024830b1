/* SPDX-License-Identifier: MIT */
/* batchnorm's synchronised statistics (env->allreduce_sum, ABI 1.3)
 * without MPI: two processes holding identical halves [A; A] of a batch
 * are simulated by one call on A whose allreduce doubles every sum. The
 * result must be the plain layer's on the whole batch [A; A]: the same y,
 * dx and running statistics (whose unbiased variance needs the whole
 * batch's count), and half its dweight and dbias (each process reports its
 * own part; the host sums them). Per-half statistics would give the same
 * y here but not the same running variance, and a layer that ignored the
 * callback's count would be caught by it. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "harness.h"

static int sum_calls;
static size_t sum_lengths[8];

/* Two identical processes: the total is twice this one's values. */
static cnn_status twice(void *host, double *values, size_t n)
{
    (void)host;
    if (sum_calls < 8)
        sum_lengths[sum_calls] = n;
    sum_calls++;
    for (size_t i = 0; i < n; i++)
        values[i] *= 2.0;
    return CNN_OK;
}

static void expect_close(const float *got, const float *want, size_t n,
                         double tol, const char *what)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]) /
                   (fabs((double)want[i]) + 1e-3);
        if (d > worst)
            worst = d;
    }
    cr_expect(worst <= tol, "%s: relative difference %.3g > %.3g", what,
              worst, tol);
}

static void check_sync(const cnn_shape *half_shape)
{
    cnn_context *ctx = lh_context();
    lh_layer half, full;
    cnn_shape whole = *half_shape;
    lh_rng rng = {42};
    size_t n, c = (size_t)half_shape->dims[1];
    whole.dims[0] *= 2;
    lh_layer_open(&half, ctx, "batchnorm", NULL, 0, half_shape, 1);
    lh_layer_open(&full, ctx, "batchnorm", NULL, 0, &whole, 1);
    n = half.x[0].n;
    lh_fill_uniform(&rng, half.x[0].data, n, -2.0, 3.0);
    memcpy(full.x[0].data, half.x[0].data, n * sizeof(float));
    memcpy(full.x[0].data + n, half.x[0].data, n * sizeof(float));
    for (int p = 0; p < 4; p++) {
        lh_fill_uniform(&rng, half.p[p].data, c, 0.5, 1.5);
        memcpy(full.p[p].data, half.p[p].data, c * sizeof(float));
    }
    half.host.env.allreduce_sum = twice;
    sum_calls = 0;

    lh_forward(&half, 1, 0);
    lh_forward(&full, 1, 0);
    cr_expect_eq(sum_calls, 2, "forward sums twice (mean, variance), got %d",
                 sum_calls);
    cr_expect_eq(sum_lengths[0], c + 1, "the mean's sum carries the count");
    cr_expect_eq(sum_lengths[1], c, "the variance's sum is per channel");
    expect_close(half.y.data, full.y.data, n, 1e-6, "y");
    expect_close(half.p[2].data, full.p[2].data, c, 1e-6, "running_mean");
    expect_close(half.p[3].data, full.p[3].data, c, 1e-6,
                 "running_var (unbiased with the whole batch's count)");

    lh_fill_uniform(&rng, half.dy.data, n, -1.0, 1.0);
    memcpy(full.dy.data, half.dy.data, n * sizeof(float));
    memcpy(full.dy.data + n, half.dy.data, n * sizeof(float));
    lh_backward(&half, NULL, 1, 1, 0);
    lh_backward(&full, NULL, 1, 1, 0);
    cr_expect_eq(sum_calls, 5, "backward sums three times, got %d in all",
                 sum_calls);
    cr_expect_eq(sum_lengths[4], 2 * c, "S and U travel together");
    expect_close(half.dx[0].data, full.dx[0].data, n, 1e-5, "dx");
    for (size_t i = 0; i < c; i++) {
        half.dp[0].data[i] *= 2.0f;
        half.dp[1].data[i] *= 2.0f;
    }
    expect_close(half.dp[0].data, full.dp[0].data, c, 1e-5,
                 "dweight (this process's half)");
    expect_close(half.dp[1].data, full.dp[1].data, c, 1e-5,
                 "dbias (this process's half)");

    /* Inference ignores the callback: running statistics are constants. */
    sum_calls = 0;
    lh_forward(&half, 0, 0);
    cr_expect_eq(sum_calls, 0, "inference sums nothing, got %d", sum_calls);
    lh_layer_close(&half);
    lh_layer_close(&full);
    cnn_context_destroy(ctx);
}

Test(batchnorm_sync, nchw_whole_batch_statistics)
{
    cnn_shape s = cnn_shape4(3, 5, 4, 6);
    check_sync(&s);
}

Test(batchnorm_sync, nc_whole_batch_statistics)
{
    cnn_shape s = cnn_shape2(4, 7);
    check_sync(&s);
}

Test(batchnorm_sync, one_value_each_is_enough_together)
{
    /* A process with a single value per channel cannot train alone; with
     * the other's it has two. */
    cnn_shape s = cnn_shape2(1, 3);
    check_sync(&s);
}
