/* SPDX-License-Identifier: MIT */
/* The import's result: the graph written as YAML meant for a person to read
 * and edit (a header saying where it came from and where the input's
 * normalisation goes, one layer a line in flow style, `inputs:` only where
 * a layer does not read the one before it), and the weights, saved as
 * safetensors. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/atomic_file.h"
#include "onnx_internal.h"

struct cnn_onnx_imported {
    char *yaml;
    size_t yaml_len;
    cnn_named_tensor *tensors;
    size_t n_tensors;
    size_t n_layers;
    char *origin;
};

typedef struct text {
    char *buf;
    size_t len, cap;
    int failed;
} text;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (t->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        {
            size_t cap = 2 * t->cap + (size_t)n + 1;
            char *p = realloc(t->buf, cap);
            if (!p) {
                t->failed = 1;
                return;
            }
            t->buf = p;
            t->cap = cap;
        }
    }
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A YAML comment may hold anything but line breaks. */
static void put_comment_text(text *t, const char *s, size_t max)
{
    for (size_t i = 0; s && s[i] && i < max; i++)
        put(t, "%c", s[i] == '\n' || s[i] == '\r' ? ' ' : s[i]);
}

static const char *layer_input_name(const onnx_importer *im, int32_t i)
{
    return i < 0 ? "input" : im->layers[i].name;
}

cnn_status onnx_imported_build(onnx_importer *im, const char *graph_name,
                               const cnn_shape *input,
                               cnn_onnx_imported **out);

cnn_status onnx_imported_build(onnx_importer *im, const char *graph_name,
                               const cnn_shape *input,
                               cnn_onnx_imported **out)
{
    cnn_onnx_imported *r = calloc(1, sizeof *r);
    text t = {malloc(4096), 0, 4096, 0};
    const Onnx__ModelProto *m = im->model;

    if (!r || !t.buf) {
        free(r);
        free(t.buf);
        return cnn_context_fail(im->ctx, CNN_ERR_NOMEM, "%s: out of memory",
                                im->origin);
    }
    put(&t, "# Imported by `cnnrun import` from ");
    put_comment_text(&t, base_name(im->origin), 200);
    put(&t, " (");
    if (m->producer_name && *m->producer_name) {
        put_comment_text(&t, m->producer_name, 60);
        put(&t, " ");
        put_comment_text(&t, m->producer_version, 40);
        put(&t, ", ");
    }
    put(&t, "opset %lld, %zu nodes).\n", (long long)im->opset,
        im->graph->n_node);
    put(&t, "# ONNX does not record the input's normalisation: add the mean "
            "and std the\n# model was trained with (pixels scaled to [0, 1] "
            "first), per channel, e.g.:\n#   input: {shape: [%lld, %lld, "
            "%lld], mean: [", (long long)input->dims[1],
        (long long)input->dims[2], (long long)input->dims[3]);
    /* torchvision's ImageNet values for colour input, a neutral 0.5 else */
    for (int64_t c = 0; c < input->dims[1] && c < 8; c++)
        put(&t, "%s%s", c ? ", " : "",
            input->dims[1] == 3 ? (const char *[]){"0.485", "0.456", "0.406"}[c]
                                : "0.5");
    put(&t, "%s], std: [", input->dims[1] > 8 ? ", ..." : "");
    for (int64_t c = 0; c < input->dims[1] && c < 8; c++)
        put(&t, "%s%s", c ? ", " : "",
            input->dims[1] == 3 ? (const char *[]){"0.229", "0.224", "0.225"}[c]
                                : "0.5");
    put(&t, "%s]}\n", input->dims[1] > 8 ? ", ..." : "");
    put(&t, "name: %s\ninput: [%lld, %lld, %lld]\nlayers:\n", graph_name,
        (long long)input->dims[1], (long long)input->dims[2],
        (long long)input->dims[3]);
    for (size_t i = 0; i < im->n_layers; i++) {
        const onnx_layer *l = &im->layers[i];
        put(&t, "  - {name: %s, type: %s%s", l->name, l->type, l->hp);
        if (l->dense_without_bias)
            put(&t, ", bias: false");
        if (!(l->n_inputs == 1 && l->inputs[0] == (int32_t)i - 1)) {
            if (l->n_inputs == 1) {
                put(&t, ", inputs: %s", layer_input_name(im, l->inputs[0]));
            } else {
                put(&t, ", inputs: [");
                for (uint32_t k = 0; k < l->n_inputs; k++)
                    put(&t, "%s%s", k ? ", " : "",
                        layer_input_name(im, l->inputs[k]));
                put(&t, "]");
            }
        }
        put(&t, "}\n");
    }
    if (t.failed) {
        free(t.buf);
        free(r);
        return cnn_context_fail(im->ctx, CNN_ERR_NOMEM, "%s: out of memory",
                                im->origin);
    }
    r->yaml = t.buf;
    r->yaml_len = t.len;
    r->n_layers = im->n_layers;
    r->origin = strdup(im->origin);
    /* The weights move over; the importer keeps nothing. */
    r->tensors = im->tensors;
    r->n_tensors = im->n_tensors;
    im->tensors = NULL;
    im->n_tensors = im->cap_tensors = 0;
    *out = r;
    return CNN_OK;
}

void cnn_onnx_imported_destroy(cnn_onnx_imported *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_tensors; i++) {
        free((char *)r->tensors[i].name);
        free(r->tensors[i].tensor.data);
    }
    free(r->tensors);
    free(r->yaml);
    free(r->origin);
    free(r);
}

const char *cnn_onnx_imported_yaml(const cnn_onnx_imported *r, size_t *length)
{
    if (length)
        *length = r->yaml_len;
    return r->yaml;
}

const cnn_named_tensor *cnn_onnx_imported_tensors(const cnn_onnx_imported *r,
                                                  size_t *count)
{
    *count = r->n_tensors;
    return r->tensors;
}

size_t cnn_onnx_imported_layer_count(const cnn_onnx_imported *r)
{
    return r->n_layers;
}

cnn_status cnn_onnx_imported_save(cnn_context *ctx,
                                  const cnn_onnx_imported *r,
                                  const char *graph_path,
                                  const char *weights_path)
{
    const char *meta[] = {"source", base_name(r->origin), "format",
                          "cnnrun weights imported from ONNX"};
    cnn_status st = CNN_OK;
    if (weights_path)
        st = cnn_safetensors_write(ctx, weights_path, r->tensors, r->n_tensors,
                                   meta, 2);
    if (st == CNN_OK && graph_path)
        st = cnn_atomic_file_write_all(ctx, graph_path, r->yaml, r->yaml_len);
    return st;
}
