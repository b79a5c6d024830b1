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
