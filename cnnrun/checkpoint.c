/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cnn/io.h"
#include "model.h"

#define CHECKPOINT_FORMAT "cnnrun-checkpoint-1"
#define OPTIM_PREFIX "optim."

uint64_t checkpoint_graph_hash(const cnn_graph *graph)
{
    uint64_t h = 0xcbf29ce484222325ull;
#define MIX_STR(s)                                                             \
    for (const char *p_ = (s); *p_; p_++) {                                    \
        h ^= (unsigned char)*p_;                                               \
        h *= 0x100000001b3ull;                                                 \
    }
    for (size_t l = 0; l < cnn_graph_layer_count(graph); l++) {
        cnn_layer_info info;
        cnn_graph_layer_info(graph, l, &info);
        MIX_STR(info.name);
        MIX_STR(info.type);
        for (uint32_t p = 0; p < info.n_params; p++) {
            MIX_STR(info.params[p].name);
            for (int32_t d = 0; d < info.params[p].shape.rank; d++) {
                h ^= (uint64_t)info.params[p].shape.dims[d];
                h *= 0x100000001b3ull;
            }
        }
    }
#undef MIX_STR
    return h;
}

cnn_status checkpoint_save(cnn_context *ctx, const char *path,
                           cnn_params *params, const cnn_optim *optim,
                           const checkpoint_position *pos,
                           const checkpoint_extra *extra)
{
    size_t np = cnn_params_count(params);
    size_t no = optim ? cnn_optim_state_count(optim) : 0;
    cnn_named_tensor *list = calloc(np + no + 1, sizeof *list);
    char (*names)[192] = calloc(no + 1, sizeof *names);
    char text[12][40];
    const char *meta[32];
    size_t n_meta;
    cnn_status st;

    if (!list || !names) {
        free(list);
        free(names);
        return cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < np; i++) {
        list[i].name = cnn_params_name(params, i);
        list[i].tensor = *cnn_params_value(params, i);
    }
    for (size_t i = 0; i < no; i++) {
        const cnn_named_tensor *s = cnn_optim_state(optim, i);
        snprintf(names[i], sizeof names[i], OPTIM_PREFIX "%s", s->name);
        list[np + i].name = names[i];
        list[np + i].tensor = s->tensor;
    }
    snprintf(text[0], 40, "%" PRIu64, pos->epoch);
    snprintf(text[1], 40, "%" PRIu64, pos->batch);
    snprintf(text[2], 40, "%" PRIu64, pos->step);
    snprintf(text[3], 40, "%" PRIu64, pos->seed);
    snprintf(text[4], 40, "%016" PRIx64, pos->graph_hash);
    snprintf(text[5], 40, "%016" PRIx64, pos->settings_hash);
    snprintf(text[6], 40, "%.17g", pos->best);
    snprintf(text[7], 40, "%" PRIu64, pos->best_epoch);
    snprintf(text[8], 40, "%" PRIu64, pos->wait);
    snprintf(text[9], 40, "%.17g", pos->lr_scale);
    snprintf(text[10], 40, "%.17g", pos->plateau_best);
    snprintf(text[11], 40, "%" PRIu64, pos->plateau_bad);
    meta[0] = "format";
    meta[1] = CHECKPOINT_FORMAT;
    meta[2] = "epoch";
    meta[3] = text[0];
    meta[4] = "batch";
    meta[5] = text[1];
    meta[6] = "step";
    meta[7] = text[2];
    meta[8] = "seed";
    meta[9] = text[3];
    meta[10] = "graph_hash";
    meta[11] = text[4];
    meta[12] = "settings_hash";
    meta[13] = text[5];
    {
        static const char *const keys[] = {"best", "best_epoch", "wait", "lr_scale",
                                           "plateau_best", "plateau_bad"};
        n_meta = 7;
        for (size_t k = 0; k < 6; k++) {
            meta[2 * n_meta] = keys[k];
            meta[2 * n_meta + 1] = text[6 + k];
            n_meta++;
        }
    }
    if (extra && extra->classes) {
        meta[2 * n_meta] = "classes";
        meta[2 * n_meta + 1] = extra->classes;
        n_meta++;
    }
    if (extra && extra->settings) {
        meta[2 * n_meta] = "settings";
        meta[2 * n_meta + 1] = extra->settings;
        n_meta++;
    }
    st = cnn_safetensors_write(ctx, path, list, np + no, meta, n_meta);
    free(list);
    free(names);
    return st;
}

static int meta_u64(const cnn_tensor_file *f, const char *key, int hex,
                    uint64_t *out)
{
    const char *v = cnn_tensor_file_metadata(f, key);
    char *end;
    if (!v || !*v)
        return 0;
    errno = 0;
    *out = strtoull(v, &end, hex ? 16 : 10);
    return errno == 0 && *end == '\0';
}

