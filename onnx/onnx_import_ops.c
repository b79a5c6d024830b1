/* SPDX-License-Identifier: MIT */
/* Import handlers, one per ONNX op family: each checks the node's inputs
 * and attributes, computes the output shape, and adds the layer (with its
 * hyperparameters as flow-style YAML and its weights in PyTorch's layouts)
 * or, for ops that change nothing, binds its output to its input. Layer
 * hyperparameters equal to the plugin's default are left out, so the YAML
 * reads like a hand-written graph. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* ---- Small helpers ------------------------------------------------------ */

static void shape_text(const cnn_shape *s, char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, "[N");
    for (int32_t d = 1; d < s->rank && len + 24 < size; d++)
        len += (size_t)snprintf(buf + len, size - len, ", %lld",
                                (long long)s->dims[d]);
    snprintf(buf + len, size - len, "]");
}

static cnn_status need_rank(onnx_importer *im, const Onnx__NodeProto *node,
                            const onnx_value *x, int32_t rank)
{
    char s[160];
    if (x->shape.rank == rank)
        return CNN_OK;
    shape_text(&x->shape, s, sizeof s);
    return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                          "input '%s' is %s; this op is supported on %s",
                          x->name, s,
                          rank == 4 ? "[N, C, H, W] tensors" : "[N, K] matrices");
}

/* A list of ints that moved from attribute `name` to input `input` at
 * opset `since` (Squeeze's and ReduceMean's axes, Slice's bounds, Split's
 * sizes): up to max into out, *n = 0 when absent. */
static cnn_status ints_attr_or_input(onnx_importer *im,
                                     const Onnx__NodeProto *node,
                                     const char *name, size_t input,
                                     int64_t since, int64_t *out, size_t max,
                                     size_t *n)
{
    *n = 0;
    if (im->opset < since)
        return onnx_attr_ints(im, node, name, out, max, n);
    if (!onnx_has_input(node, input))
        return CNN_OK;
    onnx_const *c = onnx_input_const(im, node, input, ONNX_C_INT);
    if (!c)
        return cnn_context_status(im->ctx);
    if (c->numel > max)
        return onnx_node_fail(im, node, CNN_ERR_FORMAT, "too many %s (%zu)",
                              name, c->numel);
    *n = c->numel;
    memcpy(out, c->i, *n * sizeof *out);
    return CNN_OK;
}

/* ", key: a" or ", key: [a, b]"; nothing when both equal dflt. */
static void hp_int2(onnx_layer *l, const char *key, int64_t a, int64_t b,
                    int64_t dflt)
{
    if (a == dflt && b == dflt)
        return;
    if (a == b)
        onnx_layer_hp(l, ", %s: %lld", key, (long long)a);
    else
        onnx_layer_hp(l, ", %s: [%lld, %lld]", key, (long long)a,
                      (long long)b);
}

static void hp_padding(onnx_layer *l, const cnn_padding *p)
{
    if (p->mode == CNN_PAD_SAME_UPPER) {
        onnx_layer_hp(l, ", padding: same");
    } else if (p->mode == CNN_PAD_SAME_LOWER) {
        onnx_layer_hp(l, ", padding: same_lower");
    } else if (p->top == p->bottom && p->left == p->right) {
        hp_int2(l, "padding", p->top, p->left, 0);
    } else {
        onnx_layer_hp(l, ", padding: [%lld, %lld, %lld, %lld]",
                      (long long)p->top, (long long)p->left,
                      (long long)p->bottom, (long long)p->right);
    }
}

static void hp_float(onnx_layer *l, const char *key, float v, float dflt)
{
    if (v != dflt)
        onnx_layer_hp(l, ", %s: %.9g", key, (double)v);
}

/* Outputs past the first (pool indices, batch-norm statistics in
 * training, a dropout mask) are not computed by cnnrun. */
static cnn_status only_first_output(onnx_importer *im,
                                    const Onnx__NodeProto *node)
{
    for (size_t i = 1; i < node->n_output; i++)
        if (node->output[i] && node->output[i][0] &&
            onnx_table_get(im->use_counts, node->output[i]) > 0)
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "output %zu ('%s') is used; cnnrun computes "
                                  "only the first output of this op", i,
                                  node->output[i]);
    return CNN_OK;
}

/* The node's output is layer `layer`'s, seen channels-last when
 * channels_last (the layer itself is NCHW). */
static cnn_status bind_layer_as(onnx_importer *im, const Onnx__NodeProto *node,
                                int32_t layer, int channels_last)
{
    cnn_status st = onnx_bind_layer(im, node, 0, layer);
    onnx_value *v;
    if (st != CNN_OK)
        return st;
    if (channels_last && (v = onnx_value_find(im, node->output[0]))) {
        const cnn_shape *s = &im->layers[layer].shape;
        v->channels_last = 1;
        v->shape = cnn_shape_make(4, (const int64_t[]){s->dims[0], s->dims[2],
                                                       s->dims[3], s->dims[1]});
    }
    return CNN_OK;
}

cnn_status onnx_bind_new_layer(onnx_importer *im, const Onnx__NodeProto *node,
                               const onnx_value *like)
{
    cnn_status st = only_first_output(im, node);
    if (st != CNN_OK)
        return st;
    return bind_layer_as(im, node, (int32_t)im->n_layers - 1,
                         like && like->channels_last);
}

/* Elementwise layers keep their input's layout (channels-last stays). */
static cnn_status bind_new_layer(onnx_importer *im,
                                 const Onnx__NodeProto *node)
{
    const onnx_value *x =
        onnx_has_input(node, 0) ? onnx_value_find(im, node->input[0]) : NULL;
    return onnx_bind_new_layer(im, node, x);
}

int onnx_is_graph_output(const onnx_importer *im, const char *name)
{
    for (size_t i = 0; i < im->graph->n_output; i++)
        if (im->graph->output[i]->name &&
            strcmp(im->graph->output[i]->name, name) == 0)
            return 1;
    return 0;
}

static int is_graph_output(const onnx_importer *im, const onnx_value *v)
{
    return v->name && onnx_is_graph_output(im, v->name);
}

/* 1 when the layer's output is read once in all and is no graph output:
 * only then may its reader rewrite it into something else. A layer with
 * aliases (Identity, Dropout, a no-op reshape) may have readers under
 * other names, so it never qualifies. */
int onnx_read_once(onnx_importer *im, const onnx_value *v)
{
    return v->layer >= 0 && im->layers[v->layer].n_names == 1 &&
           onnx_value_uses(im, v) == 1 && !is_graph_output(im, v);
}

/* ---- Windows: conv and pools -------------------------------------------- */

typedef struct window {
    int64_t k[2], stride[2], dilation[2];
    cnn_padding pad;
    int ceil_mode;
    int64_t out[2];
} window;

/* Reads kernel_shape (unless given), strides, dilations, pads and auto_pad
 * and computes the output size for x. */
