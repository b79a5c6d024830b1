/* SPDX-License-Identifier: MIT */
#include "json_util.h"

#include <stdlib.h>
#include <string.h>

#include "context_internal.h"

cnn_status cnn_json_parse(cnn_context *ctx, const char *what, const char *text,
                          size_t len, json_t **out)
{
    json_error_t error;
    json_t *value = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    *out = NULL;
    if (!value)
        return cnn_fail(ctx, CNN_ERR_FORMAT,
                        "%s: malformed JSON at line %d, column %d: %s", what,
                        error.line, error.column, error.text);
    *out = value;
    return CNN_OK;
}

int cnn_json_get_u64(const json_t *value, uint64_t *out)
{
    json_int_t v;
    if (!json_is_integer(value))
        return 0;
    v = json_integer_value(value);
    if (v < 0)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

int cnn_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned int c = p[i];
        size_t extra;
        unsigned int cp;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            extra = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return 0; /* stray continuation byte, overlong lead or > U+10FFFF */
        }
        if (len - i <= extra)
            return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3fu);
        }
        /* Overlong forms, UTF-16 surrogates and values past U+10FFFF. */
        if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return 0;
        i += extra + 1;
    }
    return 1;
}

cnn_status cnn_json_string_new(cnn_context *ctx, const char *what,
                               const char *s, json_t **out)
{
    size_t len = strlen(s);
    *out = NULL;
    if (!cnn_utf8_valid(s, len))
        return cnn_fail(ctx, CNN_ERR_INVALID, "%s '%s' is not valid UTF-8",
                        what, s);
    *out = json_stringn(s, len);
    if (!*out)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    return CNN_OK;
}

cnn_status cnn_json_dump_compact(cnn_context *ctx, const json_t *value,
                                 char **out, size_t *len)
{
    /* JSON_COMPACT drops the spaces after ',' and ':'; keys keep their
     * insertion order (jansson >= 2.8 always preserves it). */
    char *text = json_dumps(value, JSON_COMPACT);
    *out = NULL;
    *len = 0;
    if (!text)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory serializing JSON");
    *out = text;
    *len = strlen(text);
    return CNN_OK;
}
