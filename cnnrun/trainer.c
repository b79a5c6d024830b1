/* SPDX-License-Identifier: MIT */
/* One loop: forward, fused softmax cross-entropy, backward, optimiser step;
 * validation and a checkpoint at every epoch's end. Everything random is a
 * function of (seed, epoch, step), so a resumed run retraces an
 * uninterrupted one exactly. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "class_match.h"
#include "classifier.h"
#include "cli.h"
#include "cnn/data.h"
#include "cnn/exec.h"
#include "cnn/train.h"
#include "dist/dist_eval.h"
#include "dist/fingerprint.h"
#include "dist/grad_sync.h"
#include "model.h"
#include "nonfinite.h"
#include "progress.h"
#include "trainer.h"
#include "data_options.h"

typedef struct trainer {
    cnn_context *ctx;
    train_config *cfg;
    model m;
    classifier_head head;
    cnn_dataset *train;
    cnn_dataset *val;
    cnn_loader *loader;
    cnn_exec *exec;
    cnn_optim *optim;
    float *grad; /* dL/dlogits for one batch */
    FILE *log;
    checkpoint_position pos;
    char checkpoint_path[4096];
    char best_path[4096];
    int wrote_checkpoint; /* this run or the one resumed has written one */
    int quiet;
    double started;
    /* Data-parallel job (NULL alone): this rank's part of every batch,
     * gradients summed by sync. */
    dist_comm *comm;
    grad_sync *sync;
    int running; /* past start-up: a failure on one rank ends the job */
    double step_seconds;
    uint64_t steps_timed;
    /* The model's class names (the training data's after matching) as the
     * JSON stored with weights and checkpoints; the settings' text. */
    char *classes_json;
    char *settings;
    char **resume_classes, **init_classes;
    size_t n_resume_classes, n_init_classes;
    float *class_weights; /* head.classes of them, or NULL */
    const char *monitor;
    int monitor_higher;
    cnn_plateau plateau;
} trainer;

static int fail(trainer *t)
{
    if (dist_active(t->comm) && t->comm->rank != 0) {
        /* Silenced rank: its own failures still reach the user. */
        if (t->running)
            dist_say(t->comm, "train", "%s", cnn_context_message(t->ctx));
    } else {
        fprintf(stderr, "cnnrun train: error: %s\n", cnn_context_message(t->ctx));
    }
    /* Other ranks wait in the next collective: end them all now. */
    if (dist_active(t->comm) && t->running)
        t->comm->abort(t->comm, CLI_FAIL);
    return CLI_FAIL;
}

/* Only rank 0 writes logs, checkpoints and weights. */
static int writer(const trainer *t)
{
    return !t->comm || t->comm->rank == 0;
}

static void say(const trainer *t, const char *fmt, const char *a, const char *b)
{
    if (!t->quiet) {
        fprintf(stderr, "cnnrun train: ");
        fprintf(stderr, fmt, a, b);
        fputc('\n', stderr);
    }
}

/* A metrics line, flushed so a crash loses at most the line being
 * written. A failed write (a full disk) stops training: a run whose log
 * silently went missing would look complete. */
static int log_line(trainer *t, const char *event, uint64_t epoch,
                    uint64_t step, double loss, double acc, double val_loss,
                    double val_acc, double lr, double ips)
{
    if (!t->log)
        return CLI_OK;
    fprintf(t->log,
            "{\"event\": \"%s\", \"epoch\": %" PRIu64 ", \"step\": %" PRIu64
            ", \"train_loss\": %.6g, \"train_acc\": %.6g",
            event, epoch, step, loss, acc);
    if (!isnan(val_loss))
        fprintf(t->log, ", \"val_loss\": %.6g, \"val_acc\": %.6g", val_loss,
                val_acc);
    fprintf(t->log, ", \"lr\": %.6g, \"images_per_s\": %.1f, \"wall\": %.3f}\n",
            lr, ips, progress_now() - t->started);
    if (fflush(t->log) != 0 || ferror(t->log)) {
        cnn_context_fail(t->ctx, CNN_ERR_IO, "%s: cannot write the metrics log: %s",
                         t->cfg->log, strerror(errno));
        return fail(t);
    }
    return CLI_OK;
}

/* Closes the metrics log, reporting what close finds (a deferred write
 * error on a network file system). */
static int close_log(trainer *t)
{
    FILE *log = t->log;
    t->log = NULL;
    if (log && fclose(log) != 0) {
        cnn_context_fail(t->ctx, CNN_ERR_IO, "%s: cannot write the metrics log: %s",
                         t->cfg->log, strerror(errno));
        return fail(t);
    }
    return CLI_OK;
}

/* --init: weights by name; its class names count only when it supplies
 * the output layer's weights (a backbone file's classes are not the new
 * head's). A checkpoint's optimiser state is skipped. */
