/* SPDX-License-Identifier: MIT */
/* Shapes and tensor views: float32, NCHW, contiguous, row-major.
 *
 * A cnn_tensor is a view: it never owns its data. Who owns the buffer is said
 * wherever a tensor crosses an API. Everything here is header-only so that a
 * plugin needs no symbol from libcnn. */
#ifndef CNN_TENSOR_H
#define CNN_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CNN_MAX_RANK 8

/* dims[0] is the batch dimension wherever a shape describes activations. */
typedef struct cnn_shape {
    int32_t rank;
    int64_t dims[CNN_MAX_RANK];
} cnn_shape;

typedef struct cnn_tensor {
    cnn_shape shape;
    float *data; /* borrowed; contiguous, shape.dims row-major */
} cnn_tensor;

/* Number of elements; 0 for an invalid shape. Callers that build shapes from
 * untrusted input check overflow with cnn_shape_numel_checked instead. */
static inline size_t cnn_shape_numel(const cnn_shape *s)
{
    size_t n = 1;
    if (s->rank < 0 || s->rank > CNN_MAX_RANK)
        return 0;
    for (int32_t i = 0; i < s->rank; i++) {
        if (s->dims[i] < 0)
            return 0;
        n *= (size_t)s->dims[i];
    }
    return n;
}

/* Like cnn_shape_numel, but returns 0 from *ok on overflow or bad dims. */
static inline size_t cnn_shape_numel_checked(const cnn_shape *s, int *ok)
{
    size_t n = 1;
    *ok = 0;
    if (s->rank < 0 || s->rank > CNN_MAX_RANK)
        return 0;
    for (int32_t i = 0; i < s->rank; i++) {
        if (s->dims[i] < 0)
            return 0;
        if (s->dims[i] != 0 && n > SIZE_MAX / (size_t)s->dims[i])
            return 0;
        n *= (size_t)s->dims[i];
    }
    *ok = 1;
    return n;
}

static inline cnn_shape cnn_shape_make(int32_t rank, const int64_t *dims)
{
    cnn_shape s;
    s.rank = rank;
    for (int32_t i = 0; i < CNN_MAX_RANK; i++)
        s.dims[i] = i < rank ? dims[i] : 0;
    return s;
}

static inline cnn_shape cnn_shape4(int64_t n, int64_t c, int64_t h, int64_t w)
{
    int64_t d[4] = {n, c, h, w};
    return cnn_shape_make(4, d);
}

static inline cnn_shape cnn_shape2(int64_t n, int64_t f)
{
    int64_t d[2] = {n, f};
    return cnn_shape_make(2, d);
}

static inline int cnn_shape_equal(const cnn_shape *a, const cnn_shape *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int32_t i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return 0;
    return 1;
}

static inline size_t cnn_tensor_numel(const cnn_tensor *t)
{
    return cnn_shape_numel(&t->shape);
}

#ifdef __cplusplus
}
#endif
#endif
