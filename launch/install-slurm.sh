#!/usr/bin/env bash
# Installs Slurm (slurmctld, slurmd, sbatch/srun with the PMIx plugin: Debian's slurm-wlm) and MUNGE with apt-get
# when sbatch, slurmctld, slurmd or munged is missing, for the local test cluster (launch/slurm-cluster.sh).
# Idempotent: does nothing when all are present. As root it runs apt-get directly; otherwise through sudo if available.
set -euo pipefail

case ${1:-} in
    "") ;;
    *) echo "usage: $0   (no arguments; installs slurm-wlm munge with apt-get if needed)" >&2; exit 2 ;;
esac

installed() { command -v sbatch && command -v slurmctld && command -v slurmd && command -v munged; } >/dev/null
if installed; then
    echo "$0: Slurm is already installed: $(slurmd -V), munge $(munged --version 2>&1 | awk '{print $1}')"
    exit 0
fi

# The packages' service scripts must not start the system's own munged/slurmd (there is no init system in a
# container, and the test cluster runs its own daemons): policy-rc.d answers "not allowed" for the install.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy && $(id -u) -eq 0 ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
trap '((created_policy)) && rm -f "$policy"' EXIT
# shellcheck source=apt-install.sh
source "$(dirname "$0")/apt-install.sh"
dpo_apt_install "Install Slurm (with its PMIx plugin) and MUNGE with your package manager \
(Fedora: 'dnf install slurm slurm-slurmctld slurm-slurmd munge')." slurm-wlm munge
installed || { echo "$0: packages installed, but sbatch, slurmctld, slurmd or munged is still not on PATH" >&2; exit 1; }
echo "$0: installed $(slurmd -V), munge $(munged --version 2>&1 | awk '{print $1}')"
