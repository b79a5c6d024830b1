/* SPDX-License-Identifier: MIT */
/* The default plugin directories. The build tree's plugins are searched only
 * while the running libcnn is the build tree's own: an installed library
 * must not prefer a stale build folder over its installed plugins. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "context_internal.h"

#ifndef CNN_BUILD_ROOT
#error "CNN_BUILD_ROOT is defined by core/meson.build"
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int in_build_tree;
/* An object inside libcnn, for dladdr to name the file it came from. */
static const char anchor = 0;

static void locate_self(void)
{
    Dl_info info;
    char self[PATH_MAX], root[PATH_MAX];
    size_t n;
    if (!dladdr(&anchor, &info) || !info.dli_fname ||
        !realpath(info.dli_fname, self) || !realpath(CNN_BUILD_ROOT, root))
        return;
    n = strlen(root);
    in_build_tree = strncmp(self, root, n) == 0 && self[n] == '/';
}

size_t cnn_default_plugin_dirs(const char **dirs, int *is_tree)
{
    size_t n = 0;
    pthread_once(&once, locate_self);
    if (in_build_tree) {
        dirs[n] = CNN_BUILD_PLUGIN_ROOT;
        is_tree[n++] = 1;
    }
    dirs[n] = CNN_INSTALL_PLUGIN_DIR;
    is_tree[n++] = 0;
    return n;
}
