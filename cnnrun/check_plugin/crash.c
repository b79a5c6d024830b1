/* SPDX-License-Identifier: MIT */
/* Crash note for check-plugin; see crash.h. Only async-signal-safe calls
 * (write, _exit) run inside the handler. */
#include "crash.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char stage[256] = "loading the plugin";
static int out_fd = 1;
static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define N_FATAL (sizeof fatal_signals / sizeof fatal_signals[0])
static struct sigaction previous[N_FATAL];
static int installed;

static void put(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    while (n > 0) {
        ssize_t w = write(out_fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV (invalid memory access)";
    case SIGBUS: return "SIGBUS (bad memory access)";
    case SIGFPE: return "SIGFPE (arithmetic trap)";
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGABRT: return "SIGABRT (abort)";
    default: return "a fatal signal";
    }
}

static void on_fatal(int sig)
{
    put("\nFAIL  crash                          the plugin crashed with ");
    put(signal_name(sig));
    put(" during ");
    put(stage);
    put("\n\nResult: FAIL (the process was killed by the plugin)\n");
    /* Exit status 1 like any other failed check; no atexit handlers, no
     * stdio: the process state is not trusted any more. */
    _exit(1);
}

void ck_crash_install(int fd)
{
    struct sigaction sa;
    out_fd = fd;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    for (size_t i = 0; i < N_FATAL; i++)
        sigaction(fatal_signals[i], &sa, &previous[i]);
    installed = 1;
}

void ck_crash_uninstall(void)
{
    if (!installed)
        return;
    for (size_t i = 0; i < N_FATAL; i++)
        sigaction(fatal_signals[i], &previous[i], NULL);
    installed = 0;
}

void ck_crash_stage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(stage, sizeof stage, fmt, ap);
    va_end(ap);
}
