/* SPDX-License-Identifier: MIT */
/* cnnrun plot metrics.jsonl --out curves.svg: loss and accuracy per epoch
 * (training against validation) and per logged step, as a self-contained
 * SVG. */
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
    "Draws loss and accuracy from a `cnnrun train --log` file: per epoch,\n"
    "training against validation, and per logged step (--log-every) as a\n"
    "thin line, loss and accuracy side by side.\n\n"
    "  --out FILE        the SVG to write\n"
    "  --title TEXT      a title (default: the metrics file name)\n";

enum { OPT_OUT = CLI_OPT_FIRST_COMMAND, OPT_TITLE };

/* Caps that keep a huge or hostile log from exhausting memory; a log
 * past them is plotted up to the cap, with a warning. */
#define MAX_EPOCHS 100000
#define MAX_STEPS 200000

/* Per-epoch lines, and per-step lines (`--log-every`), both placed on one
 * axis in epochs: step s of epoch e sits at (e - 1) + (its place in the
 * epoch) / (steps in that epoch), so the last step meets its epoch point. */
typedef struct series {
    double *epoch, *step_at, *train_loss, *train_acc, *val_loss, *val_acc;
    size_t n;
    double *step_x, *step_loss, *step_acc;
    size_t n_steps;
    int x_in_steps; /* no epoch line: x is the step number */
} series;

typedef struct pending_step {
    double epoch, step, steps_before; /* steps_before: the last epoch line's step */
    size_t next_epoch_line;           /* index of the epoch line ending its epoch */
} pending_step;

static void place_steps(series *s, const pending_step *p)
{
    for (size_t i = 0; i < s->n_steps; i++) {
        double per_epoch = NAN;
        size_t k = p[i].next_epoch_line;
        if (k < s->n)
            per_epoch = s->step_at[k] - p[i].steps_before;
        else if (s->n > 0) /* an epoch still running: as long as the last one */
            per_epoch = s->step_at[s->n - 1] - (s->n > 1 ? s->step_at[s->n - 2] : 0.0);
        if (s->n == 0) {
            s->x_in_steps = 1;
            s->step_x[i] = p[i].step;
        } else if (isfinite(per_epoch) && per_epoch > 0) {
            s->step_x[i] = p[i].epoch - 1 + (p[i].step - p[i].steps_before) / per_epoch;
        } else {
            s->step_x[i] = NAN;
        }
    }
}

static int read_metrics(const cli_common *common, cnn_context *ctx,
                        const char *path, series *s)
{
    FILE *f;
    char line[4096];
    int lineno = 0, capped = 0;
    pending_step *pending;
    memset(s, 0, sizeof *s);
    if (cnn_file_fopen_regular(ctx, path, &f, NULL) != CNN_OK)
        return cli_fail(common, ctx), 0;
    s->epoch = calloc(MAX_EPOCHS, sizeof(double));
    s->step_at = calloc(MAX_EPOCHS, sizeof(double));
    s->train_loss = calloc(MAX_EPOCHS, sizeof(double));
    s->train_acc = calloc(MAX_EPOCHS, sizeof(double));
    s->val_loss = calloc(MAX_EPOCHS, sizeof(double));
    s->val_acc = calloc(MAX_EPOCHS, sizeof(double));
    s->step_x = calloc(MAX_STEPS, sizeof(double));
    s->step_loss = calloc(MAX_STEPS, sizeof(double));
    s->step_acc = calloc(MAX_STEPS, sizeof(double));
    pending = calloc(MAX_STEPS, sizeof *pending);
    if (!s->epoch || !s->step_at || !s->train_loss || !s->train_acc || !s->val_loss ||
        !s->val_acc || !s->step_x || !s->step_loss || !s->step_acc || !pending) {
        free(pending);
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
            free(pending);
            fclose(f);
            return 0;
        }
        event = json_string_value(json_object_get(o, "event"));
        if (event && strcmp(event, "epoch") == 0) {
            if (s->n < MAX_EPOCHS) {
                json_t *vl = json_object_get(o, "val_loss");
                s->epoch[s->n] = json_number_value(json_object_get(o, "epoch"));
                s->step_at[s->n] = json_number_value(json_object_get(o, "step"));
                s->train_loss[s->n] = json_number_value(json_object_get(o, "train_loss"));
                s->train_acc[s->n] = json_number_value(json_object_get(o, "train_acc"));
                s->val_loss[s->n] = vl ? json_number_value(vl) : NAN;
                s->val_acc[s->n] = vl ? json_number_value(json_object_get(o, "val_acc")) : NAN;
                s->n++;
            } else {
                capped = 1;
            }
        } else if (event && strcmp(event, "step") == 0) {
            if (s->n_steps < MAX_STEPS) {
                pending_step *p = &pending[s->n_steps];
                p->epoch = json_number_value(json_object_get(o, "epoch"));
                p->step = json_number_value(json_object_get(o, "step"));
                p->steps_before = s->n > 0 ? s->step_at[s->n - 1] : 0.0;
                p->next_epoch_line = s->n;
                s->step_loss[s->n_steps] = json_number_value(json_object_get(o, "train_loss"));
                s->step_acc[s->n_steps] = json_number_value(json_object_get(o, "train_acc"));
                s->n_steps++;
            } else {
                capped = 1;
            }
        }
        json_decref(o);
    }
    fclose(f);
    place_steps(s, pending);
    free(pending);
    if (s->n == 0 && s->n_steps == 0)
        return cli_failf(common, "%s: no epoch or step lines (event \"epoch\" or \"step\") to plot",
                         path), 0;
    if (capped && !common->quiet)
        fprintf(stderr, "cnnrun plot: warning: %s: plotting the first %d epochs and %d steps only\n",
                path, MAX_EPOCHS, MAX_STEPS);
    return 1;
}

