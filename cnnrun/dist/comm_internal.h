/* SPDX-License-Identifier: MIT */
/* What the dist_comm implementations share (comm.c). */
#ifndef CNNRUN_DIST_COMM_INTERNAL_H
#define CNNRUN_DIST_COMM_INTERNAL_H

#include "comm.h"

/* The number of ranks a launcher (Open MPI's mpirun, PMIx, Slurm or MPICH's
 * PMI) started this process among, from its environment; 0 when none did. */
int dist_launcher_size(void);
/* How long a wait spins before it sleeps between polls, in seconds:
 * CNNRUN_DIST_SPIN_US in microseconds; by default 5000 when the node's
 * ranks (ranks_on_node) have a core each, else 200. */
double dist_spin_seconds(int ranks_on_node);
/* CNNRUN_DIST_TIMEOUT in seconds (default 300). */
double dist_timeout_seconds(void);
/* On ranks other than 0: keep the real stderr for dist_say and point
 * stdout and stderr at /dev/null, unless CNNRUN_DIST_VERBOSE=1. */
void dist_silence_others(const dist_comm *c);

#endif
