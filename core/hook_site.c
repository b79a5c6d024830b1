/* SPDX-License-Identifier: MIT */
/* The process-wide record of the plugin hook running now; see
 * cnn/hook_site.h. One atomic pointer: storing and loading it is
 * lock-free, so a signal handler on any thread may read it. */
#include <stdatomic.h>

#include "hook_site_internal.h"

static _Atomic(const cnn_hook_site *) current;

_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2,
               "the hook record must be readable from a signal handler");

const cnn_hook_site *cnn_hook_site_current(void)
{
    return atomic_load_explicit(&current, memory_order_acquire);
}

const cnn_hook_site *cnn_hook_site_enter(const cnn_hook_site *site)
{
    return atomic_exchange_explicit(&current, site, memory_order_acq_rel);
}

void cnn_hook_site_leave(const cnn_hook_site *previous)
{
    atomic_store_explicit(&current, previous, memory_order_release);
}