static void series_free(series *s)
{
    free(s->epoch);
    free(s->step_at);
    free(s->train_loss);
    free(s->train_acc);
    free(s->val_loss);
    free(s->val_acc);
    free(s->step_x);
    free(s->step_loss);
    free(s->step_acc);
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

#define N_TICKS 5 /* grid lines, bottom to top */

static void format_tick(char *buf, size_t size, double v, int percent, int digits)
{
    snprintf(buf, size, percent ? "%.*f%%" : "%.*f", digits, percent ? 100 * v : v);
}

/* The fewest decimals that still tell every tick from its neighbours: a
 * narrow range (a loss between 2.301 and 2.306) needs four, where "%.3g"
 * read "2.3" on every line. */
static int tick_digits(double lo, double hi, int percent)
{
    int first = percent ? 1 : 0, last = 12;
    for (int d = first; d < last; d++) {
        char prev[64], cur[64];
        int distinct = 1;
        format_tick(prev, sizeof prev, lo, percent, d);
        for (int g = 1; g < N_TICKS && distinct; g++) {
            format_tick(cur, sizeof cur, lo + (hi - lo) * g / (N_TICKS - 1), percent, d);
            distinct = strcmp(cur, prev) != 0;
            memcpy(prev, cur, sizeof prev);
        }
        if (distinct)
            return d;
    }
    return last;
}

typedef struct axes {
    double x0, y0, w, h; /* the plot area in SVG units */
    double xmin, xmax, lo, hi;
} axes;

static double ax_x(const axes *a, double x)
{
    return a->xmax > a->xmin ? a->x0 + a->w * (x - a->xmin) / (a->xmax - a->xmin)
                             : a->x0 + a->w / 2;
}

static double ax_y(const axes *a, double y)
{
    return a->y0 + a->h - a->h * (y - a->lo) / (a->hi - a->lo);
}

/* A polyline through the finite points, with dots when asked; 1 when it
 * drew any point. */
static int curve(FILE *f, const axes *a, const double *x, const double *y, size_t n,
                 const char *color, const char *style, int dots)
{
    int any = 0;
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" %s points=\"", color, style);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]))
            continue;
        fprintf(f, "%.1f,%.1f ", ax_x(a, x[i]), ax_y(a, y[i]));
        any = 1;
    }
    fprintf(f, "\"/>\n");
    for (size_t i = 0; dots && i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i]))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                    ax_x(a, x[i]), ax_y(a, y[i]), color);
    return any;
}

static void widen(double *lo, double *hi, const double *x, const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]) && (!x || isfinite(x[i]))) {
            *lo = fmin(*lo, v[i]);
            *hi = fmax(*hi, v[i]);
        }
}

/* One panel: axes, grid, the per-step training curve (thin, pale), the
 * per-epoch training and validation curves with dots, and a legend. */
