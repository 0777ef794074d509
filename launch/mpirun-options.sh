# shellcheck shell=bash
# Sourced by the launch scripts: the mpirun options this kind of machine needs. The same rules live in
# Tests/TestSupport/TestSupport.swift (mpirunOptions); keep the two in sync.
#
#   --allow-run-as-root   when running as root: mpirun refuses root otherwise (containers run as root)
#   --oversubscribe       so more ranks than cores can start (e.g. 4 ranks on a 2-core machine)
#   --bind-to none        with <= 2 ranks Open MPI 4 binds each rank to ONE core, which would serialize
#                         every thread of a multi-threaded rank
#   --mca btl_vader_single_copy_mechanism none
#                         only when Yama restricts ptrace (ptrace_scope 1-2 without CAP_SYS_PTRACE, or 3):
#                         the shared-memory single copy (CMA) needs ptrace rights between sibling ranks
#   -x OMP_NUM_THREADS    exported to every rank (remote nodes do not inherit the local environment)
#
# Usage: source it, then call dpo_mpirun_options; the options land in the array DPO_MPIRUN_OPTIONS.

# True when Yama forbids the cross-memory attach Open MPI's vader BTL uses by default.
dpo_cross_memory_attach_blocked() {
    local scope_file=/proc/sys/kernel/yama/ptrace_scope scope capabilities
    [[ -r $scope_file ]] || return 1
    scope=$(<"$scope_file")
    ((scope >= 1)) || return 1
    ((scope >= 3)) && return 0
    capabilities=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
    (((16#${capabilities:-0} >> 19) & 1)) && return 1
    return 0
}

dpo_mpirun_options() {
    DPO_MPIRUN_OPTIONS=(--oversubscribe --bind-to none -x OMP_NUM_THREADS)
    if [[ $(id -u) -eq 0 ]]; then
        DPO_MPIRUN_OPTIONS=(--allow-run-as-root "${DPO_MPIRUN_OPTIONS[@]}")
    fi
    if dpo_cross_memory_attach_blocked; then
        DPO_MPIRUN_OPTIONS+=(--mca btl_vader_single_copy_mechanism none)
    fi
}

# Number of CPU cores available to this process (affinity-aware on Linux).
dpo_core_count() {
    nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 1
}
