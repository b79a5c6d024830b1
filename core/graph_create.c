/* SPDX-License-Identifier: MIT */
/* cnn_graph_plan -> cnn_graph, the second stage of loading: every shape is
 * inferred with batch 1 over the whole graph before any create hook runs,
 * then each layer is created and its parameters collected. Also the public
 * load functions, which run both stages. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context_internal.h"
#include "graph_internal.h"
#include "graph_plan.h"
#include "hook_site_internal.h"

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
        {
            cnn_hook_site site = {l->name, l->type, cnn_plugin_path(l->plugin),
                                  "params"};
            const cnn_hook_site *prev = cnn_hook_site_enter(&site);
            st = l->desc->params(&l->instance, specs, cap, &count, &err);
            cnn_hook_site_leave(prev);
        }
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
        /* An init rule this host knows; a constant that is a number. */
        ok = ok && (unsigned)s->init <= (unsigned)CNN_INIT_CONSTANT &&
             (s->init != CNN_INIT_CONSTANT || isfinite(s->init_value));
        if (!ok || n > UINT64_MAX - total) {
            snprintf(msg, sizeof msg,
                     "plugin %s declared an invalid, duplicate or oversized "
                     "parameter #%u",
                     l->type, i);
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
            l->input_shapes[j] =
                l->inputs[j] < 0 ? g->input_shape : shapes[l->inputs[j]];
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
            cnn_hook_site site = {l->name, l->type, cnn_plugin_path(l->plugin),
                                  "create"};
            const cnn_hook_site *prev = cnn_hook_site_enter(&site);
            st = l->desc->create(&l->instance, &err);
            cnn_hook_site_leave(prev);
            msg[sizeof msg - 1] = '\0';
            if (st != CNN_OK)
                return fail_layer(ctx, l, st, "create", msg);
            l->created = 1;
        }
        st = collect_params(ctx, l);
        if (st == CNN_OK && l->desc->flops) {
            cnn_hook_site site = {l->name, l->type, cnn_plugin_path(l->plugin),
                                  "flops"};
            const cnn_hook_site *prev = cnn_hook_site_enter(&site);
            l->flops = l->desc->flops(l->hparams, l->input_shapes, l->n_inputs,
                                      &l->output_shape);
            cnn_hook_site_leave(prev);
        }
    }
    return st;
}

static cnn_status take_input_info(cnn_context *ctx, cnn_graph *g,
                                  const cnn_graph_plan *p)
{
    const cnn_graph_doc *sd = p->shape_doc, *nd = p->norm_doc;
    if (!sd)
        return cnn_fail(ctx, CNN_ERR_GRAPH, "%s:1:1: no input shape given",
                        g->path);
    g->input_shape = cnn_shape4(1, sd->shape[0], sd->shape[1], sd->shape[2]);
    if (nd) {
        if ((int64_t)nd->n_norm != sd->shape[0])
            return cnn_graph_fail_at(
                ctx, nd, nd->mean_mark, CNN_ERR_GRAPH,
                "input: mean and std have %zu entries but the input has %lld "
                "channels (shape from %s:%d:%d)",
                nd->n_norm, (long long)sd->shape[0], sd->origin,
                sd->shape_mark.line, sd->shape_mark.column);
        g->mean = malloc(nd->n_norm * sizeof *g->mean);
        g->std = malloc(nd->n_norm * sizeof *g->std);
        if (!g->mean || !g->std)
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        memcpy(g->mean, nd->mean, nd->n_norm * sizeof *g->mean);
        memcpy(g->std, nd->std, nd->n_norm * sizeof *g->std);
    }
    /* A backbone's rename: rules hold unless this file gives its own. */
    if (p->rename_doc) {
        cnn_status st = cnn_rename_map_create(ctx, &g->rename);
        if (st == CNN_OK)
            st = cnn_doc_rename_build(ctx, p->rename_doc, g->rename);
        if (st != CNN_OK)
            return st;
    }
    if (p->classes_doc) {
        const cnn_graph_doc *cd = p->classes_doc;
        g->classes = calloc(cd->n_classes, sizeof *g->classes);
        if (!g->classes)
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        g->n_classes = cd->n_classes;
        for (size_t i = 0; i < cd->n_classes; i++)
            if (!(g->classes[i] = cnn_graph_strdup(cd->classes[i].text)))
                return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    return CNN_OK;
}

static cnn_status take_top(cnn_context *ctx, cnn_graph *g,
                           const cnn_graph_doc *top)
{
    const cnn_doc_backbone *bb = &top->backbone;
    if (!(g->name = cnn_graph_strdup(top->name.text)))
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    if (bb->present &&
        (!(g->backbone_path =
               cnn_graph_path_beside(top->origin, bb->graph.text)) ||
         (bb->weights.text && !(g->backbone_weights = cnn_graph_path_beside(
                                    top->origin, bb->weights.text)))))
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    g->settings =
        calloc(top->n_settings ? top->n_settings : 1, sizeof *g->settings);
    if (!g->settings)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < top->n_settings; i++) {
        cnn_graph_setting_entry *e = &g->settings[g->n_settings++];
        e->key = cnn_graph_strdup(top->settings[i].key.text);
        e->value = cnn_graph_strdup(top->settings[i].value.text);
        e->line = top->settings[i].key.mark.line;
        if (!e->key || !e->value)
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    return CNN_OK;
}

/* Moves the plan's layers into g (which then owns their arrays). */
static cnn_status take_layers(cnn_context *ctx, cnn_graph *g,
                              cnn_graph_plan *p)
{
    g->files = calloc(p->n_docs, sizeof *g->files);
    g->layers = calloc(p->n, sizeof *g->layers);
    if (!g->files || !g->layers)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < p->n_docs; i++, g->n_files++)
        if (!(g->files[i] = cnn_graph_strdup(p->docs[i]->origin)))
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < p->n; i++, g->n_layers++) {
        cnn_graph_pending *src = &p->layers[i];
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
        for (size_t k = 0; k < p->n_docs; k++)
            if (p->docs[k] == src->doc)
                l->file = g->files[k];
        l->name = cnn_graph_strdup(src->src->name.text);
        l->type = cnn_graph_strdup(src->src->type.text);
        if (!l->name || !l->type) {
            g->n_layers++;
            return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        }
    }
    return CNN_OK;
}

/* Takes doc; builds the graph or leaves *out NULL. */
static cnn_status build(cnn_context *ctx, cnn_graph_doc *doc, cnn_graph **out)
{
    cnn_graph_plan p;
    cnn_graph *g = NULL;
    const cnn_graph_doc *top = doc;
    cnn_status st = cnn_graph_plan_make(ctx, doc, &p);
    if (st != CNN_OK)
        return st;
    g = calloc(1, sizeof *g);
    if (!g || !(g->path = cnn_graph_strdup(top->origin)))
        st = cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    if (st == CNN_OK)
        st = take_top(ctx, g, top);
    if (st == CNN_OK)
        st = take_input_info(ctx, g, &p);
    if (st == CNN_OK)
        st = take_layers(ctx, g, &p);
    /* The graph keeps copies: the documents can go before any hook runs. */
    cnn_graph_plan_free(&p);
    if (st == CNN_OK)
        st = create_layers(ctx, g);
    if (st != CNN_OK) {
        cnn_graph_destroy(g);
        return st;
    }
    *out = g;
    return CNN_OK;
}

cnn_status cnn_graph_load(cnn_context *ctx, const char *path, cnn_graph **out)
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
