/* SPDX-License-Identifier: MIT */
/* The folded followers' map (batch norm, relu; ABI 1.4) over the output
 * of an algorithm that does not apply it tile by tile: one pass over
 * planes it has just written, most of them still in cache. */
#include "conv_impl.h"

/* Below this many elements the pass stays on the calling thread. */
#define CONV_EPILOGUE_PAR_MIN ((size_t)1 << 15)

static void planes(void *arg, size_t p0, size_t p1)
{
    const conv_run *r = arg;
    for (size_t p = p0; p < p1; p++)
        cnn_epilogue_apply(r->ep, (int64_t)(p % (size_t)r->k),
                           r->y + p * (size_t)r->ohw, (size_t)r->ohw);
}

void conv_epilogue_all(conv_run *r)
{
    size_t n = (size_t)(r->n * r->k);
    const cnn_layer_env *env = r->env;
    if (env && env->parallel_for && env->threads > 1 &&
        n * (size_t)r->ohw >= CONV_EPILOGUE_PAR_MIN && n > 1)
        env->parallel_for(env->host, n, planes, r);
    else
        planes(r, 0, n);
}
