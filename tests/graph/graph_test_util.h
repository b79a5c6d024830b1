/* SPDX-License-Identifier: MIT */
/* Shared by the graph tests: a context that finds the built plugins and the
 * probe plugin, fixture paths, and the check every error test makes. */
#ifndef GRAPH_TEST_UTIL_H
#define GRAPH_TEST_UTIL_H

#include "cnn/graph.h"

/* A context searching the probe's folder, then the build tree. */
cnn_context *gt_context(void);
/* GRAPH_FIXTURES/name, in a static buffer (one at a time). */
const char *gt_fixture(const char *name);
/* Loads fixture `name`, expects failure with `status`, a message starting
 * "<path>:<line>:<column>: " and containing every string of the
 * NULL-terminated list. */
void gt_expect_error(const char *name, cnn_status status, int line, int column,
                     ...);

#endif
