/* SPDX-License-Identifier: MIT */
/* safetensors: cnn_safetensors_read (header JSON, layout checks, dtype
 * conversion) on the input as a file, then every accessor over what it
 * returned. */
#include <stdint.h>

#include "cnn/io.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[FUZZ_PATH_MAX];
    cnn_tensor_file *f = NULL;
    volatile float sink = 0.0f;
    fuzz_write_file(path, "input.safetensors", data, size);
    if (!fuzz_ok(cnn_safetensors_read(fuzz_context(), path, &f)))
        return 0;
    for (size_t i = 0; i < cnn_tensor_file_count(f); i++) {
        const cnn_named_tensor *t = cnn_tensor_file_at(f, i);
        size_t n = cnn_shape_numel(&t->tensor.shape);
        /* First and last element: the reader promised n floats. */
        if (n)
            sink += t->tensor.data[0] + t->tensor.data[n - 1];
        if (cnn_tensor_file_find(f, t->name) == NULL)
            __builtin_trap(); /* a listed name must be found */
    }
    sink += cnn_tensor_file_metadata(f, "format") ? 1.0f : 0.0f;
    (void)sink;
    cnn_tensor_file_destroy(f);
    return 0;
}
