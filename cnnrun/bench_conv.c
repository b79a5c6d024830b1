/* SPDX-License-Identifier: MIT */
/* cnnrun bench --conv C,H,W,K,KSIZE[,STRIDE[,PAD[,GROUPS]]]: one
 * convolution layer,
 * run through the executor like any graph, pass by pass:
 *   forward      y = conv(x)                     GEMM M=K,   N=B*OH*OW, K=C*k*k
 *   inference    the same, as `cnnrun bench GRAPH`, predict and eval run it:
 *                an inference executor with constant weights (plugin ABI
 *                1.5), which may keep them repacked (filter_lanes.c)
 *   input-grad   dx from dy (weights frozen)     GEMM M=C*k*k, N=B*OH*OW, K=K (A^T)
 *   weight-grad  dW, db from dy (no dx)          GEMM M=K, N=C*k*k, K=B*OH*OW (B^T)
 * and cblas_sgemm alone on those shapes, in the same process, with OpenBLAS
 * at the same thread count: the rate an im2col + GEMM convolution could
 * reach if everything around the GEMM were free. With GROUPS the GEMMs are
 * those of one group (K/GROUPS filters, C/GROUPS channels), called GROUPS
 * times per image: what im2col + GEMM per group could reach.
 *
 * The input-gradient pass needs a learning layer below the convolution
 * (the executor never computes the gradient of the graph's input), so that
 * graph puts a 1x1 convolution first and freezes the one under test; only
 * the latter's time is counted. */
#include <cblas.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "gemm.h"
#include "cnn/exec.h"
#include "cnn/graph.h"
#include "cnn/params.h"

/* Larger column matrices are timed one image per GEMM call. */
#define SGEMM_MAX_BYTES ((size_t)1 << 30)

enum { P_FORWARD, P_INFER, P_DX, P_DW, N_PASSES };
static const char *const pass_names[N_PASSES] = {"forward", "inference",
                                                 "input-grad", "weight-grad"};

typedef struct conv_case {
    long long c, h, w, k, ks, stride, pad, groups;
    long long oh, ow;
    int64_t batch;
    size_t ckk, cols; /* GEMM K of forward, N of one call */
    int calls;        /* GEMM calls per pass */
    double flops;     /* per pass */
    double conv_s[N_PASSES], sgemm_s[N_PASSES];
    double gemm_s[N_PASSES]; /* the plugins' GEMM; 1 thread only, else 0 */
} conv_case;

static int parse_spec(const char *spec, conv_case *cc)
{
    long long v[8] = {0, 0, 0, 0, 0, 1, 0, 1};
    char buf[256], *save = NULL, *tok;
    int n = 0;
    if (strlen(spec) >= sizeof buf)
        return 0;
    strcpy(buf, spec);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long long lo = n == 6 ? 0 : 1;
        if (n == 8 || !cli_parse_int(tok, lo, 65536, &v[n]))
            return 0;
        n++;
    }
    if (n < 5)
        return 0;
    cc->c = v[0], cc->h = v[1], cc->w = v[2], cc->k = v[3], cc->ks = v[4];
    cc->stride = v[5], cc->pad = v[6], cc->groups = v[7];
    return 1;
}

static cnn_status load_case(cnn_context *ctx, const conv_case *cc, int with_pre,
                            cnn_graph **g)
{
    char yaml[1024], pre[128] = "";
    int len;
    cnn_status st;
    if (with_pre)
        snprintf(pre, sizeof pre,
                 "  - {name: pre, type: conv, filters: %lld, kernel: 1}\n", cc->c);
    len = snprintf(yaml, sizeof yaml,
                   "name: conv_bench\ninput: [%lld, %lld, %lld]\nlayers:\n%s"
                   "  - {name: conv, type: conv, filters: %lld, kernel: %lld, "
                   "stride: %lld, padding: %lld, groups: %lld}\n",
                   cc->c, cc->h, cc->w, pre, cc->k, cc->ks, cc->stride, cc->pad,
                   cc->groups);
    st = cnn_graph_load_string(ctx, yaml, (size_t)len, "--conv", g);
    if (st == CNN_OK && with_pre)
        st = cnn_graph_set_trainable(ctx, *g, "conv", 0);
    return st;
}