static int load_init(trainer *t)
{
    cnn_tensor_file *file = NULL;
    size_t loaded = 0, count = 0;
    size_t first = cnn_params_layer_first(t->m.params, t->head.logits_layer, &count);
    int head_loaded = count > 0;
    const char *format;
    if (model_read_weights(t->ctx, t->cfg->init, &file) != CNN_OK ||
        model_rename(t->ctx, &t->m, file) != CNN_OK ||
        cnn_params_load_file(t->ctx, t->m.params, file,
                             CNN_PARAMS_ALLOW_MISSING | CNN_PARAMS_ALLOW_EXTRA,
                             &loaded) != CNN_OK) {
        cnn_tensor_file_destroy(file);
        return fail(t);
    }
    for (size_t i = first; i < first + count; i++)
        if (!cnn_tensor_file_find(file, cnn_params_name(t->m.params, i)))
            head_loaded = 0;
    if (head_loaded)
        t->init_classes = model_read_class_names(file, &t->n_init_classes);
    format = cnn_tensor_file_metadata(file, "format");
    if (!t->quiet)
        fprintf(stderr, "cnnrun train: --init %s: loaded %zu of %zu tensors%s\n",
                t->cfg->init, loaded, cnn_params_count(t->m.params),
                format && !strncmp(format, "cnnrun-checkpoint-", 18)
                    ? " (a checkpoint: its optimiser state is ignored)"
                    : "");
    cnn_tensor_file_destroy(file);
    return CLI_OK;
}

/* Training data, and validation data from --val or --val-split. */
static int open_data(trainer *t)
{
    cnn_shape in = cnn_graph_input_shape(t->m.graph);
    if (cnn_dataset_open(t->ctx, t->cfg->data, &in, &t->train) != CNN_OK)
        return fail(t);
    if (t->cfg->val_split > 0) {
        cnn_dataset *whole = t->train;
        t->train = NULL;
        if (cnn_dataset_split(t->ctx, whole, t->cfg->val_split, &t->train, &t->val) !=
            CNN_OK) {
            cnn_dataset_destroy(whole);
            return fail(t);
        }
        cnn_dataset_destroy(whole);
        if (!t->quiet)
            fprintf(stderr, "cnnrun train: --val-split %g: %zu images to train on, "
                            "%zu held out for validation (stratified)\n",
                    t->cfg->val_split, cnn_dataset_size(t->train), cnn_dataset_size(t->val));
    } else if (t->cfg->val && cnn_dataset_open(t->ctx, t->cfg->val, &in, &t->val) != CNN_OK) {
        return fail(t);
    }
    return CLI_OK;
}

/* The model's class names, most explicit first: the graph's, the resumed
 * checkpoint's, the --init file's; then the training data's own (its
 * classes define the model's). Validation data is matched to the result
 * by name, so a renamed or reordered class folder is caught. */
static int match_classes(trainer *t)
{
    class_names names = {0};
    char source[4200];
    size_t n;
    const char **view;
    model_class_view(&t->m, &names);
    if (!names.count && t->n_resume_classes) {
        names.names = (const char *const *)t->resume_classes;
        names.count = t->n_resume_classes;
        snprintf(source, sizeof source, "checkpoint %s", t->cfg->resume);
        names.source = source;
    } else if (!names.count && t->n_init_classes) {
        names.names = (const char *const *)t->init_classes;
        names.count = t->n_init_classes;
        snprintf(source, sizeof source, "--init %s", t->cfg->init);
        names.source = source;
    }
    size_t data_classes = cnn_dataset_class_count(t->train);
    if (class_match_dataset(t->ctx, &t->head, t->m.graph, names.count ? &names : NULL,
                            t->train, t->cfg->allow_missing_classes) != CNN_OK)
        return fail(t);
    n = cnn_dataset_class_count(t->train);
    view = calloc(n + 1, sizeof *view);
    if (!view) {
        cnn_context_fail(t->ctx, CNN_ERR_NOMEM, "out of memory");
        return fail(t);
    }
    /* Outputs past the data's classes (--allow-missing-classes, no names
     * from the model) have no class: they are stored unnamed (""), not as
     * their index, so later data with a class folder called "5" is not
     * matched by name to an output that never learnt it. */
    for (size_t i = 0; i < n; i++)
        view[i] = !names.count && i >= data_classes
                      ? ""
                      : cnn_dataset_class_name(t->train, i);
    t->classes_json = model_classes_json(view, n);
    if (t->val) {
        snprintf(source, sizeof source, "the training data %s", t->cfg->data);
        names.names = view;
        names.count = n;
        names.source = source;
        if (class_match_dataset(t->ctx, &t->head, t->m.graph, &names, t->val,
                                t->cfg->allow_missing_classes) != CNN_OK) {
            free(view);
            return fail(t);
        }
    }
    free(view);
    if (!t->classes_json) {
        cnn_context_fail(t->ctx, CNN_ERR_NOMEM, "out of memory");
        return fail(t);
    }
    return CLI_OK;
}

