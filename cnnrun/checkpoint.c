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
#include "cnn/status.h"

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
    char text[16][40];
    const char *meta[2 * 20];
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
    snprintf(text[13], 40, "%.17g", pos->epoch_loss_sum);
    snprintf(text[14], 40, "%" PRIu64, pos->epoch_hits);
    snprintf(text[15], 40, "%" PRIu64, pos->epoch_seen);
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
        static const char *const sums[] = {"epoch_loss_sum", "epoch_hits", "epoch_seen"};
        n_meta = 7;
        for (size_t k = 0; k < 6; k++) {
            meta[2 * n_meta] = keys[k];
            meta[2 * n_meta + 1] = text[6 + k];
            n_meta++;
        }
        for (size_t k = 0; k < 3; k++) {
            meta[2 * n_meta] = sums[k];
            meta[2 * n_meta + 1] = text[13 + k];
            n_meta++;
        }
    }
    /* Written only by data-parallel jobs; absent means one process. */
    if (pos->ranks > 1) {
        snprintf(text[12], 40, "%" PRIu64, pos->ranks);
        meta[2 * n_meta] = "ranks";
        meta[2 * n_meta + 1] = text[12];
        n_meta++;
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

/* A metadata number: decimal (or hex for hashes) digits only, so "-1",
 * " 5", "+5" or "0x5" are malformed rather than read as something else,
 * and a value past 64 bits is refused instead of saturating. */
static int meta_u64(const cnn_tensor_file *f, const char *key, int hex,
                    uint64_t *out)
{
    const char *v = cnn_tensor_file_metadata(f, key);
    uint64_t x = 0;
    unsigned base = hex ? 16 : 10;
    if (!v || !*v)
        return 0;
    for (const char *p = v; *p; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (hex && *p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else if (hex && *p >= 'A' && *p <= 'F')
            d = (unsigned)(*p - 'A' + 10);
        else
            return 0;
        if (x > (UINT64_MAX - d) / base)
            return 0;
        x = x * base + d;
    }
    *out = x;
    return 1;
}

/* A metadata value quoted for a message: at most 64 characters, anything
 * unprintable shown as '?', so a hostile file cannot garble the terminal. */
static void quote_value(const char *v, char *buf, size_t size)
{
    size_t n = 0;
    for (; v && *v && n + 4 < size && n < 64; v++)
        buf[n++] = (*v >= 0x20 && *v < 0x7f) ? *v : '?';
    if (v && *v && n + 4 < size) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
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
        /* The value lives in f: quote it before f is freed. */
        char shown[80];
        quote_value(format ? format : "absent", shown, sizeof shown);
        cnn_tensor_file_destroy(f);
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: not a cnnrun checkpoint (metadata format is "
                                "'%s', want '" CHECKPOINT_FORMAT "')",
                                path, shown);
    }
    {
        static const char *const keys[] = {"epoch", "batch", "step", "seed",
                                           "graph_hash", "settings_hash"};
        uint64_t *fields[] = {&got.epoch, &got.batch, &got.step, &got.seed,
                              &got.graph_hash, &got.settings_hash};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            if (!meta_u64(f, keys[i], i >= 4, fields[i])) {
                const char *v = cnn_tensor_file_metadata(f, keys[i]);
                char shown[80];
                quote_value(v, shown, sizeof shown);
                cnn_tensor_file_destroy(f);
                return cnn_context_fail(
                    ctx, CNN_ERR_FORMAT,
                    "%s: checkpoint metadata '%s' is %s%s%s (want a %s "
                    "number of at most 64 bits)",
                    path, keys[i], v ? "'" : "", v ? shown : "absent",
                    v ? "'" : "", i >= 4 ? "hexadecimal" : "decimal");
            }
        }
    }
    if (!cnn_tensor_file_metadata(f, "ranks"))
        got.ranks = 1;
    else if (!meta_u64(f, "ranks", 0, &got.ranks) || got.ranks < 1) {
        cnn_tensor_file_destroy(f);
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: checkpoint metadata 'ranks' is malformed", path);
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
    got.lr_scale = meta_double(f, "lr_scale", 1.0);
    got.plateau_best = meta_double(f, "plateau_best", NAN);
    got.epoch_loss_sum = meta_double(f, "epoch_loss_sum", 0.0);
    {
        /* Optional counts (absent in older checkpoints: 0), but never a
         * negative or fractional one read as something else. */
        static const char *const keys[] = {"best_epoch", "wait", "plateau_bad",
                                           "epoch_hits", "epoch_seen"};
        uint64_t *fields[] = {&got.best_epoch, &got.wait, &got.plateau_bad,
                              &got.epoch_hits, &got.epoch_seen};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            const char *v = cnn_tensor_file_metadata(f, keys[i]);
            *fields[i] = 0;
            if (v && !meta_u64(f, keys[i], 0, fields[i])) {
                char shown[80];
                quote_value(v, shown, sizeof shown);
                cnn_tensor_file_destroy(f);
                return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                        "%s: checkpoint metadata '%s' is '%s' (want a "
                                        "decimal count)", path, keys[i], shown);
            }
        }
    }
    if (!isfinite(got.epoch_loss_sum) || got.epoch_hits > got.epoch_seen) {
        cnn_tensor_file_destroy(f);
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: checkpoint metadata 'epoch_loss_sum', 'epoch_hits' "
                                "or 'epoch_seen' is malformed", path);
    }
    /* Every parameter must be there; the optimiser's tensors are extra. */
    st = cnn_params_load_file(ctx, params, f, CNN_PARAMS_ALLOW_EXTRA, NULL);
    if (st == CNN_OK && optim)
        st = cnn_optim_load_state(ctx, optim, f, OPTIM_PREFIX, got.step);
    /* The class names only for a checkpoint that loaded: nothing to free
     * on failure. */
    if (st == CNN_OK && classes)
        *classes = model_read_class_names(f, n_classes);
    cnn_tensor_file_destroy(f);
    if (st == CNN_OK)
        *pos = got;
    return st;
}

