/* SPDX-License-Identifier: MIT */
/* cnnrun bench, graph mode: medians from the raw times, memory totals, and
 * the two ways of printing them (a caffe-time-like table, or JSON for the
 * scripts under bench/). */
#include <cblas.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "gemm.h"

#define MIB (1024.0 * 1024.0)

/* The plugins' GEMM for large products, as gemm.c picks it (CNN_GEMM and
 * the CPU): conv and dense link the same library. */
const char *bench_gemm_name(void)
{
    return strcmp(cnn_gemm_name_for(1024, 1024, 1024), "avx512") == 0
               ? "cnnrun AVX-512"
               : "OpenBLAS";
}

static double column_median(const double *m, size_t runs, size_t cols,
                            size_t col, double *tmp)
{
    for (size_t r = 0; r < runs; r++)
        tmp[r] = m[r * cols + col];
    return bench_median(tmp, runs);
}

static double series_median(const double *v, size_t n, double *tmp)
{
    memcpy(tmp, v, n * sizeof *tmp);
    return bench_median(tmp, n);
}

int bench_summarize(const bench_graph *b, bench_summary *s)
{
    size_t runs = (size_t)b->o->runs, n = b->n_layers;
    double *tmp = malloc(runs * sizeof *tmp);
    uint64_t trainable = 0;

    memset(s, 0, sizeof *s);
    s->layer_fwd = calloc(n, sizeof *s->layer_fwd);
    s->layer_bwd = calloc(n, sizeof *s->layer_bwd);
    if (!tmp || !s->layer_fwd || !s->layer_bwd) {
        free(tmp);
        bench_summary_free(s);
        return -1;
    }
    for (size_t l = 0; l < n; l++) {
        s->layer_fwd[l] = column_median(b->layer_fwd, runs, n, l, tmp);
        s->layer_bwd[l] = column_median(b->layer_bwd, runs, n, l, tmp);
        if (l <= b->until)
            s->fwd_flops += b->fwd_flops[l];
        s->bwd_flops += b->bwd_flops[l];
    }
    s->data = series_median(b->t_data, runs, tmp);
    s->fwd = series_median(b->t_fwd, runs, tmp);
    s->loss = series_median(b->t_loss, runs, tmp);
    s->bwd = series_median(b->t_bwd, runs, tmp);
    s->opt = series_median(b->t_opt, runs, tmp);
    s->step = series_median(b->t_step, runs, tmp);
    for (size_t r = 0; r < runs; r++)
        s->step_mean += b->t_step[r] / (double)runs;
    free(tmp);

    s->weights_bytes = (uint64_t)cnn_params_numel(b->m.params) * sizeof(float);
    for (size_t i = 0; i < cnn_params_count(b->m.params); i++)
        if (cnn_params_trainable(b->m.params, i))
            trainable += cnn_tensor_numel(cnn_params_value(b->m.params, i));
    if (b->train) {
        s->grad_bytes = trainable * sizeof(float);
        for (size_t i = 0; i < cnn_optim_state_count(b->optim); i++)
            s->optim_bytes += cnn_tensor_numel(&cnn_optim_state(b->optim, i)->tensor) *
                              sizeof(float);
    }
    s->exec_bytes = cnn_exec_memory_bytes(b->ex);
    s->input_bytes = b->input_bytes +
                     (b->train ? (uint64_t)b->o->batch * (uint64_t)b->head.classes *
                                     sizeof(float)
                               : 0);
    s->total_bytes = s->weights_bytes + s->grad_bytes + s->optim_bytes +
                     s->exec_bytes + s->input_bytes;
    s->peak_rss = bench_peak_rss();
    return 0;
}

void bench_summary_free(bench_summary *s)
{
    free(s->layer_fwd);
    free(s->layer_bwd);
    memset(s, 0, sizeof *s);
}

static void rule(int width)
{
    for (int i = 0; i < width; i++)
        putchar('-');
    putchar('\n');
}

static void print_gflops(double flops, double seconds)
{
    if (flops > 0 && seconds > 0)
        printf(" %9.1f", bench_gflops(flops, seconds));
    else
        printf(" %9s", "-");
}

static void print_roofline(const bench_graph *b, const bench_summary *s);

/* The layer whose forward applied layer l at inference (batch norm or relu
 * folded into a convolution, plugin ABI 1.4), or NULL. */
static const char *folded_into(const bench_graph *b, size_t l)
{
    int32_t p = b->train ? -1 : cnn_exec_fused_into(b->ex, l);
    cnn_layer_info pi;
    if (p < 0)
        return NULL;
    cnn_graph_layer_info(b->m.graph, (size_t)p, &pi);
    return pi.name;
}

