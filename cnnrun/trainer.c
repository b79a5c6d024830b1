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
#include <sys/stat.h>

#include "checkpoint.h"
#include "classifier.h"
#include "cli.h"
#include "cnn/data.h"
#include "cnn/exec.h"
#include "cnn/train.h"
#include "model.h"
#include "progress.h"
#include "trainer.h"

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
    int quiet;
    double started;
} trainer;

static int fail(trainer *t)
{
    fprintf(stderr, "cnnrun train: error: %s\n", cnn_context_message(t->ctx));
    return CLI_FAIL;
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

static int open_everything(trainer *t, const char *graph_path)
{
    cnn_shape in;
    cnn_loader_options lo;
    cnn_exec_options eo;
    size_t loaded = 0;

    if (model_open(t->ctx, graph_path, NULL, t->cfg->seed, &t->m) != CNN_OK)
        return fail(t);
    if (t->cfg->init) {
        if (cnn_params_load(t->ctx, t->m.params, t->cfg->init,
                            CNN_PARAMS_ALLOW_MISSING | CNN_PARAMS_ALLOW_EXTRA,
                            &loaded) != CNN_OK)
            return fail(t);
        if (!t->quiet)
            fprintf(stderr, "cnnrun train: --init %s: loaded %zu of %zu tensors\n",
                    t->cfg->init, loaded, cnn_params_count(t->m.params));
    }
    if (classifier_head_find(t->ctx, t->m.graph, &t->head) != CNN_OK)
        return fail(t);
    in = cnn_graph_input_shape(t->m.graph);
    if (cnn_dataset_open(t->ctx, t->cfg->data, &in, &t->train) != CNN_OK ||
        classifier_check_data(t->ctx, t->m.graph, &t->head, t->train) != CNN_OK)
        return fail(t);
    if (t->cfg->val &&
        (cnn_dataset_open(t->ctx, t->cfg->val, &in, &t->val) != CNN_OK ||
         classifier_check_data(t->ctx, t->m.graph, &t->head, t->val) != CNN_OK))
        return fail(t);
    cnn_loader_options_init(&lo);
    lo.batch = (size_t)t->cfg->batch;
    lo.seed = t->cfg->seed;
    lo.shuffle = 1;
    lo.flip = t->cfg->flip;
    lo.drop_last = t->cfg->drop_last;
    lo.crop_padding = (int32_t)t->cfg->crop_padding;
    lo.mean = cnn_graph_input_mean(t->m.graph);
    lo.std = cnn_graph_input_std(t->m.graph);
    if (cnn_loader_create(t->ctx, t->train, &lo, &t->loader) != CNN_OK)
        return fail(t);
    eo.batch = t->cfg->batch;
    eo.training = 1;
    eo.keep_layer = -1;
    if (cnn_exec_create(t->ctx, t->m.graph, t->m.params, &eo, &t->exec) != CNN_OK ||
        cnn_optim_create(t->ctx, t->m.params, &t->cfg->optim, &t->optim) != CNN_OK)
        return fail(t);
    t->grad = malloc((size_t)t->cfg->batch * (size_t)t->head.classes * sizeof(float));
    if (!t->grad) {
        cnn_context_fail(t->ctx, CNN_ERR_NOMEM, "out of memory");
        return fail(t);
    }
    if (t->cfg->log) {
        /* A resumed run appends to the log it continues. */
        t->log = fopen(t->cfg->log, t->cfg->resume ? "a" : "w");
        if (!t->log) {
            cnn_context_fail(t->ctx, CNN_ERR_IO, "%s: cannot open the metrics log: %s",
                             t->cfg->log, strerror(errno));
            return fail(t);
        }
    }
    t->pos.seed = t->cfg->seed;
    t->pos.graph_hash = checkpoint_graph_hash(t->m.graph);
    t->pos.settings_hash = train_config_hash(t->cfg);
    if (t->cfg->checkpoint_dir) {
        if (mkdir(t->cfg->checkpoint_dir, 0777) != 0 && errno != EEXIST) {
            cnn_context_fail(t->ctx, CNN_ERR_IO, "%s: cannot create the checkpoint folder: %s",
                             t->cfg->checkpoint_dir, strerror(errno));
            return fail(t);
        }
        snprintf(t->checkpoint_path, sizeof t->checkpoint_path, "%s/last.safetensors",
                 t->cfg->checkpoint_dir);
    }
    if (t->cfg->resume) {
        if (checkpoint_load(t->ctx, t->cfg->resume, t->m.params, t->optim, &t->pos) != CNN_OK ||
            checkpoint_check_position(t->ctx, t->cfg->resume, &t->pos,
                                      cnn_loader_batch_count(t->loader),
                                      (uint64_t)t->cfg->epochs) != CNN_OK)
            return fail(t);
        if (!t->quiet)
            fprintf(stderr, "cnnrun train: resumed from %s at epoch %" PRIu64
                            ", batch %" PRIu64 " (step %" PRIu64 ")\n",
                    t->cfg->resume, t->pos.epoch + 1, t->pos.batch, t->pos.step);
    }
    return CLI_OK;
}

static int save_checkpoint(trainer *t)
{
    if (!t->checkpoint_path[0])
        return CLI_OK;
    if (checkpoint_save(t->ctx, t->checkpoint_path, t->m.params, t->optim, &t->pos) != CNN_OK)
        return fail(t);
    return CLI_OK;
}

static int validate(trainer *t, double *loss, double *acc)
{
    eval_result r;
    *loss = NAN;
    *acc = NAN;
    if (!t->val)
        return CLI_OK;
    if (classifier_evaluate(t->ctx, t->m.graph, t->m.params, &t->head, t->val,
                            (size_t)t->cfg->batch, &r) != CNN_OK)
        return fail(t);
    *loss = r.loss;
    *acc = r.top1;
    eval_result_free(&r);
    return CLI_OK;
}

static int run_epoch(trainer *t, progress *bar)
{
    size_t batches = cnn_loader_batch_count(t->loader);
    double loss_sum = 0.0, lr = 0.0, val_loss, val_acc;
    int64_t hits = 0;
    size_t seen = 0;
    double t0 = progress_now();
    uint64_t epoch = t->pos.epoch;
    int code;

    if (cnn_loader_set_position(t->loader, epoch, (size_t)t->pos.batch) != CNN_OK)
        return fail(t);
    progress_begin_epoch(bar);
    for (;;) {
        cnn_tensor images;
        const int32_t *labels;
        size_t n;
        int64_t correct;
        double loss;
        const cnn_tensor *logits;
        cnn_tensor grad;

        if (cnn_loader_next(t->loader, &images, &labels, &n) != CNN_OK)
            return fail(t);
        if (n == 0)
            break;
        if (cnn_exec_forward(t->exec, &images, 1, t->cfg->seed ^ (t->pos.step * 0x9e3779b97f4a7c15ull),
                             t->head.output_layer) != CNN_OK)
            return fail(t);
        logits = cnn_exec_output(t->exec, t->head.logits_layer);
        loss = cnn_softmax_xent(logits->data, labels, (int64_t)n, t->head.classes,
                                t->grad, &correct);
        if (!isfinite(loss)) {
            fprintf(stderr,
                    "cnnrun train: error: the loss is %s at epoch %" PRIu64
                    ", step %" PRIu64 " (batch %" PRIu64 " of the epoch); "
                    "stopping. %s\n",
                    isnan(loss) ? "NaN" : "infinite", epoch + 1, t->pos.step + 1,
                    t->pos.batch + 1,
                    t->checkpoint_path[0] ? "The last good checkpoint is kept."
                                          : "No checkpoint was written "
                                            "(use --checkpoint-dir).");
            return CLI_FAIL;
        }
        grad.shape = cnn_shape2((int64_t)n, t->head.classes);
        grad.data = t->grad;
        if (cnn_exec_backward(t->exec, &grad, t->head.output_layer,
                              t->head.fused_softmax) != CNN_OK)
            return fail(t);
        lr = cnn_schedule_lr(&t->cfg->schedule,
                             (double)epoch + (double)(t->pos.batch + 1) / (double)batches);
        cnn_optim_step(t->optim, lr);
        t->pos.step++;
        t->pos.batch++;
        loss_sum += loss * (double)n;
        hits += correct;
        seen += n;
        {
            double ips = (double)seen / (progress_now() - t0 + 1e-9);
            progress_update(bar, epoch, (uint64_t)t->cfg->epochs, (size_t)t->pos.batch,
                            batches, loss_sum / (double)seen, (double)hits / (double)seen, ips);
            if (t->pos.step % (uint64_t)t->cfg->log_every == 0 &&
                (code = log_line(t, "step", epoch + 1, t->pos.step, loss,
                                 (double)correct / (double)n, NAN, NAN, lr, ips)) != CLI_OK)
                return code;
        }
        if (t->cfg->checkpoint_every && t->pos.step % (uint64_t)t->cfg->checkpoint_every == 0 &&
            (code = save_checkpoint(t)) != CLI_OK)
            return code;
    }
    progress_end_epoch(bar);
    if ((code = validate(t, &val_loss, &val_acc)) != CLI_OK)
        return code;
    {
        double ips = (double)seen / (progress_now() - t0 + 1e-9);
        double mean_loss = seen ? loss_sum / (double)seen : NAN;
        double acc = seen ? (double)hits / (double)seen : NAN;
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
    }
    t->pos.epoch++;
    t->pos.batch = 0;
    return save_checkpoint(t);
}

static void close_everything(trainer *t)
{
    if (t->log)
        fclose(t->log); /* only after a failure, which was reported */
    free(t->grad);
    cnn_optim_destroy(t->optim);
    cnn_exec_destroy(t->exec);
    cnn_loader_destroy(t->loader);
    cnn_dataset_destroy(t->val);
    cnn_dataset_destroy(t->train);
    model_close(&t->m);
}

int trainer_run(cnn_context *ctx, const char *graph_path, train_config *cfg, int quiet)
{
    trainer t;
    progress bar;
    int code;
    memset(&t, 0, sizeof t);
    t.ctx = ctx;
    t.cfg = cfg;
    t.quiet = quiet;
    t.started = progress_now();
    code = open_everything(&t, graph_path);
    progress_init(&bar, quiet);
    while (code == CLI_OK && t.pos.epoch < (uint64_t)cfg->epochs)
        code = run_epoch(&t, &bar);
    if (code == CLI_OK)
        code = close_log(&t);
    if (code == CLI_OK) {
        /* The dataset's class names travel with the weights, for predict. */
        size_t n = cnn_dataset_class_count(t.train);
        const char **names = calloc(n + 1, sizeof *names);
        char *classes;
        for (size_t i = 0; names && i < n; i++)
            names[i] = cnn_dataset_class_name(t.train, i);
        classes = names ? model_classes_json(names, n) : NULL;
        {
            const char *meta[] = {"graph", cnn_graph_name(t.m.graph), "producer",
                                  "cnnrun train", "classes", classes ? classes : "[]"};
            if (cnn_params_save(ctx, t.m.params, cfg->out, meta, 3) != CNN_OK)
                code = fail(&t);
            else
                say(&t, "wrote %s%s", cfg->out, "");
        }
        free(classes);
        free(names);
    }
    close_everything(&t);
    return code;
}
