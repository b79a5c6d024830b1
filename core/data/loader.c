/* SPDX-License-Identifier: MIT */
/* The batch loader: epoch permutations, augmentation, normalisation, and a
 * pool of threads that decode and prepare the batches ahead.
 *
 * A batch is a pure function of (options, epoch, batch index): every
 * sample's augmentation is keyed by (seed, epoch, dataset index) and each
 * sample is written to its own place, so which thread prepares which
 * sample, and when, never changes what a batch holds.
 *
 * The loader owns prefetch + 1 batch slots, its whole memory beyond the
 * dataset's index: the slot last handed out (untouched until the next
 * cnn_loader_next) and up to `prefetch` batches being prepared. Threads
 * claim single samples of the earliest unfinished batch under the mutex,
 * prepare them outside it, and the caller's thread joins in on the batch
 * it waits for (so with no thread at all it simply does the work). The
 * epoch and order change only when no sample is in flight. A sample whose
 * image fails marks its place in the slot; the batch's first failure (by
 * position, so the message does not depend on timing) is reported, or with
 * skip_bad the failed samples are dropped and counted. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../context_internal.h"
#include "cnn/memory.h"
#include "data_internal.h"
#include "data_rng.h"

#define NO_BATCH SIZE_MAX
#define LOADER_MAX_CROP_PADDING 4096
#define LOADER_MAX_THREADS 64
#define LOADER_MAX_PREFETCH 64

typedef struct batch_slot {
    float *images;
    int32_t *labels;
    uint8_t *bad;      /* per sample: its image failed */
    size_t batch;      /* NO_BATCH when free */
    size_t n, claimed, done;
    size_t first_bad;  /* position of the first failure; n when none */
    char message[CNN_MESSAGE_MAX];
} batch_slot;

typedef struct loader_worker {
    struct cnn_loader *L;
    pthread_t thread;
    cnn_context *ctx; /* its own: errors never touch the caller's */
    uint8_t *scratch; /* one decoded sample */
} loader_worker;

struct cnn_loader {
    cnn_context *ctx; /* errors; only the caller's thread touches it */
    const cnn_dataset *ds;
    size_t batch;
    uint64_t seed;
    int shuffle, drop_last, flip, skip_bad;
    int rrc;
    double scale[2], ratio[2], center;
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
    size_t next_sched; /* the next batch to give a slot */
    size_t skipped;
    char first_skipped[CNN_MESSAGE_MAX];

    batch_slot *slots;
    size_t n_slots;
    batch_slot *held; /* handed out last; NULL when none */
    cnn_context *caller_ctx;
    uint8_t *caller_scratch;

    loader_worker *workers;
    int n_worker_slots; /* allocated */
    int n_workers;      /* started */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sync_ok;   /* mu and cv exist */
    int quit;
    size_t in_flight; /* samples claimed, not yet done */
};

void cnn_loader_options_init(cnn_loader_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->batch = 1;
    opts->prefetch = 1;
    opts->threads = 1;
    opts->scale[0] = 0.08;
    opts->scale[1] = 1.0;
    opts->ratio[0] = 3.0 / 4.0;
    opts->ratio[1] = 4.0 / 3.0;
    opts->center_crop = 1.0;
}

int cnn_loader_default_threads(int compute_threads)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long left = cores - (compute_threads > 0 ? compute_threads : 1);
    return left < 1 ? 1 : left > 8 ? 8 : (int)left;
}

/* One sample from its uint8 CHW source: flip and crop offsets come from
 * (seed, epoch, index); flip_done: the flip was applied at full resolution
 * already (RandomResizedCrop). */
