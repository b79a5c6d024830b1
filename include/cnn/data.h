/* SPDX-License-Identifier: MIT */
/* Datasets and the batch loader for training and evaluation.
 *
 * A dataset is opened from a spec string. IDX and Fashion-MNIST datasets
 * are decoded once at open time and kept in memory as uint8 samples at the
 * graph's input size; raw packs are read from their memory-mapped file.
 * Folder and file datasets and encoded packs are streamed: opening only
 * indexes them (paths, labels, file sizes or record numbers: tens of bytes
 * an image), and an image is decoded whenever its sample is asked for, so
 * memory does not grow with the dataset. A loader walks a dataset in (optionally shuffled)
 * batches of float tensors, with augmentation and normalisation, decoding
 * and preparing the next batches on a pool of background threads.
 *
 * Spec syntax:
 *
 *   fashion-mnist:train | fashion-mnist:test
 *       Fashion-MNIST's gzip IDX files from CNN_FASHION_MNIST_DIR
 *       (/usr/share/datasets/fashion-mnist); ten named classes.
 *   fashion-mnist:SPLIT:DIR
 *       The same files from another directory.
 *   idx:IMAGES,LABELS[,CLASSES]
 *       An IDX image file (ubyte, 3 dimensions) and an IDX label file
 *       (ubyte or int32, 1 dimension), each gzip or plain (told apart by the
 *       gzip magic). CLASSES is the class count; without it, the largest
 *       label plus one. Class names are the decimal labels.
 *   folder:DIR
 *       One subfolder per class, class names (and label numbers) in byte
 *       order of the subfolder names; .png, .jpg and .jpeg files (any case)
 *       in each; other files and names starting with '.' are skipped.
 *       The format is told by content (cnn/image.h): PNG and JPEG only,
 *       anything else is an error naming the file. Items are in a fixed,
 *       seeded, stratified order: each class's files (sorted by name)
 *       shuffled with a fixed seed, the classes interleaved in proportion to
 *       their sizes, so any prefix or slice holds every class in about its
 *       share.
 *   pack:FILE
 *       A packed dataset file written by `cnnrun pack` (cnn/pack.h,
 *       docs/pack-format.md), checked completely (sizes, CRC-32, names,
 *       labels, offsets) on open. Raw records are memory-mapped and used
 *       as they are; sample_shape must then be their geometry (or NULL).
 *       Encoded records (PNG/JPEG bytes) are streamed like a folder's
 *       files: each is decoded from the mapping when its sample is asked
 *       for, exactly as the same file in a folder (geometry, loader
 *       augmentation and centre crop included); a record that fails to
 *       decode is an error naming the pack and the record number. Items
 *       are in the file's order; the datasets cut from a pack (subsets,
 *       cnn_dataset_split) share its mapping.
 *
 *   Any spec may end with a subset selection, applied in the order above
 *   (IDX files: file order; folders: the stratified order):
 *       @N      the first N items
 *       [A:B]   items A to B-1 (Python slice; A or B may be omitted)
 *   A bound past the end, or an empty selection, is an error, not clamped.
 *   Only the selected items are kept (decoded, or indexed for folders);
 *   class counts and label checks still cover the whole source. A path that itself ends in "@"
 *   and digits or in "]" needs a trailing "[:]" to be read whole.
 *
 * Sample geometry. sample_shape is the graph's input, {N, C, H, W} (N is
 * ignored) or {C, H, W}, with C 1 or 3. Channels are converted (gray to RGB
 * by replication, RGB to gray by ITU-R 601 luma; alpha is dropped).
 *   - Folder images are scaled, keeping their aspect ratio, so that they just
 *     cover H x W (for a square input: the shorter side becomes H), with
 *     area averaging when shrinking and bilinear interpolation when
 *     enlarging, then center-cropped to H x W.
 *   - IDX images are never resampled: they are placed centered on an
 *     H x W zero canvas (28x28 into LeNet's 32x32 gets 2 pixels of zero
 *     border), and center-cropped where they are larger.
 * A NULL sample_shape keeps the native geometry: IDX images as 1 x rows x
 * cols; folder images at the channel count (1 for gray, else 3) and size of
 * the first image, the others converted as above. */
