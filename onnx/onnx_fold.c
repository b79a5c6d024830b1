/* SPDX-License-Identifier: MIT */
/* Constant folding: the shape arithmetic exporters emit in front of a
 * Reshape (x.view(x.size(0), -1) becomes Shape, Gather, Unsqueeze, Concat)
 * and constants computed from constants (Constant, Cast, Identity,
 * Transpose of a weight, ...). The batch size is not known at import, so
 * Shape(x)[0] folds to a marker (ONNX_DIM_BATCH) that Reshape understands;
 * arithmetic on that marker is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static const char *const fold_ops[] = {
    "Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast",
    "Identity", "Reshape", "Transpose", "Slice", "Add", "Sub", "Mul", "Div",
    "Flatten", "ConstantOfShape", NULL};

int onnx_fold_op(const char *op_type)
{
    for (size_t i = 0; fold_ops[i]; i++)
        if (strcmp(fold_ops[i], op_type) == 0)
            return 1;
    return 0;
}

static cnn_status alloc_like(onnx_importer *im, const Onnx__NodeProto *node,
                             onnx_const *c, onnx_ctype type, int32_t rank,
                             const int64_t *dims)
{
    char where[256];
    cnn_status st;
    onnx_node_where(im, node, where, sizeof where);
    memset(c, 0, sizeof *c);
    st = onnx_charge_computed(im, where, type, rank, dims);
    return st != CNN_OK ? st
                        : onnx_const_alloc(im->ctx, where, c, type, rank, dims);
}

/* Element k of c as a double (integers exactly up to 2^53). */
static double elem(const onnx_const *c, size_t k)
{
    return c->type == ONNX_C_FLOAT ? (double)c->f[k] : (double)c->i[k];
}

static void copy_elems(onnx_const *dst, size_t to, const onnx_const *src,
                       size_t from, size_t n)
{
    if (dst->type == ONNX_C_FLOAT)
        memcpy(dst->f + to, src->f + from, n * sizeof(float));
    else
        memcpy(dst->i + to, src->i + from, n * sizeof(int64_t));
}

static int has_batch(const onnx_const *c)
{
    if (c->type != ONNX_C_INT)
        return 0;
    for (size_t k = 0; k < c->numel; k++)
        if (c->i[k] == ONNX_DIM_BATCH)
            return 1;
    return 0;
}

static cnn_status fold_constant(onnx_importer *im, const Onnx__NodeProto *node,
                                onnx_const *out)
{
    const Onnx__AttributeProto *a;
    if (node->n_attribute != 1)
        return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                              "a Constant needs exactly one value attribute");
    a = node->attribute[0];
    if (!a->name) /* an attribute without a name: nothing to go by */
        return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                              "a Constant's attribute has no name");
    if (strcmp(a->name, "value") == 0 && a->t)
        return onnx_tensor_decode(im->ctx, im->origin, im->base_dir, a->t,
                                  "Constant value", out);
    if (strcmp(a->name, "value_float") == 0 ||
        strcmp(a->name, "value_int") == 0) {
        cnn_status st = alloc_like(im, node, out,
                                   a->name[6] == 'f' ? ONNX_C_FLOAT
                                                     : ONNX_C_INT, 0, NULL);
        if (st != CNN_OK)
            return st;
        if (out->f)
            out->f[0] = a->f;
        else
            out->i[0] = a->i;
        return CNN_OK;
    }
    if (strcmp(a->name, "value_floats") == 0 ||
        strcmp(a->name, "value_ints") == 0) {
        int is_f = a->name[6] == 'f';
        int64_t n = (int64_t)(is_f ? a->n_floats : a->n_ints);
        cnn_status st = alloc_like(im, node, out,
                                   is_f ? ONNX_C_FLOAT : ONNX_C_INT, 1, &n);
        if (st != CNN_OK)
            return st;
        if (n && is_f)
            memcpy(out->f, a->floats, (size_t)n * sizeof(float));
        else if (n)
            memcpy(out->i, a->ints, (size_t)n * sizeof(int64_t));
        return CNN_OK;
    }
    return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                          "Constant attribute '%s' is not supported", a->name);
}

