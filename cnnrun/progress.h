/* SPDX-License-Identifier: MIT */
/* Training progress on stderr: a redrawn bar on a terminal, plain lines
 * every so often otherwise (logs, CI). */
#ifndef CNNRUN_PROGRESS_H
#define CNNRUN_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

typedef struct progress {
    int tty;
    int quiet;
    double started;      /* of the epoch */
    double last_draw;
    size_t last_line_step;
} progress;

void progress_init(progress *p, int quiet);
void progress_begin_epoch(progress *p);
/* step of total in this epoch (1-based), running means of the epoch. */
void progress_update(progress *p, uint64_t epoch, uint64_t epochs, size_t step,
                     size_t total, double loss, double accuracy,
                     double images_per_second);
void progress_end_epoch(progress *p);
double progress_now(void);

#endif
