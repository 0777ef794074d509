#!/usr/bin/env bash
# Quick start, step 2: install Open MPI if missing, then build and run the whole test suite
# (kernels, model vs. PyTorch fixtures, DPO, data, checkpoints, MPI under mpirun, end-to-end training).
set -euo pipefail
cd "$(dirname "$0")/.."
launch/install-mpi.sh
swift build --build-tests
exec swift test --skip-build "$@"
