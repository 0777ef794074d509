#!/usr/bin/env bash
# Scaling study on this machine: strong scaling (a fixed global batch of micro-batches, the gradient accumulation per
# rank adjusted so every point is the same training run) and weak scaling (a fixed batch per rank), over rank counts
# on this node and over namespace hosts (launch/netns-hosts.sh, skipped with its reason where namespaces cannot be
# made). Every point is launch/scaling-point.sh, the runner launch/slurm-scaling.sbatch uses on a cluster: the
# trainer's TrainingStep with its time split into compute / exposed communication / optimizer, tokens/s, and every
# rank's peak PSS. Then an all-reduce sweep (bench --allreduce --json) and the report (bench --scaling-report): CSV,
# JSON and SVG charts in OUTPUT_ROOT. Efficiency is against the physical cores: points with more busy threads than
# cores are marked oversubscribed (this machine may have only 2).
set -euo pipefail

usage() {
    cat >&2 <<USAGE
usage: $0 [-r "1 2 4"] [-H "2"] [-g GLOBAL] [-w PER_RANK] [-o OUTPUT_ROOT] [-- bench arguments...]
  -r  rank counts on this node (default: "1 2 4")
  -H  namespace host counts, 2 ranks each (default: "2"; "" for none)
  -g  strong scaling's global batch in micro-batches (default 4; every rank count must divide it)
  -w  weak scaling's micro-batches per rank (default 1)
  -o  output folder (default runs/scaling-<date-time>; must not exist)
  bench arguments default to: --layers 12 --length 256 --steps 2 (GPT-2-124M, one pair per micro-batch)
USAGE
    exit 2
}
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
# shellcheck source=mpirun-options.sh source-path=SCRIPTDIR
source "$script_dir/mpirun-options.sh"
rank_counts="1 2 4" host_counts="2" global=4 weak=1
output_root="runs/scaling-$(date +%Y%m%d-%H%M%S)"
while getopts "r:H:g:w:o:h" option; do
    case $option in
        r) rank_counts=$OPTARG ;;
        H) host_counts=$OPTARG ;;
        g) global=$OPTARG ;;
        w) weak=$OPTARG ;;
        o) output_root=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[[ ${1:-} == -- ]] && shift
bench=("$@")
((${#bench[@]})) || bench=(--layers 12 --length 256 --steps 2)
for count in $rank_counts $host_counts $global $weak; do
    [[ $count =~ ^[1-9][0-9]*$ ]] || { echo "$0: counts must be positive integers, got '$count'" >&2; exit 2; }
done
[[ ! -e $output_root ]] || { echo "$0: $output_root already exists; pick a new -o folder" >&2; exit 2; }
mkdir -p "$output_root/points"
(cd "$repo_root" && swift build -c release --product dpo-dist >&2)
binary=$repo_root/.build/release/dpo-dist
cores=$(dpo_core_count)
echo "$0: $cores core(s) here; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
export DPO_SKIP_BUILD=1

failures=0
# point NAME RANKS MODE AMOUNT: one point through $LAUNCH, threads so that the ranks share the cores.
point() {
    local threads=$(($cores / $2 > 0 ? $cores / $2 : 1))
    OMP_NUM_THREADS=$threads "$script_dir/scaling-point.sh" "$output_root/points/$1.json" "$2" "$3" "$4" \
        --threads "$threads" --cores-available "$cores" "${bench[@]}" || failures=$((failures + 1))
}
for count in $rank_counts; do
    LAUNCH="$script_dir/local.sh $count" point "node-n$count-strong" "$count" strong "$global"
    LAUNCH="$script_dir/local.sh $count" point "node-n$count-weak" "$count" weak "$weak"
done
if [[ -n $host_counts ]]; then
    if reason=$("$script_dir/netns-hosts.sh" check); then
        for hosts in $host_counts; do
            state=$(mktemp -u /tmp/dpo-scaling-hosts.XXXXXX)
            "$script_dir/netns-hosts.sh" up "$state" "$hosts" 2
            dpo_mpirun_options
            # The namespace hosts share this machine's cores: efficiency is still against $cores.
            LAUNCH="$script_dir/netns-hosts.sh mpirun $state ${DPO_MPIRUN_OPTIONS[*]} -n $((2 * hosts)) $binary" \
                point "hosts$hosts-n$((2 * hosts))-strong" $((2 * hosts)) strong "$global"
            LAUNCH="$script_dir/netns-hosts.sh mpirun $state ${DPO_MPIRUN_OPTIONS[*]} -n $((2 * hosts)) $binary" \
                point "hosts$hosts-n$((2 * hosts))-weak" $((2 * hosts)) weak "$weak"
            "$script_dir/netns-hosts.sh" mpirun "$state" "${DPO_MPIRUN_OPTIONS[@]}" -n $((2 * hosts)) "$binary" \
                bench --allreduce --json --max-bytes $((64 << 20)) >"$output_root/allreduce-hosts$hosts.json" || failures=$((failures + 1))
            "$script_dir/netns-hosts.sh" down "$state"
        done
    else
        echo "$0: namespace hosts skipped: $reason" >&2
    fi
fi
max_ranks=$(for count in $rank_counts; do echo "$count"; done | sort -n | tail -n 1)
"$script_dir/local.sh" "$max_ranks" bench --allreduce --json --max-bytes $((64 << 20)) >"$output_root/allreduce-node.json" \
    || failures=$((failures + 1))
"$binary" bench --scaling-report --output "$output_root" "$output_root"/points/*.json "$output_root"/allreduce-*.json \
    || failures=$((failures + 1))
echo "$0: load average $(cut -d' ' -f1-3 /proc/loadavg); results in $output_root" >&2
((failures == 0))
