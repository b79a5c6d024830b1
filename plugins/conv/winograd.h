/* SPDX-License-Identifier: MIT */
/* What winograd.c (forward, dx) shares with winograd_dw.c (dw): the job,
 * its plan and the input transform. The algorithm is described in
 * winograd.c. */
#ifndef CNN_PLUGIN_CONV_WINOGRAD_H
#define CNN_PLUGIN_CONV_WINOGRAD_H

#include <stddef.h>
#include <stdint.h>

#include "conv_impl.h"

/* Smallest channel counts for which the transforms pay for themselves:
 * below, the GEMMs are too thin (measured on VGG's first layer, C = 3). */
#ifndef WINO_MIN_C
#define WINO_MIN_C 16
#endif
#ifndef WINO_MIN_K
#define WINO_MIN_K 16
#endif
/* Below this many output pixels (over the batch) the filter transform,
 * which costs the same whatever the batch, outweighs the saving: measured
 * break-even about 210 pixels for 512 channels, so VGG's 14x14 layers at
 * batch 1 stay on im2col and take Winograd from batch 2. */
#ifndef WINO_MIN_PIXELS
#define WINO_MIN_PIXELS 256
#endif
/* Workspace caps, in floats: the transformed filters of one group of output
 * channels (8 MiB; VGG's 512x512 layers take two groups, redoing the cheap
 * input transform, which keeps batch-1 inference within its memory budget)
 * and one slot's transformed tiles and products (8 MiB: blocks of 128 to
 * 512 tiles, where the GEMMs run near OpenBLAS's peak). */
#ifndef WINO_U_FLOATS
#define WINO_U_FLOATS ((size_t)1 << 21)
#endif
#ifndef WINO_SLOT_FLOATS
#define WINO_SLOT_FLOATS ((size_t)1 << 21)
#endif

/* One Winograd pass: forward (x -> y with w), input gradient (dy -> dx
 * with w rotated and transposed) or weight gradient (x and dy -> dw). */
typedef struct wino_job {
    const float *in; /* [n, ci, ih, iw] */
    float *out;      /* [n, co, oh, ow] */
    const float *w;  /* the layer's weight [K, C, taps, taps] */
    const float *b;  /* forward bias or NULL */
    const cnn_epilogue *ep; /* 6x6 tiles: folded followers, or NULL */
    int transpose;   /* 1: filter (co, ci) is w[ci][co] rotated 180 degrees */
    int tile;        /* outputs per tile side: 2 (0 means 2) or 4 */
    int taps;        /* filter side: 3 (0 means 3) or 5 */
    int64_t n, ci, ih, iw, co, oh, ow, ph, pw;
    int64_t th, tw;   /* tiles down and across one image */
    int64_t rows_per_block, blocks;
    int64_t kg, g0;   /* output channels [g0, g0 + kg) in this pass */
    size_t slots, slot_floats;
    /* [16][kg][ci] for the group's filters; for the input gradient (one
     * group) [16][K][C], the layer's order, which the GEMMs read
     * transposed. */
    float *u;
    float *ws; /* slot buffers */
    const float *dy; /* weight gradient: dy [n, co, oh, ow] */
    conv_queue queue; /* forward and dx: blocks */
    const cnn_layer_env *env;
} wino_job;

/* T [16][9]: U = T g for a 3x3 filter g (row-major 9 floats); with
 * `rotate`, for g rotated by 180 degrees. */
void wino_filter_matrix(float t[16 * 9], int rotate);

/* Outputs per tile side (2 or 4), the filter's side (3 or 5) and the
 * transformed points per tile ((tile + taps - 1)^2: 16 or 36). */
static inline int64_t wino_m(const wino_job *j)
{
    return j->tile ? j->tile : 2;
}
static inline int64_t wino_taps(const wino_job *j)
{
    return j->taps ? j->taps : 3;
}
static inline size_t wino_points(const wino_job *j)
{
    int64_t side = wino_m(j) + wino_taps(j) - 1;
    return (size_t)(side * side);
}

/* Tile-row stride of a block: tw plus the dummy tiles that let a row's
 * last tile read its patch's columns from the row's own phase arrays
 * ((patch - 1) / tile: one, or two for 5x5 filters). */
size_t wino_tile_stride(const wino_job *j);

/* A job over the layer's own geometry (x [n, c, h, w] -> y [n, k, oh, ow],
 * its padding); the caller sets what else its pass needs. */
void wino_job_init(wino_job *j, const conv_run *r);

/* Runs j's blocks (planned by wino_plan, workspace in j->ws) on its slots:
 * input transform, the GEMMs, output transform. */
void wino_run_blocks(wino_job *j);

/* Plans blocks, slots and slot sizes (slot_floats gets `extra` more floats
 * per slot) for j's geometry; the caller sets kg first. */
void wino_plan(wino_job *j, const conv_run *r, size_t extra);

/* V[xi][c][col + k] = (B^T d B)[xi] for tile rows [ty0, ty0 + rows) of
 * image img, k = row * wino_tile_stride + tx; scratch of
 * wino_scratch_floats. */
void wino_input_segment(const wino_job *j, size_t img, int64_t ty0,
                        size_t rows, float *v, size_t ldv, size_t col,
                        float *scratch);
size_t wino_scratch_floats(const wino_job *j, size_t rows);
/* The same for 6x6 tiles (winograd6.c), with their output transform. */
size_t wino6_scratch_floats(const wino_job *j, size_t rows);
void wino6_input_segment(const wino_job *j, size_t img, int64_t ty0,
                         size_t rows, float *v, size_t ldv, size_t col,
                         float *scratch);
void wino6_output_segment(const wino_job *j, size_t img, int64_t ty0,
                          size_t rows, const float *m, size_t ldm, size_t col,
                          float *scratch);

#endif
