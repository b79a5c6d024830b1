/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "train_config.h"

const char *const train_config_keys[] = {
    "data", "val", "epochs", "batch", "optimizer", "lr", "momentum",
    "nesterov", "weight_decay", "schedule", "warmup", "step_epochs", "gamma",
    "seed", "init", "out", "checkpoint_dir", "resume", "log", "flip",
    "crop_padding", "drop_last", "log_every", "checkpoint_every",
    "val_split", "allow_missing_classes", "monitor", "early_stop",
    "plateau_patience", "label_smoothing", "class_weights", "augment",
    "center_crop", "loader_threads", "skip_bad_images", "sync_bn", NULL};

void train_config_defaults(train_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->epochs = 1;
    cfg->batch = 64;
    /* SGD with momentum 0.9 at lr 0.01 (Adam and AdamW: lr 0.001), so a
     * run without optimiser flags learns; train_config_check applies the
     * optimiser-dependent ones. */
    cfg->optim.kind = CNN_OPTIM_SGD;
    cfg->schedule.kind = CNN_SCHEDULE_CONSTANT;
    cfg->schedule.lr = 0.01;
    cfg->log_every = 100;
    cfg->plateau_patience = 5;
}

static int bad(const char *origin, const char *key, const char *value,
               const char *want)
{
    fprintf(stderr, "cnnrun train: error: %s: %s: '%s' is not %s\n", origin,
            key, value, want);
    return 0;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) {
        *out = 1;
        return 1;
    }
    if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) {
        *out = 0;
        return 1;
    }
    return 0;
}

