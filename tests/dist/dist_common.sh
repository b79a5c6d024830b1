# SPDX-License-Identifier: MIT
# Sourced by the data-parallel tests: arguments, skipping, mpirun, checks.
#   $1 cnnrun  $2 source root  $3 weights_close  $4 1 when MPI was built
set -u
cnnrun=$1
root=$2
weights_close=$3
if [ "$4" != 1 ]; then
  echo "cnnrun was built without MPI (-Dmpi=disabled or no libopenmpi-dev); skipping"
  exit 77
fi
if ! command -v mpirun >/dev/null 2>&1; then
  echo "mpirun is not installed (openmpi-bin); skipping"
  exit 77
fi
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "Fashion-MNIST is not installed (dataset-fashion-mnist); skipping"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
# Containers often forbid the cross-memory attach Open MPI uses for large
# shared-memory messages; plain copies work everywhere.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# More ranks than cores (CI machines have two), as root (CI runs as root).
# Under AddressSanitizer the ranks run without leak detection: Open MPI's
# components are unloaded at MPI_Finalize, so their allocations show up as
# leaks from "<unknown module>" that no suppression can name. Memory errors
# and undefined behaviour still stop them; the one-process runs of the same
# tests keep leak checking.
mpi_raw() { # mpirun arguments...
  ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0" \
    mpirun --oversubscribe --allow-run-as-root "$@"
}
mpi() { # ranks, command...
  local np=$1
  shift
  mpi_raw -np "$np" "$@"
}
