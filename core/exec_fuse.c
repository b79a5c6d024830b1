/* SPDX-License-Identifier: MIT */
#include "exec_fuse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context_internal.h"
#include "hook_site_internal.h"

static int abi_minor(const cnn_layer_info *li)
{
    return (int)CNN_LAYER_ABI_MINOR_OF(li->descriptor->abi_version);
}

static int accepts_epilogue(const cnn_layer_info *li)
{
    return abi_minor(li) >= 4 &&
           (li->descriptor->flags & CNN_LAYER_FLAG_ACCEPTS_EPILOGUE) &&
           li->output_shape.rank >= 2;
}

static int describes_epilogue(const cnn_layer_info *li)
{
    return abi_minor(li) >= 4 && li->descriptor->epilogue && li->n_inputs == 1;
}

static int clamps(const cnn_epilogue *ep)
{
    return ep->lo > -INFINITY || ep->hi < INFINITY;
}

/* e := f after e, when the result is again one epilogue: an affine f only
 * before any clamp, two clamps only when their ranges meet. */
static int compose(cnn_epilogue *e, const cnn_epilogue *f)
{
    float lo = e->lo > f->lo ? e->lo : f->lo;
    float hi = e->hi < f->hi ? e->hi : f->hi;
    if (f->affine && clamps(e))
        return 0;
    if (clamps(e) && clamps(f) && !(lo <= hi))
        return 0;
    if (f->affine) {
        for (int64_t c = 0; c < e->channels; c++) {
            e->shift[c] = e->shift[c] * f->scale[c] + f->shift[c];
            e->scale[c] *= f->scale[c];
        }
        e->affine = 1;
    }
    e->lo = lo;
    e->hi = hi;
    return 1;
}

/* Asks follower c to describe itself into *scratch (its channel count and
 * arrays set) and composes it into *e. 1: fused; 0: not expressible. */
static int add_follower(const cnn_layer_info *info, cnn_params *params,
                        size_t c, cnn_epilogue *e, cnn_epilogue *scratch,
                        char *message, size_t size)
{
    const cnn_layer_info *li = &info[c];
    cnn_errbuf err = {message, size};
    size_t count = 0, first = params ? cnn_params_layer_first(params, c, &count) : 0;
    const cnn_tensor *values = count ? cnn_params_value(params, first) : NULL;
    cnn_hook_site site = {li->name, li->type, cnn_plugin_path(li->plugin),
                          "epilogue"};
    const cnn_hook_site *prev;
    cnn_status st;
    cnn_epilogue_identity(scratch);
    message[0] = '\0';
    prev = cnn_hook_site_enter(&site);
    st = li->descriptor->epilogue(li->layer, values, li->n_params, scratch,
                                  &err);
    cnn_hook_site_leave(prev);
    if (st != CNN_OK)
        return 0;
    /* The arrays decide, whatever the hook set the flag to. */
    for (int64_t k = 0; k < scratch->channels && !scratch->affine; k++)
        scratch->affine = scratch->scale[k] != 1.0f || scratch->shift[k] != 0.0f;
    return compose(e, scratch);
}

static int runs_on(const cnn_layer_info *a, const cnn_layer_info *b)
{
    if (a->output_shape.rank != b->output_shape.rank)
        return 0;
    for (int32_t d = 1; d < a->output_shape.rank; d++)
        if (a->output_shape.dims[d] != b->output_shape.dims[d])
            return 0;
    return 1;
}

/* The only layer that reads k, or -1. */
static int32_t only_reader(const cnn_layer_info *info, size_t n, size_t k)
{
    int32_t found = -1;
    for (size_t c = k + 1; c < n; c++)
        for (uint32_t j = 0; j < info[c].n_inputs; j++)
            if (info[c].inputs[j] == (int32_t)k) {
                if (found >= 0)
                    return -1;
                found = (int32_t)c;
            }
    return found;
}

static int fusion_disabled(void)
{
    const char *v = getenv("CNN_EXEC_NO_FUSION");
    return v && strcmp(v, "1") == 0;
}

/* Walks the parameters of producer p's followers in order: counts them
 * (snap NULL), copies them into its snapshot (copy 1), or compares them
 * with it (copy 0). Returns 0 on a difference, else 1; *floats (may be
 * NULL) gets how many floats they hold. */
static int follower_params(const cnn_fusion *f, cnn_params *params, size_t p,
                           float *snap, int copy, size_t *floats)
{
    size_t at = 0;
    for (size_t c = p + 1; params && c <= (size_t)f->chain_end[p]; c++) {
        size_t count, first;
        if (f->fused_into[c] != (int32_t)p)
            continue;
        first = cnn_params_layer_first(params, c, &count);
        for (size_t i = 0; i < count; i++) {
            const cnn_tensor *t = cnn_params_value(params, first + i);
            size_t n = cnn_shape_numel(&t->shape);
            if (snap && copy)
                memcpy(snap + at, t->data, n * sizeof *snap);
            else if (snap && memcmp(snap + at, t->data, n * sizeof *snap) != 0)
                return 0;
            at += n;
        }
    }
    if (floats)
        *floats = at;
    return 1;
}

