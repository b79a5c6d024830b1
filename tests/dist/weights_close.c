/* SPDX-License-Identifier: MIT */
/* weights_close A B TOL [BASE]: compares two weights files tensor by
 * tensor and fails when a relative difference ||a - b|| / ||b|| exceeds
 * TOL. With BASE, compares the updates a - base and b - base instead: a
 * far stricter check after a few small steps, since the weights themselves
 * hardly move. Prints every tensor's figure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cnn/io.h"

static cnn_tensor_file *open_file(cnn_context *ctx, const char *path)
{
    cnn_tensor_file *f = NULL;
    if (cnn_safetensors_read(ctx, path, &f) != CNN_OK) {
        fprintf(stderr, "weights_close: %s\n", cnn_context_message(ctx));
        exit(2);
    }
    return f;
}

int main(int argc, char **argv)
{
    cnn_context *ctx;
    cnn_tensor_file *a, *b, *base = NULL;
    double tol, worst = 0.0;
    int bad = 0;
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: weights_close A B TOL [BASE]\n");
        return 2;
    }
    tol = strtod(argv[3], NULL);
    ctx = cnn_context_create();
    a = open_file(ctx, argv[1]);
    b = open_file(ctx, argv[2]);
    if (argc == 5)
        base = open_file(ctx, argv[4]);
    if (cnn_tensor_file_count(a) != cnn_tensor_file_count(b)) {
        fprintf(stderr, "weights_close: %zu tensors against %zu\n",
                cnn_tensor_file_count(a), cnn_tensor_file_count(b));
        return 1;
    }
    for (size_t i = 0; i < cnn_tensor_file_count(a); i++) {
        const cnn_named_tensor *ta = cnn_tensor_file_at(a, i);
        const cnn_named_tensor *tb = cnn_tensor_file_find(b, ta->name);
        const cnn_named_tensor *t0 = base ? cnn_tensor_file_find(base, ta->name) : NULL;
        size_t n = cnn_shape_numel(&ta->tensor.shape);
        double diff = 0.0, norm = 0.0, rel;
        if (!tb || cnn_shape_numel(&tb->tensor.shape) != n ||
            (base && (!t0 || cnn_shape_numel(&t0->tensor.shape) != n))) {
            fprintf(stderr, "weights_close: %s is missing or shaped differently\n",
                    ta->name);
            return 1;
        }
        for (size_t k = 0; k < n; k++) {
            double x = ta->tensor.data[k], y = tb->tensor.data[k];
            if (t0) {
                x -= t0->tensor.data[k];
                y -= t0->tensor.data[k];
            }
            diff += (x - y) * (x - y);
            norm += y * y;
        }
        rel = norm > 0 ? sqrt(diff / norm) : sqrt(diff);
        printf("%-24s %s relative difference %.3g\n", ta->name,
               base ? "update" : "weights", rel);
        if (!(rel <= tol))
            bad = 1;
        if (rel > worst)
            worst = rel;
    }
    printf("largest %.3g (tolerance %.3g)\n", worst, tol);
    cnn_tensor_file_destroy(a);
    cnn_tensor_file_destroy(b);
    cnn_tensor_file_destroy(base);
    cnn_context_destroy(ctx);
    return bad;
}