static cnn_status fold_shape(onnx_importer *im, const Onnx__NodeProto *node,
                             const onnx_value *x, onnx_const *out)
{
    int64_t r = x->is_const ? x->c.rank : x->shape.rank, start = 0, end = r;
    cnn_status st;
    if ((st = onnx_attr_int(im, node, "start", 0, &start)) != CNN_OK ||
        (st = onnx_attr_int(im, node, "end", r, &end)) != CNN_OK)
        return st;
    if (start < 0)
        start += r;
    if (end < 0)
        end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < start ? start : end > r ? r : end;
    {
        int64_t n = end - start;
        if ((st = alloc_like(im, node, out, ONNX_C_INT, 1, &n)) != CNN_OK)
            return st;
    }
    for (int64_t d = start; d < end; d++)
        out->i[d - start] = x->is_const ? x->c.dims[d]
                            : d == 0    ? ONNX_DIM_BATCH
                                        : x->shape.dims[d];
    return CNN_OK;
}

static cnn_status fold_gather(onnx_importer *im, const Onnx__NodeProto *node,
                              const onnx_const *data, const onnx_const *idx,
                              onnx_const *out)
{
    int64_t axis;
    cnn_status st = onnx_attr_int(im, node, "axis", 0, &axis);
    if (st != CNN_OK)
        return st;
    if (data->rank != 1 || (axis != 0 && axis != -1) ||
        idx->type != ONNX_C_INT || idx->rank > 1)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "folding Gather is supported on 1-D data with "
                              "scalar or 1-D indices");
    if ((st = alloc_like(im, node, out, data->type, idx->rank, idx->dims)) !=
        CNN_OK)
        return st;
    for (size_t k = 0; k < idx->numel; k++) {
        int64_t i = idx->i[k] < 0 ? idx->i[k] + data->dims[0] : idx->i[k];
        if (i < 0 || i >= data->dims[0])
            return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                                  "index %lld outside [0, %lld)",
                                  (long long)idx->i[k],
                                  (long long)data->dims[0]);
        copy_elems(out, k, data, (size_t)i, 1);
    }
    return CNN_OK;
}

/* Axes from the attribute (before opset 13) or the second input. */
static cnn_status read_axes(onnx_importer *im, const Onnx__NodeProto *node,
                            int64_t *axes, size_t *n)
{
    *n = 0;
    if (im->opset < 13 || !onnx_has_input(node, 1))
        return onnx_attr_ints(im, node, "axes", axes, CNN_MAX_RANK, n);
    {
        const onnx_value *v = onnx_value_find(im, node->input[1]);
        if (!v || !v->is_const || v->c.type != ONNX_C_INT ||
            v->c.numel > CNN_MAX_RANK)
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "axes must be a constant list of at most %d "
                                  "integers", CNN_MAX_RANK);
        if (v->c.numel)
        memcpy(axes, v->c.i, v->c.numel * sizeof *axes);
        *n = v->c.numel;
    }
    return CNN_OK;
}

static cnn_status fold_unsqueeze(onnx_importer *im,
                                 const Onnx__NodeProto *node,
                                 const onnx_const *x, int squeeze,
                                 onnx_const *out)
{
    int64_t axes[CNN_MAX_RANK], dims[CNN_MAX_RANK];
    int mark[CNN_MAX_RANK] = {0};
    size_t n;
    int32_t r;
    cnn_status st = read_axes(im, node, axes, &n);
    if (st != CNN_OK)
        return st;
    r = squeeze ? x->rank : x->rank + (int32_t)n;
    if (r > CNN_MAX_RANK)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED, "rank %d",
                              (int)r);
    for (size_t k = 0; k < n; k++) {
        int64_t a = axes[k] < 0 ? axes[k] + r : axes[k];
        if (a < 0 || a >= r || (squeeze && x->dims[a] != 1))
            return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                                  "axis %lld is invalid", (long long)axes[k]);
        mark[a] = 1;
    }
    {
        int32_t o = 0, s = 0;
        for (int32_t d = 0; d < r; d++) {
            if (squeeze) {
                if (!mark[d] && !(n == 0 && x->dims[d] == 1))
                    dims[o++] = x->dims[d];
            } else {
                dims[o++] = mark[d] ? 1 : x->dims[s++];
            }
        }
        r = o;
    }
    if ((st = alloc_like(im, node, out, x->type, r, dims)) != CNN_OK)
        return st;
    copy_elems(out, 0, x, 0, x->numel);
    return CNN_OK;
}