static void fill_sample(const cnn_loader *L, size_t index,
                        const uint8_t *src, int flip_done, float *out)
{
    const cnn_dataset *ds = L->ds;
    int32_t C = ds->channels, H = ds->height, W = ds->width;
    size_t plane = (size_t)H * (size_t)W;
    cnn_data_rng rng;
    int flip = 0;
    int32_t dy = 0, dx = 0, P = L->crop_padding;
    uint64_t r_flip, r_dy, r_dx;

    if ((!L->flip || flip_done) && P == 0) {
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
    if (L->flip && !flip_done)
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

/* The flip draw of fill_sample, for a flip made before resizing. */
static int drawn_flip(const cnn_loader *L, size_t index)
{
    cnn_data_rng rng;
    cnn_data_rng_init(&rng, L->seed, L->epoch, index,
                      CNN_DATA_STREAM_AUGMENT);
    return L->flip && (int)(cnn_data_rng_next(&rng) >> 63);
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

/* Prepares sample j of slot s (batch b) with the thread's own context and
 * scratch; 0 when its image failed (the message is on ctx). Reads only
 * what stays fixed while a sample is in flight. */
static int prepare_sample(const cnn_loader *L, const batch_slot *s, size_t b,
                          size_t j, cnn_context *ctx, uint8_t *scratch)
{
    const cnn_dataset *ds = L->ds;
    size_t offset, index;
    float *out = s->images + j * L->sample_elems;
    (void)part_range(L, b, &offset);
    index = L->order[b * L->batch + offset + j];
    s->labels[j] = ds->labels[index];
    if (!ds->streamed) {
        fill_sample(L, index, cnn_data_item_pixels(ds, index), 0, out);
        return 1;
    }
    if (!L->rrc && L->center >= 1.0) {
        /* The plain sample, as cnn_dataset_sample_u8 gives it. */
        if (cnn_data_load_item(ctx, ds, index, NULL, scratch) != CNN_OK)
            return 0;
        fill_sample(L, index, scratch, 0, out);
        return 1;
    }
    {
        cnn_data_view v;
        memset(&v, 0, sizeof v);
        v.center = L->center;
        v.random_crop = L->rrc;
        v.scale[0] = L->scale[0];
        v.scale[1] = L->scale[1];
        v.ratio[0] = L->ratio[0];
        v.ratio[1] = L->ratio[1];
        v.flip = L->rrc && drawn_flip(L, index);
        v.seed = L->seed;
        v.epoch = L->epoch;
        v.index = index;
        if (cnn_data_load_item(ctx, ds, index, &v, scratch) != CNN_OK)
            return 0;
        fill_sample(L, index, scratch, L->rrc, out);
        return 1;
    }
}

/* Under mu: records sample j of s as done, failed or not. */
static void finish_sample(cnn_loader *L, batch_slot *s, size_t j, int ok,
                          const cnn_context *ctx)
{
    if (!ok) {
        s->bad[j] = 1;
        if (j < s->first_bad) {
            s->first_bad = j;
            snprintf(s->message, sizeof s->message, "%s",
                     cnn_context_message(ctx));
        }
    }
    s->done++;
    L->in_flight--;
    pthread_cond_broadcast(&L->cv);
}

/* Under mu: the slot of the earliest batch with a sample left to claim. */
static batch_slot *pick_work(cnn_loader *L)
{
    batch_slot *best = NULL;
    for (size_t i = 0; i < L->n_slots; i++) {
        batch_slot *s = &L->slots[i];
        if (s->batch != NO_BATCH && s->claimed < s->n &&
            (!best || s->batch < best->batch))
            best = s;
    }
    return best;
}

static void *worker_main(void *arg)
{
    loader_worker *w = arg;
    cnn_loader *L = w->L;
    pthread_mutex_lock(&L->mu);
    for (;;) {
        batch_slot *s;
        size_t j, b;
        int ok;
        while (!L->quit && !(s = pick_work(L)))
            pthread_cond_wait(&L->cv, &L->mu);
        if (L->quit)
            break;
        j = s->claimed++;
        b = s->batch;
        L->in_flight++;
        pthread_mutex_unlock(&L->mu);
        ok = prepare_sample(L, s, b, j, w->ctx, w->scratch);
        pthread_mutex_lock(&L->mu);
        finish_sample(L, s, j, ok, w->ctx);
    }
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

static void lock(cnn_loader *L)
{
    if (L->sync_ok)
        pthread_mutex_lock(&L->mu);
}

static void unlock(cnn_loader *L)
{
    if (L->sync_ok)
        pthread_mutex_unlock(&L->mu);
}

/* Under mu: gives free slots (not the one handed out) to the next batches
 * of the epoch. */
static void schedule(cnn_loader *L)
{
    for (size_t i = 0; i < L->n_slots && L->next_sched < L->batches; i++) {
        batch_slot *s = &L->slots[i];
        size_t offset;
        if (s->batch != NO_BATCH || s == L->held)
            continue;
        s->batch = L->next_sched++;
        s->n = part_range(L, s->batch, &offset);
        s->claimed = s->done = 0;
        s->first_bad = s->n;
        s->message[0] = '\0';
        memset(s->bad, 0, s->n ? s->n : 1);
    }
    if (L->sync_ok)
        pthread_cond_broadcast(&L->cv);
}

/* Under mu: withdraws every batch being prepared and waits until no sample
 * is in flight, so the order and epoch may change. */
static void cancel_all(cnn_loader *L)
{
    for (size_t i = 0; i < L->n_slots; i++)
        if (L->slots[i].batch != NO_BATCH)
            L->slots[i].claimed = L->slots[i].n;
    while (L->in_flight > 0)
        pthread_cond_wait(&L->cv, &L->mu);
    for (size_t i = 0; i < L->n_slots; i++)
        if (&L->slots[i] != L->held)
            L->slots[i].batch = NO_BATCH;
}

static void stop_workers(cnn_loader *L)
{
    if (!L->sync_ok)
        return;
    pthread_mutex_lock(&L->mu);
    L->quit = 1;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
    for (int i = 0; i < L->n_workers; i++)
        pthread_join(L->workers[i].thread, NULL);
    L->n_workers = 0;
}

/* Starts up to `threads` workers; fewer (with a warning) when the system
 * refuses. */
static void start_workers(cnn_context *ctx, cnn_loader *L, int threads)
{
    L->workers = calloc((size_t)threads, sizeof *L->workers);
    if (!L->workers) {
        cnn_log(ctx, CNN_LOG_WARN, "loader: no memory for threads; "
                                   "loading in the foreground");
        return;
    }
    L->n_worker_slots = threads;
    for (int i = 0; i < threads; i++) {
        loader_worker *w = &L->workers[i];
        w->L = L;
        w->ctx = cnn_context_create_scratch();
        w->scratch = malloc(L->ds->sample_bytes ? L->ds->sample_bytes : 1);
        if (!w->ctx || !w->scratch ||
            pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            cnn_log(ctx, CNN_LOG_WARN,
                    "loader: started %d of %d threads; the rest of the "
                    "work runs on those and the caller's", i, threads);
            break;
        }
        L->n_workers = i + 1;
    }
}

cnn_status cnn_loader_create(cnn_context *ctx, const cnn_dataset *ds,
                             const cnn_loader_options *opts,
                             cnn_loader **out)
{
    cnn_loader *L;
    size_t per_batch, elems, n_slots;
    int32_t C;
    int threads;
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
    if (opts->prefetch < 0 || opts->prefetch > LOADER_MAX_PREFETCH ||
        opts->threads < 0 || opts->threads > LOADER_MAX_THREADS)
        return cnn_fail(ctx, CNN_ERR_INVALID,
                        "loader: prefetch %d or threads %d outside 0..%d",
                        opts->prefetch, opts->threads, LOADER_MAX_THREADS);
    if (opts->random_resized_crop || (opts->center_crop != 0.0 &&
                                      opts->center_crop != 1.0)) {
        if (!ds->streamed)
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "loader: %s holds no image files; "
                            "RandomResizedCrop and center_crop need the "
                            "full-resolution images of a folder or of a "
                            "pack made with --encoded",
                            ds->spec);
        if (!(opts->center_crop >= 0.0 && opts->center_crop <= 1.0))
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "loader: center_crop %g is outside (0, 1]",
                            opts->center_crop);
    }
    if (opts->random_resized_crop) {
        if (opts->crop_padding != 0)
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "loader: RandomResizedCrop and crop padding "
                            "exclude each other");
        if (!(opts->scale[0] > 0 && opts->scale[0] <= opts->scale[1] &&
              opts->scale[1] <= 1) ||
            !(opts->ratio[0] > 0 && opts->ratio[0] <= opts->ratio[1] &&
              isfinite(opts->ratio[1])))
            return cnn_fail(ctx, CNN_ERR_INVALID,
                            "loader: RandomResizedCrop scale (%g, %g) must "
                            "lie in (0, 1] and ratio (%g, %g) be positive, "
                            "each low <= high",
                            opts->scale[0], opts->scale[1], opts->ratio[0],
                            opts->ratio[1]);
    }
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
    n_slots = (size_t)opts->prefetch + 1;
    threads = opts->prefetch == 0 ? 0 : opts->threads ? opts->threads : 1;
    if (!cnn_data_mul(ds->sample_bytes, per_batch, &elems) ||
        elems > SIZE_MAX / sizeof(float) / n_slots)
        return cnn_fail(ctx, CNN_ERR_NOMEM,
                        "loader: batch of %zu samples overflows memory",
                        opts->batch);
    /* The slots of float samples, a decoded sample per thread, the order. */
    if (cnn_memory_check(
            ctx,
            cnn_memory_add(
                cnn_memory_add(
                    cnn_memory_mul(elems, n_slots * sizeof(float)),
                    cnn_memory_mul(ds->sample_bytes, (size_t)threads + 1)),
                cnn_memory_mul(ds->count, sizeof(size_t))),
            "loader: the prefetched batches of float samples") != CNN_OK)
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
    L->skip_bad = opts->skip_bad != 0;
    L->rrc = opts->random_resized_crop != 0;
    L->scale[0] = opts->scale[0];
    L->scale[1] = opts->scale[1];
    L->ratio[0] = opts->ratio[0];
    L->ratio[1] = opts->ratio[1];
    L->center = opts->center_crop > 0 ? opts->center_crop : 1.0;
    L->crop_padding = opts->crop_padding;
    L->shards = opts->shards ? opts->shards : 1;
    L->shard = opts->shard;
    L->sample_elems = ds->sample_bytes;
    L->batches = L->drop_last ? ds->count / L->batch
                              : ds->count / L->batch +
                                    (ds->count % L->batch != 0);
    L->next_batch = NO_BATCH;
    for (int32_t c = 0; c < C; c++) {
        float mean = opts->mean ? opts->mean[c] : 0.0f;
        float std = opts->std ? opts->std[c] : 1.0f;
        for (int v = 0; v < 256; v++)
            L->lut[c][v] = ((float)v / 255.0f - mean) / std;
    }
    L->order = malloc((ds->count ? ds->count : 1) * sizeof *L->order);
    L->slots = calloc(n_slots, sizeof *L->slots);
    L->caller_ctx = cnn_context_create_scratch();
    L->caller_scratch = malloc(ds->sample_bytes ? ds->sample_bytes : 1);
    if (!L->order || !L->slots || !L->caller_ctx || !L->caller_scratch) {
        cnn_loader_destroy(L);
        return cnn_fail(ctx, CNN_ERR_NOMEM, "loader: out of memory");
    }
    L->n_slots = n_slots;
    for (size_t i = 0; i < n_slots; i++) {
        batch_slot *s = &L->slots[i];
        s->batch = NO_BATCH;
        s->images = malloc((elems ? elems : 1) * sizeof(float));
        s->labels = malloc((per_batch ? per_batch : 1) * sizeof(int32_t));
        s->bad = malloc(per_batch ? per_batch : 1);
        if (!s->images || !s->labels || !s->bad) {
            cnn_loader_destroy(L);
            return cnn_fail(ctx, CNN_ERR_NOMEM, "loader: out of memory for "
                                                "batch buffers");
        }
    }
    if (threads > 0) {
        if (pthread_mutex_init(&L->mu, NULL) != 0) {
            cnn_log(ctx, CNN_LOG_WARN, "loader: no mutex; prefetch off");
        } else if (pthread_cond_init(&L->cv, NULL) != 0) {
            pthread_mutex_destroy(&L->mu);
            cnn_log(ctx, CNN_LOG_WARN, "loader: no condvar; prefetch off");
        } else {
            L->sync_ok = 1;
            start_workers(ctx, L, threads);
        }
    }
    *out = L;
    return CNN_OK;
}

void cnn_loader_destroy(cnn_loader *L)
{
    if (!L)
        return;
    stop_workers(L);
    if (L->sync_ok) {
        pthread_cond_destroy(&L->cv);
        pthread_mutex_destroy(&L->mu);
    }
    /* Also those whose thread never started. */
    for (int i = 0; i < L->n_worker_slots; i++) {
        cnn_context_destroy(L->workers[i].ctx);
        free(L->workers[i].scratch);
    }
    free(L->workers);
    for (size_t i = 0; L->slots && i < L->n_slots; i++) {
        free(L->slots[i].images);
        free(L->slots[i].labels);
        free(L->slots[i].bad);
    }
    free(L->slots);
    cnn_context_destroy(L->caller_ctx);
    free(L->caller_scratch);
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

size_t cnn_loader_skipped(const cnn_loader *L)
{
    return L->skipped;
}

const char *cnn_loader_first_skipped(const cnn_loader *L)
{
    return L->first_skipped;
}

cnn_status cnn_loader_set_position(cnn_loader *L, uint64_t epoch,
                                   size_t batch_index)
{
    size_t n = L->ds->count;
    if (batch_index > L->batches)
        return cnn_fail(L->ctx, CNN_ERR_INVALID,
                        "loader: batch %zu is past the %zu batches of an "
                        "epoch", batch_index, L->batches);
    lock(L);
    if (L->sync_ok)
        cancel_all(L);
    else
        for (size_t i = 0; i < L->n_slots; i++)
            if (&L->slots[i] != L->held)
                L->slots[i].batch = NO_BATCH;
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
    L->next_sched = batch_index;
    L->skipped = 0;
    L->first_skipped[0] = '\0';
    /* The slot handed out last is not reused before the next call. */
    if (L->n_workers > 0)
        schedule(L);
    unlock(L);
    return CNN_OK;
}

cnn_status cnn_loader_begin_epoch(cnn_loader *L, uint64_t epoch)
{
    return cnn_loader_set_position(L, epoch, 0);
}

/* Under mu (if any): the slot of batch b, scheduling it if need be, filled;
 * the caller's thread prepares the samples no worker has claimed. */
static batch_slot *fill_slot(cnn_loader *L, size_t b)
{
    batch_slot *s = NULL;
    if (L->held) {
        L->held->batch = NO_BATCH;
        L->held = NULL;
    }
    if (L->next_sched <= b)
        L->next_sched = b; /* nothing ahead was scheduled (no threads) */
    schedule(L);
    for (size_t i = 0; i < L->n_slots; i++)
        if (L->slots[i].batch == b)
            s = &L->slots[i];
    /* s exists: batches are scheduled in order from next_batch, and every
     * slot but the one just freed was free or held b and later. */
    while (s->done < s->n) {
        if (s->claimed < s->n) {
            size_t j = s->claimed++;
            int ok;
            L->in_flight++;
            unlock(L);
            ok = prepare_sample(L, s, b, j, L->caller_ctx, L->caller_scratch);
            lock(L);
            if (L->sync_ok) {
                finish_sample(L, s, j, ok, L->caller_ctx);
            } else {
                /* No mutex: same bookkeeping without the broadcast. */
                if (!ok) {
                    s->bad[j] = 1;
                    if (j < s->first_bad) {
                        s->first_bad = j;
                        snprintf(s->message, sizeof s->message, "%s",
                                 cnn_context_message(L->caller_ctx));
                    }
                }
                s->done++;
                L->in_flight--;
            }
        } else {
            pthread_cond_wait(&L->cv, &L->mu);
        }
    }
    return s;
}

/* Drops the failed samples of a filled slot; returns the count kept. */
static size_t drop_bad(cnn_loader *L, batch_slot *s)
{
    size_t kept = 0;
    for (size_t j = 0; j < s->n; j++) {
        if (s->bad[j])
            continue;
        if (kept != j) {
            memmove(s->images + kept * L->sample_elems,
                    s->images + j * L->sample_elems,
                    L->sample_elems * sizeof(float));
            s->labels[kept] = s->labels[j];
        }
        kept++;
    }
    if (L->skipped == 0 && kept < s->n)
        snprintf(L->first_skipped, sizeof L->first_skipped, "%s",
                 s->message);
    L->skipped += s->n - kept;
    return kept;
}

cnn_status cnn_loader_next(cnn_loader *L, cnn_tensor *images,
                           const int32_t **labels, size_t *count)
{
    const cnn_dataset *ds = L->ds;
    size_t b = L->next_batch, n;
    batch_slot *s;
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
    lock(L);
    s = fill_slot(L, b);
    L->held = s;
    L->next_batch = b + 1;
    schedule(L); /* keep the threads busy while the caller computes */
    unlock(L);
    n = part_range(L, b, &L->last_offset);
    L->last_total = batch_len(L, b);
    if (s->first_bad < s->n) {
        if (!L->skip_bad)
            return cnn_fail(L->ctx, CNN_ERR_FORMAT,
                            "batch %zu of epoch %llu: %s", b,
                            (unsigned long long)L->epoch, s->message);
        n = drop_bad(L, s);
    }
    images->shape = cnn_shape4((int64_t)n, ds->channels, ds->height,
                               ds->width);
    images->data = s->images;
    *labels = s->labels;
    *count = n;
    return CNN_OK;
}
