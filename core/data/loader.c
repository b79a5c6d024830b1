/* SPDX-License-Identifier: MIT */
/* The batch loader: epoch permutations, augmentation, normalisation and a
 * one-batch-ahead prefetch thread.
 *
 * A batch is a pure function of (options, epoch, batch index): the worker
 * thread and the caller's thread run the same fill_batch, so prefetching
 * changes when a batch is made, never what it holds. Two buffers alternate:
 * the one last returned stays untouched while the worker fills the other.
 * The worker only reads the dataset and the order, which the caller changes
 * only after waiting for the worker to go idle; the samples are in memory,
 * so the worker can never fail. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../context_internal.h"
#include "cnn/memory.h"
#include "data_internal.h"
#include "data_rng.h"

#define NO_BATCH SIZE_MAX
#define LOADER_MAX_CROP_PADDING 4096

typedef struct batch_buffer {
    float *images;
    int32_t *labels;
} batch_buffer;

struct cnn_loader {
    cnn_context *ctx; /* errors; only the caller's thread touches it */
    const cnn_dataset *ds;
    size_t batch;
    uint64_t seed;
    int shuffle, drop_last, flip;
    size_t shard, shards; /* shards >= 1 */
    size_t last_total, last_offset; /* of the part last handed out */
    int32_t crop_padding;
    float lut[3][256]; /* byte value to normalised float, per channel */
    size_t sample_elems;
    size_t batches;

    size_t *order;
    uint64_t epoch;
    int started;
    size_t next_batch; /* the batch the next cnn_loader_next returns */
    batch_buffer buf[2];
    int free_buf; /* the buffer not handed out last */

    /* Prefetch: one job at a time, guarded by mu. */
    int threaded;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int quit;
    int job_queued;  /* a job waits for the worker */
    int job_running; /* the worker is filling */
    size_t job_batch; /* batch of the queued, running or finished job */
    int job_buf;
};

void cnn_loader_options_init(cnn_loader_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->batch = 1;
    opts->prefetch = 1;
}

/* One sample: flip and crop offsets come from (seed, epoch, index). */
static void fill_sample(const cnn_loader *L, size_t index, float *out)
{
    const cnn_dataset *ds = L->ds;
    const uint8_t *src = ds->pixels + index * ds->sample_bytes;
    int32_t C = ds->channels, H = ds->height, W = ds->width;
    size_t plane = (size_t)H * (size_t)W;
    cnn_data_rng rng;
    int flip = 0;
    int32_t dy = 0, dx = 0, P = L->crop_padding;
    uint64_t r_flip, r_dy, r_dx;

    if (!L->flip && P == 0) {
        for (int32_t c = 0; c < C; c++) {
            const float *lut = L->lut[c];
            for (size_t i = 0; i < plane; i++)
                out[(size_t)c * plane + i] = lut[src[(size_t)c * plane + i]];
        }
        return;
    }
    /* Always draw all three numbers, so turning one augmentation on or off
     * leaves the other's choices unchanged. */
    cnn_data_rng_init(&rng, L->seed, L->epoch, index,
                      CNN_DATA_STREAM_AUGMENT);
    r_flip = cnn_data_rng_next(&rng);
    r_dy = cnn_data_rng_below(&rng, 2 * (uint64_t)P + 1);
    r_dx = cnn_data_rng_below(&rng, 2 * (uint64_t)P + 1);
    if (L->flip)
        flip = (int)(r_flip >> 63);
    dy = (int32_t)r_dy - P;
    dx = (int32_t)r_dx - P;
    for (int32_t c = 0; c < C; c++) {
        const float *lut = L->lut[c];
        const uint8_t *sp = src + (size_t)c * plane;
        float *op = out + (size_t)c * plane;
        for (int32_t y = 0; y < H; y++) {
            int32_t sy = y + dy;
            if (sy < 0 || sy >= H) {
                for (int32_t x = 0; x < W; x++)
                    op[(size_t)y * (size_t)W + (size_t)x] = lut[0];
                continue;
            }
            for (int32_t x = 0; x < W; x++) {
                /* Crop first, then flip the crop (torchvision's order). */
                int32_t sx = (flip ? W - 1 - x : x) + dx;
                op[(size_t)y * (size_t)W + (size_t)x] =
                    sx < 0 || sx >= W
                        ? lut[0]
                        : lut[sp[(size_t)sy * (size_t)W + (size_t)sx]];
            }
        }
    }
}

static size_t batch_len(const cnn_loader *L, size_t b)
{
    size_t start = b * L->batch, n = L->ds->count - start;
    return n < L->batch ? n : L->batch;
}

/* This loader's part of batch b: its first sample and length. */
static size_t part_range(const cnn_loader *L, size_t b, size_t *offset)
{
    size_t n = batch_len(L, b), base = n / L->shards, extra = n % L->shards;
    *offset = L->shard * base + (L->shard < extra ? L->shard : extra);
    return base + (L->shard < extra);
}