static cnn_status read_window(onnx_importer *im, const Onnx__NodeProto *node,
                              const onnx_value *x, window *w, int kernel_given)
{
    int64_t v[4];
    size_t n;
    char autopad[32];
    cnn_status st;

    if (!kernel_given) {
        if ((st = onnx_attr_ints(im, node, "kernel_shape", v, 2, &n)) != CNN_OK)
            return st;
        if (n != 2)
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "kernel_shape must have 2 values (2-D "
                                  "windows), it has %zu", n);
        w->k[0] = v[0];
        w->k[1] = v[1];
    }
    w->stride[0] = w->stride[1] = w->dilation[0] = w->dilation[1] = 1;
    if ((st = onnx_attr_ints(im, node, "strides", v, 2, &n)) != CNN_OK)
        return st;
    if (n == 2) {
        w->stride[0] = v[0];
        w->stride[1] = v[1];
    } else if (n)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "strides must have 2 values, it has %zu", n);
    if ((st = onnx_attr_ints(im, node, "dilations", v, 2, &n)) != CNN_OK)
        return st;
    if (n == 2) {
        w->dilation[0] = v[0];
        w->dilation[1] = v[1];
    } else if (n)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "dilations must have 2 values, it has %zu", n);
    memset(&w->pad, 0, sizeof w->pad);
    if ((st = onnx_attr_ints(im, node, "pads", v, 4, &n)) != CNN_OK)
        return st;
    if (n == 4) {
        w->pad.top = v[0];
        w->pad.left = v[1];
        w->pad.bottom = v[2];
        w->pad.right = v[3];
    } else if (n)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "pads must have 4 values, it has %zu", n);
    if ((st = onnx_attr_string(im, node, "auto_pad", "NOTSET", autopad,
                               sizeof autopad)) != CNN_OK)
        return st;
    if (strcmp(autopad, "SAME_UPPER") == 0)
        w->pad.mode = CNN_PAD_SAME_UPPER;
    else if (strcmp(autopad, "SAME_LOWER") == 0)
        w->pad.mode = CNN_PAD_SAME_LOWER;
    else if (strcmp(autopad, "VALID") == 0)
        memset(&w->pad, 0, sizeof w->pad);
    else if (strcmp(autopad, "NOTSET") != 0 && autopad[0])
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "auto_pad '%s' is not one of NOTSET, VALID, "
                              "SAME_UPPER, SAME_LOWER", autopad);
    for (int a = 0; a < 2; a++) {
        if (w->k[a] < 1 || w->k[a] > 1024 || w->stride[a] < 1 ||
            w->stride[a] > 1024 || w->dilation[a] < 1 || w->dilation[a] > 1024)
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "kernel %lldx%lld, stride %lldx%lld, "
                                  "dilation %lldx%lld: each must be 1 to 1024",
                                  (long long)w->k[0], (long long)w->k[1],
                                  (long long)w->stride[0],
                                  (long long)w->stride[1],
                                  (long long)w->dilation[0],
                                  (long long)w->dilation[1]);
    }
    int64_t own[4] = {w->pad.top, w->pad.left, w->pad.bottom, w->pad.right};
    if (x->zero_padded) { /* the Pad's zeros become the window's padding */
        if (w->pad.mode != CNN_PAD_EXPLICIT)
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "auto_pad '%s' after a Pad is not "
                                  "supported (explicit pads are)", autopad);
        w->pad.top += x->zero_pad[0];
        w->pad.left += x->zero_pad[1];
        w->pad.bottom += x->zero_pad[2];
        w->pad.right += x->zero_pad[3];
    }
    {
        int64_t p[4] = {w->pad.top, w->pad.left, w->pad.bottom, w->pad.right};
        for (int a = 0; a < 4; a++)
            if (p[a] < 0 || p[a] > 65536)
                return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                      "padding %lld is outside 0..65536",
                                      (long long)p[a]);
    }
    {
        cnn_padding r = w->pad;
        int64_t h = x->shape.dims[2], wd = x->shape.dims[3];
        if (x->zero_padded) { /* the producer's own size */
            h -= x->zero_pad[0] + x->zero_pad[2];
            wd -= x->zero_pad[1] + x->zero_pad[3];
        }
        cnn_padding_resolve(&r, h, wd,
                            w->dilation[0] * (w->k[0] - 1) + 1,
                            w->dilation[1] * (w->k[1] - 1) + 1, w->stride[0],
                            w->stride[1]);
        w->out[0] = cnn_window_out_ex(h, w->k[0], w->stride[0],
                                      r.top, r.bottom, w->dilation[0],
                                      w->ceil_mode);
        w->out[1] = cnn_window_out_ex(wd, w->k[1], w->stride[1],
                                      r.left, r.right, w->dilation[1],
                                      w->ceil_mode);
    }
    /* With ceil_mode a last window that starts in the padding is dropped;
     * one that starts in a Pad's zeros is not (they are data). */
    if (x->zero_padded && w->ceil_mode &&
        (cnn_window_out_ex(x->shape.dims[2], w->k[0], w->stride[0], own[0],
                           own[2], w->dilation[0], 1) != w->out[0] ||
         cnn_window_out_ex(x->shape.dims[3], w->k[1], w->stride[1], own[1],
                           own[3], w->dilation[1], 1) != w->out[1]))
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "ceil_mode 1 after a Pad whose zeros hold the "
                              "start of the last window is not supported "
                              "(folded into the padding, that window would "
                              "be dropped)");
    if (w->out[0] < 1 || w->out[1] < 1)
        return onnx_node_fail(im, node, CNN_ERR_SHAPE,
                              "a %lldx%lld window does not fit the padded "
                              "%lldx%lld input", (long long)w->k[0],
                              (long long)w->k[1], (long long)x->shape.dims[2],
                              (long long)x->shape.dims[3]);
    return CNN_OK;
}

cnn_status onnx_import_conv(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *x = onnx_input_dynamic(im, node, 0);
    onnx_const *wt, *b = NULL;
    int64_t group, k[2];
    size_t n;
    window w;
    onnx_layer *l;
    cnn_shape out;
    cnn_status st;

    if (!x || !(wt = onnx_input_const(im, node, 1, ONNX_C_FLOAT)))
        return cnn_context_status(im->ctx);
    if ((st = need_rank(im, node, x, 4)) != CNN_OK)
        return st;
    if (onnx_has_input(node, 2) &&
        !(b = onnx_input_const(im, node, 2, ONNX_C_FLOAT)))
        return cnn_context_status(im->ctx);
    if ((st = onnx_attr_int(im, node, "group", 1, &group)) != CNN_OK)
        return st;
    if (wt->rank != 4)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "weight has rank %d; 2-D convolutions have "
                              "[K, C/group, kh, kw] weights", (int)wt->rank);
    if (group < 1 || x->shape.dims[1] % group || wt->dims[0] % group)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "group %lld does not divide the %lld input "
                              "channels and %lld filters", (long long)group,
                              (long long)x->shape.dims[1],
                              (long long)wt->dims[0]);
    if (wt->dims[1] * group != x->shape.dims[1])
        return onnx_node_fail(im, node, CNN_ERR_SHAPE,
                              "weight [%lld, %lld, %lld, %lld] does not fit "
                              "%lld input channels in %lld groups",
                              (long long)wt->dims[0], (long long)wt->dims[1],
                              (long long)wt->dims[2], (long long)wt->dims[3],
                              (long long)x->shape.dims[1], (long long)group);
    if ((st = onnx_attr_ints(im, node, "kernel_shape", k, 2, &n)) != CNN_OK)
        return st;
    if (n && (n != 2 || k[0] != wt->dims[2] || k[1] != wt->dims[3]))
        return onnx_node_fail(im, node, CNN_ERR_SHAPE,
                              "kernel_shape disagrees with the weight's "
                              "%lldx%lld", (long long)wt->dims[2],
                              (long long)wt->dims[3]);
    w.k[0] = wt->dims[2];
    w.k[1] = wt->dims[3];
    w.ceil_mode = 0;
    if ((st = read_window(im, node, x, &w, 1)) != CNN_OK)
        return st;
    if (b && (b->rank != 1 || b->dims[0] != wt->dims[0]))
        return onnx_node_fail(im, node, CNN_ERR_SHAPE,
                              "bias has %zu values for %lld filters",
                              b->numel, (long long)wt->dims[0]);
    out = cnn_shape_make(4, (const int64_t[]){1, wt->dims[0], w.out[0],
                                              w.out[1]});
    l = onnx_layer_add(im, node, "conv", &x, 1, &out, ", filters: %lld",
                       (long long)wt->dims[0]);
    if (!l)
        return cnn_context_status(im->ctx);
    hp_int2(l, "kernel", w.k[0], w.k[1], -1);
    hp_int2(l, "stride", w.stride[0], w.stride[1], 1);
    hp_padding(l, &w.pad);
    hp_int2(l, "dilation", w.dilation[0], w.dilation[1], 1);
    if (group != 1)
        onnx_layer_hp(l, ", groups: %lld", (long long)group);
    if (!b)
        onnx_layer_hp(l, ", bias: false");
    if ((st = onnx_layer_param(im, l, "weight", onnx_const_copy(im, wt), 4,
                               wt->dims)) != CNN_OK)
        return st;
    if (b && (st = onnx_layer_param(im, l, "bias", onnx_const_copy(im, b), 1,
                                    b->dims)) != CNN_OK)
        return st;
    return bind_new_layer(im, node);
}

