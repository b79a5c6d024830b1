/* SPDX-License-Identifier: MIT */
/* safetensors: files laid out as the reference implementation writes them
 * (tests/fixtures/gen_io_fixtures.py), round trips, one refusal per check
 * the reader makes, and the atomic write's behaviour on failure. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "cnn/io.h"
#include "io_test_util.h"

static io_env env;

static void setup(void)
{
    io_env_setup(&env);
}

static void teardown(void)
{
    io_env_teardown(&env);
}

TestSuite(safetensors, .init = setup, .fini = teardown, .timeout = 300);

/* Writes env.dir/name: the 8-byte length of json (or header_len when
 * non-zero, to lie about it), json, then data_size bytes of 0x3f. */
static const char *write_st(const char *name, const char *json,
                            uint64_t header_len, size_t data_size)
{
    static char path[256];
    size_t json_len = strlen(json);
    size_t total = 8 + json_len + data_size;
    unsigned char *bytes = malloc(total);
    uint64_t n = header_len ? header_len : json_len;
    cr_assert_not_null(bytes);
    for (int k = 0; k < 8; k++)
        bytes[k] = (unsigned char)(n >> (8 * k));
    memcpy(bytes + 8, json, json_len);
    memset(bytes + 8 + json_len, 0x3f, data_size);
    io_path(&env, name, path, sizeof path);
    io_write_file(path, bytes, total);
    free(bytes);
    return path;
}

/* Reads path expecting failure with status want; the message must name the
 * file and contain each of the NULL-terminated fragments. */
static void expect_refusal(const char *path, cnn_status want, ...)
{
    cnn_tensor_file *file = (cnn_tensor_file *)&env; /* must be reset */
    const char *fragment;
    va_list ap;
    cnn_status st = cnn_safetensors_read(env.ctx, path, &file);
    cr_assert_eq(st, want, "status %d, want %d: %s", st, want,
                 cnn_context_message(env.ctx));
    cr_assert_null(file);
    cr_assert_msg_has(env.ctx, path);
    va_start(ap, want);
    while ((fragment = va_arg(ap, const char *)))
        cr_assert_msg_has(env.ctx, fragment);
    va_end(ap);
}

static void assert_same_floats(const float *a, const float *b, size_t n)
{
    /* Bitwise, so -0.0, infinities and rounding are all pinned. */
    cr_assert(n == 0 || memcmp(a, b, n * sizeof *a) == 0);
}

/* The tensor must equal the float32 array in the .npy fixture. */
static void assert_matches_npy(const cnn_named_tensor *t, const char *npy)
{
    cnn_tensor want;
    cr_assert_not_null(t);
    cr_assert_eq(cnn_npy_read(env.ctx, npy, &want), CNN_OK, "%s",
                 cnn_context_message(env.ctx));
    cr_assert(cnn_shape_equal(&t->tensor.shape, &want.shape),
              "tensor '%s': shape differs from %s", t->name, npy);
    assert_same_floats(t->tensor.data, want.data, cnn_tensor_numel(&want));
    free(want.data);
}

Test(safetensors, reads_a_pytorch_state_dict)
{
    static const char *const order[] = {"conv1.bias", "conv1.weight",
                                        "fc.bias", "fc.weight"};
    const char *path = FIXTURE("torch_state.safetensors");
    cnn_tensor_file *file;
    const cnn_named_tensor *w;
    char npy[512];

    cr_assert_eq(cnn_safetensors_read(env.ctx, path, &file), CNN_OK, "%s",
                 cnn_context_message(env.ctx));
    cr_assert_eq(cnn_tensor_file_count(file), 4);
    for (size_t i = 0; i < 4; i++) {
        const cnn_named_tensor *t = cnn_tensor_file_at(file, i);
        cr_assert_str_eq(t->name, order[i]);
        snprintf(npy, sizeof npy, FIXTURE("torch_state.%s.npy"), t->name);
        assert_matches_npy(t, npy);
    }
    cr_assert_null(cnn_tensor_file_at(file, 4));
    w = cnn_tensor_file_find(file, "conv1.weight");
    cr_assert_not_null(w);
    cr_assert_eq(w->tensor.shape.rank, 4);
    cr_assert_eq(w->tensor.shape.dims[0], 6);
    cr_assert_eq(w->tensor.shape.dims[1], 1);
    cr_assert_eq(w->tensor.shape.dims[2], 5);
    cr_assert_eq(w->tensor.shape.dims[3], 5);
    cr_assert_null(cnn_tensor_file_find(file, "conv2.weight"));
    cr_assert_str_eq(cnn_tensor_file_metadata(file, "format"), "pt");
    cr_assert_str_eq(cnn_tensor_file_metadata(file, "source"),
                     "gen_io_fixtures.py");
    cr_assert_null(cnn_tensor_file_metadata(file, "missing"));
    cr_assert_str_eq(cnn_tensor_file_path(file), path);
    cnn_tensor_file_destroy(file);
}

