/* SPDX-License-Identifier: MIT */
/* Status codes shared by libcnn and the layer ABI.
 *
 * One X-macro list generates the enum and its names, so the two never drift.
 * Values are explicit and only ever grow at the end: plugins built against an
 * older header keep returning codes the host understands. */
#ifndef CNN_STATUS_H
#define CNN_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#define CNN_STATUS_LIST(X)                                                     \
    X(CNN_OK, 0, "ok")                                                         \
    X(CNN_ERR_INVALID, 1, "invalid argument")                                  \
    X(CNN_ERR_NOMEM, 2, "out of memory")                                       \
    X(CNN_ERR_IO, 3, "input/output error")                                     \
    X(CNN_ERR_FORMAT, 4, "malformed file")                                     \
    X(CNN_ERR_PLUGIN, 5, "plugin error")                                       \
    X(CNN_ERR_GRAPH, 6, "graph error")                                         \
    X(CNN_ERR_SHAPE, 7, "shape error")                                         \
    X(CNN_ERR_NUMERIC, 8, "numeric error")                                     \
    X(CNN_ERR_UNSUPPORTED, 9, "unsupported")                                   \
    X(CNN_ERR_NOT_FOUND, 10, "not found")                                      \
    X(CNN_ERR_INTERRUPTED, 11, "interrupted")

typedef enum cnn_status {
#define CNN_STATUS_ENUM_(name, value, text) name = value,
    CNN_STATUS_LIST(CNN_STATUS_ENUM_)
#undef CNN_STATUS_ENUM_
} cnn_status;

/* Short lower-case description of a status ("out of memory"); never NULL. */
const char *cnn_status_text(cnn_status status);

#ifdef __cplusplus
}
#endif
#endif