typedef struct conv_exec {
    cnn_graph *graph;
    cnn_params *params;
    cnn_exec *ex;
} conv_exec;

static void conv_exec_close(conv_exec *e)
{
    cnn_exec_destroy(e->ex);
    cnn_params_destroy(e->params);
    cnn_graph_destroy(e->graph);
}

/* training: an executor for the three training passes; else one for
 * inference on constant weights. */
static cnn_status conv_exec_open(cnn_context *ctx, const conv_case *cc,
                                 int with_pre, int training, uint64_t seed,
                                 conv_exec *e)
{
    cnn_exec_options eo = {cc->batch, training, -1, !training};
    cnn_status st = load_case(ctx, cc, with_pre, &e->graph);
    if (st == CNN_OK)
        st = cnn_params_create(ctx, e->graph, &e->params);
    if (st != CNN_OK)
        return st;
    cnn_params_init(e->params, seed);
    st = cnn_exec_create(ctx, e->graph, e->params, &eo, &e->ex);
    if (st == CNN_OK)
        cnn_exec_set_timing(e->ex, 1);
    return st;
}

/* cblas_sgemm operands for the three GEMMs: W [K, CKK], dW, col [CKK, N],
 * y [K, N]. */
typedef struct sgemm_ops {
    float *w, *dw, *col, *y;
} sgemm_ops;

static void sgemm_free(sgemm_ops *g)
{
    free(g->w);
    free(g->dw);
    free(g->col);
    free(g->y);
}

static int sgemm_alloc(const conv_case *cc, uint64_t seed, sgemm_ops *g)
{
    size_t kk = (size_t)(cc->k / cc->groups);
    g->w = malloc(kk * cc->ckk * sizeof(float));
    g->dw = malloc(kk * cc->ckk * sizeof(float));
    g->col = malloc(cc->ckk * cc->cols * sizeof(float));
    g->y = malloc(kk * cc->cols * sizeof(float));
    if (!g->w || !g->dw || !g->col || !g->y)
        return 0;
    bench_fill_uniform(g->w, kk * cc->ckk, seed, -0.05f, 0.05f);
    bench_fill_uniform(g->col, cc->ckk * cc->cols, seed + 1, 0.0f, 1.0f);
    bench_fill_uniform(g->y, kk * cc->cols, seed + 2, -1.0f, 1.0f);
    return 1;
}

/* The plugins' own GEMM (cnn_sgemm, single-threaded) on the same shapes. */
static void plugin_gemm_pass(const conv_case *cc, int pass, sgemm_ops *g)
{
    const size_t K = (size_t)(cc->k / cc->groups), CKK = cc->ckk;
    const size_t N = cc->cols;
    for (int i = 0; i < cc->calls; i++) {
        if (pass == P_FORWARD || pass == P_INFER)
            cnn_sgemm(0, 0, K, N, CKK, 1.0f, g->w, CKK, g->col, N, 0.0f,
                      g->y, N);
        else if (pass == P_DX)
            cnn_sgemm(1, 0, CKK, N, K, 1.0f, g->w, CKK, g->y, N, 0.0f,
                      g->col, N);
        else
            cnn_sgemm(0, 1, K, CKK, N, 1.0f, g->y, N, g->col, N,
                      i ? 1.0f : 0.0f, g->dw, CKK);
    }
}

