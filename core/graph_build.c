/* SPDX-License-Identifier: MIT */
/* Document -> cnn_graph. Two stages:
 *   resolve: per file (recursing into backbones), find each layer's plugin,
 *            validate its hyperparameters against the descriptor, resolve
 *            input names and put the layers in a stable topological order;
 *   instantiate: once, for the final graph, infer every shape with batch 1
 *            and only then create the layers and collect their parameters.
 * So no plugin code runs before the whole graph is known to be consistent,
 * and a backbone's layers after the cut are validated but never created. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context_internal.h"
#include "graph_doc.h"
#include "graph_internal.h"

/* Backbones may nest (a head on a head on a backbone) this deep. */
#define BACKBONE_DEPTH_MAX 8

/* A layer on its way into the graph. */
typedef struct pending {
    const cnn_graph_doc *doc;
    const cnn_doc_layer *src;
    const cnn_plugin *plugin;
    const cnn_layer_descriptor *desc;
    cnn_hparam_value *hparams; /* owned */
    int32_t *inputs;           /* owned; indices into the plan, or -1 */
    uint32_t n_inputs;
    int trainable;
    int from_backbone;
} pending;

/* One file's layers, resolved and ordered, plus where the input came from. */
typedef struct plan {
    pending *layers;
    size_t n;
    const cnn_graph_doc *shape_doc; /* gave input.shape */
    const cnn_graph_doc *norm_doc;  /* gave input.mean and input.std */
    const cnn_graph_doc *classes_doc;
} plan;

typedef struct builder {
    cnn_context *ctx;
    cnn_graph_doc **docs; /* every file read; freed at the end */
    size_t n_docs;
    size_t cap_docs;
} builder;

static cnn_status fail_at(cnn_context *ctx, const cnn_graph_doc *doc,
                          cnn_doc_mark m, cnn_status status, const char *fmt,
                          ...) CNN_PRINTF(5, 6);

