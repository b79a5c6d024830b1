/* SPDX-License-Identifier: MIT */
/* dist_open for a cnnrun built without MPI: alone it runs as always;
 * started as one of several ranks it refuses, since every rank would train
 * the whole model on its own and write the same files. */
#include <stdio.h>

#include "comm_internal.h"

dist_comm *dist_open(const char *command, int *failed)
{
    int ranks = dist_launcher_size();
    *failed = 0;
    if (ranks > 1) {
        fprintf(stderr,
                "cnnrun %s: error: started as one of %d ranks, but this cnnrun "
                "was built without MPI (meson setup -Dmpi=enabled with Debian's "
                "libopenmpi-dev installed); run it without mpirun\n",
                command, ranks);
        *failed = 1;
    }
    return NULL;
}
