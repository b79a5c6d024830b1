/* SPDX-License-Identifier: MIT */
/* mul: the element-wise product of two inputs, y = a * b (torch.mul, ONNX
 * Mul for these shapes). b is either a's shape or [N, C, 1, ...], one
 * value per sample and channel broadcast over the spatial dims: the scale
 * of a squeeze-and-excitation block (x * sigmoid(fc(pool(x)))). The
 * broadcast operand may also come first (ONNX Mul is commutative); the
 * output then has the second input's shape. Below, a is the full-shape
 * input and b the other.
 *
 *   da = dy * b (b broadcast)
 *   db = dy * a, or for the broadcast b the sum over each plane of dy * a
 *
 * Plane sums are float blocks added in double, so the result does not
 * depend on the thread count; planes are spread over the host's threads. */
#include <stdio.h>
#include <string.h>

#include "cnn/layer.h"

/* "2x3x8x8" into buf; always NUL-terminated. */
static void mul_format_shape(char *buf, size_t size, const cnn_shape *s)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < s->rank && i < CNN_MAX_RANK && used < size; i++) {
        int n = snprintf(buf + used, size - used, i ? "x%lld" : "%lld",
                         (long long)s->dims[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* planes = N C, plane = the spatial size; broadcast: one input is
 * [N, C, 1, ...] and the other, input `full`, has a spatial extent. */
typedef struct mul_geom {
    size_t planes, plane;
    int broadcast;
    uint32_t full; /* the input with the output's shape: 0, or 1 when the
                      first input is the [N, C, 1, ...] one */
} mul_geom;

/* 1 when b is [N, C, 1, ...] for a = [N, C, spatial...]. */
static int mul_per_channel(const cnn_shape *a, const cnn_shape *b)
{
    int ok = a->rank >= 3 && b->rank == a->rank &&
             b->dims[0] == a->dims[0] && b->dims[1] == a->dims[1];
    for (int32_t i = 2; ok && i < b->rank; i++)
        ok = b->dims[i] == 1;
    return ok;
}

static cnn_status mul_geometry(const cnn_shape *in, uint32_t n_inputs,
                               mul_geom *g, cnn_errbuf *err)
{
    char sa[160], sb[160];
    int ok;
    if (n_inputs != 2)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "mul takes 2 inputs, got %u", n_inputs);
    g->full = !cnn_shape_equal(&in[0], &in[1]) &&
              !mul_per_channel(&in[0], &in[1]) &&
              mul_per_channel(&in[1], &in[0]);
    const cnn_shape *a = &in[g->full], *b = &in[1 - g->full];
    if (a->rank < 1 || a->rank > CNN_MAX_RANK)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "mul: input %u has rank %d, need 1..%d",
                              g->full, (int)a->rank, CNN_MAX_RANK);
    for (int32_t i = 0; i < a->rank; i++)
        if (a->dims[i] < 0)
            return cnn_layer_fail(err, CNN_ERR_SHAPE,
                                  "mul: input %u dim %d is %lld", g->full,
                                  (int)i, (long long)a->dims[i]);
    (void)cnn_shape_numel_checked(a, &ok);
    if (!ok)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "mul: input element count overflows");
    g->broadcast = 0;
    g->planes = cnn_shape_numel(a);
    g->plane = 1;
    if (cnn_shape_equal(a, b))
        return CNN_OK;
    if (!mul_per_channel(a, b)) {
        mul_format_shape(sa, sizeof sa, a);
        mul_format_shape(sb, sizeof sb, b);
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "mul: input 1 is %s; with input 0 %s the two "
                              "must have one shape, or one of them must be "
                              "[N, C, 1, ...] (one value per sample and "
                              "channel) of the other",
                              sb, sa);
    }
    g->broadcast = 1;
    g->planes = (size_t)a->dims[0] * (size_t)a->dims[1];
    g->plane = g->planes ? cnn_shape_numel(a) / g->planes : 0;
    return CNN_OK;
}

static cnn_status mul_infer_shape(const cnn_hparam_value *hp,
                                  const cnn_shape *inputs, uint32_t n_inputs,
                                  cnn_shape *output, cnn_errbuf *err)
{
    mul_geom g;
    (void)hp;
    cnn_status st = mul_geometry(inputs, n_inputs, &g, err);
    if (st == CNN_OK)
        *output = inputs[g.full];
    return st;
}

typedef struct mul_run {
    mul_geom g;
    const float *a, *b, *dy;
    float *y, *da, *db;
} mul_run;

/* Elements per unit of work without broadcast: the range functions then
 * take blocks of this many elements. */
#define MUL_BLOCK ((size_t)4096)

/* Units of work: planes, or blocks of MUL_BLOCK elements. */
static size_t mul_units(const mul_geom *g)
{
    return g->broadcast ? g->planes : (g->planes + MUL_BLOCK - 1) / MUL_BLOCK;
}

static void mul_elements(const mul_run *r, size_t begin, size_t end,
                         size_t *i0, size_t *i1)
{
    *i0 = begin * MUL_BLOCK;
    *i1 = end * MUL_BLOCK < r->g.planes ? end * MUL_BLOCK : r->g.planes;
}

