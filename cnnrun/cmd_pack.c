/* SPDX-License-Identifier: MIT */
/* cnnrun pack SPEC --out FILE: a dataset written as one packed file
 * (cnn/pack.h), read back with the "pack:FILE" spec; and cnnrun pack
 * --read SPEC, which opens any dataset and walks one epoch of it through
 * the loader, to check a pack and to time reading against decoding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "cnn/data.h"
#include "cnn/file_read.h"
#include "cnn/image.h"
#include "cnn/pack.h"
#include "commands.h"
#include "progress.h"

static const char pack_usage[] =
    "Usage: cnnrun pack SPEC --out FILE [--size [Cx]HxW] [--encoded]\n"
    "       cnnrun pack --read SPEC [--size [Cx]HxW] [--json]\n"
    "Writes the dataset SPEC (see cnnrun train --help: folder:, idx:,\n"
    "fashion-mnist:, pack:, with @N or [A:B]) as one packed file of\n"
    "records, labels, class names and a CRC-32, read back with the spec\n"
    "pack:FILE (which takes @N, [A:B] and --val-split like any other).\n"
    "Records are in SPEC's order.\n\n"
    "  --out FILE        the pack to write (replaced atomically)\n"
    "  --size [Cx]HxW    raw records of C x H x W uint8, fitted exactly as\n"
    "                    SPEC fits samples to a graph of that input (folder\n"
    "                    images: scaled to cover H x W keeping the aspect\n"
    "                    ratio, then centre-cropped; IDX images: centred on\n"
    "                    an H x W canvas). C defaults to 1 for idx: and\n"
    "                    fashion-mnist:, else 3. Without --size: the source's\n"
    "                    own geometry (a folder's: its first image's).\n"
    "                    Reading a raw pack decodes nothing; a graph whose\n"
    "                    input is another size is refused.\n"
    "  --encoded         keep each image file's own PNG or JPEG bytes\n"
    "                    (folder: sources only; the images are checked to\n"
    "                    decode); reading decodes them as batches need them,\n"
    "                    exactly as the folder's files (any graph size,\n"
    "                    --augment imagenet at full resolution, --center-crop)\n"
    "  --read SPEC       open SPEC, read every sample's bytes once, then\n"
    "                    walk one epoch through the training loader, and\n"
    "                    report the times and the peak resident memory (for\n"
    "                    checking a pack and comparing reading with decoding)\n"
    "  --batch B         loader batch of --read (default 256)\n"
    "  --json            --read's report as one JSON object\n";

enum {
    OPT_OUT = CLI_OPT_FIRST_COMMAND,
    OPT_SIZE,
    OPT_ENCODED,
    OPT_READ,
    OPT_BATCH,
    OPT_JSON
};

/* "HxW" or "CxHxW"; C defaults from the spec's kind. */
static int parse_size(const char *text, const char *spec, int64_t dims[3])
{
    long long v[3];
    int n = 0;
    const char *p = text;
    for (;;) {
        char part[32];
        size_t len = strcspn(p, "x");
        if (n == 3 || len == 0 || len >= sizeof part)
            return 0;
        memcpy(part, p, len);
        part[len] = '\0';
        if (!cli_parse_int(part, 1, 16384, &v[n]))
            return 0;
        n++;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    if (n == 2) {
        int gray = strncmp(spec, "idx:", 4) == 0 ||
                   strncmp(spec, "fashion-mnist:", 14) == 0;
        dims[0] = gray ? 1 : 3;
        dims[1] = v[0];
        dims[2] = v[1];
        return 1;
    }
    if (n == 3 && (v[0] == 1 || v[0] == 3)) {
        dims[0] = v[0];
        dims[1] = v[1];
        dims[2] = v[2];
        return 1;
    }
    return 0;
}

/* Progress on stderr about once a second. */
static void report_progress(const cli_common *common, size_t done,
                            size_t total, double *last)
{
    double now = progress_now();
    if (common->quiet || (now - *last < 1.0 && done != total))
        return;
    *last = now;
    fprintf(stderr, "cnnrun pack: %zu of %zu records\n", done, total);
}

static cnn_status add_records(const cli_common *common, cnn_context *ctx,
                              cnn_pack_writer *w, const cnn_dataset *ds,
                              int encoded)
{
    size_t n = cnn_dataset_size(ds);
    cnn_shape s = cnn_dataset_sample_shape(ds);
    size_t bytes = cnn_shape_numel(&s);
    double last = progress_now();
    /* Folders stream: each record is decoded into this one buffer. */
    uint8_t *sample = encoded ? NULL : malloc(bytes ? bytes : 1);
    cnn_status st = encoded || sample
                        ? CNN_OK
                        : cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == CNN_OK && i < n; i++) {
        if (encoded) {
            unsigned char *data;
            size_t size;
            uint8_t tiny[1]; /* the dataset's samples are 1x1x1 */
            /* The folder streams: decoding the file here (to the smallest
             * size its JPEG allows) is what checks it is an image. */
            st = cnn_dataset_sample_u8(ctx, ds, i, tiny);
            if (st == CNN_OK)
                st = cnn_file_read_all(ctx, cnn_dataset_item_path(ds, i),
                                       CNN_IMAGE_MAX_FILE_BYTES,
                                       "image file", &data, &size);
            if (st == CNN_OK) {
                st = cnn_pack_writer_add(w, data, size);
                free(data);
            }
        } else {
            st = cnn_dataset_sample_u8(ctx, ds, i, sample);
            if (st == CNN_OK)
                st = cnn_pack_writer_add(w, sample, bytes);
        }
        report_progress(common, i + 1, n, &last);
    }
    free(sample);
    return st;
}

