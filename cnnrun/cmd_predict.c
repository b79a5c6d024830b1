/* SPDX-License-Identifier: MIT */
/* cnnrun predict GRAPH --weights W [--labels FILE] [--top K] [--json]
 *                IMAGE...
 * The K most probable classes of each image. Images go through the same
 * decoder and loader as datasets (cnn_dataset_open_files, cnn_loader), so a
 * prediction sees exactly the sample an evaluation would. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "cli.h"
#include "data_options.h"
#include "cnn/file_read.h"
#include "cnn/data.h"
#include "cnn/exec.h"
#include "commands.h"
#include "model.h"
#include "rename_option.h"

static const char predict_usage[] =
    "Usage: cnnrun predict GRAPH --weights W.safetensors [--labels FILE]\n"
    "                      [--top K] [--json] IMAGE...\n"
    "The K most probable classes of each PNG or JPEG image, with their\n"
    "probabilities (the softmax of the graph's scores). Images are decoded,\n"
    "converted and resized as folder datasets are, and normalised with the\n"
    "graph's input mean and std. All images are decoded before any is\n"
    "predicted: an unreadable one stops the run with an error naming it and\n"
    "nothing is printed for the others.\n"
    "Class names come from --labels, else the graph's input classes, else\n"
    "those `cnnrun train` stored with the weights, else\n"
    "the class index.\n\n"
    "  --weights FILE    trained weights\n"
    RENAME_OPTION_HELP
    "  --labels FILE     class names, one per line (blank lines skipped);\n"
    "                    as many as the graph has classes\n"
    "  --top K           classes shown per image (default 5, at most the\n"
    "                    class count)\n"
    "  --batch B         images per pass (default 32)\n"
    "  --json            a JSON array of {\"image\", \"top\": [{\"class\",\n"
    "                    \"index\", \"probability\"}, ...]}\n"
    DATA_HELP;

enum {
    OPT_WEIGHTS = CLI_OPT_FIRST_COMMAND,
    OPT_RENAME,
    OPT_LABELS,
    OPT_TOP,
    OPT_BATCH,
    OPT_JSON
};

/* Larger label files are refused: no classifier has that many names. */
#define LABELS_MAX_BYTES (64u * 1024u * 1024u)
/* Names wider than this do not widen the text column. */
#define NAME_COLUMN_MAX 40

typedef struct ranked {
    int64_t index;
    double p;
} ranked;

typedef struct label_list {
    char **names;
    size_t count;
} label_list;

static void labels_free(label_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->names[i]);
    free(l->names);
    l->names = NULL;
    l->count = 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Splits text (len bytes) into trimmed, non-blank lines. Returns NULL on
 * success, else a reason; *line is the offending line number. */
static const char *split_lines(const char *text, size_t len, label_list *out,
                               size_t *line)
{
    size_t cap = 0, pos = 0;
    /* A UTF-8 byte-order mark is an editor's artefact, not part of a name. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    for (*line = 1; pos < len; (*line)++) {
        const char *start = text + pos, *nl;
        size_t n, end;
        char *name;
        nl = memchr(start, '\n', len - pos);
        end = nl ? (size_t)(nl - start) : len - pos;
        pos += end + (nl != NULL);
        if (memchr(start, '\0', end))
            return "contains a NUL byte";
        n = end;
        while (n > 0 && is_blank(start[n - 1]))
            n--;
        while (n > 0 && is_blank(*start)) {
            start++;
            n--;
        }
        if (n == 0)
            continue;
        if (out->count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **grown = realloc(out->names, ncap * sizeof *grown);
            if (!grown)
                return "out of memory";
            out->names = grown;
            cap = ncap;
        }
        name = malloc(n + 1);
        if (!name)
            return "out of memory";
        memcpy(name, start, n);
        name[n] = '\0';
        out->names[out->count++] = name;
    }
    return NULL;
}

/* Reads the --labels file; prints the error and returns CLI_FAIL when it
 * cannot be read or its count differs from the graph's classes. */
static int labels_read(const cli_common *common, cnn_context *ctx,
                       const char *path, const cnn_graph *graph,
                       int64_t classes, label_list *out)
{
    unsigned char *bytes;
    char *text;
    size_t len, line = 0;
    const char *why;
    memset(out, 0, sizeof *out);
    if (cnn_file_read_all(ctx, path, LABELS_MAX_BYTES, "class list", &bytes,
                          &len) != CNN_OK)
        return cli_fail(common, ctx);
    text = (char *)bytes;
    why = split_lines(text, len, out, &line);
    free(text);
    if (why) {
        labels_free(out);
        return cli_failf(common, "%s:%zu: %s", path, line, why);
    }
    if ((int64_t)out->count != classes) {
        size_t got = out->count;
        labels_free(out);
        return cli_failf(common, "%s has %zu class names but graph '%s' "
                         "outputs %lld classes", path, got,
                         cnn_graph_name(graph), (long long)classes);
    }
    return CLI_OK;
}

static int compare_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->p != y->p)
        return x->p > y->p ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Ranks one image's scores: probabilities straight from a softmax output,
 * else the softmax of the logits (in double, shifted by the maximum so exp
 * never overflows). Returns 0 when a score is not finite. */
