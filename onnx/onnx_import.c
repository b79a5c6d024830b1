/* SPDX-License-Identifier: MIT */
/* The importer's driver: checks the model's frame (opset, one float input
 * [N, C, H, W] with a fixed C, H and W, one output), orders the nodes that
 * the output needs (refusing cycles and unknown names), then folds constant
 * nodes and maps the others through the op table, node after node, into a
 * list of layers with their shapes and weights. onnx_yaml.c writes them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

struct cnn_onnx_imported; /* onnx_yaml.c */
cnn_status onnx_imported_build(onnx_importer *im, const char *graph_name,
                               const cnn_shape *input,
                               cnn_onnx_imported **out);

static size_t current_node; /* for messages about unnamed nodes */

cnn_status onnx_node_fail(onnx_importer *im, const Onnx__NodeProto *node,
                          cnn_status status, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (node->name && *node->name)
        return cnn_context_fail(im->ctx, status,
                                "%s: node '%s' (%s, opset %lld): %s",
                                im->origin, node->name,
                                node->op_type ? node->op_type : "?",
                                (long long)im->opset, msg);
    return cnn_context_fail(im->ctx, status,
                            "%s: node %zu (%s, opset %lld): %s", im->origin,
                            current_node, node->op_type ? node->op_type : "?",
                            (long long)im->opset, msg);
}

/* ---- Values ------------------------------------------------------------- */

static onnx_value *value_new(onnx_importer *im, const char *name)
{
    onnx_value *v;
    if (im->n_values == im->cap_values) {
        size_t cap = im->cap_values ? 2 * im->cap_values : 256;
        void *p;
        if (cap > ONNX_MAX_VALUES) {
            cnn_context_fail(im->ctx, CNN_ERR_FORMAT,
                             "%s: more than %d named values; refused",
                             im->origin, ONNX_MAX_VALUES);
            return NULL;
        }
        p = realloc(im->values, cap * sizeof *im->values);
        if (!p) {
            cnn_context_fail(im->ctx, CNN_ERR_NOMEM, "%s: out of memory",
                             im->origin);
            return NULL;
        }
        im->values = p;
        im->cap_values = cap;
    }
    v = &im->values[im->n_values];
    memset(v, 0, sizeof *v);
    v->name = name;
    if (!onnx_table_put(im->value_index, name, (int64_t)im->n_values)) {
        cnn_context_fail(im->ctx, CNN_ERR_NOMEM, "%s: out of memory",
                         im->origin);
        return NULL;
    }
    im->n_values++;
    return v;
}

onnx_value *onnx_value_find(onnx_importer *im, const char *name)
{
    int64_t i = onnx_table_get(im->value_index, name);
    return i < 0 ? NULL : &im->values[i];
}

size_t onnx_value_uses(onnx_importer *im, const onnx_value *v)
{
    int64_t c = onnx_table_get(im->use_counts, v->name);
    return c < 0 ? 0 : (size_t)c;
}

int onnx_has_input(const Onnx__NodeProto *node, size_t i)
{
    return i < node->n_input && node->input[i] && node->input[i][0];
}

onnx_value *onnx_input(onnx_importer *im, const Onnx__NodeProto *node,
                       size_t i)
{
    onnx_value *v;
    if (!onnx_has_input(node, i)) {
        onnx_node_fail(im, node, CNN_ERR_FORMAT, "input %zu is missing", i);
        return NULL;
    }
    v = onnx_value_find(im, node->input[i]);
    if (!v) {
        onnx_node_fail(im, node, CNN_ERR_GRAPH,
                       "input '%s' is produced by no node, initializer or "
                       "graph input", node->input[i]);
        return NULL;
    }
    /* A channel shuffle under way is the producer's data seen another
     * way: only the shuffle's next step, or an op that passes it on, may
     * read it. */
    if (v->shuffle_stage &&
        strcmp(node->op_type, v->shuffle_stage == 1 ? "Transpose" : "Reshape") &&
        strcmp(node->op_type, "Identity") && strcmp(node->op_type, "Dropout")) {
        onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                       "input '%s' is a grouped view of channels; cnnrun "
                       "supports it only as a channel shuffle: Reshape "
                       "[N, g, C/g, ...], Transpose perm [0, 2, 1, ...], "
                       "Reshape [N, C, ...]", v->name);
        return NULL;
    }
    /* A step of a layer norm or GELU written out: only its next step. */
    if (v->step) {
        static const char *const next[] = {
            [ONNX_STEP_LN_MEAN] = "Sub",        [ONNX_STEP_LN_CENTERED] = "Pow Div",
            [ONNX_STEP_LN_SQUARED] = "ReduceMean", [ONNX_STEP_LN_VAR] = "Add",
            [ONNX_STEP_LN_VAR_EPS] = "Sqrt",    [ONNX_STEP_LN_STD] = "Div",
            [ONNX_STEP_GELU_SCALED] = "Erf",    [ONNX_STEP_GELU_ERF] = "Add",
            [ONNX_STEP_GELU_ERF1] = "Mul",      [ONNX_STEP_GELU_PRODUCT] = "Mul"};
        const char *ok = next[v->step];
        size_t n = strlen(node->op_type);
        const char *hit = strstr(ok, node->op_type);
        if (!hit || (hit[n] != '\0' && hit[n] != ' ') ||
            (hit != ok && hit[-1] != ' ')) {
            onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                           "input '%s' is a step of a %s written out in "
                           "elementwise ops, which cnnrun maps only whole "
                           "(its next step here would be %s)",
                           v->name,
                           v->step >= ONNX_STEP_GELU_SCALED
                               ? "GELU"
                               : "layer normalisation",
                           ok);
            return NULL;
        }
    }
    /* Channels-last data: only ops that mean the same on either layout. */
    if (v->channels_last) {
        static const char *const readers[] = {
            "Transpose", "ReduceMean", "Sub", "Div", "MatMul", "Add", "Mul",
            "Identity", "Dropout", "LayerNormalization", "Relu", "Sigmoid",
            "Tanh", "HardSwish", "HardSigmoid", "LeakyRelu", "Elu", "Clip"};
        size_t k = 0;
        while (k < sizeof readers / sizeof *readers &&
               strcmp(readers[k], node->op_type))
            k++;
        if (k == sizeof readers / sizeof *readers) {
            onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                           "input '%s' is channels-last (a Transpose perm "
                           "[0, 2, 3, 1]); cnnrun reads such values only in "
                           "layer norms, MatMuls over the channels, GELU "
                           "and activations, then a Transpose perm "
                           "[0, 3, 1, 2]", v->name);
            return NULL;
        }
    }
    /* A zero-padded view is folded into the window that reads it. */
    if (v->zero_padded && strcmp(node->op_type, "Conv") &&
        strcmp(node->op_type, "AveragePool") &&
        strcmp(node->op_type, "Identity") && strcmp(node->op_type, "Dropout")) {
        onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                       "input '%s' is padded with zeros by a Pad; cnnrun "
                       "supports such a Pad only before a Conv or an "
                       "AveragePool, whose padding it becomes", v->name);
        return NULL;
    }
    return v;
}