static int write_pack(const cli_common *common, cnn_context *ctx,
                      const char *spec, const char *out, const int64_t *dims,
                      int encoded)
{
    cnn_dataset *ds = NULL;
    cnn_pack_writer *w = NULL;
    cnn_pack_header h;
    const char **names = NULL;
    /* Encoded records keep the files: the dataset is opened only for its
     * items, labels and classes (and to check every image decodes), so
     * its samples are made as small as they can be. */
    const int64_t tiny[3] = {1, 1, 1};
    const int64_t *want = encoded ? tiny : dims;
    cnn_shape shape;
    double started = progress_now();
    int code = CLI_OK;
    if (!common->quiet)
        fprintf(stderr, "cnnrun pack: opening %s\n", spec);
    if (want)
        shape = cnn_shape_make(3, want);
    if (cnn_dataset_open(ctx, spec, want ? &shape : NULL, &ds) != CNN_OK)
        return cli_fail(common, ctx);
    if (encoded && !cnn_dataset_item_path(ds, 0)) {
        cnn_dataset_destroy(ds);
        return cli_failf(common, "--encoded keeps image files' bytes, and %s "
                         "has no image files (use a folder: source, or raw "
                         "records)", spec);
    }
    memset(&h, 0, sizeof h);
    h.kind = encoded ? CNN_PACK_ENCODED : CNN_PACK_RAW;
    h.count = cnn_dataset_size(ds);
    if (!encoded) {
        cnn_shape s = cnn_dataset_sample_shape(ds);
        h.channels = (int32_t)s.dims[1];
        h.height = (int32_t)s.dims[2];
        h.width = (int32_t)s.dims[3];
    }
    h.n_classes = cnn_dataset_class_count(ds);
    h.labels = cnn_dataset_labels(ds);
    names = malloc((h.n_classes ? h.n_classes : 1) * sizeof *names);
    if (!names) {
        cnn_dataset_destroy(ds);
        return cli_failf(common, "out of memory");
    }
    for (size_t c = 0; c < h.n_classes; c++)
        names[c] = cnn_dataset_class_name(ds, c);
    h.class_names = names;
    if (cnn_pack_writer_open(ctx, out, &h, &w) != CNN_OK ||
        add_records(common, ctx, w, ds, encoded) != CNN_OK) {
        code = cli_fail(common, ctx);
        cnn_pack_writer_abort(w);
    } else if (cnn_pack_writer_commit(w) != CNN_OK) {
        code = cli_fail(common, ctx);
    } else if (!common->quiet) {
        if (encoded)
            fprintf(stderr, "cnnrun pack: wrote %s: %zu encoded records, %zu "
                    "classes, in %.1f s\n", out, h.count, h.n_classes,
                    progress_now() - started);
        else
            fprintf(stderr, "cnnrun pack: wrote %s: %zu raw records of "
                    "%dx%dx%d, %zu classes, in %.1f s\n", out, h.count,
                    (int)h.channels, (int)h.height, (int)h.width,
                    h.n_classes, progress_now() - started);
    }
    free(names);
    cnn_dataset_destroy(ds);
    return code;
}