static int rank_row(const float *z, int64_t classes, int probabilities,
                    ranked *all)
{
    double max = -INFINITY, sum = 0.0;
    for (int64_t c = 0; c < classes; c++) {
        if (!isfinite(z[c]))
            return 0;
        if (z[c] > max)
            max = z[c];
    }
    for (int64_t c = 0; c < classes; c++) {
        all[c].index = c;
        all[c].p = probabilities ? (double)z[c] : exp((double)z[c] - max);
        sum += all[c].p;
    }
    if (!probabilities)
        for (int64_t c = 0; c < classes; c++)
            all[c].p /= sum;
    qsort(all, (size_t)classes, sizeof *all, compare_ranked);
    return 1;
}

/* Runs every image through the whole graph; keeps the top k of each in
 * top (n x k). */
static cnn_status predict_all(cnn_context *ctx, const model *m,
                              const classifier_head *head,
                              const cnn_dataset *ds, size_t batch, size_t k,
                              ranked *top)
{
    cnn_exec *ex = NULL;
    cnn_loader *loader = NULL;
    cnn_loader_options lo;
    cnn_exec_options eo = {(int64_t)batch, 0, -1, 1}; /* weights stay */
    ranked *all = malloc((size_t)head->classes * sizeof *all);
    size_t done = 0;
    cnn_status st = CNN_OK;

    if (!all)
        return cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    cnn_loader_options_init(&lo);
    lo.batch = batch;
    lo.mean = cnn_graph_input_mean(m->graph);
    lo.std = cnn_graph_input_std(m->graph);
    data_options_apply(&lo, ds, cnn_context_threads(ctx));
    st = cnn_loader_create(ctx, ds, &lo, &loader);
    if (st == CNN_OK)
        st = cnn_exec_create(ctx, m->graph, m->params, &eo, &ex);
    if (st == CNN_OK)
        st = cnn_loader_begin_epoch(loader, 0);
    while (st == CNN_OK) {
        cnn_tensor images;
        const int32_t *labels;
        const cnn_tensor *out;
        size_t n;
        st = cnn_loader_next(loader, &images, &labels, &n);
        if (st != CNN_OK || n == 0)
            break;
        st = cnn_exec_forward(ex, &images, 0, 0, head->output_layer);
        if (st != CNN_OK)
            break;
        out = cnn_exec_output(ex, head->output_layer);
        /* Without shuffling the loader hands out items in dataset order. */
        for (size_t i = 0; i < n && st == CNN_OK; i++, done++) {
            const float *z = out->data + i * (size_t)head->classes;
            if (!rank_row(z, head->classes, head->fused_softmax, all))
                st = cnn_context_fail(ctx, CNN_ERR_INVALID,
                                      "%s: graph '%s' gave a score that is "
                                      "not finite (broken weights?)",
                                      cnn_dataset_item_path(ds, done),
                                      cnn_graph_name(m->graph));
            else
                memcpy(top + done * k, all, k * sizeof *all);
        }
    }
    cnn_exec_destroy(ex);
    cnn_loader_destroy(loader);
    free(all);
    return st;
}

/* The name of class c: from --labels, the graph, or the index itself. */
static const char *class_name(const char *const *names, int64_t c, char *buf,
                              size_t size)
{
    if (names && names[c])
        return names[c];
    snprintf(buf, size, "%lld", (long long)c);
    return buf;
}