/* A folded layer's row: no time of its own. */
static int print_folded(const bench_graph *b, size_t l,
                        const cnn_layer_info *li)
{
    const char *into = folded_into(b, l);
    if (!into)
        return 0;
    printf("%-18.18s %-9.9s %11s   in %s\n", li->name, li->type, "folded",
           into);
    return 1;
}

void bench_print_table(const bench_graph *b, const bench_summary *s)
{
    const bench_options *o = b->o;
    int width = b->train ? 86 : 62;

    printf("cnnrun bench: %s (%s)\n", cnn_graph_name(b->m.graph),
           cnn_graph_path(b->m.graph));
    if (b->train)
        printf("Training step (forward, softmax cross-entropy, backward, SGD "
               "momentum %g, lr %g)\n", b->momentum, b->lr);
    else
        printf("Inference (forward)\n");
    printf("Batch %lld, %d thread%s, GEMM %s (OpenBLAS %s kernels), %s; "
           "medians of %d run%s after %d warm-up%s\n\n",
           (long long)o->batch, cnn_context_threads(b->ctx),
           cnn_context_threads(b->ctx) == 1 ? "" : "s", bench_gemm_name(),
           openblas_get_corename(),
           b->loader ? cnn_dataset_spec(b->ds) : "random images", o->runs,
           o->runs == 1 ? "" : "s", o->warmup, o->warmup == 1 ? "" : "s");
    printf("%-18s %-9s %11s %9s", "Layer", "Type", "Forward ms", "GFLOP/s");
    if (b->train)
        printf(" %12s %9s", "Backward ms", "GFLOP/s");
    printf(" %9s\n", "% of pass");
    rule(width);
    for (size_t l = 0; l < b->n_layers; l++) {
        cnn_layer_info li;
        double part = s->layer_fwd[l] + s->layer_bwd[l];
        cnn_graph_layer_info(b->m.graph, l, &li);
        if ((l > b->until && !b->need_grad[l]) || print_folded(b, l, &li))
            continue;
        printf("%-18.18s %-9.9s %11.3f", li.name, li.type,
               1e3 * s->layer_fwd[l]);
        print_gflops(b->fwd_flops[l], s->layer_fwd[l]);
        if (b->train) {
            if (b->need_grad[l]) {
                printf(" %12.3f", 1e3 * s->layer_bwd[l]);
                print_gflops(b->bwd_flops[l], s->layer_bwd[l]);
            } else {
                printf(" %12s %9s", "-", "-");
            }
        }
        printf(" %8.1f%%\n", s->step > 0 ? 100.0 * part / s->step : 0.0);
    }
    rule(width);
    if (b->loader)
        printf("%-18s %11.3f ms\n", "Data", 1e3 * s->data);
    printf("%-18s %11.3f ms %9.1f GFLOP/s\n", "Forward", 1e3 * s->fwd,
           bench_gflops(s->fwd_flops, s->fwd));
    if (b->train) {
        printf("%-18s %11.3f ms\n", "Loss", 1e3 * s->loss);
        printf("%-18s %11.3f ms %9.1f GFLOP/s\n", "Backward", 1e3 * s->bwd,
               bench_gflops(s->bwd_flops, s->bwd));
        printf("%-18s %11.3f ms\n", "Optimizer", 1e3 * s->opt);
    }
    printf("%-18s %11.3f ms (mean %.3f ms), %.1f images/s\n",
           b->train ? "Step (wall)" : "Pass (wall)", 1e3 * s->step,
           1e3 * s->step_mean, s->step > 0 ? (double)o->batch / s->step : 0.0);
    if (cnn_exec_per_image_until(b->ex) >= 0) {
        cnn_layer_info cut;
        cnn_graph_layer_info(b->m.graph,
                             (size_t)cnn_exec_per_image_until(b->ex), &cut);
        printf("Layers up to %s run image by image (their outputs over the "
               "batch exceed the cache)\n",
               cut.name);
    }
    printf("\nMemory: weights %.1f MiB", (double)s->weights_bytes / MIB);
    if (b->train)
        printf(", gradients %.1f MiB, optimizer state %.1f MiB",
               (double)s->grad_bytes / MIB, (double)s->optim_bytes / MIB);
    printf(", executor %.1f MiB, input %.1f MiB\n",
           (double)s->exec_bytes / MIB, (double)s->input_bytes / MIB);
    printf("        total %.1f MiB (%.2fx weights); process peak RSS %.1f MiB "
           "(%.2fx weights)\n",
           (double)s->total_bytes / MIB,
           s->weights_bytes ? (double)s->total_bytes / (double)s->weights_bytes : 0.0,
           (double)s->peak_rss / MIB,
           s->weights_bytes ? (double)s->peak_rss / (double)s->weights_bytes : 0.0);
    if (o->roofline)
        print_roofline(b, s);
}

