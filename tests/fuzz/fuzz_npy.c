/* SPDX-License-Identifier: MIT */
/* NumPy .npy: cnn_npy_read (header dictionary, dtype conversion) on the
 * input as a file; a tensor it returns is read end to end. */
#include <stdint.h>
#include <stdlib.h>

#include "cnn/io.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[FUZZ_PATH_MAX];
    cnn_tensor t;
    volatile float sink = 0.0f;
    fuzz_write_file(path, "input.npy", data, size);
    if (!fuzz_ok(cnn_npy_read(fuzz_context(), path, &t)))
        return 0;
    size_t n = cnn_shape_numel(&t.shape);
    for (size_t i = 0; i < n; i++)
        sink += t.data[i];
    (void)sink;
    free(t.data);
    return 0;
}
