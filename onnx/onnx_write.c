/* SPDX-License-Identifier: MIT */
/* Building an ONNX model in memory for export: every struct, string and
 * array of the model comes from one arena, freed at once after packing, so
 * handlers never free anything. Weights are not copied: an initializer's
 * raw_data points at the parameter store (little-endian float32, the
 * store's own layout). */
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

typedef struct arena_block {
    struct arena_block *next;
    max_align_t align[]; /* the caller's bytes follow */
} arena_block;

void *onnx_w_alloc(onnx_exporter *ex, size_t size)
{
    arena_block *b;
    if (ex->failed || size > SIZE_MAX - sizeof *b)
        return NULL;
    b = calloc(1, sizeof *b + size);
    if (!b) {
        ex->failed = 1;
        return NULL;
    }
    b->next = ex->arena;
    ex->arena = b;
    return b->align;
}

void onnx_w_arena_free(onnx_exporter *ex);
void onnx_w_arena_free(onnx_exporter *ex)
{
    arena_block *b = ex->arena;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    ex->arena = NULL;
}

char *onnx_w_strdup(onnx_exporter *ex, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = onnx_w_alloc(ex, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Appends item to a repeated field; arrays double when the count reaches a
 * power of two (the old array stays in the arena). */
static void push(onnx_exporter *ex, void ***array, size_t *n, void *item)
{
    if (!item || ex->failed)
        return;
    if (*n == 0 || (*n & (*n - 1)) == 0) {
        size_t cap = *n ? 2 * *n : 4;
        void **p = onnx_w_alloc(ex, cap * sizeof *p);
        if (!p)
            return;
        if (*n)
            memcpy(p, *array, *n * sizeof *p);
        *array = p;
    }
    (*array)[(*n)++] = item;
}

Onnx__NodeProto *onnx_w_node(onnx_exporter *ex, const char *op_type,
                             const char *name, const char *const *inputs,
                             size_t n_inputs, const char *output)
{
    Onnx__NodeProto *n = onnx_w_alloc(ex, sizeof *n);
    if (!n)
        return NULL;
    onnx__node_proto__init(n);
    n->op_type = onnx_w_strdup(ex, op_type);
    n->name = onnx_w_strdup(ex, name);
    n->input = onnx_w_alloc(ex, (n_inputs + 1) * sizeof *n->input);
    n->output = onnx_w_alloc(ex, sizeof *n->output);
    if (!n->input || !n->output)
        return NULL;
    for (size_t i = 0; i < n_inputs; i++)
        n->input[i] = onnx_w_strdup(ex, inputs[i]);
    n->n_input = n_inputs;
    n->output[0] = onnx_w_strdup(ex, output);
    n->n_output = 1;
    push(ex, (void ***)&ex->g->node, &ex->g->n_node, n);
    return ex->failed ? NULL : n;
}

static Onnx__AttributeProto *attr(onnx_exporter *ex, Onnx__NodeProto *n,
                                  const char *name,
                                  Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a;
    if (!n)
        return NULL;
    a = onnx_w_alloc(ex, sizeof *a);
    if (!a)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = onnx_w_strdup(ex, name);
    a->has_type = 1;
    a->type = type;
    push(ex, (void ***)&n->attribute, &n->n_attribute, a);
    return a;
}

void onnx_w_attr_int(onnx_exporter *ex, Onnx__NodeProto *n, const char *name,
                     int64_t v)
{
    Onnx__AttributeProto *a =
        attr(ex, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) {
        a->has_i = 1;
        a->i = v;
    }
}

void onnx_w_attr_float(onnx_exporter *ex, Onnx__NodeProto *n,
                       const char *name, float v)
{
    Onnx__AttributeProto *a =
        attr(ex, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a) {
        a->has_f = 1;
        a->f = v;
    }
}

void onnx_w_attr_ints(onnx_exporter *ex, Onnx__NodeProto *n, const char *name,
                      const int64_t *v, size_t count)
{
    Onnx__AttributeProto *a =
        attr(ex, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    if (a) {
        a->ints = onnx_w_alloc(ex, (count + 1) * sizeof *a->ints);
        if (!a->ints)
            return;
        memcpy(a->ints, v, count * sizeof *v);
        a->n_ints = count;
    }
}

static Onnx__TensorProto *init_tensor(onnx_exporter *ex, const char *name,
                                      int32_t dtype, int32_t rank,
                                      const int64_t *dims)
{
    Onnx__TensorProto *t = onnx_w_alloc(ex, sizeof *t);
    if (!t)
        return NULL;
    onnx__tensor_proto__init(t);
    t->name = onnx_w_strdup(ex, name);
    t->has_data_type = 1;
    t->data_type = dtype;
    t->dims = onnx_w_alloc(ex, ((size_t)rank + 1) * sizeof *t->dims);
    if (!t->dims)
        return NULL;
    if (rank) /* a scalar has no dims to copy */
        memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
    t->n_dims = (size_t)rank;
    push(ex, (void ***)&ex->g->initializer, &ex->g->n_initializer, t);
    return t;
}

static size_t numel(int32_t rank, const int64_t *dims)
{
    size_t n = 1;
    for (int32_t d = 0; d < rank; d++)
        n *= (size_t)dims[d];
    return n;
}

void onnx_w_init_float(onnx_exporter *ex, const char *name, const float *data,
                       int32_t rank, const int64_t *dims)
{
    Onnx__TensorProto *t = init_tensor(ex, name, 1, rank, dims);
    if (!t)
        return;
    t->has_raw_data = 1;
    t->raw_data.len = numel(rank, dims) * sizeof(float);
    /* Borrowed: the parameters outlive the packing. */
    t->raw_data.data = (uint8_t *)(uintptr_t)data;
}

void onnx_w_init_int64(onnx_exporter *ex, const char *name,
                       const int64_t *data, int32_t rank, const int64_t *dims)
{
    Onnx__TensorProto *t = init_tensor(ex, name, 7, rank, dims);
    size_t n = numel(rank, dims);
    if (!t)
        return;
    t->int64_data = onnx_w_alloc(ex, (n + 1) * sizeof(int64_t));
    if (!t->int64_data)
        return;
    memcpy(t->int64_data, data, n * sizeof(int64_t));
    t->n_int64_data = n;
}