/* cblas_sgemm on the pass's GEMM, as many calls as images need. */
static void sgemm_pass(const conv_case *cc, int pass, sgemm_ops *g)
{
    const int K = (int)(cc->k / cc->groups), CKK = (int)cc->ckk;
    const int N = (int)cc->cols;
    for (int i = 0; i < cc->calls; i++) {
        if (pass == P_FORWARD || pass == P_INFER)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, N, CKK,
                        1.0f, g->w, CKK, g->col, N, 0.0f, g->y, N);
        else if (pass == P_DX)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, N, K,
                        1.0f, g->w, CKK, g->y, N, 0.0f, g->col, N);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, CKK, N,
                        1.0f, g->y, N, g->col, N, i ? 1.0f : 0.0f, g->dw, CKK);
    }
}

/* Times one pass of the layer under test (index layer). The executor
 * keeps OpenBLAS at one thread and runs its own pool of T threads. */
static cnn_status time_pass(conv_case *cc, conv_exec *e, const cnn_tensor *x,
                            const cnn_tensor *dy, int pass, size_t layer,
                            const bench_options *o, double *samples)
{
    cnn_status st = CNN_OK;
    const int forward = pass == P_FORWARD || pass == P_INFER;
    if (!forward)
        st = cnn_exec_forward(e->ex, x, 1, o->seed, layer);
    for (int r = -o->warmup; st == CNN_OK && r < o->runs; r++) {
        if (forward)
            st = cnn_exec_forward(e->ex, x, 0, o->seed, layer);
        else if (r == -o->warmup ||
                 (st = cnn_exec_forward(e->ex, x, 1, o->seed, layer)) == CNN_OK)
            /* One backward per forward: backward reuses the activations'
             * memory (only the backward's own time is sampled). */
            st = cnn_exec_backward(e->ex, dy, layer, 0);
        if (r >= 0)
            samples[r] = forward ? cnn_exec_forward_seconds(e->ex, layer)
                                 : cnn_exec_backward_seconds(e->ex, layer);
    }
    if (st != CNN_OK)
        return st;
    cc->conv_s[pass] = bench_median(samples, (size_t)o->runs);
    return CNN_OK;
}

/* Times the pass's GEMMs: cblas_sgemm with OpenBLAS at T threads, and at
 * one thread the plugins' own GEMM. Called only once every convolution
 * pass is timed: after a multi-threaded call OpenBLAS's idle workers spin
 * for a while (sched_yield), and they took the second core from the
 * pool's worker in the next pass (LeNet's conv1 forward showed no gain
 * from a second thread while they did). */
static void time_gemms(conv_case *cc, int pass, const bench_options *o,
                       int threads, sgemm_ops *g, double *samples)
{
    int saved = openblas_get_num_threads();
    openblas_set_num_threads(threads);
    for (int r = -o->warmup; r < o->runs; r++) {
        double t0 = bench_now();
        sgemm_pass(cc, pass, g);
        if (r >= 0)
            samples[r] = bench_now() - t0;
    }
    openblas_set_num_threads(saved);
    cc->sgemm_s[pass] = bench_median(samples, (size_t)o->runs);
    cc->gemm_s[pass] = 0.0;
    if (threads == 1) {
        for (int r = -o->warmup; r < o->runs; r++) {
            double t0 = bench_now();
            plugin_gemm_pass(cc, pass, g);
            if (r >= 0)
                samples[r] = bench_now() - t0;
        }
        cc->gemm_s[pass] = bench_median(samples, (size_t)o->runs);
    }
}