/* --class-weights: "balanced" (n / (classes present x n_c), as
 * scikit-learn's) or one number per output. */
static int make_class_weights(trainer *t)
{
    const char *spec = t->cfg->class_weights;
    size_t k = (size_t)t->head.classes;
    if (!spec)
        return CLI_OK;
    t->class_weights = calloc(k, sizeof *t->class_weights);
    if (!t->class_weights) {
        cnn_context_fail(t->ctx, CNN_ERR_NOMEM, "out of memory");
        return fail(t);
    }
    if (!strcmp(spec, "balanced")) {
        size_t n = cnn_dataset_size(t->train), present = 0;
        size_t *count = calloc(k, sizeof *count);
        const int32_t *labels = cnn_dataset_labels(t->train);
        if (!count) {
            cnn_context_fail(t->ctx, CNN_ERR_NOMEM, "out of memory");
            return fail(t);
        }
        for (size_t i = 0; i < n; i++)
            count[labels[i]]++;
        for (size_t c = 0; c < k; c++)
            present += count[c] > 0;
        for (size_t c = 0; c < k; c++)
            t->class_weights[c] =
                count[c] ? (float)((double)n / ((double)present * (double)count[c])) : 0.0f;
        free(count);
        return CLI_OK;
    }
    {
        const char *p = spec;
        for (size_t c = 0; c < k; c++) {
            char *end;
            double w = strtod(p, &end);
            if (end == p || w < 0 || !isfinite(w) || (*end != ',' && *end != '\0') ||
                (*end == '\0' && c + 1 < k) || (*end == ',' && c + 1 == k)) {
                fprintf(stderr, "cnnrun train: error: --class-weights: '%s' is not "
                                "'balanced' or %zu non-negative numbers separated "
                                "by commas (one per output, in class order)\n",
                        spec, k);
                return CLI_USAGE;
            }
            t->class_weights[c] = (float)w;
            p = end + 1;
        }
    }
    return CLI_OK;
}

/* Only the writer (rank 0 of a job, or the one process) makes folders and
 * opens the log; every rank knows the checkpoint paths for its messages. */
static int open_output_paths(trainer *t)
{
    if (t->cfg->checkpoint_dir && !writer(t)) {
        snprintf(t->checkpoint_path, sizeof t->checkpoint_path, "%s/last.safetensors",
                 t->cfg->checkpoint_dir);
        snprintf(t->best_path, sizeof t->best_path, "%s/best.safetensors",
                 t->cfg->checkpoint_dir);
    }
    if (!writer(t))
        return CLI_OK;
    if (cli_make_parent_dirs(t->ctx, t->cfg->out) != CNN_OK)
        return fail(t);
    if (t->cfg->log) {
        if (cli_make_parent_dirs(t->ctx, t->cfg->log) != CNN_OK)
            return fail(t);
        /* A resumed run appends to the log it continues. */
        t->log = fopen(t->cfg->log, t->cfg->resume ? "a" : "w");
        if (!t->log) {
            cnn_context_fail(t->ctx, CNN_ERR_IO, "%s: cannot open the metrics log: %s",
                             t->cfg->log, strerror(errno));
            return fail(t);
        }
    }
    if (t->cfg->checkpoint_dir) {
        if (cli_make_dirs(t->ctx, t->cfg->checkpoint_dir) != CNN_OK)
            return fail(t);
        snprintf(t->checkpoint_path, sizeof t->checkpoint_path, "%s/last.safetensors",
                 t->cfg->checkpoint_dir);
        snprintf(t->best_path, sizeof t->best_path, "%s/best.safetensors",
                 t->cfg->checkpoint_dir);
    }
    return CLI_OK;
}

/* cnn_exec_allreduce_fn for --sync-bn: batch norm's per-channel sums over
 * every rank (a failure ends the job inside the communicator). */
static cnn_status sync_bn_sum(void *comm, double *values, size_t n)
{
    dist_comm *c = comm;
    c->sum_doubles(c, values, n);
    return CNN_OK;
}

