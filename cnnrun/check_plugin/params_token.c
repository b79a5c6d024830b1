/* SPDX-License-Identifier: MIT */
/* ABI 1.5's params_token, checked by doing what it allows. With a token a
 * plugin may keep data derived from its parameters (a repacked copy of the
 * weights) between calls; a cache that outlives its token gives stale
 * outputs without any error, so for a layer with parameters:
 *
 *   inference forward with a token gives the output without one (within
 *   float rounding: another algorithm may run), and the same bits at a
 *   second call with that token;
 *   after the parameters change, forward with a new token follows them. */
#include <stdlib.h>
#include <string.h>

#include "check_plugin.h"

/* Another algorithm sums in another order: a looser bound than the
 * epilogue's 1e-5. */
#define TOKEN_TOL 1e-4

static void forward_with(ck_layer *L, uint64_t token, ck_buf *out,
                         uint64_t seed, ck_outcome *o)
{
    L->params_token = token;
    ck_forward(L, out, NULL, &L->out_shape, 0, seed, 1, o);
    L->params_token = 0;
}

void ck_check_params_token(ck_report *r, ck_layer *L, uint64_t seed)
{
    /* Never the same as another check's token in this process. */
    static uint64_t next_token = (uint64_t)1 << 48;
    char name[192];
    ck_buf plain, tok, again;
    ck_outcome o;
    float *saved[CK_MAX_PARAMS] = {0};
    uint64_t token = next_token++;
    int ok = 1;
    if (CNN_LAYER_ABI_MINOR_OF(L->desc->abi_version) < 5 || !L->n_params ||
        !L->y.n)
        return;
    snprintf(name, sizeof name, "forward %s, with a params token", L->label);
    memset(&plain, 0, sizeof plain);
    memset(&tok, 0, sizeof tok);
    memset(&again, 0, sizeof again);
    if (!ck_buf_alloc(&plain, L->y.n) || !ck_buf_alloc(&tok, L->y.n) ||
        !ck_buf_alloc(&again, L->y.n)) {
        ck_report_add(r, CK_FAIL, name, "out of memory");
        goto done;
    }
    ck_forward(L, &plain, NULL, &L->out_shape, 0, seed, 1, &o);
    if (ck_hook_failed(r, name, &o))
        goto done;
    forward_with(L, token, &tok, seed, &o);
    if (ck_hook_failed(r, name, &o) ||
        !ck_close_or_report(r, name, tok.data, plain.data, L->y.n, TOKEN_TOL,
                            "the output with a params token differs from "
                            "the output without one"))
        goto done;
    forward_with(L, token, &again, seed, &o);
    if (ck_hook_failed(r, name, &o))
        goto done;
    if (memcmp(tok.data, again.data, L->y.n * sizeof(float)) != 0) {
        ck_report_add(r, CK_FAIL, name,
                      "two calls with the same params token give different "
                      "outputs");
        goto done;
    }
    /* New values, a new token: the output must follow them. */
    for (uint32_t i = 0; i < L->n_params && ok; i++) {
        saved[i] = malloc(L->p[i].n * sizeof(float) + 1);
        ok = saved[i] != NULL;
        if (ok)
            memcpy(saved[i], L->p[i].data, L->p[i].n * sizeof(float));
    }
    if (!ok) {
        ck_report_add(r, CK_FAIL, name, "out of memory");
        goto restore;
    }
    for (uint32_t i = 0; i < L->n_params; i++)
        if (!(L->specs[i].flags & CNN_PARAM_STATE))
            for (size_t k = 0; k < L->p[i].n; k++)
                L->p[i].data[k] = -0.5f * L->p[i].data[k] + 0.01f;
    /* The new token first: a call without one may drop what was kept. */
    forward_with(L, next_token++, &tok, seed, &o);
    if (ck_hook_failed(r, name, &o))
        goto restore;
    ck_forward(L, &plain, NULL, &L->out_shape, 0, seed, 1, &o);
    if (ck_hook_failed(r, name, &o) ||
        !ck_close_or_report(r, name, tok.data, plain.data, L->y.n, TOKEN_TOL,
                            "after the parameters changed, the output with "
                            "a new params token differs from the output "
                            "without one (data kept from the old token?)"))
        goto restore;
    ck_report_add(r, CK_PASS, name,
                  "the output without a token (within %g), the same bits at "
                  "a second call, and new parameter values followed under a "
                  "new token",
                  TOKEN_TOL);
restore:
    for (uint32_t i = 0; i < L->n_params; i++)
        if (saved[i])
            memcpy(L->p[i].data, saved[i], L->p[i].n * sizeof(float));
done:
    for (uint32_t i = 0; i < L->n_params; i++)
        free(saved[i]);
    ck_buf_free(&plain);
    ck_buf_free(&tok);
    ck_buf_free(&again);
}