static cnn_status import_pool(onnx_importer *im, const Onnx__NodeProto *node,
                              int is_max)
{
    onnx_value *x = onnx_input_dynamic(im, node, 0);
    int64_t ceil_mode = 0, storage = 0, include_pad = 0;
    window w;
    onnx_layer *l;
    cnn_shape out;
    cnn_status st;

    if (!x)
        return cnn_context_status(im->ctx);
    if ((st = need_rank(im, node, x, 4)) != CNN_OK ||
        (st = onnx_attr_int(im, node, "ceil_mode", 0, &ceil_mode)) != CNN_OK ||
        (st = onnx_attr_int(im, node, "storage_order", 0, &storage)) != CNN_OK ||
        (st = onnx_attr_int(im, node, "count_include_pad", 0,
                            &include_pad)) != CNN_OK)
        return st;
    if (storage != 0)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "storage_order %lld is not supported (only 0, "
                              "row-major indices)", (long long)storage);
    if ((ceil_mode != 0 && ceil_mode != 1) ||
        (include_pad != 0 && include_pad != 1))
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "ceil_mode and count_include_pad must be 0 or "
                              "1");
    w.ceil_mode = (int)ceil_mode;
    if ((st = read_window(im, node, x, &w, 0)) != CNN_OK)
        return st;
    if (x->zero_padded && !include_pad &&
        (w.pad.top != x->zero_pad[0] || w.pad.left != x->zero_pad[1] ||
         w.pad.bottom != x->zero_pad[2] || w.pad.right != x->zero_pad[3]))
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "pads of its own with count_include_pad 0 "
                              "after a Pad are not supported (the Pad's "
                              "zeros count in the averages, its own pads "
                              "would not)");
    if (x->zero_padded) { /* the Pad's zeros are values: they count */
        include_pad = 1;
        /* The pooling layers take at most half the window as padding
         * (include/cnn/pool_window.h): a wider Pad is refused here, not
         * written out as a graph that does not load. */
        if (2 * w.pad.top > w.k[0] || 2 * w.pad.bottom > w.k[0] ||
            2 * w.pad.left > w.k[1] || 2 * w.pad.right > w.k[1])
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "a Pad [top %lld, left %lld, bottom %lld, "
                                  "right %lld] (with the pool's own pads) "
                                  "wider than half the %lldx%lld window is "
                                  "not supported",
                                  (long long)w.pad.top, (long long)w.pad.left,
                                  (long long)w.pad.bottom,
                                  (long long)w.pad.right, (long long)w.k[0],
                                  (long long)w.k[1]);
    }
    if (!is_max && (w.dilation[0] != 1 || w.dilation[1] != 1))
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "average pooling with dilation is not "
                              "supported");
    out = cnn_shape_make(4, (const int64_t[]){1, x->shape.dims[1], w.out[0],
                                              w.out[1]});
    l = onnx_layer_add(im, node, is_max ? "maxpool" : "avgpool", &x, 1, &out,
                       "%s", "");
    if (!l)
        return cnn_context_status(im->ctx);
    hp_int2(l, "size", w.k[0], w.k[1], -1);
    /* ONNX's default stride is 1, cnnrun's the window: always written. */
    hp_int2(l, "stride", w.stride[0], w.stride[1], -1);
    hp_padding(l, &w.pad);
    if (is_max)
        hp_int2(l, "dilation", w.dilation[0], w.dilation[1], 1);
    if (ceil_mode)
        onnx_layer_hp(l, ", ceil_mode: true");
    if (!is_max)
        onnx_layer_hp(l, ", count_include_pad: %s",
                      include_pad ? "true" : "false");
    return bind_new_layer(im, node);
}

cnn_status onnx_import_maxpool(onnx_importer *im, const Onnx__NodeProto *node)
{
    return import_pool(im, node, 1);
}

cnn_status onnx_import_avgpool(onnx_importer *im, const Onnx__NodeProto *node)
{
    return import_pool(im, node, 0);
}

cnn_status onnx_import_global_pool(onnx_importer *im,
                                   const Onnx__NodeProto *node)
{
    onnx_value *x = onnx_input_dynamic(im, node, 0);
    const onnx_op *op = onnx_op_for_import(node->op_type);
    cnn_shape out;
    cnn_status st;
    if (!x)
        return cnn_context_status(im->ctx);
    if ((st = need_rank(im, node, x, 4)) != CNN_OK)
        return st;
    out = cnn_shape_make(4, (const int64_t[]){1, x->shape.dims[1], 1, 1});
    if (!onnx_layer_add(im, node, op->layer_type, &x, 1, &out, "%s", ""))
        return cnn_context_status(im->ctx);
    return bind_new_layer(im, node);
}

static cnn_status merge_axes(onnx_importer *im, const Onnx__NodeProto *node,
                             onnx_value *x, int32_t rank, const int64_t *t);

/* ReduceMean and ReduceMax over the spatial axes of [N, C, H, W], as
 * MnasNet's head and squeeze-and-excitation blocks export their pooling:
 * the global pool, then (keepdims 0) a flatten to [N, C]. Axes come from
 * the attribute, or from input 1 from opset 18 on. */
cnn_status onnx_import_reduce_spatial(onnx_importer *im,
                                      const Onnx__NodeProto *node)
{
    onnx_value *x = onnx_input_dynamic(im, node, 0);
    const onnx_op *op = onnx_op_for_import(node->op_type);
    int64_t axes[CNN_MAX_RANK], keepdims;
    size_t n = 0;
    int seen[4] = {0};
    cnn_status st;
    if (!x)
        return cnn_context_status(im->ctx);
    if ((st = onnx_attr_int(im, node, "keepdims", 1, &keepdims)) != CNN_OK ||
        (st = ints_attr_or_input(im, node, "axes", 1, 18, axes, CNN_MAX_RANK,
                                 &n)) != CNN_OK)
        return st;
    if (strcmp(node->op_type, "ReduceMean") == 0 &&
        onnx_norm_reduce_mean(im, node, x, axes, n, keepdims, &st))
        return st;
    if (x->channels_last)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "a reduction of channels-last data (after a "
                              "Transpose perm [0, 2, 3, 1]) is supported "
                              "only over the channels, as a layer norm's "
                              "step");
    if ((st = need_rank(im, node, x, 4)) != CNN_OK)
        return st;
    for (size_t k = 0; k < n; k++) {
        int64_t a = axes[k] < 0 ? axes[k] + 4 : axes[k];
        if (a < 0 || a > 3)
            return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                                  "axis %lld is outside the input's 4 axes",
                                  (long long)axes[k]);
        seen[a] = 1;
    }
    if (n == 0 || seen[0] || seen[1] || !seen[2] || !seen[3])
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "only a reduction over axes 2 and 3 (H and W) "
                              "of [N, C, H, W] is supported");
    cnn_shape pooled =
        cnn_shape_make(4, (const int64_t[]){1, x->shape.dims[1], 1, 1});
    if (!onnx_layer_add(im, node, op->layer_type, &x, 1, &pooled, "%s", ""))
        return cnn_context_status(im->ctx);
    if (keepdims)
        return bind_new_layer(im, node);
    if ((st = only_first_output(im, node)) != CNN_OK)
        return st;
    onnx_value v = {.name = node->output[0],
                    .layer = (int32_t)im->n_layers - 1,
                    .shape = pooled};
    return merge_axes(im, node, &v, 2,
                      (const int64_t[]){1, x->shape.dims[1]});
}

/* ---- Dense: Gemm, MatMul (+ Add) ---------------------------------------- */

static onnx_layer *add_dense(onnx_importer *im, const Onnx__NodeProto *node,
                             onnx_value *x, int64_t units)
{
    cnn_shape out = cnn_shape_make(2, (const int64_t[]){1, units});
    onnx_layer *l = onnx_layer_add(im, node, "dense", &x, 1, &out,
                                   ", units: %lld", (long long)units);
    if (l)
        l->units = units;
    return l;
}

cnn_status onnx_import_gemm(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *a = onnx_input_dynamic(im, node, 0);
    onnx_const *b, *c = NULL;
    int64_t trans_a, trans_b, units, k;
    float alpha, beta;
    onnx_layer *l;
    float *w;
    cnn_status st;

    if (!a || !(b = onnx_input_const(im, node, 1, ONNX_C_FLOAT)))
        return cnn_context_status(im->ctx);
    if (onnx_has_input(node, 2) &&
        !(c = onnx_input_const(im, node, 2, ONNX_C_FLOAT)))
        return cnn_context_status(im->ctx);
    if ((st = need_rank(im, node, a, 2)) != CNN_OK ||
        (st = onnx_attr_int(im, node, "transA", 0, &trans_a)) != CNN_OK ||
        (st = onnx_attr_int(im, node, "transB", 0, &trans_b)) != CNN_OK ||
        (st = onnx_attr_float(im, node, "alpha", 1.0f, &alpha)) != CNN_OK ||
        (st = onnx_attr_float(im, node, "beta", 1.0f, &beta)) != CNN_OK)
        return st;
    if (trans_a)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "transA=1 would multiply across the batch");
    if (b->rank != 2)
        return onnx_node_fail(im, node, CNN_ERR_SHAPE, "B has rank %d, not 2",
                              (int)b->rank);
    units = trans_b ? b->dims[0] : b->dims[1];
    k = trans_b ? b->dims[1] : b->dims[0];
    if (k != a->shape.dims[1])
        return onnx_node_fail(im, node, CNN_ERR_SHAPE,
                              "B [%lld, %lld] (transB=%lld) does not take "
                              "%lld features", (long long)b->dims[0],
                              (long long)b->dims[1], (long long)trans_b,
                              (long long)a->shape.dims[1]);
    if (c && c->numel != 1 && c->numel != (size_t)units)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "C has %zu values; a bias of %lld or one value "
                              "is supported", c->numel, (long long)units);
    if (!(l = add_dense(im, node, a, units)))
        return cnn_context_status(im->ctx);
    /* PyTorch's Linear weight is [out, in]: B itself when transB=1. */
    w = malloc((size_t)(units * k) * sizeof *w + 1);
    if (w)
        for (int64_t o = 0; o < units; o++)
            for (int64_t i = 0; i < k; i++)
                w[o * k + i] = alpha * (trans_b ? b->f[o * k + i]
                                                : b->f[i * units + o]);
    if ((st = onnx_layer_param(im, l, "weight", w, 2,
                               (const int64_t[]){units, k})) != CNN_OK)
        return st;
    if (c) {
        float *bias = malloc((size_t)units * sizeof *bias + 1);
        if (bias)
            for (int64_t o = 0; o < units; o++)
                bias[o] = beta * c->f[c->numel == 1 ? 0 : o];
        if ((st = onnx_layer_param(im, l, "bias", bias, 1, &units)) != CNN_OK)
            return st;
    } else {
        l->dense_without_bias = 1;
    }
    return bind_new_layer(im, node);
}

