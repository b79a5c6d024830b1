/* SPDX-License-Identifier: MIT */
/* Lane helpers shared by maxpool's AVX-512 kernels; include only from
 * files compiled for AVX-512. */
#ifndef MAXPOOL_LANES_AVX512_H
#define MAXPOOL_LANES_AVX512_H

#include <immintrin.h>
#include <stdint.h>

static inline __mmask16 first_lanes(int64_t count)
{
    if (count <= 0)
        return 0;
    return count >= 16 ? (__mmask16)0xFFFF
                       : (__mmask16)((1u << (unsigned)count) - 1u);
}

/* v takes the running maximum m: v > m, or v is the first NaN (maxpool.c's
 * rule). */
static inline __mmask16 takes(__m512 v, __m512 m)
{
    return _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) |
           (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) &
            _mm512_cmp_ps_mask(m, m, _CMP_ORD_Q));
}

#endif
