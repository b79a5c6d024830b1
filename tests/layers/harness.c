/* SPDX-License-Identifier: MIT */
/* The test host for single layers; see harness.h for what it checks. */
#include "harness.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Canary: 64 bytes after every buffer the plugin may write. */
#define LH_CANARY_BYTES 64
#define LH_CANARY_BYTE(i) ((unsigned char)(0xA5u ^ (unsigned)(i)*37u))

static void lh_canary_set(unsigned char *p)
{
    for (size_t i = 0; i < LH_CANARY_BYTES; i++)
        p[i] = LH_CANARY_BYTE(i);
}

static int lh_canary_intact(const unsigned char *p)
{
    for (size_t i = 0; i < LH_CANARY_BYTES; i++)
        if (p[i] != LH_CANARY_BYTE(i))
            return 0;
    return 1;
}

void lh_buf_alloc(lh_buf *b, size_t n)
{
    unsigned char *p = malloc(n * sizeof(float) + LH_CANARY_BYTES);
    cr_assert_not_null(p, "out of memory for %zu floats", n);
    memset(p, 0, n * sizeof(float));
    lh_canary_set(p + n * sizeof(float));
    b->data = (float *)(void *)p;
    b->n = n;
    b->canary = 1;
}

void lh_buf_alloc_exact(lh_buf *b, size_t n)
{
    b->data = calloc(n ? n : 1, sizeof(float));
    cr_assert_not_null(b->data, "out of memory for %zu floats", n);
    b->n = n;
    b->canary = 0;
}

void lh_buf_free(lh_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->n = 0;
}

void lh_buf_fill(lh_buf *b, float v)
{
    for (size_t i = 0; i < b->n; i++)
        b->data[i] = v;
}

int lh_buf_canary_ok(const lh_buf *b)
{
    if (!b->data || !b->canary)
        return 1;
    return lh_canary_intact((const unsigned char *)b->data +
                            b->n * sizeof(float));
}

/* ---- Host services ------------------------------------------------------ */

static void lh_ws_release(lh_host *h)
{
    if (h->ws_block) {
        if (!lh_canary_intact(h->ws_block + h->ws_floats * sizeof(float)))
            h->ws_canary_bad = 1;
        free(h->ws_block);
    }
    h->ws_block = NULL;
    h->ws_floats = 0;
}

static float *lh_workspace(void *host, size_t n_floats)
{
    lh_host *h = host;
    h->ws_calls++;
    if (n_floats > h->ws_max_request)
        h->ws_max_request = n_floats;
    /* The ABI: a second call invalidates the first buffer. Freeing it lets
     * valgrind and ASan catch a plugin that keeps using it. */
    lh_ws_release(h);
    if (n_floats > ((size_t)1 << 32) ||
        (h->ws_limit && n_floats > h->ws_limit))
        return NULL;
    size_t bytes = n_floats * sizeof(float) + LH_CANARY_BYTES;
    bytes = (bytes + 63u) / 64u * 64u;
    unsigned char *p = aligned_alloc(64, bytes);
    if (!p)
        return NULL;
    /* NaN everywhere: scratch is not promised to be zeroed. */
    float *f = (float *)(void *)p;
    for (size_t i = 0; i < n_floats; i++)
        f[i] = NAN;
    lh_canary_set(p + n_floats * sizeof(float));
    h->ws_block = p;
    h->ws_floats = n_floats;
    return f;
}

/* Runs the chunks in reverse order on the calling thread: deterministic
 * (valgrind-friendly) while still proving the plugin's ranges are
 * independent and cover [0, n). */
static void lh_parallel_for(void *host, size_t n, cnn_range_fn fn, void *arg)
{
    lh_host *h = host;
    h->pf_calls++;
    if (h->pf_depth > 0)
        h->pf_bad_nesting = 1;
    h->pf_depth++;
    size_t chunks = 3;
    for (size_t c = chunks; c-- > 0;) {
        size_t b = n * c / chunks, e = n * (c + 1) / chunks;
        if (b < e)
            fn(arg, b, e);
    }
    h->pf_depth--;
}