onnx_value *onnx_input_dynamic(onnx_importer *im, const Onnx__NodeProto *node,
                               size_t i)
{
    onnx_value *v = onnx_input(im, node, i);
    if (v && v->is_const) {
        onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                       "input '%s' is a constant where cnnrun needs a value "
                       "computed from the graph's input", v->name);
        return NULL;
    }
    return v;
}

onnx_const *onnx_input_const(onnx_importer *im, const Onnx__NodeProto *node,
                             size_t i, onnx_ctype type)
{
    onnx_value *v = onnx_input(im, node, i);
    if (!v)
        return NULL;
    if (!v->is_const) {
        onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                       "input '%s' must be a constant (an initializer), it "
                       "is computed at run time", v->name);
        return NULL;
    }
    if (v->c.type != type) {
        onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                       "input '%s' must hold %s, it holds %s", v->name,
                       type == ONNX_C_FLOAT ? "floating-point numbers"
                                            : "integers",
                       v->c.type == ONNX_C_FLOAT ? "floating-point numbers"
                                                 : "integers");
        return NULL;
    }
    return &v->c;
}

static onnx_value *output_value(onnx_importer *im, const Onnx__NodeProto *node,
                                size_t i)
{
    if (i >= node->n_output || !node->output[i] || !node->output[i][0]) {
        onnx_node_fail(im, node, CNN_ERR_FORMAT, "output %zu is missing", i);
        return NULL;
    }
    return value_new(im, node->output[i]);
}

cnn_status onnx_bind_layer(onnx_importer *im, const Onnx__NodeProto *node,
                           size_t i, int32_t layer)
{
    onnx_value *v = output_value(im, node, i);
    if (!v)
        return cnn_context_status(im->ctx);
    v->layer = layer;
    v->shape = im->layers[layer].shape;
    im->layers[layer].n_names++;
    return CNN_OK;
}

cnn_status onnx_bind_const(onnx_importer *im, const Onnx__NodeProto *node,
                           size_t i, onnx_const *c)
{
    onnx_value *v = output_value(im, node, i);
    if (!v) {
        onnx_const_free(c);
        return cnn_context_status(im->ctx);
    }
    v->is_const = 1;
    v->c = *c;
    memset(c, 0, sizeof *c);
    return CNN_OK;
}

void onnx_node_where(const onnx_importer *im, const Onnx__NodeProto *node,
                     char *buf, size_t size)
{
    snprintf(buf, size, "%s: node '%.100s' (%.40s)", im->origin,
             node->name ? node->name : "", node->op_type);
}

cnn_status onnx_charge_computed(onnx_importer *im, const char *where,
                                onnx_ctype type, int32_t rank,
                                const int64_t *dims)
{
    uint64_t limit = ONNX_MAX_COMPUTED_BYTES + im->total_bytes;
    uint64_t bytes = type == ONNX_C_FLOAT ? sizeof(float) : sizeof(int64_t);
    for (int32_t d = 0; d < rank && d < CNN_MAX_RANK; d++) {
        if (dims[d] <= 0)
            return CNN_OK; /* empty, or refused by the allocation itself */
        if (bytes > limit / (uint64_t)dims[d]) {
            bytes = limit + 1;
            break;
        }
        bytes *= (uint64_t)dims[d];
    }
    if (bytes > limit - im->computed_bytes)
        return cnn_context_fail(im->ctx, CNN_ERR_FORMAT,
                                "%s: constants computed at import would hold "
                                "more than %llu MiB (256 MiB plus the "
                                "initializers' size); refused",
                                where, (unsigned long long)(limit >> 20));
    im->computed_bytes += bytes;
    return CNN_OK;
}

