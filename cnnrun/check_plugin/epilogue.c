/* SPDX-License-Identifier: MIT */
/* ABI 1.4's epilogue promises (cnn_epilogue), checked by doing what they
 * allow. The host folds a follower (batch norm, relu) into the layer below
 * at inference only on these promises, and a wrong one gives wrong outputs
 * without any error, so both are tested on the layer's own shapes:
 *
 *   accepts: forward with a random map (per-channel scale of both signs,
 *            shift, a clamp cutting both ends) gives the inference output
 *            with the map applied;
 *   describes: the map the hook gives, applied to the input, is the
 *            inference output. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_plugin.h"
#include "crash.h"

/* The map over a [N, C, ...] tensor, in place. */
static void apply_map(const cnn_epilogue *ep, const cnn_shape *s, float *y)
{
    size_t n = cnn_shape_numel(s), planes = (size_t)(s->dims[0] * s->dims[1]);
    size_t plane = planes ? n / planes : 0;
    for (size_t p = 0; p < planes; p++)
        cnn_epilogue_apply(ep, (int64_t)(p % (size_t)s->dims[1]),
                           y + p * plane, plane);
}

static void check_accepts(ck_report *r, ck_layer *L, const ck_buf *plain,
                          cnn_epilogue *ep, uint64_t seed)
{
    char name[192];
    ck_rng rng = {seed ^ 0x5eedu};
    ck_buf mapped;
    ck_outcome o;
    float *want;
    snprintf(name, sizeof name, "forward %s, with an epilogue", L->label);
    for (int64_t c = 0; c < ep->channels; c++) {
        ep->scale[c] = (float)(2.0 * ck_rng_uniform(&rng) - 1.0);
        ep->shift[c] = (float)(ck_rng_uniform(&rng) - 0.5);
    }
    ep->lo = -0.3f;
    ep->hi = 0.8f;
    ep->affine = 1;
    want = malloc(plain->n * sizeof *want + 1);
    if (!want || !ck_buf_alloc(&mapped, plain->n)) {
        free(want);
        ck_report_add(r, CK_FAIL, name, "out of memory");
        return;
    }
    memcpy(want, plain->data, plain->n * sizeof *want);
    apply_map(ep, &L->out_shape, want);
    L->epilogue = ep;
    ck_forward(L, &mapped, NULL, &L->out_shape, 0, seed, 1, &o);
    L->epilogue = NULL;
    if (!ck_hook_failed(r, name, &o) &&
        ck_close_or_report(r, name, mapped.data, want, plain->n, 1e-5,
                        "declares CNN_LAYER_FLAG_ACCEPTS_EPILOGUE, but the "
                        "output differs from the inference output with the "
                        "map applied"))
        ck_report_add(r, CK_PASS, name,
                      "the inference output with a per-channel map and a "
                      "clamp applied (within 1e-5)");
    free(want);
    ck_buf_free(&mapped);
}

/* The host's reading of a described map: affine when the arrays say so. */
static void derive_affine(cnn_epilogue *ep)
{
    for (int64_t c = 0; c < ep->channels && !ep->affine; c++)
        ep->affine = ep->scale[c] != 1.0f || ep->shift[c] != 0.0f;
}

/* The host plans a chain once: with other parameter values the hook must
 * still accept, with the same kind of map (affine or not) and the same
 * clamp. 1 when it does; else reports. */
static int same_kind_for_other_params(ck_report *r, ck_layer *L,
                                      const char *name,
                                      const cnn_epilogue *ep)
{
    cnn_tensor par[CK_MAX_PARAMS];
    float *copies[CK_MAX_PARAMS] = {0};
    char message[512];
    cnn_errbuf eb = {message, sizeof message};
    cnn_epilogue other = *ep;
    cnn_status st;
    int ok = 1;
    other.scale = malloc((size_t)ep->channels * sizeof(float) + 1);
    other.shift = malloc((size_t)ep->channels * sizeof(float) + 1);
    for (uint32_t i = 0; i < L->n_params && ok; i++) {
        copies[i] = malloc(L->p[i].n * sizeof(float) + 1);
        ok = copies[i] != NULL;
        for (size_t k = 0; ok && k < L->p[i].n; k++) /* stays positive */
            copies[i][k] = 0.5f * L->p[i].data[k] + (k % 3 == 0 ? 0.8f : 0.3f);
        par[i].shape = L->specs[i].shape;
        par[i].data = copies[i];
    }
    if (!ok || !other.scale || !other.shift) {
        ck_report_add(r, CK_FAIL, name, "out of memory");
        ok = 0;
        goto done;
    }
    cnn_epilogue_identity(&other);
    message[0] = '\0';
    st = L->desc->epilogue(&L->layer, L->n_params ? par : NULL, L->n_params,
                           &other, &eb);
    derive_affine(&other);
    if (st != CNN_OK || other.affine != ep->affine ||
        memcmp(&other.lo, &ep->lo, sizeof ep->lo) != 0 ||
        memcmp(&other.hi, &ep->hi, sizeof ep->hi) != 0) {
        ck_report_add(r, CK_FAIL, name,
                      "with other parameter values the hook %s (affine %d, "
                      "clamp [%g, %g] before: affine %d, [%g, %g]); whether "
                      "it describes the layer, the kind of map and the "
                      "clamp may depend on hyperparameters and shapes only",
                      st != CNN_OK ? "declines" : "describes another kind of map",
                      other.affine, (double)other.lo, (double)other.hi,
                      ep->affine, (double)ep->lo, (double)ep->hi);
        ok = 0;
    }
done:
    for (uint32_t i = 0; i < L->n_params; i++)
        free(copies[i]);
    free(other.scale);
    free(other.shift);
    return ok;
}

