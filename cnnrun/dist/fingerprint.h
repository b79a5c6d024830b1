/* SPDX-License-Identifier: MIT */
/* Start-up check that every rank was given the same job: each rank hashes
 * what it loaded (graph, settings, data, initial weights) and rank 0 names
 * every rank and item that differs from its own. */
#ifndef CNNRUN_DIST_FINGERPRINT_H
#define CNNRUN_DIST_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/data.h"
#include "cnn/params.h"
#include "comm.h"

enum { FINGERPRINT_MAX = 8 };

typedef struct fingerprint {
    const char *what[FINGERPRINT_MAX]; /* "graph", "training data", ... */
    uint64_t hash[FINGERPRINT_MAX];
    size_t count;
} fingerprint;

/* FNV-1a over bytes, continuing from h (start with FINGERPRINT_SEED). */
#define FINGERPRINT_SEED 0xcbf29ce484222325ull
uint64_t fingerprint_bytes(uint64_t h, const void *data, size_t n);
/* Every sample's bytes (an in-memory dataset) or every item's path and
 * file size (a streamed one: its index, so no rank decodes the images of
 * other ranks' shares just to compare), the labels and the class names. */
uint64_t fingerprint_dataset(const cnn_dataset *ds);
/* Every value of every parameter (running statistics included). */
uint64_t fingerprint_params(cnn_params *params);

void fingerprint_add(fingerprint *fp, const char *what, uint64_t hash);

/* Collective. Returns 0 when every rank's fingerprint equals rank 0's;
 * else rank 0 prints one line per difference and every rank gets 1. */
int fingerprint_compare(dist_comm *c, const char *command,
                        const fingerprint *fp);

#endif