/* One epoch of ds through the loader as training would take it (uint8 to
 * floats, prefetched); a checksum of the floats and labels keeps the work
 * from being optimised away and tells two datasets' contents apart. */
static cnn_status walk_epoch(cnn_context *ctx, const cnn_dataset *ds,
                             size_t batch, double *checksum)
{
    cnn_loader *loader = NULL;
    cnn_loader_options lo;
    cnn_status st;
    double sum = 0;
    cnn_loader_options_init(&lo);
    lo.batch = batch;
    st = cnn_loader_create(ctx, ds, &lo, &loader);
    if (st == CNN_OK)
        st = cnn_loader_begin_epoch(loader, 0);
    while (st == CNN_OK) {
        cnn_tensor images;
        const int32_t *labels;
        size_t n;
        st = cnn_loader_next(loader, &images, &labels, &n);
        if (st != CNN_OK || n == 0)
            break;
        /* Every 61st value, weighted by its place: a small fraction of
         * the epoch's cost, yet it tells differing samples apart. */
        size_t total = cnn_shape_numel(&images.shape);
        for (size_t k = 0; k < total; k += 61)
            sum += (double)images.data[k] * (double)(1 + k % 13);
        for (size_t i = 0; i < n; i++)
            sum += labels[i];
    }
    cnn_loader_destroy(loader);
    *checksum = sum;
    return st;
}

/* Every sample's bytes as the dataset holds them (no loader): what the
 * source itself costs to read once it is open. */
static cnn_status walk_samples(cnn_context *ctx, const cnn_dataset *ds,
                               double *touched)
{
    cnn_shape s = cnn_dataset_sample_shape(ds);
    size_t bytes = cnn_shape_numel(&s);
    double sum = 0;
    uint8_t *p = malloc(bytes ? bytes : 1);
    if (!p)
        return cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < cnn_dataset_size(ds); i++) {
        unsigned acc = 0;
        cnn_status st = cnn_dataset_sample_u8(ctx, ds, i, p);
        if (st != CNN_OK) {
            free(p);
            return st;
        }
        /* One byte a 64-byte line: every line of the sample is touched. */
        for (size_t k = 0; k < bytes; k += 64)
            acc += p[k];
        sum += acc;
    }
    free(p);
    *touched = sum;
    return CNN_OK;
}