static void fill_batch(const cnn_loader *L, size_t b, batch_buffer *buf)
{
    size_t offset, n = part_range(L, b, &offset);
    size_t start = b * L->batch + offset;
    for (size_t j = 0; j < n; j++) {
        size_t index = L->order[start + j];
        buf->labels[j] = L->ds->labels[index];
        fill_sample(L, index, buf->images + j * L->sample_elems);
    }
}

static void *worker_main(void *arg)
{
    cnn_loader *L = arg;
    pthread_mutex_lock(&L->mu);
    for (;;) {
        size_t b;
        int which;
        while (!L->quit && !L->job_queued)
            pthread_cond_wait(&L->cv, &L->mu);
        if (L->quit)
            break;
        L->job_queued = 0;
        L->job_running = 1;
        b = L->job_batch;
        which = L->job_buf;
        pthread_mutex_unlock(&L->mu);
        fill_batch(L, b, &L->buf[which]);
        pthread_mutex_lock(&L->mu);
        L->job_running = 0;
        pthread_cond_broadcast(&L->cv);
    }
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

/* Waits until the worker is idle; the finished job's result stays where it
 * is (job_batch/job_buf tell which). */
static void wait_idle(cnn_loader *L)
{
    if (!L->threaded)
        return;
    pthread_mutex_lock(&L->mu);
    while (L->job_queued || L->job_running)
        pthread_cond_wait(&L->cv, &L->mu);
    pthread_mutex_unlock(&L->mu);
}

/* Starts filling batch b into the free buffer in the background. */
static void queue_batch(cnn_loader *L, size_t b)
{
    if (!L->threaded || b >= L->batches)
        return;
    pthread_mutex_lock(&L->mu);
    L->job_batch = b;
    L->job_buf = L->free_buf;
    L->job_queued = 1;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
}

cnn_status cnn_loader_create(cnn_context *ctx, const cnn_dataset *ds,
                             const cnn_loader_options *opts,
                             cnn_loader **out)
{
    cnn_loader *L;
    size_t per_batch, elems;
    int32_t C;
    if (!out)
        return cnn_fail(ctx, CNN_ERR_INVALID, "loader: NULL output");
    *out = NULL;
    if (!ds || !opts)
        return cnn_fail(ctx, CNN_ERR_INVALID, "loader: NULL dataset or "
                                              "options");
    C = ds->channels;
    if (opts->batch < 1)
        return cnn_fail(ctx, CNN_ERR_INVALID, "loader: batch size must be "
                                              ">= 1");
    if (opts->crop_padding < 0 || opts->crop_padding > LOADER_MAX_CROP_PADDING)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "loader: crop padding %d is outside 0..%d",
                        (int)opts->crop_padding, LOADER_MAX_CROP_PADDING);
    for (int32_t c = 0; c < C; c++) {
        if (opts->mean && !isfinite(opts->mean[c]))
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "loader: mean[%d] is not finite", (int)c);
        if (opts->std && (!isfinite(opts->std[c]) || !(opts->std[c] > 0)))
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "loader: std[%d] = %g must be finite and > 0",
                            (int)c, (double)opts->std[c]);
    }
    if (opts->shards > 1 && opts->shard >= opts->shards)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "loader: part %zu of %zu does not exist", opts->shard,
                        opts->shards);
    per_batch = opts->batch < ds->count ? opts->batch : ds->count;
    if (!cnn_data_mul(ds->sample_bytes, per_batch, &elems) ||
        elems > SIZE_MAX / sizeof(float))
        return cnn_fail(ctx, CNN_ERR_NOMEM,
                        "loader: batch of %zu samples overflows memory",
                        opts->batch);
    /* Two batches (one being filled ahead) of floats, and the order. */
    if (cnn_memory_check(ctx,
                         cnn_memory_add(cnn_memory_mul(elems, 2 * sizeof(float)),
                                        cnn_memory_mul(ds->count, sizeof(size_t))),
                         "loader: two batches of float samples") != CNN_OK)
        return CNN_ERR_NOMEM;
    L = calloc(1, sizeof *L);
    if (!L)
        return cnn_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    L->ctx = ctx;
    L->ds = ds;
    L->batch = opts->batch;
    L->seed = opts->seed;
    L->shuffle = opts->shuffle != 0;
    L->drop_last = opts->drop_last != 0;
    L->flip = opts->flip != 0;
    L->crop_padding = opts->crop_padding;
    L->shards = opts->shards ? opts->shards : 1;
    L->shard = opts->shard;
    L->sample_elems = ds->sample_bytes;
    L->batches = L->drop_last ? ds->count / L->batch
                              : ds->count / L->batch +
                                    (ds->count % L->batch != 0);
    L->next_batch = NO_BATCH;
    L->job_batch = NO_BATCH;
    for (int32_t c = 0; c < C; c++) {
        float mean = opts->mean ? opts->mean[c] : 0.0f;
        float std = opts->std ? opts->std[c] : 1.0f;
        for (int v = 0; v < 256; v++)
            L->lut[c][v] = ((float)v / 255.0f - mean) / std;
    }
    L->order = malloc((ds->count ? ds->count : 1) * sizeof *L->order);
    for (int i = 0; i < 2; i++) {
        L->buf[i].images = malloc((elems ? elems : 1) * sizeof(float));
        L->buf[i].labels =
            malloc((per_batch ? per_batch : 1) * sizeof(int32_t));
    }
    if (!L->order || !L->buf[0].images || !L->buf[1].images ||
        !L->buf[0].labels || !L->buf[1].labels) {
        cnn_loader_destroy(L);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "loader: out of memory for "
                                            "batch buffers");
    }
    if (opts->prefetch) {
        if (pthread_mutex_init(&L->mu, NULL) != 0) {
            cnn_log(ctx, CNN_LOG_WARN, "loader: no mutex; prefetch off");
        } else if (pthread_cond_init(&L->cv, NULL) != 0) {
            pthread_mutex_destroy(&L->mu);
            cnn_log(ctx, CNN_LOG_WARN, "loader: no condvar; prefetch off");
        } else if (pthread_create(&L->thread, NULL, worker_main, L) != 0) {
            pthread_cond_destroy(&L->cv);
            pthread_mutex_destroy(&L->mu);
            cnn_log(ctx, CNN_LOG_WARN,
                    "loader: cannot start the prefetch thread; loading "
                    "in the foreground");
        } else {
            L->threaded = 1;
        }
    }
    *out = L;
    return CNN_OK;
}

