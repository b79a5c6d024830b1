/* SPDX-License-Identifier: MIT */
/* Hyperparameter values: defaults, parsing with kind and bound checks (the
 * messages name the hyperparameter and the value), settings, formatting. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "cnn/plugin.h"

static const char *const activations[] = {"relu", "tanh", "sigmoid", NULL};

static const cnn_hparam_spec specs[] = {
    {"filters", CNN_HP_INT, "output channels", 1, 0, 1, 4096, NULL},
    {"kernel", CNN_HP_INT2, "window", 0, 3, 1, 11, NULL},
    {"stride", CNN_HP_INT, "step", 0, 1, 1, 8, NULL},
    {"rate", CNN_HP_FLOAT, "drop fraction", 0, 0.5, 0, 1, NULL},
    {"bias", CNN_HP_BOOL, "add a bias", 0, 1, 0, 0, NULL},
    {"activation", CNN_HP_ENUM, "nonlinearity", 0, 2, 0, 0, activations},
};
enum { FILTERS, KERNEL, STRIDE, RATE, BIAS, ACTIVATION, N_SPECS };

static const cnn_layer_descriptor desc = {
    .abi_version = CNN_LAYER_ABI_VERSION,
    .struct_size = sizeof(cnn_layer_descriptor),
    .type_name = "conv",
    .hparams = specs,
    .n_hparams = N_SPECS,
};

static cnn_context *ctx;

static void setup(void)
{
    ctx = cnn_context_create();
    cr_assert_not_null(ctx);
}

static void teardown(void)
{
    cnn_context_destroy(ctx);
}

TestSuite(hparams, .init = setup, .fini = teardown);

static void assert_msg(const char *word)
{
    const char *msg = cnn_context_message(ctx);
    cr_assert_not_null(strstr(msg, word), "message \"%s\" lacks \"%s\"", msg,
                       word);
}

/* Parses one scalar for specs[index]; returns the status. */
static cnn_status parse1(int index, const char *text, cnn_hparam_value *v)
{
    const char *items[1] = {text};
    return cnn_hparam_parse(ctx, &specs[index], items, 1, v);
}

Test(hparams, defaults)
{
    cnn_hparam_value v[N_SPECS];
    memset(v, 0x5a, sizeof v);
    cnn_hparams_defaults(&desc, v);
    cr_assert_eq(v[FILTERS].i[0], 0, "required is zeroed");
    cr_assert_eq(v[FILTERS].f, 0.0);
    cr_assert_eq(v[KERNEL].i[0], 3);
    cr_assert_eq(v[KERNEL].i[1], 3);
    cr_assert_eq(v[STRIDE].i[0], 1);
    cr_assert_eq(v[RATE].f, 0.5);
    cr_assert_eq(v[BIAS].i[0], 1);
    cr_assert_eq(v[ACTIVATION].i[0], 2);
}

Test(hparams, int_values_and_bounds)
{
    cnn_hparam_value v;
    cr_assert_eq(parse1(STRIDE, "4", &v), CNN_OK);
    cr_assert_eq(v.i[0], 4);
    cr_assert_eq(parse1(STRIDE, "8", &v), CNN_OK, "max is inclusive");
    cr_assert_eq(parse1(STRIDE, "1", &v), CNN_OK, "min is inclusive");
    cr_assert_eq(parse1(STRIDE, "0", &v), CNN_ERR_INVALID);
    assert_msg("stride: 0 is below the minimum 1");
    cr_assert_eq(parse1(STRIDE, "-3", &v), CNN_ERR_INVALID);
    assert_msg("stride: -3 is below the minimum 1");
    cr_assert_eq(parse1(STRIDE, "9", &v), CNN_ERR_INVALID);
    assert_msg("stride: 9 is above the maximum 8");
}

Test(hparams, int_syntax)
{
    const char *bad[] = {"3x", "", " 3", "\n3", "3 ", "3.0", "0x10", "1e2"};
    cnn_hparam_value v;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[64];
        cr_assert_eq(parse1(STRIDE, bad[i], &v), CNN_ERR_INVALID,
                     "\"%s\" accepted", bad[i]);
        snprintf(want, sizeof want, "stride: \"%s\" is not an integer",
                 bad[i]);
        assert_msg(want);
    }
    cr_assert_eq(parse1(STRIDE, "99999999999999999999", &v), CNN_ERR_INVALID);
    assert_msg("stride: 99999999999999999999 is out of range");
}

