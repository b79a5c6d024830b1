/* SPDX-License-Identifier: MIT */
/* Guarded buffers and the check-plugin host; see guard.h. */
#include "guard.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A byte pattern that no float a plugin computes is likely to reproduce:
 * it varies along the zone, so a memmove by a few bytes shows too. */
static unsigned char canary_byte(size_t i)
{
    return (unsigned char)(0xA5u ^ (unsigned)((i * 37u) & 0xFFu));
}

static void canary_set(unsigned char *p)
{
    for (size_t i = 0; i < CK_GUARD_BYTES; i++)
        p[i] = canary_byte(i);
}

/* Offsets of the first and last damaged byte, or 0 when intact. */
static int canary_check(const unsigned char *p, size_t *first, size_t *last)
{
    int hit = 0;
    for (size_t i = 0; i < CK_GUARD_BYTES; i++)
        if (p[i] != canary_byte(i)) {
            if (!hit)
                *first = i;
            *last = i;
            hit = 1;
        }
    return hit;
}

int ck_buf_alloc(ck_buf *b, size_t n)
{
    size_t bytes;
    memset(b, 0, sizeof *b);
    if (n > (SIZE_MAX - 2 * CK_GUARD_BYTES - 63) / sizeof(float))
        return 0;
    bytes = 2 * CK_GUARD_BYTES + n * sizeof(float);
    bytes = (bytes + 63) / 64 * 64;
    b->block = aligned_alloc(64, bytes);
    if (!b->block)
        return 0;
    memset(b->block, 0, bytes);
    canary_set(b->block);
    b->data = (float *)(void *)(b->block + CK_GUARD_BYTES);
    canary_set(b->block + CK_GUARD_BYTES + n * sizeof(float));
    b->n = n;
    return 1;
}

void ck_buf_free(ck_buf *b)
{
    free(b->block);
    memset(b, 0, sizeof *b);
}

void ck_buf_fill(ck_buf *b, float v)
{
    for (size_t i = 0; i < b->n; i++)
        b->data[i] = v;
}

int ck_buf_guards_ok(ck_buf *b, ck_damage *d)
{
    unsigned char *before, *after;
    size_t first = 0, last = 0;
    ck_damage dummy;
    if (!b->block)
        return 1;
    if (!d)
        d = &dummy;
    before = b->block;
    after = b->block + CK_GUARD_BYTES + b->n * sizeof(float);
    /* The zone after first: overruns are the common fault. */
    if (canary_check(after, &first, &last)) {
        d->before = 0;
        d->first_byte = first;
        d->last_byte = last;
        canary_set(after);
        canary_check(before, &first, &last);
        canary_set(before);
        return 0;
    }
    if (canary_check(before, &first, &last)) {
        d->before = 1;
        /* Distances back from element 0: byte CK_GUARD_BYTES - 1 of the
         * zone is the one just before the data. */
        d->first_byte = CK_GUARD_BYTES - 1 - last;
        d->last_byte = CK_GUARD_BYTES - 1 - first;
        canary_set(before);
        return 0;
    }
    return 1;
}

void ck_damage_text(const ck_damage *d, size_t n_floats, char *buf, size_t size)
{
    size_t bytes = d->last_byte - d->first_byte + 1;
    if (d->before)
        snprintf(buf, size,
                 "wrote before the start: %zu..%zu bytes before element 0 "
                 "changed",
                 d->first_byte + 1, d->last_byte + 1);
    else if (n_floats)
        snprintf(buf, size,
                 "wrote past the end: bytes %zu..%zu after element %zu (the "
                 "last of %zu) changed, %zu byte%s",
                 d->first_byte, d->last_byte, n_floats - 1, n_floats, bytes,
                 bytes == 1 ? "" : "s");
    else
        snprintf(buf, size,
                 "wrote into an empty tensor: bytes %zu..%zu changed",
                 d->first_byte, d->last_byte);
}

/* ---- Host services ------------------------------------------------------ */

static void ws_release(ck_host *h)
{
    if (!h->ws.block)
        return;
    if (!h->ws_damaged && !ck_buf_guards_ok(&h->ws, &h->ws_damage)) {
        h->ws_damaged = 1;
        h->ws_damage_floats = h->ws.n;
    }
    ck_buf_free(&h->ws);
}

static float *host_workspace(void *host, size_t n_floats)
{
    ck_host *h = host;
    /* A second request invalidates the first: freeing it lets valgrind and
     * ASan catch a plugin that keeps using the old block. */
    ws_release(h);
    if (n_floats > h->ws_largest)
        h->ws_largest = n_floats;
    /* 16 GiB is more than any check needs; refuse like a host out of
     * memory would. */
    if (n_floats > ((size_t)1 << 32) || !ck_buf_alloc(&h->ws, n_floats))
        return NULL;
    /* Scratch memory is not promised to be zeroed. */
    ck_buf_fill(&h->ws, NAN);
    return h->ws.data;
}

static void host_parallel_for(void *host, size_t n, cnn_range_fn fn, void *arg)
{
    ck_host *h = host;
    const size_t chunks = 4;
    if (h->pf_depth > 0)
        h->pf_nested = 1;
    h->pf_depth++;
    for (size_t k = 0; k < chunks; k++) {
        size_t c = h->pf_reverse ? chunks - 1 - k : k;
        size_t b = n / chunks * c + (c < n % chunks ? c : n % chunks);
        size_t e = b + n / chunks + (c < n % chunks ? 1 : 0);
        if (b < e)
            fn(arg, b, e);
    }
    h->pf_depth--;
}

void ck_host_init(ck_host *h)
{
    memset(h, 0, sizeof *h);
    h->env.host = h;
    h->env.workspace = host_workspace;
    h->env.parallel_for = host_parallel_for;
    h->env.threads = 4;
}

int ck_host_end_hook(ck_host *h, char *why, size_t size)
{
    int ok = 1;
    ws_release(h);
    if (why && size)
        why[0] = '\0';
    if (h->ws_damaged) {
        char text[256];
        ck_damage_text(&h->ws_damage, h->ws_damage_floats, text, sizeof text);
        if (why)
            snprintf(why, size, "workspace: %s", text);
        ok = 0;
    } else if (h->pf_nested) {
        if (why)
            snprintf(why, size,
                     "called parallel_for from inside a parallel_for chunk");
        ok = 0;
    }
    h->ws_damaged = 0;
    h->pf_nested = 0;
    h->pf_depth = 0;
    h->ws_largest = 0;
    return ok;
}

void ck_host_free(ck_host *h)
{
    ck_buf_free(&h->ws);
}
