/* SPDX-License-Identifier: MIT */
/* cnnrun plot metrics.jsonl --out curves.svg: loss and accuracy per epoch,
 * training against validation, as a self-contained SVG. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cnn/atomic_file.h"
#include "cnn/file_read.h"
#include "commands.h"

static const char plot_usage[] =
    "Usage: cnnrun plot METRICS.jsonl --out CURVES.svg [--title TEXT]\n"
    "Draws loss and accuracy per epoch from a `cnnrun train --log` file,\n"
    "training against validation, side by side.\n\n"
    "  --out FILE        the SVG to write\n"
    "  --title TEXT      a title (default: the metrics file name)\n";

enum { OPT_OUT = CLI_OPT_FIRST_COMMAND, OPT_TITLE };

#define MAX_EPOCHS 100000

typedef struct series {
    double *epoch, *train_loss, *train_acc, *val_loss, *val_acc;
    size_t n;
} series;

static int read_metrics(const cli_common *common, cnn_context *ctx,
                        const char *path, series *s)
{
    FILE *f;
    char line[4096];
    int lineno = 0;
    memset(s, 0, sizeof *s);
    if (cnn_file_fopen_regular(ctx, path, &f, NULL) != CNN_OK)
        return cli_fail(common, ctx), 0;
    s->epoch = calloc(MAX_EPOCHS, sizeof(double));
    s->train_loss = calloc(MAX_EPOCHS, sizeof(double));
    s->train_acc = calloc(MAX_EPOCHS, sizeof(double));
    s->val_loss = calloc(MAX_EPOCHS, sizeof(double));
    s->val_acc = calloc(MAX_EPOCHS, sizeof(double));
    if (!s->epoch || !s->train_loss || !s->train_acc || !s->val_loss || !s->val_acc) {
        fclose(f);
        return cli_failf(common, "out of memory"), 0;
    }
    while (fgets(line, sizeof line, f)) {
        json_error_t err;
        json_t *o;
        const char *event;
        lineno++;
        if (line[0] == '\n' || line[0] == '\0')
            continue;
        o = json_loads(line, 0, &err);
        if (!o || !json_is_object(o)) {
            cli_failf(common, "%s:%d: not a JSON object: %s", path, lineno,
                      o ? "another JSON value" : err.text);
            json_decref(o);
            fclose(f);
            return 0;
        }
        event = json_string_value(json_object_get(o, "event"));
        if (event && strcmp(event, "epoch") == 0 && s->n < MAX_EPOCHS) {
            json_t *vl = json_object_get(o, "val_loss");
            s->epoch[s->n] = json_number_value(json_object_get(o, "epoch"));
            s->train_loss[s->n] = json_number_value(json_object_get(o, "train_loss"));
            s->train_acc[s->n] = json_number_value(json_object_get(o, "train_acc"));
            s->val_loss[s->n] = vl ? json_number_value(vl) : NAN;
            s->val_acc[s->n] = vl ? json_number_value(json_object_get(o, "val_acc")) : NAN;
            s->n++;
        }
        json_decref(o);
    }
    fclose(f);
    if (s->n == 0)
        return cli_failf(common, "%s: no epoch lines (event \"epoch\") to plot", path), 0;
    return 1;
}

static void series_free(series *s)
{
    free(s->epoch);
    free(s->train_loss);
    free(s->train_acc);
    free(s->val_loss);
    free(s->val_acc);
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* One panel: axes, grid, two polylines with dots and a legend. */
static void panel(FILE *f, double x0, double y0, double w, double h,
                  const char *title, const series *s, const double *a,
                  const double *b, int percent)
{
    /* Loss falls and accuracy rises: keep the legend out of the curves. */
    double legend_y = percent ? y0 + h - 44 : y0;
    double lo = INFINITY, hi = -INFINITY;
    double emax = s->epoch[s->n - 1] > 1 ? s->epoch[s->n - 1] : 1;
    double emin = s->n > 1 ? s->epoch[0] : 0;
    const double *lines[2] = {a, b};
    const char *colors[2] = {"#1f77b4", "#d62728"};
    const char *names[2] = {"train", "validation"};
    for (size_t i = 0; i < s->n; i++) {
        for (int k = 0; k < 2; k++)
            if (isfinite(lines[k][i])) {
                lo = fmin(lo, lines[k][i]);
                hi = fmax(hi, lines[k][i]);
            }
    }
    if (!isfinite(lo)) {
        lo = 0;
        hi = 1;
    }
    if (hi - lo < 1e-9) {
        hi += 0.5;
        lo -= 0.5;
    }
    {
        double pad = (hi - lo) * 0.08;
        hi += pad;
        lo -= pad;
        if (percent) {
            lo = fmax(lo, 0.0);
            hi = fmin(hi, 1.0);
        } else {
            lo = fmax(lo, 0.0);
        }
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"15\" font-weight=\"bold\">", x0, y0 - 12);
    xml_text(f, title);
    fprintf(f, "</text>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
               "fill=\"#fafafa\" stroke=\"#999\"/>\n", x0, y0, w, h);
    for (int g = 0; g <= 4; g++) {
        double v = lo + (hi - lo) * g / 4.0, y = y0 + h - h * g / 4.0;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n",
                x0, y, x0 + w, y);
        if (percent)
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.1f%%</text>\n",
                    x0 - 6, y + 4, 100 * v);
        else
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.3g</text>\n",
                    x0 - 6, y + 4, v);
    }
    for (size_t i = 0; i < s->n; i++) {
        double x = x0 + (s->n > 1 ? w * (s->epoch[i] - emin) / (emax - emin) : w / 2);
        if (s->n <= 20 || i % (s->n / 10 + 1) == 0 || i + 1 == s->n)
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n",
                    x, y0 + h + 16, s->epoch[i]);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">epoch</text>\n",
            x0 + w / 2, y0 + h + 34);
    for (int k = 0; k < 2; k++) {
        int any = 0;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colors[k]);
        for (size_t i = 0; i < s->n; i++) {
            double x, y;
            if (!isfinite(lines[k][i]))
                continue;
            x = x0 + (s->n > 1 ? w * (s->epoch[i] - emin) / (emax - emin) : w / 2);
            y = y0 + h - h * (lines[k][i] - lo) / (hi - lo);
            fprintf(f, "%.1f,%.1f ", x, y);
            any = 1;
        }
        fprintf(f, "\"/>\n");
        for (size_t i = 0; any && i < s->n; i++) {
            double x, y;
            if (!isfinite(lines[k][i]))
                continue;
            x = x0 + (s->n > 1 ? w * (s->epoch[i] - emin) / (emax - emin) : w / 2);
            y = y0 + h - h * (lines[k][i] - lo) / (hi - lo);
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", x, y, colors[k]);
        }
        if (any)
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"3\" fill=\"%s\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%s</text>\n",
                    x0 + w - 110, legend_y + 14 + 16 * k, colors[k], x0 + w - 90,
                    legend_y + 19 + 16 * k, names[k]);
    }
}

