/* SPDX-License-Identifier: MIT */
/* cnnrun bench GRAPH [--train] [--batch B] [--runs R] [--warmup W] [--json]:
 * per-layer forward and backward times, GFLOP/s, images/s and memory, in
 * the spirit of `caffe time`. A training step is what `cnnrun train` does:
 * forward, fused softmax cross-entropy, backward, optimiser step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"
#include "classifier.h"
#include "cli.h"
#include "data_options.h"
#include "cnn/memory.h"
#include "cnn/data.h"
#include "cnn/exec.h"
#include "cnn/train.h"
#include "commands.h"
#include "model.h"

static const char bench_usage[] =
    "Usage: cnnrun bench GRAPH [--train] [--batch B] [--runs R] [--warmup W]\n"
    "                    [--json] [--weights W] [--data SPEC] [--lr LR]\n"
    "       cnnrun bench --conv C,H,W,K,KSIZE[,STRIDE[,PAD[,GROUPS]]] [--batch B] ...\n"
    "Times the graph's forward pass (inference) or, with --train, whole\n"
    "training steps: forward, softmax cross-entropy, backward and an SGD\n"
    "momentum step. Prints per-layer medians of forward and backward time and\n"
    "GFLOP/s, the step's parts, images/s and memory. Weights are random (as\n"
    "from cnnrun init) unless --weights is given; timing does not depend on\n"
    "values. With --conv, times one convolution layer's forward (in a\n"
    "training executor, and as inference runs it, on constant weights),\n"
    "input-gradient and weight-gradient passes against cblas_sgemm on the\n"
    "same GEMM shapes.\n\n"
    "  --train           time training steps instead of inference\n"
    "  --batch B         images per pass (default 1; with --train the graph's\n"
    "                    train.batch, else 32)\n"
    "  --runs R          timed passes; medians over them (default 10)\n"
    "  --warmup W        untimed passes first (default 2)\n"
    "  --json            one JSON object instead of the tables\n"
    "  --weights FILE    start from these weights (safetensors)\n"
    "  --data SPEC       take batches from this dataset through the loader\n"
    "                    (see cnnrun train); default: fixed random images\n"
    "  --lr LR           learning rate of the timed steps (default 0.001)\n"
    "  --momentum M      SGD momentum (default 0.9)\n"
    "  --seed S          weights, images and labels (default 1)\n"
    "  --roofline        also measure this machine's FMA peak and STREAM\n"
    "                    triad bandwidth, and show each layer's time against\n"
    "                    its lower bound: FLOPs at the peak or bytes at the\n"
    "                    bandwidth, whichever is larger\n"
    "  --conv SPEC       one convolution layer instead of a graph\n"
    "  --augment imagenet  with --train --data: RandomResizedCrop and flip\n"
    DATA_HELP;

enum {
    OPT_TRAIN = CLI_OPT_FIRST_COMMAND,
    OPT_BATCH,
    OPT_RUNS,
    OPT_WARMUP,
    OPT_JSON,
    OPT_WEIGHTS,
    OPT_DATA,
    OPT_AUGMENT,
    OPT_LR,
    OPT_MOMENTUM,
    OPT_SEED,
    OPT_CONV,
    OPT_ROOFLINE
};

/* ---- Shared helpers (bench.h) -------------------------------------------- */

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

uint64_t bench_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024u; /* Linux reports KiB */
}

void bench_fill_uniform(float *v, size_t n, uint64_t seed, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        v[i] = lo + (hi - lo) * cnn_uniform_hash(seed, i);
}

double bench_gflops(double flops, double seconds)
{
    return flops > 0 && seconds > 0 ? flops / seconds * 1e-9 : 0.0;
}

/* ---- Graph mode ---------------------------------------------------------- */


static void *xcalloc(bench_graph *b, size_t n, size_t size, int *ok)
{
    void *p = calloc(n ? n : 1, size);
    if (!p && *ok) {
        cnn_context_fail(b->ctx, CNN_ERR_NOMEM, "out of memory");
        *ok = 0;
    }
    return p;
}