Test(safetensors, converts_f64_f16_bf16_like_torch)
{
    static const char *const names[] = {"a.f64",   "b.f32",    "e.empty",
                                        "f.scalar", "c.bf16",  "d.f16"};
    cnn_tensor_file *file;
    const cnn_named_tensor *t;
    char npy[512];

    cr_assert_eq(cnn_safetensors_read(env.ctx, FIXTURE("dtypes.safetensors"),
                                      &file),
                 CNN_OK, "%s", cnn_context_message(env.ctx));
    cr_assert_eq(cnn_tensor_file_count(file), 6);
    for (size_t i = 0; i < 6; i++) {
        t = cnn_tensor_file_at(file, i);
        cr_assert_str_eq(t->name, names[i], "data order: %s at %zu", t->name,
                         i);
        snprintf(npy, sizeof npy, FIXTURE("dtypes.%s.npy"), t->name);
        assert_matches_npy(t, npy);
    }
    /* A few values spelled out, independent of the .npy reader. */
    t = cnn_tensor_file_find(file, "d.f16");
    cr_assert_eq(t->tensor.data[0], 65504.0f);
    cr_assert_eq(t->tensor.data[2], ldexpf(1.0f, -24)); /* subnormal half */
    cr_assert(isinf(t->tensor.data[4]) && t->tensor.data[4] > 0);
    cr_assert(signbit(t->tensor.data[5]) && t->tensor.data[5] == 0.0f);
    t = cnn_tensor_file_find(file, "c.bf16");
    cr_assert_eq(t->tensor.data[1], -3.140625f);
    t = cnn_tensor_file_find(file, "a.f64");
    cr_assert_eq(t->tensor.data[0], 1.5f);
    cr_assert_eq(t->tensor.data[5], 0.1f);
    t = cnn_tensor_file_find(file, "f.scalar");
    cr_assert_eq(t->tensor.shape.rank, 0);
    cr_assert_eq(t->tensor.data[0], 4.75f);
    t = cnn_tensor_file_find(file, "e.empty");
    cr_assert_eq(t->tensor.shape.rank, 2);
    cr_assert_eq(cnn_tensor_numel(&t->tensor), 0);
    cr_assert_null(cnn_tensor_file_metadata(file, "format"));
    cnn_tensor_file_destroy(file);
}

Test(safetensors, writer_matches_reference_layout_byte_for_byte)
{
    float b[6] = {0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 1.25f};
    float a[2] = {-1.0f, 2.5f};
    float s[1] = {7.0f};
    static const char *const meta[] = {"format", "pt", "epoch", "3"};
    cnn_named_tensor tensors[3];
    char path[256];
    unsigned char *got, *want;
    size_t got_size, want_size;
    uint64_t n = 0;

    tensors[0] = (cnn_named_tensor){"b", {cnn_shape2(2, 3), b}};
    tensors[1] = (cnn_named_tensor){"a", {cnn_shape_make(1, (int64_t[]){2}), a}};
    tensors[2] = (cnn_named_tensor){"s", {cnn_shape_make(0, NULL), s}};
    io_path(&env, "w.safetensors", path, sizeof path);
    cr_assert_eq(cnn_safetensors_write(env.ctx, path, tensors, 3, meta, 2),
                 CNN_OK, "%s", cnn_context_message(env.ctx));
    got = io_read_file(path, &got_size);
    want = io_read_file(FIXTURE("writer_ref.safetensors"), &want_size);
    for (int k = 7; k >= 0; k--)
        n = n << 8 | got[k];
    cr_assert_eq(n % 8, 0, "header length %llu not padded to 8",
                 (unsigned long long)n);
    cr_assert_eq(got_size, want_size);
    cr_assert(memcmp(got, want, want_size) == 0,
              "bytes differ from the reference layout");
    free(got);
    free(want);
    cr_assert_eq(io_count_temp_files(env.dir), 0);
}

