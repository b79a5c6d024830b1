/* SPDX-License-Identifier: MIT */
/* The parts of dist_comm that do not depend on the engine: finding the
 * launcher, one voice, agreeing on failures. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm_internal.h"

/* The real stderr of a silenced rank (-1: fd 2 is the real one). */
static int real_stderr = -1;

static long env_long(const char *name)
{
    const char *v = getenv(name);
    char *end;
    long n;
    if (!v || !*v)
        return -1;
    n = strtol(v, &end, 10);
    return *end ? -1 : n;
}

int dist_launcher_size(void)
{
    static const char *const names[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE",
                                        "PMI_SIZE", "SLURM_NTASKS"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        long n = env_long(names[i]);
        if (n > 0)
            return (int)n;
    }
    /* PMIx launchers that set only the rank. */
    return env_long("PMIX_RANK") >= 0 ? 1 : 0;
}

double dist_spin_seconds(int ranks_on_node)
{
    const char *v = getenv("CNNRUN_DIST_SPIN_US");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    /* A rank with a core of its own spins long enough to cover the other
     * rank finishing backward and the transfer after it, which takes many
     * rounds of polls on both sides (over shared memory without a
     * single-copy mechanism, one per fragment): sleeping there cost 5-9 ms
     * a step on the small VGG. Ranks sharing cores poll briefly, then
     * sleep, so the rank they wait for gets the core. */
    double fallback = ranks_on_node > 0 && cores > 0 && ranks_on_node <= cores
                          ? 5000e-6
                          : 200e-6;
    char *end;
    double us;
    if (!v || !*v)
        return fallback;
    us = strtod(v, &end);
    if (*end || !(us >= 0)) {
        fprintf(stderr, "cnnrun: warning: CNNRUN_DIST_SPIN_US='%s' is not a "
                        "number of microseconds >= 0; using %.0f\n",
                v, fallback * 1e6);
        return fallback;
    }
    return us * 1e-6;
}

double dist_timeout_seconds(void)
{
    const char *v = getenv("CNNRUN_DIST_TIMEOUT");
    char *end;
    double s;
    if (!v || !*v)
        return 300.0;
    s = strtod(v, &end);
    if (*end || !(s > 0)) {
        fprintf(stderr, "cnnrun: warning: CNNRUN_DIST_TIMEOUT='%s' is not a "
                        "positive number of seconds; using 300\n", v);
        return 300.0;
    }
    return s;
}

void dist_silence_others(const dist_comm *c)
{
    const char *verbose = getenv("CNNRUN_DIST_VERBOSE");
    int null_fd;
    if (c->rank == 0 || (verbose && strcmp(verbose, "1") == 0))
        return;
    fflush(stdout);
    fflush(stderr);
    real_stderr = dup(2);
    null_fd = open("/dev/null", O_WRONLY);
    if (real_stderr < 0 || null_fd < 0)
        return; /* keep talking rather than lose errors */
    dup2(null_fd, 1);
    dup2(null_fd, 2);
    close(null_fd);
}

void dist_say(const dist_comm *c, const char *command, const char *fmt, ...)
{
    char text[1024];
    int n;
    va_list ap;
    n = snprintf(text, sizeof text, "cnnrun %s: error: rank %d: ", command,
                 c ? c->rank : 0);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof text)
        vsnprintf(text + n, sizeof text - (size_t)n, fmt, ap);
    va_end(ap);
    fflush(stderr);
    /* One write, so lines of several ranks do not interleave. */
    n = (int)strlen(text);
    if ((size_t)n + 1 < sizeof text) {
        text[n++] = '\n';
        text[n] = '\0';
    }
    if (write(real_stderr >= 0 ? real_stderr : 2, text, (size_t)n) < 0) {
        /* nowhere left to report to */
    }
}

enum { AGREE_MESSAGE = 500 };

typedef struct agree_entry {
    int32_t code;
    char message[AGREE_MESSAGE];
} agree_entry;

int dist_agree(dist_comm *c, const char *command, int code, const char *message)
{
    agree_entry mine, *all;
    int job = 0;
    if (!dist_active(c))
        return code;
    memset(&mine, 0, sizeof mine);
    mine.code = code;
    if (code && message)
        snprintf(mine.message, sizeof mine.message, "%s", message);
    all = malloc((size_t)c->size * sizeof *all);
    if (!all) {
        dist_say(c, command, "out of memory");
        c->abort(c, 1);
        return 1;
    }
    c->allgather(c, &mine, all, sizeof mine);
    for (int r = 0; r < c->size; r++) {
        if (!all[r].code)
            continue;
        if (!job)
            job = all[r].code;
        /* Rank 0 printed its own failure; it names the others', except
         * the ones it shares word for word (said once is enough). */
        if (c->rank == 0 && r != 0 && all[r].message[0] &&
            !(all[0].code && !strcmp(all[0].message, all[r].message)))
            fprintf(stderr, "cnnrun %s: error: rank %d: %s\n", command, r,
                    all[r].message);
    }
    if (c->rank == 0 && job && !all[0].code)
        fprintf(stderr, "cnnrun %s: error: stopping all %d ranks\n", command,
                c->size);
    free(all);
    return job;
}

void dist_close(dist_comm *c)
{
    if (c)
        c->close(c);
}
