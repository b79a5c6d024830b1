/* SPDX-License-Identifier: MIT */
/* Helpers shared by the registry tests (registry_util.c). */
#ifndef CNN_TEST_REGISTRY_UTIL_H
#define CNN_TEST_REGISTRY_UTIL_H

#include <stddef.h>

#include "cnn/plugin.h"

#ifndef REGISTRY_FIXTURE_DIR
#error "REGISTRY_FIXTURE_DIR is set by tests/registry/meson.build"
#endif
/* The build folder holding every test plugin (tests/registry/plugins). */
#define FIXTURE REGISTRY_FIXTURE_DIR

/* A fresh directory per test, removed (two levels deep) afterwards: use as
 * TestSuite(name, .init = make_tmp, .fini = drop_tmp). */
extern char tmp_root[4096];
void make_tmp(void);
void drop_tmp(void);
/* tmp_root/<sub>, created; returns buf. */
const char *tmp_dir(const char *sub, char *buf, size_t size);
void copy_file(const char *from, const char *to);
void write_text(const char *path, const char *text);
/* tmp/<dir>/order.so, copied from the fixture order_<which>.so. */
void place_order(const char *dir, const char *which);

/* A context that searches only dir (none when NULL): no build tree, no
 * install dir. */
cnn_context *ctx_with(const char *dir);
void assert_has(const char *msg, const char *word);
/* cnn_plugin_get(type) from the fixture folder fails with status and a
 * message naming "<fixture>/<type>.so" and holding every word (the list
 * ends with NULL), twice: failures are not cached. */
void expect_refused(const char *type, cnn_status status, ...);

#endif
