/* SPDX-License-Identifier: MIT */
/* .npy: files written by numpy.save (tests/fixtures/gen_io_fixtures.py),
 * writers compared byte for byte with numpy.save, round trips, and one
 * refusal per check the reader makes. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
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

TestSuite(npy, .init = setup, .fini = teardown, .timeout = 300);

static void assert_arange(const cnn_tensor *t)
{
    cr_assert_eq(t->shape.rank, 2);
    cr_assert_eq(t->shape.dims[0], 2);
    cr_assert_eq(t->shape.dims[1], 3);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(t->data[i], 0.5f * (float)i, "element %d is %g", i,
                     (double)t->data[i]);
}

/* A version 1.0 file from a header dict literal (padded as numpy pads it)
 * and data_size bytes of zeros. */
static const char *write_npy_raw(const char *name, const char *dict,
                                 size_t data_size)
{
    static char path[256];
    size_t dict_len = strlen(dict);
    size_t header = dict_len + 1;
    size_t total_header = 10 + header + (64 - (10 + header) % 64) % 64;
    unsigned char *bytes = calloc(total_header + data_size + 1, 1);
    cr_assert_not_null(bytes);
    memcpy(bytes, "\x93NUMPY\x01\x00", 8);
    bytes[8] = (unsigned char)((total_header - 10) & 0xff);
    bytes[9] = (unsigned char)((total_header - 10) >> 8);
    memset(bytes + 10, ' ', total_header - 10);
    memcpy(bytes + 10, dict, dict_len);
    bytes[total_header - 1] = '\n';
    io_path(&env, name, path, sizeof path);
    io_write_file(path, bytes, total_header + data_size);
    free(bytes);
    return path;
}

static void expect_refusal(const char *path, cnn_status want, ...)
{
    cnn_tensor t;
    const char *fragment;
    va_list ap;
    cnn_status st;
    t.data = (float *)&env; /* must come back NULL */
    st = cnn_npy_read(env.ctx, path, &t);
    cr_assert_eq(st, want, "status %d, want %d: %s", st, want,
                 cnn_context_message(env.ctx));
    cr_assert_null(t.data);
    cr_assert_msg_has(env.ctx, path);
    va_start(ap, want);
    while ((fragment = va_arg(ap, const char *)))
        cr_assert_msg_has(env.ctx, fragment);
    va_end(ap);
}

static void assert_same_file(const char *got_path, const char *want_path)
{
    size_t got_size, want_size;
    unsigned char *got = io_read_file(got_path, &got_size);
    unsigned char *want = io_read_file(want_path, &want_size);
    cr_assert_eq(got_size, want_size, "%s is %zu bytes, %s is %zu", got_path,
                 got_size, want_path, want_size);
    cr_assert(memcmp(got, want, want_size) == 0, "%s differs from %s",
              got_path, want_path);
    free(got);
    free(want);
}

Test(npy, reads_numpy_save_versions_1_2_3)
{
    static const char *const files[] = {FIXTURE("arange.npy"),
                                        FIXTURE("arange_v2.npy"),
                                        FIXTURE("arange_v3.npy")};
    for (int i = 0; i < 3; i++) {
        cnn_tensor t;
        cr_assert_eq(cnn_npy_read(env.ctx, files[i], &t), CNN_OK, "%s",
                     cnn_context_message(env.ctx));
        assert_arange(&t);
        free(t.data);
    }
}

