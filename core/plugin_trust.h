/* SPDX-License-Identifier: MIT */
/* Whether a plugin folder or file may be trusted, in the spirit of
 * OpenSSH's StrictModes: code that anyone else could have put or changed
 * is never dlopen()ed.
 *
 *   - The plugin file and the folder it is searched in must be owned by
 *     root or by the user running cnnrun (the effective uid), and must not
 *     be writable by the group or by others. A sticky world-writable folder
 *     such as /tmp is refused too: anyone may add a new <type>.so to it.
 *   - Every folder above them, up to /, must be owned by root or the user
 *     and must not be writable by the group or others, unless it is sticky
 *     (/tmp holding the user's own 0700 folder is fine: nobody else may
 *     rename or replace an entry the user owns in a sticky folder).
 *
 * Paths are resolved (realpath) first, so a symbolic link is judged by
 * where it leads. Messages say which path fails which rule, with its owner
 * and mode, and how to fix it. */
#ifndef CNN_CORE_PLUGIN_TRUST_H
#define CNN_CORE_PLUGIN_TRUST_H

#include "cnn/context.h"

/* CNN_OK when dir is trusted, or when it does not exist (a missing search
 * folder holds nothing); CNN_ERR_PLUGIN with the reason otherwise. */
cnn_status cnn_plugin_trust_dir(cnn_context *ctx, const char *dir);

/* CNN_OK when the plugin file, its folder and every folder above are
 * trusted; CNN_ERR_PLUGIN with the reason otherwise. */
cnn_status cnn_plugin_trust_file(cnn_context *ctx, const char *path);

#endif
