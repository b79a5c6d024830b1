/* SPDX-License-Identifier: MIT */
/* Last words when the process is about to die of SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL or SIGABRT: the host's report of the plugin hook that was running
 * (cnn/hook_site.h), and the pieces check-plugin's own crash note shares.
 * Everything a handler calls here is async-signal-safe (write(2), atomic
 * loads, sigaction, raise). */
#ifndef CNNRUN_FATAL_SIGNAL_H
#define CNNRUN_FATAL_SIGNAL_H

/* Writes s to fd with write(2), retrying short writes. */
void fatal_put(int fd, const char *s);
/* "SIGSEGV (invalid memory access)" and the like. */
const char *fatal_signal_name(int sig);

/* Installs handler for every fatal signal, one-shot (SA_RESETHAND) and on
 * an alternate stack so that a stack overflow can still be reported;
 * remembers the handlers it replaced. */
void fatal_signal_handlers_install(void (*handler)(int));
/* Puts back the handlers the last install replaced. */
void fatal_signal_handlers_restore(void);

/* The host's handlers: on a fatal signal, one line on stderr naming the
 * layer, plugin file and hook that were running ("cnnrun train: fatal:
 * layer 'fc1' (type dense, plugin /x/dense.so) crashed with SIGSEGV
 * (invalid memory access) in its forward hook"), then the signal is raised
 * again so the process ends with the signal's status as before. command
 * must outlive the process (argv[1]). */
void fatal_signal_install_host(const char *command);

#endif
