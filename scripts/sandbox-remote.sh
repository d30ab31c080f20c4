#!/usr/bin/env bash
# A second, "remote" libvirt host for tests: a network namespace of its own
# (joined to the sandbox namespace by a veth pair with a private /30), a mount
# namespace of its own (tmpfs over /run and libvirt's state, a copy of
# /etc/libvirt), its own virtlogd, libvirtd listening on TCP, and an sshd.
# It shares nothing with the sandbox's libvirtd but the kernel: Lago reaches
# it only through qemu+tcp:// or qemu+ssh:// across the veth pair.
#
#   sandbox-remote.sh start    make sure it runs and answers (idempotent)
#   sandbox-remote.sh stop     stop its daemons and guests; the namespaces stay
#   sandbox-remote.sh status   say whether it answers
#   sandbox-remote.sh env      print its URLs and key as shell assignments
#
# scripts/sandbox.sh calls this for `start --remote`, `stop --remote` and
# `status`.
set -euo pipefail

NS="${LAGO_NETNS:-lago-sandbox}"
RNS="${LAGO_REMOTE_NETNS:-lago-remote}"
STATE="${LAGO_REMOTE_STATE:-/run/lago-remote}"
# the /30 between the two namespaces; it never leaves them
NET="${LAGO_REMOTE_NET:-10.253.0}"
LOCAL_IP="$NET.1"
PEER_IP="$NET.2"
VETH_LOCAL=lago-rv0
VETH_PEER=lago-rv1
# inside the remote mount namespace (a tmpfs, gone with the namespace)
INNER=/run/lago-remote-host
HOLDER_PIDFILE="$STATE/holder.pid"
TCP_URL="qemu+tcp://$PEER_IP/system"
KEY="$STATE/id_ed25519"
SSH_URL="qemu+ssh://root@$PEER_IP/system?keyfile=$KEY&no_verify=1"

log() { printf '[sandbox-remote] %s\n' "$*" >&2; }
die() { printf '[sandbox-remote] error: %s\n' "$*" >&2; exit 1; }

netns_inode() { stat -L -c %i "/run/netns/$1" 2>/dev/null || true; }
ns_of() { stat -L -c %i "/proc/$1/ns/$2" 2>/dev/null || true; }
read_pid() { [[ -r "$1" ]] && tr -dc '0-9' <"$1" || true; }

# pids of every process in the remote network namespace (all of them are
# ours: nothing else ever enters it)
pids_in_rns() {
    local ino pid
    ino="$(netns_inode "$RNS")"
    [[ -n "$ino" ]] || return 0
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
        [[ "$(ns_of "$pid" net)" == "$ino" ]] && echo "$pid"
    done
    return 0
}

# the holder keeps the mount namespace alive; valid only if it still is a
# process in the remote netns with a mount namespace other than ours
holder_pid() {
    local pid
    pid="$(read_pid "$HOLDER_PIDFILE")"
    [[ -n "$pid" ]] || return 0
    if [[ "$(ns_of "$pid" net)" == "$(netns_inode "$RNS")" &&
        "$(ns_of "$pid" mnt)" != "$(ns_of $$ mnt)" &&
        "$(cat "/proc/$pid/comm" 2>/dev/null)" == sleep ]]; then
        echo "$pid"
    fi
}

inside() {
    local holder="$1"
    shift
    nsenter -t "$holder" -m -n -- "$@"
}

peer_answers() {
    timeout 10 ip netns exec "$NS" virsh -q -c "$TCP_URL" version >/dev/null 2>&1
}

ensure_netns() {
    if [[ ! -e "/run/netns/$RNS" ]]; then
        log "creating network namespace $RNS"
        ip netns add "$RNS"
    elif ! ip netns exec "$RNS" true 2>/dev/null; then
        log "recreating stale network namespace $RNS"
        ip netns delete "$RNS" 2>/dev/null || rm -f "/run/netns/$RNS"
        ip netns add "$RNS"
    fi
    ip -n "$RNS" link set lo up
}