cnn_status checkpoint_check_position(cnn_context *ctx, const char *path,
                                     const checkpoint_position *pos,
                                     uint64_t batches_per_epoch,
                                     uint64_t epochs)
{
    if (pos->batch > batches_per_epoch)
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: checkpoint is at batch %" PRIu64
                                " of an epoch that has only %" PRIu64
                                " batches",
                                path, pos->batch, batches_per_epoch);
    /* One optimiser step per batch: the step count follows from the
     * position, so a file that disagrees was not written by this run. */
    if (pos->epoch > (UINT64_MAX - pos->batch) / (batches_per_epoch ? batches_per_epoch : 1) ||
        pos->epoch * batches_per_epoch + pos->batch != pos->step)
        return cnn_context_fail(ctx, CNN_ERR_FORMAT,
                                "%s: checkpoint position is inconsistent: "
                                "epoch %" PRIu64 ", batch %" PRIu64
                                " and step %" PRIu64 " (with %" PRIu64
                                " batches per epoch the step would be "
                                "epoch * batches + batch)",
                                path, pos->epoch, pos->batch, pos->step,
                                batches_per_epoch);
    /* A checkpoint at the end of the last epoch is allowed: a run killed
     * after it but before the final save resumes to write the weights. */
    if (pos->epoch > epochs || (pos->epoch == epochs && pos->batch > 0))
        return cnn_context_fail(ctx, CNN_ERR_INVALID,
                                "%s: checkpoint has %" PRIu64
                                " epochs done (and %" PRIu64
                                " batches) but this run has %" PRIu64
                                " epochs: it is past the end of the run "
                                "(raise --epochs to continue it)",
                                path, pos->epoch, pos->batch, epochs);
    return CNN_OK;
}
