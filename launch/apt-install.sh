# Sourced by the launch/install-*.sh scripts: `dpo_apt_install HINT PACKAGE...` installs Debian packages with apt-get,
# as root directly or else through sudo. Without apt-get it prints HINT (how to install them elsewhere) and fails;
# without root or sudo it prints the command to run as root and fails. Extra apt-get options go in DPO_APT_OPTIONS.
dpo_apt_install() {
    local hint=$1
    shift
    if ! command -v apt-get >/dev/null; then
        echo "$0: apt-get not found. $hint" >&2
        return 1
    fi
    local run_as_root=()
    if [[ $(id -u) -ne 0 ]]; then
        if ! command -v sudo >/dev/null; then
            echo "$0: installing packages needs root and sudo is not available; as root run:" >&2
            echo "  apt-get update && apt-get install -y $*" >&2
            return 1
        fi
        run_as_root=(sudo)
    fi
    # shellcheck disable=SC2086 # DPO_APT_OPTIONS is a list of options
    "${run_as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update \
        && "${run_as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y ${DPO_APT_OPTIONS:-} "$@"
}
