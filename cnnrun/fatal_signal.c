/* SPDX-License-Identifier: MIT */
/* Fatal-signal handling for cnnrun; see fatal_signal.h. */
#include "fatal_signal.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cnn/hook_site.h"

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define N_FATAL (sizeof fatal_signals / sizeof fatal_signals[0])
static struct sigaction previous[N_FATAL];
static const char *host_command = "cnnrun";
/* Room for the handler after the stack itself overflowed. */
static char alternate_stack[1 << 16];

void fatal_put(int fd, const char *s)
{
    size_t n = strlen(s); /* async-signal-safe since POSIX.1-2016 */
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

const char *fatal_signal_name(int sig)
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

void fatal_signal_handlers_install(void (*handler)(int))
{
    struct sigaction sa;
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = alternate_stack;
    ss.ss_size = sizeof alternate_stack;
    sigaltstack(&ss, NULL);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_ONSTACK;
    for (size_t i = 0; i < N_FATAL; i++)
        sigaction(fatal_signals[i], &sa, &previous[i]);
}

void fatal_signal_handlers_restore(void)
{
    for (size_t i = 0; i < N_FATAL; i++)
        sigaction(fatal_signals[i], &previous[i], NULL);
}

static void on_fatal(int sig)
{
    const cnn_hook_site *site = cnn_hook_site_current();
    fatal_put(2, "\n");
    fatal_put(2, host_command);
    fatal_put(2, ": fatal: ");
    if (!site) {
        fatal_put(2, fatal_signal_name(sig));
        fatal_put(2, " outside any plugin hook (a bug in cnnrun or a "
                     "library it uses; please report it)\n");
    } else if (!site->layer) {
        fatal_put(2, "plugin ");
        fatal_put(2, site->plugin ? site->plugin : "(unknown file)");
        fatal_put(2, " crashed with ");
        fatal_put(2, fatal_signal_name(sig));
        fatal_put(2, " while loading (its constructors or its entry "
                     "function)\n");
    } else {
        fatal_put(2, "layer '");
        fatal_put(2, site->layer);
        fatal_put(2, "' (type ");
        fatal_put(2, site->type ? site->type : "?");
        fatal_put(2, ", plugin ");
        fatal_put(2, site->plugin ? site->plugin : "(unknown file)");
        fatal_put(2, ") crashed with ");
        fatal_put(2, fatal_signal_name(sig));
        fatal_put(2, " in its ");
        fatal_put(2, site->hook);
        fatal_put(2, " hook\n");
    }
    /* SA_RESETHAND put the default action back: the signal, pending until
     * this handler returns, ends the process with the status it would
     * have had without us (and a core dump where enabled). */
    raise(sig);
}

void fatal_signal_install_host(const char *command)
{
    static char name[64];
    size_t n = strlen(command);
    /* "cnnrun train": built once here, read by the handler. */
    memcpy(name, "cnnrun ", 7);
    if (n > sizeof name - 8)
        n = sizeof name - 8;
    memcpy(name + 7, command, n);
    name[7 + n] = '\0';
    host_command = name;
    fatal_signal_handlers_install(on_fatal);
}