Test(npy, converts_f8_and_u1_and_reads_scalar_and_empty)
{
    cnn_tensor t;
    cr_assert_eq(cnn_npy_read(env.ctx, FIXTURE("f64.npy"), &t), CNN_OK, "%s",
                 cnn_context_message(env.ctx));
    cr_assert(cnn_shape_equal(&t.shape, &(cnn_shape){2, {2, 2}}));
    cr_assert_eq(t.data[0], 1.5f);
    cr_assert_eq(t.data[1], -2.25f);
    cr_assert_eq(t.data[2], 1e-3f);
    cr_assert_eq(t.data[3], 3.0f);
    free(t.data);

    cr_assert_eq(cnn_npy_read(env.ctx, FIXTURE("u8.npy"), &t), CNN_OK);
    cr_assert_eq(t.shape.rank, 1);
    cr_assert_eq(t.shape.dims[0], 3);
    cr_assert_eq(t.data[0], 0.0f);
    cr_assert_eq(t.data[1], 128.0f);
    cr_assert_eq(t.data[2], 255.0f);
    free(t.data);

    cr_assert_eq(cnn_npy_read(env.ctx, FIXTURE("scalar.npy"), &t), CNN_OK);
    cr_assert_eq(t.shape.rank, 0);
    cr_assert_eq(t.data[0], 3.25f);
    free(t.data);

    cr_assert_eq(cnn_npy_read(env.ctx, FIXTURE("empty.npy"), &t), CNN_OK);
    cr_assert_eq(t.shape.rank, 2);
    cr_assert_eq(t.shape.dims[0], 0);
    cr_assert_eq(t.shape.dims[1], 4);
    cr_assert_not_null(t.data, "data is malloc'd even when empty");
    free(t.data);
}

Test(npy, writers_match_numpy_save_byte_for_byte)
{
    float values[6] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f};
    float three = 3.25f;
    int32_t labels[5] = {3, 1, 4, 1, 5};
    cnn_tensor t = {cnn_shape2(2, 3), values};
    cnn_tensor scalar = {cnn_shape_make(0, NULL), &three};
    cnn_tensor empty = {cnn_shape2(0, 4), NULL};
    char path[256];

    io_path(&env, "arange.npy", path, sizeof path);
    cr_assert_eq(cnn_npy_write(env.ctx, path, &t), CNN_OK, "%s",
                 cnn_context_message(env.ctx));
    assert_same_file(path, FIXTURE("arange.npy"));
    io_path(&env, "scalar.npy", path, sizeof path);
    cr_assert_eq(cnn_npy_write(env.ctx, path, &scalar), CNN_OK);
    assert_same_file(path, FIXTURE("scalar.npy"));
    io_path(&env, "empty.npy", path, sizeof path);
    cr_assert_eq(cnn_npy_write(env.ctx, path, &empty), CNN_OK);
    assert_same_file(path, FIXTURE("empty.npy"));
    io_path(&env, "labels.npy", path, sizeof path);
    cr_assert_eq(cnn_npy_write_i32(env.ctx, path, labels, 5), CNN_OK);
    assert_same_file(path, FIXTURE("labels_i32.npy"));
    cr_assert_eq(io_count_temp_files(env.dir), 0);
}

Test(npy, header_is_64_byte_aligned_and_ends_in_newline)
{
    /* Ranks 0..8 with wide dims: every header length numpy could need. */
    static float one[1] = {1.0f};
    char path[256];
    io_path(&env, "h.npy", path, sizeof path);
    for (int32_t rank = 0; rank <= CNN_MAX_RANK; rank++) {
        int64_t dims[CNN_MAX_RANK];
        cnn_tensor t;
        size_t size;
        unsigned char *bytes;
        size_t header;
        for (int32_t i = 0; i < rank; i++)
            dims[i] = i == 0 ? 0 : INT64_C(1000000000000);
        t.shape = cnn_shape_make(rank, dims);
        t.data = one;
        cr_assert_eq(cnn_npy_write(env.ctx, path, &t), CNN_OK, "%s",
                     cnn_context_message(env.ctx));
        bytes = io_read_file(path, &size);
        header = (size_t)(bytes[8] | bytes[9] << 8);
        cr_assert_eq((10 + header) % 64, 0, "rank %d", (int)rank);
        cr_assert_eq(bytes[10 + header - 1], '\n');
        cr_assert_eq(size, 10 + header + (rank == 0 ? 4 : 0));
        free(bytes);
    }
}