static int open_everything(trainer *t, const char *graph_path)
{
    cnn_loader_options lo;
    cnn_exec_options eo;
    int code;

    if (model_open_renamed(t->ctx, graph_path, NULL, t->cfg->seed, t->cfg->rename,
                           &t->m) != CNN_OK ||
        classifier_head_find(t->ctx, t->m.graph, &t->head) != CNN_OK)
        return fail(t);
    if (t->cfg->init && (code = load_init(t)) != CLI_OK)
        return code;
    if (cnn_optim_create(t->ctx, t->m.params, &t->cfg->optim, &t->optim) != CNN_OK)
        return fail(t);
    t->monitor = train_config_monitor(t->cfg, &t->monitor_higher);
    cnn_plateau_init(&t->plateau, t->cfg->schedule.gamma > 0 ? t->cfg->schedule.gamma : 0.1,
                     t->cfg->plateau_patience, t->monitor_higher);
    t->pos.seed = t->cfg->seed;
    t->pos.graph_hash = checkpoint_graph_hash(t->m.graph);
    t->pos.settings_hash = train_config_hash(t->cfg);
    t->pos.best = NAN;
    t->pos.lr_scale = 1.0;
    t->pos.plateau_best = NAN;
    t->settings = train_config_describe(t->cfg);
    t->pos.ranks = t->comm ? (uint64_t)t->comm->size : 1;
    if (t->cfg->resume) {
        checkpoint_extra now = {NULL, t->settings};
        uint64_t ranks = t->pos.ranks;
        if (checkpoint_load(t->ctx, t->cfg->resume, t->m.params, t->optim, &t->pos, &now,
                            &t->resume_classes, &t->n_resume_classes) != CNN_OK)
            return fail(t);
        t->plateau.scale = t->pos.lr_scale;
        t->plateau.best = t->pos.plateau_best;
        t->plateau.bad_epochs = (int64_t)t->pos.plateau_bad;
        t->wrote_checkpoint = 1;
        if (!t->quiet)
            fprintf(stderr, "cnnrun train: resumed from %s at epoch %" PRIu64
                            ", batch %" PRIu64 " (step %" PRIu64 ")\n",
                    t->cfg->resume, t->pos.epoch + 1, t->pos.batch, t->pos.step);
        if (!t->quiet && t->pos.ranks != ranks)
            fprintf(stderr,
                    "cnnrun train: note: the checkpoint was written by %" PRIu64
                    " rank(s), this run has %" PRIu64 ": it continues with the same "
                    "global batches in the same order, but sums of gradients "
                    "(and per-rank batch-norm statistics) are formed differently, "
                    "so the weights will not be bit-identical to a run continued "
                    "on %" PRIu64 "\n",
                    t->pos.ranks, ranks, t->pos.ranks);
        t->pos.ranks = ranks;
    }
    if ((code = open_data(t)) != CLI_OK || (code = match_classes(t)) != CLI_OK ||
        (code = make_class_weights(t)) != CLI_OK)
        return code;
    cnn_loader_options_init(&lo);
    lo.batch = (size_t)t->cfg->batch;
    lo.seed = t->cfg->seed;
    lo.shuffle = 1;
    lo.flip = t->cfg->flip;
    lo.drop_last = t->cfg->drop_last;
    lo.crop_padding = (int32_t)t->cfg->crop_padding;
    lo.mean = cnn_graph_input_mean(t->m.graph);
    lo.std = cnn_graph_input_std(t->m.graph);
    /* The loader settings, for the training loader and the validation
     * ones alike (classifier.c reads them). */
    data_options_current.loader_threads = (int)t->cfg->loader_threads;
    data_options_current.center_crop = t->cfg->center_crop;
    data_options_current.skip_bad = t->cfg->skip_bad_images;
    data_options_current.default_center = t->cfg->augment_imagenet ? 0.875 : 1.0;
    data_options_apply(&lo, t->train, cnn_context_threads(t->ctx));
    lo.random_resized_crop = t->cfg->augment_imagenet;
    if (dist_active(t->comm)) {
        lo.shard = (size_t)t->comm->rank;
        lo.shards = (size_t)t->comm->size;
    }
    if (cnn_loader_create(t->ctx, t->train, &lo, &t->loader) != CNN_OK)
        return fail(t);
    memset(&eo, 0, sizeof eo); /* fields added later read 0 */
    eo.batch = t->cfg->batch;
    eo.training = 1;
    eo.keep_layer = -1;
    if (dist_active(t->comm))
        eo.batch = t->cfg->batch / t->comm->size; /* B % N == 0: checked */
    if (cnn_exec_create(t->ctx, t->m.graph, t->m.params, &eo, &t->exec) != CNN_OK)
        return fail(t);
    if (dist_active(t->comm)) {
        if (grad_sync_create(t->ctx, t->comm, t->m.graph, t->m.params, &t->sync) != CNN_OK)
            return fail(t);
        cnn_exec_set_backward_hook(t->exec, grad_sync_layer_done, t->sync);
        if (t->cfg->sync_bn) {
            size_t last = cnn_dataset_size(t->train) % (size_t)t->cfg->batch;
            /* Every rank must join every statistics sum, and a rank with
             * no samples skips the pass. */
            if (!t->cfg->drop_last && last > 0 && last < (size_t)t->comm->size) {
                cnn_context_fail(t->ctx, CNN_ERR_INVALID,
                                 "--sync-bn: each epoch's final batch has %zu "
                                 "sample(s) for %d ranks, so a rank would have "
                                 "none; use --drop-last or another --batch",
                                 last, t->comm->size);
                return fail(t);
            }
            cnn_exec_set_allreduce(t->exec, sync_bn_sum, t->comm);
            grad_sync_keep_state(t->sync);
        }
    }
    t->grad = malloc((size_t)t->cfg->batch * (size_t)t->head.classes * sizeof(float));
    if (!t->grad) {
        cnn_context_fail(t->ctx, CNN_ERR_NOMEM, "out of memory");
        return fail(t);
    }
    if (t->cfg->resume &&
        checkpoint_check_position(t->ctx, t->cfg->resume, &t->pos,
                                  cnn_loader_batch_count(t->loader),
                                  (uint64_t)t->cfg->epochs) != CNN_OK)
        return fail(t);
    return open_output_paths(t);
}

