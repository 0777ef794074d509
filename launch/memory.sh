#!/usr/bin/env bash
# Peak memory per rank, measured from outside: runs `launch/local.sh N ARGS...` (mpirun -n N dpo-dist ARGS...) and
# samples the proportional set size (PSS) of every dpo-dist rank from /proc/PID/smaps_rollup until the job ends.
# PSS splits each page among the processes sharing it, so pages shared between the ranks of a node (MPI's
# shared-memory segments, a node-shared reference, the binary) count once in the sum, where RSS counts them in every
# rank. Prints each rank's peak PSS (and peak RSS, VmHWM) in MiB, then the largest and the sum. Linux only.
#
# example (GPT-2-124M, one DPO step after a warm-up one, ZeRO-2):
#   launch/memory.sh 4 bench --communication --bucketed-only --steps 1 --zero-stage 2
set -euo pipefail

usage() {
    cat >&2 <<USAGE
usage: $0 N [dpo-dist arguments...]
  N   number of MPI ranks (>= 1)
environment: DPO_MEMORY_INTERVAL seconds between samples (default 0.05); DPO_SKIP_BUILD=1 as for launch/local.sh
USAGE
    exit 2
}
[[ $# -ge 2 ]] || usage
case $1 in -h | --help) usage ;; esac
[[ -r /proc/self/smaps_rollup ]] || { echo "$0: needs Linux's /proc/PID/smaps_rollup" >&2; exit 1; }
interval=${DPO_MEMORY_INTERVAL:-0.05}
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

"$script_dir/local.sh" "$@" &
launcher=$!

# The dpo-dist processes among the launcher's descendants (mpirun starts the ranks itself on one node).
ranks_of() {
    local pid children
    children=$(pgrep -P "$1" || true)
    for pid in $children; do
        [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dpo-dist ]] && echo "$pid"
        ranks_of "$pid"
    done
}

declare -A peak_pss peak_rss rank_of
while kill -0 "$launcher" 2>/dev/null; do
    for pid in $(ranks_of "$launcher"); do
        if [[ -z ${rank_of[$pid]:-} ]]; then
            rank=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')
            [[ -n $rank ]] || continue
            rank_of[$pid]=$rank
        fi
        pss=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || true)
        rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
        [[ -n $pss ]] && ((pss > ${peak_pss[$pid]:-0})) && peak_pss[$pid]=$pss
        [[ -n $rss ]] && ((rss > ${peak_rss[$pid]:-0})) && peak_rss[$pid]=$rss
    done
    sleep "$interval"
done
wait "$launcher" || { status=$?; echo "$0: the run failed (exit $status)" >&2; exit "$status"; }

((${#rank_of[@]} > 0)) || { echo "$0: no dpo-dist rank was seen; is the run too short to sample?" >&2; exit 1; }
for pid in "${!rank_of[@]}"; do
    echo "${rank_of[$pid]} ${peak_pss[$pid]:-0} ${peak_rss[$pid]:-0}"
done | sort -n | awk '
    { printf "rank %d: peak PSS %7.0f MiB   peak RSS %7.0f MiB\n", $1, $2 / 1024, $3 / 1024
      if ($2 > largest) largest = $2; total += $2 }
    END { printf "largest peak PSS %.0f MiB, sum over ranks %.0f MiB\n", largest / 1024, total / 1024 }'
