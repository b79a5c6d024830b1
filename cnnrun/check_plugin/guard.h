/* SPDX-License-Identifier: MIT */
/* Guarded buffers and a suspicious host for check-plugin.
 *
 * Every tensor handed to a plugin lives between two guard zones filled with
 * a canary pattern; after each hook the zones are compared, so a write
 * before the first or past the last element is found and located even when
 * it stays inside the allocation (where valgrind and ASan cannot see it).
 *
 * The host's services are hostile in legal ways: workspace memory is fresh,
 * NaN-filled and guarded on every request, and the previous block is freed
 * (the ABI says a second request invalidates the first); parallel_for splits
 * the range into several chunks and may run them in reverse order. */
#ifndef CNNRUN_CHECK_PLUGIN_GUARD_H
#define CNNRUN_CHECK_PLUGIN_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/layer.h"

/* Bytes of canary on each side; a multiple of 64 keeps the data as aligned
 * as the block. */
#define CK_GUARD_BYTES 64

typedef struct ck_buf {
    unsigned char *block; /* guard, data, guard */
    float *data;          /* NULL for an empty buffer that was not made */
    size_t n;             /* floats */
} ck_buf;

/* Where a guard zone was damaged, for the message. */
typedef struct ck_damage {
    int before;        /* 1: the zone before element 0 */
    size_t first_byte; /* offsets into the zone: from the end of the data for
                          the zone after, back from element 0 before */
    size_t last_byte;
} ck_damage;

/* Returns 0 when memory is exhausted. The data is zeroed. */
int ck_buf_alloc(ck_buf *b, size_t n);
void ck_buf_free(ck_buf *b);
void ck_buf_fill(ck_buf *b, float v);
/* 1 when both zones are intact; otherwise fills *d (may be NULL) and
 * re-arms the zones so that the next hook is judged on its own. */
int ck_buf_guards_ok(ck_buf *b, ck_damage *d);
/* "4 bytes past the end (bytes 0..3 after element 34)" */
void ck_damage_text(const ck_damage *d, size_t n_floats, char *buf,
                    size_t size);

typedef struct ck_host {
    cnn_layer_env env;
    ck_buf ws;      /* the current workspace block */
    int ws_damaged; /* a workspace guard was hit during this hook */
    ck_damage ws_damage;
    size_t ws_damage_floats; /* size of the damaged block */
    size_t ws_largest;       /* floats, largest request of this hook */
    int pf_reverse;          /* run parallel_for chunks last to first */
    int pf_depth;
    int pf_nested; /* parallel_for called from inside a chunk */
} ck_host;

void ck_host_init(ck_host *h);
/* Ends a hook: checks and frees the workspace. Returns 1 when the hook kept
 * to the host's rules (workspace guards, no nested parallel_for). */
int ck_host_end_hook(ck_host *h, char *why, size_t size);
void ck_host_free(ck_host *h);

#endif
