/* SPDX-License-Identifier: MIT */
/* Crash note for check-plugin; see crash.h. The handler machinery is the
 * host's (fatal_signal.h); only async-signal-safe calls (write, _exit) run
 * inside the handler. */
#include "crash.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "../fatal_signal.h"

static char stage[256] = "loading the plugin";
static int out_fd = 1;
static int installed;

static void on_fatal(int sig)
{
    fatal_put(out_fd, "\nFAIL  crash                          the plugin crashed with ");
    fatal_put(out_fd, fatal_signal_name(sig));
    fatal_put(out_fd, " during ");
    fatal_put(out_fd, stage);
    fatal_put(out_fd, "\n\nResult: FAIL (the process was killed by the plugin)\n");
    /* Exit status 1 like any other failed check; no atexit handlers, no
     * stdio: the process state is not trusted any more. */
    _exit(1);
}

void ck_crash_install(int fd)
{
    out_fd = fd;
    fatal_signal_handlers_install(on_fatal);
    installed = 1;
}

void ck_crash_uninstall(void)
{
    if (!installed)
        return;
    fatal_signal_handlers_restore();
    installed = 0;
}

void ck_crash_stage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(stage, sizeof stage, fmt, ap);
    va_end(ap);
}