cnn_status onnx_import_matmul(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *a = onnx_input_dynamic(im, node, 0);
    onnx_const *b;
    onnx_layer *l;
    int64_t units, k;
    float *w;
    cnn_status st;

    if (!a || !(b = onnx_input_const(im, node, 1, ONNX_C_FLOAT)))
        return cnn_context_status(im->ctx);
    if (onnx_norm_matmul(im, node, a, b, &st))
        return st;
    if ((st = need_rank(im, node, a, 2)) != CNN_OK)
        return st;
    if (b->rank != 2 || b->dims[0] != a->shape.dims[1])
        return onnx_node_fail(im, node, CNN_ERR_SHAPE,
                              "the constant operand must be [%lld, M]",
                              (long long)a->shape.dims[1]);
    k = b->dims[0];
    units = b->dims[1];
    if (!(l = add_dense(im, node, a, units)))
        return cnn_context_status(im->ctx);
    w = malloc((size_t)(units * k) * sizeof *w + 1);
    if (w)
        for (int64_t o = 0; o < units; o++)
            for (int64_t i = 0; i < k; i++)
                w[o * k + i] = b->f[i * units + o];
    if ((st = onnx_layer_param(im, l, "weight", w, 2,
                               (const int64_t[]){units, k})) != CNN_OK)
        return st;
    l->dense_without_bias = 1; /* an Add after it may give one */
    return bind_new_layer(im, node);
}

/* ---- Normalisation ------------------------------------------------------- */

cnn_status onnx_import_batchnorm(onnx_importer *im,
                                 const Onnx__NodeProto *node)
{
    static const char *const names[] = {"weight", "bias", "running_mean",
                                        "running_var"};
    onnx_value *x = onnx_input_dynamic(im, node, 0);
    onnx_const *p[4];
    float eps, momentum;
    int64_t spatial, training;
    onnx_layer *l;
    cnn_status st;

    if (!x)
        return cnn_context_status(im->ctx);
    for (int i = 0; i < 4; i++)
        if (!(p[i] = onnx_input_const(im, node, (size_t)i + 1, ONNX_C_FLOAT)))
            return cnn_context_status(im->ctx);
    if ((st = onnx_attr_float(im, node, "epsilon", 1e-5f, &eps)) != CNN_OK ||
        (st = onnx_attr_float(im, node, "momentum", 0.9f, &momentum)) != CNN_OK ||
        (st = onnx_attr_int(im, node, "spatial", 1, &spatial)) != CNN_OK ||
        (st = onnx_attr_int(im, node, "training_mode", 0, &training)) != CNN_OK)
        return st;
    if (spatial != 1 || training != 0)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "spatial=%lld, training_mode=%lld: only "
                              "inference-mode spatial batch norm is supported",
                              (long long)spatial, (long long)training);
    if (x->shape.rank != 4 && x->shape.rank != 2)
        return need_rank(im, node, x, 4);
    for (int i = 0; i < 4; i++)
        if (p[i]->numel != (size_t)x->shape.dims[1])
            return onnx_node_fail(im, node, CNN_ERR_SHAPE,
                                  "input %d has %zu values for %lld channels",
                                  i + 1, p[i]->numel,
                                  (long long)x->shape.dims[1]);
    if (!(eps >= 1e-12f && eps <= 1.0f) || !(momentum >= 0 && momentum <= 1))
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "epsilon %g or momentum %g out of range",
                              (double)eps, (double)momentum);
    if (!(l = onnx_layer_add(im, node, "batchnorm", &x, 1, &x->shape, "%s",
                             "")))
        return cnn_context_status(im->ctx);
    hp_float(l, "eps", eps, 1e-5f);
    /* ONNX's momentum weighs the old statistic, PyTorch's the new one. */
    if (fabsf(momentum - 0.9f) > 1e-7f)
        onnx_layer_hp(l, ", momentum: %.6g", 1.0 - (double)momentum);
    for (int i = 0; i < 4; i++)
        if ((st = onnx_layer_param(im, l, names[i], onnx_const_copy(im, p[i]),
                                   1, &x->shape.dims[1])) != CNN_OK)
            return st;
    return bind_new_layer(im, node);
}

cnn_status onnx_import_lrn(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *x = onnx_input_dynamic(im, node, 0);
    int64_t size;
    float alpha, beta, bias;
    onnx_layer *l;
    cnn_status st;
    if (!x)
        return cnn_context_status(im->ctx);
    if ((st = need_rank(im, node, x, 4)) != CNN_OK ||
        (st = onnx_attr_int(im, node, "size", 0, &size)) != CNN_OK ||
        (st = onnx_attr_float(im, node, "alpha", 1e-4f, &alpha)) != CNN_OK ||
        (st = onnx_attr_float(im, node, "beta", 0.75f, &beta)) != CNN_OK ||
        (st = onnx_attr_float(im, node, "bias", 1.0f, &bias)) != CNN_OK)
        return st;
    /* ONNX centres an even window one channel lower than PyTorch does. */
    if (size < 1 || size > 1024 || size % 2 == 0)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "size %lld: odd sizes from 1 to 1023 are "
                              "supported", (long long)size);
    if (!(l = onnx_layer_add(im, node, "lrn", &x, 1, &x->shape,
                             ", size: %lld", (long long)size)))
        return cnn_context_status(im->ctx);
    hp_float(l, "alpha", alpha, 1e-4f);
    hp_float(l, "beta", beta, 0.75f);
    hp_float(l, "k", bias, 1.0f);
    return bind_new_layer(im, node);
}

/* ---- Activations --------------------------------------------------------- */

static cnn_status unary(onnx_importer *im, const Onnx__NodeProto *node,
                        const char *type, onnx_layer **out)
{
    onnx_value *x = onnx_input_dynamic(im, node, 0);
    if (!x)
        return cnn_context_status(im->ctx);
    cnn_shape shape = onnx_layer_shape_of(x);
    *out = onnx_layer_add(im, node, type, &x, 1, &shape, "%s", "");
    return *out ? CNN_OK : cnn_context_status(im->ctx);
}

cnn_status onnx_import_activation(onnx_importer *im,
                                  const Onnx__NodeProto *node)
{
    onnx_layer *l;
    cnn_status st = unary(im, node, onnx_op_for_import(node->op_type)->layer_type,
                          &l);
    return st != CNN_OK ? st : bind_new_layer(im, node);
}

cnn_status onnx_import_leakyrelu(onnx_importer *im,
                                 const Onnx__NodeProto *node)
{
    float alpha;
    onnx_layer *l;
    cnn_status st = onnx_attr_float(im, node, "alpha", 0.01f, &alpha);
    if (st != CNN_OK || (st = unary(im, node, "leakyrelu", &l)) != CNN_OK)
        return st;
    hp_float(l, "negative_slope", alpha, 0.01f);
    return bind_new_layer(im, node);
}

cnn_status onnx_import_elu(onnx_importer *im, const Onnx__NodeProto *node)
{
    float alpha;
    onnx_layer *l;
    cnn_status st = onnx_attr_float(im, node, "alpha", 1.0f, &alpha);
    if (st != CNN_OK || (st = unary(im, node, "elu", &l)) != CNN_OK)
        return st;
    hp_float(l, "alpha", alpha, 1.0f);
    return bind_new_layer(im, node);
}

cnn_status onnx_import_hardsigmoid(onnx_importer *im,
                                   const Onnx__NodeProto *node)
{
    float alpha, beta;
    onnx_layer *l;
    cnn_status st;
    if ((st = onnx_attr_float(im, node, "alpha", 0.2f, &alpha)) != CNN_OK ||
        (st = onnx_attr_float(im, node, "beta", 0.5f, &beta)) != CNN_OK ||
        (st = unary(im, node, "hardsigmoid", &l)) != CNN_OK)
        return st;
    /* Both written: ONNX's default alpha (0.2) is not PyTorch's (1/6). */
    onnx_layer_hp(l, ", alpha: %.9g, beta: %.9g", (double)alpha, (double)beta);
    return bind_new_layer(im, node);
}