Test(hparams, float_values)
{
    const char *not_finite[] = {"nan", "NaN", "inf", "-inf", "1e999"};
    cnn_hparam_value v;
    cr_assert_eq(parse1(RATE, "0.25", &v), CNN_OK);
    cr_assert_eq(v.f, 0.25);
    cr_assert_eq(parse1(RATE, "1", &v), CNN_OK);
    cr_assert_eq(v.f, 1.0);
    cr_assert_eq(parse1(RATE, ".5", &v), CNN_OK);
    cr_assert_eq(v.f, 0.5);
    for (size_t i = 0; i < sizeof not_finite / sizeof not_finite[0]; i++) {
        char want[64];
        cr_assert_eq(parse1(RATE, not_finite[i], &v), CNN_ERR_INVALID,
                     "\"%s\" accepted", not_finite[i]);
        snprintf(want, sizeof want, "rate: \"%s\" is not a finite number",
                 not_finite[i]);
        assert_msg(want);
    }
    cr_assert_eq(parse1(RATE, "0.5abc", &v), CNN_ERR_INVALID);
    assert_msg("rate: \"0.5abc\" is not a number");
    cr_assert_eq(parse1(RATE, "1.5", &v), CNN_ERR_INVALID);
    assert_msg("rate: 1.5 is above the maximum 1");
    cr_assert_eq(parse1(RATE, "-0.1", &v), CNN_ERR_INVALID);
    assert_msg("rate: -0.1 is below the minimum 0");
}

Test(hparams, bool_values)
{
    cnn_hparam_value v;
    cr_assert_eq(parse1(BIAS, "false", &v), CNN_OK);
    cr_assert_eq(v.i[0], 0);
    cr_assert_eq(parse1(BIAS, "true", &v), CNN_OK);
    cr_assert_eq(v.i[0], 1);
    cr_assert_eq(parse1(BIAS, "yes", &v), CNN_ERR_INVALID);
    assert_msg("bias: \"yes\" is not a boolean");
    cr_assert_eq(parse1(BIAS, "1", &v), CNN_ERR_INVALID);
}

Test(hparams, enum_values)
{
    cnn_hparam_value v;
    cr_assert_eq(parse1(ACTIVATION, "tanh", &v), CNN_OK);
    cr_assert_eq(v.i[0], 1);
    cr_assert_eq(parse1(ACTIVATION, "gelu", &v), CNN_ERR_INVALID);
    assert_msg("activation: \"gelu\" is not one of the choices");
    assert_msg("relu, tanh, sigmoid");
    cr_assert_eq(parse1(ACTIVATION, "Relu", &v), CNN_ERR_INVALID);
}

Test(hparams, int2_scalar_and_pair)
{
    cnn_hparam_value v;
    const char *pair[] = {"3", "5"};
    const char *bad_pair[] = {"3", "12"};
    const char *bad_syntax[] = {"3", "x"};
    const char *three[] = {"1", "2", "3"};
    cr_assert_eq(parse1(KERNEL, "5", &v), CNN_OK);
    cr_assert_eq(v.i[0], 5);
    cr_assert_eq(v.i[1], 5);
    cr_assert_eq(cnn_hparam_parse(ctx, &specs[KERNEL], pair, 2, &v), CNN_OK);
    cr_assert_eq(v.i[0], 3);
    cr_assert_eq(v.i[1], 5);
    cr_assert_eq(cnn_hparam_parse(ctx, &specs[KERNEL], bad_pair, 2, &v),
                 CNN_ERR_INVALID);
    assert_msg("kernel: 12 is above the maximum 11");
    cr_assert_eq(cnn_hparam_parse(ctx, &specs[KERNEL], bad_syntax, 2, &v),
                 CNN_ERR_INVALID);
    assert_msg("kernel: \"x\" is not an integer");
    cr_assert_eq(parse1(KERNEL, "0", &v), CNN_ERR_INVALID);
    assert_msg("kernel: 0 is below the minimum 1");
    cr_assert_eq(cnn_hparam_parse(ctx, &specs[KERNEL], three, 3, &v),
                 CNN_ERR_INVALID);
    assert_msg("kernel: expected an integer or a list [h, w]");
    cr_assert_eq(cnn_hparam_parse(ctx, &specs[KERNEL], NULL, 0, &v),
                 CNN_ERR_INVALID);
    /* Scalar kinds take exactly one value. */
    cr_assert_eq(cnn_hparam_parse(ctx, &specs[STRIDE], pair, 2, &v),
                 CNN_ERR_INVALID);
    assert_msg("stride: expected a single value, got 2");
}