cnn_status onnx_bind_alias(onnx_importer *im, const Onnx__NodeProto *node,
                           size_t i, const onnx_value *src)
{
    size_t src_index = (size_t)(src - im->values);
    onnx_value *v = output_value(im, node, i);
    if (!v)
        return cnn_context_status(im->ctx);
    src = &im->values[src_index]; /* value_new may have moved the array */
    v->layer = src->layer;
    v->shape = src->shape;
    v->is_const = src->is_const;
    /* The new name is another of the layer's, unless the old one is read
     * by this node alone (and is no graph output): then it moved. */
    if (!src->is_const && src->layer >= 0 &&
        (onnx_value_uses(im, src) != 1 ||
         onnx_is_graph_output(im, src->name)))
        im->layers[src->layer].n_names++;
    v->shuffle_stage = src->shuffle_stage;
    v->shuffle_groups = src->shuffle_groups;
    v->zero_padded = src->zero_padded;
    memcpy(v->zero_pad, src->zero_pad, sizeof v->zero_pad);
    v->channels_last = src->channels_last;
    v->step = src->step;
    v->step_src = src->step_src;
    v->step_eps = src->step_eps;
    if (src->is_const) {
        /* A copy: each value frees its own data. */
        onnx_const *c = &v->c;
        char where[256];
        cnn_status st;
        onnx_node_where(im, node, where, sizeof where);
        st = onnx_charge_computed(im, where, src->c.type, src->c.rank,
                                  src->c.dims);
        if (st == CNN_OK)
            st = onnx_const_alloc(im->ctx, where, c, src->c.type,
                                  src->c.rank, src->c.dims);
        if (st != CNN_OK)
            return st;
        if (c->numel && c->f)
            memcpy(c->f, src->c.f, c->numel * sizeof(float));
        else if (c->numel)
            memcpy(c->i, src->c.i, c->numel * sizeof(int64_t));
    }
    return CNN_OK;
}

/* ---- Layers ------------------------------------------------------------- */

void onnx_layer_hp(onnx_layer *layer, const char *fmt, ...)
{
    size_t len = strlen(layer->hp);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(layer->hp + len, sizeof layer->hp - len, fmt, ap);
    va_end(ap);
}

onnx_layer *onnx_layer_add(onnx_importer *im, const Onnx__NodeProto *node,
                           const char *type, onnx_value *const *inputs,
                           size_t n_inputs, const cnn_shape *shape,
                           const char *hp_fmt, ...)
{
    onnx_layer *l;
    va_list ap;
    if (n_inputs > ONNX_LAYER_INPUTS) {
        onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                       "%zu inputs (at most %d)", n_inputs, ONNX_LAYER_INPUTS);
        return NULL;
    }
    if (im->n_layers == im->cap_layers) {
        size_t cap = im->cap_layers ? 2 * im->cap_layers : 64;
        void *p = realloc(im->layers, cap * sizeof *im->layers);
        if (!p) {
            cnn_context_fail(im->ctx, CNN_ERR_NOMEM, "%s: out of memory",
                             im->origin);
            return NULL;
        }
        im->layers = p;
        im->cap_layers = cap;
    }
    l = &im->layers[im->n_layers];
    memset(l, 0, sizeof *l);
    l->type = type;
    onnx_layer_name(im->layer_names, node->name, node->op_type, type, l->name,
                    sizeof l->name);
    for (size_t k = 0; k < n_inputs; k++)
        l->inputs[k] = inputs[k]->layer;
    l->n_inputs = (uint32_t)n_inputs;
    l->shape = *shape;
    l->first_param = im->n_tensors;
    va_start(ap, hp_fmt);
    vsnprintf(l->hp, sizeof l->hp, hp_fmt, ap);
    va_end(ap);
    im->n_layers++;
    return l;
}

cnn_status onnx_layer_param(onnx_importer *im, onnx_layer *layer,
                            const char *pname, float *data, int32_t rank,
                            const int64_t *dims)
{
    cnn_named_tensor *t;
    char *name;
    size_t len;
    if (!data)
        return cnn_context_fail(im->ctx, CNN_ERR_NOMEM, "%s: out of memory",
                                im->origin);
    if (im->n_tensors == im->cap_tensors) {
        size_t cap = im->cap_tensors ? 2 * im->cap_tensors : 64;
        void *p = realloc(im->tensors, cap * sizeof *im->tensors);
        if (!p) {
            free(data);
            return cnn_context_fail(im->ctx, CNN_ERR_NOMEM,
                                    "%s: out of memory", im->origin);
        }
        im->tensors = p;
        im->cap_tensors = cap;
    }
    len = strlen(layer->name) + strlen(pname) + 2;
    name = malloc(len);
    if (!name) {
        free(data);
        return cnn_context_fail(im->ctx, CNN_ERR_NOMEM, "%s: out of memory",
                                im->origin);
    }
    snprintf(name, len, "%s.%s", layer->name, pname);
    t = &im->tensors[im->n_tensors++];
    t->name = name;
    t->tensor.shape = cnn_shape_make(rank, dims);
    t->tensor.data = data;
    layer->n_params++;
    return CNN_OK;
}

