#!/usr/bin/env bash
# Pretend hosts on one machine, for multi-node MPI runs without a cluster: each host is a Linux network namespace
# with its own UTS namespace (so its own host name), joined to the others through veth pairs on a bridge that lives
# in one more namespace (the "switch"). Open MPI treats every such host as a separate node: it starts an `orted` in
# each through the `agent` verb (a plm_rsh_agent that enters the namespace instead of using ssh), ranks on different
# hosts talk over TCP on the veths, and ranks on one host share memory as on a real node.
#
# Addresses: 10.213.7.<i>/24 on host i's veth `dpo0`, nothing else; traffic stays between these namespaces.
# Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN), `ip` (iproute2, installed with apt-get when missing) and `unshare`.
#
#   netns-hosts.sh check                 exit 0 if namespaces can be made here, else print why and exit 1
#   netns-hosts.sh up STATE N [SLOTS]    make N hosts (SLOTS ranks each in the hostfile, default 2); STATE is a
#                                        new folder for the host list, the hostfile and the address table
#   netns-hosts.sh mpirun STATE ARGS...  mpirun on the first host, across all hosts (hostfile, agent, interfaces and
#                                        yielding when idle set; add the usual options, e.g. --allow-run-as-root)
#   netns-hosts.sh run HOST CMD...       run CMD on HOST (in its namespaces, with its host name)
#   netns-hosts.sh agent HOST WORDS...   plm_rsh_agent: like `ssh HOST WORDS...`, the words joined and run by sh
#   netns-hosts.sh down STATE            end the processes on the hosts, delete the namespaces (and so the veths)
#                                        and STATE; safe to repeat, and after a failed or partial `up`
#
# Environment: DPO_NETNS_DELAY (e.g. 200us) and DPO_NETNS_RATE (e.g. 1gbit) shape every host's veth with tc netem.
# Example:
#   launch/netns-hosts.sh up /tmp/hosts 2 && trap 'launch/netns-hosts.sh down /tmp/hosts' EXIT
#   launch/netns-hosts.sh mpirun /tmp/hosts --allow-run-as-root -n 4 .build/release/dpo-dist train ...
set -euo pipefail

script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
subnet=10.213.7
interface=dpo0