static cnn_status fold_concat(onnx_importer *im, const Onnx__NodeProto *node,
                              onnx_const *const *in, size_t n_in,
                              onnx_const *out)
{
    int64_t axis, dims[CNN_MAX_RANK];
    size_t outer = 1, at = 0;
    cnn_status st = onnx_attr_int(im, node, "axis", 0, &axis);
    if (st != CNN_OK)
        return st;
    if (axis < 0)
        axis += in[0]->rank;
    if (axis < 0 || axis >= in[0]->rank)
        return onnx_node_fail(im, node, CNN_ERR_FORMAT, "axis outside rank %d",
                              (int)in[0]->rank);
    memcpy(dims, in[0]->dims, sizeof dims);
    for (size_t i = 1; i < n_in; i++) {
        if (in[i]->rank != in[0]->rank || in[i]->type != in[0]->type)
            return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                                  "inputs differ in rank or type");
        for (int32_t d = 0; d < in[0]->rank; d++)
            if (d != axis && in[i]->dims[d] != in[0]->dims[d])
                return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                                      "inputs differ off the axis");
        dims[axis] += in[i]->dims[axis];
    }
    if ((st = alloc_like(im, node, out, in[0]->type, in[0]->rank, dims)) !=
        CNN_OK)
        return st;
    for (int32_t d = 0; d < axis; d++)
        outer *= (size_t)dims[d];
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < n_in; i++) {
            size_t chunk = outer ? in[i]->numel / outer : 0;
            copy_elems(out, at, in[i], o * chunk, chunk);
            at += chunk;
        }
    return CNN_OK;
}

static cnn_status fold_cast(onnx_importer *im, const Onnx__NodeProto *node,
                            const onnx_const *x, onnx_const *out)
{
    int64_t to;
    onnx_ctype type;
    cnn_status st = onnx_attr_int(im, node, "to", 0, &to);
    if (st != CNN_OK)
        return st;
    if (to == 1 || to == 10 || to == 11 || to == 16)
        type = ONNX_C_FLOAT;
    else if ((to >= 2 && to <= 7) || to == 9 || to == 12 || to == 13)
        type = ONNX_C_INT;
    else
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "cast to %s", onnx_dtype_name((int32_t)to));
    if (type == ONNX_C_FLOAT && has_batch(x))
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "the batch size cast to float");
    if ((st = alloc_like(im, node, out, type, x->rank, x->dims)) != CNN_OK)
        return st;
    for (size_t k = 0; k < x->numel; k++) {
        if (type == ONNX_C_FLOAT)
            out->f[k] = (float)elem(x, k);
        else if (x->type == ONNX_C_INT)
            out->i[k] = to == 9 ? (x->i[k] != 0) : x->i[k];
        else {
            double v = elem(x, k);
            if (!(v > -9.2e18 && v < 9.2e18))
                return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                      "%g does not fit an integer", v);
            out->i[k] = to == 9 ? (v != 0) : (int64_t)v;
        }
    }
    return CNN_OK;
}

static cnn_status fold_reshape(onnx_importer *im, const Onnx__NodeProto *node,
                               const onnx_const *x, const onnx_const *shape,
                               onnx_const *out)
{
    int64_t dims[CNN_MAX_RANK], known = 1;
    int infer = -1;
    cnn_status st;
    if (shape->type != ONNX_C_INT || shape->rank != 1 ||
        shape->numel > CNN_MAX_RANK || has_batch(shape))
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "target shape of a constant must be a constant "
                              "list of at most %d sizes", CNN_MAX_RANK);
    for (size_t d = 0; d < shape->numel; d++) {
        int64_t v = shape->i[d];
        if (v == 0 && (int32_t)d < x->rank)
            v = x->dims[d];
        if (v == -1 && infer < 0) {
            infer = (int)d;
            continue;
        }
        if (v < 0)
            return onnx_node_fail(im, node, CNN_ERR_FORMAT, "target size %lld",
                                  (long long)v);
        dims[d] = v;
        if (__builtin_mul_overflow(known, v, &known))
            return onnx_node_fail(im, node, CNN_ERR_SHAPE,
                                  "target shape's sizes multiply past 2^63");
    }
    if (infer >= 0)
        dims[infer] = known ? (int64_t)x->numel / known : 0;
    if ((st = alloc_like(im, node, out, x->type, (int32_t)shape->numel,
                         dims)) != CNN_OK)
        return st;
    if (out->numel != x->numel) {
        onnx_const_free(out);
        return onnx_node_fail(im, node, CNN_ERR_SHAPE,
                              "reshapes %zu values to %zu", x->numel,
                              out->numel);
    }
    copy_elems(out, 0, x, 0, x->numel);
    return CNN_OK;
}

