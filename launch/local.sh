#!/usr/bin/env bash
# Runs dpo-dist as N MPI ranks on this machine: builds the release binary (incrementally), then
# `mpirun -n N` with the options in launch/mpirun-options.sh.
#
# Threads: every rank gets OMP_NUM_THREADS = the value of a --threads argument if you give one,
# else max(1, cores / N), so the ranks share the cores instead of each using all of them.
# --threads itself is passed to dpo-dist only if you give it (not every subcommand takes it);
# dpo-dist uses OMP_NUM_THREADS as its default.
set -euo pipefail

usage() {
    cat >&2 <<USAGE
usage: $0 N [dpo-dist arguments...]
  N   number of MPI ranks (>= 1)
example: $0 2 train --config configs/tiny.yaml --output_dir runs/tiny --max_steps 20
environment: DPO_SKIP_BUILD=1 uses the existing .build/release/dpo-dist without building
USAGE
    exit 2
}

[[ $# -ge 1 ]] || usage
case $1 in -h | --help) usage ;; esac
ranks=$1
shift
[[ $ranks =~ ^[1-9][0-9]*$ ]] || { echo "$0: N must be a positive integer, got '$ranks'" >&2; usage; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
# shellcheck source=mpirun-options.sh source-path=SCRIPTDIR
source "$script_dir/mpirun-options.sh"

command -v mpirun >/dev/null || { echo "$0: mpirun not found; run launch/install-mpi.sh first" >&2; exit 1; }

if [[ ${DPO_SKIP_BUILD:-0} != 1 ]]; then
    (cd "$repo_root" && swift build -c release --product dpo-dist >&2)
fi
binary=$repo_root/.build/release/dpo-dist
[[ -x $binary ]] || { echo "$0: $binary is missing; build it with 'swift build -c release'" >&2; exit 1; }

threads=""
previous=""
for argument in "$@"; do
    case $argument in
        --threads=*) threads=${argument#--threads=} ;;
        *) [[ $previous == --threads ]] && threads=$argument ;;
    esac
    previous=$argument
done
if [[ -z $threads ]]; then
    cores=$(dpo_core_count)
    threads=$((cores / ranks))
    ((threads >= 1)) || threads=1
fi
[[ $threads =~ ^[1-9][0-9]*$ ]] || { echo "$0: --threads must be a positive integer, got '$threads'" >&2; exit 2; }
export OMP_NUM_THREADS=$threads

dpo_mpirun_options
echo "$0: $ranks rank(s) x $threads thread(s): mpirun ${DPO_MPIRUN_OPTIONS[*]} -n $ranks $binary $*" >&2
# mpirun passes SIGTERM and SIGINT on to the ranks only after odls_base_sigkill_timeout and kills them a second later,
# too soon to checkpoint, but forwards SIGUSR1 at once: turn a TERM or INT sent to this script (Ctrl-C, kill, a batch
# system) into USR1, which dpo-dist treats as a request to checkpoint at the next step boundary and stop.
mpirun "${DPO_MPIRUN_OPTIONS[@]}" -n "$ranks" "$binary" "$@" &
launcher=$!
trap 'kill -USR1 "$launcher" 2>/dev/null' TERM INT
status=0
while true; do
    wait "$launcher" && status=0 || status=$?
    # wait returns early (status > 128) when a trapped signal arrives; keep waiting while mpirun runs.
    kill -0 "$launcher" 2>/dev/null || break
done
exit "$status"
