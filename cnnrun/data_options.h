/* SPDX-License-Identifier: MIT */
/* The loader settings that train, eval, features and predict share:
 * --loader-threads, --center-crop and --skip-bad-images. They change how
 * batches are made (threads: only how fast), so each command parses them
 * once and every loader it creates applies them. */
#ifndef CNNRUN_DATA_OPTIONS_H
#define CNNRUN_DATA_OPTIONS_H

#include "cnn/data.h"

enum {
    DATA_OPT_LOADER_THREADS = 1900,
    DATA_OPT_CENTER_CROP,
    DATA_OPT_SKIP_BAD
};

#define DATA_OPTIONS                                                           \
    {"loader-threads", required_argument, NULL, DATA_OPT_LOADER_THREADS},      \
        {"center-crop", required_argument, NULL, DATA_OPT_CENTER_CROP},        \
        {"skip-bad-images", no_argument, NULL, DATA_OPT_SKIP_BAD}

#define DATA_HELP                                                              \
    "Image folders and encoded packs (decoded as batches are needed):\n"       \
    "  --loader-threads N   decoding threads (default: the cores left by\n"    \
    "                       --threads, 1 to 8)\n"                              \
    "  --center-crop F      keep the centre F of the image scaled to cover\n"  \
    "                       the input / F (0.875: resize 256, crop 224;\n"     \
    "                       default 1, or 0.875 after --augment imagenet)\n"   \
    "  --skip-bad-images    drop images that fail to decode and count them\n"  \
    "                       (default: stop with an error naming the file)\n"

typedef struct data_options {
    int loader_threads; /* 0: cnn_loader_default_threads */
    double center_crop; /* 0: unset */
    int skip_bad;
    double default_center; /* of a streamed dataset without --center-crop;
                            * 0: 1 (train --augment imagenet sets 0.875) */
} data_options;

/* The process's settings, as parsed by the running command. */
extern data_options data_options_current;

/* Handles one of the options above: 1 when opt was one (on a bad value,
 * *bad is set after printing), 0 when not. */
int data_options_parse(int opt, const char *arg, const char *command,
                       int *bad);

/* Applies the settings to lo, a loader over ds, for a process computing on
 * compute_threads. */
void data_options_apply(cnn_loader_options *lo, const cnn_dataset *ds,
                        int compute_threads);

#endif
