/* SPDX-License-Identifier: MIT */
/* Tensor-name rename maps: rules that turn the names in a weights file
 * written by another framework (torchvision's "features.0.weight") into the
 * graph's "<layer>.<param>" names ("conv1_1.weight") as the file is loaded.
 *
 * A rule maps FROM to TO. FROM is an exact name, or holds one '*' that
 * matches any run of characters (possibly empty): "features.0.*" matches
 * every name starting with "features.0.", "*.num_batches_tracked" every
 * name ending so. TO may hold one '*' too, replaced by what FROM's matched:
 * "features.0.*" -> "conv1_1.*". A TO of NULL drops the tensor. There are
 * no other special characters (no regular expressions). Rules are tried in
 * order and the first that matches a name wins; a name no rule matches
 * keeps its name.
 *
 * The map knows nothing of layers: it is plain name mapping. Graph files
 * (top-level key rename:) and cnnrun's --rename option build one. */
#ifndef CNN_RENAME_H
#define CNN_RENAME_H

#include <stddef.h>

#include "cnn/context.h"
#include "cnn/io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most rules in one map (VGG-16 needs 16 prefix rules or 32 exact ones). */
#define CNN_RENAME_MAX_RULES 65536u

typedef struct cnn_rename_map cnn_rename_map;

cnn_status cnn_rename_map_create(cnn_context *ctx, cnn_rename_map **out);
void cnn_rename_map_destroy(cnn_rename_map *map);

/* Appends a rule. to NULL drops what from matches. origin says where the
 * rule was written ("graphs/x.yaml:12:5", "--rename a=b") and is copied;
 * messages about the rule quote it. Refuses an empty FROM, more than one
 * '*' on a side, a '*' in TO without one in FROM, and a FROM with '*'
 * mapped to a TO without one (it would map many names to one). */
cnn_status cnn_rename_map_add(cnn_context *ctx, cnn_rename_map *map,
                              const char *from, const char *to,
                              const char *origin);
/* Appends a copy of every rule of other (after map's own). */
cnn_status cnn_rename_map_append(cnn_context *ctx, cnn_rename_map *map,
                                 const cnn_rename_map *other);
/* Reads a rename file: YAML whose top-level key rename: holds the rules
 * as in a graph file (see docs/graph-format.md), appended to map. Errors
 * name path:line:column. */
cnn_status cnn_rename_map_load(cnn_context *ctx, cnn_rename_map *map,
                               const char *path);

size_t cnn_rename_map_count(const cnn_rename_map *map);
/* Rule index's FROM, TO (NULL: drop) and origin; NULL when out of range. */
const char *cnn_rename_map_from(const cnn_rename_map *map, size_t index);
const char *cnn_rename_map_to(const cnn_rename_map *map, size_t index);
const char *cnn_rename_map_origin(const cnn_rename_map *map, size_t index);

/* The rule that matches name first, or -1. When one matches and renamed
 * is not NULL, *renamed is the new name (malloc'd; NULL when the rule
 * drops it, or when out of memory, which *oom then says). */
long cnn_rename_map_match(const cnn_rename_map *map, const char *name,
                          char **renamed, int *oom);

/* Renames file's tensors in place by map; dropped tensors leave the file.
 * When no rule matches any tensor the file is left as it is (its names are
 * taken to be the graph's already) and *matched is 0. Otherwise every rule
 * that matched nothing is logged as a warning by its origin, and it is an
 * error, naming both tensors and their rules, when two tensors end with
 * the same name. matched may be NULL. */
cnn_status cnn_tensor_file_rename(cnn_context *ctx, cnn_tensor_file *file,
                                  const cnn_rename_map *map, size_t *matched);

#ifdef __cplusplus
}
#endif
#endif
