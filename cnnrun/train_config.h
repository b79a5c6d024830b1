/* SPDX-License-Identifier: MIT */
/* Training settings: defaults, then the graph's train: section, then the
 * command line, all through one setter so every key means the same
 * wherever it is written. */
#ifndef CNNRUN_TRAIN_CONFIG_H
#define CNNRUN_TRAIN_CONFIG_H

#include <stdint.h>

#include "cnn/graph.h"
#include "cnn/train.h"

typedef struct train_config {
    const char *data;
    const char *val;
    int64_t epochs;
    int64_t batch;
    cnn_optim_config optim;
    cnn_schedule schedule;
    uint64_t seed;
    const char *init;
    const char *out;
    const char *checkpoint_dir;
    const char *resume;
    const char *log;
    int flip;
    int drop_last; /* skip each epoch's final short batch */
    /* Batch norm over the whole batch when it is split across ranks. */
    int sync_bn;
    int64_t crop_padding;
    int augment_imagenet;  /* RandomResizedCrop (+ flip) at full resolution */
    double center_crop;    /* share kept at evaluation; 0: default */
    int64_t loader_threads; /* 0: from the core count */
    int skip_bad_images;   /* drop undecodable images, count them */
    int64_t log_every;        /* steps between metric lines */
    int64_t checkpoint_every; /* steps between checkpoints; 0: epochs only */
    double val_split;          /* stratified hold-out of data; 0: none */
    int allow_missing_classes; /* data may lack some of the model's classes */
    const char *monitor;       /* loss, acc, val_loss, val_acc; NULL: val_loss
                                * with validation data, else loss */
    int64_t early_stop;        /* patience in epochs; 0: off */
    int64_t plateau_patience;  /* schedule plateau: epochs without progress */
    double label_smoothing;    /* cross-entropy target smoothing, [0, 1) */
    const char *class_weights; /* "balanced" or "w0,w1,..."; NULL: none */
    /* --rename's rules for --init and the backbone's weights (before the
     * graph's own rename: rules); NULL: none. Not a setting of the
     * trajectory: the weights it loads are what counts. */
    const struct cnn_rename_map *rename;
    /* Which defaults the user overrode (the defaults depend on the
     * optimiser). */
    int lr_set, momentum_set, weight_decay_set;
    /* Strings set from the graph file live in the graph; from argv in argv. */
} train_config;

void train_config_defaults(train_config *cfg);

/* Applies key = value. origin names where it came from ("--lr" or
 * "graphs/x.yaml:14") for the message. Returns 0 and prints on error. */
int train_config_set(train_config *cfg, const char *key, const char *value,
                     const char *origin);

/* Applies every key of the graph's train: section. */
int train_config_from_graph(train_config *cfg, const cnn_graph *graph);

/* Checks the combination (required keys, ranges) and derives what depends
 * on several keys (the schedule's length). Prints and returns 0. */
int train_config_check(train_config *cfg);

/* A hash of the settings that shape the trajectory (not epochs, paths or
 * logging), stored in checkpoints so a resume with other settings is
 * refused. */
uint64_t train_config_hash(const train_config *cfg);

/* The same settings as "key=value" lines (malloc'd), stored in checkpoints
 * so a refused resume can name what differs. */
char *train_config_describe(const train_config *cfg);


/* The value of "monitor" after defaults; 1 in *higher when larger is
 * better (accuracies). */
const char *train_config_monitor(const train_config *cfg, int *higher);

/* The list of keys, for help and error messages. */
extern const char *const train_config_keys[];

#endif