int train_config_set(train_config *c, const char *key, const char *v,
                     const char *origin)
{
    long long i;
    double d;
    if (!strcmp(key, "data"))
        c->data = v;
    else if (!strcmp(key, "val"))
        c->val = v;
    else if (!strcmp(key, "init"))
        c->init = v;
    else if (!strcmp(key, "out"))
        c->out = v;
    else if (!strcmp(key, "checkpoint_dir"))
        c->checkpoint_dir = v;
    else if (!strcmp(key, "resume"))
        c->resume = v;
    else if (!strcmp(key, "log"))
        c->log = v;
    else if (!strcmp(key, "epochs")) {
        if (!cli_parse_int(v, 1, 1000000, &i))
            return bad(origin, key, v, "a whole number from 1 to 1000000");
        c->epochs = i;
    } else if (!strcmp(key, "batch")) {
        if (!cli_parse_int(v, 1, 65536, &i))
            return bad(origin, key, v, "a whole number from 1 to 65536");
        c->batch = i;
    } else if (!strcmp(key, "optimizer")) {
        if (!strcmp(v, "sgd"))
            c->optim.kind = CNN_OPTIM_SGD;
        else if (!strcmp(v, "adam"))
            c->optim.kind = CNN_OPTIM_ADAM;
        else if (!strcmp(v, "adamw"))
            c->optim.kind = CNN_OPTIM_ADAMW;
        else
            return bad(origin, key, v, "one of sgd, adam, adamw");
    } else if (!strcmp(key, "lr")) {
        if (!cli_parse_double(v, 0.0, 1e3, &d) || d <= 0)
            return bad(origin, key, v, "a number above 0 and at most 1000");
        c->schedule.lr = d;
        c->lr_set = 1;
    } else if (!strcmp(key, "momentum")) {
        if (!cli_parse_double(v, 0.0, 0.9999, &d))
            return bad(origin, key, v, "a number from 0 to 0.9999");
        c->optim.momentum = d;
        c->momentum_set = 1;
    } else if (!strcmp(key, "nesterov")) {
        if (!parse_bool(v, &c->optim.nesterov))
            return bad(origin, key, v, "true or false");
    } else if (!strcmp(key, "weight_decay")) {
        if (!cli_parse_double(v, 0.0, 1.0, &d))
            return bad(origin, key, v, "a number from 0 to 1");
        c->optim.weight_decay = d;
        c->weight_decay_set = 1;
    } else if (!strcmp(key, "schedule")) {
        if (!strcmp(v, "constant"))
            c->schedule.kind = CNN_SCHEDULE_CONSTANT;
        else if (!strcmp(v, "step"))
            c->schedule.kind = CNN_SCHEDULE_STEP;
        else if (!strcmp(v, "cosine"))
            c->schedule.kind = CNN_SCHEDULE_COSINE;
        else if (!strcmp(v, "plateau"))
            c->schedule.kind = CNN_SCHEDULE_PLATEAU;
        else
            return bad(origin, key, v, "one of constant, step, cosine, plateau");
    } else if (!strcmp(key, "warmup")) {
        if (!cli_parse_double(v, 0.0, 1e6, &d))
            return bad(origin, key, v, "a number of epochs >= 0");
        c->schedule.warmup_epochs = d;
    } else if (!strcmp(key, "step_epochs")) {
        if (!cli_parse_double(v, 0.0, 1e6, &d) || d <= 0)
            return bad(origin, key, v, "a number of epochs above 0");
        c->schedule.step_epochs = d;
    } else if (!strcmp(key, "gamma")) {
        if (!cli_parse_double(v, 0.0, 1.0, &d) || d <= 0)
            return bad(origin, key, v, "a number above 0 and at most 1");
        c->schedule.gamma = d;
    } else if (!strcmp(key, "seed")) {
        if (!cli_parse_u64(v, &c->seed))
            return bad(origin, key, v, "a whole number >= 0");
    } else if (!strcmp(key, "flip")) {
        if (!parse_bool(v, &c->flip))
            return bad(origin, key, v, "true or false");
    } else if (!strcmp(key, "sync_bn")) {
        if (!parse_bool(v, &c->sync_bn))
            return bad(origin, key, v, "true or false");
    } else if (!strcmp(key, "drop_last")) {
        if (!parse_bool(v, &c->drop_last))
            return bad(origin, key, v, "true or false");
    } else if (!strcmp(key, "crop_padding")) {
        if (!cli_parse_int(v, 0, 1024, &i))
            return bad(origin, key, v, "a whole number from 0 to 1024");
        c->crop_padding = i;
    } else if (!strcmp(key, "augment")) {
        if (!strcmp(v, "imagenet"))
            c->augment_imagenet = 1;
        else if (!strcmp(v, "none"))
            c->augment_imagenet = 0;
        else
            return bad(origin, key, v, "imagenet or none");
    } else if (!strcmp(key, "center_crop")) {
        if (!cli_parse_double(v, 0.0, 1.0, &d) || !(d > 0))
            return bad(origin, key, v, "a share above 0 and at most 1");
        c->center_crop = d;
    } else if (!strcmp(key, "loader_threads")) {
        if (!cli_parse_int(v, 1, 64, &i))
            return bad(origin, key, v, "a whole number from 1 to 64");
        c->loader_threads = i;
    } else if (!strcmp(key, "skip_bad_images")) {
        if (!parse_bool(v, &c->skip_bad_images))
            return bad(origin, key, v, "true or false");
    } else if (!strcmp(key, "log_every")) {
        if (!cli_parse_int(v, 1, 1000000000, &i))
            return bad(origin, key, v, "a whole number >= 1");
        c->log_every = i;
    } else if (!strcmp(key, "checkpoint_every")) {
        if (!cli_parse_int(v, 0, 1000000000, &i))
            return bad(origin, key, v, "a whole number >= 0");
        c->checkpoint_every = i;
    } else if (!strcmp(key, "val_split")) {
        if (!cli_parse_double(v, 0.0, 1.0, &d) || d <= 0 || d >= 1)
            return bad(origin, key, v, "a fraction above 0 and below 1");
        c->val_split = d;
    } else if (!strcmp(key, "allow_missing_classes")) {
        if (!parse_bool(v, &c->allow_missing_classes))
            return bad(origin, key, v, "true or false");
    } else if (!strcmp(key, "monitor")) {
        if (strcmp(v, "loss") && strcmp(v, "acc") && strcmp(v, "val_loss") &&
            strcmp(v, "val_acc"))
            return bad(origin, key, v, "one of val_loss, val_acc, loss, acc");
        c->monitor = v;
    } else if (!strcmp(key, "early_stop")) {
        if (!cli_parse_int(v, 1, 1000000, &i))
            return bad(origin, key, v, "a number of epochs from 1 to 1000000");
        c->early_stop = i;
    } else if (!strcmp(key, "plateau_patience")) {
        if (!cli_parse_int(v, 0, 1000000, &i))
            return bad(origin, key, v, "a number of epochs from 0 to 1000000");
        c->plateau_patience = i;
    } else if (!strcmp(key, "label_smoothing")) {
        if (!cli_parse_double(v, 0.0, 1.0, &d) || d >= 1)
            return bad(origin, key, v, "a number from 0 to below 1");
        c->label_smoothing = d;
    } else if (!strcmp(key, "class_weights")) {
        c->class_weights = v;
    } else {
        fprintf(stderr, "cnnrun train: error: %s: unknown setting '%s' (valid:",
                origin, key);
        for (const char *const *k = train_config_keys; *k; k++)
            fprintf(stderr, " %s", *k);
        fprintf(stderr, ")\n");
        return 0;
    }
    return 1;
}