static void print_table(const conv_case *cc, const char *spec,
                        const bench_options *o, int threads)
{
    printf("cnnrun bench --conv %s: %lldx%lldx%lld -> %lldx%lldx%lld, kernel %lld, "
           "stride %lld, padding %lld, groups %lld\n",
           spec, cc->c, cc->h, cc->w, cc->k, cc->oh, cc->ow, cc->ks, cc->stride,
           cc->pad, cc->groups);
    printf("Batch %lld, %d thread%s; medians of %d runs after %d warm-up(s); "
           "%.3f GFLOP per pass\n",
           (long long)cc->batch, threads, threads == 1 ? "" : "s", o->runs,
           o->warmup, cc->flops * 1e-9);
    printf("sgemm: forward M=%lld N=%zu K=%zu, input-grad M=%zu N=%zu K=%lld "
           "(A^T), weight-grad M=%lld N=%zu K=%zu (B^T); %d call%s each\n\n",
           cc->k / cc->groups, cc->cols, cc->ckk, cc->ckk, cc->cols,
           cc->k / cc->groups, cc->k / cc->groups, cc->ckk, cc->cols, cc->calls, cc->calls == 1 ? "" : "s");
    printf("%-12s %10s %9s %10s %9s %11s %10s %10s\n", "Pass", "conv ms",
           "GFLOP/s", "sgemm ms", "GFLOP/s", "conv/sgemm", "gemm ms",
           "conv/gemm");
    for (int p = 0; p < N_PASSES; p++) {
        printf("%-12s %10.3f %9.1f %10.3f %9.1f %10.1f%%", pass_names[p],
               1e3 * cc->conv_s[p], bench_gflops(cc->flops, cc->conv_s[p]),
               1e3 * cc->sgemm_s[p], bench_gflops(cc->flops, cc->sgemm_s[p]),
               cc->conv_s[p] > 0 ? 100.0 * cc->sgemm_s[p] / cc->conv_s[p] : 0.0);
        if (cc->gemm_s[p] > 0 && cc->conv_s[p] > 0)
            printf(" %10.3f %9.1f%%\n", 1e3 * cc->gemm_s[p],
                   100.0 * cc->gemm_s[p] / cc->conv_s[p]);
        else
            printf(" %10s %10s\n", "-", "-");
    }
    printf("\nsgemm: cblas_sgemm (OpenBLAS %s kernels) at the same thread "
           "count; gemm: the GEMM the plugins call (%s), one thread, shown "
           "at --threads 1 only.\n",
           openblas_get_corename(), bench_gemm_name());
}

static int print_json(const conv_case *cc, const char *spec,
                      const bench_options *o, int threads)
{
    json_t *passes = json_array();
    json_t *root = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, "
        "s:i, s:f, s:{s:I, s:I, s:I, s:i}, s:o}",
        "spec", spec, "c", (json_int_t)cc->c, "h", (json_int_t)cc->h, "w",
        (json_int_t)cc->w, "k", (json_int_t)cc->k, "kernel", (json_int_t)cc->ks,
        "stride", (json_int_t)cc->stride, "padding", (json_int_t)cc->pad,
        "groups", (json_int_t)cc->groups, "oh",
        (json_int_t)cc->oh, "ow", (json_int_t)cc->ow, "batch",
        (json_int_t)cc->batch, "threads", threads, "runs", o->runs, "warmup",
        o->warmup, "flops", cc->flops, "gemm", "m",
        (json_int_t)(cc->k / cc->groups), "n",
        (json_int_t)cc->cols, "k", (json_int_t)cc->ckk, "calls", cc->calls,
        "passes", passes);
    char *text;
    int bad = !root;
    for (int p = 0; !bad && p < N_PASSES; p++) {
        json_t *e = json_pack("{s:s, s:f, s:f, s:f, s:f, s:f, s:o, s:o}", "pass",
                              pass_names[p], "ms", 1e3 * cc->conv_s[p], "gflops",
                              bench_gflops(cc->flops, cc->conv_s[p]), "sgemm_ms",
                              1e3 * cc->sgemm_s[p], "sgemm_gflops",
                              bench_gflops(cc->flops, cc->sgemm_s[p]),
                              "of_sgemm",
                              cc->conv_s[p] > 0 ? cc->sgemm_s[p] / cc->conv_s[p] : 0.0,
                              "gemm_ms",
                              cc->gemm_s[p] > 0 ? json_real(1e3 * cc->gemm_s[p])
                                                : json_null(),
                              "of_gemm",
                              cc->gemm_s[p] > 0 && cc->conv_s[p] > 0
                                  ? json_real(cc->gemm_s[p] / cc->conv_s[p])
                                  : json_null());
        bad |= !e || json_array_append_new(passes, e);
    }
    text = bad ? NULL : json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    json_decref(root);
    if (!text)
        return -1;
    puts(text);
    free(text);
    return 0;
}

