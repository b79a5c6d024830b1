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
# Open MPI's own allocations live until exit; under LeakSanitizer they are
# not ours to report.
export LSAN_OPTIONS="suppressions=$root/tests/dist/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# Containers often forbid the cross-memory attach Open MPI uses for large
# shared-memory messages; plain copies work everywhere.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# More ranks than cores (CI machines have two), as root (CI runs as root).
mpi() { # ranks, command...
  local np=$1
  shift
  mpirun --oversubscribe --allow-run-as-root -np "$np" "$@"
}