Test(hparams, settings)
{
    const char *settings[] = {"kernel=[3,5]", "filters = 8",
                              "activation=relu", "rate=0.125",
                              "bias=false"};
    cnn_hparam_value v[N_SPECS];
    cr_assert_eq(cnn_hparams_from_settings(ctx, &desc, settings, 5, v),
                 CNN_OK, "%s", cnn_context_message(ctx));
    cr_assert_eq(v[FILTERS].i[0], 8);
    cr_assert_eq(v[KERNEL].i[0], 3);
    cr_assert_eq(v[KERNEL].i[1], 5);
    cr_assert_eq(v[STRIDE].i[0], 1, "default kept");
    cr_assert_eq(v[RATE].f, 0.125);
    cr_assert_eq(v[BIAS].i[0], 0);
    cr_assert_eq(v[ACTIVATION].i[0], 0);
    {
        const char *spaced[] = {"filters=2", "kernel=[ 2 , 4 ]"};
        cr_assert_eq(cnn_hparams_from_settings(ctx, &desc, spaced, 2, v),
                     CNN_OK, "%s", cnn_context_message(ctx));
        cr_assert_eq(v[KERNEL].i[0], 2);
        cr_assert_eq(v[KERNEL].i[1], 4);
    }
}

Test(hparams, settings_errors)
{
    cnn_hparam_value v[N_SPECS];
    const char *unknown[] = {"filters=8", "kernal=3"};
    const char *missing[] = {"kernel=3"};
    const char *twice[] = {"filters=8", "filters=9"};
    const char *no_eq[] = {"filters"};
    const char *open[] = {"filters=8", "kernel=[3,5"};
    const char *empty_item[] = {"filters=8", "kernel=[3,]"};
    const char *bad_value[] = {"filters=0"};
    cr_assert_eq(cnn_hparams_from_settings(ctx, &desc, unknown, 2, v),
                 CNN_ERR_INVALID);
    assert_msg("conv has no hyperparameter \"kernal\"");
    assert_msg("filters, kernel, stride, rate, bias, activation");
    cr_assert_eq(cnn_hparams_from_settings(ctx, &desc, missing, 1, v),
                 CNN_ERR_INVALID);
    assert_msg("required hyperparameters not set: filters");
    cr_assert_eq(cnn_hparams_from_settings(ctx, &desc, NULL, 0, v),
                 CNN_ERR_INVALID);
    assert_msg("filters");
    cr_assert_eq(cnn_hparams_from_settings(ctx, &desc, twice, 2, v),
                 CNN_ERR_INVALID);
    assert_msg("filters is set twice");
    cr_assert_eq(cnn_hparams_from_settings(ctx, &desc, no_eq, 1, v),
                 CNN_ERR_INVALID);
    assert_msg("\"filters\" is not key=value");
    cr_assert_eq(cnn_hparams_from_settings(ctx, &desc, open, 2, v),
                 CNN_ERR_INVALID);
    assert_msg("kernel: \"[3,5\" has no closing ]");
    cr_assert_eq(cnn_hparams_from_settings(ctx, &desc, empty_item, 2, v),
                 CNN_ERR_INVALID);
    assert_msg("kernel: empty entry");
    cr_assert_eq(cnn_hparams_from_settings(ctx, &desc, bad_value, 1, v),
                 CNN_ERR_INVALID);
    assert_msg("filters: 0 is below the minimum 1");
}