int cmd_plot(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"out", required_argument, NULL, OPT_OUT},
        {"title", required_argument, NULL, OPT_TITLE},
        {0, 0, 0, 0}};
    cli_common common;
    const char *out = NULL, *title = NULL;
    int opt, code = CLI_OK;
    series s;
    char *svg = NULL;
    size_t svg_size = 0;
    cnn_context *ctx;
    FILE *f;

    cli_common_init(&common, "plot", plot_usage);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (cli_common_option(&common, opt, optarg, &code)) {
            if (code != CLI_OK || common.help)
                return code;
            continue;
        }
        if (opt == OPT_OUT)
            out = optarg;
        else if (opt == OPT_TITLE)
            title = optarg;
    }
    if (optind + 1 != argc)
        return cli_usage_error(&common, "expected one METRICS.jsonl file");
    if (!out)
        return cli_usage_error(&common, "--out is required");
    ctx = cli_context(&common);
    if (!ctx)
        return CLI_FAIL;
    if (!read_metrics(&common, ctx, argv[optind], &s)) {
        series_free(&s);
        cnn_context_destroy(ctx);
        return CLI_FAIL;
    }
    f = open_memstream(&svg, &svg_size);
    if (!f) {
        series_free(&s);
        cnn_context_destroy(ctx);
        return cli_failf(&common, "out of memory for the SVG");
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"980\" height=\"420\" "
               "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
               "<text x=\"490\" y=\"28\" font-size=\"18\" text-anchor=\"middle\">");
    xml_text(f, title ? title : argv[optind]);
    fprintf(f, "</text>\n");
    panel(f, 70, 70, 380, 280, "Loss", &s, s.train_loss, s.val_loss, 0);
    panel(f, 570, 70, 380, 280, "Accuracy", &s, s.train_acc, s.val_acc, 1);
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0) {
        free(svg);
        series_free(&s);
        cnn_context_destroy(ctx);
        return cli_failf(&common, "out of memory for the SVG");
    }
    /* Temporary name, fsync, rename: a failure keeps the old file. */
    if (cli_make_parent_dirs(ctx, out) != CNN_OK ||
        cnn_atomic_file_write_all(ctx, out, svg, svg_size) != CNN_OK)
        code = cli_fail(&common, ctx);
    else if (!common.quiet)
        fprintf(stderr, "cnnrun plot: wrote %s (%zu epochs)\n", out, s.n);
    cnn_context_destroy(ctx);
    free(svg);
    series_free(&s);
    return code;
}