static void print_text(const cnn_dataset *ds, const char *const *names,
                       const ranked *top, size_t k)
{
    int rank_width = snprintf(NULL, 0, "%zu", k);
    for (size_t i = 0; i < cnn_dataset_size(ds); i++) {
        const ranked *r = top + i * k;
        char buf[32];
        int width = 1;
        for (size_t j = 0; j < k; j++) {
            size_t len = strlen(class_name(names, r[j].index, buf, sizeof buf));
            if (len > (size_t)width)
                width = len > NAME_COLUMN_MAX ? NAME_COLUMN_MAX : (int)len;
        }
        printf("%s\n", cnn_dataset_item_path(ds, i));
        for (size_t j = 0; j < k; j++)
            printf("  %*zu. %-*s  %6.2f%%\n", rank_width, j + 1, width,
                   class_name(names, r[j].index, buf, sizeof buf),
                   100.0 * r[j].p);
    }
}

/* A JSON string, or NULL after printing why: jansson takes UTF-8 only,
 * and file and class names need not be. */
static json_t *json_text(const cli_common *common, const char *what,
                         const char *text)
{
    json_t *s = json_string(text);
    if (!s)
        cli_failf(common, "%s '%s' is not valid UTF-8 (or memory ran out); "
                  "it cannot be written as JSON", what, text);
    return s;
}

/* {"image": path, "top": [...]}, or NULL after printing why. jansson's
 * *_set_new and *_append_new take ownership of the value even when they
 * fail, so a failed step leaks nothing. */
static json_t *image_json(const cli_common *common, const char *path,
                          const char *const *names, const ranked *r, size_t k)
{
    json_t *item = json_object(), *list = json_array(), *text;
    char buf[32];
    if (!item || !list) {
        json_decref(item);
        json_decref(list);
        cli_failf(common, "out of memory writing JSON");
        return NULL;
    }
    text = json_text(common, "image path", path);
    if (!text || json_object_set_new(item, "image", text) != 0) {
        json_decref(item);
        json_decref(list);
        if (text)
            cli_failf(common, "out of memory writing JSON");
        return NULL;
    }
    if (json_object_set_new(item, "top", list) != 0) {
        json_decref(item);
        cli_failf(common, "out of memory writing JSON");
        return NULL;
    }
    for (size_t j = 0; j < k; j++) {
        json_t *entry;
        text = json_text(common, "class name",
                         class_name(names, r[j].index, buf, sizeof buf));
        if (!text) {
            json_decref(item);
            return NULL;
        }
        entry = json_object();
        if (json_object_set_new(entry, "class", text) != 0 ||
            json_object_set_new(entry, "index", json_integer(r[j].index)) ||
            json_object_set_new(entry, "probability", json_real(r[j].p)) ||
            json_array_append_new(list, json_incref(entry)) != 0) {
            json_decref(entry);
            json_decref(item);
            cli_failf(common, "out of memory writing JSON");
            return NULL;
        }
        json_decref(entry);
    }
    return item;
}

static int print_json(const cli_common *common, const cnn_dataset *ds,
                      const char *const *names, const ranked *top, size_t k)
{
    json_t *root = json_array();
    char *dump;
    if (!root) {
        cli_failf(common, "out of memory writing JSON");
        return 0;
    }
    for (size_t i = 0; i < cnn_dataset_size(ds); i++) {
        json_t *item = image_json(common, cnn_dataset_item_path(ds, i),
                                  names, top + i * k, k);
        if (!item || json_array_append_new(root, item) != 0) {
            json_decref(root);
            if (item)
                cli_failf(common, "out of memory writing JSON");
            return 0;
        }
    }
    dump = json_dumps(root, JSON_PRESERVE_ORDER | JSON_COMPACT);
    json_decref(root);
    if (!dump) {
        cli_failf(common, "out of memory writing JSON");
        return 0;
    }
    puts(dump);
    free(dump);
    return 1;
}

/* Fills names (classes entries, NULL = print the index) from --labels,
 * else the model's names: the graph's input classes (which must match the
 * outputs; classifier_head_find checks) or those `cnnrun train` stored
 * with the weights ("" for an output trained without a class). */
static void choose_names(const model *m, int64_t classes,
                         const label_list *labels, const char **names)
{
    for (int64_t c = 0; c < classes; c++) {
        const char *name = NULL;
        if (labels->names)
            name = labels->names[c];
        else if ((size_t)c < m->n_class_names && m->class_names[c][0])
            name = m->class_names[c];
        names[c] = name;
    }
}

