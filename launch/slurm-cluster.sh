#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, entirely under one folder, for testing the batch scripts: its own
# slurm.conf, MUNGE key and socket, spool and state folders, pid and log files, and ports picked free at start, so it
# touches nothing of a system Slurm or MUNGE. The node is this host with the CPUs and memory `slurmd -C` finds;
# `srun --mpi=pmix` works (MpiDefault=pmix), processes are tracked without cgroups (proctrack/linuxproc), tasks are
# bound with task/affinity, and finished jobs stay visible to `scontrol show job` for an hour and are listed in
# STATE/jobcomp.txt (there is no accounting database, so no sacct).
# Needs root (slurmd starts job steps as the submitting user) and Slurm + MUNGE (launch/install-slurm.sh).
#
#   slurm-cluster.sh check             exit 0 if a cluster can run here, else print why and exit 1
#   slurm-cluster.sh up STATE          start munged, slurmctld and slurmd (STATE: a new folder); returns when the node
#                                      is idle (at most DPO_SLURM_START_TIMEOUT seconds, default 60)
#   slurm-cluster.sh run STATE CMD...  run a Slurm command against this cluster (sets SLURM_CONF)
#   slurm-cluster.sh down STATE        cancel the jobs, stop the daemons (TERM, then KILL) and delete STATE;
#                                      safe to repeat, and after a failed or partial `up`
#   slurm-cluster.sh kill-node STATE   kill slurmd at once (a node failure; its job steps keep running until `down`)
#
# Environment: DPO_SLURM_CPUS declares that many CPUs on the node (SlurmdParameters=config_overrides lets the node
# claim more than it has, to submit a job shaped for a bigger node; tasks are then not bound: task/none); DPO_SLURM_SLURMD_TIMEOUT (default 10) is how
# many seconds the controller waits for a silent slurmd before it marks the node DOWN.
# Example:
#   launch/slurm-cluster.sh up /tmp/slurm && trap 'launch/slurm-cluster.sh down /tmp/slurm' EXIT
#   SLURM_CONF=/tmp/slurm/slurm.conf sbatch launch/slurm.sbatch my.yaml runs/my-run
set -euo pipefail

script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

