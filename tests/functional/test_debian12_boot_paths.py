"""``debian12`` boots on each bus and path, with what its users rely on.

The image skips work a test VM does not need before sshd (no root fsck,
units and generators masked, an initramfs with only the root disk's
drivers). Here two VMs of it boot: one from a virtio-scsi disk by the direct
kernel boot, one from a virtio disk through its boot loader (initramfs read
from the disk). Both answer SSH with their names, come up without a failed
unit, resolve each other's DNS names and their own full name, keep the
serial console and the readiness line, and offer the RSA host key made
after sshd started.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import LOCAL_REPO, LagoRunner, write_init_file

INIT = """\
domains:
  vm01:
    memory: 512
    nics: [{net: lago}]
    disks:
      - {template_name: debian12, type: template, name: root, dev: sda, format: qcow2}
  vm02:
    memory: 512
    nics: [{net: lago}]
    disks:
      - template_name: debian12
        type: template
        name: root
        dev: vda
        format: qcow2
        metadata: {direct-boot: "no"}
nets:
  lago: {type: nat, management: true}
"""


def _has_debian12() -> bool:
    try:
        metadata = json.loads(LOCAL_REPO.read_text())
    except (OSError, ValueError):
        return False
    return "debian12" in metadata.get("templates", {})


def _sh(lago: LagoRunner, vm: str, command: str) -> str:
    return lago("shell", vm, command, timeout=300).stdout


@pytest.mark.skipif(
    not _has_debian12(),
    reason=f"no debian12 template in {LOCAL_REPO.parent} (build it with "
    "scripts/build-templates.sh --only debian12, set LAGO_TEST_TEMPLATE_REPO)",
)
def test_debian12_on_scsi_direct_and_virtio_from_disk(lago: LagoRunner) -> None:
    write_init_file(lago.cwd, INIT)
    lago("init")
    lago("start", "--wait-for-ssh", timeout=1800)

    roots = {"vm01": "/dev/sda1", "vm02": "/dev/vda1"}
    for vm, root in roots.items():
        assert _sh(lago, vm, "hostname") == f"{vm}\n"
        assert _sh(lago, vm, "findmnt -no SOURCE /") == f"{root}\n"
        state = _sh(lago, vm, "timeout 600 systemctl is-system-running --wait || true")
        failed = _sh(lago, vm, "systemctl --failed --no-legend --plain")
        assert state == "running\n", failed
        assert _sh(lago, vm, "hostname -f") == f"{vm}.lago.local\n"
        other = "vm02" if vm == "vm01" else "vm01"
        assert other in _sh(lago, vm, f"getent hosts {other}.lago.local")
        # a password set by the seed: SHA-512 at its fewest rounds
        hashes = _sh(lago, vm, "cut -d: -f2 /etc/shadow")
        assert "$6$rounds=1000$" in hashes

    # the RSA host key is made after sshd answers, then sshd (started with
    # -r) reloads and offers it; starting the oneshot waits for that run
    _sh(lago, "vm01", "timeout 900 systemctl start lago-host-key-rsa.service")
    assert "ssh-rsa" in _sh(lago, "vm01", "ssh-keyscan -t rsa 127.0.0.1 2>/dev/null")

    log = Path(lago.cwd / ".lago/default/logs")
    direct = (log / "vm01.serial.log").read_text(errors="replace")
    from_disk = (log / "vm02.serial.log").read_text(errors="replace")
    assert "SYSLINUX" not in direct and "SYSLINUX" in from_disk
    for text in (direct, from_disk):
        assert "lago-debian12: ready" in text
