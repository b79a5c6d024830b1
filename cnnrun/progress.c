/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_init(progress *p, int quiet)
{
    p->tty = isatty(STDERR_FILENO);
    p->quiet = quiet;
    p->started = progress_now();
    p->last_draw = 0;
    p->last_line_step = 0;
}

void progress_begin_epoch(progress *p)
{
    p->started = progress_now();
    p->last_draw = 0;
    p->last_line_step = 0;
}

static void format_eta(double seconds, char *buf, size_t size)
{
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

void progress_update(progress *p, uint64_t epoch, uint64_t epochs, size_t step,
                     size_t total, double loss, double accuracy,
                     double images_per_second)
{
    double now = progress_now();
    double elapsed = now - p->started;
    double eta = step ? elapsed / (double)step * (double)(total - step) : 0;
    char eta_text[32];
    if (p->quiet)
        return;
    format_eta(eta, eta_text, sizeof eta_text);
    if (p->tty) {
        enum { WIDTH = 24 };
        char bar[WIDTH + 1];
        size_t fill = total ? step * WIDTH / total : 0;
        if (now - p->last_draw < 0.1 && step != total)
            return;
        p->last_draw = now;
        for (size_t i = 0; i < WIDTH; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[WIDTH] = '\0';
        fprintf(stderr,
                "\repoch %llu/%llu [%s] %zu/%zu  loss %.4f  acc %.2f%%  "
                "%.0f img/s  ETA %s \033[K",
                (unsigned long long)epoch + 1, (unsigned long long)epochs, bar,
                step, total, loss, 100.0 * accuracy, images_per_second,
                eta_text);
        fflush(stderr);
        return;
    }
    /* Not a terminal: a line at every tenth of the epoch. */
    if (step != total && step < p->last_line_step + (total + 9) / 10)
        return;
    p->last_line_step = step;
    fprintf(stderr,
            "epoch %llu/%llu step %zu/%zu loss %.4f acc %.2f%% %.0f img/s "
            "ETA %s\n",
            (unsigned long long)epoch + 1, (unsigned long long)epochs, step,
            total, loss, 100.0 * accuracy, images_per_second, eta_text);
}

void progress_end_epoch(progress *p)
{
    if (p->tty && !p->quiet)
        fputc('\n', stderr);
}