Test(safetensors, round_trip_keeps_order_shapes_values_metadata)
{
    enum { N = 2 * 3 * 4 * 5 };
    float big[N], small[3] = {1e-40f, -INFINITY, 3.0f};
    static const char *const meta[] = {"note", "h\xc3\xa9llo \"quoted\"",
                                       "step", "12"};
    cnn_named_tensor in[4];
    cnn_tensor_file *file;
    char path[256];

    for (int i = 0; i < N; i++)
        big[i] = sinf((float)i) * 100.0f;
    in[0] = (cnn_named_tensor){"z.first", {cnn_shape4(2, 3, 4, 5), big}};
    in[1] = (cnn_named_tensor){"empty", {cnn_shape2(0, 7), NULL}};
    in[2] = (cnn_named_tensor){"a.last", {cnn_shape_make(1, (int64_t[]){3}), small}};
    in[3] = (cnn_named_tensor){"caf\xc3\xa9", {cnn_shape2(1, 1), small + 2}};
    io_path(&env, "rt.safetensors", path, sizeof path);
    cr_assert_eq(cnn_safetensors_write(env.ctx, path, in, 4, meta, 2), CNN_OK,
                 "%s", cnn_context_message(env.ctx));
    cr_assert_eq(cnn_safetensors_read(env.ctx, path, &file), CNN_OK, "%s",
                 cnn_context_message(env.ctx));
    cr_assert_eq(cnn_tensor_file_count(file), 4);
    for (size_t i = 0; i < 4; i++) {
        const cnn_named_tensor *t = cnn_tensor_file_at(file, i);
        cr_assert_str_eq(t->name, in[i].name);
        cr_assert(cnn_shape_equal(&t->tensor.shape, &in[i].tensor.shape));
        assert_same_floats(t->tensor.data, in[i].tensor.data,
                           cnn_tensor_numel(&in[i].tensor));
    }
    cr_assert_str_eq(cnn_tensor_file_metadata(file, "note"),
                     "h\xc3\xa9llo \"quoted\"");
    cr_assert_str_eq(cnn_tensor_file_metadata(file, "step"), "12");
    cnn_tensor_file_destroy(file);

    /* No tensors at all is a valid file too. */
    cr_assert_eq(cnn_safetensors_write(env.ctx, path, NULL, 0, NULL, 0),
                 CNN_OK);
    cr_assert_eq(cnn_safetensors_read(env.ctx, path, &file), CNN_OK, "%s",
                 cnn_context_message(env.ctx));
    cr_assert_eq(cnn_tensor_file_count(file), 0);
    cnn_tensor_file_destroy(file);
}