static cnn_status plan_snapshots(cnn_context *ctx, cnn_fusion *f,
                                 cnn_params *params)
{
    size_t total = 0;
    f->seen_at = calloc(f->n, sizeof *f->seen_at);
    f->seen_valid = calloc(f->n, sizeof *f->seen_valid);
    if (!f->seen_at || !f->seen_valid)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory planning fusion");
    for (size_t p = 0; p < f->n; p++)
        if (f->chain_end[p] >= 0) {
            size_t floats;
            follower_params(f, params, p, NULL, 0, &floats);
            f->seen_at[p] = total;
            total += floats;
        }
    f->seen = malloc((total ? total : 1) * sizeof *f->seen);
    if (!f->seen)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory planning fusion");
    return CNN_OK;
}

cnn_status cnn_fusion_plan(cnn_context *ctx, cnn_fusion *f,
                           const cnn_layer_info *info, size_t n,
                           cnn_params *params, cnn_fusion_free_fn may_replace,
                           void *user)
{
    size_t total = 0, used = 0, widest = 0;
    float *scratch_floats;
    char message[CNN_MESSAGE_MAX];

    memset(f, 0, sizeof *f);
    f->n = n;
    f->fused_into = malloc(n * sizeof *f->fused_into);
    f->chain_end = malloc(n * sizeof *f->chain_end);
    f->epi = calloc(n, sizeof *f->epi);
    if (!f->fused_into || !f->chain_end || !f->epi)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory planning fusion");
    for (size_t l = 0; l < n; l++)
        f->fused_into[l] = f->chain_end[l] = -1;
    if (fusion_disabled())
        return CNN_OK;
    for (size_t l = 0; l < n; l++)
        if (accepts_epilogue(&info[l])) {
            size_t c = (size_t)info[l].output_shape.dims[1];
            total += 2 * c;
            widest = c > widest ? c : widest;
        }
    if (!total)
        return CNN_OK;
    f->floats = malloc((total + 2 * widest) * sizeof *f->floats);
    if (!f->floats)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory planning fusion");
    scratch_floats = f->scratch = f->floats + total;
    for (size_t p = 0; p < n; p++) {
        cnn_epilogue *e = &f->epi[p];
        cnn_epilogue scratch;
        size_t cur = p;
        if (!accepts_epilogue(&info[p]) || f->fused_into[p] >= 0)
            continue;
        e->channels = info[p].output_shape.dims[1];
        e->scale = f->floats + used;
        e->shift = e->scale + e->channels;
        used += 2 * (size_t)e->channels;
        scratch = *e;
        scratch.scale = scratch_floats;
        scratch.shift = scratch_floats + e->channels;
        cnn_epilogue_identity(e);
        for (;;) {
            int32_t c = only_reader(info, n, cur);
            if (c < 0 || !may_replace(user, cur) ||
                !describes_epilogue(&info[c]) || info[c].inputs[0] != (int32_t)cur ||
                !runs_on(&info[p], &info[c]) ||
                !add_follower(info, params, (size_t)c, e, &scratch, message,
                              sizeof message))
                break;
            f->fused_into[c] = (int32_t)p;
            f->chain_end[p] = c;
            cur = (size_t)c;
        }
    }
    return plan_snapshots(ctx, f, params);
}

cnn_status cnn_fusion_refresh(cnn_context *ctx, cnn_fusion *f,
                              const cnn_layer_info *info, cnn_params *params,
                              size_t p)
{
    cnn_epilogue *e = &f->epi[p];
    cnn_epilogue scratch = *e;
    char message[CNN_MESSAGE_MAX];
    float *snap = f->seen + f->seen_at[p];
    if (f->seen_valid[p] && follower_params(f, params, p, snap, 0, NULL))
        return CNN_OK; /* the same weights as last time */
    f->seen_valid[p] = 0;
    scratch.scale = f->scratch;
    scratch.shift = f->scratch + e->channels;
    cnn_epilogue_identity(e);
    for (size_t c = p + 1; c <= (size_t)f->chain_end[p]; c++) {
        if (f->fused_into[c] != (int32_t)p)
            continue;
        if (!add_follower(info, params, c, e, &scratch, message,
                          sizeof message))
            return cnn_fail(ctx, CNN_ERR_PLUGIN,
                            "layer '%s' (%s): its inference forward, folded "
                            "into '%s' (%s), could no longer be described: %s",
                            info[c].name, info[c].type, info[p].name,
                            info[p].type,
                            message[0] ? message : "no message");
    }
    follower_params(f, params, p, snap, 1, NULL);
    f->seen_valid[p] = 1;
    return CNN_OK;
}

void cnn_fusion_release(cnn_fusion *f)
{
    free(f->fused_into);
    free(f->chain_end);
    free(f->epi);
    free(f->floats);
    free(f->seen);
    free(f->seen_at);
    free(f->seen_valid);
    memset(f, 0, sizeof *f);
}