void lh_host_init(lh_host *h)
{
    memset(h, 0, sizeof *h);
    h->env.host = h;
    h->env.workspace = lh_workspace;
    h->env.parallel_for = lh_parallel_for;
    h->env.threads = 3;
}

int lh_host_end_hook(lh_host *h)
{
    lh_ws_release(h);
    int ok = !h->ws_canary_bad && !h->pf_bad_nesting;
    h->ws_canary_bad = 0;
    h->pf_bad_nesting = 0;
    h->ws_calls = 0;
    h->pf_calls = 0;
    h->last_ws_max = h->ws_max_request;
    h->ws_max_request = 0;
    return ok;
}

void lh_host_free(lh_host *h)
{
    lh_ws_release(h);
}

/* ---- Context and layer ------------------------------------------------- */

cnn_context *lh_context(void)
{
    cnn_context *ctx = cnn_context_create();
    cr_assert_not_null(ctx);
    /* The default search: the build tree's <type>/<type>.so first. That
     * the plugin under test really came from this build tree is asserted
     * when it is loaded (lh_layer_open). */
    return ctx;
}

static size_t lh_numel(const cnn_shape *s)
{
    int ok;
    size_t n = cnn_shape_numel_checked(s, &ok);
    cr_assert(ok && s->rank >= 1, "bad shape (rank %d)", (int)s->rank);
    return n;
}

void lh_layer_open(lh_layer *L, cnn_context *ctx, const char *type,
                   const char *const *settings, size_t n_settings,
                   const cnn_shape *in_shapes, uint32_t n_in)
{
    memset(L, 0, sizeof *L);
    L->ctx = ctx;
    cr_assert(strlen(type) < sizeof L->type);
    strcpy(L->type, type);
    cr_assert(n_in <= LH_MAX_INPUTS);
    cnn_status st = cnn_plugin_get(ctx, type, &L->plugin);
    cr_assert_eq(st, CNN_OK, "loading plugin '%s': %s", type,
                 cnn_context_message(ctx));
    const char *path = cnn_plugin_path(L->plugin);
    cr_assert(path && strncmp(path, CNN_TEST_PLUGIN_ROOT "/",
                              strlen(CNN_TEST_PLUGIN_ROOT "/")) == 0,
              "plugin '%s' was loaded from %s, not from the build tree %s",
              type, path ? path : "(null)", CNN_TEST_PLUGIN_ROOT);
    L->desc = cnn_plugin_descriptor(L->plugin);
    cr_assert_not_null(L->desc);
    cr_assert(L->desc->n_hparams <= LH_MAX_HPARAMS);
    st = cnn_hparams_from_settings(ctx, L->desc, settings, n_settings, L->hp);
    cr_assert_eq(st, CNN_OK, "%s: hyperparameters: %s", type,
                 cnn_context_message(ctx));

    cnn_errbuf eb = {L->err, sizeof L->err};
    L->n_in = n_in;
    for (uint32_t i = 0; i < n_in; i++)
        L->in_shapes[i] = in_shapes[i];
    L->err[0] = '\0';
    st = L->desc->infer_shape(L->hp, L->in_shapes, n_in, &L->out_shape, &eb);
    cr_assert_eq(st, CNN_OK, "%s: infer_shape: %s", type, L->err);

    L->layer.name = "under_test";
    L->layer.hparams = L->hp;
    L->layer.input_shapes = L->in_shapes;
    L->layer.n_inputs = n_in;
    L->layer.state = NULL;
    if (L->desc->create) {
        st = L->desc->create(&L->layer, &eb);
        cr_assert_eq(st, CNN_OK, "%s: create: %s", type, L->err);
        L->created = 1;
    }
    if (L->desc->params) {
        uint32_t count = 0;
        st = L->desc->params(&L->layer, L->specs, LH_MAX_PARAMS, &count, &eb);
        cr_assert_eq(st, CNN_OK, "%s: params: %s", type, L->err);
        cr_assert(count <= LH_MAX_PARAMS, "%s: %u params", type, count);
        L->n_params = count;
    }

    for (uint32_t i = 0; i < n_in; i++) {
        lh_buf_alloc_exact(&L->x[i], lh_numel(&in_shapes[i]));
        lh_buf_alloc(&L->dx[i], L->x[i].n);
    }
    for (uint32_t i = 0; i < L->n_params; i++) {
        lh_buf_alloc_exact(&L->p[i], lh_numel(&L->specs[i].shape));
        lh_buf_alloc(&L->dp[i], L->p[i].n);
    }
    lh_buf_alloc(&L->y, lh_numel(&L->out_shape));
    lh_buf_alloc_exact(&L->dy, L->y.n);
    lh_host_init(&L->host);
}

