#!/usr/bin/env bash
# Scaling study: trains the same config at 1, 2, 4, ... ranks (launch/local.sh) and prints a table of
# training throughput read from each run's metrics file (DIR/metrics.jsonl, written by rank 0, one JSON
# object per logged step with "train_tokens_per_second"). The first logged step is treated as warm-up
# and left out of the mean when there are more.
set -euo pipefail

usage() {
    cat >&2 <<USAGE
usage: $0 [-r "1 2 4"] [-n MAX_RANKS] [-s STEPS] [-t THREADS] [-o OUTPUT_ROOT] CONFIG [-- extra train arguments...]
  -r  rank counts to run (default: powers of two up to MAX_RANKS)
  -n  largest rank count for the default list (default: number of cores)
  -s  --max_steps of every run (default: 20)
  -t  threads per rank (default: max(1, cores / ranks), i.e. the same cores split among the ranks)
  -o  folder for the runs, one subfolder ranks-N each (default: runs/scaling-<date-time>; must not exist)
USAGE
    exit 2
}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=mpirun-options.sh source-path=SCRIPTDIR
source "$script_dir/mpirun-options.sh"
cores=$(dpo_core_count)

rank_counts=""
max_ranks=$cores
steps=20
fixed_threads=""
output_root="runs/scaling-$(date +%Y%m%d-%H%M%S)"
while getopts "r:n:s:t:o:h" option; do
    case $option in
        r) rank_counts=$OPTARG ;;
        n) max_ranks=$OPTARG ;;
        s) steps=$OPTARG ;;
        t) fixed_threads=$OPTARG ;;
        o) output_root=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[[ $# -ge 1 ]] || usage
config=$1
shift
[[ ${1:-} == -- ]] && shift

positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "$0: $1 must be a positive integer, got '$2'" >&2; exit 2; }; }
[[ -f $config ]] || { echo "$0: config file '$config' not found" >&2; exit 2; }
positive "-n" "$max_ranks"
positive "-s" "$steps"
[[ -z $fixed_threads ]] || positive "-t" "$fixed_threads"
if [[ -z $rank_counts ]]; then
    for ((count = 1; count <= max_ranks; count *= 2)); do rank_counts+="$count "; done
fi
for count in $rank_counts; do positive "rank count" "$count"; done
[[ ! -e $output_root ]] || { echo "$0: $output_root already exists; pick a new -o folder" >&2; exit 2; }
mkdir -p "$output_root"

# Prints "<records> <mean tokens/s>" for a metrics.jsonl file (mean over records after the first, if several).
throughput() {
    awk '
        match($0, /"train_tokens_per_second"[[:space:]]*:[[:space:]]*[-+0-9.eE]+/) {
            text = substr($0, RSTART, RLENGTH); sub(/^[^:]*:[[:space:]]*/, "", text); values[n++] = text + 0
        }
        END {
            if (n == 0) { print "0 -"; exit }
            first = n > 1 ? 1 : 0; sum = 0
            for (i = first; i < n; i++) sum += values[i]
            printf "%d %.1f\n", n, sum / (n - first)
        }' "$1"
}

rows=()
failures=0
build_done=${DPO_SKIP_BUILD:-0}  # the first run builds (incrementally) unless told not to
for count in $rank_counts; do
    threads=${fixed_threads:-$((cores / count > 0 ? cores / count : 1))}
    run_dir=$output_root/ranks-$count
    log=$output_root/ranks-$count.log
    echo "$0: $count rank(s) x $threads thread(s) -> $run_dir (log: $log)" >&2
    if DPO_SKIP_BUILD=$build_done "$script_dir/local.sh" "$count" train --config "$config" --output_dir "$run_dir" \
        --max_steps "$steps" --threads "$threads" "$@" >"$log" 2>&1; then
        status=ok
    else
        status="failed (see $log)"
        failures=$((failures + 1))
    fi
    build_done=1
    if [[ -f $run_dir/metrics.jsonl ]]; then
        read -r records tokens_per_second < <(throughput "$run_dir/metrics.jsonl")
    else
        records=0 tokens_per_second=-
    fi
    rows+=("$count $threads $records $tokens_per_second $status")
done

# Speedup is against the first successful row; efficiency divides it by the growth in cores used
# (ranks x threads), so splitting a fixed set of cores among more ranks ideally keeps speedup 1, efficiency 100%.
printf '\n%6s %8s %6s %8s %14s %8s %11s  %s\n' ranks threads cores records tokens/s speedup efficiency status
base_cores="" base_rate=""
for row in "${rows[@]}"; do
    read -r count threads records rate status <<<"$row"
    used_cores=$((count * threads))
    speedup=- efficiency=-
    if [[ $rate != - ]]; then
        if [[ -z $base_rate ]]; then base_cores=$used_cores base_rate=$rate; fi
        speedup=$(awk -v r="$rate" -v b="$base_rate" 'BEGIN { printf "%.2f", (b > 0 ? r / b : 0) }')
        efficiency=$(awk -v s="$speedup" -v c="$used_cores" -v b="$base_cores" 'BEGIN { printf "%.0f%%", 100 * s * b / c }')
    fi
    printf '%6s %8s %6s %8s %14s %8s %11s  %s\n' "$count" "$threads" "$used_cores" "$records" "$rate" "$speedup" \
        "$efficiency" "$status"
done
((failures == 0))
