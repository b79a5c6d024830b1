/* SPDX-License-Identifier: MIT */
/* StrictModes for plugins; see plugin_trust.h. */
#include "plugin_trust.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "context_internal.h"

typedef enum { AS_FILE, AS_SEARCH_DIR, AS_ANCESTOR } trust_role;

static const char *role_text(trust_role role)
{
    return role == AS_FILE         ? "plugin file"
           : role == AS_SEARCH_DIR ? "plugin directory"
                                   : "directory above the plugins";
}

/* One path against the rules for its role. what is the path as the user
 * gave it, for the message when it differs from the resolved one. */
static cnn_status check_one(cnn_context *ctx, const char *real,
                            const char *what, trust_role role)
{
    struct stat st;
    uid_t me = geteuid();
    char via[PATH_MAX + 16] = "";
    if (stat(real, &st) != 0)
        return cnn_fail(ctx, CNN_ERR_PLUGIN, "%s %s: cannot check it: %s",
                        role_text(role), real, strerror(errno));
    if (strcmp(real, what) != 0)
        snprintf(via, sizeof via, " (via %s)", what);
    if (st.st_uid != 0 && st.st_uid != me)
        return cnn_fail(ctx, CNN_ERR_PLUGIN,
                        "%s %s%s is owned by uid %ld, neither root nor you "
                        "(uid %ld): refused, since its owner could put any "
                        "code in it",
                        role_text(role), real, via, (long)st.st_uid, (long)me);
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) &&
        !(role == AS_ANCESTOR && (st.st_mode & S_ISVTX)))
        return cnn_fail(ctx, CNN_ERR_PLUGIN,
                        "%s %s%s is writable by %s (mode %04o): refused, "
                        "since anyone %s could %s; run 'chmod go-w %s' or "
                        "use another directory",
                        role_text(role), real, via,
                        (st.st_mode & S_IWOTH) ? "others" : "its group",
                        (unsigned)(st.st_mode & 07777),
                        (st.st_mode & S_IWOTH) ? "on this machine"
                                               : "in its group",
                        role == AS_FILE ? "change the plugin's code"
                        : role == AS_SEARCH_DIR
                            ? "add a plugin (a <type>.so) to it"
                            : "replace the plugin folders inside it",
                        real);
    return CNN_OK;
}

/* Every folder above real (a resolved absolute path), up to /. */
static cnn_status check_ancestors(cnn_context *ctx, const char *real)
{
    char buf[PATH_MAX];
    size_t len = strlen(real);
    if (len >= sizeof buf)
        return cnn_fail(ctx, CNN_ERR_PLUGIN, "plugin path too long: %.64s...",
                        real);
    memcpy(buf, real, len + 1);
    for (;;) {
        char *slash = strrchr(buf, '/');
        cnn_status st;
        if (!slash)
            return CNN_OK;
        if (slash == buf) {
            /* The root folder itself. */
            if (buf[1] == '\0')
                return CNN_OK;
            buf[1] = '\0';
        } else {
            *slash = '\0';
        }
        st = check_one(ctx, buf, buf, AS_ANCESTOR);
        if (st != CNN_OK)
            return st;
    }
}

cnn_status cnn_plugin_trust_dir(cnn_context *ctx, const char *dir)
{
    char real[PATH_MAX];
    cnn_status st;
    if (!realpath(dir, real))
        return errno == ENOENT || errno == ENOTDIR
                   ? CNN_OK
                   : cnn_fail(ctx, CNN_ERR_PLUGIN,
                              "plugin directory %s: cannot resolve it: %s",
                              dir, strerror(errno));
    st = check_one(ctx, real, dir, AS_SEARCH_DIR);
    return st == CNN_OK ? check_ancestors(ctx, real) : st;
}

cnn_status cnn_plugin_trust_file(cnn_context *ctx, const char *path)
{
    char real[PATH_MAX];
    char *slash;
    cnn_status st;
    if (!realpath(path, real))
        return cnn_fail(ctx, CNN_ERR_PLUGIN,
                        "plugin file %s: cannot resolve it: %s", path,
                        strerror(errno));
    st = check_one(ctx, real, path, AS_FILE);
    if (st != CNN_OK)
        return st;
    /* The folder holding the real file is a search folder for this file:
     * anyone able to write it could swap the file. */
    slash = strrchr(real, '/');
    if (slash && slash != real) {
        int linked = strncmp(path, real, (size_t)(slash - real)) != 0;
        *slash = '\0';
        /* Through a link, name the path the user gave too. */
        st = check_one(ctx, real, linked ? path : real, AS_SEARCH_DIR);
        if (st == CNN_OK)
            st = check_ancestors(ctx, real);
    }
    return st;
}