cnn_status onnx_import_prelu(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *x = onnx_input_dynamic(im, node, 0);
    onnx_const *slope;
    onnx_layer *l;
    int64_t c, n;
    cnn_status st;
    if (!x || !(slope = onnx_input_const(im, node, 1, ONNX_C_FLOAT)))
        return cnn_context_status(im->ctx);
    c = x->shape.dims[1];
    /* One slope per channel ([C], [C, 1, 1]) or one for all. */
    for (int32_t d = 1; d < slope->rank; d++)
        if (slope->dims[d] != 1 && slope->rank != 1)
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "slope shape broadcasts beyond channels; "
                                  "one slope or one per channel is "
                                  "supported");
    if (slope->numel != 1 && slope->numel != (size_t)c)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "%zu slopes for %lld channels", slope->numel,
                              (long long)c);
    if (x->shape.rank != 4 && x->shape.rank != 2)
        return need_rank(im, node, x, 4);
    if ((st = unary(im, node, "prelu", &l)) != CNN_OK)
        return st;
    n = (int64_t)slope->numel;
    if (n == 1)
        onnx_layer_hp(l, ", num_parameters: 1");
    if ((st = onnx_layer_param(im, l, "weight", onnx_const_copy(im, slope), 1,
                               &n)) != CNN_OK)
        return st;
    return bind_new_layer(im, node);
}

/* A scalar bound of Clip (opset >= 11 inputs). */
static cnn_status clip_bound(onnx_importer *im, const Onnx__NodeProto *node,
                             size_t i, float *v)
{
    onnx_const *c;
    if (!onnx_has_input(node, i))
        return CNN_OK;
    if (!(c = onnx_input_const(im, node, i, ONNX_C_FLOAT)))
        return cnn_context_status(im->ctx);
    if (c->numel != 1)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "bound %zu has %zu values, not one", i,
                              c->numel);
    *v = c->f[0];
    return CNN_OK;
}

cnn_status onnx_import_clip(onnx_importer *im, const Onnx__NodeProto *node)
{
    float lo = -3.4028234663852886e38f, hi = 3.4028234663852886e38f;
    onnx_layer *l;
    cnn_status st;
    if (im->opset < 11) {
        if ((st = onnx_attr_float(im, node, "min", lo, &lo)) != CNN_OK ||
            (st = onnx_attr_float(im, node, "max", hi, &hi)) != CNN_OK)
            return st;
    } else if (node->n_attribute) {
        return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                              "from opset 11, Clip takes its bounds as "
                              "inputs, not attributes");
    } else if ((st = clip_bound(im, node, 1, &lo)) != CNN_OK ||
               (st = clip_bound(im, node, 2, &hi)) != CNN_OK) {
        return st;
    }
    if (lo == 0.0f && hi == 6.0f) { /* what nn.ReLU6 exports */
        st = unary(im, node, "relu6", &l);
        return st != CNN_OK ? st : bind_new_layer(im, node);
    }
    if ((st = unary(im, node, "clip", &l)) != CNN_OK)
        return st;
    if (lo > -3.4028234663852886e38f)
        onnx_layer_hp(l, ", min: %.9g", (double)lo);
    if (hi < 3.4028234663852886e38f)
        onnx_layer_hp(l, ", max: %.9g", (double)hi);
    return bind_new_layer(im, node);
}

cnn_status onnx_import_softmax(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *x = onnx_input_dynamic(im, node, 0);
    const char *type = onnx_op_for_import(node->op_type)->layer_type;
    int64_t axis, a;
    onnx_layer *l;
    cnn_status st;
    if (!x)
        return cnn_context_status(im->ctx);
    if ((st = onnx_attr_int(im, node, "axis", im->opset < 13 ? 1 : -1,
                            &axis)) != CNN_OK)
        return st;
    a = axis < 0 ? axis + x->shape.rank : axis;
    if (a < 1 || a >= x->shape.rank)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "axis %lld of a rank-%d input: the batch axis "
                              "or outside", (long long)axis,
                              (int)x->shape.rank);
    if (im->opset < 13) {
        /* Before opset 13 the op normalises over all axes from axis on. */
        for (int32_t d = (int32_t)a + 1; d < x->shape.rank; d++)
            if (x->shape.dims[d] != 1)
                return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                      "opset %lld normalises over axes %lld "
                                      "to %d together; cnnrun normalises one "
                                      "axis (re-export with opset >= 13)",
                                      (long long)im->opset, (long long)a,
                                      (int)x->shape.rank - 1);
    }
    if ((st = unary(im, node, type, &l)) != CNN_OK)
        return st;
    if (a != 1)
        onnx_layer_hp(l, ", axis: %lld", (long long)a);
    return bind_new_layer(im, node);
}

/* ---- Shapes: Flatten, Reshape, Squeeze ---------------------------------- */

/* A target shape that merges one run of x's axes becomes a flatten layer
 * (torch.flatten's start_dim and end_dim); the same shape is an alias. */
static cnn_status merge_axes(onnx_importer *im, const Onnx__NodeProto *node,
                             onnx_value *x, int32_t rank, const int64_t *t)
{
    int32_t r = x->shape.rank, s = 1, e;
    int64_t prod = 1;
    char a[160], b[160];
    cnn_shape out = cnn_shape_make(rank, t);
    onnx_layer *l;

    out.dims[0] = 1;
    if (rank == r) {
        if (cnn_shape_equal(&out, &x->shape))
            return onnx_bind_alias(im, node, 0, x);
    } else if (rank < r && rank >= 2) {
        while (s < rank && t[s] == x->shape.dims[s])
            s++;
        if (s == rank) /* the dropped axes are trailing ones */
            s = rank - 1;
        e = s + (r - rank);
        for (int32_t d = s; d <= e; d++)
            prod *= x->shape.dims[d];
        if (s < rank && prod == t[s]) {
            int ok = 1;
            for (int32_t d = s + 1; d < rank; d++)
                ok &= t[d] == x->shape.dims[d + (r - rank)];
            if (ok) {
                if (!(l = onnx_layer_add(im, node, "flatten", &x, 1, &out,
                                         "%s", "")))
                    return cnn_context_status(im->ctx);
                if (s != 1)
                    onnx_layer_hp(l, ", start_dim: %d", (int)s);
                if (e != r - 1)
                    onnx_layer_hp(l, ", end_dim: %d", (int)e);
                return bind_new_layer(im, node);
            }
        }
    }
    shape_text(&x->shape, a, sizeof a);
    shape_text(&out, b, sizeof b);
    return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                          "%s to %s is not a flattening of adjacent axes; "
                          "only such reshapes are supported", a, b);
}

cnn_status onnx_import_flatten(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *x = onnx_input_dynamic(im, node, 0);
    int64_t axis, t[2] = {1, 1};
    cnn_status st;
    if (!x)
        return cnn_context_status(im->ctx);
    if ((st = onnx_attr_int(im, node, "axis", 1, &axis)) != CNN_OK)
        return st;
    if (axis < 0)
        axis += x->shape.rank;
    if (axis != 1)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "axis %lld: only axis 1 (keep the batch, "
                              "flatten the rest) is supported",
                              (long long)axis);
    for (int32_t d = 1; d < x->shape.rank; d++)
        t[1] *= x->shape.dims[d];
    return merge_axes(im, node, x, 2, t);
}

/* ---- Channel shuffle: Reshape, Transpose, Reshape ------------------------ */

/* [N, C, rest] to [N, g, C/g, rest]: ShuffleNet's first step. */
static int is_channel_split(const onnx_value *x, int32_t rank, const int64_t *t)
{
    if (x->shape.rank < 2 || rank != x->shape.rank + 1 || t[1] < 2 ||
        t[2] < 1 || t[1] * t[2] != x->shape.dims[1])
        return 0;
    for (int32_t d = 2; d < x->shape.rank; d++)
        if (t[d + 1] != x->shape.dims[d])
            return 0;
    return 1;
}

/* The output of node is x's data seen another way: no layer yet. */
static cnn_status bind_view(onnx_importer *im, const Onnx__NodeProto *node,
                            onnx_value *x, int stage, int64_t groups,
                            const cnn_shape *shape)
{
    cnn_status st = onnx_bind_alias(im, node, 0, x);
    onnx_value *v = st == CNN_OK ? onnx_value_find(im, node->output[0]) : NULL;
    if (st != CNN_OK)
        return st;
    if (!v)
        return onnx_node_fail(im, node, CNN_ERR_FORMAT, "output lost");
    v->shuffle_stage = stage;
    v->shuffle_groups = groups;
    v->shape = *shape;
    return CNN_OK;
}

/* Reshape at the start (a channel split) or the end (back to [N, C, rest]
 * after the Transpose) of a channel shuffle; the end makes the layer. */
