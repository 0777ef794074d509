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

# shellcheck source=apt-install.sh
source "$(dirname "$0")/apt-install.sh"
DPO_APT_OPTIONS=--no-install-recommends dpo_apt_install "Install Open MPI with your package manager (macOS: 'brew install \
open-mpi', Fedora: 'dnf install openmpi-devel'), making sure mpirun is on PATH and 'pkg-config ompi-c' works." \
    libopenmpi-dev openmpi-bin pkg-config
if ! command -v mpirun >/dev/null || ! pkg-config --exists ompi-c; then
    echo "$0: packages installed, but mpirun is still not on PATH or 'pkg-config ompi-c' fails" >&2
    exit 1
fi
echo "$0: installed $(mpirun --version | head -n 1), ompi-c $(pkg-config --modversion ompi-c)"