#ifndef CNN_DATA_H
#define CNN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/context.h"
#include "cnn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where "fashion-mnist:train" looks when no directory is given. */
#define CNN_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Limits applied to untrusted input (larger is refused with a message). */
#define CNN_DATA_MAX_IMAGE_PIXELS (1u << 26) /* per source image */
#define CNN_DATA_MAX_SIDE 16384              /* per side, source or sample */

typedef struct cnn_dataset cnn_dataset;

/* Opens the dataset described by spec (copied): decodes an IDX dataset,
 * indexes a folder (the first image's header is read for a NULL
 * sample_shape; no other image is opened). On failure *out is NULL and the
 * context message names the spec, and the file with its problem. The
 * dataset is immutable after opening; its accessors may be called from any
 * thread (those taking a context: each thread with its own). */
cnn_status cnn_dataset_open(cnn_context *ctx, const char *spec,
                            const cnn_shape *sample_shape, cnn_dataset **out);
/* Frees the dataset; NULL is a no-op. No loader may still use it. */
void cnn_dataset_destroy(cnn_dataset *ds);

/* The spec the dataset was opened with. */
const char *cnn_dataset_spec(const cnn_dataset *ds);
size_t cnn_dataset_size(const cnn_dataset *ds);
/* {1, C, H, W} of every sample. */
cnn_shape cnn_dataset_sample_shape(const cnn_dataset *ds);
size_t cnn_dataset_class_count(const cnn_dataset *ds);
/* Owned by the dataset; NULL when i is out of range. */
const char *cnn_dataset_class_name(const cnn_dataset *ds, size_t i);
/* Label of item i (0 <= label < class count); -1 when i is out of range. */
int32_t cnn_dataset_label(const cnn_dataset *ds, size_t i);
/* All labels, cnn_dataset_size of them; owned by the dataset. */
const int32_t *cnn_dataset_labels(const cnn_dataset *ds);
/* Writes item i as C*H*W bytes, CHW order, into out: a copy for an
 * in-memory dataset, a decode of its file for a streamed one (the plain
 * sample of "Sample geometry", no augmentation). Fails, writing an
 * undefined sample, when i is out of range or the file cannot be read or
 * decoded (the message names the file). */
cnn_status cnn_dataset_sample_u8(cnn_context *ctx, const cnn_dataset *ds,
                                 size_t i, uint8_t *out);
/* The same sample as C*H*W floats in [0, 1] (value / 255). */
cnn_status cnn_dataset_sample(cnn_context *ctx, const cnn_dataset *ds,
                              size_t i, float *out);
/* 1 for a streamed (folder, file or encoded pack) dataset, whose samples
 * are decoded on demand, else 0. */
int cnn_dataset_streamed(const cnn_dataset *ds);
/* The size in bytes of item i's file when the dataset was opened, or of
 * its encoded pack record (streamed datasets; a cheap identity of the data
 * for checks across processes); -1 for other kinds or out of range. */
int64_t cnn_dataset_item_file_size(const cnn_dataset *ds, size_t i);
/* For folder and file datasets the image file of item i (for predictions
 * and error reports), owned by the dataset; NULL for other kinds (packs
 * included) or out of range. */
const char *cnn_dataset_item_path(const cnn_dataset *ds, size_t i);

/* Opens the n_paths PNG or JPEG files in paths (copied) as a dataset whose
 * item i is paths[i], for predicting on images that belong to no dataset.
 * Each image is decoded, converted and fitted to sample_shape exactly as a
 * folder dataset's (see "Sample geometry" above; NULL keeps the first
 * image's geometry). Every file is read and its header checked before this
 * returns (on the first that cannot be read or is no PNG or JPEG *out is
 * NULL and the message names the file and the reason); pixels are decoded
 * when a sample is asked for, like a folder's. The dataset has no classes: its class count is 0,
 * every label is 0 (the one exception to 0 <= label < class count), and
 * cnn_dataset_spec gives "files". */
