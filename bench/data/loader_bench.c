/* SPDX-License-Identifier: MIT */
/* cnnrun's side of the loader benchmark: opens a dataset spec (timed), then
 * walks batches through the training loader (decode, augment, normalise)
 * and prints one JSON line: open seconds, images/s, peak RSS.
 *
 *   loader_bench SPEC --threads N [--size 224] [--batch 64] [--images M]
 *                [--augment imagenet|eval|none]
 *
 * imagenet: RandomResizedCrop + flip (training); eval: resize 256, centre
 * crop 224 (0.875); none: the plain cover-and-crop. Built by run.sh against
 * the build tree's libcnn. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cnn/context.h"
#include "cnn/data.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    static const float mean[3] = {0.485f, 0.456f, 0.406f};
    static const float std[3] = {0.229f, 0.224f, 0.225f};
    const char *spec = NULL, *augment = "imagenet";
    long threads = 1, size = 224, batch = 64, images = 0;
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *ds = NULL;
    cnn_loader *loader = NULL;
    cnn_loader_options o;
    cnn_shape shape;
    struct rusage ru;
    double t0, t_open, t_walk;
    size_t seen = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atol(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size = atol(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atol(argv[++i]);
        else if (!strcmp(argv[i], "--images") && i + 1 < argc)
            images = atol(argv[++i]);
        else if (!strcmp(argv[i], "--augment") && i + 1 < argc)
            augment = argv[++i];
        else
            spec = argv[i];
    }
    if (!ctx || !spec || threads < 1 || size < 1 || batch < 1) {
        fprintf(stderr, "usage: loader_bench SPEC --threads N [--size S] "
                        "[--batch B] [--images M] [--augment imagenet|eval|"
                        "none]\n");
        return 2;
    }
    shape = cnn_shape4(1, 3, size, size);
    t0 = now();
    if (cnn_dataset_open(ctx, spec, &shape, &ds) != CNN_OK) {
        fprintf(stderr, "loader_bench: %s\n", cnn_context_message(ctx));
        return 1;
    }
    t_open = now() - t0;
    cnn_loader_options_init(&o);
    o.batch = (size_t)batch;
    o.shuffle = 1;
    o.seed = 1;
    o.mean = mean;
    o.std = std;
    o.threads = (int)threads;
    o.prefetch = 2;
    o.random_resized_crop = !strcmp(augment, "imagenet");
    o.flip = o.random_resized_crop;
    o.center_crop = !strcmp(augment, "eval") ? 0.875 : 1.0;
    if (cnn_loader_create(ctx, ds, &o, &loader) != CNN_OK ||
        cnn_loader_begin_epoch(loader, 0) != CNN_OK) {
        fprintf(stderr, "loader_bench: %s\n", cnn_context_message(ctx));
        return 1;
    }
    t0 = now();
    for (;;) {
        cnn_tensor t;
        const int32_t *labels;
        size_t n;
        if (cnn_loader_next(loader, &t, &labels, &n) != CNN_OK) {
            fprintf(stderr, "loader_bench: %s\n", cnn_context_message(ctx));
            return 1;
        }
        if (n == 0)
            break;
        seen += n;
        if (images > 0 && seen >= (size_t)images)
            break;
    }
    t_walk = now() - t0;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"tool\": \"cnnrun\", \"items\": %zu, \"images\": %zu, "
           "\"threads\": %ld, \"open_s\": %.4f, \"images_per_s\": %.1f, "
           "\"peak_rss_mb\": %.1f}\n",
           cnn_dataset_size(ds), seen, threads, t_open,
           (double)seen / t_walk, (double)ru.ru_maxrss / 1024.0);
    cnn_loader_destroy(loader);
    cnn_dataset_destroy(ds);
    cnn_context_destroy(ctx);
    return 0;
}