float *onnx_const_copy(onnx_importer *im, const onnx_const *c)
{
    float *p = malloc(c->numel * sizeof(float) + 1);
    (void)im;
    if (p && c->numel)
        memcpy(p, c->f, c->numel * sizeof(float));
    return p;
}

/* ---- Attributes --------------------------------------------------------- */

const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *node,
                                      const char *name)
{
    for (size_t i = 0; i < node->n_attribute; i++)
        if (node->attribute[i]->name &&
            strcmp(node->attribute[i]->name, name) == 0)
            return node->attribute[i];
    return NULL;
}

/* Files written before the type field existed leave it 0: trust the
 * field that holds a value. */
static int attr_is(const Onnx__AttributeProto *a, int type)
{
    if (a->type == (Onnx__AttributeProto__AttributeType)type)
        return 1;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
        return 0;
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return a->n_ints > 0;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return a->has_s;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return a->has_i;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return a->has_f;
    default: return 0;
    }
}

cnn_status onnx_attr_int(onnx_importer *im, const Onnx__NodeProto *node,
                         const char *name, int64_t dflt, int64_t *out)
{
    const Onnx__AttributeProto *a = onnx_attr(node, name);
    *out = dflt;
    if (!a)
        return CNN_OK;
    if (!attr_is(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT))
        return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                              "attribute '%s' must be an integer", name);
    *out = a->i;
    return CNN_OK;
}

cnn_status onnx_attr_float(onnx_importer *im, const Onnx__NodeProto *node,
                           const char *name, float dflt, float *out)
{
    const Onnx__AttributeProto *a = onnx_attr(node, name);
    *out = dflt;
    if (!a)
        return CNN_OK;
    if (!attr_is(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT))
        return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                              "attribute '%s' must be a float", name);
    *out = a->f;
    return CNN_OK;
}

cnn_status onnx_attr_ints(onnx_importer *im, const Onnx__NodeProto *node,
                          const char *name, int64_t *out, size_t max,
                          size_t *n)
{
    const Onnx__AttributeProto *a = onnx_attr(node, name);
    *n = 0;
    if (!a)
        return CNN_OK;
    if (!attr_is(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS))
        return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                              "attribute '%s' must be a list of integers",
                              name);
    if (a->n_ints > max)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "attribute '%s' has %zu values, at most %zu "
                              "are supported (2-D images)", name, a->n_ints,
                              max);
    if (a->n_ints) /* an empty list may have no array at all */
        memcpy(out, a->ints, a->n_ints * sizeof *out);
    *n = a->n_ints;
    return CNN_OK;
}

cnn_status onnx_attr_string(onnx_importer *im, const Onnx__NodeProto *node,
                            const char *name, const char *dflt, char *out,
                            size_t size)
{
    const Onnx__AttributeProto *a = onnx_attr(node, name);
    snprintf(out, size, "%s", dflt);
    if (!a)
        return CNN_OK;
    if (!attr_is(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING))
        return onnx_node_fail(im, node, CNN_ERR_FORMAT,
                              "attribute '%s' must be a string", name);
    if (a->s.len >= size || (a->s.len && memchr(a->s.data, 0, a->s.len)))
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "attribute '%s' has an unexpected value", name);
    if (a->s.len)
        memcpy(out, a->s.data, a->s.len);
    out[a->s.len] = '\0';
    return CNN_OK;
}

/* Unknown attributes could change an op's meaning: refuse them. */
static cnn_status check_attributes(onnx_importer *im,
                                   const Onnx__NodeProto *node,
                                   const onnx_op *op)
{
    for (size_t i = 0; i < node->n_attribute; i++) {
        const char *name = node->attribute[i]->name ? node->attribute[i]->name
                                                    : "";
        const char *list = op->attributes;
        size_t len = strlen(name);
        int found = 0;
        while (list && *list && !found) {
            const char *e = strchr(list, ',');
            size_t l = e ? (size_t)(e - list) : strlen(list);
            found = l == len && len && strncmp(list, name, l) == 0;
            list = e ? e + 1 : NULL;
        }
        if (!found)
            return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                                  "attribute '%s' is not supported (known: "
                                  "%s)", name,
                                  op->attributes && *op->attributes
                                      ? op->attributes
                                      : "none");
    }
    return CNN_OK;
}

/* ---- The model's frame -------------------------------------------------- */