cnn_status cnn_dataset_open_files(cnn_context *ctx, const char *const *paths,
                                  size_t n_paths,
                                  const cnn_shape *sample_shape,
                                  cnn_dataset **out);

/* Relabels ds for a model whose n outputs are named names[0..n-1] (NULL or
 * "" for an unnamed output). by_name: each dataset class must be one of
 * names (else an error names the unknown classes and the model's), and its
 * items take that output's index; otherwise classes keep their position
 * and there must be at most n. Afterwards the dataset has n classes, named
 * by names (unnamed ones by the data's own name or the index). */
cnn_status cnn_dataset_map_classes(cnn_context *ctx, cnn_dataset *ds,
                                   const char *const *names, size_t n,
                                   int by_name);

/* Splits ds into two new datasets, as Keras's validation_split but
 * stratified: round(fraction x size) items go to *val, each class giving
 * its share (floor, then the largest remainders; at least one item of each
 * class stays for training), taken from the class's last items in the
 * dataset's order; the rest go to *train, keeping their order. Both have ds's
 * classes; ds is unchanged, and may be destroyed before them (the parts of
 * a pack share its mapping, which stays until the last is destroyed). Fails when fraction is not in (0, 1) or no
 * item is held out. */
cnn_status cnn_dataset_split(cnn_context *ctx, const cnn_dataset *ds,
                             double fraction, cnn_dataset **train,
                             cnn_dataset **val);

/* ---- batch loader ---- */

typedef struct cnn_loader cnn_loader;

typedef struct cnn_loader_options {
    size_t batch;        /* samples per batch, >= 1 */
    uint64_t seed;       /* shuffling and augmentation */
    int shuffle;         /* a new permutation each epoch */
    int drop_last;       /* skip a final short batch */
    int flip;            /* horizontal flip with probability 0.5 */
    int32_t crop_padding; /* random H x W crop of the sample zero-padded by
                           * this many pixels on each side; 0 = off */
    const float *mean;   /* C values subtracted, or NULL for 0; copied */
    const float *std;    /* C values divided by, or NULL for 1; copied */
    int prefetch;        /* batches prepared ahead by background threads
                          * (0: everything in the caller's thread). The
                          * loader holds prefetch + 1 batches: memory is
                          * bounded by that, not by the dataset. If no
                          * thread can start, loading stays in the
                          * foreground with a warning to the logger */
    /* Split every batch into `shards` consecutive parts (0 or 1: whole
     * batches) and hand out only part `shard`, for data-parallel training:
     * the batches, their order and each sample's augmentation stay those of
     * the whole batch. A batch of n samples gives the first n % shards parts
     * one sample more than the others; a part may be empty (count 0 from
     * cnn_loader_next before the epoch's end: count batches with
     * cnn_loader_batch_count). */
    size_t shard;
    size_t shards;
    /* Background threads decoding and preparing samples (with prefetch;
     * 0 = 1). The caller's thread helps with the batch it waits for. */
    int threads;
    /* A sample whose image fails to decode is dropped from its batch (the
     * batch comes out shorter) and counted (cnn_loader_skipped), instead
     * of cnn_loader_next failing with a message naming the file. */
    int skip_bad;
    /* Streamed datasets only (folders, files, encoded packs).
     * random_resized_crop: torchvision's
     * RandomResizedCrop(scale, ratio) at full resolution (10 tries, then
     * the centre crop), the box mirrored when flip draws so, then stretched
     * to H x W; crop_padding must be 0. Otherwise center_crop in (0, 1]
     * (0 = 1) is the share of the image's cover that is kept: the image is
     * scaled so that it covers H/center_crop x W/center_crop and its centre
     * H x W kept (0.875: torchvision's Resize(256) then CenterCrop(224)). */
    int random_resized_crop;
    double scale[2];     /* RandomResizedCrop's area range (0.08, 1) */
    double ratio[2];     /* its aspect range (3/4, 4/3) */
    double center_crop;
} cnn_loader_options;