Test(safetensors, writer_refuses_bad_input_and_writes_nothing)
{
    float v[4] = {0};
    static const char *const dup_meta[] = {"k", "1", "k", "2"};
    cnn_named_tensor t[2];
    char path[256];
    struct stat st;

    io_path(&env, "bad.safetensors", path, sizeof path);
    t[0] = (cnn_named_tensor){"w", {cnn_shape2(2, 2), v}};
    t[1] = (cnn_named_tensor){"w", {cnn_shape2(2, 2), v}};
    cr_assert_eq(cnn_safetensors_write(env.ctx, path, t, 2, NULL, 0),
                 CNN_ERR_INVALID);
    cr_assert_msg_has(env.ctx, "tensor 'w' given twice");
    t[1].name = "";
    cr_assert_eq(cnn_safetensors_write(env.ctx, path, t, 2, NULL, 0),
                 CNN_ERR_INVALID);
    cr_assert_msg_has(env.ctx, "empty name");
    t[1].name = "__metadata__";
    cr_assert_eq(cnn_safetensors_write(env.ctx, path, t, 2, NULL, 0),
                 CNN_ERR_INVALID);
    cr_assert_msg_has(env.ctx, "reserved");
    t[1].name = "bad\xff";
    cr_assert_eq(cnn_safetensors_write(env.ctx, path, t, 2, NULL, 0),
                 CNN_ERR_INVALID);
    cr_assert_msg_has(env.ctx, "not valid UTF-8");
    t[1] = (cnn_named_tensor){"nodata", {cnn_shape2(2, 2), NULL}};
    cr_assert_eq(cnn_safetensors_write(env.ctx, path, t, 2, NULL, 0),
                 CNN_ERR_INVALID);
    cr_assert_msg_has(env.ctx, "tensor 'nodata' has no data");
    t[1] = (cnn_named_tensor){"neg", {cnn_shape2(-1, 2), v}};
    cr_assert_eq(cnn_safetensors_write(env.ctx, path, t, 2, NULL, 0),
                 CNN_ERR_INVALID);
    cr_assert_msg_has(env.ctx, "tensor 'neg': shape has a negative dimension");
    cr_assert_eq(cnn_safetensors_write(env.ctx, path, t, 1, dup_meta, 2),
                 CNN_ERR_INVALID);
    cr_assert_msg_has(env.ctx, "metadata key 'k' given twice");
    cr_assert_eq(stat(path, &st), -1, "a refused write created the file");
    cr_assert_eq(io_count_temp_files(env.dir), 0);
}

/* ---- refusals: one per check, each message naming the problem --------- */

#define GOOD_ENTRY "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"

Test(safetensors, accepts_the_minimal_hand_made_file)
{
    /* The baseline the refusal tests below each break in one way. */
    cnn_tensor_file *file;
    const char *path = write_st("ok.safetensors", "{\"w\":{" GOOD_ENTRY "}}",
                                0, 8);
    cr_assert_eq(cnn_safetensors_read(env.ctx, path, &file), CNN_OK, "%s",
                 cnn_context_message(env.ctx));
    cr_assert_eq(cnn_tensor_file_count(file), 1);
    cr_assert(memcmp(cnn_tensor_file_at(file, 0)->tensor.data,
                     "\x3f\x3f\x3f\x3f\x3f\x3f\x3f\x3f", 8) == 0);
    cnn_tensor_file_destroy(file);
}

Test(safetensors, refuses_file_shorter_than_length_field)
{
    char path[256];
    io_path(&env, "short.safetensors", path, sizeof path);
    io_write_file(path, "\x10\x00\x00", 3);
    expect_refusal(path, CNN_ERR_FORMAT, "file is 3 bytes, too short", NULL);
}

Test(safetensors, refuses_truncated_data)
{
    const char *path = write_st(
        "trunc.safetensors",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[1024],\"data_offsets\":[0,4096]}}",
        0, 1000);
    expect_refusal(path, CNN_ERR_FORMAT,
                   "truncated: header says 4096 bytes of data, file has 1000",
                   NULL);
}

Test(safetensors, refuses_oversized_header_length)
{
    const char *path = write_st("huge.safetensors", "{}",
                                (uint64_t)CNN_SAFETENSORS_MAX_HEADER + 1, 0);
    expect_refusal(path, CNN_ERR_FORMAT, "header length 104857601",
                   "exceeds the limit of 104857600 bytes", NULL);
    path = write_st("huge2.safetensors", "{}", UINT64_MAX, 0);
    expect_refusal(path, CNN_ERR_FORMAT, "header length 18446744073709551615",
                   "exceeds the limit", NULL);
}

Test(safetensors, refuses_header_length_beyond_the_file)
{
    const char *path = write_st("past.safetensors", "{\"w\":{" GOOD_ENTRY "}}",
                                500, 8);
    expect_refusal(path, CNN_ERR_FORMAT, "header length 500 runs past the end",
                   "(62 bytes follow", NULL);
}

Test(safetensors, refuses_zero_header_length)
{
    const char *path = write_st("zero.safetensors", "", 0, 8);
    expect_refusal(path, CNN_ERR_FORMAT, "header length is 0", NULL);
}