ensure_veth() {
    if ! ip -n "$NS" link show "$VETH_LOCAL" >/dev/null 2>&1 ||
        ! ip -n "$RNS" link show "$VETH_PEER" >/dev/null 2>&1; then
        # half a pair (a namespace made anew): start from nothing
        ip -n "$NS" link delete "$VETH_LOCAL" 2>/dev/null || true
        ip -n "$RNS" link delete "$VETH_PEER" 2>/dev/null || true
        log "linking $NS and $RNS ($LOCAL_IP <-> $PEER_IP)"
        ip link add "$VETH_LOCAL" netns "$NS" type veth peer name "$VETH_PEER" netns "$RNS"
    fi
    ip -n "$NS" addr replace "$LOCAL_IP/30" dev "$VETH_LOCAL"
    ip -n "$RNS" addr replace "$PEER_IP/30" dev "$VETH_PEER"
    ip -n "$NS" link set "$VETH_LOCAL" up
    ip -n "$RNS" link set "$VETH_PEER" up
}

# keys that outlive a restart: the client's key for root and the host's key
# (so that a known_hosts entry stays valid)
ensure_keys() {
    mkdir -p "$STATE"
    chmod 0700 "$STATE"
    [[ -s "$KEY" ]] || ssh-keygen -q -t ed25519 -N '' -C lago-remote-client -f "$KEY"
    if [[ ! -s "$STATE/ssh_host_ed25519_key" ]]; then
        ssh-keygen -q -t ed25519 -N '' -C lago-remote-host -f "$STATE/ssh_host_ed25519_key"
        # a new host key: an entry for the old one would only get in the way
        ssh-keygen -q -R "$PEER_IP" >/dev/null 2>&1 || true
    fi
}

