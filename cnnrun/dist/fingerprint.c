/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fingerprint.h"

uint64_t fingerprint_bytes(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    /* Eight bytes at a time: the training set is tens of megabytes and
     * every rank hashes it at start-up. */
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    while (n--) {
        h ^= *p++;
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t fingerprint_dataset(const cnn_dataset *ds)
{
    size_t n = cnn_dataset_size(ds);
    cnn_shape s = cnn_dataset_sample_shape(ds);
    size_t bytes = (size_t)(s.dims[1] * s.dims[2] * s.dims[3]);
    uint64_t h = fingerprint_bytes(FINGERPRINT_SEED, &n, sizeof n);
    h = fingerprint_bytes(h, cnn_dataset_labels(ds), n * sizeof(int32_t));
    if (cnn_dataset_streamed(ds)) {
        /* Paths and sizes of the files, or of an encoded pack's records
         * (which have no path; the pack's own CRC-32 covers their bytes). */
        for (size_t i = 0; i < n; i++) {
            const char *path = cnn_dataset_item_path(ds, i);
            int64_t size = cnn_dataset_item_file_size(ds, i);
            if (path)
                h = fingerprint_bytes(h, path, strlen(path) + 1);
            h = fingerprint_bytes(h, &size, sizeof size);
        }
    } else {
        unsigned char *sample = malloc(bytes ? bytes : 1);
        /* An in-memory sample is a copy that cannot fail; a failed
         * allocation leaves the pixels out, which the other ranks' hashes
         * then tell. */
        for (size_t i = 0; sample && i < n; i++)
            if (cnn_dataset_sample_u8(NULL, ds, i, sample) == CNN_OK)
                h = fingerprint_bytes(h, sample, bytes);
        free(sample);
    }
    for (size_t c = 0; c < cnn_dataset_class_count(ds); c++) {
        const char *name = cnn_dataset_class_name(ds, c);
        h = fingerprint_bytes(h, name, strlen(name) + 1);
    }
    return h;
}

uint64_t fingerprint_params(cnn_params *params)
{
    return fingerprint_bytes(FINGERPRINT_SEED, cnn_params_data(params),
                             cnn_params_numel(params) * sizeof(float));
}

void fingerprint_add(fingerprint *fp, const char *what, uint64_t hash)
{
    if (fp->count < FINGERPRINT_MAX) {
        fp->what[fp->count] = what;
        fp->hash[fp->count++] = hash;
    }
}

int fingerprint_compare(dist_comm *c, const char *command,
                        const fingerprint *fp)
{
    uint64_t *all;
    int differ = 0;
    if (!dist_active(c))
        return 0;
    all = calloc((size_t)c->size * FINGERPRINT_MAX, sizeof *all);
    if (!all) {
        dist_say(c, command, "out of memory");
        c->abort(c, 1);
        return 1;
    }
    c->allgather(c, fp->hash, all, FINGERPRINT_MAX * sizeof *all);
    for (int r = 1; r < c->size; r++)
        for (size_t k = 0; k < fp->count; k++) {
            if (all[(size_t)r * FINGERPRINT_MAX + k] == all[k])
                continue;
            if (c->rank == 0)
                fprintf(stderr,
                        "cnnrun %s: error: rank %d differs from rank 0 in its "
                        "%s (fingerprint %016llx, rank 0 has %016llx); every "
                        "rank must run the same command on the same files\n",
                        command, r, fp->what[k],
                        (unsigned long long)all[(size_t)r * FINGERPRINT_MAX + k],
                        (unsigned long long)all[k]);
            differ = 1;
        }
    free(all);
    return differ;
}