Test(safetensors, refuses_malformed_json)
{
    const char *path = write_st("bad.safetensors",
                                "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],", 0, 8);
    expect_refusal(path, CNN_ERR_FORMAT, "header: malformed JSON at line 1",
                   NULL);
    path = write_st("notobj.safetensors", "[1, 2]   ", 0, 0);
    expect_refusal(path, CNN_ERR_FORMAT, "header is not a JSON object", NULL);
}

Test(safetensors, refuses_duplicate_tensor_name)
{
    const char *path = write_st(
        "dup.safetensors",
        "{\"w\":{" GOOD_ENTRY "},\"w\":{" GOOD_ENTRY "}}", 0, 8);
    expect_refusal(path, CNN_ERR_FORMAT, "malformed JSON", "duplicate", NULL);
}

Test(safetensors, refuses_overlapping_offsets)
{
    const char *path = write_st(
        "overlap.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
        0, 12);
    expect_refusal(path, CNN_ERR_FORMAT, "tensors 'a' [0, 8] and 'b' [4, 12] "
                                         "overlap", NULL);
}

Test(safetensors, refuses_gap_in_offsets)
{
    const char *path = write_st(
        "gap.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
        0, 20);
    expect_refusal(path, CNN_ERR_FORMAT, "gap in data: bytes [8, 12]",
                   "tensor 'a' and tensor 'b'", NULL);
    path = write_st(
        "gap0.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 0,
        16);
    expect_refusal(path, CNN_ERR_FORMAT, "gap in data",
                   "first tensor 'a' starts at byte 8", NULL);
}

Test(safetensors, refuses_trailing_bytes)
{
    const char *path = write_st("trail.safetensors",
                                "{\"w\":{" GOOD_ENTRY "}}", 0, 11);
    expect_refusal(path, CNN_ERR_FORMAT,
                   "3 trailing bytes: header says 8 bytes of data, file has 11",
                   NULL);
}

Test(safetensors, refuses_bytes_not_matching_shape_and_dtype)
{
    const char *path = write_st(
        "w.safetensors",
        "{\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[6,1,5,5],"
        "\"data_offsets\":[0,96]}}",
        0, 96);
    expect_refusal(path, CNN_ERR_FORMAT,
                   ": tensor 'conv1.weight': data_offsets [0, 96] hold 96 "
                   "bytes but shape [6, 1, 5, 5] of F32 needs 600",
                   NULL);
    path = write_st(
        "f16.safetensors",
        "{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}}", 0,
        16);
    expect_refusal(path, CNN_ERR_FORMAT, "tensor 'h'",
                   "hold 16 bytes but shape [4] of F16 needs 8", NULL);
}

Test(safetensors, refuses_unknown_dtype)
{
    const char *path = write_st(
        "u16.safetensors",
        "{\"steps\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[0,2]}}",
        0, 2);
    expect_refusal(path, CNN_ERR_UNSUPPORTED,
                   "tensor 'steps': unsupported dtype 'U16'", NULL);
    path = write_st(
        "num.safetensors",
        "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4);
    expect_refusal(path, CNN_ERR_FORMAT, "tensor 'w': dtype is not a string",
                   NULL);
}

Test(safetensors, refuses_negative_or_non_integer_dims)
{
    const char *path = write_st(
        "neg.safetensors",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-2],\"data_offsets\":[0,0]}}",
        0, 0);
    expect_refusal(path, CNN_ERR_FORMAT,
                   "tensor 'w': shape[1] is -2; dimensions must not be "
                   "negative",
                   NULL);
    path = write_st(
        "real.safetensors",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}",
        0, 8);
    expect_refusal(path, CNN_ERR_FORMAT, "tensor 'w': shape[0] is not an "
                                         "integer", NULL);
    path = write_st(
        "nota.safetensors",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 0,
        8);
    expect_refusal(path, CNN_ERR_FORMAT, "tensor 'w': shape is not an array",
                   NULL);
}