static cnn_status fail_at(cnn_context *ctx, const cnn_graph_doc *doc,
                          cnn_doc_mark m, cnn_status status, const char *fmt,
                          ...)
{
    char detail[CNN_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return cnn_fail(ctx, status, "%s:%d:%d: %s", doc->origin, m.line,
                    m.column, detail);
}

static char *dup_text(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

/* rel resolved against the folder of base (a path or an origin name). */
static char *path_beside(const char *base, const char *rel)
{
    const char *slash = strrchr(base, '/');
    size_t dir, n;
    char *out;
    if (rel[0] == '/' || !slash)
        return dup_text(rel);
    dir = (size_t)(slash - base) + 1;
    n = strlen(rel);
    out = malloc(dir + n + 1);
    if (!out)
        return NULL;
    memcpy(out, base, dir);
    memcpy(out + dir, rel, n + 1);
    return out;
}

static void plan_free(plan *p)
{
    for (size_t i = 0; p->layers && i < p->n; i++) {
        free(p->layers[i].hparams);
        free(p->layers[i].inputs);
    }
    free(p->layers);
    memset(p, 0, sizeof *p);
}

static cnn_status keep_doc(builder *b, cnn_graph_doc *doc)
{
    if (b->n_docs == b->cap_docs) {
        size_t cap = b->cap_docs ? 2 * b->cap_docs : 4;
        cnn_graph_doc **grown = realloc(b->docs, cap * sizeof *grown);
        if (!grown) {
            cnn_graph_doc_free(doc);
            return cnn_fail(b->ctx, CNN_ERR_NOMEM, "out of memory");
        }
        b->docs = grown;
        b->cap_docs = cap;
    }
    b->docs[b->n_docs++] = doc;
    return CNN_OK;
}

/* Defaults, then the file's values; unknown keys list the valid ones. */
static cnn_status take_hparams(cnn_context *ctx, const cnn_graph_doc *doc,
                               const cnn_doc_layer *src,
                               const cnn_layer_descriptor *desc,
                               cnn_hparam_value *values)
{
    const char *lname = src->name.text;
    unsigned char *set = calloc(desc->n_hparams ? desc->n_hparams : 1, 1);
    cnn_status st = CNN_OK;
    if (!set)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    cnn_hparams_defaults(desc, values);
    for (size_t i = 0; st == CNN_OK && i < src->n_hparams; i++) {
        const cnn_doc_hparam *hp = &src->hparams[i];
        int k = cnn_descriptor_hparam_index(desc, hp->key.text);
        if (k < 0) {
            char valid[CNN_MESSAGE_MAX / 2] = "name, type, inputs, trainable";
            size_t used = strlen(valid);
            for (uint32_t j = 0; j < desc->n_hparams && used < sizeof valid;
                 j++) {
                int w = snprintf(valid + used, sizeof valid - used, ", %s",
                                 desc->hparams[j].name);
                used += w > 0 ? (size_t)w : 0;
            }
            st = fail_at(ctx, doc, hp->key.mark, CNN_ERR_GRAPH,
                         "layer '%s': unknown key '%s' for type %s (valid: "
                         "%s)", lname, hp->key.text, desc->type_name, valid);
            break;
        }
        if (hp->is_sequence && desc->hparams[k].kind != CNN_HP_INT2) {
            st = fail_at(ctx, doc, hp->value, CNN_ERR_GRAPH, "layer '%s': "
                         "key '%s' takes a single value, not a sequence",
                         lname, hp->key.text);
            break;
        }
        if (hp->is_sequence && hp->n_items != 2) {
            st = fail_at(ctx, doc, hp->value, CNN_ERR_GRAPH, "layer '%s': "
                         "key '%s' takes n or [h, w], got a sequence of %zu",
                         lname, hp->key.text, hp->n_items);
            break;
        }
        st = cnn_hparam_parse(ctx, &desc->hparams[k],
                              (const char *const *)hp->items, hp->n_items,
                              &values[k]);
        if (st != CNN_OK)
            cnn_fail_prefix(ctx, "%s:%d:%d: layer '%s'", doc->origin,
                            hp->value.line, hp->value.column, lname);
        set[k] = 1;
    }
    for (uint32_t j = 0; st == CNN_OK && j < desc->n_hparams; j++)
        if (desc->hparams[j].required && !set[j])
            st = fail_at(ctx, doc, src->mark, CNN_ERR_GRAPH, "layer '%s': "
                         "missing required key '%s' for type %s", lname,
                         desc->hparams[j].name, desc->type_name);
    free(set);
    return st;
}

static const pending *find_pending(const pending *layers, size_t n,
                                   const char *name, int32_t *index)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(layers[i].src->name.text, name)) {
            *index = (int32_t)i;
            return &layers[i];
        }
    }
    return NULL;
}

/* Names this file's layers' inputs as indices into p (own layers follow the
 * kept backbone layers). cut is the backbone plan, for messages. */
static cnn_status link_inputs(cnn_context *ctx, const cnn_graph_doc *doc,
                              plan *p, size_t first, const plan *cut)
{
    for (size_t i = first; i < p->n; i++) {
        pending *l = &p->layers[i];
        const cnn_doc_layer *src = l->src;
        const cnn_layer_descriptor *d = l->desc;
        size_t n = src->has_inputs ? src->n_inputs : 1;
        cnn_doc_mark where = src->has_inputs ? src->inputs_mark : src->mark;
        l->inputs = calloc(n, sizeof *l->inputs);
        if (!l->inputs)
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        l->n_inputs = (uint32_t)n;
        if (!src->has_inputs) {
            /* The previous layer: for the first head layer that is the
             * backbone's cut point, the last kept layer. */
            l->inputs[0] = i == 0 ? CNN_GRAPH_INPUT : (int32_t)(i - 1);
        }
        for (size_t j = 0; src->has_inputs && j < n; j++) {
            const char *name = src->inputs[j].text;
            int32_t at = -1;
            if (!strcmp(name, CNN_GRAPH_INPUT_NAME)) {
                l->inputs[j] = CNN_GRAPH_INPUT;
                continue;
            }
            if (find_pending(p->layers, p->n, name, &at)) {
                l->inputs[j] = at;
                continue;
            }
            if (cut && find_pending(cut->layers, cut->n, name, &at))
                return fail_at(ctx, doc, src->inputs[j].mark, CNN_ERR_GRAPH,
                               "layer '%s': input '%s' is a backbone layer "
                               "after the cut (cut_after: %s)",
                               src->name.text, name,
                               p->layers[first - 1].src->name.text);
            return fail_at(ctx, doc, src->inputs[j].mark, CNN_ERR_GRAPH,
                           "layer '%s': input '%s' is not a layer of this "
                           "graph (nor '%s', the graph input)",
                           src->name.text, name, CNN_GRAPH_INPUT_NAME);
        }
        if (n < d->min_inputs || n > d->max_inputs) {
            if (d->min_inputs == d->max_inputs)
                return fail_at(ctx, doc, where, CNN_ERR_GRAPH, "layer '%s': "
                               "type %s takes exactly %u input%s, got %zu",
                               src->name.text, d->type_name, d->min_inputs,
                               d->min_inputs == 1 ? "" : "s", n);
            return fail_at(ctx, doc, where, CNN_ERR_GRAPH, "layer '%s': type "
                           "%s takes %u to %u inputs, got %zu",
                           src->name.text, d->type_name, d->min_inputs,
                           d->max_inputs, n);
        }
    }
    return CNN_OK;
}