/* An optional real-valued metadata entry (absent: fallback). */
static double meta_double(const cnn_tensor_file *f, const char *key, double fallback)
{
    const char *v = cnn_tensor_file_metadata(f, key);
    char *end;
    double d;
    if (!v || !*v)
        return fallback;
    d = strtod(v, &end);
    return *end ? fallback : d;
}

void checkpoint_diff_settings(const char *stored, const char *now, char *out,
                              size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *line = now; line && *line;) {
        const char *nl = strchr(line, '\n'), *eq = strchr(line, '=');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        size_t klen = eq && eq < line + len ? (size_t)(eq - line) + 1 : len;
        const char *s = stored;
        /* The stored line with the same "key=". */
        while (s && *s && strncmp(s, line, klen) != 0) {
            s = strchr(s, '\n');
            s = s ? s + 1 : NULL;
        }
        if (s && *s && klen < len + 1) {
            const char *snl = strchr(s, '\n');
            size_t slen = snl ? (size_t)(snl - s) : strlen(s);
            if ((slen != len || strncmp(s, line, len) != 0) && used + 1 < size)
                used += (size_t)snprintf(out + used, size - used,
                                         "%s%.*s: '%.*s' in the checkpoint, '%.*s' now",
                                         used ? "; " : "", (int)klen - 1, line,
                                         (int)(slen - klen), s + klen,
                                         (int)(len - klen), line + klen);
        }
        line = nl ? nl + 1 : NULL;
    }
}

cnn_status checkpoint_load(cnn_context *ctx, const char *path,
                           cnn_params *params, cnn_optim *optim,
                           checkpoint_position *pos,
                           const checkpoint_extra *extra, char ***classes,
                           size_t *n_classes)
{
    cnn_tensor_file *f = NULL;
    checkpoint_position got;
    const char *format;
    cnn_status st = model_read_weights(ctx, path, &f);
    if (st != CNN_OK)
        return st;
    format = cnn_tensor_file_metadata(f, "format");
    if (!format || strcmp(format, CHECKPOINT_FORMAT) != 0) {
        cnn_tensor_file_destroy(f);
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: not a cnnrun checkpoint (metadata format is "
                                "'%s', want '" CHECKPOINT_FORMAT "')",
                                path, format ? format : "absent");
    }
    if (!meta_u64(f, "epoch", 0, &got.epoch) || !meta_u64(f, "batch", 0, &got.batch) ||
        !meta_u64(f, "step", 0, &got.step) || !meta_u64(f, "seed", 0, &got.seed) ||
        !meta_u64(f, "graph_hash", 1, &got.graph_hash) ||
        !meta_u64(f, "settings_hash", 1, &got.settings_hash)) {
        cnn_tensor_file_destroy(f);
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: checkpoint metadata is incomplete or malformed", path);
    }
    if (got.graph_hash != pos->graph_hash) {
        cnn_tensor_file_destroy(f);
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: checkpoint is of another graph (layers, types "
                                "or parameter shapes differ)", path);
    }
    if (got.settings_hash != pos->settings_hash) {
        const char *stored = cnn_tensor_file_metadata(f, "settings");
        char diff[1024] = "";
        if (stored && extra && extra->settings)
            checkpoint_diff_settings(stored, extra->settings, diff, sizeof diff);
        cnn_context_fail(ctx, CNN_ERR_FORMAT,
                         "%s: checkpoint was made with other training settings "
                         "(%s); resume with the same settings, or start a new "
                         "run from its weights with --init",
                         path, diff[0] ? diff
                                       : "data, batch, optimiser, learning rate, "
                                         "schedule, augmentation or seed differ");
        cnn_tensor_file_destroy(f);
        return CNN_ERR_FORMAT;
    }
    got.best = meta_double(f, "best", NAN);
    got.best_epoch = (uint64_t)meta_double(f, "best_epoch", 0);
    got.wait = (uint64_t)meta_double(f, "wait", 0);
    got.lr_scale = meta_double(f, "lr_scale", 1.0);
    got.plateau_best = meta_double(f, "plateau_best", NAN);
    got.plateau_bad = (uint64_t)meta_double(f, "plateau_bad", 0);
    if (classes)
        *classes = model_read_class_names(f, n_classes);
    /* Every parameter must be there; the optimiser's tensors are extra. */
    st = cnn_params_load_file(ctx, params, f, CNN_PARAMS_ALLOW_EXTRA, NULL);
    if (st == CNN_OK && optim)
        st = cnn_optim_load_state(ctx, optim, f, OPTIM_PREFIX, got.step);
    cnn_tensor_file_destroy(f);
    if (st == CNN_OK)
        *pos = got;
    return st;
}
