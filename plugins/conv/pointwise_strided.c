/* SPDX-License-Identifier: MIT */
/* 1x1 convolutions with a stride and no padding (the projections of
 * ResNet's and RegNet's downsampling blocks): the pixels the stride keeps
 * are gathered into a dense image in the workspace, which the pointwise
 * kernel (pointwise.c) then multiplies like any 1x1 stride-1 layer, bias
 * and folded followers in its registers. Before, these went to the
 * filter-lanes kernel (with a params token) or im2col, neither made for a
 * kernel of one tap. Planes of at most 64 output pixels stay with filter
 * lanes, as 1x1 stride-1 ones do (filter_lanes.c). */
#include "conv_impl.h"

#define PWS_MIN_PIXELS 64

/* The stride-1 layer over the gathered image. */
static conv_run dense_run(const conv_run *r, const float *gathered)
{
    conv_run s = *r;
    s.x = gathered;
    s.g.h = r->g.oh;
    s.g.w = r->g.ow;
    s.g.sh = s.g.sw = 1;
    return s;
}

int conv_pws_applies(const conv_run *r)
{
    const conv_geom *g = &r->g;
    if (!(r->groups == 1 && g->kh == 1 && g->kw == 1 &&
          (g->sh > 1 || g->sw > 1) && g->ph == 0 && g->pw == 0 &&
          g->pb == 0 && g->pr == 0 && g->dh == 1 && g->dw == 1 &&
          r->ohw > PWS_MIN_PIXELS))
        return 0;
    conv_run s = dense_run(r, r->x);
    return conv_pw_applies(&s);
}

cnn_status conv_pws_forward(conv_run *r, cnn_errbuf *err)
{
    const conv_geom *g = &r->g;
    const cnn_layer_env *env = r->env;
    const size_t planes = (size_t)(r->n * g->c), oh = (size_t)g->oh;
    const size_t ow = (size_t)g->ow, ih = (size_t)g->h, iw = (size_t)g->w;
    const size_t sh = (size_t)g->sh, sw = (size_t)g->sw;
    float *buf = env && env->workspace
                     ? env->workspace(env->host, planes * oh * ow)
                     : NULL;
    if (!buf) /* short of workspace */
        return conv_gemm_forward(r, err);
    for (size_t p = 0; p < planes; p++)
        for (size_t y = 0; y < oh; y++) {
            const float *src = r->x + (p * ih + y * sh) * iw;
            float *dst = buf + (p * oh + y) * ow;
            for (size_t x = 0; x < ow; x++)
                dst[x] = src[x * sw];
        }
    conv_run s = dense_run(r, buf);
    cnn_status st = conv_pw_forward(&s, err);
    r->epilogue_done = s.epilogue_done;
    return st;
}
