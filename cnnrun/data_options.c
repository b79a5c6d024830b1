/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "cli.h"
#include "data_options.h"

data_options data_options_current;

int data_options_parse(int opt, const char *arg, const char *command,
                       int *bad)
{
    long long n;
    double d;
    *bad = 0;
    switch (opt) {
    case DATA_OPT_LOADER_THREADS:
        if (!cli_parse_int(arg, 1, 64, &n)) {
            fprintf(stderr, "cnnrun %s: error: --loader-threads wants a "
                            "whole number from 1 to 64, got '%s'\n",
                    command, arg);
            *bad = 1;
        }
        data_options_current.loader_threads = (int)n;
        return 1;
    case DATA_OPT_CENTER_CROP:
        if (!cli_parse_double(arg, 0.0, 1.0, &d) || !(d > 0)) {
            fprintf(stderr, "cnnrun %s: error: --center-crop wants a share "
                            "above 0 and at most 1, got '%s'\n",
                    command, arg);
            *bad = 1;
        }
        data_options_current.center_crop = d;
        return 1;
    case DATA_OPT_SKIP_BAD:
        data_options_current.skip_bad = 1;
        return 1;
    default:
        return 0;
    }
}

void data_options_apply(cnn_loader_options *lo, const cnn_dataset *ds,
                        int compute_threads)
{
    const data_options *o = &data_options_current;
    double default_center = o->default_center > 0 ? o->default_center : 1.0;
    lo->threads = o->loader_threads > 0
                      ? o->loader_threads
                      : cnn_loader_default_threads(compute_threads);
    /* Two batches ahead: the threads never wait on the caller's step. */
    lo->prefetch = 2;
    lo->skip_bad = o->skip_bad;
    /* In-memory (IDX) samples have no full-resolution image to crop: an
     * explicit --center-crop is refused there by the loader, a default is
     * not applied. */
    lo->center_crop = o->center_crop > 0             ? o->center_crop
                      : cnn_dataset_streamed(ds) ? default_center
                                                 : 1.0;
}
