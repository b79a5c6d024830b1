/* SPDX-License-Identifier: MIT */
/* Fashion-MNIST from /usr/share/datasets/fashion-mnist, when installed.
 * The expected values were read independently with Python's gzip and
 * struct modules (see gen_fashion_expect.py in this folder). */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "cnn/data.h"
#include "data_util.h"

static void need_dataset(void)
{
    if (access(CNN_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) !=
            0 ||
        access(CNN_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz", R_OK) != 0)
        cr_skip_test("Fashion-MNIST is not installed in "
                     CNN_FASHION_MNIST_DIR);
}

static cnn_dataset *open_ok(cnn_context *ctx, const char *spec,
                            const cnn_shape *shape)
{
    cnn_dataset *ds = NULL;
    cr_assert_eq(cnn_dataset_open(ctx, spec, shape, &ds), CNN_OK, "%s: %s",
                 spec, cnn_context_message(ctx));
    return ds;
}

static unsigned long pixel_sum(const cnn_dataset *ds, size_t i)
{
    cnn_shape s = cnn_dataset_sample_shape(ds);
    const uint8_t *p = du_sample_u8(ds, i);
    unsigned long sum = 0;
    for (size_t k = 0; k < cnn_shape_numel(&s); k++)
        sum += p[k];
    return sum;
}

Test(fashion, train_native)
{
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *ds;
    cnn_shape want = cnn_shape4(1, 1, 28, 28);
    cnn_shape got;
    size_t per_class[10] = {0};
    need_dataset();
    ds = open_ok(ctx, "fashion-mnist:train", NULL);
    got = cnn_dataset_sample_shape(ds);
    cr_assert(cnn_shape_equal(&got, &want));
    cr_assert_eq(cnn_dataset_size(ds), 60000);
    cr_assert_eq(cnn_dataset_class_count(ds), 10);
    cr_assert_str_eq(cnn_dataset_class_name(ds, 0), "T-shirt/top");
    cr_assert_str_eq(cnn_dataset_class_name(ds, 9), "Ankle boot");
    cr_assert_eq(cnn_dataset_label(ds, 0), 9);
    cr_assert_eq(cnn_dataset_label(ds, 59999), 5);
    cr_assert_eq(pixel_sum(ds, 0), 76247);
    cr_assert_eq(pixel_sum(ds, 59999), 16684);
    cr_assert_eq(du_sample_u8(ds, 0)[14 * 28 + 14], 217);
    for (size_t i = 0; i < 60000; i++)
        per_class[cnn_dataset_label(ds, i)]++;
    for (size_t c = 0; c < 10; c++)
        cr_assert_eq(per_class[c], 6000);
    cnn_dataset_destroy(ds);
    cnn_context_destroy(ctx);
}

Test(fashion, test_padded_to_lenet)
{
    /* 28x28 into 32x32: a 2-pixel zero border, the same pixels inside. */
    cnn_context *ctx = cnn_context_create();
    cnn_shape lenet = cnn_shape4(1, 1, 32, 32);
    cnn_dataset *ds;
    const uint8_t *p;
    need_dataset();
    ds = open_ok(ctx, "fashion-mnist:test", &lenet);
    cr_assert_eq(cnn_dataset_size(ds), 10000);
    cr_assert_eq(cnn_dataset_label(ds, 0), 9);
    cr_assert_eq(pixel_sum(ds, 0), 33456);
    cr_assert_eq(pixel_sum(ds, 9999), 24390);
    p = du_sample_u8(ds, 0);
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++)
            if (y < 2 || y >= 30 || x < 2 || x >= 30)
                cr_assert_eq(p[y * 32 + x], 0);
    cnn_dataset_destroy(ds);
    cnn_context_destroy(ctx);
}

Test(fashion, subsets)
{
    static const int32_t tail[10] = {5, 6, 8, 9, 1, 9, 1, 8, 1, 5};
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *ds;
    need_dataset();
    ds = open_ok(ctx, "fashion-mnist:test[9990:]", NULL);
    cr_assert_eq(cnn_dataset_size(ds), 10);
    for (size_t i = 0; i < 10; i++)
        cr_assert_eq(cnn_dataset_label(ds, i), tail[i]);
    cr_assert_eq(pixel_sum(ds, 9), 24390);
    cnn_dataset_destroy(ds);
    ds = open_ok(ctx, "fashion-mnist:train@2000", NULL);
    cr_assert_eq(cnn_dataset_size(ds), 2000);
    cr_assert_eq(cnn_dataset_label(ds, 0), 9);
    cnn_dataset_destroy(ds);
    ds = open_ok(ctx, "fashion-mnist:test:" CNN_FASHION_MNIST_DIR "@3", NULL);
    cr_assert_eq(cnn_dataset_size(ds), 3);
    cnn_dataset_destroy(ds);
    cnn_context_destroy(ctx);
}

Test(fashion, missing_directory)
{
    cnn_context *ctx = cnn_context_create();
    cnn_dataset *ds = NULL;
    cr_assert_eq(cnn_dataset_open(ctx, "fashion-mnist:train:/nonexistent/fm",
                                  NULL, &ds),
                 CNN_ERR_NOT_FOUND);
    cr_assert_not_null(strstr(cnn_context_message(ctx),
                              "/nonexistent/fm/train-labels-idx1-ubyte.gz"));
    cr_assert_not_null(
        strstr(cnn_context_message(ctx), "No such file or directory"));
    cnn_context_destroy(ctx);
}