static cnn_status fold_transpose(onnx_importer *im,
                                 const Onnx__NodeProto *node,
                                 const onnx_const *x, onnx_const *out)
{
    int64_t perm[CNN_MAX_RANK], dims[CNN_MAX_RANK], in_strides[CNN_MAX_RANK];
    size_t n;
    cnn_status st = onnx_attr_ints(im, node, "perm", perm, CNN_MAX_RANK, &n);
    if (st != CNN_OK)
        return st;
    if (n == 0)
        for (int32_t d = 0; d < x->rank; d++)
            perm[n++] = x->rank - 1 - d;
    if ((int32_t)n != x->rank)
        return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                              "perm has %zu entries for rank %d", n,
                              (int)x->rank);
    {
        int seen[CNN_MAX_RANK] = {0};
        for (size_t d = 0; d < n; d++) {
            if (perm[d] < 0 || perm[d] >= x->rank || seen[perm[d]]++)
                return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                                      "perm is not a permutation");
            dims[d] = x->dims[perm[d]];
        }
    }
    if ((st = alloc_like(im, node, out, x->type, x->rank, dims)) != CNN_OK)
        return st;
    {
        int64_t s = 1;
        for (int32_t d = x->rank - 1; d >= 0; d--) {
            in_strides[d] = s;
            s *= x->dims[d];
        }
    }
    for (size_t k = 0; k < out->numel; k++) {
        size_t rem = k, src = 0;
        for (int32_t d = x->rank - 1; d >= 0; d--) {
            size_t i = dims[d] ? rem % (size_t)dims[d] : 0;
            rem = dims[d] ? rem / (size_t)dims[d] : 0;
            src += i * (size_t)in_strides[perm[d]];
        }
        copy_elems(out, k, x, src, 1);
    }
    return CNN_OK;
}

/* Slice along one axis, any step but 0 (PyTorch's F.pad export reverses
 * the rows of its [-1, 2] pad table with step -1). */
static cnn_status fold_slice(onnx_importer *im, const Onnx__NodeProto *node,
                             onnx_const *const *in, size_t n_in,
                             onnx_const *out)
{
    const onnx_const *x = in[0];
    int64_t starts[1] = {0}, ends[1] = {0}, step = 1, axis = 0, b, e, n;
    int64_t dims[CNN_MAX_RANK], dim;
    size_t ns = 0, ne = 0, outer = 1, inner = 1;
    cnn_status st;
    if (x->rank < 1)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "folding Slice of a scalar");
    if (im->opset < 10) {
        if ((st = onnx_attr_ints(im, node, "starts", starts, 1, &ns)) !=
                CNN_OK ||
            (st = onnx_attr_ints(im, node, "ends", ends, 1, &ne)) != CNN_OK ||
            (st = onnx_attr_ints(im, node, "axes", &axis, 1, &(size_t){0})) !=
                CNN_OK)
            return st;
    } else {
        if (n_in < 3 || in[1]->type != ONNX_C_INT || in[1]->numel != 1 ||
            in[2]->type != ONNX_C_INT || in[2]->numel != 1 ||
            (n_in > 3 && in[3] &&
             (in[3]->type != ONNX_C_INT || in[3]->numel != 1)) ||
            (n_in > 4 && in[4] &&
             (in[4]->type != ONNX_C_INT || in[4]->numel != 1)))
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "folding Slice needs one start, one end, "
                                  "one axis, one step");
        starts[0] = in[1]->i[0];
        ends[0] = in[2]->i[0];
        ns = ne = 1;
        if (n_in > 3 && in[3])
            axis = in[3]->i[0];
        if (n_in > 4 && in[4])
            step = in[4]->i[0];
    }
    if (axis < 0)
        axis += x->rank;
    if (ns != 1 || ne != 1 || step == 0 || axis < 0 || axis >= x->rank)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "folding Slice needs one start and end, a "
                              "step other than 0 and an axis of the "
                              "rank-%d data", (int)x->rank);
    dim = x->dims[axis];
    b = starts[0] < 0 ? starts[0] + dim : starts[0];
    e = ends[0] < 0 ? ends[0] + dim : ends[0];
    if (step > 0) {
        b = b < 0 ? 0 : b > dim ? dim : b;
        e = e < b ? b : e > dim ? dim : e;
        n = e > b ? (e - b - 1) / step + 1 : 0; /* no overflow near 2^63 */
    } else { /* from b down to e + 1 */
        b = b < 0 ? 0 : b > dim - 1 ? dim - 1 : b;
        e = e < -1 ? -1 : e > b ? b : e;
        /* |step| unsigned: step may be INT64_MIN. */
        uint64_t stride = (uint64_t)(-(step + 1)) + 1u;
        n = b > e ? (int64_t)((uint64_t)(b - e - 1) / stride) + 1 : 0;
    }
    for (int32_t d = 0; d < x->rank; d++) {
        dims[d] = d == axis ? n : x->dims[d];
        if (d < axis)
            outer *= (size_t)x->dims[d];
        else if (d > axis)
            inner *= (size_t)x->dims[d];
    }
    if ((st = alloc_like(im, node, out, x->type, x->rank, dims)) != CNN_OK)
        return st;
    for (size_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < n; k++)
            copy_elems(out, (o * (size_t)n + (size_t)k) * inner, x,
                       (o * (size_t)dim + (size_t)(b + k * step)) * inner,
                       inner);
    return CNN_OK;
}