/* Names the cycle among the layers Kahn's algorithm could not place. */
static cnn_status report_cycle(cnn_context *ctx, const plan *p,
                               const unsigned char *placed)
{
    size_t *path = malloc(p->n * sizeof *path);
    size_t *pos = malloc(p->n * sizeof *pos);
    size_t len = 0, cur = 0, start, first = 0;
    char chain[CNN_MESSAGE_MAX / 2] = "";
    size_t used = 0;
    const pending *at = NULL;
    if (!path || !pos) {
        free(path);
        free(pos);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    while (cur < p->n && placed[cur])
        cur++;
    for (size_t i = 0; i < p->n; i++)
        pos[i] = (size_t)-1;
    /* Every unplaced layer has an unplaced input, so walking inputs must
     * come back to a layer already on the path. */
    while (pos[cur] == (size_t)-1) {
        const pending *l = &p->layers[cur];
        pos[cur] = len;
        path[len++] = cur;
        for (uint32_t j = 0; j < l->n_inputs; j++) {
            if (l->inputs[j] >= 0 && !placed[l->inputs[j]]) {
                cur = (size_t)l->inputs[j];
                break;
            }
        }
    }
    start = pos[cur];
    /* Report the first layer of the cycle, in file order, that names its
     * inputs: that is where an edit will break the cycle. */
    for (size_t k = start; k < len; k++) {
        const pending *l = &p->layers[path[k]];
        if (l->src->has_inputs && (!at || l->src < at->src)) {
            at = l;
            first = k;
        }
    }
    if (!at) {
        at = &p->layers[path[start]];
        first = start;
    }
    /* Print in data-flow order from there: the walk went against it. */
    for (size_t step = 0; step <= len - start && used < sizeof chain; step++) {
        size_t k = first - start + (len - start) - step % (len - start);
        const pending *l = &p->layers[path[start + k % (len - start)]];
        int w = snprintf(chain + used, sizeof chain - used, "%s%s",
                         step ? " -> " : "", l->src->name.text);
        used += w > 0 ? (size_t)w : 0;
    }
    free(path);
    free(pos);
    return fail_at(ctx, at->doc, at->src->has_inputs ? at->src->inputs_mark
                                                     : at->src->mark,
                   CNN_ERR_GRAPH, "layer '%s': inputs form a cycle: %s",
                   at->src->name.text, chain);
}

/* Stable topological order (Kahn's algorithm always taking the earliest
 * ready layer in file order), then inputs renumbered to match. */
static cnn_status order_layers(cnn_context *ctx, plan *p)
{
    size_t n = p->n, done = 0;
    uint32_t *waiting = calloc(n, sizeof *waiting);
    unsigned char *placed = calloc(n, 1);
    size_t *order = malloc(n * sizeof *order);
    int32_t *rank = malloc(n * sizeof *rank);
    pending *sorted = malloc(n * sizeof *sorted);
    cnn_status st = CNN_OK;
    if (!waiting || !placed || !order || !rank || !sorted) {
        st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < p->layers[i].n_inputs; j++)
            waiting[i] += p->layers[i].inputs[j] >= 0;
    /* Graphs are tens to hundreds of layers: a scan per step is cheap and
     * keeps the tie-break (file order) obvious. */
    while (done < n) {
        size_t next = n;
        for (size_t i = 0; i < n && next == n; i++)
            if (!placed[i] && waiting[i] == 0)
                next = i;
        if (next == n) {
            st = report_cycle(ctx, p, placed);
            goto out;
        }
        placed[next] = 1;
        rank[next] = (int32_t)done;
        order[done++] = next;
        for (size_t i = 0; i < n; i++)
            for (uint32_t j = 0; j < p->layers[i].n_inputs; j++)
                if (p->layers[i].inputs[j] == (int32_t)next)
                    waiting[i]--;
    }
    for (size_t k = 0; k < n; k++) {
        sorted[k] = p->layers[order[k]];
        for (uint32_t j = 0; j < sorted[k].n_inputs; j++)
            if (sorted[k].inputs[j] >= 0)
                sorted[k].inputs[j] = rank[sorted[k].inputs[j]];
    }
    memcpy(p->layers, sorted, n * sizeof *sorted);
out:
    free(waiting);
    free(placed);
    free(order);
    free(rank);
    free(sorted);
    return st;
}

/* Freezing only ever clears trainable; `none` leaves the layers' own
 * flags. */
static cnn_status apply_freeze(cnn_context *ctx, const cnn_graph_doc *doc,
                               plan *p)
{
    const cnn_doc_backbone *bb = &doc->backbone;
    int64_t left = bb->all_but_last;
    switch (bb->freeze) {
    case CNN_DOC_FREEZE_NONE:
        break;
    case CNN_DOC_FREEZE_ALL:
        for (size_t i = 0; i < p->n; i++)
            p->layers[i].trainable = 0;
        break;
    case CNN_DOC_FREEZE_LIST:
        for (size_t k = 0; k < bb->n_freeze_names; k++) {
            int32_t at;
            if (!find_pending(p->layers, p->n, bb->freeze_names[k].text, &at))
                return fail_at(ctx, doc, bb->freeze_names[k].mark,
                               CNN_ERR_GRAPH, "backbone: freeze names '%s', "
                               "which is not a kept backbone layer",
                               bb->freeze_names[k].text);
            p->layers[at].trainable = 0;
        }
        break;
    case CNN_DOC_FREEZE_ALL_BUT_LAST:
        /* Counts layers that have parameters: freezing a relu means
         * nothing, so "the last 2" are the last 2 that can learn. */
        for (size_t i = p->n; i-- > 0;) {
            if (!p->layers[i].desc->params)
                continue;
            if (left > 0)
                left--;
            else
                p->layers[i].trainable = 0;
        }
        break;
    }
    return CNN_OK;
}

static cnn_status resolve(builder *b, const cnn_graph_doc *doc, int depth,
                          plan *out);

/* An error inside a backbone file names that file first; this says which
 * file brought it in, once per level. */
static cnn_status in_backbone_of(cnn_context *ctx, cnn_status st,
                                 const cnn_graph_doc *doc)
{
    char inner[CNN_MESSAGE_MAX], where[CNN_MESSAGE_MAX];
    const cnn_doc_mark *m = &doc->backbone.graph.mark;
    if (st == CNN_ERR_NOMEM)
        return st;
    snprintf(inner, sizeof inner, "%s", cnn_context_message(ctx));
    snprintf(where, sizeof where, " (backbone of %s:%d:%d)", doc->origin,
             m->line, m->column);
    /* A file that is its own backbone would say so eight times. */
    if (strstr(inner, where))
        return st;
    return cnn_fail(ctx, st, "%s%s", inner, where);
}

/* Loads, resolves and cuts doc's backbone into out (the kept layers). */
static cnn_status resolve_backbone(builder *b, const cnn_graph_doc *doc,
                                   int depth, plan *out, plan *rest)
{
    const cnn_doc_backbone *bb = &doc->backbone;
    cnn_graph_doc *bdoc = NULL;
    char *path;
    cnn_status st;
    int32_t cut;
    if (depth >= BACKBONE_DEPTH_MAX)
        return fail_at(b->ctx, doc, bb->graph.mark, CNN_ERR_GRAPH,
                       "backbone: more than %d nested backbones (does a "
                       "backbone lead back to this file?)",
                       BACKBONE_DEPTH_MAX);
    path = path_beside(doc->origin, bb->graph.text);
    if (!path)
        return cnn_fail(b->ctx, CNN_ERR_NOMEM, "out of memory");
    st = cnn_graph_doc_load(b->ctx, path, &bdoc);
    free(path);
    if (st == CNN_ERR_IO || st == CNN_ERR_NOT_FOUND)
        return cnn_fail_prefix(b->ctx, "%s:%d:%d: backbone", doc->origin,
                               bb->graph.mark.line, bb->graph.mark.column);
    if (st != CNN_OK || (st = keep_doc(b, bdoc)) != CNN_OK)
        return st;
    st = resolve(b, bdoc, depth + 1, rest);
    if (st != CNN_OK)
        return in_backbone_of(b->ctx, st, doc);
    *out = *rest;
    out->layers = NULL;
    out->n = 0;
    cut = (int32_t)rest->n - 1;
    if (bb->cut_after.text &&
        !find_pending(rest->layers, rest->n, bb->cut_after.text, &cut))
        return fail_at(b->ctx, doc, bb->cut_after.mark, CNN_ERR_GRAPH,
                       "backbone: cut_after names '%s', which is not a layer "
                       "of %s", bb->cut_after.text, bdoc->origin);
    /* The order is topological, so the prefix up to the cut holds
     * everything the cut point depends on. */
    out->n = (size_t)cut + 1;
    out->layers = malloc(out->n * sizeof *out->layers);
    if (!out->layers)
        return cnn_fail(b->ctx, CNN_ERR_NOMEM, "out of memory");
    memcpy(out->layers, rest->layers, out->n * sizeof *out->layers);
    /* rest keeps what was cut off (for messages) and no longer owns the
     * kept layers' arrays. */
    memmove(rest->layers, rest->layers + out->n,
            (rest->n - out->n) * sizeof *rest->layers);
    rest->n -= out->n;
    /* This file decides how its backbone trains: the backbone file's own
     * freeze is dropped, a layer's own `trainable: false` is kept. */
    for (size_t i = 0; i < out->n; i++) {
        out->layers[i].from_backbone = 1;
        out->layers[i].trainable = out->layers[i].src->trainable != 0;
    }
    return apply_freeze(b->ctx, doc, out);
}

static cnn_status resolve(builder *b, const cnn_graph_doc *doc, int depth,
                          plan *out)
{
    cnn_context *ctx = b->ctx;
    plan cut = {NULL, 0, NULL, NULL, NULL};
    size_t first;
    pending *grown;
    cnn_status st = CNN_OK;
    memset(out, 0, sizeof *out);
    if (doc->backbone.present) {
        st = resolve_backbone(b, doc, depth, out, &cut);
        if (st != CNN_OK)
            goto fail;
    }
    first = out->n;
    if (first + doc->n_layers > CNN_GRAPH_LAYERS_MAX) {
        st = fail_at(ctx, doc, doc->layers_mark, CNN_ERR_GRAPH, "%zu layers "
                     "with the backbone's, more than the %d a graph may have",
                     first + doc->n_layers, CNN_GRAPH_LAYERS_MAX);
        goto fail;
    }
    grown = realloc(out->layers, (first + doc->n_layers + 1) * sizeof *grown);
    if (!grown) {
        st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    out->layers = grown;
    for (size_t i = 0; i < doc->n_layers; i++) {
        const cnn_doc_layer *src = &doc->layers[i];
        pending *l = &out->layers[out->n];
        int32_t at;
        const pending *dup = find_pending(out->layers, out->n,
                                          src->name.text, &at);
        if (dup) {
            st = fail_at(ctx, doc, src->name.mark, CNN_ERR_GRAPH, "layer "
                         "'%s': duplicate layer name (first at %s:%d:%d)",
                         src->name.text, dup->doc->origin,
                         dup->src->name.mark.line, dup->src->name.mark.column);
            goto fail;
        }
        memset(l, 0, sizeof *l);
        l->doc = doc;
        l->src = src;
        l->trainable = src->trainable != 0;
        out->n++;
        st = cnn_plugin_get(ctx, src->type.text, &l->plugin);
        if (st != CNN_OK) {
            cnn_fail_prefix(ctx, "%s:%d:%d: layer '%s'", doc->origin,
                            src->type.mark.line, src->type.mark.column,
                            src->name.text);
            goto fail;
        }
        l->desc = cnn_plugin_descriptor(l->plugin);
        l->hparams = calloc(l->desc->n_hparams ? l->desc->n_hparams : 1,
                            sizeof *l->hparams);
        if (!l->hparams) {
            st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
            goto fail;
        }
        st = take_hparams(ctx, doc, src, l->desc, l->hparams);
        if (st != CNN_OK)
            goto fail;
    }
    st = link_inputs(ctx, doc, out, first, doc->backbone.present ? &cut : NULL);
    if (st == CNN_OK)
        st = order_layers(ctx, out);
    if (st != CNN_OK)
        goto fail;
    plan_free(&cut);
    if (doc->has_shape)
        out->shape_doc = doc;
    if (doc->mean)
        out->norm_doc = doc;
    if (doc->has_classes)
        out->classes_doc = doc;
    return CNN_OK;
fail:
    plan_free(&cut);
    plan_free(out);
    return st;
}

static cnn_status fail_layer(cnn_context *ctx, const cnn_graph_layer *l,
                             cnn_status status, const char *what,
                             const char *msg)
{
    return cnn_fail(ctx, status, "%s:%d:%d: layer '%s': %s%s", l->file,
                    l->line, l->column, l->name, msg[0] ? msg : what,
                    msg[0] ? "" : " failed");
}

/* The params hook, asked again with more room when it needs it; each spec
 * checked before the host sizes buffers from it. */
static cnn_status collect_params(cnn_context *ctx, cnn_graph_layer *l)
{
    uint32_t cap = 4, count = 0;
    char msg[CNN_MESSAGE_MAX] = "";
    cnn_errbuf err = {msg, sizeof msg};
    cnn_status st;
    uint64_t total = 0;
    if (!l->desc->params)
        return CNN_OK;
    for (int round = 0;; round++) {
        cnn_param_spec *specs = calloc(cap, sizeof *specs);
        if (!specs)
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        free(l->params);
        l->params = specs;
        count = 0;
        st = l->desc->params(&l->instance, specs, cap, &count, &err);
        msg[sizeof msg - 1] = '\0';
        if (st != CNN_OK)
            return fail_layer(ctx, l, st, "params", msg);
        if (count <= cap)
            break;
        if (round > 0 || count > 1024)
            return fail_layer(ctx, l, CNN_ERR_PLUGIN, "params",
                              "the params hook asked for room twice or for "
                              "over 1024 parameters");
        cap = count;
    }
    l->n_params = count;
    for (uint32_t i = 0; i < count; i++) {
        cnn_param_spec *s = &l->params[i];
        int ok = memchr(s->name, '\0', sizeof s->name) && s->name[0];
        uint64_t n = 0;
        for (int32_t d = 0; ok && d < s->shape.rank; d++)
            ok = s->shape.dims[d] >= 1;
        if (ok && s->shape.rank >= 1 && s->shape.rank <= CNN_MAX_RANK)
            n = (uint64_t)cnn_shape_numel_checked(&s->shape, &ok);
        else
            ok = 0;
        for (uint32_t j = 0; ok && j < i; j++)
            ok = strcmp(l->params[j].name, s->name) != 0;
        if (!ok || n > UINT64_MAX - total) {
            snprintf(msg, sizeof msg, "plugin %s declared an invalid, "
                     "duplicate or oversized parameter #%u", l->type, i);
            return fail_layer(ctx, l, CNN_ERR_PLUGIN, "params", msg);
        }
        total += n;
    }
    l->param_count = total;
    return CNN_OK;
}

static cnn_status create_layers(cnn_context *ctx, cnn_graph *g)
{
    cnn_shape *shapes = calloc(g->n_layers, sizeof *shapes);
    cnn_status st;
    if (!shapes)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    /* Every shape first: no plugin state exists for a graph that can't
     * run. */
    st = cnn_graph_infer_shapes(ctx, g, 1, shapes);
    for (size_t i = 0; st == CNN_OK && i < g->n_layers; i++) {
        cnn_graph_layer *l = &g->layers[i];
        l->output_shape = shapes[i];
        l->input_shapes = calloc(l->n_inputs, sizeof *l->input_shapes);
        if (!l->input_shapes)
            st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        for (uint32_t j = 0; st == CNN_OK && j < l->n_inputs; j++)
            l->input_shapes[j] = l->inputs[j] < 0 ? g->input_shape
                                                  : shapes[l->inputs[j]];
    }
    free(shapes);
    for (size_t i = 0; st == CNN_OK && i < g->n_layers; i++) {
        cnn_graph_layer *l = &g->layers[i];
        char msg[CNN_MESSAGE_MAX] = "";
        cnn_errbuf err = {msg, sizeof msg};
        l->instance.name = l->name;
        l->instance.hparams = l->hparams;
        l->instance.input_shapes = l->input_shapes;
        l->instance.n_inputs = l->n_inputs;
        l->instance.state = NULL;
        if (l->desc->create) {
            st = l->desc->create(&l->instance, &err);
            msg[sizeof msg - 1] = '\0';
            if (st != CNN_OK)
                return fail_layer(ctx, l, st, "create", msg);
            l->created = 1;
        }
        st = collect_params(ctx, l);
        if (st == CNN_OK && l->desc->flops)
            l->flops = l->desc->flops(l->hparams, l->input_shapes,
                                      l->n_inputs, &l->output_shape);
    }
    return st;
}

static cnn_status take_input_info(cnn_context *ctx, cnn_graph *g,
                                  const plan *p)
{
    const cnn_graph_doc *sd = p->shape_doc, *nd = p->norm_doc;
    if (!sd)
        return cnn_fail(ctx, CNN_ERR_GRAPH, "%s:1:1: no input shape given",
                        g->path);
    g->input_shape = cnn_shape4(1, sd->shape[0], sd->shape[1], sd->shape[2]);
    if (nd) {
        if ((int64_t)nd->n_norm != sd->shape[0])
            return fail_at(ctx, nd, nd->mean_mark, CNN_ERR_GRAPH,
                           "input: mean and std have %zu entries but the "
                           "input has %lld channels (shape from %s:%d:%d)",
                           nd->n_norm, (long long)sd->shape[0], sd->origin,
                           sd->shape_mark.line, sd->shape_mark.column);
        g->mean = malloc(nd->n_norm * sizeof *g->mean);
        g->std = malloc(nd->n_norm * sizeof *g->std);
        if (!g->mean || !g->std)
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        memcpy(g->mean, nd->mean, nd->n_norm * sizeof *g->mean);
        memcpy(g->std, nd->std, nd->n_norm * sizeof *g->std);
    }
    if (p->classes_doc) {
        const cnn_graph_doc *cd = p->classes_doc;
        g->classes = calloc(cd->n_classes, sizeof *g->classes);
        if (!g->classes)
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        g->n_classes = cd->n_classes;
        for (size_t i = 0; i < cd->n_classes; i++)
            if (!(g->classes[i] = dup_text(cd->classes[i].text)))
                return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    return CNN_OK;
}

static cnn_status take_top(cnn_context *ctx, cnn_graph *g,
                           const cnn_graph_doc *top)
{
    const cnn_doc_backbone *bb = &top->backbone;
    if (!(g->name = dup_text(top->name.text)))
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    if (bb->present &&
        (!(g->backbone_path = path_beside(top->origin, bb->graph.text)) ||
         (bb->weights.text &&
          !(g->backbone_weights = path_beside(top->origin, bb->weights.text)))))
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    g->settings = calloc(top->n_settings ? top->n_settings : 1,
                         sizeof *g->settings);
    if (!g->settings)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < top->n_settings; i++) {
        cnn_graph_setting_entry *e = &g->settings[g->n_settings++];
        e->key = dup_text(top->settings[i].key.text);
        e->value = dup_text(top->settings[i].value.text);
        e->line = top->settings[i].key.mark.line;
        if (!e->key || !e->value)
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    return CNN_OK;
}

/* Moves the plan's layers into g (which then owns their arrays). */
static cnn_status take_layers(cnn_context *ctx, cnn_graph *g,
                              const builder *b, plan *p)
{
    g->files = calloc(b->n_docs, sizeof *g->files);
    g->layers = calloc(p->n, sizeof *g->layers);
    if (!g->files || !g->layers)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < b->n_docs; i++, g->n_files++)
        if (!(g->files[i] = dup_text(b->docs[i]->origin)))
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < p->n; i++, g->n_layers++) {
        pending *src = &p->layers[i];
        cnn_graph_layer *l = &g->layers[i];
        l->plugin = src->plugin;
        l->desc = src->desc;
        l->hparams = src->hparams;
        l->inputs = src->inputs;
        l->n_inputs = src->n_inputs;
        src->hparams = NULL;
        src->inputs = NULL;
        l->trainable = src->trainable;
        l->from_backbone = src->from_backbone;
        l->line = src->src->mark.line;
        l->column = src->src->mark.column;
        for (size_t k = 0; k < b->n_docs; k++)
            if (b->docs[k] == src->doc)
                l->file = g->files[k];
        l->name = dup_text(src->src->name.text);
        l->type = dup_text(src->src->type.text);
        if (!l->name || !l->type) {
            g->n_layers++;
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        }
    }
    return CNN_OK;
}

/* Takes doc; builds the graph or leaves *out NULL. */
static cnn_status build(cnn_context *ctx, cnn_graph_doc *doc,
                        cnn_graph **out)
{
    builder b = {ctx, NULL, 0, 0};
    plan p;
    cnn_graph *g = NULL;
    cnn_status st = keep_doc(&b, doc);
    if (st == CNN_OK)
        st = resolve(&b, doc, 0, &p);
    if (st == CNN_OK) {
        g = calloc(1, sizeof *g);
        if (!g || !(g->path = dup_text(doc->origin)))
            st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        if (st == CNN_OK)
            st = take_top(ctx, g, doc);
        if (st == CNN_OK)
            st = take_input_info(ctx, g, &p);
        if (st == CNN_OK)
            st = take_layers(ctx, g, &b, &p);
        if (st == CNN_OK)
            st = create_layers(ctx, g);
        plan_free(&p);
    }
    for (size_t i = 0; i < b.n_docs; i++)
        cnn_graph_doc_free(b.docs[i]);
    free(b.docs);
    if (st != CNN_OK) {
        cnn_graph_destroy(g);
        return st;
    }
    *out = g;
    return CNN_OK;
}

cnn_status cnn_graph_load(cnn_context *ctx, const char *path,
                          cnn_graph **out)
{
    cnn_graph_doc *doc;
    cnn_status st;
    if (!ctx)
        return CNN_ERR_INVALID;
    if (!out)
        return cnn_fail(ctx, CNN_ERR_INVALID, "cnn_graph_load: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return cnn_fail(ctx, CNN_ERR_INVALID, "cnn_graph_load: empty path");
    st = cnn_graph_doc_load(ctx, path, &doc);
    return st == CNN_OK ? build(ctx, doc, out) : st;
}

cnn_status cnn_graph_load_string(cnn_context *ctx, const char *yaml,
                                 size_t length, const char *origin,
                                 cnn_graph **out)
{
    cnn_graph_doc *doc;
    cnn_status st;
    if (!ctx)
        return CNN_ERR_INVALID;
    if (!out)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "cnn_graph_load_string: out is NULL");
    *out = NULL;
    st = cnn_graph_doc_parse(ctx, yaml, length, origin, &doc);
    return st == CNN_OK ? build(ctx, doc, out) : st;
}