static cnn_status shuffle_reshape(onnx_importer *im,
                                  const Onnx__NodeProto *node, onnx_value *x,
                                  int32_t rank, const int64_t *t)
{
    cnn_shape out = cnn_shape_make(rank, t);
    out.dims[0] = 1;
    if (!x->shuffle_stage)
        return bind_view(im, node, x, 1, t[1], &out);
    int ok = x->shuffle_stage == 2 && rank == x->shape.rank - 1 &&
             t[1] == x->shape.dims[1] * x->shape.dims[2];
    for (int32_t d = 2; ok && d < rank; d++)
        ok = t[d] == x->shape.dims[d + 1];
    if (!ok)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "a grouped view of channels reshaped other than "
                              "back to [N, C, ...]; cnnrun supports it only as "
                              "a channel shuffle");
    if (!onnx_layer_add(im, node, "channel_shuffle", &x, 1, &out,
                        ", groups: %lld", (long long)x->shuffle_groups))
        return cnn_context_status(im->ctx);
    return bind_new_layer(im, node);
}

/* Transpose of a computed value: the middle of a channel shuffle only. */
cnn_status onnx_import_transpose(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *x = onnx_input_dynamic(im, node, 0);
    int64_t perm[CNN_MAX_RANK];
    size_t n = 0;
    cnn_status st;
    if (!x)
        return cnn_context_status(im->ctx);
    if ((st = onnx_attr_ints(im, node, "perm", perm, CNN_MAX_RANK, &n)) !=
        CNN_OK)
        return st;
    if (onnx_norm_transpose(im, node, x, perm, n, &st))
        return st;
    int ok = x->shuffle_stage == 1 && (int32_t)n == x->shape.rank &&
             perm[0] == 0 && perm[1] == 2 && perm[2] == 1;
    for (size_t d = 3; ok && d < n; d++)
        ok = perm[d] == (int64_t)d;
    if (!ok)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "a Transpose of computed values is supported "
                              "only to channels-last and back (perm [0, 2, 3, "
                              "1], then [0, 3, 1, 2]) or inside a channel "
                              "shuffle: Reshape [N, g, C/g, ...], Transpose "
                              "perm [0, 2, 1, ...], Reshape [N, C, ...]");
    cnn_shape out = x->shape;
    out.dims[1] = x->shape.dims[2];
    out.dims[2] = x->shape.dims[1];
    return bind_view(im, node, x, 2, x->shuffle_groups, &out);
}

/* Slice of a computed value: a block of channels (ShuffleNet's chunk);
 * starts, ends and axes are inputs from opset 10 on, attributes before. */
cnn_status onnx_import_slice(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *x = onnx_input_dynamic(im, node, 0);
    int64_t v[3][CNN_MAX_RANK], start, end, c;
    size_t n[3] = {0, 0, 0};
    static const char *const names[3] = {"starts", "ends", "axes"};
    cnn_status st;
    if (!x)
        return cnn_context_status(im->ctx);
    for (int k = 0; k < 3; k++)
        if ((st = ints_attr_or_input(im, node, names[k], (size_t)k + 1, 10,
                                     v[k], CNN_MAX_RANK, &n[k])) != CNN_OK)
            return st;
    if (im->opset >= 10 && onnx_has_input(node, 4)) {
        onnx_const *steps = onnx_input_const(im, node, 4, ONNX_C_INT);
        if (!steps)
            return cnn_context_status(im->ctx);
        for (size_t k = 0; k < steps->numel; k++)
            if (steps->i[k] != 1)
                return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                      "step %lld; only step 1 is supported",
                                      (long long)steps->i[k]);
    }
    if (n[2] == 0) /* no axes: 0, 1, ... */
        for (size_t k = 0; k < n[0]; k++)
            v[2][n[2]++] = (int64_t)k;
    if (n[0] != 1 || n[1] != 1 || n[2] != 1 || x->shape.rank < 2 ||
        (v[2][0] != 1 && v[2][0] != 1 - x->shape.rank))
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "only a slice of channels (axis 1 alone) is "
                              "supported");
    /* ONNX's rules: negative counts from the end, then clamp to [0, C]. */
    c = x->shape.dims[1];
    start = v[0][0] < 0 ? v[0][0] + c : v[0][0];
    end = v[1][0] < 0 ? v[1][0] + c : v[1][0];
    start = start < 0 ? 0 : start > c ? c : start;
    end = end < 0 ? 0 : end > c ? c : end;
    if (start >= end)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "channels [%lld, %lld) of %lld: an empty slice",
                              (long long)start, (long long)end, (long long)c);
    if (start == 0 && end == c)
        return onnx_bind_alias(im, node, 0, x);
    cnn_shape out = x->shape;
    out.dims[1] = end - start;
    if (!onnx_layer_add(im, node, "slice", &x, 1, &out,
                        ", start: %lld, end: %lld", (long long)start,
                        (long long)end))
        return cnn_context_status(im->ctx);
    return bind_new_layer(im, node);
}

/* Split along channels: one slice layer per output (chunk at opset < 13
 * and torch.split export it). Sizes from the attribute before opset 13,
 * input 1 after; absent, equal parts (num_outputs, opset 18, is implied
 * by the outputs). */
cnn_status onnx_import_split(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *x = onnx_input_dynamic(im, node, 0);
    int64_t axis, sizes[ONNX_LAYER_INPUTS], start = 0;
    size_t n = 0, outs = node->n_output;
    cnn_status st;
    if (!x)
        return cnn_context_status(im->ctx);
    if ((st = onnx_attr_int(im, node, "axis", 0, &axis)) != CNN_OK)
        return st;
    if (x->shape.rank < 2 || (axis != 1 && axis != 1 - x->shape.rank))
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "only a split of channels (axis 1) is supported");
    if (outs < 1 || outs > ONNX_LAYER_INPUTS)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "%zu outputs (1 to %d are supported)", outs,
                              ONNX_LAYER_INPUTS);
    if ((st = ints_attr_or_input(im, node, "split", 1, 13, sizes,
                                 ONNX_LAYER_INPUTS, &n)) != CNN_OK)
        return st;
    if (n == 0) {
        if (x->shape.dims[1] % (int64_t)outs)
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "%lld channels do not split into %zu equal "
                                  "parts", (long long)x->shape.dims[1], outs);
        for (; n < outs; n++)
            sizes[n] = x->shape.dims[1] / (int64_t)outs;
    }
    if (n != outs)
        return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                              "%zu sizes for %zu outputs", n, outs);
    for (size_t i = 0; i < n; i++) {
        if (sizes[i] < 1 || sizes[i] > x->shape.dims[1] - start)
            return onnx_node_fail(im, node, CNN_ERR_SHAPE,
                                  "sizes do not add up to the %lld channels",
                                  (long long)x->shape.dims[1]);
        start += sizes[i];
    }
    if (start != x->shape.dims[1])
        return onnx_node_fail(im, node, CNN_ERR_SHAPE,
                              "sizes add up to %lld of %lld channels",
                              (long long)start, (long long)x->shape.dims[1]);
    start = 0;
    const cnn_shape in_shape = x->shape;
    for (size_t i = 0; i < n; i++) {
        cnn_shape out = in_shape;
        int64_t from = start;
        out.dims[1] = sizes[i];
        start += sizes[i];
        /* An output nothing reads gets no layer. */
        if (!node->output[i] || !node->output[i][0] ||
            (onnx_table_get(im->use_counts, node->output[i]) <= 0 &&
             !onnx_is_graph_output(im, node->output[i])))
            continue;
        /* x again: binding outputs may move the values array. */
        if (!(x = onnx_input_dynamic(im, node, 0)) ||
            !onnx_layer_add(im, node, "slice", &x, 1, &out,
                            ", start: %lld, end: %lld", (long long)from,
                            (long long)(from + sizes[i])))
            return cnn_context_status(im->ctx);
        if ((st = onnx_bind_layer(im, node, i, (int32_t)im->n_layers - 1)) !=
            CNN_OK)
            return st;
    }
    return CNN_OK;
}

