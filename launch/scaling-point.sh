#!/usr/bin/env bash
# One point of a scaling study, the same on this machine, on namespace hosts and under Slurm: runs the trainer's step
# (`dpo-dist bench --communication --bucketed-only --json`, i.e. TrainingStep with bucketed gradient sums) through the
# launcher given in LAUNCH (a command prefix ending where dpo-dist's arguments begin) and writes its one-line JSON
# record (ScalingPoint: tokens/s, compute / exposed communication / optimizer seconds, every rank's peak PSS, load
# average, oversubscription) to OUT.
#
#   scaling-point.sh OUT RANKS MODE GLOBAL_OR_ACCUMULATION [bench arguments...]
#     MODE strong: GLOBAL_OR_ACCUMULATION is the global batch in micro-batches; each rank runs GLOBAL / RANKS of them
#                  (must divide), so every point trains on the same batch.
#     MODE weak:   GLOBAL_OR_ACCUMULATION is the micro-batches per rank, whatever RANKS is.
#   LAUNCH (environment, word-split): e.g. "launch/local.sh 4" or "srun --mpi=pmix .build/release/dpo-dist"
set -euo pipefail
[[ $# -ge 4 ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
out=$1 ranks=$2 mode=$3 amount=$4
shift 4
[[ $ranks =~ ^[1-9][0-9]*$ && $amount =~ ^[1-9][0-9]*$ ]] || { echo "$0: RANKS and the batch must be positive integers" >&2; exit 2; }
case $mode in
    strong)
        ((amount % ranks == 0)) || { echo "$0: a global batch of $amount micro-batches does not split over $ranks ranks" >&2; exit 2; }
        accumulation=$((amount / ranks)) ;;
    weak) accumulation=$amount ;;
    *) echo "$0: MODE must be strong or weak, got '$mode'" >&2; exit 2 ;;
esac
[[ -n ${LAUNCH:-} ]] || { echo "$0: set LAUNCH to the launcher prefix (see the header)" >&2; exit 2; }
read -r -a launch <<<"$LAUNCH"
log=${out%.json}.log
if ! "${launch[@]}" bench --communication --bucketed-only --json --accumulation "$accumulation" "$@" >"$log.out" 2>"$log"; then
    echo "$0: the point failed; see $log" >&2
    exit 1
fi
tail -n 1 "$log.out" | sed "s/^{/{\"mode\":\"$mode\",/" >"$out"
rm -f "$log.out"
echo "$0: $(cat "$out")" >&2