int cmd_predict(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        DATA_OPTIONS,
        {"weights", required_argument, NULL, OPT_WEIGHTS},
        {"rename", required_argument, NULL, OPT_RENAME},
        {"labels", required_argument, NULL, OPT_LABELS},
        {"top", required_argument, NULL, OPT_TOP},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"json", no_argument, NULL, OPT_JSON},
        {0, 0, 0, 0}};
    cli_common common;
    const char *weights = NULL, *labels_path = NULL;
    long long top_k = 5, batch = 32;
    int json = 0, opt, code = CLI_OK;
    cnn_context *ctx;
    model m = {0};
    rename_option renames = {0};
    cnn_rename_map *rename = NULL;
    classifier_head head;
    cnn_dataset *ds = NULL;
    label_list labels = {0};
    const char **names = NULL;
    ranked *top = NULL;
    size_t k, n_images;

    cli_common_init(&common, "predict", predict_usage);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (cli_common_option(&common, opt, optarg, &code)) {
            if (code != CLI_OK || common.help)
                return code;
            continue;
        }
        if (data_options_parse(opt, optarg, common.command, &code)) {
            if (code)
                return CLI_USAGE;
            continue;
        }
        if (opt == OPT_WEIGHTS)
            weights = optarg;
        else if (opt == OPT_RENAME && !rename_option_add(&renames, optarg))
            return cli_usage_error(&common, "more than %d --rename options", RENAME_OPTION_MAX);
        else if (opt == OPT_LABELS)
            labels_path = optarg;
        else if (opt == OPT_JSON)
            json = 1;
        else if (opt == OPT_TOP && !cli_parse_int(optarg, 1, 1 << 30, &top_k))
            return cli_usage_error(&common, "--top wants a whole number >= 1, got '%s'", optarg);
        else if (opt == OPT_BATCH && !cli_parse_int(optarg, 1, 65536, &batch))
            return cli_usage_error(&common, "--batch wants a whole number from 1 to 65536, got '%s'", optarg);
    }
    if (argc - optind < 2)
        return cli_usage_error(&common, "expected a GRAPH file and at least one IMAGE");
    if (!weights)
        return cli_usage_error(&common, "--weights is required");
    n_images = (size_t)(argc - optind - 1);
    if ((size_t)batch > n_images)
        batch = (long long)n_images;
    ctx = cli_context(&common);
    if (!ctx)
        return CLI_FAIL;
    if ((rename_option_build(ctx, &renames, &rename) != CNN_OK ||
         model_open_renamed(ctx, argv[optind], weights, 0, rename, &m) != CNN_OK) ||
        classifier_head_find(ctx, m.graph, &head) != CNN_OK) {
        code = cli_fail(&common, ctx);
        goto done;
    }
    if (labels_path) {
        code = labels_read(&common, ctx, labels_path, m.graph, head.classes, &labels);
        if (code != CLI_OK)
            goto done;
    }
    k = (size_t)(top_k < head.classes ? top_k : head.classes);
    if ((uint64_t)head.classes <= SIZE_MAX / sizeof *names &&
        k <= SIZE_MAX / sizeof *top / n_images) {
        names = malloc((size_t)head.classes * sizeof *names);
        top = malloc(n_images * k * sizeof *top);
    }
    if (!names || !top) {
        code = cli_failf(&common, "out of memory");
        goto done;
    }
    choose_names(&m, head.classes, &labels, names);
    {
        cnn_shape in = cnn_graph_input_shape(m.graph);
        /* Decoding every image first means a bad one fails the run before
         * anything is printed. */
        if (cnn_dataset_open_files(ctx, (const char *const *)(argv + optind + 1),
                                   n_images, &in, &ds) != CNN_OK ||
            predict_all(ctx, &m, &head, ds, (size_t)batch, k, top) != CNN_OK) {
            code = cli_fail(&common, ctx);
            goto done;
        }
    }
    if (json) {
        if (!print_json(&common, ds, names, top, k))
            code = CLI_FAIL;
    } else {
        print_text(ds, names, top, k);
    }
done:
    free(top);
    free(names);
    labels_free(&labels);
    cnn_dataset_destroy(ds);
    cnn_rename_map_destroy(rename);
    model_close(&m);
    cnn_context_destroy(ctx);
    return code;
}