/* Keys of the train: section that name files or folders cnnrun writes. */
static int is_output_key(const char *key)
{
    return !strcmp(key, "out") || !strcmp(key, "log") ||
           !strcmp(key, "checkpoint_dir");
}

/* A graph file is untrusted: the paths it names for writing must stay
 * under the working directory, so running someone's graph cannot
 * overwrite ~/.bashrc. No absolute path, no ".." component, and the part
 * that exists now must not lead outside through a symbolic link. The
 * command line may name any path. */
static int output_path_ok(const char *origin, const char *key, const char *v)
{
    char cwd[PATH_MAX], real[PATH_MAX], prefix[PATH_MAX];
    size_t len = strlen(v), n;
    const char *why = NULL;
    if (!len)
        why = "is empty";
    else if (v[0] == '/')
        why = "is an absolute path";
    for (const char *p = v; !why && *p;) {
        size_t seg = strcspn(p, "/");
        if (seg == 2 && p[0] == '.' && p[1] == '.')
            why = "has a '..' component";
        p += seg;
        while (*p == '/')
            p++;
    }
    if (!why && len < sizeof prefix && getcwd(cwd, sizeof cwd)) {
        /* The longest existing prefix, resolved. */
        memcpy(prefix, v, len + 1);
        for (;;) {
            if (realpath(prefix, real)) {
                n = strlen(cwd);
                if (strncmp(real, cwd, n) != 0 ||
                    (real[n] != '\0' && real[n] != '/' && n > 1))
                    why = "leads outside the working directory through a "
                          "symbolic link";
                break;
            }
            if (errno != ENOENT) {
                why = "cannot be resolved";
                break;
            }
            {
                char *slash = strrchr(prefix, '/');
                if (!slash)
                    break; /* nothing of it exists yet: under cwd */
                *slash = '\0';
            }
        }
    }
    if (!why)
        return 1;
    fprintf(stderr,
            "cnnrun train: error: %s: %s: '%s' %s; a graph file may only "
            "name paths under the working directory (give --%s on the "
            "command line to write elsewhere)\n",
            origin, key, v, why,
            !strcmp(key, "checkpoint_dir") ? "checkpoint-dir" : key);
    return 0;
}

int train_config_from_graph(train_config *cfg, const cnn_graph *graph)
{
    const char *key;
    for (size_t k = 0; (key = cnn_graph_setting_key(graph, k)) != NULL; k++) {
        int line = 0;
        char origin[512];
        const char *value = cnn_graph_setting(graph, key, &line);
        snprintf(origin, sizeof origin, "%s:%d", cnn_graph_path(graph), line);
        if (is_output_key(key) && !output_path_ok(origin, key, value))
            return 0;
        if (!train_config_set(cfg, key, value, origin))
            return 0;
    }
    return 1;
}

int train_config_check(train_config *cfg)
{
    /* Schedules are functions of progress through the whole run. */
    cfg->schedule.total_epochs = (double)cfg->epochs;
    if (!cfg->data) {
        fprintf(stderr, "cnnrun train: error: no training data: give --data "
                        "SPEC or data: in the graph's train: section\n");
        return 0;
    }
    if (!cfg->out) {
        fprintf(stderr, "cnnrun train: error: no output: give --out "
                        "W.safetensors or out: in the graph's train: section\n");
        return 0;
    }
    if (cfg->optim.kind == CNN_OPTIM_SGD) {
        if (!cfg->momentum_set)
            cfg->optim.momentum = 0.9;
    } else {
        if (cfg->momentum_set || cfg->optim.nesterov) {
            fprintf(stderr, "cnnrun train: error: --momentum and --nesterov are "
                            "for --optimizer sgd (Adam's are --beta1/--beta2 "
                            "defaults 0.9, 0.999)\n");
            return 0;
        }
        if (!cfg->lr_set)
            cfg->schedule.lr = 0.001;
        /* PyTorch's AdamW default; plain Adam has none. */
        if (cfg->optim.kind == CNN_OPTIM_ADAMW && !cfg->weight_decay_set)
            cfg->optim.weight_decay = 0.01;
    }
    if (cfg->optim.nesterov && cfg->optim.momentum <= 0) {
        fprintf(stderr, "cnnrun train: error: --nesterov needs --momentum above 0\n");
        return 0;
    }
    if (cfg->val_split > 0 && cfg->val) {
        fprintf(stderr, "cnnrun train: error: give --val or --val-split, not both\n");
        return 0;
    }
    if (cfg->monitor && !strncmp(cfg->monitor, "val_", 4) && !cfg->val &&
        cfg->val_split <= 0) {
        fprintf(stderr, "cnnrun train: error: --monitor %s needs validation data "
                        "(--val SPEC or --val-split F)\n", cfg->monitor);
        return 0;
    }
    return 1;
}