Test(safetensors, refuses_rank_and_element_count_overflow)
{
    const char *path = write_st(
        "rank.safetensors",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
        "\"data_offsets\":[0,4]}}",
        0, 4);
    expect_refusal(path, CNN_ERR_UNSUPPORTED,
                   "tensor 'w': shape has rank 9, more than the supported 8",
                   NULL);
    path = write_st(
        "ovf.safetensors",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
        "\"data_offsets\":[0,0]}}",
        0, 0);
    expect_refusal(path, CNN_ERR_FORMAT,
                   "tensor 'w': shape [4294967296, 4294967296, 16] has too "
                   "many elements",
                   NULL);
}

Test(safetensors, refuses_bad_entries)
{
    const char *path = write_st(
        "missing.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 0,
        8);
    expect_refusal(path, CNN_ERR_FORMAT, "tensor 'w': missing 'data_offsets'",
                   NULL);
    path = write_st("extra.safetensors",
                    "{\"w\":{" GOOD_ENTRY ",\"offset\":0}}", 0, 8);
    expect_refusal(path, CNN_ERR_FORMAT, "tensor 'w': unexpected key 'offset'",
                   NULL);
    path = write_st("entry.safetensors", "{\"w\":[1]}", 0, 0);
    expect_refusal(path, CNN_ERR_FORMAT, "tensor 'w': entry is not a JSON "
                                         "object", NULL);
    path = write_st("empty.safetensors", "{\"\":{" GOOD_ENTRY "}}", 0, 8);
    expect_refusal(path, CNN_ERR_FORMAT, "a tensor has an empty name", NULL);
    path = write_st(
        "three.safetensors",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}",
        0, 8);
    expect_refusal(path, CNN_ERR_FORMAT,
                   "tensor 'w': data_offsets is not an array of two integers",
                   NULL);
    path = write_st(
        "negoff.safetensors",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}",
        0, 8);
    expect_refusal(path, CNN_ERR_FORMAT,
                   "tensor 'w': data_offsets must be non-negative", NULL);
    path = write_st(
        "back.safetensors",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}",
        0, 8);
    expect_refusal(path, CNN_ERR_FORMAT,
                   "tensor 'w': data_offsets [8, 0] end before they begin",
                   NULL);
}

Test(safetensors, refuses_bad_metadata)
{
    const char *path = write_st(
        "meta.safetensors",
        "{\"__metadata__\":{\"epoch\":3},\"w\":{" GOOD_ENTRY "}}", 0, 8);
    expect_refusal(path, CNN_ERR_FORMAT,
                   "__metadata__ value of 'epoch' is not a string", NULL);
    path = write_st("meta2.safetensors",
                    "{\"__metadata__\":[],\"w\":{" GOOD_ENTRY "}}", 0, 8);
    expect_refusal(path, CNN_ERR_FORMAT, "__metadata__ is not a JSON object",
                   NULL);
}

Test(safetensors, refuses_f64_outside_float32_range)
{
    const double big = 1e300; /* stored as is: the host is little-endian */
    const char *json =
        "{\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}";
    char path[256];
    unsigned char bytes[8 + 64 + 16] = {0};
    size_t len = strlen(json);
    bytes[0] = (unsigned char)len;
    memcpy(bytes + 8, json, len);
    memcpy(bytes + 8 + len + 8, &big, 8);
    io_path(&env, "range.safetensors", path, sizeof path);
    io_write_file(path, bytes, 8 + len + 16);
    expect_refusal(path, CNN_ERR_NUMERIC,
                   "tensor 'd': element 1 is 1e+300, outside the float32 "
                   "range",
                   NULL);
}

Test(safetensors, refuses_missing_file_and_folder)
{
    char path[256];
    io_path(&env, "absent.safetensors", path, sizeof path);
    expect_refusal(path, CNN_ERR_NOT_FOUND, "cannot open",
                   strerror(ENOENT), NULL);
    expect_refusal(env.dir, CNN_ERR_IO, "not a regular file", NULL);
}

/* ---- atomic writes ----------------------------------------------------- */

static const char OLD[] = "old contents, must survive";

static void assert_old_file_intact(const char *path)
{
    size_t size;
    unsigned char *data = io_read_file(path, &size);
    cr_assert_eq(size, sizeof OLD);
    cr_assert(memcmp(data, OLD, sizeof OLD) == 0);
    free(data);
}