cnn_status onnx_import_reshape(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *x = onnx_input_dynamic(im, node, 0);
    onnx_const *shape;
    int64_t t[CNN_MAX_RANK], allowzero = 0, known = 1, per_sample = 1;
    int infer = -1;
    cnn_status st;
    if (!x || !(shape = onnx_input_const(im, node, 1, ONNX_C_INT)))
        return cnn_context_status(im->ctx);
    if ((st = onnx_attr_int(im, node, "allowzero", 0, &allowzero)) != CNN_OK)
        return st;
    if (shape->rank != 1 || shape->numel < 1 || shape->numel > CNN_MAX_RANK)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "the target shape must be a list of 1 to %d "
                              "sizes", CNN_MAX_RANK);
    for (int32_t d = 1; d < x->shape.rank; d++)
        per_sample *= x->shape.dims[d];
    for (size_t d = 0; d < shape->numel; d++) {
        int64_t v = shape->i[d];
        if (v == ONNX_DIM_BATCH || (d == 0 && v == 0 && !allowzero)) {
            if (d != 0)
                return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                      "the batch size moves to axis %zu", d);
            t[d] = 1;
        } else if (v == 0 && !allowzero) {
            if ((int32_t)d >= x->shape.rank)
                return onnx_node_fail(im, node, CNN_ERR_SHAPE,
                                      "0 copies axis %zu, which the input "
                                      "lacks", d);
            t[d] = x->shape.dims[d];
            known *= t[d];
        } else if (v == -1) {
            if (infer >= 0)
                return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                                      "more than one -1 in the target shape");
            infer = (int)d;
        } else if (v < 1) {
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "target size %lld", (long long)v);
        } else {
            t[d] = v;
            /* No size can exceed the values a sample has: checked before
             * multiplying, so a hostile size cannot overflow the product. */
            if (d && (v > per_sample || known > per_sample / v))
                return onnx_node_fail(im, node, CNN_ERR_SHAPE,
                                      "target size %lld does not fit the "
                                      "input's %lld values per sample",
                                      (long long)v, (long long)per_sample);
            if (d)
                known *= v;
        }
    }
    if (infer == 0) {
        /* [-1, K]: the batch comes out of -1 when K is one sample. */
        if (known != per_sample)
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "-1 at axis 0 would mix samples "
                                  "(%lld values per sample, %lld per row)",
                                  (long long)per_sample, (long long)known);
        t[0] = 1;
    } else if (infer > 0) {
        if (known == 0 || per_sample % known)
            return onnx_node_fail(im, node, CNN_ERR_SHAPE,
                                  "%lld values per sample do not divide into "
                                  "rows of %lld", (long long)per_sample,
                                  (long long)known);
        t[infer] = per_sample / known;
    } else if (shape->i[0] != ONNX_DIM_BATCH && shape->i[0] != 0 &&
               shape->i[0] != 1) {
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "the target shape fixes the batch at %lld",
                              (long long)shape->i[0]);
    }
    if (x->shuffle_stage || is_channel_split(x, (int32_t)shape->numel, t))
        return shuffle_reshape(im, node, x, (int32_t)shape->numel, t);
    return merge_axes(im, node, x, (int32_t)shape->numel, t);
}

cnn_status onnx_import_squeeze(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *x = onnx_input_dynamic(im, node, 0);
    int64_t axes[CNN_MAX_RANK], t[CNN_MAX_RANK];
    size_t n = 0;
    int32_t r;
    int drop[CNN_MAX_RANK] = {0};
    cnn_status st;
    if (!x)
        return cnn_context_status(im->ctx);
    r = x->shape.rank;
    if ((st = ints_attr_or_input(im, node, "axes", 1, 13, axes, CNN_MAX_RANK,
                                 &n)) != CNN_OK)
        return st;
    if (n == 0) /* every axis of size 1 but the batch */
        for (int32_t d = 1; d < r; d++)
            if (x->shape.dims[d] == 1)
                axes[n++] = d;
    for (size_t k = 0; k < n; k++) {
        int64_t a = axes[k] < 0 ? axes[k] + r : axes[k];
        if (a < 1 || a >= r || x->shape.dims[a] != 1)
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "axis %lld is the batch, outside the input "
                                  "or not of size 1", (long long)axes[k]);
        drop[a] = 1;
    }
    n = 0;
    for (int32_t d = 0; d < r; d++)
        if (!drop[d])
            t[n++] = x->shape.dims[d];
    return merge_axes(im, node, x, (int32_t)n, t);
}

/* Identity, Dropout (inference): the output is the input. */
cnn_status onnx_import_passthrough(onnx_importer *im,
                                   const Onnx__NodeProto *node)
{
    onnx_value *x = onnx_input(im, node, 0);
    cnn_status st;
    if (!x)
        return cnn_context_status(im->ctx);
    if ((st = only_first_output(im, node)) != CNN_OK)
        return st;
    if (strcmp(node->op_type, "Dropout") == 0 && onnx_has_input(node, 2)) {
        onnx_const *mode = onnx_input_const(im, node, 2, ONNX_C_INT);
        if (!mode)
            return cnn_context_status(im->ctx);
        if (mode->numel != 1 || mode->i[0] != 0)
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "training_mode must be false");
    }
    return onnx_bind_alias(im, node, 0, x);
}

/* ---- Joins: Add, Mul, Concat --------------------------------------------- */

static int all_equal(const onnx_const *c, float v)
{
    for (size_t k = 0; k < c->numel; k++)
        if (c->f[k] != v)
            return 0;
    return 1;
}

cnn_status onnx_import_add(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *a = onnx_input(im, node, 0), *b = onnx_input(im, node, 1);
    onnx_value *in[2];
    char sa[160], sb[160];
    cnn_shape shape;
    cnn_status st;
    if (!a || !b)
        return cnn_context_status(im->ctx);
    if (a->is_const && !b->is_const) {
        onnx_value *t = a;
        a = b;
        b = t;
    }
    if (a->is_const)
        return onnx_node_fail(im, node, CNN_ERR_INVALID,
                              "both inputs are constants (not folded)");
    if ((b->is_const || a->step || b->step) &&
        onnx_norm_add(im, node, a, b, &st))
        return st;
    if (b->is_const) {
        onnx_layer *l = a->layer >= 0 ? &im->layers[a->layer] : NULL;
        if (b->c.type != ONNX_C_FLOAT)
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "adds integers to a float tensor");
        if (all_equal(&b->c, 0.0f) && b->c.rank <= a->shape.rank)
            return onnx_bind_alias(im, node, 0, a);
        /* MatMul + Add: the bias of the dense layer just made. */
        if (l && l->dense_without_bias &&
            (size_t)a->layer == im->n_layers - 1 && onnx_read_once(im, a) &&
            b->c.numel == (size_t)l->units &&
            (b->c.rank == 1 || (b->c.rank == 2 && b->c.dims[0] == 1))) {
            st = onnx_layer_param(im, l, "bias",
                                             onnx_const_copy(im, &b->c), 1,
                                             &l->units);
            if (st != CNN_OK)
                return st;
            l->dense_without_bias = 0;
            return onnx_bind_alias(im, node, 0, a);
        }
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "adding the constant '%s' is supported only as "
                              "the bias right after a MatMul or a layer "
                              "norm", b->name);
    }
    if (a->channels_last != b->channels_last)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "adds a channels-last value to an [N, C, H, "
                              "W] one");
    if (!cnn_shape_equal(&a->shape, &b->shape)) {
        shape_text(&a->shape, sa, sizeof sa);
        shape_text(&b->shape, sb, sizeof sb);
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "adds %s and %s; only equal shapes are "
                              "supported", sa, sb);
    }
    in[0] = a;
    in[1] = b;
    shape = onnx_layer_shape_of(a);
    if (!onnx_layer_add(im, node, "add", in, 2, &shape, "%s", ""))
        return cnn_context_status(im->ctx);
    return bind_new_layer(im, node);
}

/* x times a gate of x, one layer instead of two (saves writing and
 * reading the gate): x * Sigmoid(x), as PyTorch exports nn.SiLU
 * (EfficientNet), becomes silu; x * HardSigmoid(x) with PyTorch's 1/6 and
 * 1/2, as it exports nn.Hardswish before opset 14 (MobileNetV3), becomes
 * hardswish. The gate layer, read by this Mul only, is rewritten in place:
 * nothing else reads it, so it may stay where it is in the layer order.
 * Returns its index (and its layout in channels_last), or -1. */
static int32_t fuse_gate(onnx_importer *im, const Onnx__NodeProto *node,
                         onnx_value *a, onnx_value *b, int *channels_last)
{
    char hardswish_hp[64];
    snprintf(hardswish_hp, sizeof hardswish_hp, ", alpha: %.9g, beta: %.9g",
             (double)(1.0f / 6.0f), 0.5);
    for (int k = 0; k < 2; k++) {
        onnx_value *x = k ? b : a, *s = k ? a : b;
        onnx_layer *l;
        const char *fused;
        if (x->is_const || s->is_const || s->layer < 0)
            continue;
        l = &im->layers[s->layer];
        if (strcmp(l->type, "sigmoid") == 0)
            fused = "silu";
        else if (strcmp(l->type, "hardsigmoid") == 0 &&
                 strcmp(l->hp, hardswish_hp) == 0)
            fused = "hardswish";
        else
            continue;
        if (l->n_inputs != 1 || l->inputs[0] != x->layer ||
            !cnn_shape_equal(&x->shape, &s->shape) || !onnx_read_once(im, s))
            continue;
        l->type = fused;
        l->hp[0] = '\0';
        /* Named after the Mul, whose output it is: an exported layer comes
         * back under its own name. */
        onnx_layer_name(im->layer_names, node->name, node->op_type, fused,
                        l->name, sizeof l->name);
        *channels_last = s->channels_last;
        return s->layer;
    }
    return -1;
}