static int save_checkpoint(trainer *t)
{
    checkpoint_extra extra = {t->classes_json, t->settings};
    if (!t->checkpoint_path[0] || !writer(t))
        return CLI_OK;
    t->pos.lr_scale = t->plateau.scale;
    t->pos.plateau_best = t->plateau.best;
    t->pos.plateau_bad = (uint64_t)t->plateau.bad_epochs;
    if (checkpoint_save(t->ctx, t->checkpoint_path, t->m.params, t->optim, &t->pos,
                        &extra) != CNN_OK)
        return fail(t);
    t->wrote_checkpoint = 1;
    return CLI_OK;
}

/* Weights with the class names (and, for best.safetensors, which epoch and
 * value they stand for), loadable by eval, predict, features and --init. */
static int save_weights(trainer *t, const char *path, const char *epoch,
                        const char *value)
{
    const char *meta[] = {"graph", cnn_graph_name(t->m.graph), "producer", "cnnrun train",
                          "classes", t->classes_json, "monitor", t->monitor,
                          "epoch", epoch, "value", value};
    if (cnn_params_save(t->ctx, t->m.params, path, meta, epoch ? 6 : 3) != CNN_OK)
        return fail(t);
    return CLI_OK;
}

/* The monitored value at the end of an epoch; the plateau schedule, the
 * best weights and early stopping all follow it. Returns CLI_OK, a
 * failure, or -1 when training should stop early. */
static int follow_monitor(trainer *t, double loss, double acc, double val_loss,
                          double val_acc)
{
    uint64_t epoch = t->pos.epoch + 1; /* the epoch just finished, 1-based */
    double v = !strcmp(t->monitor, "loss")       ? loss
               : !strcmp(t->monitor, "acc")      ? acc
               : !strcmp(t->monitor, "val_loss") ? val_loss
                                                 : val_acc;
    int improved = !isnan(v) && (isnan(t->pos.best) || (t->monitor_higher ? v > t->pos.best
                                                                          : v < t->pos.best));
    if (t->cfg->schedule.kind == CNN_SCHEDULE_PLATEAU && cnn_plateau_update(&t->plateau, v) &&
        !t->quiet)
        fprintf(stderr, "cnnrun train: %s has not improved for %lld epoch%s: learning rate "
                        "x %g, now %.4g\n", t->monitor,
                (long long)t->cfg->plateau_patience + 1,
                t->cfg->plateau_patience == 0 ? "" : "s", t->plateau.factor,
                t->cfg->schedule.lr * t->plateau.scale);
    if (improved) {
        char e[32], value[40];
        t->pos.best = v;
        t->pos.best_epoch = epoch;
        t->pos.wait = 0;
        snprintf(e, sizeof e, "%" PRIu64, epoch);
        snprintf(value, sizeof value, "%.9g", v);
        if (t->best_path[0] && writer(t) && save_weights(t, t->best_path, e, value) != CLI_OK)
            return CLI_FAIL;
    } else {
        t->pos.wait++;
    }
    if (t->cfg->early_stop && t->pos.wait >= (uint64_t)t->cfg->early_stop) {
        if (!t->quiet)
            fprintf(stderr, "cnnrun train: early stop after epoch %" PRIu64 ": %s has not "
                            "improved for %" PRIu64 " epoch%s (best %.4f at epoch %" PRIu64
                            "%s%s)\n", epoch, t->monitor, t->pos.wait,
                    t->pos.wait == 1 ? "" : "s", t->pos.best,
                    t->pos.best_epoch, t->best_path[0] ? ", weights in " : "",
                    t->best_path[0] ? t->best_path : "");
        return -1;
    }
    return CLI_OK;
}

/* Says where training broke: the first layer whose output is not finite
 * (the executor keeps every output while training) and what is on disk. */