static cnn_status read_opset(onnx_importer *im)
{
    const Onnx__ModelProto *m = im->model;
    im->opset = -1;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (!o->domain || !*o->domain || strcmp(o->domain, "ai.onnx") == 0)
            im->opset = o->has_version ? o->version : 1;
    }
    if (im->opset < 0)
        return cnn_context_fail(im->ctx, CNN_ERR_FORMAT,
                                "%s: no opset for the default ONNX domain "
                                "(opset_import)", im->origin);
    if (im->opset < CNN_ONNX_MIN_OPSET || im->opset > CNN_ONNX_MAX_OPSET)
        return cnn_context_fail(im->ctx, CNN_ERR_UNSUPPORTED,
                                "%s: opset %lld; cnnrun imports opsets %d to "
                                "%d (re-export with opset_version=13, say)",
                                im->origin, (long long)im->opset,
                                CNN_ONNX_MIN_OPSET, CNN_ONNX_MAX_OPSET);
    return CNN_OK;
}

static cnn_status load_initializers(onnx_importer *im)
{
    const Onnx__GraphProto *g = im->graph;
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        char what[256];
        onnx_value *v;
        cnn_status st;
        if (!t->name || !*t->name)
            return cnn_context_fail(im->ctx, CNN_ERR_FORMAT,
                                    "%s: initializer %zu has no name",
                                    im->origin, i);
        if (onnx_value_find(im, t->name))
            return cnn_context_fail(im->ctx, CNN_ERR_FORMAT,
                                    "%s: initializer '%s' is defined twice",
                                    im->origin, t->name);
        snprintf(what, sizeof what, "initializer '%.200s'", t->name);
        v = value_new(im, t->name);
        if (!v)
            return cnn_context_status(im->ctx);
        v->is_const = 1;
        st = onnx_tensor_decode(im->ctx, im->origin, im->base_dir, t, what,
                                &v->c);
        if (st != CNN_OK)
            return st;
        if (v->c.numel > ONNX_MAX_TOTAL_BYTES / 8 ||
            (im->total_bytes += v->c.numel * 8) > ONNX_MAX_TOTAL_BYTES)
            return cnn_context_fail(im->ctx, CNN_ERR_FORMAT,
                                    "%s: initializers hold more than %llu "
                                    "GiB; refused", im->origin,
                                    ONNX_MAX_TOTAL_BYTES >> 30);
    }
    return CNN_OK;
}