static void check_describes(ck_report *r, ck_layer *L, const ck_buf *plain,
                            cnn_epilogue *ep)
{
    char name[192], message[512];
    cnn_errbuf eb = {message, sizeof message};
    cnn_tensor par[CK_MAX_PARAMS];
    float *mapped;
    snprintf(name, sizeof name, "epilogue %s", L->label);
    cnn_epilogue_identity(ep);
    for (uint32_t i = 0; i < L->n_params; i++) {
        par[i].shape = L->specs[i].shape;
        par[i].data = L->p[i].data;
    }
    message[0] = '\0';
    ck_crash_stage("epilogue %s", L->label);
    if (L->desc->epilogue(&L->layer, L->n_params ? par : NULL, L->n_params,
                          ep, &eb) != CNN_OK) {
        ck_report_add(r, CK_SKIP, name,
                      "declined for these parameters (it then runs as a "
                      "layer): %s",
                      message[0] ? message : "no message");
        return;
    }
    if (L->n_in != 1 || !cnn_shape_equal(&L->in_shapes[0], &L->out_shape)) {
        ck_report_add(r, CK_FAIL, name,
                      "describes itself as an epilogue, but it does not map "
                      "one input to an output of the same shape");
        return;
    }
    derive_affine(ep);
    if (!same_kind_for_other_params(r, L, name, ep))
        return;
    mapped = malloc(plain->n * sizeof *mapped + 1);
    if (!mapped) {
        ck_report_add(r, CK_FAIL, name, "out of memory");
        return;
    }
    memcpy(mapped, L->x[0].data, plain->n * sizeof *mapped);
    apply_map(ep, &L->out_shape, mapped);
    if (ck_close_or_report(r, name, mapped, plain->data, plain->n, 1e-5,
                        "the map it describes, applied to the input, differs "
                        "from its inference output"))
        ck_report_add(r, CK_PASS, name,
                      "the map it describes (%s%s) is its inference forward "
                      "(within 1e-5)",
                      ep->affine ? "affine" : "no affine part",
                      ep->lo > -INFINITY || ep->hi < INFINITY ? ", clamp"
                                                              : "");
    free(mapped);
}

void ck_check_epilogue(ck_report *r, ck_layer *L, uint64_t seed)
{
    const cnn_layer_descriptor *d = L->desc;
    int new_enough = CNN_LAYER_ABI_MINOR_OF(d->abi_version) >= 4;
    int accepts = new_enough && (d->flags & CNN_LAYER_FLAG_ACCEPTS_EPILOGUE);
    int describes = new_enough && d->epilogue;
    char name[192];
    cnn_epilogue ep;
    ck_buf plain;
    ck_outcome o;
    if ((!accepts && !describes) || L->out_shape.rank < 2 || !L->y.n)
        return;
    snprintf(name, sizeof name, "forward %s, inference, for the epilogue",
             L->label);
    memset(&ep, 0, sizeof ep);
    ep.channels = L->out_shape.dims[1];
    ep.scale = malloc((size_t)ep.channels * sizeof(float) + 1);
    ep.shift = malloc((size_t)ep.channels * sizeof(float) + 1);
    if (!ep.scale || !ep.shift || !ck_buf_alloc(&plain, L->y.n)) {
        ck_report_add(r, CK_FAIL, name, "out of memory");
        free(ep.scale);
        free(ep.shift);
        return;
    }
    ck_forward(L, &plain, NULL, &L->out_shape, 0, seed, 1, &o);
    if (!ck_hook_failed(r, name, &o)) {
        if (accepts)
            check_accepts(r, L, &plain, &ep, seed);
        if (describes)
            check_describes(r, L, &plain, &ep);
    }
    ck_buf_free(&plain);
    free(ep.scale);
    free(ep.shift);
}