void cnn_loader_destroy(cnn_loader *L)
{
    if (!L)
        return;
    if (L->threaded) {
        pthread_mutex_lock(&L->mu);
        L->quit = 1;
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
        pthread_join(L->thread, NULL);
        pthread_cond_destroy(&L->cv);
        pthread_mutex_destroy(&L->mu);
    }
    for (int i = 0; i < 2; i++) {
        free(L->buf[i].images);
        free(L->buf[i].labels);
    }
    free(L->order);
    free(L);
}

size_t cnn_loader_batch_count(const cnn_loader *L)
{
    return L->batches;
}

const size_t *cnn_loader_order(const cnn_loader *L)
{
    return L->started ? L->order : NULL;
}

void cnn_loader_last_part(const cnn_loader *L, size_t *batch_size,
                          size_t *offset)
{
    *batch_size = L->last_total;
    *offset = L->last_offset;
}

cnn_status cnn_loader_set_position(cnn_loader *L, uint64_t epoch,
                                   size_t batch_index)
{
    size_t n = L->ds->count;
    if (batch_index > L->batches)
        return cnn_fail(L->ctx, CNN_ERR_INVALID,
                        "loader: batch %zu is past the %zu batches of an "
                        "epoch", batch_index, L->batches);
    wait_idle(L); /* the worker reads order */
    L->job_batch = NO_BATCH;
    for (size_t i = 0; i < n; i++)
        L->order[i] = i;
    if (L->shuffle && n > 1) {
        cnn_data_rng rng;
        cnn_data_rng_init(&rng, L->seed, epoch, 0, CNN_DATA_STREAM_SHUFFLE);
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)cnn_data_rng_below(&rng, (uint64_t)i + 1);
            size_t t = L->order[i];
            L->order[i] = L->order[j];
            L->order[j] = t;
        }
    }
    L->epoch = epoch;
    L->started = 1;
    L->next_batch = batch_index;
    queue_batch(L, batch_index);
    return CNN_OK;
}

cnn_status cnn_loader_begin_epoch(cnn_loader *L, uint64_t epoch)
{
    return cnn_loader_set_position(L, epoch, 0);
}

cnn_status cnn_loader_next(cnn_loader *L, cnn_tensor *images,
                           const int32_t **labels, size_t *count)
{
    const cnn_dataset *ds = L->ds;
    size_t b = L->next_batch, n;
    int which;
    if (!L->started)
        return cnn_fail(L->ctx, CNN_ERR_INVALID,
                        "loader: cnn_loader_begin_epoch was not called");
    if (b >= L->batches) {
        images->shape = cnn_shape4(0, ds->channels, ds->height, ds->width);
        images->data = NULL;
        *labels = NULL;
        *count = 0;
        L->last_total = 0;
        L->last_offset = 0;
        return CNN_OK;
    }
    wait_idle(L);
    if (L->threaded && L->job_batch == b) {
        which = L->job_buf;
    } else {
        which = L->free_buf;
        fill_batch(L, b, &L->buf[which]);
    }
    n = part_range(L, b, &L->last_offset);
    L->last_total = batch_len(L, b);
    L->free_buf = 1 - which;
    L->next_batch = b + 1;
    queue_batch(L, b + 1);
    images->shape = cnn_shape4((int64_t)n, ds->channels, ds->height,
                               ds->width);
    images->data = L->buf[which].images;
    *labels = L->buf[which].labels;
    *count = n;
    return CNN_OK;
}
