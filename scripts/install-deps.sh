#!/usr/bin/env bash
# Install every system package Lago needs and make the project's virtualenv.
# Idempotent: a second run with nothing missing only checks and returns.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LAGO_VENV:-$ROOT/.venv}"

DEB_PACKAGES=(
    # libvirt, qemu and the NAT network helpers
    libvirt-daemon-system libvirt-clients libvirt-dev pkg-config
    qemu-system-x86 qemu-utils dnsmasq-base iptables iproute2
    # libguestfs (bootstrap, build) and the host kernel its appliance boots
    libguestfs-tools python3-guestfs linux-image-cloud-amd64
    # the embedded template builder
    busybox-static dropbear-bin extlinux syslinux-common fdisk e2fsprogs
    cpio xz-utils lz4 zstd debootstrap genisoimage
    # packaging check (lago.spec)
    rpm
    # documentation (make docs, the man page), shell completion, lago graph
    python3-sphinx python3-myst-parser python3-argcomplete graphviz man-db
    # the shells whose completion is tested
    bash-completion zsh
    # the virtualenv (Debian's python, so that guestfs imports) and builds
    python3-venv python3-dev gcc make openssh-client
    # the remote libvirt host of the tests (scripts/sandbox-remote.sh)
    openssh-server
)

log() { printf '[install-deps] %s\n' "$*" >&2; }

missing_packages() {
    local pkg
    for pkg in "${DEB_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            printf '%s\n' "$pkg"
        fi
    done
}

install_system_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]} == 0)); then
        log "system packages: all present"
        return
    fi
    if [[ $EUID -ne 0 ]]; then
        log "need root to install: ${missing[*]}"
        exit 1
    fi
    log "installing: ${missing[*]}"
    # no service may start from a package (openssh-server would listen on
    # every address of the host): only scripts/sandbox-remote.sh runs sshd
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

make_venv() {
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating virtualenv $VENV"
        /usr/bin/python3 -m venv --system-site-packages "$VENV"
    fi
    local stamp="$VENV/.lago-installed"
    if [[ -f "$stamp" && "$stamp" -nt "$ROOT/setup.cfg" && "$stamp" -nt "$ROOT/setup.py" ]]; then
        log "virtualenv: up to date"
        return
    fi
    log "installing lago and its Python dependencies into $VENV"
    local pip_log="$VENV/pip-install.log"
    if ! { "$VENV/bin/pip" install --upgrade pip setuptools wheel &&
        "$VENV/bin/pip" install -e "$ROOT[test]"; } >"$pip_log" 2>&1; then
        tail -n 40 "$pip_log" >&2
        log "pip install failed; full log in $pip_log"
        exit 1
    fi
    "$VENV/bin/python" -c 'import guestfs, libvirt, lago' || {
        log "virtualenv cannot import guestfs/libvirt/lago"
        exit 1
    }
    touch "$stamp"
}

install_system_packages
make_venv