static int nonfinite_stop(trainer *t, double loss, uint64_t epoch)
{
    char where[768], kept[4300];
    nonfinite_describe(t->m.graph, t->m.params, t->exec, t->head.output_layer, where,
                       sizeof where);
    if (!t->checkpoint_path[0])
        snprintf(kept, sizeof kept, "No checkpoint yet (none is written without "
                                    "--checkpoint-dir).");
    else if (!t->wrote_checkpoint)
        snprintf(kept, sizeof kept, "No checkpoint yet: the first would have been "
                                    "written at the end of epoch 1%s.",
                 t->cfg->checkpoint_every ? " or after --checkpoint-every steps" : "");
    else
        snprintf(kept, sizeof kept, "The last good checkpoint, %s, is kept.",
                 t->checkpoint_path);
    fprintf(stderr,
            "cnnrun train: error: the loss is %s at epoch %" PRIu64 ", step %" PRIu64
            " (batch %" PRIu64 " of the epoch): %s; stopping. %s\n",
            isnan(loss) ? "NaN" : "infinite", epoch + 1, t->pos.step + 1, t->pos.batch + 1,
            where, kept);
    return CLI_FAIL;
}

static int validate(trainer *t, double *loss, double *acc)
{
    eval_result r;
    *loss = NAN;
    *acc = NAN;
    if (!t->val)
        return CLI_OK;
    if (dist_evaluate(t->comm, t->ctx, t->m.graph, t->m.params, &t->head, t->val,
                      (size_t)t->cfg->batch, &r) != CNN_OK)
        return fail(t);
    *loss = r.loss;
    *acc = r.top1;
    eval_result_free(&r);
    return CLI_OK;
}

/* Backward for this rank's n of the batch's n_all samples. In a job, the
 * rank's gradient is scaled by its share, summed over the ranks bucket by
 * bucket while backward runs, and the loss and hits become the batch's;
 * every rank then sees the same loss, so all stop together on a NaN. */
static int backward_step(trainer *t, size_t n, size_t n_all, double *loss,
                         int64_t *correct)
{
    cnn_tensor grad;
    float stats[GRAD_SYNC_MAX_STATS] = {0};
    double share;
    grad.shape = cnn_shape2((int64_t)n, t->head.classes);
    grad.data = t->grad;
    if (!dist_active(t->comm)) {
        if (!isfinite(*loss))
            return nonfinite_stop(t, *loss, t->pos.epoch);
        if (cnn_exec_backward(t->exec, &grad, t->head.output_layer,
                              t->head.fused_softmax) != CNN_OK)
            return fail(t);
        return CLI_OK;
    }
    share = (double)n / (double)n_all;
    for (size_t i = 0; i < n * (size_t)t->head.classes; i++)
        t->grad[i] *= (float)share;
    stats[0] = (float)(*loss * (double)n);
    stats[1] = (float)*correct;
    grad_sync_begin_step(t->sync, share, stats, 2);
    if (n == 0)
        grad_sync_zero_grads(t->sync);
    else if (cnn_exec_backward(t->exec, &grad, t->head.output_layer,
                               t->head.fused_softmax) != CNN_OK)
        return fail(t);
    grad_sync_finish(t->sync, stats);
    *loss = (double)stats[0] / (double)n_all;
    *correct = (int64_t)stats[1];
    return isfinite(*loss) ? CLI_OK : nonfinite_stop(t, *loss, t->pos.epoch);
}

