/* SPDX-License-Identifier: MIT */
/* The plugin registry: finds layer plugins by type name and loads them with
 * dlopen(RTLD_NOW | RTLD_LOCAL) after checking their descriptor.
 *
 * A type name must match [a-z][a-z0-9_]{0,63}; it is never passed to dlopen
 * as a path: the registry looks for "<dir>/<type>.so" in each search
 * directory (and "<dir>/<type>/<type>.so" in the build tree). Loaded plugins
 * belong to the context and stay loaded until it is destroyed. */
#ifndef CNN_PLUGIN_H
#define CNN_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"
#include "cnn/layer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnn_plugin cnn_plugin;

/* Finds and loads the plugin for type_name (cached per context). On failure
 * the message lists the paths tried or names the file and the fault. */
cnn_status cnn_plugin_get(cnn_context *ctx, const char *type_name,
                          const cnn_plugin **out);

/* Loads one file by path (for check-plugin and tests). expected_type may be
 * NULL to accept any valid type name. */
cnn_status cnn_plugin_open_file(cnn_context *ctx, const char *path,
                                const char *expected_type,
                                const cnn_plugin **out);

/* The host's copy of the descriptor, zero-extended to the current struct
 * size, so fields newer than the plugin's minor version read as NULL/0.
 * Owned by the context. */
const cnn_layer_descriptor *cnn_plugin_descriptor(const cnn_plugin *plugin);
const char *cnn_plugin_path(const cnn_plugin *plugin);
/* The version the plugin declared (CNN_LAYER_ABI_MAKE(major, minor)). */
uint32_t cnn_plugin_abi_version(const cnn_plugin *plugin);

/* 1 when name matches [a-z][a-z0-9_]{0,63}. */
int cnn_plugin_name_valid(const char *name);

/* Calls fn once per distinct type found in the search directories, first
 * directory wins, in name order. Files that fail to load are reported to fn
 * with plugin NULL and the error in message. */
typedef void (*cnn_plugin_scan_fn)(void *user, const char *type_name,
                                   const char *path, const cnn_plugin *plugin,
                                   const char *message);
cnn_status cnn_plugin_scan(cnn_context *ctx, cnn_plugin_scan_fn fn,
                           void *user);

/* The search directories in order; entries owned by the context, valid until
 * the directories change. Returns how many there are. */
size_t cnn_plugin_search_dirs(cnn_context *ctx, const char **dirs,
                              size_t capacity);

/* Looks a hyperparameter up by name; returns its index or -1. */
int cnn_descriptor_hparam_index(const cnn_layer_descriptor *desc,
                                const char *name);

/* ---- Hyperparameter values ---------------------------------------------- */

/* One spec's default value (zeros for a required one), in the layout the
 * plugin reads: PADDING packed as cnn_padding_pack does. */
void cnn_hparam_default(const cnn_hparam_spec *spec, cnn_hparam_value *out);

/* Fills out[0..n_hparams) with the declared defaults (required ones zeroed). */
void cnn_hparams_defaults(const cnn_layer_descriptor *desc,
                          cnn_hparam_value *out);

/* Parses one value given as YAML-like text: items holds one scalar, or two
 * for an INT2 written [h, w] (one scalar n means [n, n]); a PADDING takes
 * one, two or four numbers or one of its words (see cnn_hparam_kind). Checks the kind
 * (integers in base 10, finite numbers, true/false, one of an ENUM's choices)
 * and the bounds; the message names the hyperparameter and the value, e.g.
 * "kernel: 0 is below the minimum 1". out is zeroed first. */
cnn_status cnn_hparam_parse(cnn_context *ctx, const cnn_hparam_spec *spec,
                            const char *const *items, size_t n_items,
                            cnn_hparam_value *out);

/* Fills out[0..n_hparams) from n "key=value" strings (value may be "[3,5]"),
 * for `cnnrun check-plugin --set`: defaults first, then each setting parsed
 * as cnn_hparam_parse does. Unknown keys (the message lists the valid ones),
 * a key set twice and required hyperparameters left unset are errors. */
cnn_status cnn_hparams_from_settings(cnn_context *ctx,
                                     const cnn_layer_descriptor *desc,
                                     const char *const *settings, size_t n,
                                     cnn_hparam_value *out);

/* Formats a value as text for summaries: "5", "[3, 5]" (an INT2 whose two
 * values are equal prints as one number), "true", "relu", "0.5". Always
 * NUL-terminates when size > 0; truncates to fit. */
void cnn_hparam_format(const cnn_hparam_spec *spec,
                       const cnn_hparam_value *value, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