static int read_dataset(const cli_common *common, cnn_context *ctx,
                        const char *spec, const int64_t *dims, size_t batch,
                        int json)
{
    cnn_dataset *ds = NULL;
    cnn_shape shape;
    double t0 = progress_now(), t1, t2, t3, checksum = 0, touched = 0;
    double peak_mb;
    cnn_shape s;
    size_t n;
    if (dims)
        shape = cnn_shape_make(3, dims);
    if (cnn_dataset_open(ctx, spec, dims ? &shape : NULL, &ds) != CNN_OK)
        return cli_fail(common, ctx);
    t1 = progress_now();
    if (walk_samples(ctx, ds, &touched) != CNN_OK) {
        cnn_dataset_destroy(ds);
        return cli_fail(common, ctx);
    }
    t2 = progress_now();
    if (walk_epoch(ctx, ds, batch, &checksum) != CNN_OK) {
        cnn_dataset_destroy(ds);
        return cli_fail(common, ctx);
    }
    t3 = progress_now();
    s = cnn_dataset_sample_shape(ds);
    n = cnn_dataset_size(ds);
    /* The process's peak resident size: what opening and reading the
     * source cost in memory (a raw pack's mapped pages included). */
    peak_mb = (double)bench_peak_rss() / (1024.0 * 1024.0);
    if (json)
        printf("{\"items\": %zu, \"classes\": %zu, \"shape\": [%lld, %lld, "
               "%lld], \"open_seconds\": %.6f, \"read_seconds\": %.6f, "
               "\"epoch_seconds\": %.6f, \"read_images_per_second\": %.1f, "
               "\"images_per_second\": %.1f, \"checksum\": %.6f, "
               "\"touched\": %.0f, \"peak_rss_mb\": %.1f}\n",
               n, cnn_dataset_class_count(ds), (long long)s.dims[1],
               (long long)s.dims[2], (long long)s.dims[3], t1 - t0, t2 - t1,
               t3 - t2, (double)n / (t2 - t0),
               (double)n / (t1 - t0 + t3 - t2), checksum, touched, peak_mb);
    else
        printf("%s: %zu items, %zu classes, %lldx%lldx%lld; open %.3f s, "
               "read %.3f s, loader epoch %.3f s: %.0f images/s read, %.0f "
               "through the loader; peak RSS %.0f MB\n",
               spec, n, cnn_dataset_class_count(ds), (long long)s.dims[1],
               (long long)s.dims[2], (long long)s.dims[3], t1 - t0, t2 - t1,
               t3 - t2, (double)n / (t2 - t0),
               (double)n / (t1 - t0 + t3 - t2), peak_mb);
    cnn_dataset_destroy(ds);
    return CLI_OK;
}

int cmd_pack(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"out", required_argument, NULL, OPT_OUT},
        {"size", required_argument, NULL, OPT_SIZE},
        {"encoded", no_argument, NULL, OPT_ENCODED},
        {"read", required_argument, NULL, OPT_READ},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"json", no_argument, NULL, OPT_JSON},
        {0, 0, 0, 0}};
    cli_common common;
    const char *out = NULL, *size = NULL, *read = NULL, *spec;
    int encoded = 0, json = 0, opt, code = CLI_OK;
    long long batch = 256;
    int64_t dims[3];
    cnn_context *ctx;

    cli_common_init(&common, "pack", pack_usage);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (cli_common_option(&common, opt, optarg, &code)) {
            if (code != CLI_OK || common.help)
                return code;
            continue;
        }
        switch (opt) {
        case OPT_OUT: out = optarg; break;
        case OPT_SIZE: size = optarg; break;
        case OPT_ENCODED: encoded = 1; break;
        case OPT_READ: read = optarg; break;
        case OPT_JSON: json = 1; break;
        case OPT_BATCH:
            if (!cli_parse_int(optarg, 1, 65536, &batch))
                return cli_usage_error(&common, "--batch wants a whole number from 1 to 65536, got '%s'", optarg);
            break;
        default: return cli_usage_error(&common, "unknown option");
        }
    }
    if (read) {
        if (optind != argc || out || encoded)
            return cli_usage_error(&common, "--read takes one SPEC and no --out or --encoded");
        spec = read;
    } else {
        if (optind + 1 != argc)
            return cli_usage_error(&common, "expected one dataset SPEC");
        if (!out)
            return cli_usage_error(&common, "--out FILE is required");
        if (encoded && size)
            return cli_usage_error(&common, "--encoded keeps the files as they are: no --size (choose it when reading)");
        spec = argv[optind];
    }
    if (size && !parse_size(size, spec, dims))
        return cli_usage_error(&common, "--size wants HxW or CxHxW (C 1 or 3, sides 1..16384), got '%s'", size);
    ctx = cli_context(&common);
    if (!ctx)
        return CLI_FAIL;
    if (read)
        code = read_dataset(&common, ctx, spec, size ? dims : NULL,
                            (size_t)batch, json);
    else
        code = write_pack(&common, ctx, spec, out, size ? dims : NULL,
                          encoded);
    cnn_context_destroy(ctx);
    return code;
}