/* Each layer's pass against its roofline bound, then the whole pass's. */
static void print_roofline(const bench_graph *b, const bench_summary *s)
{
    const bench_machine *m = &b->machine;
    double fwd_bound = 0, bwd_bound = 0;
    int width = b->train ? 104 : 62;
    printf("\nRoofline at %d thread%s: %s FMA peak %.1f GFLOP/s, STREAM triad "
           "%.1f GB/s (ridge %.1f FLOP/byte)\n",
           m->threads, m->threads == 1 ? "" : "s", m->fma_kind, m->peak_gflops,
           m->triad_gbs, m->triad_gbs > 0 ? m->peak_gflops / m->triad_gbs : 0.0);
    printf("%-18s %-9s %11s %9s %7s", "Layer", "Type", "Forward ms", "Bound ms",
           "% bound");
    if (b->train)
        printf(" %12s %9s %7s", "Backward ms", "Bound ms", "% bound");
    printf("\n");
    rule(width);
    for (size_t l = 0; l < b->n_layers; l++) {
        cnn_layer_info li;
        bench_traffic t;
        int mem;
        double bound;
        cnn_graph_layer_info(b->m.graph, l, &li);
        if ((l > b->until && !b->need_grad[l]) || print_folded(b, l, &li))
            continue;
        bench_layer_traffic(b->m.graph, l, b->o->batch, &t);
        bound = bench_bound_seconds(m, b->fwd_flops[l], t.forward_bytes, &mem);
        fwd_bound += bound;
        printf("%-18.18s %-9.9s %11.3f %8.3f%c %6.0f%%", li.name, li.type,
               1e3 * s->layer_fwd[l], 1e3 * bound, mem ? 'm' : 'c',
               s->layer_fwd[l] > 0 ? 100.0 * bound / s->layer_fwd[l] : 0.0);
        if (b->train && b->need_grad[l]) {
            bound = bench_bound_seconds(m, b->bwd_flops[l], t.backward_bytes,
                                        &mem);
            bwd_bound += bound;
            printf(" %12.3f %8.3f%c %6.0f%%", 1e3 * s->layer_bwd[l],
                   1e3 * bound, mem ? 'm' : 'c',
                   s->layer_bwd[l] > 0 ? 100.0 * bound / s->layer_bwd[l] : 0.0);
        }
        printf("\n");
    }
    rule(width);
    printf("%-28s %11.3f %8.3f  %6.0f%%", "Sum of layers", 1e3 * s->fwd,
           1e3 * fwd_bound, s->fwd > 0 ? 100.0 * fwd_bound / s->fwd : 0.0);
    if (b->train)
        printf(" %12.3f %8.3f  %6.0f%%", 1e3 * s->bwd, 1e3 * bwd_bound,
               s->bwd > 0 ? 100.0 * bwd_bound / s->bwd : 0.0);
    printf("\nBound: c = compute (FLOPs / peak), m = memory (bytes / triad); "
           "%% bound = bound / time, 100%% is the machine's limit.\n");
}

static int set(json_t *obj, const char *key, json_t *value)
{
    return value ? json_object_set_new(obj, key, value) : -1;
}

static json_t *ms(double seconds)
{
    return json_real(1e3 * seconds);
}

static int layers_json(const bench_graph *b, const bench_summary *s,
                       json_t *root)
{
    json_t *arr = json_array();
    int bad = set(root, "layers", arr);
    for (size_t l = 0; !bad && l < b->n_layers; l++) {
        cnn_layer_info li;
        json_t *o = json_object();
        cnn_graph_layer_info(b->m.graph, l, &li);
        bad |= !o || json_array_append_new(arr, o);
        if (bad)
            break;
        bad |= set(o, "name", json_string(li.name));
        bad |= set(o, "type", json_string(li.type));
        if (folded_into(b, l))
            bad |= set(o, "folded_into", json_string(folded_into(b, l)));
        if ((int64_t)l <= cnn_exec_per_image_until(b->ex))
            bad |= set(o, "image_by_image", json_true());
        bad |= set(o, "forward_ms", ms(s->layer_fwd[l]));
        bad |= set(o, "forward_flops", json_real(b->fwd_flops[l]));
        bad |= set(o, "forward_gflops",
                   json_real(bench_gflops(b->fwd_flops[l], s->layer_fwd[l])));
        if (b->o->roofline) {
            bench_traffic t;
            int mem;
            double bound;
            bench_layer_traffic(b->m.graph, l, b->o->batch, &t);
            bound = bench_bound_seconds(&b->machine, b->fwd_flops[l],
                                        t.forward_bytes, &mem);
            bad |= set(o, "forward_bytes", json_real(t.forward_bytes));
            bad |= set(o, "forward_bound_ms", ms(bound));
            bad |= set(o, "forward_limit", json_string(mem ? "memory" : "compute"));
            if (b->train && b->need_grad[l]) {
                bound = bench_bound_seconds(&b->machine, b->bwd_flops[l],
                                            t.backward_bytes, &mem);
                bad |= set(o, "backward_bytes", json_real(t.backward_bytes));
                bad |= set(o, "backward_bound_ms", ms(bound));
                bad |= set(o, "backward_limit",
                           json_string(mem ? "memory" : "compute"));
            }
        }
        if (b->train) {
            bad |= set(o, "backward", json_boolean(b->need_grad[l]));
            bad |= set(o, "backward_ms", ms(s->layer_bwd[l]));
            bad |= set(o, "backward_flops", json_real(b->bwd_flops[l]));
            bad |= set(o, "backward_gflops",
                       json_real(bench_gflops(b->bwd_flops[l], s->layer_bwd[l])));
        }
    }
    return bad;
}