/* Which layers backward visits and the FLOPs of each pass: a layer with
 * weights does one product for its weight gradient and one more for its
 * input gradient when something below it learns. */
static void plan_flops(bench_graph *b)
{
    for (size_t l = 0; l < b->n_layers; l++) {
        cnn_layer_info li;
        int below = 0;
        cnn_graph_layer_info(b->m.graph, l, &li);
        for (uint32_t j = 0; j < li.n_inputs; j++)
            if (li.inputs[j] >= 0 && b->need_grad[li.inputs[j]])
                below = 1;
        b->need_grad[l] = (li.trainable && li.n_params > 0) || below;
        b->fwd_flops[l] = (double)li.flops * (double)b->o->batch;
        if (!b->train || !b->need_grad[l])
            continue;
        if (li.n_params > 0)
            b->bwd_flops[l] = b->fwd_flops[l] * ((li.trainable ? 1 : 0) + below);
        else
            b->bwd_flops[l] = b->fwd_flops[l];
    }
}

static cnn_status open_data(bench_graph *b, const char *spec)
{
    cnn_shape in = cnn_graph_input_shape(b->m.graph);
    cnn_loader_options lo;
    cnn_status st = cnn_dataset_open(b->ctx, spec, &in, &b->ds);
    if (st == CNN_OK && b->train)
        st = classifier_check_data(b->ctx, b->m.graph, &b->head, b->ds);
    if (st != CNN_OK)
        return st;
    if (cnn_dataset_size(b->ds) < (size_t)b->o->batch)
        return cnn_context_fail(b->ctx, CNN_ERR_INVALID,
                                "%s: %zu images, fewer than one batch of %lld",
                                spec, cnn_dataset_size(b->ds),
                                (long long)b->o->batch);
    cnn_loader_options_init(&lo);
    lo.batch = (size_t)b->o->batch;
    lo.seed = b->o->seed;
    lo.shuffle = b->train;
    lo.drop_last = 1; /* every timed pass has the full batch */
    lo.mean = cnn_graph_input_mean(b->m.graph);
    lo.std = cnn_graph_input_std(b->m.graph);
    data_options_apply(&lo, b->ds, cnn_context_threads(b->ctx));
    lo.random_resized_crop = b->train && b->o->augment_imagenet;
    lo.flip = lo.random_resized_crop;
    st = cnn_loader_create(b->ctx, b->ds, &lo, &b->loader);
    if (st == CNN_OK)
        st = cnn_loader_begin_epoch(b->loader, 0);
    return st;
}

