#!/usr/bin/env bash
# The README's main job: two VMs of the embedded `tiny` template on one NAT
# network, from init to destroy, showing each step. Run it through
# `make demo` (which sets the machine up and enters the sandbox namespace).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAGO=("$ROOT/.venv/bin/lago")
WORK="$(mktemp -d /tmp/lago-demo.XXXXXX)"
chmod 755 "$WORK"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

cleanup() {
    if [[ -d "$WORK/.lago" ]]; then
        step "cleaning up"
        (cd "$WORK" && "${LAGO[@]}" destroy -y --all-prefixes) || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/LagoInitFile" <<'YAML'
domains:
  vm01: &tiny
    memory: 256
    vcpu: 1
    nics:
      - net: lago
    disks:
      - template_name: tiny
        type: template
        name: root
        dev: vda
        format: qcow2
  vm02: *tiny
nets:
  lago:
    type: nat
    dhcp:
      start: 100
      end: 254
    management: true
YAML

cd "$WORK"
step "LagoInitFile"
cat LagoInitFile
step "lago init"
time "${LAGO[@]}" init
step "lago start --wait-for-ssh"
time "${LAGO[@]}" start --wait-for-ssh
for vm in vm01 vm02; do
    step "lago shell $vm hostname"
    "${LAGO[@]}" shell "$vm" hostname
done
step "lago status"
"${LAGO[@]}" status
step "lago destroy -y"
time "${LAGO[@]}" destroy -y
step "done: nothing is left behind"