/* Add, Sub, Mul, Div of equal shapes or with a one-value operand. */
static cnn_status fold_arith(onnx_importer *im, const Onnx__NodeProto *node,
                             const onnx_const *a, const onnx_const *b,
                             onnx_const *out)
{
    const onnx_const *big = a->numel >= b->numel ? a : b;
    char op = node->op_type[0];
    cnn_status st;
    if (a->type != b->type)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "operands of different types");
    if (has_batch(a) || has_batch(b))
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "arithmetic on the batch size is not "
                              "supported");
    if (a->numel != b->numel && a->numel != 1 && b->numel != 1)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "folding supports equal shapes or a single "
                              "value");
    if ((st = alloc_like(im, node, out, a->type, big->rank, big->dims)) !=
        CNN_OK)
        return st;
    for (size_t k = 0; k < out->numel; k++) {
        size_t ka = a->numel == 1 ? 0 : k, kb = b->numel == 1 ? 0 : k;
        if (a->type == ONNX_C_FLOAT) {
            float x = a->f[ka], y = b->f[kb];
            out->f[k] = op == 'A' ? x + y : op == 'S' ? x - y
                        : op == 'M' ? x * y : x / y;
        } else {
            int64_t x = a->i[ka], y = b->i[kb];
            if (op == 'D' && (y == 0 || (x == INT64_MIN && y == -1))) {
                onnx_const_free(out);
                return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                                      "integer division by zero");
            }
            /* Wrap-around like the int64 arithmetic of a runtime, without
             * signed overflow in C. */
            out->i[k] = op == 'A'   ? (int64_t)((uint64_t)x + (uint64_t)y)
                        : op == 'S' ? (int64_t)((uint64_t)x - (uint64_t)y)
                        : op == 'M' ? (int64_t)((uint64_t)x * (uint64_t)y)
                                    : x / y;
        }
    }
    return CNN_OK;
}

static cnn_status fold_constant_of_shape(onnx_importer *im,
                                         const Onnx__NodeProto *node,
                                         const onnx_const *shape,
                                         onnx_const *out)
{
    const Onnx__AttributeProto *a = onnx_attr(node, "value");
    onnx_const v;
    cnn_status st;
    memset(&v, 0, sizeof v);
    if (shape->type != ONNX_C_INT || shape->rank != 1 ||
        shape->numel > CNN_MAX_RANK || has_batch(shape))
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "the shape must be a constant list");
    if (a && a->t) {
        st = onnx_tensor_decode(im->ctx, im->origin, NULL, a->t,
                                "ConstantOfShape value", &v);
        if (st != CNN_OK)
            return st;
        if (v.numel != 1) {
            onnx_const_free(&v);
            return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                                  "value must hold one element");
        }
    }
    st = alloc_like(im, node, out, a && a->t ? v.type : ONNX_C_FLOAT,
                    (int32_t)shape->numel, shape->i);
    for (size_t k = 0; st == CNN_OK && k < out->numel; k++) {
        if (out->f)
            out->f[k] = v.f ? v.f[0] : 0.0f;
        else
            out->i[k] = v.i ? v.i[0] : 0;
    }
    onnx_const_free(&v);
    return st;
}

