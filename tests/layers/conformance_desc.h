/* SPDX-License-Identifier: MIT */
/* Descriptor invariants every layer plugin must satisfy, checked on the
 * host's copy of the descriptor of a plugin loaded by the real registry. */
#ifndef CNN_TEST_LAYERS_CONFORMANCE_DESC_H
#define CNN_TEST_LAYERS_CONFORMANCE_DESC_H

#include "cnn/context.h"
#include "cnn/layer.h"
#include "cnn/plugin.h"

/* Checks with Criterion expectations; type is the name it was loaded by. */
void cf_check_descriptor(cnn_context *ctx, const cnn_plugin *plugin,
                         const cnn_layer_descriptor *d, const char *type);

#endif
