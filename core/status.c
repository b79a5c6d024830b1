/* SPDX-License-Identifier: MIT */
#include "cnn/status.h"

const char *cnn_status_text(cnn_status status)
{
    switch (status) {
#define CNN_STATUS_CASE_(name, value, text)                                    \
    case name:                                                                 \
        return text;
        CNN_STATUS_LIST(CNN_STATUS_CASE_)
#undef CNN_STATUS_CASE_
    }
    return "unknown status";
}