static cnn_status load_input(onnx_importer *im,
                             const cnn_onnx_import_options *opt,
                             cnn_shape *input)
{
    const Onnx__GraphProto *g = im->graph;
    const Onnx__ValueInfoProto *in = NULL;
    const Onnx__TypeProto__Tensor *tt;
    onnx_value *v;
    static const char *const axis[] = {"N", "C", "H", "W"};

    for (size_t i = 0; i < g->n_input; i++) {
        const char *name = g->input[i]->name;
        if (!name || !*name)
            return cnn_context_fail(im->ctx, CNN_ERR_FORMAT,
                                    "%s: graph input %zu has no name",
                                    im->origin, i);
        if (onnx_value_find(im, name))
            continue; /* IR < 4 lists initializers as inputs too */
        if (in)
            return cnn_context_fail(im->ctx, CNN_ERR_UNSUPPORTED,
                                    "%s: the graph has several inputs ('%s', "
                                    "'%s', ...); cnnrun graphs take one image "
                                    "batch", im->origin, in->name, name);
        in = g->input[i];
    }
    if (!in)
        return cnn_context_fail(im->ctx, CNN_ERR_FORMAT,
                                "%s: the graph has no input", im->origin);
    if (!in->type || in->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !in->type->tensor_type)
        return cnn_context_fail(im->ctx, CNN_ERR_UNSUPPORTED,
                                "%s: graph input '%s' is not a tensor",
                                im->origin, in->name);
    tt = in->type->tensor_type;
    if (!tt->has_elem_type || tt->elem_type != 1)
        return cnn_context_fail(im->ctx, CNN_ERR_UNSUPPORTED,
                                "%s: graph input '%s' holds %s; cnnrun runs "
                                "float32 models", im->origin, in->name,
                                onnx_dtype_name(tt->has_elem_type
                                                    ? tt->elem_type
                                                    : 0));
    if (!tt->shape || tt->shape->n_dim != 4)
        return cnn_context_fail(im->ctx, CNN_ERR_UNSUPPORTED,
                                "%s: graph input '%s' has %s; cnnrun graphs "
                                "take [N, C, H, W] images", im->origin,
                                in->name,
                                tt->shape ? "a rank other than 4"
                                          : "no shape");
    *input = cnn_shape_make(4, (const int64_t[]){1, 0, 0, 0});
    for (int d = 1; d < 4; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
        int64_t value = 0;
        if (dim->value_case ==
            ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            value = dim->dim_value;
        if (opt && opt->input_chw[d - 1] > 0)
            value = opt->input_chw[d - 1];
        if (value <= 0)
            return cnn_context_fail(
                im->ctx, CNN_ERR_UNSUPPORTED,
                "%s: graph input '%s' has a dynamic size '%s' on axis %s; "
                "cnnrun needs fixed C, H, W: give them with --input-shape "
                "C,H,W", im->origin, in->name,
                dim->value_case ==
                            ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                        dim->dim_param
                    ? dim->dim_param
                    : "?",
                axis[d]);
        if (value > 1000000)
            return cnn_context_fail(im->ctx, CNN_ERR_UNSUPPORTED,
                                    "%s: graph input '%s' axis %s is %lld "
                                    "(at most 1000000)", im->origin, in->name,
                                    axis[d], (long long)value);
        input->dims[d] = value;
    }
    v = value_new(im, in->name);
    if (!v)
        return cnn_context_status(im->ctx);
    v->layer = CNN_GRAPH_INPUT;
    v->shape = *input;
    return CNN_OK;
}

/* ---- Node order --------------------------------------------------------- */

/* Marks the nodes the output needs and sorts them (Kahn's algorithm),
 * refusing names nothing defines and cycles. */
static cnn_status sort_nodes(onnx_importer *im, const char *output,
                             size_t **out, size_t *n_out)
{
    const Onnx__GraphProto *g = im->graph;
    size_t n = g->n_node, n_needed = 0, head = 0, tail = 0;
    onnx_table *producers = onnx_table_create(2 * n + 1);
    unsigned char *needed = calloc(n + 1, 1);
    size_t *stack = malloc((n + 1) * sizeof *stack);
    size_t *pending = calloc(n + 1, sizeof *pending);
    size_t *sorted = malloc((n + 1) * sizeof *sorted);
    size_t *first_reader = NULL, *next_reader = NULL, total_inputs = 0;
    int64_t *reader_node = NULL;
    size_t sp = 0;
    cnn_status st = CNN_OK;

    for (size_t i = 0; i < n; i++)
        total_inputs += g->node[i]->n_input;
    first_reader = malloc((n + 1) * sizeof *first_reader);
    next_reader = malloc((total_inputs + 1) * sizeof *next_reader);
    reader_node = malloc((total_inputs + 1) * sizeof *reader_node);
    if (!producers || !needed || !stack || !pending || !sorted ||
        !first_reader || !next_reader || !reader_node) {
        st = cnn_context_fail(im->ctx, CNN_ERR_NOMEM, "%s: out of memory",
                              im->origin);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const Onnx__NodeProto *node = g->node[i];
        for (size_t o = 0; o < node->n_output; o++) {
            const char *name = node->output[o];
            if (!name || !*name)
                continue;
            if (onnx_table_get(producers, name) >= 0 ||
                onnx_value_find(im, name)) {
                current_node = i;
                st = onnx_node_fail(im, node, CNN_ERR_FORMAT,
                                    "output '%s' is already defined by "
                                    "another node, an initializer or the "
                                    "graph input", name);
                goto done;
            }
            if (!onnx_table_put(producers, name, (int64_t)i)) {
                st = cnn_context_fail(im->ctx, CNN_ERR_NOMEM,
                                      "%s: out of memory", im->origin);
                goto done;
            }
        }
    }
    /* Backwards from the output: which nodes matter. */
    {
        int64_t p = onnx_table_get(producers, output);
        if (p < 0) {
            if (onnx_value_find(im, output))
                st = cnn_context_fail(im->ctx, CNN_ERR_UNSUPPORTED,
                                      "%s: the graph's output '%s' is a "
                                      "constant or the input itself; there "
                                      "is nothing to run", im->origin, output);
            else
                st = cnn_context_fail(im->ctx, CNN_ERR_GRAPH,
                                      "%s: the graph's output '%s' is "
                                      "produced by no node", im->origin,
                                      output);
            goto done;
        }
        needed[p] = 1;
        stack[sp++] = (size_t)p;
    }
    while (sp) {
        size_t idx = stack[--sp];
        const Onnx__NodeProto *node = g->node[idx];
        n_needed++;
        for (size_t k = 0; k < node->n_input; k++) {
            const char *name = node->input[k];
            int64_t p;
            if (!name || !*name)
                continue;
            p = onnx_table_get(producers, name);
            if (p < 0) {
                if (!onnx_value_find(im, name)) {
                    current_node = idx;
                    st = onnx_node_fail(im, node, CNN_ERR_GRAPH,
                                        "input '%s' is produced by no node, "
                                        "initializer or graph input", name);
                    goto done;
                }
                continue;
            }
            if (!needed[p]) {
                needed[p] = 1;
                stack[sp++] = (size_t)p;
            }
        }
    }
    /* Readers lists and counts of unfinished inputs. */
    for (size_t i = 0; i < n; i++)
        first_reader[i] = SIZE_MAX;
    {
        size_t slot = 0;
        for (size_t i = 0; i < n; i++) {
            const Onnx__NodeProto *node = g->node[i];
            if (!needed[i])
                continue;
            for (size_t k = 0; k < node->n_input; k++) {
                int64_t p;
                if (!node->input[k] || !node->input[k][0])
                    continue;
                p = onnx_table_get(producers, node->input[k]);
                if (p < 0)
                    continue;
                pending[i]++;
                reader_node[slot] = (int64_t)i;
                next_reader[slot] = first_reader[p];
                first_reader[p] = slot++;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        if (needed[i] && pending[i] == 0)
            sorted[tail++] = i;
    while (head < tail) {
        size_t i = sorted[head++];
        for (size_t s = first_reader[i]; s != SIZE_MAX; s = next_reader[s]) {
            size_t r = (size_t)reader_node[s];
            if (--pending[r] == 0)
                sorted[tail++] = r;
        }
    }
    if (tail < n_needed) {
        for (size_t i = 0; i < n; i++)
            if (needed[i] && pending[i]) {
                current_node = i;
                st = onnx_node_fail(im, g->node[i], CNN_ERR_GRAPH,
                                    "the graph has a cycle through this "
                                    "node");
                goto done;
            }
    }
    *out = sorted;
    *n_out = tail;
    sorted = NULL;
done:
    onnx_table_destroy(producers);
    free(needed);
    free(stack);
    free(pending);
    free(sorted);
    free(first_reader);
    free(next_reader);
    free(reader_node);
    return st;
}

static cnn_status run_node(onnx_importer *im, const Onnx__NodeProto *node)
{
    const onnx_op *op;
    cnn_status st;
    int folded = 0;
    if (!node->op_type || !*node->op_type)
        return onnx_node_fail(im, node, CNN_ERR_FORMAT, "no op_type");
    if (node->domain && *node->domain && strcmp(node->domain, "ai.onnx") != 0)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "op of domain '%s' is not supported; cnnrun "
                              "imports the default domain's %s",
                              node->domain, cnn_onnx_supported_ops());
    if (onnx_fold_op(node->op_type)) {
        st = onnx_fold(im, node, &folded);
        if (st != CNN_OK || folded)
            return st;
    }
    op = onnx_op_for_import(node->op_type);
    if (!op)
        return onnx_node_fail(im, node, CNN_ERR_UNSUPPORTED,
                              "op %s is not supported; supported ops: %s",
                              node->op_type, cnn_onnx_supported_ops());
    st = check_attributes(im, node, op);
    if (st != CNN_OK)
        return st;
    return op->import(im, node);
}

/* Counts the readers of every name among the needed nodes, so that a
 * handler can tell whether a value feeds one layer only. */
static cnn_status name_uses(onnx_importer *im, const size_t *order,
                            size_t n_order, onnx_table **out)
{
    onnx_table *t = onnx_table_create(64);
    if (!t)
        return cnn_context_fail(im->ctx, CNN_ERR_NOMEM, "%s: out of memory",
                                im->origin);
    for (size_t k = 0; k < n_order; k++) {
        const Onnx__NodeProto *node = im->graph->node[order[k]];
        for (size_t i = 0; i < node->n_input; i++) {
            int64_t c;
            if (!node->input[i] || !node->input[i][0])
                continue;
            c = onnx_table_get(t, node->input[i]);
            if (!onnx_table_put(t, node->input[i], c < 0 ? 1 : c + 1)) {
                onnx_table_destroy(t);
                return cnn_context_fail(im->ctx, CNN_ERR_NOMEM,
                                        "%s: out of memory", im->origin);
            }
        }
    }
    *out = t;
    return CNN_OK;
}

static void importer_free(onnx_importer *im)
{
    for (size_t i = 0; i < im->n_values; i++)
        onnx_const_free(&im->values[i].c);
    free(im->values);
    onnx_table_destroy(im->use_counts);
    onnx_table_destroy(im->value_index);
    onnx_table_destroy(im->layer_names);
    free(im->layers);
    for (size_t i = 0; i < im->n_tensors; i++) {
        free((char *)im->tensors[i].name);
        free(im->tensors[i].tensor.data);
    }
    free(im->tensors);
}

static cnn_status check_output(onnx_importer *im, const char *name)
{
    const Onnx__ValueInfoProto *vi = im->graph->output[0];
    onnx_value *v = onnx_value_find(im, name);
    const onnx_layer *last;
    if (!v || v->is_const || v->layer < 0)
        return cnn_context_fail(im->ctx, CNN_ERR_UNSUPPORTED,
                                "%s: the graph's output '%s' is a constant "
                                "or the input itself", im->origin, name);
    if (v->shuffle_stage)
        return cnn_context_fail(im->ctx, CNN_ERR_UNSUPPORTED,
                                "%s: the graph's output '%s' is a channel "
                                "shuffle left half done", im->origin, name);
    if (v->step || v->channels_last)
        return cnn_context_fail(im->ctx, CNN_ERR_UNSUPPORTED,
                                "%s: the graph's output '%s' is %s",
                                im->origin, name,
                                v->step ? "a step of a layer norm or GELU "
                                          "written out, not the whole"
                                        : "channels-last; cnnrun's outputs "
                                          "are [N, C, ...]");
    if (v->zero_padded)
        return cnn_context_fail(im->ctx, CNN_ERR_UNSUPPORTED,
                                "%s: the graph's output '%s' is a Pad's "
                                "output; cnnrun folds a Pad only into the "
                                "Conv or AveragePool after it", im->origin,
                                name);
    last = &im->layers[im->n_layers - 1];
    if ((size_t)v->layer != im->n_layers - 1)
        return cnn_context_fail(im->ctx, CNN_ERR_UNSUPPORTED,
                                "%s: the graph's output '%s' is not computed "
                                "by its last layer ('%s')", im->origin, name,
                                last->name);
    /* Where the model states the output's shape, ours must agree. */
    if (vi->type && vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE &&
        vi->type->tensor_type && vi->type->tensor_type->shape) {
        const Onnx__TensorShapeProto *s = vi->type->tensor_type->shape;
        int same = (int32_t)s->n_dim == v->shape.rank;
        for (size_t d = 1; same && d < s->n_dim; d++)
            if (s->dim[d]->value_case ==
                    ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                s->dim[d]->dim_value != v->shape.dims[d])
                same = 0;
        if (!same)
            return cnn_context_fail(im->ctx, CNN_ERR_SHAPE,
                                    "%s: the model declares output '%s' with "
                                    "another shape than the layers compute "
                                    "(rank %zu, ours %d)", im->origin, name,
                                    s->n_dim, (int)v->shape.rank);
    }
    return CNN_OK;
}

cnn_status cnn_onnx_import_buffer(cnn_context *ctx, const void *data,
                                  size_t size,
                                  const cnn_onnx_import_options *options,
                                  cnn_onnx_imported **out)
{
    onnx_importer im;
    onnx_model *model = NULL;
    size_t *order = NULL, n_order = 0;
    cnn_shape input;
    char graph_name[128];
    const char *output;
    cnn_status st;

    *out = NULL;
    memset(&im, 0, sizeof im);
    im.ctx = ctx;
    im.origin = options && options->origin ? options->origin : "<memory>";
    im.base_dir = options ? options->base_dir : NULL;
    st = onnx_model_unpack(ctx, im.origin, data, size, &model);
    if (st != CNN_OK)
        return st;
    im.model = model->proto;
    im.graph = model->proto->graph;
    if (!im.graph) {
        st = cnn_context_fail(ctx, CNN_ERR_FORMAT, "%s: no graph in the model",
                              im.origin);
        goto done;
    }
    if ((st = read_opset(&im)) != CNN_OK)
        goto done;
    if (im.graph->n_node > ONNX_MAX_NODES ||
        im.graph->n_initializer > ONNX_MAX_VALUES / 2) {
        st = cnn_context_fail(ctx, CNN_ERR_FORMAT,
                              "%s: %zu nodes and %zu initializers (at most "
                              "%d and %d); refused", im.origin,
                              im.graph->n_node, im.graph->n_initializer,
                              ONNX_MAX_NODES, ONNX_MAX_VALUES / 2);
        goto done;
    }
    if (im.graph->n_output != 1 || !im.graph->output[0]->name ||
        !*im.graph->output[0]->name) {
        st = cnn_context_fail(ctx, CNN_ERR_UNSUPPORTED,
                              "%s: the graph has %zu outputs; cnnrun graphs "
                              "have one", im.origin, im.graph->n_output);
        goto done;
    }
    output = im.graph->output[0]->name;
    im.value_index = onnx_table_create(im.graph->n_initializer +
                                       2 * im.graph->n_node + 16);
    im.layer_names = onnx_table_create(im.graph->n_node + 16);
    if (!im.value_index || !im.layer_names) {
        st = cnn_context_fail(ctx, CNN_ERR_NOMEM, "%s: out of memory",
                              im.origin);
        goto done;
    }
    /* "input" is where a graph's first layer reads from: never a layer. */
    onnx_table_put(im.layer_names, "input", 0);
    if ((st = load_initializers(&im)) != CNN_OK ||
        (st = load_input(&im, options, &input)) != CNN_OK ||
        (st = sort_nodes(&im, output, &order, &n_order)) != CNN_OK ||
        (st = name_uses(&im, order, n_order, &im.use_counts)) != CNN_OK)
        goto done;
    for (size_t k = 0; k < n_order; k++) {
        const Onnx__NodeProto *node = im.graph->node[order[k]];
        current_node = order[k];
        st = run_node(&im, node);
        if (st != CNN_OK)
            goto done;
    }
    if (im.n_layers == 0) {
        st = cnn_context_fail(ctx, CNN_ERR_UNSUPPORTED,
                              "%s: nothing left to run once constants are "
                              "folded and identities removed", im.origin);
        goto done;
    }
    if ((st = check_output(&im, output)) != CNN_OK)
        goto done;
    if (options && options->graph_name)
        snprintf(graph_name, sizeof graph_name, "%s", options->graph_name);
    else
        onnx_graph_name(im.origin, graph_name, sizeof graph_name);
    st = onnx_imported_build(&im, graph_name, &input, out);
done:
    free(order);
    importer_free(&im);
    onnx_model_free(model);
    return st;
}

cnn_status cnn_onnx_import_file(cnn_context *ctx, const char *path,
                                const cnn_onnx_import_options *options,
                                cnn_onnx_imported **out)
{
    cnn_onnx_import_options opt;
    uint8_t *data;
    size_t size;
    char dir[4096];
    const char *slash = strrchr(path, '/');
    cnn_status st;

    *out = NULL;
    if (options)
        opt = *options;
    else
        memset(&opt, 0, sizeof opt);
    if (!opt.origin)
        opt.origin = path;
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path + (slash == path)),
                 path);
    else
        snprintf(dir, sizeof dir, ".");
    opt.base_dir = dir;
    st = onnx_read_file(ctx, path, CNN_ONNX_MAX_FILE, &data, &size);
    if (st != CNN_OK)
        return st;
    st = cnn_onnx_import_buffer(ctx, data, size, &opt, out);
    free(data);
    return st;
}