Test(hparams, format)
{
    char buf[32];
    cnn_hparam_value v = {{3, 5}, 0.0};
    cnn_hparam_format(&specs[KERNEL], &v, buf, sizeof buf);
    cr_assert_str_eq(buf, "[3, 5]");
    v.i[1] = 3;
    cnn_hparam_format(&specs[KERNEL], &v, buf, sizeof buf);
    cr_assert_str_eq(buf, "3");
    v.i[0] = 5;
    cnn_hparam_format(&specs[STRIDE], &v, buf, sizeof buf);
    cr_assert_str_eq(buf, "5");
    v.i[0] = 1;
    cnn_hparam_format(&specs[BIAS], &v, buf, sizeof buf);
    cr_assert_str_eq(buf, "true");
    v.i[0] = 0;
    cnn_hparam_format(&specs[BIAS], &v, buf, sizeof buf);
    cr_assert_str_eq(buf, "false");
    cnn_hparam_format(&specs[ACTIVATION], &v, buf, sizeof buf);
    cr_assert_str_eq(buf, "relu");
    v.i[0] = 7;
    cnn_hparam_format(&specs[ACTIVATION], &v, buf, sizeof buf);
    cr_assert_str_eq(buf, "?7", "out-of-range index does not crash");
    v.f = 0.5;
    cnn_hparam_format(&specs[RATE], &v, buf, sizeof buf);
    cr_assert_str_eq(buf, "0.5");
    v.f = 0.1;
    cnn_hparam_format(&specs[RATE], &v, buf, sizeof buf);
    cr_assert_str_eq(buf, "0.1");
    v.f = 1.0 / 3.0;
    cnn_hparam_format(&specs[RATE], &v, buf, sizeof buf);
    cr_assert_eq(strtod(buf, NULL), 1.0 / 3.0, "round-trips: %s", buf);
    /* Truncates, always terminated. */
    v.i[0] = 123;
    v.i[1] = 456;
    cnn_hparam_format(&specs[KERNEL], &v, buf, 5);
    cr_assert_str_eq(buf, "[123");
    /* Formatted text parses back to the same value. */
    {
        cnn_hparam_value back;
        v.f = 0.3;
        cnn_hparam_format(&specs[RATE], &v, buf, sizeof buf);
        cr_assert_eq(parse1(RATE, buf, &back), CNN_OK);
        cr_assert_eq(back.f, 0.3);
    }
}

Test(hparams, defaults_pass_their_own_bounds)
{
    /* What defaults produce, formatted, parses back unchanged. */
    cnn_hparam_value v[N_SPECS];
    cnn_hparams_defaults(&desc, v);
    for (int i = 1; i < N_SPECS; i++) {
        char text[32];
        cnn_hparam_value back;
        cnn_hparam_format(&specs[i], &v[i], text, sizeof text);
        cr_assert_eq(parse1(i, text, &back), CNN_OK, "%s: %s",
                     specs[i].name, cnn_context_message(ctx));
        cr_assert_eq(memcmp(&back, &v[i], sizeof back), 0, "%s",
                     specs[i].name);
    }
}

/* ABI 1.2's PADDING kind: every written form, its packing, its bounds and
 * its text; then the window helpers that resolve it. */
static const cnn_hparam_spec pad_spec = {"padding", CNN_HP_PADDING, "pads",
                                         0, 1, 0, 100, NULL};

static cnn_status parse_pad(const char *const *items, size_t n,
                            cnn_hparam_value *v)
{
    return cnn_hparam_parse(ctx, &pad_spec, items, n, v);
}

static void assert_pad(const cnn_hparam_value *v, int64_t t, int64_t l,
                       int64_t b, int64_t r, cnn_pad_mode mode)
{
    cnn_padding p = cnn_hparam_padding(v);
    cr_assert_eq(p.top, t);
    cr_assert_eq(p.left, l);
    cr_assert_eq(p.bottom, b);
    cr_assert_eq(p.right, r);
    cr_assert_eq(p.mode, mode);
}