const char *train_config_monitor(const train_config *cfg, int *higher)
{
    const char *m = cfg->monitor;
    if (!m)
        m = cfg->val || cfg->val_split > 0 ? "val_loss" : "loss";
    *higher = strstr(m, "acc") != NULL;
    return m;
}

static uint64_t mix(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t train_config_hash(const train_config *c)
{
    uint64_t h = 0xcbf29ce484222325ull;
    int32_t kinds[4] = {(int32_t)c->optim.kind, (int32_t)c->schedule.kind,
                        c->optim.nesterov, c->flip};
    double reals[8] = {c->optim.momentum, c->optim.weight_decay,
                       c->schedule.lr, c->schedule.warmup_epochs,
                       c->schedule.step_epochs, c->schedule.gamma,
                       (double)c->crop_padding, (double)c->batch};
    h = mix(h, kinds, sizeof kinds);
    h = mix(h, reals, sizeof reals);
    h = mix(h, &c->seed, sizeof c->seed);
    if (c->data)
        h = mix(h, c->data, strlen(c->data));
    /* Mixed in only when set, so checkpoints written before the option
     * existed keep their hash. */
    if (c->drop_last)
        h = mix(h, "drop_last", 9);
    if (c->sync_bn)
        h = mix(h, "sync_bn", 7);
    if (c->val_split > 0)
        h = mix(h, &c->val_split, sizeof c->val_split);
    if (c->label_smoothing > 0)
        h = mix(h, &c->label_smoothing, sizeof c->label_smoothing);
    if (c->class_weights)
        h = mix(h, c->class_weights, strlen(c->class_weights));
    if (c->augment_imagenet)
        h = mix(h, "augment=imagenet", 16);
    if (c->center_crop > 0)
        h = mix(h, &c->center_crop, sizeof c->center_crop);
    if (c->schedule.kind == CNN_SCHEDULE_PLATEAU) {
        h = mix(h, &c->plateau_patience, sizeof c->plateau_patience);
        int higher;
        const char *monitor = train_config_monitor(c, &higher);
        h = mix(h, monitor, strlen(monitor));
    }
    return h;
}

static const char *const optimizer_names[] = {"sgd", "adam", "adamw"};
static const char *const schedule_names[] = {"constant", "step", "cosine", "plateau"};

char *train_config_describe(const train_config *c)
{
    char *text = NULL;
    size_t size = 0;
    int higher;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return NULL;
    fprintf(f, "data=%s\nbatch=%lld\nseed=%llu\noptimizer=%s\nlr=%.17g\n"
               "momentum=%.17g\nnesterov=%d\nweight_decay=%.17g\nschedule=%s\n"
               "warmup=%.17g\nstep_epochs=%.17g\ngamma=%.17g\nflip=%d\n"
               "crop_padding=%lld\ndrop_last=%d\nval_split=%.17g\n"
               "label_smoothing=%.17g\nclass_weights=%s\nplateau_patience=%lld\n"
               "monitor=%s\naugment=%s\ncenter_crop=%.17g\n",
            c->data ? c->data : "", (long long)c->batch, (unsigned long long)c->seed,
            optimizer_names[c->optim.kind], c->schedule.lr, c->optim.momentum,
            c->optim.nesterov, c->optim.weight_decay, schedule_names[c->schedule.kind],
            c->schedule.warmup_epochs, c->schedule.step_epochs, c->schedule.gamma,
            c->flip, (long long)c->crop_padding, c->drop_last, c->val_split,
            c->label_smoothing, c->class_weights ? c->class_weights : "",
            (long long)c->plateau_patience, train_config_monitor(c, &higher),
            c->augment_imagenet ? "imagenet" : "none", c->center_crop);
    if (c->sync_bn) /* only when set, like its hash */
        fputs("sync_bn=1\n", f);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