Test(safetensors, failed_write_leaves_old_file_and_no_temp)
{
    /* The file-size limit makes write(2) fail with EFBIG part way through
     * the data, after the temporary file exists (permissions would not stop
     * root; a resource limit does). Each Criterion test is its own process,
     * so the limit dies with it. */
    enum { N = 16384 };
    static float data[N];
    struct rlimit limit = {4096, 4096};
    cnn_named_tensor t = {"w", {cnn_shape2(128, N / 128), data}};
    char path[256];

    io_path(&env, "w.safetensors", path, sizeof path);
    io_write_file(path, OLD, sizeof OLD);
    cr_assert_neq(signal(SIGXFSZ, SIG_IGN), SIG_ERR);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    cr_assert_eq(cnn_safetensors_write(env.ctx, path, &t, 1, NULL, 0),
                 CNN_ERR_IO);
    cr_assert_msg_has(env.ctx, path);
    cr_assert_msg_has(env.ctx, "write failed");
    cr_assert_msg_has(env.ctx, strerror(EFBIG));
    assert_old_file_intact(path);
    cr_assert_eq(io_count_temp_files(env.dir), 0);
}

Test(safetensors, failed_rename_onto_folder_cleans_up)
{
    float v[2] = {1, 2};
    cnn_named_tensor t = {"w", {cnn_shape_make(1, (int64_t[]){2}), v}};
    char target[256], inner[512];

    io_path(&env, "target.safetensors", target, sizeof target);
    cr_assert_eq(mkdir(target, 0755), 0);
    snprintf(inner, sizeof inner, "%s/keep", target);
    io_write_file(inner, OLD, sizeof OLD);
    cr_assert_eq(cnn_safetensors_write(env.ctx, target, &t, 1, NULL, 0),
                 CNN_ERR_IO);
    cr_assert_msg_has(env.ctx, target);
    cr_assert_msg_has(env.ctx, "cannot replace it");
    cr_assert_msg_has(env.ctx, strerror(EISDIR));
    assert_old_file_intact(inner);
    cr_assert_eq(io_count_temp_files(env.dir), 0);
}

Test(safetensors, write_into_missing_folder_fails_cleanly)
{
    float v[1] = {1};
    cnn_named_tensor t = {"w", {cnn_shape_make(1, (int64_t[]){1}), v}};
    char path[256];
    io_path(&env, "no/such/dir/w.safetensors", path, sizeof path);
    cr_assert_eq(cnn_safetensors_write(env.ctx, path, &t, 1, NULL, 0),
                 CNN_ERR_IO);
    cr_assert_msg_has(env.ctx, path);
    cr_assert_msg_has(env.ctx, "cannot create a temporary file");
    cr_assert_msg_has(env.ctx, strerror(ENOENT));
    cr_assert_eq(io_count_temp_files(env.dir), 0);
}

Test(safetensors, overwrite_replaces_content_and_keeps_mode)
{
    float v[2] = {1, 2};
    cnn_named_tensor t = {"w", {cnn_shape_make(1, (int64_t[]){2}), v}};
    cnn_tensor_file *file;
    struct stat st;
    char path[256], fresh[256];

    io_path(&env, "w.safetensors", path, sizeof path);
    io_write_file(path, OLD, sizeof OLD);
    cr_assert_eq(chmod(path, 0640), 0);
    cr_assert_eq(cnn_safetensors_write(env.ctx, path, &t, 1, NULL, 0), CNN_OK,
                 "%s", cnn_context_message(env.ctx));
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0640);
    cr_assert_eq(cnn_safetensors_read(env.ctx, path, &file), CNN_OK);
    cr_assert_eq(cnn_tensor_file_at(file, 0)->tensor.data[1], 2.0f);
    cnn_tensor_file_destroy(file);

    /* A new file gets 0666 minus the umask, not mkstemp's 0600. */
    umask(027);
    io_path(&env, "fresh.safetensors", fresh, sizeof fresh);
    cr_assert_eq(cnn_safetensors_write(env.ctx, fresh, &t, 1, NULL, 0),
                 CNN_OK);
    cr_assert_eq(stat(fresh, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0640);
    cr_assert_eq(io_count_temp_files(env.dir), 0);
}
