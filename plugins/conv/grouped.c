/* SPDX-License-Identifier: MIT */
/* Grouped convolutions that are not depthwise (ResNeXt, RegNet): each
 * group of each image is a convolution of its own, g.c input channels and
 * kg filters, handed to the algorithms of ungrouped layers (direct.c,
 * pointwise.c, ...) instead of one small im2col + GEMM per group.
 *
 * RegNetX-400MF's 16-channel groups, one thread, Zen 4: 400 channels in
 * 25 groups at 7x7, 0.29 -> 0.15 ms; 64 channels in 2 groups at 56x56,
 * 1.67 -> 0.88 ms. The GEMM's M is the group's kg filters (16 there),
 * too few rows for its tiles; the direct kernels block output pixels
 * instead. */
#include "conv_impl.h"

/* A group as a layer of its own, image 0. */
static conv_run group_run(const conv_run *r, int64_t img, int64_t gi)
{
    const conv_geom *g = &r->g;
    const size_t plane = (size_t)(g->h * g->w), ohw = (size_t)r->ohw;
    const size_t kg = (size_t)r->kg, ckk = (size_t)r->ckk;
    conv_run s = *r;

    s.n = 1;
    s.groups = 1;
    s.cin = g->c;
    s.k = r->kg;
    s.x = r->x + ((size_t)img * (size_t)r->cin + (size_t)gi * (size_t)g->c) *
                     plane;
    s.w = r->w + (size_t)gi * kg * ckk;
    s.b = r->b ? r->b + (size_t)gi * kg : NULL;
    s.y = r->y + ((size_t)img * (size_t)r->k + (size_t)gi * kg) * ohw;
    s.ep = NULL;
    s.epilogue_done = 0;
    return s;
}

conv_algorithm conv_group_algorithm(const conv_run *r)
{
    conv_run s = group_run(r, 0, 0);
    return conv_pick_ungrouped(&s);
}

int conv_grouped_applies(const conv_run *r)
{
    /* A group that only the GEMM would take runs faster in the grouped
     * GEMM (conv_gemm.c), which shares one band loop among the groups:
     * ResNeXt's 8-channel groups at stride 2, 0.60 against 1.13 ms. */
    return r->groups > 1 && conv_group_algorithm(r) != CONV_ALG_GEMM;
}

cnn_status conv_grouped_forward(conv_run *r, cnn_errbuf *err)
{
    const size_t kg = (size_t)r->kg;

    for (int64_t img = 0; img < r->n; img++) {
        for (int64_t gi = 0; gi < r->groups; gi++) {
            conv_run s = group_run(r, img, gi);
            cnn_epilogue ep;
            cnn_status st;

            if (r->ep) { /* this group's channels of the map */
                ep = *r->ep;
                ep.channels = r->kg;
                ep.scale += (size_t)gi * kg;
                ep.shift += (size_t)gi * kg;
                s.ep = &ep;
            }
            st = conv_forward_ungrouped(&s, NULL, err);
            if (st != CNN_OK)
                return st;
            if (s.ep && !s.epilogue_done)
                conv_epilogue_all(&s);
        }
    }
    r->epilogue_done = 1;
    return CNN_OK;
}