/* Defaults: batch 1, seed 0, shuffle off, drop_last off, no augmentation,
 * no normalisation, prefetch 1 on 1 thread, no skipping, the
 * RandomResizedCrop ranges of torchvision (off), center_crop 1. */
void cnn_loader_options_init(cnn_loader_options *opts);

/* Creates a loader over ds; ds and ctx must outlive it, and the loader's
 * calls report their errors on ctx. A sample becomes
 *   out = (pixel / 255 - mean[c]) / std[c]
 * after augmentation; padding pixels are 0 before normalisation (as
 * torchvision's RandomCrop(padding) then Normalize). Batches depend only on
 * (seed, epoch, batch index): the permutation of an epoch is a Fisher-Yates
 * shuffle driven by (seed, epoch), and a sample's flip and crop offsets are
 * drawn from (seed, epoch, dataset index), so results are bit-identical with
 * and without prefetch, whatever the thread count, and after
 * cnn_loader_set_position. With shards, only this part's samples are ever
 * read or decoded. */
cnn_status cnn_loader_create(cnn_context *ctx, const cnn_dataset *ds,
                             const cnn_loader_options *opts,
                             cnn_loader **out);
/* Stops the prefetch thread and frees the loader; NULL is a no-op. */
void cnn_loader_destroy(cnn_loader *loader);

/* Batches per epoch (the final short one included unless drop_last). */
size_t cnn_loader_batch_count(const cnn_loader *loader);

/* Starts epoch `epoch` at its first batch. */
cnn_status cnn_loader_begin_epoch(cnn_loader *loader, uint64_t epoch);
/* Starts epoch `epoch` at batch batch_index (<= batch count), so that a
 * resumed run sees exactly the batches an uninterrupted one would have. */
cnn_status cnn_loader_set_position(cnn_loader *loader, uint64_t epoch,
                                   size_t batch_index);
/* The next batch of the current epoch: images is set to a [n, C, H, W]
 * view, *labels to n labels and *count to n. Both buffers belong to the
 * loader and stay valid until the next cnn_loader_next or
 * cnn_loader_destroy (the caller may overwrite them). At the end of the
 * epoch, *count is 0, images has n = 0 and *labels is NULL. Fails when no
 * epoch was begun, or (without skip_bad) when an image of the batch cannot
 * be read or decoded: the message names the file of the batch's first
 * such sample; the loader can go on with a new set_position. */
cnn_status cnn_loader_next(cnn_loader *loader, cnn_tensor *images,
                           const int32_t **labels, size_t *count);
/* Where the part last returned by cnn_loader_next lies in its whole batch:
 * the whole batch's size and the part's first sample (0 without shards). */
void cnn_loader_last_part(const cnn_loader *loader, size_t *batch_size,
                          size_t *offset);
/* With skip_bad: the samples dropped from the batches handed out since the
 * epoch was begun (or set_position), and the message of the first of them
 * (naming its file; "" when none). */
size_t cnn_loader_skipped(const cnn_loader *loader);
const char *cnn_loader_first_skipped(const cnn_loader *loader);

/* A default number of loader threads for a process that computes on
 * compute_threads: the cores left over, at least 1 and at most 8. */
int cnn_loader_default_threads(int compute_threads);

/* Dataset indices of the current epoch in visiting order (size of the
 * dataset); owned by the loader, valid until the next begin/set_position.
 * NULL before the first epoch is begun. */
const size_t *cnn_loader_order(const cnn_loader *loader);

#ifdef __cplusplus
}
#endif
#endif
