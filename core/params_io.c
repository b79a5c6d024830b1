/* SPDX-License-Identifier: MIT */
/* Parameters to and from safetensors, by "<layer>.<param>" name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/io.h"
#include "context_internal.h"
#include "params_internal.h"

static void format_shape(const cnn_shape *s, char *buf, size_t size)
{
    size_t used = 0;
    used += (size_t)snprintf(buf + used, size - used, "[");
    for (int32_t i = 0; i < s->rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld",
                                 i ? ", " : "", (long long)s->dims[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

cnn_status cnn_params_load(cnn_context *ctx, cnn_params *ps, const char *path,
                           unsigned flags, size_t *loaded)
{
    cnn_tensor_file *file = NULL;
    cnn_status st = cnn_safetensors_read(ctx, path, &file);
    if (loaded)
        *loaded = 0;
    if (st != CNN_OK)
        return st;
    st = cnn_params_load_file(ctx, ps, file, flags, loaded);
    cnn_tensor_file_destroy(file);
    return st;
}

cnn_status cnn_params_load_file(cnn_context *ctx, cnn_params *ps,
                                const cnn_tensor_file *file, unsigned flags,
                                size_t *loaded)
{
    const char *path = cnn_tensor_file_path(file);
    size_t taken = 0;
    if (loaded)
        *loaded = 0;

    /* Validate every tensor before copying any, so a bad file changes
     * nothing. */
    for (size_t i = 0; i < ps->count; i++) {
        const cnn_param_entry *e = &ps->entries[i];
        const cnn_named_tensor *t = cnn_tensor_file_find(file, e->name);
        if (!t) {
            if (!(flags & CNN_PARAMS_ALLOW_MISSING)) {
                return cnn_fail(ctx, CNN_ERR_FORMAT,
                                "%s: missing tensor '%s' (the graph needs it)",
                                path, e->name);
            }
            continue;
        }
        if (cnn_tensor_file_integer_bits(file, t))
            return cnn_fail(ctx, CNN_ERR_FORMAT,
                            "%s: tensor '%s' is I%d, an integer counter (such "
                            "as batch norm's num_batches_tracked), not a "
                            "weight; drop it with a rename rule '...: ~'",
                            path, e->name, cnn_tensor_file_integer_bits(file, t));
        if (!cnn_shape_equal(&t->tensor.shape, &ps->values[i].shape)) {
            char want[160], got[160];
            format_shape(&ps->values[i].shape, want, sizeof want);
            format_shape(&t->tensor.shape, got, sizeof got);
            return cnn_fail(ctx, CNN_ERR_SHAPE,
                            "%s: tensor '%s' has shape %s but the graph's "
                            "layer expects %s",
                            path, e->name, got, want);
        }
        /* A NaN or infinite weight poisons every output; say where. */
        {
            size_t n = cnn_shape_numel(&t->tensor.shape);
            for (size_t k = 0; k < n; k++)
                if (!isfinite(t->tensor.data[k]))
                    return cnn_fail(ctx, CNN_ERR_NUMERIC,
                                    "%s: tensor '%s' holds %s at index %zu "
                                    "(the first non-finite value)",
                                    path, e->name,
                                    isnan(t->tensor.data[k]) ? "NaN"
                                    : t->tensor.data[k] > 0 ? "+infinity"
                                                            : "-infinity",
                                    k);
        }
    }
    if (!(flags & CNN_PARAMS_ALLOW_EXTRA)) {
        for (size_t j = 0; j < cnn_tensor_file_count(file); j++) {
            const cnn_named_tensor *t = cnn_tensor_file_at(file, j);
            if (cnn_params_find(ps, t->name) < 0)
                return cnn_fail(ctx, CNN_ERR_FORMAT,
                                "%s: unexpected tensor '%s' (no such parameter "
                                "in the graph)",
                                path, t->name);
        }
    }
    for (size_t i = 0; i < ps->count; i++) {
        cnn_param_entry *e = &ps->entries[i];
        const cnn_named_tensor *t = cnn_tensor_file_find(file, e->name);
        if (!t)
            continue;
        memcpy(ps->values[i].data, t->tensor.data,
               cnn_shape_numel(&ps->values[i].shape) * sizeof(float));
        taken++;
    }
    if (loaded)
        *loaded = taken;
    return CNN_OK;
}

cnn_status cnn_params_save(cnn_context *ctx, const cnn_params *ps,
                           const char *path, const char *const *metadata,
                           size_t n_metadata)
{
    cnn_named_tensor *list = calloc(ps->count ? ps->count : 1, sizeof *list);
    cnn_status st;
    if (!list)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ps->count; i++) {
        list[i].name = ps->entries[i].name;
        list[i].tensor = ps->values[i];
    }
    st = cnn_safetensors_write(ctx, path, list, ps->count, metadata,
                               n_metadata);
    free(list);
    return st;
}