void lh_layer_close(lh_layer *L)
{
    if (L->created && L->desc->destroy)
        L->desc->destroy(&L->layer);
    L->created = 0;
    for (uint32_t i = 0; i < L->n_in; i++) {
        lh_buf_free(&L->x[i]);
        lh_buf_free(&L->dx[i]);
    }
    for (uint32_t i = 0; i < L->n_params; i++) {
        lh_buf_free(&L->p[i]);
        lh_buf_free(&L->dp[i]);
    }
    lh_buf_free(&L->y);
    lh_buf_free(&L->dy);
    lh_host_free(&L->host);
}

int lh_hp_index(const lh_layer *L, const char *name)
{
    int i = cnn_descriptor_hparam_index(L->desc, name);
    cr_assert(i >= 0, "%s has no hyperparameter '%s'", L->type, name);
    return i;
}

const cnn_hparam_value *lh_hp(const lh_layer *L, const char *name)
{
    return &L->hp[lh_hp_index(L, name)];
}

/* ---- Running hooks ------------------------------------------------------ */

static cnn_shape lh_with_batch(cnn_shape s, int64_t batch)
{
    if (batch >= 0)
        s.dims[0] = batch;
    return s;
}

/* Snapshot of read-only buffers, to prove a hook left them alone. */
typedef struct lh_snapshot {
    float *copy;
    const float *src;
    size_t n;
} lh_snapshot;

static void lh_snap(lh_snapshot *s, const float *src, size_t n)
{
    s->src = src;
    s->n = n;
    s->copy = malloc((n ? n : 1) * sizeof(float));
    cr_assert_not_null(s->copy);
    if (n)
        memcpy(s->copy, src, n * sizeof(float));
}

static int lh_snap_same(lh_snapshot *s)
{
    int same = s->n == 0 || memcmp(s->copy, s->src, s->n * sizeof(float)) == 0;
    free(s->copy);
    s->copy = NULL;
    return same;
}

