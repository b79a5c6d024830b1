/* SPDX-License-Identifier: MIT */
/* The file that keeps the GEMM calibration's decisions between processes
 * (gemm_calib.c measures; this file only reads, writes and locks). */
#ifndef CNN_PLUGIN_GEMM_CACHE_H
#define CNN_PLUGIN_GEMM_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* A shape class's key: the kind of product (0 GEMM, 1 GEMV), the two
 * transposes, and the size bucket of m, n and k (gemm_cache_bucket). */
#define GEMM_KEY(kind, ta, tb, bm, bn, bk)                                   \
    ((uint32_t)(kind) << 20 | (uint32_t)(ta) << 19 | (uint32_t)(tb) << 18 | \
     (uint32_t)(bm) << 12 | (uint32_t)(bn) << 6 | (uint32_t)(bk))
#define GEMM_KEY_MASK ((1u << 21) - 1u)
#define GEMM_BUCKETS 64

/* Half-octave buckets: 2^e and 1.5 * 2^e start one each, so sizes within
 * a factor of about 1.4 share a decision. 0 and 1 are bucket 0. */
unsigned gemm_cache_bucket(size_t size);
/* The smallest size in bucket b (what the file shows). */
size_t gemm_cache_bucket_start(unsigned b);

/* One decided shape class: its key (gemm_calib.c's packing of kind,
 * transposes and size buckets), the implementation chosen (1 OpenBLAS,
 * 2 ours, as cnn_gemm_impl) and the measured microseconds per call of
 * ours and of OpenBLAS, kept for people reading the file. */
typedef struct gemm_cache_entry {
    uint32_t key;
    int impl;
    double us_ours, us_blas;
} gemm_cache_entry;

/* The cache file for this machine key: $CNN_GEMM_CACHE when set (empty:
 * no file), else $XDG_CACHE_HOME/cnnrun/gemm-<hash of key>.txt, else
 * $HOME/.cache/cnnrun/...; the folders are created. malloc'd, or NULL when
 * there is to be no file. */
char *gemm_cache_path(const char *machine_key);

/* An exclusive lock on path's companion "<path>.lock", held across
 * processes while one of them calibrates, so that two processes never
 * measure at once (which would disturb both) nor decide a class
 * differently. Returns the descriptor to pass to gemm_cache_unlock, or -1
 * (no lock could be had; the caller goes on without). */
int gemm_cache_lock(const char *path);
void gemm_cache_unlock(int fd);

/* CNN_GEMM_CALIBRATE=reset: removes path, once per process (lock_fd from
 * gemm_cache_lock, which records the process id in the lock file). Every
 * plugin links its own copy of the GEMM library, so "once per process"
 * cannot be a static flag: the second copy must keep what the first one
 * measured after the reset. */
void gemm_cache_forget_once(int lock_fd, const char *path);

/* Reads path's entries, for machine_key. Returns the count read (entries
 * in *out, malloc'd, NULL when 0), or -1 when the file is missing,
 * unreadable, for another key, or malformed in any line: the caller then
 * measures again and rewrites it. Never more than max_entries. */
long gemm_cache_load(const char *path, const char *machine_key,
                     size_t max_entries, gemm_cache_entry **out);

/* Writes all entries to path atomically (a temporary file in the same
 * folder, renamed over it): a reader sees the old file or the new one.
 * 0, or -1 on any failure (the cache is then simply not kept). */
int gemm_cache_save(const char *path, const char *machine_key,
                    const gemm_cache_entry *entries, size_t count);

#endif