/* Forward over units [begin, end): planes, or blocks of elements. */
static void mul_forward_range(void *arg, size_t begin, size_t end)
{
    const mul_run *r = arg;
    const size_t plane = r->g.plane;
    if (!r->g.broadcast) {
        const float *restrict a = r->a, *restrict b = r->b;
        float *restrict y = r->y;
        size_t i0, i1;
        mul_elements(r, begin, end, &i0, &i1);
        for (size_t i = i0; i < i1; i++)
            y[i] = a[i] * b[i];
        return;
    }
    for (size_t pl = begin; pl < end; pl++) {
        const float s = r->b[pl];
        const float *restrict a = r->a + pl * plane;
        float *restrict y = r->y + pl * plane;
        for (size_t i = 0; i < plane; i++)
            y[i] = a[i] * s;
    }
}

static void mul_backward_range(void *arg, size_t begin, size_t end)
{
    const mul_run *r = arg;
    const size_t plane = r->g.plane;
    if (!r->g.broadcast) {
        const float *restrict a = r->a, *restrict b = r->b;
        const float *restrict dy = r->dy;
        size_t i0, i1;
        mul_elements(r, begin, end, &i0, &i1);
        if (r->da)
            for (size_t i = i0; i < i1; i++)
                r->da[i] = dy[i] * b[i];
        if (r->db)
            for (size_t i = i0; i < i1; i++)
                r->db[i] = dy[i] * a[i];
        return;
    }
    for (size_t pl = begin; pl < end; pl++) {
        const float s = r->b[pl];
        const float *restrict a = r->a + pl * plane;
        const float *restrict dy = r->dy + pl * plane;
        if (r->da) {
            float *restrict da = r->da + pl * plane;
            for (size_t i = 0; i < plane; i++)
                da[i] = dy[i] * s;
        }
        if (r->db) {
            double acc = 0.0;
            for (size_t i0 = 0; i0 < plane; i0 += 1024) {
                size_t i1 = plane - i0 < 1024 ? plane : i0 + 1024;
                float part = 0.0f;
                for (size_t i = i0; i < i1; i++)
                    part += dy[i] * a[i];
                acc += part;
            }
            r->db[pl] = (float)acc;
        }
    }
}

static void mul_parallel(const cnn_layer_env *env, const mul_run *r,
                         cnn_range_fn fn)
{
    size_t units = mul_units(&r->g), work = r->g.planes * r->g.plane;
    if (units > 1 && work >= ((size_t)1 << 16) && env && env->parallel_for &&
        env->threads > 1)
        env->parallel_for(env->host, units, fn, (void *)r);
    else if (units)
        fn((void *)r, 0, units);
}

static cnn_status mul_bind(const cnn_layer *layer, const cnn_tensor *in,
                           uint32_t n_in, const cnn_shape *out, mul_run *r,
                           cnn_errbuf *err)
{
    cnn_shape shapes[2];
    memset(r, 0, sizeof *r);
    if (n_in != 2)
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "mul '%s' takes 2 inputs, got %u", layer->name,
                              n_in);
    shapes[0] = in[0].shape;
    shapes[1] = in[1].shape;
    cnn_status st = mul_geometry(shapes, 2, &r->g, err);
    if (st != CNN_OK)
        return st;
    if (!cnn_shape_equal(out, &in[r->g.full].shape))
        return cnn_layer_fail(err, CNN_ERR_SHAPE,
                              "mul '%s': output shape differs from input "
                              "%u's",
                              layer->name, r->g.full);
    /* a: the full-shape input, b: the other (maybe broadcast). */
    r->a = in[r->g.full].data;
    r->b = in[1 - r->g.full].data;
    return CNN_OK;
}

static cnn_status mul_forward(const cnn_layer *layer,
                              const cnn_forward_args *args, cnn_errbuf *err)
{
    mul_run r;
    cnn_status st = mul_bind(layer, args->inputs, args->n_inputs,
                             &args->output->shape, &r, err);
    if (st != CNN_OK)
        return st;
    r.y = args->output->data;
    mul_parallel(args->env, &r, mul_forward_range);
    return CNN_OK;
}

static cnn_status mul_backward(const cnn_layer *layer,
                               const cnn_backward_args *args, cnn_errbuf *err)
{
    mul_run r;
    cnn_status st = mul_bind(layer, args->inputs, args->n_inputs,
                             &args->output_grad->shape, &r, err);
    if (st != CNN_OK)
        return st;
    r.dy = args->output_grad->data;
    r.da = args->input_grads ? args->input_grads[r.g.full].data : NULL;
    r.db = args->input_grads ? args->input_grads[1 - r.g.full].data : NULL;
    if (!r.da && !r.db)
        return CNN_OK;
    mul_parallel(args->env, &r, mul_backward_range);
    return CNN_OK;
}

static const cnn_layer_descriptor mul_descriptor = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "mul",
    .summary = "element-wise product of 2 inputs; the second may be "
               "[N, C, 1, 1], broadcast over H and W",
    .hparams = NULL,
    .n_hparams = 0,
    .min_inputs = 2,
    .max_inputs = 2,
    /* backward needs the inputs, never the output (ABI 1.3) */
    .flags = CNN_LAYER_FLAG_BACKWARD_IGNORES_OUTPUT,
    .infer_shape = mul_infer_shape,
    .create = NULL,
    .params = NULL,
    .forward = mul_forward,
    .backward = mul_backward,
    .destroy = NULL,
    .flops = NULL,
};

CNN_LAYER_PLUGIN(mul_descriptor)