void lh_forward_batch(lh_layer *L, int training, uint64_t seed, int64_t batch,
                      float *out)
{
    cnn_tensor in[LH_MAX_INPUTS], par[LH_MAX_PARAMS], y;
    lh_snapshot snaps[LH_MAX_INPUTS + LH_MAX_PARAMS];
    size_t ns = 0;
    for (uint32_t i = 0; i < L->n_in; i++) {
        in[i].shape = lh_with_batch(L->in_shapes[i], batch);
        in[i].data = L->x[i].data;
        lh_snap(&snaps[ns++], in[i].data, cnn_tensor_numel(&in[i]));
    }
    for (uint32_t i = 0; i < L->n_params; i++) {
        par[i].shape = L->specs[i].shape;
        par[i].data = L->p[i].data;
        /* Running statistics may change in a training forward, only. */
        if (!(training && (L->specs[i].flags & CNN_PARAM_STATE)))
            lh_snap(&snaps[ns++], par[i].data, L->p[i].n);
    }
    cnn_errbuf eb = {L->err, sizeof L->err};
    cnn_shape ys;
    L->err[0] = '\0';
    cnn_shape shapes[LH_MAX_INPUTS];
    for (uint32_t i = 0; i < L->n_in; i++)
        shapes[i] = in[i].shape;
    cnn_status st = L->desc->infer_shape(L->hp, shapes, L->n_in, &ys, &eb);
    cr_assert_eq(st, CNN_OK, "%s: infer_shape (batch %lld): %s", L->type,
                 (long long)batch, L->err);
    y.shape = ys;
    y.data = out;
    size_t yn = cnn_tensor_numel(&y);
    cr_assert(yn <= L->y.n, "%s: output grew with a smaller batch", L->type);

    cnn_forward_args a;
    memset(&a, 0, sizeof a);
    a.inputs = in;
    a.n_inputs = L->n_in;
    a.params = L->n_params ? par : NULL;
    a.n_params = L->n_params;
    a.output = &y;
    a.training = training;
    a.seed = seed;
    a.env = &L->host.env;
    st = L->desc->forward(&L->layer, &a, &eb);
    L->last_status = st;
    cr_assert(lh_host_end_hook(&L->host),
              "%s: forward overran its workspace or nested parallel_for",
              L->type);
    if (st == CNN_ERR_NOMEM && L->allow_nomem) {
        cr_expect(L->err[0] != '\0', "%s: NOMEM without a message", L->type);
        for (size_t i = 0; i < ns; i++)
            free(snaps[i].copy);
        return;
    }
    cr_assert_eq(st, CNN_OK, "%s: forward: %s", L->type, L->err);
    for (size_t i = 0; i < ns; i++)
        cr_assert(lh_snap_same(&snaps[i]),
                  "%s: forward modified read-only tensor %zu", L->type, i);
}

void lh_forward(lh_layer *L, int training, uint64_t seed)
{
    lh_buf_fill(&L->y, NAN);
    lh_forward_batch(L, training, seed, -1, L->y.data);
    if (L->last_status != CNN_OK)
        return;
    cr_assert(lh_buf_canary_ok(&L->y), "%s: forward wrote past its output",
              L->type);
    for (size_t i = 0; i < L->y.n; i++)
        cr_assert(!isnan(L->y.data[i]),
                  "%s: forward left output element %zu unwritten (NaN)",
                  L->type, i);
}

