/* SPDX-License-Identifier: MIT */
/* A last word when the plugin under test crashes the process: the checker
 * notes what it is about to call, and a handler for the fatal signals
 * prints that note as a FAIL line before the process dies. */
#ifndef CNNRUN_CHECK_PLUGIN_CRASH_H
#define CNNRUN_CHECK_PLUGIN_CRASH_H

/* Installs the handlers; fd is where the line goes (1 or 2). */
void ck_crash_install(int fd);
/* Restores the default handlers. */
void ck_crash_uninstall(void);
/* What is running now ("forward 3x3x7x6"); truncated to fit. */
void ck_crash_stage(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif
