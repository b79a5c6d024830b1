/* SPDX-License-Identifier: MIT */
/* Small jansson helpers shared by the core's JSON readers and writers. */
#ifndef CNN_CORE_JSON_UTIL_H
#define CNN_CORE_JSON_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cnn/context.h"

/* Parses len bytes of text as one JSON value followed only by whitespace.
 * Duplicate object keys and NUL characters are refused. what names the
 * source in the message ("w.safetensors: header"). *out is a new reference
 * on success, NULL on failure. */
cnn_status cnn_json_parse(cnn_context *ctx, const char *what, const char *text,
                          size_t len, json_t **out);

/* 1 and *out set when value is a JSON integer >= 0; 0 otherwise. */
int cnn_json_get_u64(const json_t *value, uint64_t *out);

/* 1 when the len bytes are well-formed UTF-8 with no NUL (what JSON
 * strings may hold); 0 otherwise. */
int cnn_utf8_valid(const char *s, size_t len);

/* A JSON string value of s, refusing text that is not valid UTF-8. what
 * names the string in the message ("tensor name"). */
cnn_status cnn_json_string_new(cnn_context *ctx, const char *what,
                               const char *s, json_t **out);

/* Compact serialization ("{"a":1}"), as serde_json and Python's
 * json.dumps(separators=(",", ":")) write it. Malloc'd, NUL-terminated;
 * *len excludes the NUL. */
cnn_status cnn_json_dump_compact(cnn_context *ctx, const json_t *value,
                                 char **out, size_t *len);

#endif
