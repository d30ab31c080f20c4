"""SSH host keys on a real VM: recorded per prefix, enforced, usable by ssh."""

from __future__ import annotations

import re
import subprocess

import pytest

from .conftest import LagoRunner, template_missing
from .initfiles import tiny_root, tiny_vm, write_tiny_env

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_host_key_is_recorded_enforced_and_serves_plain_ssh(lago: LagoRunner) -> None:
    write_tiny_env(lago.cwd)
    lago("init")
    prefix = lago.cwd / ".lago" / "default"
    known = prefix / "known_hosts"
    lago("start", "--wait-for-ssh", timeout=900)
    ip = lago("shell", "vm01", "ip -4 -o addr show eth0").stdout.split()[3]
    ip = ip.split("/")[0]

    # recorded at the first connection, under the address and the VM's name
    (line,) = known.read_text().splitlines()
    names, key_type, _ = line.split()
    assert names == f"{ip},vm01"
    assert key_type == "ssh-ed25519"

    # plain OpenSSH checks the VM against the same file
    plain = [
        "ssh", "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes", "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "ConnectTimeout=60", "-i", str(prefix / "id_rsa"), f"root@{ip}", "hostname",
    ]  # fmt: skip
    proc = subprocess.run(
        plain, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "vm01\n"

    # another key recorded for the VM (as after a man in the middle): refused
    other = lago.cwd / "other"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True
    )
    fake = other.with_suffix(".pub").read_text().split()[1]
    known.write_text(f"{ip},vm01 ssh-ed25519 {fake}\n")
    proc = lago("shell", "vm01", "true", check=False)
    assert proc.returncode == 2
    lines = [x for x in ANSI.sub("", proc.stderr).splitlines() if x.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"VM vm01 ({ip}) offered SSH host key ssh-ed25519 ")
    assert lines[0].endswith(f"ssh-keygen -R {ip} -f {known}")

    # the fix the line gives makes the next connection record the key again
    subprocess.run(["ssh-keygen", "-R", ip, "-f", str(known)], check=True,
                   capture_output=True)  # fmt: skip
    assert lago("shell", "vm01", "hostname").stdout == "vm01\n"
    assert known.read_text().splitlines() == [line]


@pytest.mark.parametrize("template", ["tiny", "debian12"])
def test_a_power_off_right_after_the_first_login_keeps_the_key(
    lago: LagoRunner, template: str
) -> None:
    reason = template_missing(template)
    if reason:
        pytest.skip(reason)
    memory = 256 if template == "tiny" else 768
    write_tiny_env(lago.cwd, {"vm01": tiny_vm(memory, disks=[tiny_root(template)])})
    lago("init")
    known = lago.cwd / ".lago" / "default" / "known_hosts"
    lago("start", "--wait-for-ssh", timeout=900)
    recorded = known.read_text()
    # a hard power-off at once: the key the guest made at its first boot may
    # still be only in its page cache
    lago("stop")
    lago("start", "--wait-for-ssh", timeout=900)
    assert lago("shell", "vm01", "hostname").stdout == "vm01\n"
    assert known.read_text() == recorded


def test_revert_to_a_snapshot_from_before_the_first_boot(lago: LagoRunner) -> None:
    write_tiny_env(lago.cwd)
    lago("init")
    known = lago.cwd / ".lago" / "default" / "known_hosts"
    lago("snapshot", "fresh", timeout=600)  # no host key on the disk yet
    lago("start", "--wait-for-ssh", timeout=900)
    first = known.read_text()
    lago("shell", "vm01", "sync")
    lago("snapshot", "booted", timeout=900)

    # back before the first boot: the guest makes a new key, which is recorded
    lago("stop")
    lago("revert", "fresh", timeout=600)
    assert not known.read_text()
    lago("start", "--wait-for-ssh", timeout=900)
    second = known.read_text()
    assert second.split()[:2] == first.split()[:2]  # same address and type
    assert second != first  # a new key
    lago("shell", "vm01", "sync")

    # back to the booted disk: its key again, not refused
    lago("stop")
    lago("revert", "booted", timeout=600)
    assert known.read_text() == first
    lago("start", "--wait-for-ssh", timeout=900)
    assert lago("shell", "vm01", "hostname").stdout == "vm01\n"
    assert known.read_text() == first