cnn_status onnx_fold(onnx_importer *im, const Onnx__NodeProto *node,
                     int *folded)
{
    const char *op = node->op_type;
    onnx_const *in[16], out;
    size_t n_in = node->n_input;
    cnn_status st;

    *folded = 0;
    memset(&out, 0, sizeof out);
    if (strcmp(op, "Constant") == 0) {
        st = fold_constant(im, node, &out);
        goto bind;
    }
    if (n_in > 16)
        return CNN_OK; /* not a shape computation; the op table decides */
    for (size_t i = 0; i < n_in; i++) {
        onnx_value *v;
        in[i] = NULL;
        if (!onnx_has_input(node, i))
            continue;
        if (!(v = onnx_input(im, node, i)))
            return cnn_context_status(im->ctx);
        if (strcmp(op, "Shape") == 0 && i == 0) {
            st = fold_shape(im, node, v, &out);
            goto bind;
        }
        if (!v->is_const) {
            if (onnx_op_for_import(op))
                return CNN_OK; /* a layer: the op table maps it */
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "%s of a value computed at run time is not "
                                  "supported; cnnrun evaluates it only on "
                                  "constants (shape arithmetic)", op);
        }
        in[i] = &v->c;
    }
    if (n_in == 0 || !in[0])
        return onnx_node_fail(im, node, CNN_ERR_FORMAT, "input 0 is missing");
    if (strcmp(op, "Identity") == 0)
        return (*folded = 1,
                onnx_bind_alias(im, node, 0, onnx_input(im, node, 0)));
    if (strcmp(op, "Gather") == 0) {
        if (n_in < 2 || !in[1])
            return onnx_node_fail(im, node, CNN_ERR_FORMAT, "no indices");
        st = fold_gather(im, node, in[0], in[1], &out);
    } else if (strcmp(op, "Unsqueeze") == 0 || strcmp(op, "Squeeze") == 0) {
        st = fold_unsqueeze(im, node, in[0], op[0] == 'S', &out);
    } else if (strcmp(op, "Concat") == 0) {
        for (size_t i = 0; i < n_in; i++)
            if (!in[i])
                return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                                      "input %zu is missing", i);
        st = fold_concat(im, node, in, n_in, &out);
    } else if (strcmp(op, "Cast") == 0) {
        st = fold_cast(im, node, in[0], &out);
    } else if (strcmp(op, "Reshape") == 0 || strcmp(op, "Flatten") == 0) {
        if (op[0] == 'F') {
            int64_t axis, dims[2] = {1, 1};
            onnx_const shape;
            if ((st = onnx_attr_int(im, node, "axis", 1, &axis)) != CNN_OK)
                return st;
            if (axis < 0)
                axis += in[0]->rank;
            for (int32_t d = 0; d < in[0]->rank; d++)
                dims[d >= axis] *= in[0]->dims[d];
            st = alloc_like(im, node, &out, in[0]->type, 2, dims);
            if (st == CNN_OK)
                copy_elems(&out, 0, in[0], 0, in[0]->numel);
            (void)shape;
        } else {
            if (n_in < 2 || !in[1])
                return onnx_node_fail(im, node, CNN_ERR_FORMAT, "no shape");
            st = fold_reshape(im, node, in[0], in[1], &out);
        }
    } else if (strcmp(op, "Transpose") == 0) {
        st = fold_transpose(im, node, in[0], &out);
    } else if (strcmp(op, "Slice") == 0) {
        for (size_t i = 1; i < n_in; i++)
            if (!in[i] && i < 3)
                return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                                      "input %zu is missing", i);
        st = fold_slice(im, node, in, n_in, &out);
    } else if (strcmp(op, "ConstantOfShape") == 0) {
        st = fold_constant_of_shape(im, node, in[0], &out);
    } else { /* Add, Sub, Mul, Div */
        if (n_in != 2 || !in[1])
            return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                                  "needs two inputs");
        st = fold_arith(im, node, in[0], in[1], &out);
    }
bind:
    if (st != CNN_OK) {
        onnx_const_free(&out);
        return st;
    }
    *folded = 1;
    return onnx_bind_const(im, node, 0, &out);
}