static void panel(FILE *f, double x0, double y0, double w, double h,
                  const char *title, const series *s, const double *a,
                  const double *b, const double *steps, int percent)
{
    /* Loss falls and accuracy rises: keep the legend out of the curves. */
    double legend_y = percent ? y0 + h - 60 : y0;
    axes ax = {x0, y0, w, h, INFINITY, -INFINITY, INFINITY, -INFINITY};
    const char *colors[3] = {"#1f77b4", "#d62728", "#9ecae1"};
    const char *names[3] = {"train", "validation", "train (per step)"};
    int drawn[3], legend_row = 0, digits;
    widen(&ax.lo, &ax.hi, NULL, a, s->n);
    widen(&ax.lo, &ax.hi, NULL, b, s->n);
    widen(&ax.lo, &ax.hi, s->step_x, steps, s->n_steps);
    widen(&ax.xmin, &ax.xmax, NULL, s->epoch, s->n);
    widen(&ax.xmin, &ax.xmax, NULL, s->step_x, s->n_steps);
    if (s->n_steps > 0 && !s->x_in_steps)
        ax.xmin = fmin(ax.xmin, 0.0); /* the first steps come before epoch 1 ends */
    if (!isfinite(ax.xmin)) {
        ax.xmin = 0;
        ax.xmax = 1;
    }
    if (!isfinite(ax.lo)) {
        ax.lo = 0;
        ax.hi = 1;
    }
    if (ax.hi - ax.lo < 1e-9) {
        ax.hi += 0.5;
        ax.lo -= 0.5;
    }
    {
        double pad = (ax.hi - ax.lo) * 0.08;
        ax.hi += pad;
        ax.lo -= pad;
        ax.lo = fmax(ax.lo, 0.0);
        if (percent)
            ax.hi = fmin(ax.hi, 1.0);
    }
    digits = tick_digits(ax.lo, ax.hi, percent);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"15\" font-weight=\"bold\">", x0, y0 - 12);
    xml_text(f, title);
    fprintf(f, "</text>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
               "fill=\"#fafafa\" stroke=\"#999\"/>\n", x0, y0, w, h);
    for (int g = 0; g < N_TICKS; g++) {
        double v = ax.lo + (ax.hi - ax.lo) * g / (N_TICKS - 1);
        double y = y0 + h - h * g / (N_TICKS - 1);
        char label[64];
        format_tick(label, sizeof label, v, percent, digits);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n",
                x0, y, x0 + w, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                x0 - 6, y + 4, label);
    }
    if (s->x_in_steps) {
        for (int g = 0; g < N_TICKS; g++) {
            double v = ax.xmin + (ax.xmax - ax.xmin) * g / (N_TICKS - 1);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%.0f</text>\n",
                    ax_x(&ax, v), y0 + h + 16, v);
        }
    } else {
        for (size_t i = 0; i < s->n; i++)
            if (s->n <= 20 || i % (s->n / 10 + 1) == 0 || i + 1 == s->n)
                fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n",
                        ax_x(&ax, s->epoch[i]), y0 + h + 16, s->epoch[i]);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">%s</text>\n",
            x0 + w / 2, y0 + h + 34, s->x_in_steps ? "step" : "epoch");
    drawn[2] = curve(f, &ax, s->step_x, steps, s->n_steps, colors[2], "stroke-width=\"1\"", 0);
    drawn[0] = curve(f, &ax, s->epoch, a, s->n, colors[0], "stroke-width=\"2\"", 1);
    drawn[1] = curve(f, &ax, s->epoch, b, s->n, colors[1], "stroke-width=\"2\"", 1);
    for (int k = 0; k < 3; k++) {
        if (!drawn[k])
            continue;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"3\" fill=\"%s\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%s</text>\n",
                x0 + w - 130, legend_y + 14 + 16 * legend_row, colors[k], x0 + w - 110,
                legend_y + 19 + 16 * legend_row, names[k]);
        legend_row++;
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
    panel(f, 70, 70, 380, 280, "Loss", &s, s.train_loss, s.val_loss, s.step_loss, 0);
    panel(f, 570, 70, 380, 280, "Accuracy", &s, s.train_acc, s.val_acc, s.step_acc, 1);
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
        fprintf(stderr, "cnnrun plot: wrote %s (%zu epochs, %zu steps)\n", out, s.n,
                s.n_steps);
    cnn_context_destroy(ctx);
    free(svg);
    series_free(&s);
    return code;
}
