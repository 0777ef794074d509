#!/usr/bin/env bash
# Installs Open MPI (runtime + headers + pkg-config file "ompi-c") with apt-get when mpirun or
# `pkg-config ompi-c` is missing. Idempotent: does nothing when both are present.
# As root it runs apt-get directly; otherwise through sudo if available.
set -euo pipefail

case ${1:-} in
    "") ;;
    *) echo "usage: $0   (no arguments; installs libopenmpi-dev openmpi-bin pkg-config with apt-get if needed)" >&2; exit 2 ;;
esac

if command -v mpirun >/dev/null && command -v pkg-config >/dev/null && pkg-config --exists ompi-c; then
    echo "$0: Open MPI is already installed: $(mpirun --version | head -n 1), ompi-c $(pkg-config --modversion ompi-c)"
    exit 0
fi

if ! command -v apt-get >/dev/null; then
    echo "$0: apt-get not found. Install Open MPI with your package manager (macOS: 'brew install open-mpi'," >&2
    echo "  Fedora: 'dnf install openmpi-devel'), making sure mpirun is on PATH and 'pkg-config ompi-c' works." >&2
    exit 1
fi

run_as_root=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then
        run_as_root=(sudo)
    else
        echo "$0: installing packages needs root and sudo is not available; as root run:" >&2
        echo "  apt-get update && apt-get install -y libopenmpi-dev openmpi-bin pkg-config" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
"${run_as_root[@]}" apt-get update
"${run_as_root[@]}" apt-get install -y --no-install-recommends libopenmpi-dev openmpi-bin pkg-config
if ! command -v mpirun >/dev/null || ! pkg-config --exists ompi-c; then
    echo "$0: packages installed, but mpirun is still not on PATH or 'pkg-config ompi-c' fails" >&2
    exit 1
fi
echo "$0: installed $(mpirun --version | head -n 1), ompi-c $(pkg-config --modversion ompi-c)"
