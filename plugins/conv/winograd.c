/* SPDX-License-Identifier: MIT */
/* Winograd F(2x2, 3x3): placeholder while the GEMM path is measured. */
#include "conv_impl.h"

int conv_wino_applies(const conv_run *r)
{
    (void)r;
    return 0;
}

cnn_status conv_wino_forward(conv_run *r, cnn_errbuf *err)
{
    return conv_gemm_forward(r, err);
}

cnn_status conv_wino_backward_dx(conv_run *r, cnn_errbuf *err)
{
    (void)r;
    return cnn_layer_fail(err, CNN_ERR_INVALID, "winograd: not built");
}