usage() {
    sed -n '2,/^set -euo/p' "$script" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

# Installs iproute2 when `ip` is missing (as root, with apt-get), like launch/install-mpi.sh does for Open MPI.
ensure_ip() {
    command -v ip >/dev/null && return 0
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get update >&2 && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends iproute2 >&2
    fi
    command -v ip >/dev/null
}

# Prints why namespaces cannot be made here (and returns 1), or nothing.
check() {
    [[ $(id -u) -eq 0 ]] || { echo "not root: network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN"; return 1; }
    ensure_ip || { echo "no \`ip\` command (iproute2) and it could not be installed"; return 1; }
    command -v unshare >/dev/null || { echo "no \`unshare\` command (util-linux)"; return 1; }
    local probe="dpo-probe-$$" output
    if ! output=$(ip netns add "$probe" 2>&1); then
        echo "cannot create a network namespace: $output"
        return 1
    fi
    if ! output=$(ip netns exec "$probe" unshare --uts true 2>&1 && ip -n "$probe" link add probe0 type veth peer name probe1 2>&1); then
        ip netns delete "$probe" 2>/dev/null || true
        echo "cannot enter a namespace with its own host name, or make a veth pair: $output"
        return 1
    fi
    ip netns delete "$probe"
}

# Runs the remaining arguments on host $1: in its network namespace, in a new UTS namespace named after it.
run_on() {
    local host=$1
    shift
    exec ip netns exec "$host" unshare --uts sh -c 'echo "$0" > /proc/sys/kernel/hostname && exec "$@"' "$host" "$@"
}

up() {
    local state=$1 count=$2 slots=${3:-2}
    [[ $count =~ ^[1-9][0-9]*$ && $slots =~ ^[1-9][0-9]*$ ]] || usage
    ((count <= 250)) || { echo "$0: at most 250 hosts" >&2; exit 2; }
    local reason
    reason=$(check) || { echo "$0: $reason" >&2; exit 1; }
    mkdir "$state"
    # Names unique to this `up`: another harness may run at the same time.
    local prefix="dpo$$"
    local switch="${prefix}-sw"
    echo "$switch" > "$state/namespaces"
    ip netns add "$switch"
    ip -n "$switch" link set lo up
    ip -n "$switch" link add bridge0 type bridge
    ip -n "$switch" link set bridge0 up
    local index host
    for ((index = 1; index <= count; index++)); do
        host="${prefix}-${index}"
        echo "$host" >> "$state/namespaces"
        ip netns add "$host"
        ip -n "$host" link set lo up
        ip -n "$switch" link add "port$index" type veth peer name "$interface" netns "$host"
        ip -n "$switch" link set "port$index" master bridge0 up
        ip -n "$host" addr add "$subnet.$index/24" dev "$interface"
        ip -n "$host" link set "$interface" up
        if [[ -n ${DPO_NETNS_DELAY:-}${DPO_NETNS_RATE:-} ]]; then
            ip netns exec "$host" tc qdisc add dev "$interface" root netem \
                ${DPO_NETNS_DELAY:+delay "$DPO_NETNS_DELAY"} ${DPO_NETNS_RATE:+rate "$DPO_NETNS_RATE"} || {
                echo "$0: cannot shape $host's link with tc netem (no sch_netem in this kernel?); unset" \
                    "DPO_NETNS_DELAY and DPO_NETNS_RATE, and run down" >&2
                exit 1
            }
        fi
        echo "$host" >> "$state/hosts"
        echo "$host slots=$slots" >> "$state/hostfile"
        echo "$subnet.$index $host" >> "$state/addresses"
    done
    # Every host reaches the last one before the hosts are handed out (the bridge forwards at once, but be sure).
    local last="$subnet.$count"
    for host in $(cat "$state/hosts"); do
        local tries=0
        until ip netns exec "$host" ping -c 1 -W 1 "$last" >/dev/null 2>&1 || ! command -v ping >/dev/null; do
            ((++tries < 10)) || { echo "$0: $host cannot reach $last" >&2; exit 1; }
            sleep 0.2
        done
    done
    echo "$0: $count host(s) up: $(tr '\n' ' ' < "$state/hosts")(state in $state)" >&2
}

down() {
    local state=$1 namespace pid
    [[ -d $state ]] || return 0
    if [[ -f $state/namespaces ]]; then
        for namespace in $(tac "$state/namespaces"); do
            ip netns list 2>/dev/null | grep -qw "^$namespace" || continue
            # Only processes this harness started run in these namespaces (orted, ranks, an mpirun left behind).
            for pid in $(ip netns pids "$namespace" 2>/dev/null); do
                kill -KILL "$pid" 2>/dev/null || true
            done
            ip netns delete "$namespace"
        done
    fi
    rm -rf "$state"
}

mpirun_across() {
    local state=$1
    shift
    local first
    first=$(head -n 1 "$state/hosts")
    # The hosts share this machine's cores, which Open MPI cannot see from the hostfile: ranks that wait must yield
    # (mpi_yield_when_idle) or their busy polling starves the TCP traffic (20 times slower here with 2 × 2 ranks).
    run_on "$first" mpirun --hostfile "$state/hostfile" --mca plm_rsh_agent "$script agent" \
        --mca btl_tcp_if_include "$interface" --mca oob_tcp_if_include "$interface" --mca mpi_yield_when_idle 1 "$@"
}

[[ $# -ge 1 ]] || usage
verb=$1
shift
case $verb in
    check) check ;;
    up) [[ $# -ge 2 ]] || usage; up "$@" ;;
    down) [[ $# -eq 1 ]] || usage; down "$1" ;;
    mpirun) [[ $# -ge 2 ]] || usage; mpirun_across "$@" ;;
    run) [[ $# -ge 2 ]] || usage; run_on "$@" ;;
    agent)
        [[ $# -ge 2 ]] || usage
        host=$1
        shift
        # ssh semantics: the remote command is the words joined by spaces, run by the remote shell.
        run_on "$host" sh -c "$*"
        ;;
    -h | --help) usage ;;
    *) usage ;;
esac
