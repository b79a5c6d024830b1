/* SPDX-License-Identifier: MIT */
#include "cnn/memory.h"

#include <unistd.h>

#include "context_internal.h"

uint64_t cnn_memory_physical(void)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return 0;
    return cnn_memory_mul((uint64_t)pages, (uint64_t)page);
}

cnn_status cnn_memory_check(cnn_context *ctx, uint64_t bytes,
                            const char *what)
{
    uint64_t physical = cnn_memory_physical();
    if (physical == 0 || bytes <= physical)
        return CNN_OK;
    if (bytes == UINT64_MAX)
        return cnn_fail(ctx, CNN_ERR_NOMEM,
                        "%s needs more than 2^64 bytes, more than this "
                        "machine's physical memory of %llu bytes (%.1f GB)",
                        what, (unsigned long long)physical,
                        (double)physical / 1e9);
    return cnn_fail(ctx, CNN_ERR_NOMEM,
                    "%s needs %llu bytes (%.1f GB), more than this machine's "
                    "physical memory of %llu bytes (%.1f GB)",
                    what, (unsigned long long)bytes, (double)bytes / 1e9,
                    (unsigned long long)physical, (double)physical / 1e9);
}