static cnn_status open_graph(bench_graph *b, const char *weights,
                             const char *data)
{
    cnn_exec_options eo;
    cnn_shape in;
    size_t runs = (size_t)b->o->runs;
    int ok = 1;
    cnn_status st = model_open(b->ctx, b->graph_path, weights, b->o->seed, &b->m);
    if (st != CNN_OK)
        return st;
    b->n_layers = cnn_graph_layer_count(b->m.graph);
    b->until = cnn_graph_output_layer(b->m.graph);
    if (b->train) {
        st = classifier_head_find(b->ctx, b->m.graph, &b->head);
        if (st != CNN_OK)
            return st;
        b->until = b->head.output_layer;
    }
    b->need_grad = xcalloc(b, b->n_layers, sizeof *b->need_grad, &ok);
    b->fwd_flops = xcalloc(b, b->n_layers, sizeof(double), &ok);
    b->bwd_flops = xcalloc(b, b->n_layers, sizeof(double), &ok);
    b->layer_fwd = xcalloc(b, runs * b->n_layers, sizeof(double), &ok);
    b->layer_bwd = xcalloc(b, runs * b->n_layers, sizeof(double), &ok);
    b->t_data = xcalloc(b, runs, sizeof(double), &ok);
    b->t_fwd = xcalloc(b, runs, sizeof(double), &ok);
    b->t_loss = xcalloc(b, runs, sizeof(double), &ok);
    b->t_bwd = xcalloc(b, runs, sizeof(double), &ok);
    b->t_opt = xcalloc(b, runs, sizeof(double), &ok);
    b->t_step = xcalloc(b, runs, sizeof(double), &ok);
    if (!ok)
        return CNN_ERR_NOMEM;
    plan_flops(b);
    in = cnn_graph_input_shape(b->m.graph);
    in.dims[0] = b->o->batch;
    if (data) {
        st = open_data(b, data);
        if (st != CNN_OK)
            return st;
    } else {
        size_t floats = cnn_shape_numel(&in);
        st = cnn_memory_check(b->ctx, cnn_memory_mul(floats, sizeof(float)),
                              "the random input batch");
        if (st != CNN_OK)
            return st;
        b->input = xcalloc(b, floats, sizeof(float), &ok);
        b->labels = xcalloc(b, (size_t)b->o->batch, sizeof(int32_t), &ok);
        if (!ok)
            return CNN_ERR_NOMEM;
        b->input_bytes = floats * sizeof(float);
        bench_fill_uniform(b->input, floats, b->o->seed, 0.0f, 1.0f);
        for (int64_t i = 0; b->train && i < b->o->batch; i++)
            b->labels[i] = (int32_t)((i * 7 + 3) % b->head.classes);
    }
    if (b->train) {
        cnn_optim_config oc;
        memset(&oc, 0, sizeof oc);
        oc.kind = CNN_OPTIM_SGD;
        oc.momentum = b->momentum;
        b->grad = xcalloc(b, (size_t)b->o->batch * (size_t)b->head.classes,
                          sizeof(float), &ok);
        if (!ok)
            return CNN_ERR_NOMEM;
        st = cnn_optim_create(b->ctx, b->m.params, &oc, &b->optim);
        if (st != CNN_OK)
            return st;
    }
    memset(&eo, 0, sizeof eo); /* fields added later read 0 */
    eo.batch = b->o->batch;
    eo.training = b->train;
    eo.keep_layer = -1;
    eo.constant_params = !b->train; /* as cnnrun predict and eval run */
    st = cnn_exec_create(b->ctx, b->m.graph, b->m.params, &eo, &b->ex);
    if (st == CNN_OK)
        cnn_exec_set_timing(b->ex, 1);
    return st;
}

static cnn_status next_batch(bench_graph *b, cnn_tensor *x,
                             const int32_t **labels)
{
    size_t n = 0;
    cnn_status st;
    if (!b->loader) {
        x->shape = cnn_graph_input_shape(b->m.graph);
        x->shape.dims[0] = b->o->batch;
        x->data = b->input;
        *labels = b->labels;
        return CNN_OK;
    }
    st = cnn_loader_next(b->loader, x, labels, &n);
    if (st == CNN_OK && n == 0) {
        st = cnn_loader_begin_epoch(b->loader, ++b->epoch);
        if (st == CNN_OK)
            st = cnn_loader_next(b->loader, x, labels, &n);
    }
    return st;
}

