/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "cnn/train.h"

double cnn_schedule_lr(const cnn_schedule *s, double epoch)
{
    double lr = s->lr;
    switch (s->kind) {
    case CNN_SCHEDULE_STEP: {
        double period = s->step_epochs > 0 ? s->step_epochs
                                           : fmax(1.0, floor(s->total_epochs / 3.0));
        double gamma = s->gamma > 0 ? s->gamma : 0.1;
        lr *= pow(gamma, floor(epoch / period));
        break;
    }
    case CNN_SCHEDULE_COSINE:
        if (s->total_epochs > 0) {
            double t = fmin(1.0, epoch / s->total_epochs);
            lr *= 0.5 * (1.0 + cos(3.141592653589793 * t));
        }
        break;
    case CNN_SCHEDULE_CONSTANT:
    default:
        break;
    }
    if (s->warmup_epochs > 0 && epoch < s->warmup_epochs)
        lr *= epoch / s->warmup_epochs; /* callers pass progress after the step */
    return lr;
}

void cnn_plateau_init(cnn_plateau *p, double factor, int64_t patience,
                      int higher_is_better)
{
    p->factor = factor;
    p->patience = patience;
    p->higher_is_better = higher_is_better;
    p->scale = 1.0;
    p->best = NAN;
    p->bad_epochs = 0;
}

int cnn_plateau_update(cnn_plateau *p, double metric)
{
    /* PyTorch's default threshold: relative 1e-4 ("rel" mode). */
    const double threshold = 1e-4;
    int better;
    if (isnan(metric))
        better = 0;
    else if (isnan(p->best))
        better = 1;
    else if (p->higher_is_better)
        better = metric > p->best * (1.0 + threshold);
    else
        better = metric < p->best * (1.0 - threshold);
    if (better) {
        p->best = metric;
        p->bad_epochs = 0;
        return 0;
    }
    if (++p->bad_epochs > p->patience) {
        p->scale *= p->factor;
        p->bad_epochs = 0;
        return 1;
    }
    return 0;
}
