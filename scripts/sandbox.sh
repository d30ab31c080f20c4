#!/usr/bin/env bash
# The project's libvirt sandbox: a network namespace of our own with virtlogd
# and libvirtd running inside it, so that every Lago bridge, dnsmasq, firewall
# rule and VM NIC lives there with no route out.
#
#   sandbox.sh start        make sure a libvirt daemon answers (idempotent)
#   sandbox.sh start --remote   also the second, "remote" libvirt host
#                           (scripts/sandbox-remote.sh), for remote-host tests
#   sandbox.sh stop         stop the daemons we started (the namespace stays)
#   sandbox.sh stop --remote    stop only the remote host
#   sandbox.sh status       say what answers, and where
#   sandbox.sh exec CMD...  run CMD inside the namespace (or directly when the
#                           host's own libvirtd is used, see below)
#
# On a workstation whose system libvirtd already runs, set
# LAGO_USE_HOST_LIBVIRT=1 to use that daemon instead of the sandbox.
set -euo pipefail

NS="${LAGO_NETNS:-lago-sandbox}"
REMOTE="$(dirname "${BASH_SOURCE[0]}")/sandbox-remote.sh"
URI="${LAGO_LIBVIRT_URL:-qemu:///system}"
PIDFILE=/run/libvirtd.pid
VIRTLOGD_PIDFILE=/run/virtlogd.pid

log() { printf '[sandbox] %s\n' "$*" >&2; }
die() { printf '[sandbox] error: %s\n' "$*" >&2; exit 1; }

use_host() { [[ "${LAGO_USE_HOST_LIBVIRT:-0}" == 1 ]]; }

answers() { timeout 10 virsh -q -c "$URI" version >/dev/null 2>&1; }

pid_alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }

read_pid() { [[ -r "$1" ]] && tr -dc '0-9' <"$1" || true; }

ns_inode() { stat -L -c %i "/run/netns/$NS" 2>/dev/null || true; }

pid_net_inode() { stat -L -c %i "/proc/$1/ns/net" 2>/dev/null || true; }

pid_in_ns() {
    local ino
    ino="$(ns_inode)"
    [[ -n "$ino" && "$(pid_net_inode "$1")" == "$ino" ]]
}

# a pid file outlives its daemon (sessions end, pids are reused): trust a
# pid only if that process really is the named daemon
pid_is() { [[ -n "$2" && "$(cat "/proc/$2/comm" 2>/dev/null)" == "$1" ]]; }

running_libvirtd() {
    local pid
    pid="$(read_pid "$PIDFILE")"
    if pid_alive "$pid" && pid_is libvirtd "$pid"; then
        echo "$pid"
        return
    fi
    # the remote host's libvirtd (scripts/sandbox-remote.sh) is not ours
    local remote
    remote="$(stat -L -c %i "/run/netns/${LAGO_REMOTE_NETNS:-lago-remote}" 2>/dev/null || true)"
    for pid in $(pgrep -x libvirtd || true); do
        [[ -n "$remote" && "$(pid_net_inode "$pid")" == "$remote" ]] && continue
        echo "$pid"
        return
    done
}

ensure_ns() {
    if [[ ! -e "/run/netns/$NS" ]]; then
        log "creating network namespace $NS"
        ip netns add "$NS"
    elif ! ip netns exec "$NS" true 2>/dev/null; then
        # a stale bind mount left by an earlier boot: make it anew
        log "recreating stale network namespace $NS"
        ip netns delete "$NS" 2>/dev/null || rm -f "/run/netns/$NS"
        ip netns add "$NS"
    fi
    ip -n "$NS" link set lo up
}

start_daemon() {
    local name="$1" pidfile="$2"
    local pid
    pid="$(read_pid "$pidfile")"
    if pid_alive "$pid" && pid_is "$name" "$pid" && pid_in_ns "$pid"; then
        return
    fi
    rm -f "$pidfile"
    log "starting $name in namespace $NS"
    ip netns exec "$NS" "$name" -d
}

wait_answer() {
    local i
    for i in $(seq 1 60); do
        answers && return 0
        sleep 0.5
    done
    return 1
}

cmd_start() {
    if use_host; then
        answers || die "LAGO_USE_HOST_LIBVIRT=1 but no libvirt daemon answers at $URI"
        log "using the host's libvirt daemon at $URI"
        return
    fi
    [[ $EUID -eq 0 ]] || die "the sandbox needs root (ip netns, libvirtd)"
    local pid
    pid="$(running_libvirtd)"
    if [[ -n "$pid" ]] && ! pid_in_ns "$pid"; then
        die "a libvirtd (pid $pid) runs outside namespace $NS; stop it, or set LAGO_USE_HOST_LIBVIRT=1 to use it"
    fi
    ensure_ns
    start_daemon virtlogd "$VIRTLOGD_PIDFILE"
    start_daemon libvirtd "$PIDFILE"
    wait_answer || die "libvirtd started in $NS but $URI does not answer"
    log "libvirtd answers at $URI from namespace $NS"
}

cmd_stop() {
    use_host && return
    local pid
    local name
    for pidfile in "$PIDFILE" "$VIRTLOGD_PIDFILE"; do
        name="$(basename "$pidfile" .pid)"
        pid="$(read_pid "$pidfile")"
        if pid_alive "$pid" && pid_is "$name" "$pid" && pid_in_ns "$pid"; then
            log "stopping pid $pid"
            kill "$pid"
            for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
        fi
    done
}

cmd_status() {
    if use_host; then
        answers && echo "host libvirtd answers at $URI" || echo "no libvirtd answers at $URI"
        return
    fi
    local pid
    pid="$(running_libvirtd)"
    if [[ -n "$pid" ]] && pid_in_ns "$pid" && answers; then
        echo "sandbox libvirtd (pid $pid) answers in namespace $NS"
    elif [[ -n "$pid" ]]; then
        echo "a libvirtd (pid $pid) runs outside namespace $NS"
        return 1
    else
        echo "no libvirtd runs"
        return 1
    fi
}

cmd_exec() {
    (($# > 0)) || die "exec needs a command"
    if use_host; then
        exec "$@"
    fi
    [[ -e "/run/netns/$NS" ]] || die "namespace $NS does not exist; run '$0 start' first"
    # keep the caller's identity: ip netns exec runs the command as is
    exec ip netns exec "$NS" "$@"
}

remote_flag() {
    case "${1:-}" in
        "") return 1 ;;
        --remote) return 0 ;;
        *) die "unknown option $1 (only --remote)" ;;
    esac
}

case "${1:-}" in
    start)
        if remote_flag "${2:-}"; then
            cmd_start
            use_host || bash "$REMOTE" start
        else
            cmd_start
        fi
        ;;
    stop)
        # --remote: the remote host only; the sandbox daemons stay
        if remote_flag "${2:-}"; then use_host || bash "$REMOTE" stop; else cmd_stop; fi
        ;;
    status)
        cmd_status
        if ! use_host && [[ -e "/run/netns/${LAGO_REMOTE_NETNS:-lago-remote}" ]]; then
            bash "$REMOTE" status || true
        fi
        ;;
    exec) shift; cmd_exec "$@" ;;
    *) echo "usage: $0 start [--remote]|stop [--remote]|status|exec CMD..." >&2; exit 2 ;;
esac