/* One pass; recorded in slot r unless r < 0 (warm-up). */
static cnn_status bench_pass(bench_graph *b, int r)
{
    cnn_tensor x, g;
    const int32_t *labels = NULL;
    double t0, t1, t2, t3, t4, t5;
    cnn_status st;

    t0 = bench_now();
    st = next_batch(b, &x, &labels);
    if (st != CNN_OK)
        return st;
    t1 = bench_now();
    st = cnn_exec_forward(b->ex, &x, b->train,
                          b->o->seed ^ (b->step * 0x9e3779b97f4a7c15ull),
                          b->until);
    if (st != CNN_OK)
        return st;
    t2 = t3 = t4 = t5 = bench_now();
    if (b->train) {
        const cnn_tensor *logits = cnn_exec_output(b->ex, b->head.logits_layer);
        b->loss = cnn_softmax_xent(logits->data, labels, b->o->batch,
                                   b->head.classes, b->grad, NULL);
        t3 = bench_now();
        g.shape = cnn_shape2(b->o->batch, b->head.classes);
        g.data = b->grad;
        st = cnn_exec_backward(b->ex, &g, b->head.output_layer,
                               b->head.fused_softmax);
        if (st != CNN_OK)
            return st;
        t4 = bench_now();
        cnn_optim_step(b->optim, b->lr);
        t5 = bench_now();
    }
    b->step++;
    if (r < 0)
        return CNN_OK;
    b->t_data[r] = t1 - t0;
    b->t_fwd[r] = t2 - t1;
    b->t_loss[r] = t3 - t2;
    b->t_bwd[r] = t4 - t3;
    b->t_opt[r] = t5 - t4;
    b->t_step[r] = t5 - t0;
    for (size_t l = 0; l < b->n_layers; l++) {
        b->layer_fwd[(size_t)r * b->n_layers + l] =
            l <= b->until ? cnn_exec_forward_seconds(b->ex, l) : 0.0;
        b->layer_bwd[(size_t)r * b->n_layers + l] =
            b->train && b->need_grad[l] ? cnn_exec_backward_seconds(b->ex, l)
                                        : 0.0;
    }
    return CNN_OK;
}

static void close_graph(bench_graph *b)
{
    cnn_exec_destroy(b->ex);
    cnn_optim_destroy(b->optim);
    cnn_loader_destroy(b->loader);
    cnn_dataset_destroy(b->ds);
    model_close(&b->m);
    free(b->need_grad);
    free(b->fwd_flops);
    free(b->bwd_flops);
    free(b->input);
    free(b->labels);
    free(b->grad);
    free(b->layer_fwd);
    free(b->layer_bwd);
    free(b->t_data);
    free(b->t_fwd);
    free(b->t_loss);
    free(b->t_bwd);
    free(b->t_opt);
    free(b->t_step);
}

static int bench_graph_run(const cli_common *common, cnn_context *ctx,
                           const char *graph_path, const bench_options *o,
                           int train, double lr, double momentum,
                           const char *weights, const char *data,
                           int batch_given)
{
    bench_graph b;
    bench_options opts = *o;
    int code = CLI_OK;

    memset(&b, 0, sizeof b);
    b.ctx = ctx;
    b.o = &opts;
    b.graph_path = graph_path;
    b.train = train;
    b.lr = lr;
    b.momentum = momentum;
    if (train && !batch_given) {
        /* The batch the graph trains with, when it says. */
        cnn_graph *g = NULL;
        long long v;
        opts.batch = 32;
        if (cnn_graph_load(ctx, graph_path, &g) != CNN_OK)
            return cli_fail(common, ctx);
        if (cnn_graph_setting(g, "batch", NULL) &&
            cli_parse_int(cnn_graph_setting(g, "batch", NULL), 1, 65536, &v))
            opts.batch = v;
        cnn_graph_destroy(g);
    }
    if (open_graph(&b, weights, data) != CNN_OK) {
        code = cli_fail(common, ctx);
        goto done;
    }
    /* Before the passes: the triad's arrays are freed by then and the
     * measurement does not share the cores with the graph. */
    if (opts.roofline &&
        bench_measure_machine(cnn_context_threads(ctx), &b.machine) != 0) {
        code = cli_failf(common, "out of memory measuring the roofline");
        goto done;
    }
    for (int r = -opts.warmup; r < opts.runs; r++)
        if (bench_pass(&b, r) != CNN_OK) {
            code = cli_fail(common, ctx);
            goto done;
        }
    {
        bench_summary s;
        if (bench_summarize(&b, &s) != 0) {
            code = cli_failf(common, "out of memory");
            goto done;
        }
        if (opts.json)
            code = bench_print_json(&b, &s) == 0 ? CLI_OK : cli_failf(common, "out of memory");
        else
            bench_print_table(&b, &s);
        bench_summary_free(&s);
    }
done:
    close_graph(&b);
    return code;
}