int bench_conv_run(const cli_common *common, cnn_context *ctx, const char *spec,
                   const bench_options *o)
{
    conv_case cc;
    conv_exec plain, pre, infer;
    sgemm_ops ops = {0};
    cnn_tensor x = {0}, dy = {0};
    double *samples = NULL;
    int code = CLI_OK;

    memset(&cc, 0, sizeof cc);
    memset(&plain, 0, sizeof plain);
    memset(&pre, 0, sizeof pre);
    memset(&infer, 0, sizeof infer);
    if (!parse_spec(spec, &cc))
        return cli_usage_error(common, "--conv wants C,H,W,K,KSIZE[,STRIDE[,PAD"
                                       "[,GROUPS]]] (whole numbers, each at most "
                                       "65536), got '%s'",
                               spec);
    cc.batch = o->batch;
    if (conv_exec_open(ctx, &cc, 0, 1, o->seed, &plain) != CNN_OK ||
        conv_exec_open(ctx, &cc, 1, 1, o->seed, &pre) != CNN_OK ||
        conv_exec_open(ctx, &cc, 0, 0, o->seed, &infer) != CNN_OK) {
        code = cli_fail(common, ctx);
        goto done;
    }
    {
        cnn_layer_info li;
        cnn_graph_layer_info(plain.graph, 0, &li);
        cc.oh = li.output_shape.dims[2];
        cc.ow = li.output_shape.dims[3];
        cc.ckk = (size_t)(cc.c / cc.groups * cc.ks * cc.ks);
        cc.flops = (double)li.flops * (double)cc.batch;
        cc.cols = (size_t)(cc.oh * cc.ow) * (size_t)cc.batch;
        cc.calls = (int)cc.groups;
        if (cc.ckk * cc.cols * sizeof(float) > SGEMM_MAX_BYTES) {
            cc.cols = (size_t)(cc.oh * cc.ow);
            cc.calls = (int)(cc.batch * cc.groups);
        }
        x.shape = cnn_shape4(cc.batch, cc.c, cc.h, cc.w);
        dy.shape = cnn_shape4(cc.batch, cc.k, cc.oh, cc.ow);
    }
    x.data = malloc(cnn_tensor_numel(&x) * sizeof(float));
    dy.data = malloc(cnn_tensor_numel(&dy) * sizeof(float));
    samples = malloc((size_t)o->runs * sizeof *samples);
    if (!x.data || !dy.data || !samples || !sgemm_alloc(&cc, o->seed, &ops)) {
        code = cli_failf(common, "out of memory");
        goto done;
    }
    bench_fill_uniform(x.data, cnn_tensor_numel(&x), o->seed, 0.0f, 1.0f);
    bench_fill_uniform(dy.data, cnn_tensor_numel(&dy), o->seed + 1, -1e-3f, 1e-3f);
    for (int p = 0; p < N_PASSES; p++) {
        conv_exec *e = p == P_DX ? &pre : p == P_INFER ? &infer : &plain;
        if (time_pass(&cc, e, &x, &dy, p, p == P_DX ? 1 : 0, o, samples) !=
            CNN_OK) {
            code = cli_fail(common, ctx);
            goto done;
        }
    }
    for (int p = 0; p < N_PASSES; p++)
        time_gemms(&cc, p, o, cnn_context_threads(ctx), &ops, samples);
    if (o->json) {
        if (print_json(&cc, spec, o, cnn_context_threads(ctx)) != 0)
            code = cli_failf(common, "out of memory");
    } else {
        print_table(&cc, spec, o, cnn_context_threads(ctx));
    }
done:
    conv_exec_close(&plain);
    conv_exec_close(&pre);
    conv_exec_close(&infer);
    free(x.data);
    free(dy.data);
    free(samples);
    sgemm_free(&ops);
    return code;
}
