#!/usr/bin/env bash
# Quick start, step 1: install Open MPI if missing, build dpo-dist (release) and train the built-in demo.
# Usage: launch/demo.sh [ranks] [extra dpo-dist train arguments…]
#   ranks defaults to 1 (a plain process, no mpirun); with ranks > 1 the run goes through launch/local.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=${1:-1}
if [[ $# -gt 0 ]]; then shift; fi
if ! [[ $ranks =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: launch/demo.sh [ranks] [dpo-dist train arguments…]" >&2
    exit 2
fi
launch/install-mpi.sh
swift build -c release --product dpo-dist
if [[ $ranks == 1 ]]; then
    exec .build/release/dpo-dist train "$@"
fi
exec launch/local.sh "$ranks" train "$@"