static int run_epoch(trainer *t, progress *bar)
{
    size_t batches = cnn_loader_batch_count(t->loader);
    /* The epoch's sums continue from a checkpoint taken mid-epoch. */
    double loss_sum = t->pos.epoch_loss_sum, lr = 0.0, val_loss, val_acc;
    int64_t hits = (int64_t)t->pos.epoch_hits;
    size_t seen = (size_t)t->pos.epoch_seen;
    size_t seen_here = 0; /* samples since this process started the epoch, for speed */
    double t0 = progress_now();
    uint64_t epoch = t->pos.epoch;
    int code;

    if (cnn_loader_set_position(t->loader, epoch, (size_t)t->pos.batch) != CNN_OK)
        return fail(t);
    progress_begin_epoch(bar);
    while (t->pos.batch < batches) {
        cnn_tensor images;
        const int32_t *labels;
        size_t n, n_all, offset;
        int64_t correct = 0;
        double loss = 0.0, step_t0 = progress_now();

        if (cnn_loader_next(t->loader, &images, &labels, &n) != CNN_OK)
            return fail(t);
        cnn_loader_last_part(t->loader, &n_all, &offset);
        if (n_all == 0)
            break;
        if (n > 0) { /* a rank's part of a short final batch may be empty */
            const cnn_tensor *logits;
            cnn_exec_set_sample_offset(t->exec, (int64_t)offset);
            if (cnn_exec_forward(t->exec, &images, 1,
                                 t->cfg->seed ^ (t->pos.step * 0x9e3779b97f4a7c15ull),
                                 t->head.output_layer) != CNN_OK)
                return fail(t);
            logits = cnn_exec_output(t->exec, t->head.logits_layer);
            loss = cnn_softmax_xent_ex(logits->data, labels, (int64_t)n, t->head.classes,
                                       t->class_weights, t->cfg->label_smoothing, t->grad,
                                       &correct);
        }
        if ((code = backward_step(t, n, n_all, &loss, &correct)) != CLI_OK)
            return code;
        lr = t->plateau.scale *
             cnn_schedule_lr(&t->cfg->schedule,
                             (double)epoch + (double)(t->pos.batch + 1) / (double)batches);
        cnn_optim_step(t->optim, lr);
        t->pos.step++;
        t->pos.batch++;
        loss_sum += loss * (double)n_all;
        hits += correct;
        seen += n_all;
        seen_here += n_all;
        t->pos.epoch_loss_sum = loss_sum;
        t->pos.epoch_hits = (uint64_t)hits;
        t->pos.epoch_seen = seen;
        t->step_seconds += progress_now() - step_t0;
        t->steps_timed++;
        {
            double ips = (double)seen_here / (progress_now() - t0 + 1e-9);
            progress_update(bar, epoch, (uint64_t)t->cfg->epochs, (size_t)t->pos.batch,
                            batches, loss_sum / (double)seen, (double)hits / (double)seen, ips);
            if (t->pos.step % (uint64_t)t->cfg->log_every == 0 &&
                (code = log_line(t, "step", epoch + 1, t->pos.step, loss,
                                 (double)correct / (double)n_all, NAN, NAN, lr, ips)) != CLI_OK)
                return code;
        }
        if (t->cfg->checkpoint_every && t->pos.step % (uint64_t)t->cfg->checkpoint_every == 0 &&
            (code = save_checkpoint(t)) != CLI_OK)
            return code;
    }
    progress_end_epoch(bar);
    if (cnn_loader_skipped(t->loader) > 0)
        /* Every rank reports its own share's skips (only its part is read). */
        fprintf(stderr,
                "cnnrun train: epoch %" PRIu64 ": skipped %zu image(s) that "
                "failed to decode (--skip-bad-images); the first: %s\n",
                epoch + 1, cnn_loader_skipped(t->loader),
                cnn_loader_first_skipped(t->loader));
    if ((code = validate(t, &val_loss, &val_acc)) != CLI_OK)
        return code;
    {
        double ips = (double)seen_here / (progress_now() - t0 + 1e-9);
        double mean_loss = seen ? loss_sum / (double)seen : NAN;
        double acc = seen ? (double)hits / (double)seen : NAN;
        int stop;
        if ((code = log_line(t, "epoch", epoch + 1, t->pos.step, mean_loss, acc, val_loss,
                             val_acc, lr, ips)) != CLI_OK)
            return code;
        if (!t->quiet) {
            fprintf(stderr, "epoch %" PRIu64 "/%lld: loss %.4f acc %.2f%%", epoch + 1,
                    (long long)t->cfg->epochs, mean_loss, 100 * acc);
            if (t->val)
                fprintf(stderr, "  val loss %.4f acc %.2f%%", val_loss, 100 * val_acc);
            fprintf(stderr, "  lr %.4g  %.0f img/s  %.1f s\n", lr, ips, progress_now() - t0);
        }
        stop = follow_monitor(t, mean_loss, acc, val_loss, val_acc);
        if (stop > 0)
            return stop;
        t->pos.epoch++;
        t->pos.batch = 0;
        t->pos.epoch_loss_sum = 0.0;
        t->pos.epoch_hits = 0;
        t->pos.epoch_seen = 0;
        if ((code = save_checkpoint(t)) != CLI_OK)
            return code;
        return stop;
    }
}

/* Everything that changes what a rank computes or when it stops. */
static uint64_t job_settings_hash(const train_config *c)
{
    int64_t ints[3] = {c->epochs, c->checkpoint_every, c->log_every};
    uint64_t settings = train_config_hash(c);
    uint64_t h = fingerprint_bytes(FINGERPRINT_SEED, &settings, sizeof settings);
    h = fingerprint_bytes(h, ints, sizeof ints);
    if (c->val)
        h = fingerprint_bytes(h, c->val, strlen(c->val));
    return h;
}

/* A job starts only when every rank opened everything and all were given
 * the same graph, settings, data and starting point; else every rank
 * stops, and rank 0 says why. */