int cmd_bench(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        DATA_OPTIONS,
        {"augment", required_argument, NULL, OPT_AUGMENT},
        {"train", no_argument, NULL, OPT_TRAIN},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"runs", required_argument, NULL, OPT_RUNS},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"json", no_argument, NULL, OPT_JSON},
        {"weights", required_argument, NULL, OPT_WEIGHTS},
        {"data", required_argument, NULL, OPT_DATA},
        {"lr", required_argument, NULL, OPT_LR},
        {"momentum", required_argument, NULL, OPT_MOMENTUM},
        {"seed", required_argument, NULL, OPT_SEED},
        {"conv", required_argument, NULL, OPT_CONV},
        {"roofline", no_argument, NULL, OPT_ROOFLINE},
        {0, 0, 0, 0}};
    cli_common common;
    bench_options o = {1, 10, 2, 0, 1, 0, 0};
    const char *weights = NULL, *data = NULL, *conv = NULL;
    double lr = 0.001, momentum = 0.9;
    int train = 0, batch_given = 0, opt, code = CLI_OK;
    long long v;
    cnn_context *ctx;

    cli_common_init(&common, "bench", bench_usage);
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
        switch (opt) {
        case OPT_TRAIN: train = 1; break;
        case OPT_JSON: o.json = 1; break;
        case OPT_WEIGHTS: weights = optarg; break;
        case OPT_DATA: data = optarg; break;
        case OPT_AUGMENT:
            if (strcmp(optarg, "imagenet") && strcmp(optarg, "none"))
                return cli_usage_error(&common, "--augment wants imagenet or none, got '%s'", optarg);
            o.augment_imagenet = !strcmp(optarg, "imagenet");
            break;
        case OPT_CONV: conv = optarg; break;
        case OPT_ROOFLINE: o.roofline = 1; break;
        case OPT_BATCH:
            if (!cli_parse_int(optarg, 1, 65536, &v))
                return cli_usage_error(&common, "--batch wants a whole number from 1 to 65536, got '%s'", optarg);
            o.batch = v;
            batch_given = 1;
            break;
        case OPT_RUNS:
            if (!cli_parse_int(optarg, 1, 1000000, &v))
                return cli_usage_error(&common, "--runs wants a whole number from 1 to 1000000, got '%s'", optarg);
            o.runs = (int)v;
            break;
        case OPT_WARMUP:
            if (!cli_parse_int(optarg, 0, 1000000, &v))
                return cli_usage_error(&common, "--warmup wants a whole number from 0 to 1000000, got '%s'", optarg);
            o.warmup = (int)v;
            break;
        case OPT_LR:
            if (!cli_parse_double(optarg, 0.0, 1e6, &lr))
                return cli_usage_error(&common, "--lr wants a number from 0 to 1e6, got '%s'", optarg);
            break;
        case OPT_MOMENTUM:
            if (!cli_parse_double(optarg, 0.0, 1.0, &momentum))
                return cli_usage_error(&common, "--momentum wants a number from 0 to 1, got '%s'", optarg);
            break;
        case OPT_SEED:
            if (!cli_parse_u64(optarg, &o.seed))
                return cli_usage_error(&common, "--seed wants a whole number, got '%s'", optarg);
            break;
        default: break;
        }
    }
    if (conv) {
        if (optind != argc)
            return cli_usage_error(&common, "--conv takes no GRAPH file");
        if (train || weights || data || o.roofline)
            return cli_usage_error(&common, "--conv times all passes; --train, --weights, --data and --roofline do not apply");
    } else if (optind + 1 != argc) {
        return cli_usage_error(&common, "expected one GRAPH file");
    }
    ctx = cli_context(&common);
    if (!ctx)
        return CLI_FAIL;
    if (conv)
        code = bench_conv_run(&common, ctx, conv, &o);
    else
        code = bench_graph_run(&common, ctx, argv[optind], &o, train, lr,
                               momentum, weights, data, batch_given);
    cnn_context_destroy(ctx);
    return code;
}
