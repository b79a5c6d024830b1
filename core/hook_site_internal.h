/* SPDX-License-Identifier: MIT */
/* Setting the hook record (cnn/hook_site.h) around each call into plugin
 * code:
 *
 *     cnn_hook_site site = {name, type, path, "forward"};
 *     const cnn_hook_site *prev = cnn_hook_site_enter(&site);
 *     st = desc->forward(...);
 *     cnn_hook_site_leave(prev);
 *
 * site must stay alive until the leave (a local of the calling function
 * is); its strings too. Entering returns the record it replaces, so a hook
 * called while another runs (none does today) restores it on leaving. */
#ifndef CNN_CORE_HOOK_SITE_INTERNAL_H
#define CNN_CORE_HOOK_SITE_INTERNAL_H

#include "cnn/hook_site.h"

const cnn_hook_site *cnn_hook_site_enter(const cnn_hook_site *site);
void cnn_hook_site_leave(const cnn_hook_site *previous);

#endif