Test(npy, round_trip)
{
    enum { N = 3 * 1 * 4 * 5 };
    float values[N];
    cnn_tensor t = {cnn_shape4(3, 1, 4, 5), values};
    cnn_tensor back;
    char path[256];
    for (int i = 0; i < N; i++)
        values[i] = (float)i * 0.37f - 9.0f;
    values[7] = -0.0f;
    values[8] = INFINITY;
    io_path(&env, "rt.npy", path, sizeof path);
    cr_assert_eq(cnn_npy_write(env.ctx, path, &t), CNN_OK);
    cr_assert_eq(cnn_npy_read(env.ctx, path, &back), CNN_OK, "%s",
                 cnn_context_message(env.ctx));
    cr_assert(cnn_shape_equal(&back.shape, &t.shape));
    cr_assert(memcmp(back.data, values, sizeof values) == 0);
    free(back.data);
}

Test(npy, writer_refusals_and_failed_write)
{
    float v[2] = {1, 2};
    cnn_tensor neg = {cnn_shape2(-1, 2), v};
    cnn_tensor nodata = {cnn_shape2(1, 2), NULL};
    cnn_tensor ok = {cnn_shape2(1, 2), v};
    char path[256], dir[256], inner[512];
    struct stat st;

    io_path(&env, "x.npy", path, sizeof path);
    cr_assert_eq(cnn_npy_write(env.ctx, path, &neg), CNN_ERR_INVALID);
    cr_assert_msg_has(env.ctx, "negative dimension");
    cr_assert_eq(cnn_npy_write(env.ctx, path, &nodata), CNN_ERR_INVALID);
    cr_assert_msg_has(env.ctx, "tensor has no data");
    cr_assert_eq(stat(path, &st), -1);

    io_path(&env, "missing/x.npy", path, sizeof path);
    cr_assert_eq(cnn_npy_write(env.ctx, path, &ok), CNN_ERR_IO);
    cr_assert_msg_has(env.ctx, path);
    cr_assert_msg_has(env.ctx, strerror(ENOENT));

    /* A folder in the target's place: the rename fails, the folder and its
     * content stay, the temporary file is removed. */
    io_path(&env, "dir.npy", dir, sizeof dir);
    cr_assert_eq(mkdir(dir, 0755), 0);
    snprintf(inner, sizeof inner, "%s/keep", dir);
    io_write_file(inner, "keep", 4);
    cr_assert_eq(cnn_npy_write(env.ctx, dir, &ok), CNN_ERR_IO);
    cr_assert_msg_has(env.ctx, dir);
    cr_assert_msg_has(env.ctx, strerror(EISDIR));
    cr_assert_eq(stat(inner, &st), 0);
    cr_assert_eq(st.st_size, 4);
    cr_assert_eq(io_count_temp_files(env.dir), 0);

    io_path(&env, "", path, sizeof path);
    cr_assert_eq(cnn_npy_write(env.ctx, path, &ok), CNN_ERR_INVALID);
    cr_assert_msg_has(env.ctx, "names a folder, not a file");
}

/* ---- refusals ---------------------------------------------------------- */

#define ARANGE_DICT "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"

Test(npy, accepts_hand_made_header_variants)
{
    /* Keys in any order, double quotes, no trailing comma, Python 2 "L". */
    cnn_tensor t;
    const char *path = write_npy_raw(
        "v.npy", "{\"shape\": (2L, 3L), 'descr':'<f4','fortran_order':False}",
        24);
    cr_assert_eq(cnn_npy_read(env.ctx, path, &t), CNN_OK, "%s",
                 cnn_context_message(env.ctx));
    cr_assert_eq(t.shape.dims[1], 3);
    free(t.data);
}

Test(npy, refuses_fortran_order)
{
    expect_refusal(FIXTURE("fortran.npy"), CNN_ERR_UNSUPPORTED,
                   "Fortran order", NULL);
}