# every process left in the remote netns by a run whose holder died: its
# mount namespace cannot be entered any more, so it is of no use
kill_leftovers() {
    local pids
    mapfile -t pids < <(pids_in_rns)
    ((${#pids[@]} == 0)) && return
    log "ending ${#pids[@]} leftover process(es) in $RNS: ${pids[*]}"
    kill "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 50); do
        mapfile -t pids < <(pids_in_rns)
        ((${#pids[@]} == 0)) && return
        sleep 0.1
    done
    kill -9 "${pids[@]}" 2>/dev/null || true
}

# bridges and firewall rules of networks that a dead libvirtd made: the
# new one starts with empty state and would trip over them
clear_netns() {
    local link table
    for link in $(ip -n "$RNS" -o link show type bridge | awk -F': ' '{print $2}' | cut -d@ -f1); do
        ip -n "$RNS" link delete "$link" 2>/dev/null || true
    done
    for table in filter nat mangle; do
        ip netns exec "$RNS" iptables -t "$table" -F 2>/dev/null || true
        ip netns exec "$RNS" iptables -t "$table" -X 2>/dev/null || true
    done
}

start_holder() {
    local pid
    kill_leftovers
    clear_netns
    rm -f "$HOLDER_PIDFILE"
    log "making the mount namespace of $RNS"
    # setsid: the holder outlives this script and its terminal
    setsid ip netns exec "$RNS" unshare -m --propagation private -- \
        sh -c 'echo $$ > "$1"; exec sleep infinity' holder "$HOLDER_PIDFILE" \
        </dev/null >/dev/null 2>&1 &
    for _ in $(seq 1 50); do
        pid="$(holder_pid)"
        [[ -n "$pid" ]] && return
        sleep 0.1
    done
    die "the holder of the mount namespace did not start"
}

# runs inside the remote mount namespace; the state files come on stdin
# as a tar archive, read before /run is covered
MOUNT_SCRIPT='
set -euo pipefail
inner="$1" peer="$2"
staged="$(mktemp -d /dev/shm/lago-remote.XXXXXX)"
tar -C "$staged" -xf -
for dir in /run /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do
    mkdir -p "$dir"
    mount -t tmpfs -o mode=0755 lago-remote "$dir"
done
mkdir -p /run/lock /run/sshd "$inner/etc" /var/lib/libvirt/images \
    /var/log/libvirt/qemu
chmod 0711 "$inner"
cp -a /etc/libvirt "$inner/etc/libvirt"
# auth_tcp = none: no password and no TLS, acceptable only because libvirtd
# listens on the private veth address inside namespaces this project made,
# reachable from the sandbox namespace alone
cat >>"$inner/etc/libvirt/libvirtd.conf" <<EOF
listen_tls = 0
listen_tcp = 1
listen_addr = "$peer"
auth_tcp = "none"
EOF
mount --bind "$inner/etc/libvirt" /etc/libvirt
install -m 0600 "$staged/ssh_host_ed25519_key" "$inner/ssh_host_ed25519_key"
install -m 0644 "$staged/id_ed25519.pub" "$inner/authorized_keys"
rm -rf "$staged"
cat >"$inner/sshd_config" <<EOF
ListenAddress $peer
HostKey $inner/ssh_host_ed25519_key
PidFile $inner/sshd.pid
AuthorizedKeysFile $inner/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowTcpForwarding yes
PrintMotd no
EOF
touch "$inner/mounted"
'

setup_mounts() {
    local holder="$1"
    if inside "$holder" test -e "$INNER/mounted"; then
        return
    fi
    log "mounting the remote host's own /run and libvirt state"
    tar -C "$STATE" -cf - ssh_host_ed25519_key id_ed25519.pub |
        inside "$holder" bash -c "$MOUNT_SCRIPT" mount "$INNER" "$PEER_IP"
}

# a daemon whose pid file (inside the remote /run) names a live process of
# that name in the remote netns
daemon_runs() {
    local holder="$1" name="$2" pidfile="$3" pid
    pid="$(inside "$holder" cat "$pidfile" 2>/dev/null | tr -dc '0-9' || true)"
    [[ -n "$pid" && "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" &&
        "$(ns_of "$pid" net)" == "$(netns_inode "$RNS")" ]]
}

start_daemons() {
    local holder="$1"
    if ! daemon_runs "$holder" virtlogd /run/virtlogd.pid; then
        log "starting virtlogd in $RNS"
        inside "$holder" virtlogd -d
    fi
    if ! daemon_runs "$holder" libvirtd /run/libvirtd.pid; then
        log "starting libvirtd --listen in $RNS"
        inside "$holder" libvirtd -d --listen
    fi
    if ! daemon_runs "$holder" sshd "$INNER/sshd.pid"; then
        log "starting sshd on $PEER_IP"
        inside "$holder" /usr/sbin/sshd -f "$INNER/sshd_config" -E "$INNER/sshd.log"
    fi
}

write_env() {
    cat >"$STATE/env" <<EOF
LAGO_REMOTE_TCP_URL='$TCP_URL'
LAGO_REMOTE_SSH_URL='$SSH_URL'
LAGO_REMOTE_HOST='$PEER_IP'
LAGO_REMOTE_KEY='$KEY'
LAGO_REMOTE_NETNS='$RNS'
EOF
}

cmd_start() {
    [[ $EUID -eq 0 ]] || die "the remote host needs root (namespaces, libvirtd)"
    [[ -e "/run/netns/$NS" ]] || die "namespace $NS does not exist; start the sandbox first"
    ensure_netns
    ensure_veth
    ensure_keys
    local holder
    holder="$(holder_pid)"
    [[ -n "$holder" ]] || { start_holder; holder="$(holder_pid)"; }
    setup_mounts "$holder"
    start_daemons "$holder"
    for _ in $(seq 1 60); do
        if peer_answers; then
            write_env
            log "remote libvirtd answers at $TCP_URL (and over ssh) from $NS"
            return
        fi
        sleep 0.5
    done
    die "libvirtd started in $RNS but $TCP_URL does not answer from $NS"
}

cmd_stop() {
    local holder
    holder="$(holder_pid)"
    if [[ -n "$holder" ]]; then
        # guests first, so that libvirt leaves nothing behind in the tmpfs
        local dom net
        for dom in $(ip netns exec "$NS" virsh -q -c "$TCP_URL" list --name 2>/dev/null); do
            ip netns exec "$NS" virsh -q -c "$TCP_URL" destroy "$dom" >/dev/null 2>&1 || true
        done
        for net in $(ip netns exec "$NS" virsh -q -c "$TCP_URL" net-list --name 2>/dev/null); do
            ip netns exec "$NS" virsh -q -c "$TCP_URL" net-destroy "$net" >/dev/null 2>&1 || true
        done
    fi
    # every process of the remote netns is ours, the holder among them:
    # with them the mount namespace and its tmpfs go away
    kill_leftovers
    rm -f "$HOLDER_PIDFILE" "$STATE/env"
    log "remote host stopped"
}

cmd_status() {
    if [[ -n "$(holder_pid)" ]] && peer_answers; then
        echo "remote libvirtd answers at $TCP_URL in namespace $RNS"
    else
        echo "no remote libvirtd runs (start it with: scripts/sandbox.sh start --remote)"
        return 1
    fi
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) [[ -r "$STATE/env" ]] && cat "$STATE/env" || die "the remote host is not running" ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
