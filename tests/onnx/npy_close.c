/* SPDX-License-Identifier: MIT */
/* npy_close A.npy B.npy [TOL]: exit 0 when A and B have one shape and every
 * element satisfies |a - b| <= TOL (|b| + max|B| / 100) (TOL 1e-4 by
 * default: relative, with a floor at 1% of B's scale for values near 0);
 * prints the worst element. Lets the ONNX tests compare outputs without
 * NumPy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cnn/io.h"

int main(int argc, char **argv)
{
    cnn_context *ctx = cnn_context_create();
    cnn_tensor a = {0}, b = {0};
    double tol = argc > 3 ? atof(argv[3]) : 1e-4, worst = 0, scale = 0;
    size_t n, at = 0;
    int rc = 1;
    if (argc < 3 || !ctx)
        return 2;
    if (cnn_npy_read(ctx, argv[1], &a) != CNN_OK ||
        cnn_npy_read(ctx, argv[2], &b) != CNN_OK) {
        fprintf(stderr, "npy_close: %s\n", cnn_context_message(ctx));
        goto done;
    }
    if (!cnn_shape_equal(&a.shape, &b.shape)) {
        fprintf(stderr, "npy_close: %s and %s differ in shape\n", argv[1], argv[2]);
        goto done;
    }
    n = cnn_shape_numel(&b.shape);
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(b.data[i]));
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)a.data[i] - b.data[i]) /
                   (fabs(b.data[i]) + scale / 100 + 1e-30);
        if (!(r <= worst)) { /* NaN counts as worst */
            worst = isnan(r) ? INFINITY : r;
            at = i;
        }
    }
    printf("%s: %zu values, worst relative difference %.3g at %zu (%g vs %g)\n",
           argv[1], n, worst, at, n ? a.data[at] : 0.0, n ? b.data[at] : 0.0);
    rc = worst <= tol ? 0 : 1;
done:
    free(a.data);
    free(b.data);
    cnn_context_destroy(ctx);
    return rc;
}