static int memory_json(const bench_summary *s, json_t *root)
{
    json_t *m = json_object();
    int bad = set(root, "memory", m);
    if (bad)
        return bad;
    bad |= set(m, "weights_bytes", json_integer((json_int_t)s->weights_bytes));
    bad |= set(m, "gradient_bytes", json_integer((json_int_t)s->grad_bytes));
    bad |= set(m, "optimizer_bytes", json_integer((json_int_t)s->optim_bytes));
    bad |= set(m, "executor_bytes", json_integer((json_int_t)s->exec_bytes));
    bad |= set(m, "input_bytes", json_integer((json_int_t)s->input_bytes));
    bad |= set(m, "total_bytes", json_integer((json_int_t)s->total_bytes));
    bad |= set(m, "peak_rss_bytes", json_integer((json_int_t)s->peak_rss));
    return bad;
}

int bench_print_json(const bench_graph *b, const bench_summary *s)
{
    const bench_options *o = b->o;
    json_t *root = json_object(), *steps = json_array();
    char *text;
    int bad = !root || set(root, "steps_ms", steps);

    bad |= set(root, "graph", json_string(cnn_graph_path(b->m.graph)));
    bad |= set(root, "name", json_string(cnn_graph_name(b->m.graph)));
    bad |= set(root, "mode", json_string(b->train ? "train" : "inference"));
    bad |= set(root, "batch", json_integer((json_int_t)o->batch));
    bad |= set(root, "threads", json_integer(cnn_context_threads(b->ctx)));
    bad |= set(root, "blas_kernels", json_string(openblas_get_corename()));
    bad |= set(root, "gemm_kernels",
               json_string(cnn_gemm_name_for(1024, 1024, 1024)));
    bad |= set(root, "runs", json_integer(o->runs));
    bad |= set(root, "warmup", json_integer(o->warmup));
    bad |= set(root, "data", b->loader ? json_string(cnn_dataset_spec(b->ds))
                                       : json_null());
    if (b->train) {
        bad |= set(root, "lr", json_real(b->lr));
        bad |= set(root, "momentum", json_real(b->momentum));
        bad |= set(root, "last_loss", json_real(b->loss));
    }
    bad |= bad ? 0 : layers_json(b, s, root);
    bad |= set(root, "data_ms", ms(s->data));
    bad |= set(root, "forward_ms", ms(s->fwd));
    bad |= set(root, "loss_ms", ms(s->loss));
    bad |= set(root, "backward_ms", ms(s->bwd));
    bad |= set(root, "optimizer_ms", ms(s->opt));
    bad |= set(root, "step_ms", ms(s->step));
    bad |= set(root, "step_ms_mean", ms(s->step_mean));
    bad |= set(root, "forward_gflops", json_real(bench_gflops(s->fwd_flops, s->fwd)));
    bad |= set(root, "backward_gflops", json_real(bench_gflops(s->bwd_flops, s->bwd)));
    bad |= set(root, "images_per_s",
               json_real(s->step > 0 ? (double)o->batch / s->step : 0.0));
    for (int r = 0; !bad && r < o->runs; r++)
        bad |= json_array_append_new(steps, ms(b->t_step[r]));
    bad |= bad ? 0 : memory_json(s, root);
    if (o->roofline) {
        json_t *m = json_object();
        bad |= set(root, "machine", m);
        if (!bad) {
            bad |= set(m, "threads", json_integer(b->machine.threads));
            bad |= set(m, "fma", json_string(b->machine.fma_kind));
            bad |= set(m, "peak_gflops", json_real(b->machine.peak_gflops));
            bad |= set(m, "triad_gbs", json_real(b->machine.triad_gbs));
        }
    }
    text = bad ? NULL : json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    json_decref(root);
    if (!text)
        return -1;
    puts(text);
    free(text);
    return 0;
}