void lh_backward(lh_layer *L, const int *want_dx, int want_dp, int training,
                 uint64_t seed)
{
    cnn_tensor in[LH_MAX_INPUTS], par[LH_MAX_PARAMS], dx[LH_MAX_INPUTS],
        dp[LH_MAX_PARAMS], y, dy;
    lh_snapshot snaps[LH_MAX_INPUTS + LH_MAX_PARAMS + 1];
    size_t ns = 0;
    for (uint32_t i = 0; i < L->n_in; i++) {
        in[i].shape = L->in_shapes[i];
        in[i].data = L->x[i].data;
        lh_snap(&snaps[ns++], in[i].data, L->x[i].n);
        int want = want_dx ? want_dx[i] : 1;
        dx[i].shape = L->in_shapes[i];
        dx[i].data = want ? L->dx[i].data : NULL;
        lh_buf_fill(&L->dx[i], NAN);
    }
    for (uint32_t i = 0; i < L->n_params; i++) {
        par[i].shape = L->specs[i].shape;
        par[i].data = L->p[i].data;
        lh_snap(&snaps[ns++], par[i].data, L->p[i].n);
        dp[i].shape = L->specs[i].shape;
        dp[i].data = L->dp[i].data;
        lh_buf_fill(&L->dp[i], NAN);
    }
    /* The saved output, read-only here: an exact-size copy so an
     * over-read shows under valgrind and ASan. */
    lh_buf ycopy;
    lh_buf_alloc_exact(&ycopy, L->y.n);
    memcpy(ycopy.data, L->y.data, L->y.n * sizeof(float));
    y.shape = L->out_shape;
    y.data = ycopy.data;
    dy.shape = L->out_shape;
    dy.data = L->dy.data;
    lh_snap(&snaps[ns++], dy.data, L->dy.n);

    cnn_backward_args a;
    memset(&a, 0, sizeof a);
    a.inputs = in;
    a.n_inputs = L->n_in;
    a.output = &y;
    a.output_grad = &dy;
    a.input_grads = dx;
    a.params = L->n_params ? par : NULL;
    a.n_params = L->n_params;
    a.param_grads = (want_dp && L->n_params) ? dp : NULL;
    a.training = training;
    a.seed = seed;
    a.env = &L->host.env;
    cnn_errbuf eb = {L->err, sizeof L->err};
    L->err[0] = '\0';
    cnn_status st = L->desc->backward(&L->layer, &a, &eb);
    L->last_status = st;
    int y_same = memcmp(ycopy.data, L->y.data, L->y.n * sizeof(float)) == 0;
    lh_buf_free(&ycopy);
    cr_assert(y_same, "%s: backward modified the saved output", L->type);
    cr_assert(lh_host_end_hook(&L->host),
              "%s: backward overran its workspace or nested parallel_for",
              L->type);
    if (st == CNN_ERR_NOMEM && L->allow_nomem) {
        cr_expect(L->err[0] != '\0', "%s: NOMEM without a message", L->type);
        for (size_t i = 0; i < ns; i++)
            free(snaps[i].copy);
        return;
    }
    cr_assert_eq(st, CNN_OK, "%s: backward: %s", L->type, L->err);
    for (size_t i = 0; i < ns; i++)
        cr_assert(lh_snap_same(&snaps[i]),
                  "%s: backward modified read-only tensor %zu", L->type, i);

    for (uint32_t i = 0; i < L->n_in; i++) {
        int want = want_dx ? want_dx[i] : 1;
        cr_assert(lh_buf_canary_ok(&L->dx[i]),
                  "%s: backward wrote past input gradient %u", L->type, i);
        for (size_t k = 0; k < L->dx[i].n; k++) {
            if (want)
                cr_assert(!isnan(L->dx[i].data[k]),
                          "%s: dx%u[%zu] left unwritten (NaN)", L->type, i, k);
            else
                cr_assert(isnan(L->dx[i].data[k]),
                          "%s: dx%u was not wanted but written", L->type, i);
        }
    }
    for (uint32_t i = 0; i < L->n_params; i++) {
        cr_assert(lh_buf_canary_ok(&L->dp[i]),
                  "%s: backward wrote past parameter gradient %u", L->type, i);
        for (size_t k = 0; k < L->dp[i].n; k++) {
            if (want_dp)
                cr_assert(!isnan(L->dp[i].data[k]),
                          "%s: d%s[%zu] left unwritten (NaN)", L->type,
                          L->specs[i].name, k);
            else
                cr_assert(isnan(L->dp[i].data[k]),
                          "%s: frozen layer's d%s was written", L->type,
                          L->specs[i].name);
        }
    }
}

double lh_linear_functional(const lh_layer *L, const float *r)
{
    double s = 0.0;
    for (size_t i = 0; i < L->y.n; i++)
        s += (double)r[i] * (double)L->y.data[i];
    return s;
}

/* ---- Random test data --------------------------------------------------- */

static uint64_t lh_next(lh_rng *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double lh_rng_uniform(lh_rng *r)
{
    return (double)(lh_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double lh_rng_normal(lh_rng *r)
{
    double u1 = lh_rng_uniform(r), u2 = lh_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void lh_fill_uniform(lh_rng *r, float *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * lh_rng_uniform(r));
}

void lh_fill_away_from_zero(lh_rng *r, float *x, size_t n, double lo,
                            double hi, double gap)
{
    for (size_t i = 0; i < n; i++) {
        double v;
        do
            v = lo + (hi - lo) * lh_rng_uniform(r);
        while (fabs(v) < gap);
        x[i] = (float)v;
    }
}

void lh_fill_distinct(lh_rng *r, float *x, size_t n, double spacing)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(((double)i - (double)n / 2.0) * spacing);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(lh_rng_uniform(r) * (double)i);
        float t = x[i - 1];
        x[i - 1] = x[j];
        x[j] = t;
    }
}
