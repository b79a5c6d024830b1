/* SPDX-License-Identifier: MIT */
#include "exec_plan.h"

#include <stdlib.h>

static size_t round_up(size_t floats)
{
    size_t a = CNN_PLAN_ALIGN_FLOATS;
    return floats > SIZE_MAX - a ? SIZE_MAX : (floats + a - 1) / a * a;
}

static int meets(const cnn_plan_item *a, const cnn_plan_item *b)
{
    return a->first <= b->last && b->first <= a->last;
}

typedef struct span {
    size_t begin, end;
} span;

static int span_cmp(const void *pa, const void *pb)
{
    const span *a = pa, *b = pb;
    return a->begin < b->begin ? -1 : a->begin > b->begin ? 1 : 0;
}

/* The lowest offset >= 0 where want floats fit between the busy spans. */
static size_t first_fit(span *busy, size_t n_busy, size_t want, size_t limit)
{
    size_t at = 0;
    qsort(busy, n_busy, sizeof *busy, span_cmp);
    for (size_t i = 0; i < n_busy; i++) {
        if (busy[i].begin >= at && busy[i].begin - at >= want)
            return at;
        if (busy[i].end > at)
            at = busy[i].end;
    }
    return limit - at >= want && at <= limit ? at : SIZE_MAX;
}

typedef struct order_key {
    size_t floats, index;
} order_key;

static int larger_first(const void *pa, const void *pb)
{
    const order_key *a = pa, *b = pb;
    if (a->floats != b->floats)
        return a->floats > b->floats ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index ? 1 : 0;
}

size_t cnn_plan_place(cnn_plan_item *items, size_t n)
{
    order_key *order = malloc((n ? n : 1) * sizeof *order);
    span *busy = malloc((n ? n : 1) * sizeof *busy);
    size_t *placed = malloc((n ? n : 1) * sizeof *placed);
    size_t n_order = 0, n_placed = 0, arena = 0;

    if (!order || !busy || !placed) {
        free(order);
        free(busy);
        free(placed);
        return SIZE_MAX;
    }
    for (size_t i = 0; i < n; i++) {
        items[i].offset = 0;
        if (items[i].floats) {
            order[n_order].floats = round_up(items[i].floats);
            order[n_order].index = i;
            n_order++;
        }
    }
    qsort(order, n_order, sizeof *order, larger_first);
    for (size_t o = 0; o < n_order; o++) {
        cnn_plan_item *it = &items[order[o].index];
        size_t n_busy = 0, at, end;
        for (size_t p = 0; p < n_placed; p++) {
            const cnn_plan_item *q = &items[placed[p]];
            if (meets(it, q)) {
                busy[n_busy].begin = q->offset;
                busy[n_busy].end = q->offset + round_up(q->floats);
                n_busy++;
            }
        }
        at = first_fit(busy, n_busy, order[o].floats, SIZE_MAX);
        it->offset = at;
        end = at + order[o].floats;
        if (end > arena)
            arena = end;
        placed[n_placed++] = order[o].index;
    }
    free(order);
    free(busy);
    free(placed);
    return arena;
}

size_t cnn_plan_gap(const cnn_plan_item *items, size_t n, uint32_t t,
                    size_t arena_floats, size_t want)
{
    span *busy = malloc((n ? n : 1) * sizeof *busy);
    size_t n_busy = 0, at;
    if (!busy)
        return SIZE_MAX;
    for (size_t i = 0; i < n; i++)
        if (items[i].floats && items[i].first <= t && t <= items[i].last) {
            busy[n_busy].begin = items[i].offset;
            busy[n_busy].end = items[i].offset + round_up(items[i].floats);
            n_busy++;
        }
    at = first_fit(busy, n_busy, round_up(want), arena_floats);
    free(busy);
    return at;
}

size_t cnn_plan_lower_bound(const cnn_plan_item *items, size_t n)
{
    size_t best = 0;
    /* The live total only rises at some item's first step. */
    for (size_t i = 0; i < n; i++) {
        size_t live = 0;
        if (!items[i].floats)
            continue;
        for (size_t j = 0; j < n; j++)
            if (items[j].floats && items[j].first <= items[i].first &&
                items[i].first <= items[j].last)
                live += round_up(items[j].floats);
        if (live > best)
            best = live;
    }
    return best;
}