cnn_status onnx_import_mul(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *a = onnx_input(im, node, 0), *b = onnx_input(im, node, 1);
    onnx_value *in[2];
    char sa[160], sb[160];
    cnn_shape shape;
    cnn_status st;
    int broadcast;
    if (!a || !b)
        return cnn_context_status(im->ctx);
    if (a->is_const && !b->is_const) {
        onnx_value *t = a;
        a = b;
        b = t;
    }
    if (onnx_norm_mul(im, node, a, b, &st))
        return st;
    if (b->is_const) {
        if (b->c.type == ONNX_C_FLOAT && all_equal(&b->c, 1.0f) && !a->is_const &&
            b->c.rank <= a->shape.rank)
            return onnx_bind_alias(im, node, 0, a);
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "multiplying by the constant '%s' is not "
                              "supported", b->name);
    }
    int channels_last = 0;
    int32_t gated = fuse_gate(im, node, a, b, &channels_last);
    if (gated >= 0) /* in the gate's layout */
        return bind_layer_as(im, node, gated, channels_last);
    /* The [N, C, 1, 1] operand (squeeze-and-excitation) goes second. */
    if (a->shape.rank == 4 && a->shape.dims[2] == 1 && a->shape.dims[3] == 1 &&
        !(b->shape.dims[2] == 1 && b->shape.dims[3] == 1)) {
        onnx_value *t = a;
        a = b;
        b = t;
    }
    broadcast = a->shape.rank == 4 && b->shape.rank == 4 &&
                !a->channels_last && !b->channels_last &&
                b->shape.dims[1] == a->shape.dims[1] && b->shape.dims[2] == 1 &&
                b->shape.dims[3] == 1;
    if (!cnn_shape_equal(&a->shape, &b->shape) && !broadcast) {
        shape_text(&a->shape, sa, sizeof sa);
        shape_text(&b->shape, sb, sizeof sb);
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "multiplies %s by %s; equal shapes or [N, C, "
                              "1, 1] are supported", sa, sb);
    }
    if (a->channels_last != b->channels_last)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "multiplies a channels-last value by an "
                              "[N, C, H, W] one");
    in[0] = a;
    in[1] = b;
    shape = onnx_layer_shape_of(a);
    if (!onnx_layer_add(im, node, "mul", in, 2, &shape, "%s", ""))
        return cnn_context_status(im->ctx);
    return bind_new_layer(im, node);
}

cnn_status onnx_import_concat(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *in[ONNX_LAYER_INPUTS];
    int64_t axis;
    cnn_shape out;
    cnn_status st;
    if (node->n_input < 1 || node->n_input > ONNX_LAYER_INPUTS)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "%zu inputs (1 to %d are supported)",
                              node->n_input, ONNX_LAYER_INPUTS);
    for (size_t i = 0; i < node->n_input; i++)
        if (!(in[i] = onnx_input_dynamic(im, node, i)))
            return cnn_context_status(im->ctx);
    if ((st = onnx_attr_int(im, node, "axis", 1, &axis)) != CNN_OK)
        return st;
    out = in[0]->shape;
    if (axis < 0)
        axis += out.rank;
    if (axis != 1)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "axis %lld: only channels (axis 1) are "
                              "supported", (long long)axis);
    for (size_t i = 1; i < node->n_input; i++) {
        cnn_shape s = in[i]->shape;
        out.dims[1] += s.dims[1];
        s.dims[1] = in[0]->shape.dims[1];
        if (!cnn_shape_equal(&s, &in[0]->shape))
            return onnx_node_fail(im, node, CNN_ERR_SHAPE,
                                  "input %zu differs from input 0 in more "
                                  "than its channels", i);
    }
    if (node->n_input == 1)
        return onnx_bind_alias(im, node, 0, in[0]);
    if (!onnx_layer_add(im, node, "concat", in, node->n_input, &out, "%s", ""))
        return cnn_context_status(im->ctx);
    return bind_new_layer(im, node);
}

/* Pad: a no-op one is an alias; one that adds zero rows and columns
 * (constant mode, value 0, H and W only) is a zero-padded view of its
 * input, folded into the Conv or AveragePool that reads it (onnx_input
 * refuses other readers). PyTorch exports avg_pool2d with
 * count_include_pad (Inception v3) as such a Pad and an AveragePool. */
cnn_status onnx_import_pad(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *x = onnx_input_dynamic(im, node, 0), *v;
    int64_t pads[2 * CNN_MAX_RANK];
    size_t n = 0;
    float value = 0.0f;
    char mode[32];
    int any = 0;
    cnn_status st;
    if (!x)
        return cnn_context_status(im->ctx);
    if ((st = onnx_attr_string(im, node, "mode", "constant", mode,
                               sizeof mode)) != CNN_OK)
        return st;
    if (im->opset < 11) {
        if ((st = onnx_attr_ints(im, node, "pads", pads, 2 * CNN_MAX_RANK,
                                 &n)) != CNN_OK ||
            (st = onnx_attr_float(im, node, "value", 0.0f, &value)) != CNN_OK)
            return st;
    } else {
        onnx_const *c = onnx_input_const(im, node, 1, ONNX_C_INT);
        if (!c)
            return cnn_context_status(im->ctx);
        if (c->numel > 2 * CNN_MAX_RANK)
            return onnx_node_fail(im, node, CNN_ERR_FORMAT, "too many pads");
        n = c->numel;
        memcpy(pads, c->i, n * sizeof *pads);
        if (onnx_has_input(node, 2)) {
            onnx_const *cv = onnx_input_const(im, node, 2, ONNX_C_FLOAT);
            if (!cv)
                return cnn_context_status(im->ctx);
            if (cv->numel != 1)
                return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                                      "constant_value has %zu values, not 1",
                                      cv->numel);
            value = cv->f[0];
        }
        if (onnx_has_input(node, 3))
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "Pad with axes is not supported");
    }
    if (n != 2 * (size_t)x->shape.rank)
        return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                              "%zu pads for a rank-%d input (2 per axis)", n,
                              (int)x->shape.rank);
    for (size_t k = 0; k < n; k++)
        any |= pads[k] != 0;
    if (!any)
        return onnx_bind_alias(im, node, 0, x);
    /* pads: begins of every axis, then ends; [N, C, H, W] wanted. */
    if (x->shape.rank != 4 || pads[0] || pads[1] || pads[4] || pads[5])
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "only padding of the two spatial axes of an "
                              "[N, C, H, W] value is supported");
    for (size_t k = 0; k < n; k++)
        if (pads[k] < 0 || pads[k] > 65536)
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "pad %zu is %lld; only 0 to 65536 (no "
                                  "cropping) is supported", k,
                                  (long long)pads[k]);
    if (strcmp(mode, "constant") != 0 || value != 0.0f)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "only padding with zeros is supported (mode "
                              "'%s', value %g)", mode, (double)value);
    if (x->zero_padded)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "a Pad of a Pad's output is not supported");
    if ((st = onnx_bind_alias(im, node, 0, x)) != CNN_OK)
        return st;
    if (!(v = onnx_value_find(im, node->output[0])))
        return onnx_node_fail(im, node, CNN_ERR_FORMAT, "output lost");
    v->zero_padded = 1;
    v->zero_pad[0] = pads[2];
    v->zero_pad[1] = pads[3];
    v->zero_pad[2] = pads[6];
    v->zero_pad[3] = pads[7];
    v->shape.dims[2] += pads[2] + pads[6];
    v->shape.dims[3] += pads[3] + pads[7];
    return CNN_OK;
}

/* Sum of n computed values of one shape: one add layer. */
cnn_status onnx_import_sum(onnx_importer *im, const Onnx__NodeProto *node)
{
    onnx_value *in[ONNX_LAYER_INPUTS];
    if (node->n_input < 1 || node->n_input > ONNX_LAYER_INPUTS)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "%zu inputs (1 to %d are supported)",
                              node->n_input, ONNX_LAYER_INPUTS);
    for (size_t i = 0; i < node->n_input; i++) {
        if (!(in[i] = onnx_input_dynamic(im, node, i)))
            return cnn_context_status(im->ctx);
        if (!cnn_shape_equal(&in[i]->shape, &in[0]->shape))
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "input %zu differs in shape from input 0; "
                                  "only equal shapes are supported", i);
    }
    if (node->n_input == 1)
        return onnx_bind_alias(im, node, 0, in[0]);
    if (!onnx_layer_add(im, node, "add", in, node->n_input, &in[0]->shape,
                        "%s", ""))
        return cnn_context_status(im->ctx);
    return bind_new_layer(im, node);
}