usage() {
    sed -n '2,/^set -euo/p' "$script" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

# Prints why a cluster cannot run here (and returns 1), or nothing.
check() {
    [[ $(id -u) -eq 0 ]] || { echo "not root: slurmd must start job steps as the submitting user"; return 1; }
    local missing=() command
    for command in munged slurmctld slurmd sbatch srun scontrol sinfo; do
        command -v "$command" >/dev/null || missing+=("$command")
    done
    ((${#missing[@]} == 0)) || { echo "missing ${missing[*]}: run launch/install-slurm.sh"; return 1; }
    [[ -e /usr/lib/x86_64-linux-gnu/slurm-wlm/mpi_pmix.so || -n $(srun --mpi=list 2>&1 | grep -w pmix) ]] \
        || { echo "this Slurm has no PMIx plugin (mpi/pmix)"; return 1; }
}

# A TCP port nothing listens on (the daemons bind it a moment later; a clash would show in their logs).
free_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 20000))
        [[ -z $(ss -Htan "sport = :$port" 2>/dev/null) ]] && { echo "$port"; return 0; }
    done
    echo "$0: no free port found" >&2
    return 1
}

# Starts a daemon in the foreground in its own session (so no test's process group signal reaches it) and records
# its pid; its output goes to STATE/log/NAME.out.
start() {
    local state=$1 name=$2
    shift 2
    setsid "$@" </dev/null >"$state/log/$name.out" 2>&1 &
    echo "$name $!" >>"$state/pids"
}

up() {
    local state=$1
    local reason
    reason=$(check) || { echo "$0: $reason" >&2; exit 1; }
    mkdir "$state"
    state=$(cd "$state" && pwd)
    mkdir -m 0700 "$state/munge"
    mkdir "$state/ctld" "$state/node" "$state/log"
    : >"$state/pids"
    # On any failure below, leave nothing running.
    trap 'echo "$0: start failed; logs in $state/log" >&2; tail -n 20 "$state"/log/* >&2 || true; down_daemons "$state"' ERR

    mungekey --create --keyfile="$state/munge/munge.key" --bits=1024 2>/dev/null \
        || dd if=/dev/urandom of="$state/munge/munge.key" bs=128 count=1 status=none
    chmod 0400 "$state/munge/munge.key"
    local socket=$state/munge/socket
    start "$state" munged munged --foreground --force --socket="$socket" --key-file="$state/munge/munge.key" \
        --pid-file="$state/munge/munged.pid" --log-file="$state/log/munged.log" --seed-file="$state/munge/seed"
    wait_for "munged's socket" 10 test -S "$socket"

    local node node_line cpus memory
    node=$(hostname -s)
    node_line=$(slurmd -C | head -n 1)
    cpus=${DPO_SLURM_CPUS:-$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$node_line")}
    # Tasks are bound to their cores (task/affinity), unless the node claims CPUs it does not have.
    local task_plugin=task/affinity
    [[ -z ${DPO_SLURM_CPUS:-} ]] || task_plugin=task/none
    memory=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$node_line")
    cat >"$state/slurm.conf" <<CONF
# Written by launch/slurm-cluster.sh: a one-node test cluster under $state.
ClusterName=dpotest
SlurmctldHost=$node
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued job waits this credential lifetime before it may start again (Slurm default 120 s; short for tests).
CredType=cred/munge
AuthInfo=socket=$socket,cred_expire=10
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/node
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=$task_plugin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SwitchType=switch/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$state/jobcomp.txt
# Finished jobs stay in scontrol show job (no accounting database here).
MinJobAge=3600
# Seconds between the SIGTERM of a time limit or scancel and the SIGKILL: the trainer checkpoints in between.
KillWait=60
SlurmdTimeout=${DPO_SLURM_SLURMD_TIMEOUT:-10}
SlurmctldTimeout=30
ReturnToService=2
JobRequeue=1
SlurmdParameters=config_overrides
NodeName=$node CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
    export SLURM_CONF=$state/slurm.conf
    start "$state" slurmctld slurmctld -D -i -f "$SLURM_CONF"
    start "$state" slurmd slurmd -D -f "$SLURM_CONF" -N "$node"
    wait_for "node $node to be idle" "${DPO_SLURM_START_TIMEOUT:-60}" node_idle "$node"
    trap - ERR
    echo "$0: node $node up with $cpus CPU(s), ${memory} MB (SLURM_CONF=$SLURM_CONF)" >&2
}

node_idle() { [[ $(sinfo -h -n "$1" -o %T 2>/dev/null) == idle ]]; }

# Runs the remaining command until it succeeds, at most $2 seconds.
wait_for() {
    local what=$1 timeout=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        ((SECONDS < deadline)) || { echo "$0: gave up waiting for $what after $timeout s" >&2; return 1; }
        sleep 0.3
    done
}

# Ends every process recorded in STATE/pids and what its session started (job steps, ranks): TERM, then KILL.
down_daemons() {
    local state=$1 name pid
    [[ -f $state/pids ]] || return 0
    local pids=()
    while read -r name pid; do pids+=("$pid"); done <"$state/pids"
    # The daemons are session leaders (setsid): their session ids are their pids, which also names every job step
    # (slurmstepd) and rank they started.
    local members
    members=$(ps -eo pid=,sid= | awk -v sids=" ${pids[*]} " 'index(sids, " " $2 " ") { print $1 }')
    kill -TERM ${members} 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)) && ps -eo sid= | grep -qwF -f <(printf '%s\n' "${pids[@]}"); do sleep 0.2; done
    members=$(ps -eo pid=,sid= | awk -v sids=" ${pids[*]} " 'index(sids, " " $2 " ") { print $1 }')
    kill -KILL ${members} 2>/dev/null || true
    rm -f "$state/pids"
}

down() {
    local state=$1
    [[ -d $state ]] || return 0
    if [[ -f $state/slurm.conf ]]; then
        SLURM_CONF=$state/slurm.conf timeout 10 scancel --full --quiet --user=root 2>/dev/null || true
    fi
    down_daemons "$state"
    rm -rf "$state"
}

kill_node() {
    local state=$1 name pid
    while read -r name pid; do
        [[ $name == slurmd ]] && kill -KILL "$pid" 2>/dev/null
    done <"$state/pids"
    return 0
}

[[ $# -ge 1 ]] || usage
verb=$1
shift
case $verb in
    check) check ;;
    up) [[ $# -eq 1 ]] || usage; up "$1" ;;
    down) [[ $# -eq 1 ]] || usage; down "$1" ;;
    run) [[ $# -ge 2 ]] || usage; state=$1; shift; SLURM_CONF=$(cd "$state" && pwd)/slurm.conf exec "$@" ;;
    kill-node) [[ $# -eq 1 ]] || usage; kill_node "$1" ;;
    -h | --help) usage ;;
    *) usage ;;
esac
