/* SPDX-License-Identifier: MIT */
/* A graph, its parameters and an executor, as the executor tests build
 * them: net_load, then anything that changes the parameters, then
 * net_exec, and net_close. Criterion asserts on every failure. */
#ifndef TESTS_EXEC_NET_H
#define TESTS_EXEC_NET_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/exec.h"
#include "cnn/graph.h"
#include "cnn/params.h"

typedef struct net {
    cnn_context *ctx;
    cnn_graph *graph;
    cnn_params *params;
    cnn_exec *ex;
} net;

/* The graph from the file at path, or else from the YAML text, and its
 * parameters initialised from seed. */
static inline void net_load(net *m, const char *path, const char *yaml, uint64_t seed)
{
    m->ex = NULL;
    m->ctx = cnn_context_create();
    cr_assert_not_null(m->ctx);
    if (path)
        cr_assert_eq(cnn_graph_load(m->ctx, path, &m->graph), CNN_OK, "%s",
                     cnn_context_message(m->ctx));
    else
        cr_assert_eq(cnn_graph_load_string(m->ctx, yaml, strlen(yaml), "t.yaml", &m->graph),
                     CNN_OK, "%s", cnn_context_message(m->ctx));
    cr_assert_eq(cnn_params_create(m->ctx, m->graph, &m->params), CNN_OK);
    cnn_params_init(m->params, seed);
}

/* The executor, made with the environment variable env set to "1" (NULL:
 * none), which executors read when they are made. */
static inline void net_exec(net *m, int64_t batch, int training, int32_t keep,
                            const char *env)
{
    cnn_exec_options o = {batch, training, keep, 0};
    if (env)
        setenv(env, "1", 1);
    cr_assert_eq(cnn_exec_create(m->ctx, m->graph, m->params, &o, &m->ex), CNN_OK, "%s",
                 cnn_context_message(m->ctx));
    if (env)
        unsetenv(env);
}

static inline void net_close(net *m)
{
    cnn_exec_destroy(m->ex);
    cnn_params_destroy(m->params);
    cnn_graph_destroy(m->graph);
    cnn_context_destroy(m->ctx);
}

#endif