Test(npy, refuses_other_dtypes_naming_them)
{
    expect_refusal(FIXTURE("be_f4.npy"), CNN_ERR_UNSUPPORTED,
                   "dtype '>f4' is not supported", NULL);
    expect_refusal(write_npy_raw("i2.npy",
                                 "{'descr': '<i2', 'fortran_order': False, "
                                 "'shape': (2,), }",
                                 4),
                   CNN_ERR_UNSUPPORTED, "dtype '<i2' is not supported", NULL);
    expect_refusal(write_npy_raw("s.npy",
                                 "{'descr': [('a', '<f4')], 'fortran_order': "
                                 "False, 'shape': (1,), }",
                                 4),
                   CNN_ERR_UNSUPPORTED, "structured dtypes", NULL);
}

/* Integer arrays (labels) convert exactly to float32. */
Test(npy, reads_integer_labels)
{
    static const float want_i64[] = {0, 1, 2};
    static const float want_i32[] = {3, 1, 4, 1, 5};
    cnn_tensor t;
    cr_assert_eq(cnn_npy_read(env.ctx, FIXTURE("i64.npy"), &t), CNN_OK, "%s",
                 cnn_context_message(env.ctx));
    cr_assert_eq(t.shape.rank, 1);
    cr_assert_eq(t.shape.dims[0], 3);
    cr_assert_arr_eq(t.data, want_i64, sizeof want_i64);
    free(t.data);
    cr_assert_eq(cnn_npy_read(env.ctx, FIXTURE("labels_i32.npy"), &t), CNN_OK,
                 "%s", cnn_context_message(env.ctx));
    cr_assert_eq(t.shape.dims[0], 5);
    cr_assert_arr_eq(t.data, want_i32, sizeof want_i32);
    free(t.data);
}

Test(npy, refuses_truncated_and_trailing_data)
{
    size_t size;
    unsigned char *bytes = io_read_file(FIXTURE("arange.npy"), &size);
    char path[256];
    io_path(&env, "cut.npy", path, sizeof path);
    io_write_file(path, bytes, size - 4);
    expect_refusal(path, CNN_ERR_FORMAT,
                   "truncated: shape (2, 3) of 4-byte items needs 24 data "
                   "bytes, file has 20",
                   NULL);
    io_path(&env, "long.npy", path, sizeof path);
    bytes = realloc(bytes, size + 1);
    cr_assert_not_null(bytes);
    bytes[size] = 0;
    io_write_file(path, bytes, size + 1);
    expect_refusal(path, CNN_ERR_FORMAT,
                   "trailing bytes: shape (2, 3) of 4-byte items needs 24 "
                   "data bytes, file has 25",
                   NULL);
    free(bytes);
    expect_refusal(write_npy_raw("one.npy",
                                 "{'descr': '<f8', 'fortran_order': False, "
                                 "'shape': (3,), }",
                                 16),
                   CNN_ERR_FORMAT, "shape (3,) of 8-byte items needs 24", NULL);
}

Test(npy, refuses_bad_prelude)
{
    char path[256];
    io_path(&env, "tiny.npy", path, sizeof path);
    io_write_file(path, "\x93NUMPY\x01", 7);
    expect_refusal(path, CNN_ERR_FORMAT, "file is 7 bytes, too short", NULL);
    io_path(&env, "magic.npy", path, sizeof path);
    io_write_file(path, "PK\x03\x04 not numpy at all",
                  sizeof "PK\x03\x04 not numpy at all" - 1);
    expect_refusal(path, CNN_ERR_FORMAT, "not a .npy file", NULL);
    io_path(&env, "v4.npy", path, sizeof path);
    io_write_file(path, "\x93NUMPY\x04\x00\x00\x00{}", 12);
    expect_refusal(path, CNN_ERR_UNSUPPORTED, ".npy version 4.0", NULL);
    io_path(&env, "len.npy", path, sizeof path);
    io_write_file(path, "\x93NUMPY\x01\x00\x00\x10{}", 12);
    expect_refusal(path, CNN_ERR_FORMAT,
                   "header length 4096 runs past the end", NULL);
    io_path(&env, "len2.npy", path, sizeof path);
    io_write_file(path, "\x93NUMPY\x02\x00\x00\x00\x00\x10{}", 14);
    expect_refusal(path, CNN_ERR_FORMAT,
                   "header length 268435456 exceeds the limit", NULL);
}

