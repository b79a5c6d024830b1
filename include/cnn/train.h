/* SPDX-License-Identifier: MIT */
/* Training building blocks: the softmax cross-entropy loss, optimisers and
 * learning-rate schedules. The loop that strings them together lives in the
 * host; these are the parts whose numbers must match PyTorch's. */
#ifndef CNN_TRAIN_H
#define CNN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"
#include "cnn/io.h"
#include "cnn/params.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Loss ---------------------------------------------------------------- */

/* Mean softmax cross-entropy of logits [n, classes] against labels, from the
 * log-sum-exp of the max-shifted logits (never log of a rounded-to-zero
 * probability). When grad is not NULL it receives (softmax - onehot) / n,
 * the fused gradient with respect to the logits. *correct (may be NULL)
 * counts rows whose largest logit is the label. Labels must lie in
 * [0, classes); the caller checks them. */
double cnn_softmax_xent(const float *logits, const int32_t *labels, int64_t n,
                        int64_t classes, float *grad, int64_t *correct);

/* The same loss with PyTorch's CrossEntropyLoss(weight, label_smoothing)
 * options: class_weights (classes entries, or NULL for all 1) weight each
 * sample by its label's weight and the smoothing term by each class's, and
 * the mean divides by the sum of the samples' weights; smoothing eps mixes
 * the one-hot target with eps / classes everywhere:
 *   L = [(1-eps) sum_i w_yi (-log p_i,yi)
 *        + eps/C sum_i sum_c w_c (-log p_i,c)] / sum_i w_yi
 * grad (may be NULL) receives dL/dlogits. */
double cnn_softmax_xent_ex(const float *logits, const int32_t *labels,
                           int64_t n, int64_t classes,
                           const float *class_weights, double smoothing,
                           float *grad, int64_t *correct);

/* ---- Optimisers ---------------------------------------------------------- */

typedef enum cnn_optim_kind {
    CNN_OPTIM_SGD = 0,
    CNN_OPTIM_ADAM = 1,
    CNN_OPTIM_ADAMW = 2 /* Adam with decoupled weight decay (PyTorch's AdamW:
                           p -= lr wd p before the Adam step) */
} cnn_optim_kind;

typedef struct cnn_optim_config {
    cnn_optim_kind kind;
    double momentum;     /* SGD; 0 for plain SGD */
    int nesterov;        /* SGD with momentum */
    double weight_decay; /* L2 added to the gradient, as PyTorch's SGD/Adam;
                            parameters flagged CNN_PARAM_NO_DECAY are exempt */
    double beta1, beta2, eps; /* Adam; 0 means PyTorch's 0.9, 0.999, 1e-8 */
} cnn_optim_config;

typedef struct cnn_optim cnn_optim;

/* State only for the store's trainable tensors. params must outlive it. */
cnn_status cnn_optim_create(cnn_context *ctx, cnn_params *params,
                            const cnn_optim_config *config, cnn_optim **out);
void cnn_optim_destroy(cnn_optim *optim);
/* One update of every trainable tensor from its gradient, at rate lr. */
void cnn_optim_step(cnn_optim *optim, double lr);
uint64_t cnn_optim_steps(const cnn_optim *optim);

/* The state as named tensors ("<param>.momentum", "<param>.adam_m",
 * "<param>.adam_v"), views owned by the optimiser, for checkpoints. */
size_t cnn_optim_state_count(const cnn_optim *optim);
const cnn_named_tensor *cnn_optim_state(const cnn_optim *optim, size_t i);
/* Restores the state from a checkpoint file, where each state tensor is
 * stored as prefix + its name (every one required, shapes checked), and
 * the step count. */
cnn_status cnn_optim_load_state(cnn_context *ctx, cnn_optim *optim,
                                const cnn_tensor_file *file,
                                const char *prefix, uint64_t steps);

/* ---- Learning-rate schedules --------------------------------------------- */

typedef enum cnn_schedule_kind {
    CNN_SCHEDULE_CONSTANT = 0,
    CNN_SCHEDULE_STEP = 1,  /* times gamma every step_epochs */
    CNN_SCHEDULE_COSINE = 2, /* half cosine from lr to 0 over all epochs */
    CNN_SCHEDULE_PLATEAU = 3 /* constant here; the caller multiplies by a
                                cnn_plateau's scale */
} cnn_schedule_kind;

typedef struct cnn_schedule {
    cnn_schedule_kind kind;
    double lr;
    double warmup_epochs; /* linear ramp from lr/steps to lr */
    double total_epochs;
    double step_epochs;   /* STEP: period (default 1/3 of total) */
    double gamma;         /* STEP: factor (default 0.1) */
} cnn_schedule;

/* The rate at a point of training, epoch counted from 0 with fractions for
 * steps within an epoch. */
double cnn_schedule_lr(const cnn_schedule *schedule, double epoch);

/* Reduce-on-plateau, with PyTorch's ReduceLROnPlateau rule (relative
 * threshold 1e-4, no cooldown): after more than `patience` epochs without
 * improvement of the monitored metric, the rate is multiplied by factor. */
typedef struct cnn_plateau {
    double factor;        /* in (0, 1) */
    int64_t patience;     /* epochs without improvement tolerated */
    int higher_is_better; /* 1 for accuracies, 0 for losses */
    double scale;         /* the multiplier so far, starts at 1 */
    double best;          /* best metric so far; NAN before the first */
    int64_t bad_epochs;   /* epochs since the best */
} cnn_plateau;

void cnn_plateau_init(cnn_plateau *p, double factor, int64_t patience,
                      int higher_is_better);
/* Feeds one epoch's metric; returns 1 when the rate was just reduced. A
 * NaN metric counts as no improvement. */
int cnn_plateau_update(cnn_plateau *p, double metric);

#ifdef __cplusplus
}
#endif
#endif