Test(hparams, padding_forms)
{
    cnn_hparam_value v;
    char text[64];
    const char *one[] = {"3"}, *two[] = {"1", "2"};
    const char *four[] = {"0", "1", "2", "3"}, *three[] = {"1", "2", "3"};
    const char *same[] = {"same"}, *lower[] = {"same_lower"};
    const char *valid[] = {"valid"}, *bad[] = {"full"}, *big[] = {"101"};

    cnn_hparam_default(&pad_spec, &v);
    assert_pad(&v, 1, 1, 1, 1, CNN_PAD_EXPLICIT);
    cr_assert_eq(parse_pad(one, 1, &v), CNN_OK);
    assert_pad(&v, 3, 3, 3, 3, CNN_PAD_EXPLICIT);
    cnn_hparam_format(&pad_spec, &v, text, sizeof text);
    cr_assert_str_eq(text, "3");
    cr_assert_eq(parse_pad(two, 2, &v), CNN_OK);
    assert_pad(&v, 1, 2, 1, 2, CNN_PAD_EXPLICIT);
    cnn_hparam_format(&pad_spec, &v, text, sizeof text);
    cr_assert_str_eq(text, "[1, 2]");
    cr_assert_eq(parse_pad(four, 4, &v), CNN_OK);
    assert_pad(&v, 0, 1, 2, 3, CNN_PAD_EXPLICIT);
    cnn_hparam_format(&pad_spec, &v, text, sizeof text);
    cr_assert_str_eq(text, "[0, 1, 2, 3]");
    cr_assert_eq(parse_pad(same, 1, &v), CNN_OK);
    assert_pad(&v, 0, 0, 0, 0, CNN_PAD_SAME_UPPER);
    cnn_hparam_format(&pad_spec, &v, text, sizeof text);
    cr_assert_str_eq(text, "same");
    cr_assert_eq(parse_pad(lower, 1, &v), CNN_OK);
    assert_pad(&v, 0, 0, 0, 0, CNN_PAD_SAME_LOWER);
    cr_assert_eq(parse_pad(valid, 1, &v), CNN_OK);
    assert_pad(&v, 0, 0, 0, 0, CNN_PAD_EXPLICIT);

    cr_assert_eq(parse_pad(three, 3, &v), CNN_ERR_INVALID);
    assert_msg("got 3 values");
    cr_assert_eq(parse_pad(bad, 1, &v), CNN_ERR_INVALID);
    assert_msg("\"full\" is not a padding");
    cr_assert_eq(parse_pad(big, 1, &v), CNN_ERR_INVALID);
    assert_msg("above the maximum 100");
}

Test(hparams, window_helpers)
{
    cnn_padding p = {0, 0, 0, 0, CNN_PAD_SAME_UPPER};
    /* PyTorch: MaxPool2d(3, 2, ceil_mode=True) on 6 gives 3; floor gives 2. */
    cr_assert_eq(cnn_window_out_ex(6, 3, 2, 0, 0, 1, 1), 3);
    cr_assert_eq(cnn_window_out_ex(6, 3, 2, 0, 0, 1, 0), 2);
    /* ceil mode never starts a window in the trailing padding:
     * MaxPool2d(2, 2, padding=1, ceil_mode=True) on 5 gives 3, not 4. */
    cr_assert_eq(cnn_window_out_ex(5, 2, 2, 1, 1, 1, 1), 3);
    /* dilation 2 makes a 3-tap kernel span 5 inputs. */
    cr_assert_eq(cnn_window_out_ex(7, 3, 1, 0, 0, 2, 0), 3);
    cr_assert_eq(cnn_window_out_ex(4, 3, 1, 0, 0, 2, 0), -1);
    cr_assert_eq(cnn_window_out_ex(7, 3, 1, 1, 2, 1, 0), 8);
    /* ONNX SAME_UPPER, 3x3 stride 2 on 7x8: out 4x4, pads total 2 and 1. */
    cnn_padding_resolve(&p, 7, 8, 3, 3, 2, 2);
    cr_assert_eq(p.top, 1);
    cr_assert_eq(p.bottom, 1);
    cr_assert_eq(p.left, 0);
    cr_assert_eq(p.right, 1);
    p.mode = CNN_PAD_SAME_LOWER;
    cnn_padding_resolve(&p, 7, 8, 3, 3, 2, 2);
    cr_assert_eq(p.left, 1);
    cr_assert_eq(p.right, 0);
}
