/* SPDX-License-Identifier: MIT */
/* The fixed order of a folder dataset's items: every class's files shuffled
 * with a fixed seed, then the classes interleaved in proportion to their
 * sizes, so that any prefix or slice of the order holds every class in
 * about its share (a stratified shuffle). Without it "@N" would take N
 * images of the first class. */
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "data_rng.h"

/* Its own stream, so the loader's shuffles never depend on this one. */
#define STRATIFY_STREAM 3

typedef struct order_key {
    uint64_t num, den; /* position (2j+1) / (2 n_c) within its class,
                        * stored as 2j+1 over n_c */
    uint64_t rank;     /* the class's place in a fixed random order: ties */
    size_t item;
} order_key;

static int compare_keys(const void *pa, const void *pb)
{
    const order_key *a = pa, *b = pb;
    /* Exact fractions: num < 2 den and a folder holds far fewer than 2^31
     * images (each is a decoded sample in memory), so products fit. */
    uint64_t l = a->num * b->den, r = b->num * a->den;
    if (l != r)
        return l < r ? -1 : 1;
    if (a->rank != b->rank)
        return a->rank < b->rank ? -1 : 1;
    return (a->item > b->item) - (a->item < b->item);
}

int cnn_data_stratified_order(const int32_t *labels, size_t n,
                              size_t n_classes, uint64_t seed, size_t *order)
{
    size_t *count = calloc(n_classes + 1, sizeof *count);
    size_t *start = calloc(n_classes + 1, sizeof *start);
    size_t *fill = calloc(n_classes + 1, sizeof *fill);
    size_t *by_class = malloc((n ? n : 1) * sizeof *by_class);
    uint64_t *rank = calloc(n_classes + 1, sizeof *rank);
    order_key *keys = malloc((n ? n : 1) * sizeof *keys);
    int ok = count && start && fill && by_class && rank && keys;
    if (ok) {
        cnn_data_rng rng;
        for (size_t i = 0; i < n; i++)
            count[labels[i]]++;
        for (size_t c = 1; c < n_classes; c++)
            start[c] = start[c - 1] + count[c - 1];
        for (size_t i = 0; i < n; i++)
            by_class[start[labels[i]] + fill[labels[i]]++] = i;
        for (size_t c = 0; c < n_classes; c++) {
            size_t *items = by_class + start[c];
            cnn_data_rng_init(&rng, seed, 0, c, STRATIFY_STREAM);
            for (size_t i = count[c]; i > 1; i--) {
                size_t j = (size_t)cnn_data_rng_below(&rng, i), t = items[i - 1];
                items[i - 1] = items[j];
                items[j] = t;
            }
            rank[c] = cnn_data_rng_next(&rng);
        }
        for (size_t c = 0; c < n_classes; c++)
            for (size_t j = 0; j < count[c]; j++) {
                order_key *k = &keys[start[c] + j];
                k->num = 2 * (uint64_t)j + 1;
                k->den = (uint64_t)count[c];
                k->rank = rank[c];
                k->item = by_class[start[c] + j];
            }
        qsort(keys, n, sizeof *keys, compare_keys);
        for (size_t i = 0; i < n; i++)
            order[i] = keys[i].item;
    }
    free(count);
    free(start);
    free(fill);
    free(by_class);
    free(rank);
    free(keys);
    return ok;
}