Test(npy, refuses_malformed_headers)
{
    expect_refusal(write_npy_raw("nokey.npy",
                                 "{'descr': '<f4', 'shape': (2, 3), }", 24),
                   CNN_ERR_FORMAT, "header has no 'fortran_order'", NULL);
    expect_refusal(write_npy_raw("dup.npy",
                                 "{'descr': '<f4', 'descr': '<f4', "
                                 "'fortran_order': False, 'shape': (2, 3), }",
                                 24),
                   CNN_ERR_FORMAT, "key 'descr' given twice", NULL);
    expect_refusal(write_npy_raw("extra.npy",
                                 "{'descr': '<f4', 'fortran_order': False, "
                                 "'shape': (2, 3), 'x': 1}",
                                 24),
                   CNN_ERR_FORMAT, "unexpected key 'x'", NULL);
    expect_refusal(write_npy_raw("int.npy",
                                 "{'descr': '<f4', 'fortran_order': False, "
                                 "'shape': (6), }",
                                 24),
                   CNN_ERR_FORMAT, "shape (6) is not a tuple", NULL);
    expect_refusal(write_npy_raw("neg.npy",
                                 "{'descr': '<f4', 'fortran_order': False, "
                                 "'shape': (-1,), }",
                                 0),
                   CNN_ERR_FORMAT, "expected a non-negative integer", NULL);
    expect_refusal(write_npy_raw("rank.npy",
                                 "{'descr': '<f4', 'fortran_order': False, "
                                 "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }",
                                 4),
                   CNN_ERR_UNSUPPORTED, "more than 8 dimensions", NULL);
    expect_refusal(write_npy_raw("fo.npy",
                                 "{'descr': '<f4', 'fortran_order': 0, "
                                 "'shape': (2, 3), }",
                                 24),
                   CNN_ERR_FORMAT, "expected True or False", NULL);
    expect_refusal(write_npy_raw("after.npy", ARANGE_DICT " x", 24),
                   CNN_ERR_FORMAT, "only spaces after the closing '}'", NULL);
    expect_refusal(write_npy_raw("comma.npy",
                                 "{'descr': '<f4' 'fortran_order': False, "
                                 "'shape': (2, 3), }",
                                 24),
                   CNN_ERR_FORMAT, "expected ',' or '}' at header byte 16",
                   NULL);
    expect_refusal(write_npy_raw("quote.npy", "{'descr: '<f4', }", 24),
                   CNN_ERR_FORMAT, "unexpected key 'descr: '", NULL);
    expect_refusal(write_npy_raw("open.npy", "{'descr': '<f4", 24),
                   CNN_ERR_FORMAT,
                   "expected a string without escapes or line breaks", NULL);
    expect_refusal(write_npy_raw("huge.npy",
                                 "{'descr': '<f4', 'fortran_order': False, "
                                 "'shape': (99999999999999999999,), }",
                                 0),
                   CNN_ERR_FORMAT, "shape dimension 0 is too large", NULL);
    expect_refusal(write_npy_raw("ovf.npy",
                                 "{'descr': '<f4', 'fortran_order': False, "
                                 "'shape': (4294967296, 4294967296, 16), }",
                                 0),
                   CNN_ERR_FORMAT, "shape has too many elements", NULL);
}

Test(npy, refuses_missing_file)
{
    char path[256];
    io_path(&env, "absent.npy", path, sizeof path);
    expect_refusal(path, CNN_ERR_NOT_FOUND, "cannot open", strerror(ENOENT),
                   NULL);
}
