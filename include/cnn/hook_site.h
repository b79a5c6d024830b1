/* SPDX-License-Identifier: MIT */
/* Which plugin hook is running, for a host's crash report.
 *
 * The core records the layer, the plugin file and the hook before each call
 * into plugin code (loading a plugin, infer_shape, create, params, flops,
 * forward, backward, destroy) and clears the record after it. A host's
 * handler for SIGSEGV and the like reads it to say "layer 'conv1' (conv,
 * plugins/conv.so) crashed in forward" instead of dying without a word. */
#ifndef CNN_HOOK_SITE_H
#define CNN_HOOK_SITE_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnn_hook_site {
    const char *layer;  /* the layer's name; NULL while loading a plugin */
    const char *type;   /* the layer type, e.g. "conv" */
    const char *plugin; /* the plugin's file path */
    const char *hook;   /* "load", "infer_shape", "create", "params",
                           "flops", "forward", "backward" or "destroy" */
} cnn_hook_site;

/* The plugin hook running now anywhere in the process, or NULL when none
 * is. Async-signal-safe (one lock-free atomic load), so a signal handler
 * may call it; the record and its strings stay valid while the hook runs.
 * It is process-wide, not per thread: a crash on a worker thread running
 * a hook's parallel_for chunk finds the hook its caller entered. With
 * several threads running hooks at once it names the latest entered. */
const cnn_hook_site *cnn_hook_site_current(void);

#ifdef __cplusplus
}
#endif
#endif