static int start_job(trainer *t, int code)
{
    fingerprint fp;
    if (!dist_active(t->comm))
        return code;
    code = dist_agree(t->comm, "train", code, code ? cnn_context_message(t->ctx) : NULL);
    if (code != CLI_OK)
        return code;
    memset(&fp, 0, sizeof fp);
    fingerprint_add(&fp, "graph (layers, types or parameter shapes)", t->pos.graph_hash);
    fingerprint_add(&fp, "training settings", job_settings_hash(t->cfg));
    fingerprint_add(&fp, "training data (--data)", fingerprint_dataset(t->train));
    fingerprint_add(&fp, "validation data (--val)", t->val ? fingerprint_dataset(t->val) : 0);
    fingerprint_add(&fp, "initial weights (--init, --resume or the graph's backbone)",
                    fingerprint_params(t->m.params));
    fingerprint_add(&fp, "starting position (--resume)",
                    fingerprint_bytes(t->pos.epoch, &t->pos.step, sizeof t->pos.step) ^
                        t->pos.batch);
    if (fingerprint_compare(t->comm, "train", &fp))
        return CLI_FAIL;
    t->running = 1;
    return CLI_OK;
}

/* What the data-parallel step cost, for bench/ and the curious. */
static void report_job(const trainer *t)
{
    double per_step, wait;
    if (!dist_active(t->comm) || t->quiet || !t->steps_timed)
        return;
    per_step = t->step_seconds / (double)t->steps_timed;
    wait = t->comm->wait_seconds / (double)t->steps_timed;
    fprintf(stderr,
            "cnnrun train: %d ranks, %" PRIu64 " steps of %lld images: %.3f ms per "
            "step, of which %.3f ms (%.1f%%) waiting for gradient sums "
            "(%zu buckets)\n",
            t->comm->size, t->steps_timed, (long long)t->cfg->batch, 1e3 * per_step,
            1e3 * wait, 100.0 * wait / per_step, grad_sync_bucket_count(t->sync));
}

static void close_everything(trainer *t)
{
    if (t->log)
        fclose(t->log); /* only after a failure, which was reported */
    free(t->classes_json);
    free(t->settings);
    free(t->class_weights);
    model_free_class_names(t->resume_classes, t->n_resume_classes);
    model_free_class_names(t->init_classes, t->n_init_classes);
    free(t->grad);
    grad_sync_destroy(t->sync);
    cnn_optim_destroy(t->optim);
    cnn_exec_destroy(t->exec);
    cnn_loader_destroy(t->loader);
    cnn_dataset_destroy(t->val);
    cnn_dataset_destroy(t->train);
    model_close(&t->m);
}

int trainer_run(cnn_context *ctx, const char *graph_path, train_config *cfg, int quiet,
                dist_comm *comm)
{
    trainer t;
    progress bar;
    int code;
    memset(&t, 0, sizeof t);
    t.ctx = ctx;
    t.cfg = cfg;
    t.comm = comm;
    t.quiet = quiet || !writer(&t);
    t.started = progress_now();
    if (dist_active(comm) && cfg->batch % comm->size != 0) {
        /* The same on every rank: only rank 0 is heard. */
        fprintf(stderr,
                "cnnrun train: error: --batch %lld is the global batch and must "
                "be divisible by the %d ranks, so that each computes the same "
                "share of it; use a multiple of %d\n",
                (long long)cfg->batch, comm->size, comm->size);
        return CLI_USAGE;
    }
    code = start_job(&t, open_everything(&t, graph_path));
    progress_init(&bar, t.quiet);
    while (code == CLI_OK && t.pos.epoch < (uint64_t)cfg->epochs)
        code = run_epoch(&t, &bar);
    if (code == -1) /* early stop: the weights so far are the result */
        code = CLI_OK;
    if (code == CLI_OK && dist_active(comm)) {
        /* The ranks must end as replicas (same sums, same steps, running
         * statistics averaged); a difference would be a bug, never noise. */
        fingerprint fp;
        memset(&fp, 0, sizeof fp);
        fingerprint_add(&fp, "final weights (the replicas diverged)",
                        fingerprint_params(t.m.params));
        if (fingerprint_compare(comm, "train", &fp))
            code = CLI_FAIL;
    }
    if (code == CLI_OK)
        report_job(&t);
    if (code == CLI_OK)
        code = close_log(&t);
    if (code == CLI_OK && writer(&t)) {
        /* The class names travel with the weights, for eval and predict. */
        code = save_weights(&t, cfg->out, NULL, NULL);
        if (code == CLI_OK)
            say(&t, "wrote %s%s", cfg->out, "");
        if (code == CLI_OK && t.pos.best_epoch && t.best_path[0] && !quiet)
            fprintf(stderr, "cnnrun train: best %s %.4f at epoch %" PRIu64 ": %s\n",
                    t.monitor, t.pos.best, t.pos.best_epoch, t.best_path);
    }
    close_everything(&t);
    return code;
}
