/* SPDX-License-Identifier: MIT */
/* The executor's memory plan: every activation, gradient and temporary
 * buffer of a pass is an item with a size and a lifetime (the steps that
 * read or write it, inclusive), and all items share one arena. Two items
 * whose lifetimes meet never share a byte; two that do not may. A training
 * step is the timeline forward 0..L-1, the loss, backward L-1..0, so a
 * gradient takes the place of activations backward no longer needs.
 *
 * Placement is greedy by size, largest first, each item at the lowest
 * offset free for its whole lifetime: the usual offset planner (TFLite's
 * "greedy by size"), within a few percent of the lower bound (the largest
 * total size live at one step) on chains like VGG and ResNet. */
#ifndef CNN_EXEC_PLAN_H
#define CNN_EXEC_PLAN_H

#include <stddef.h>
#include <stdint.h>

/* Offsets and sizes are in floats, rounded up to this many (64 bytes). */
#define CNN_PLAN_ALIGN_FLOATS 16u

typedef struct cnn_plan_item {
    size_t floats;       /* 0: not placed (absent, or an alias of another) */
    uint32_t first;      /* first step that writes it */
    uint32_t last;       /* last step that reads it, >= first */
    size_t offset;       /* out: in floats from the arena's start */
} cnn_plan_item;

/* Places the items; returns the arena's size in floats, or SIZE_MAX when
 * out of memory. Deterministic: ties go to the lower index. */
size_t cnn_plan_place(cnn_plan_item *items, size_t n);

/* The lowest offset of a free run of want floats at step t in an arena of
 * arena_floats, or SIZE_MAX if none: scratch memory for that step only. */
size_t cnn_plan_gap(const cnn_plan_item *items, size_t n, uint32_t t,
                    size_t arena_floats, size_t want);

/* The largest total size of the items live at one step: no placement can
 * use less, so tests compare the arena with it. */
size_t cnn_plan_lower_bound(const cnn_plan_item *items, size_t n);

#endif
