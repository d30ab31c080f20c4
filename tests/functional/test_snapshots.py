"""snapshot and revert on real VMs: running and stopped, tiny and debian12."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from .conftest import LOCAL_REPO, LagoRunner
from .initfiles import MANAGEMENT_NET, scratch_disk, tiny_root, tiny_vm, write_tiny_env


def _init(lago: LagoRunner, template: str = "tiny", memory: int = 256) -> Path:
    disks = [tiny_root(template), scratch_disk("16M")]
    write_tiny_env(lago.cwd, {"vm01": tiny_vm(memory, disks=disks)}, MANAGEMENT_NET)
    lago("init")
    return lago.cwd / ".lago" / "default"


def _sh(lago: LagoRunner, command: str) -> str:
    return lago("shell", "vm01", command, timeout=900).stdout


def _status(lago: LagoRunner) -> dict:
    out = lago("--out-format", "json", "status").stdout
    return json.loads(out)["Prefix"]["VMs"]["vm01"]


def _spec(prefix: Path) -> dict:
    return json.loads((prefix / "virt" / "vm-vm01").read_text())


def _fingerprint(prefix: Path) -> dict[str, str]:
    """Every spec file's content; every image's inode (a revert makes new
    files) and, but for the disks a running VM writes, its mtime."""
    found = {}
    for path in sorted((prefix / "virt").iterdir()):
        found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    live = {
        disk["path"].replace("$LAGO_PREFIX_PATH", str(prefix))
        for disk in _spec(prefix)["disks"]
    }
    for path in sorted((prefix / "images").iterdir()):
        stat = path.stat()
        found[str(path)] = f"{stat.st_ino}"
        if str(path) not in live:
            found[str(path)] += f":{stat.st_mtime_ns}"
    return found


def _backing(path: str, prefix: Path) -> str | None:
    from lago.qemu_img import get_qemu_info

    info = get_qemu_info(path.replace("$LAGO_PREFIX_PATH", str(prefix)))
    return info.get("full-backing-filename") or info.get("backing-filename")


def _check_disk_record(prefix: Path, names: list[str]) -> None:
    spec = _spec(prefix)
    assert list(spec["snapshots"]) == names
    for disk in spec["disks"][:2]:
        assert disk["format"] == "qcow2"
        assert disk["path"].endswith(f".{names[-1]}.qcow2")
        assert Path(disk["path"].replace("$LAGO_PREFIX_PATH", str(prefix))).exists()
    frozen = {disk["name"]: disk["path"] for disk in spec["snapshots"][names[-1]]}
    assert set(frozen) == {"root", "scratch"}


def test_running_snapshot_revert_many_times(lago: LagoRunner) -> None:
    prefix = _init(lago)
    lago("start", "--wait-for-ssh", timeout=900)
    # not synced by the test: the snapshot itself must flush the guest
    _sh(lago, "echo first > /root/keep")

    lago("snapshot", "s1", timeout=900)
    _check_disk_record(prefix, ["s1"])
    root = _spec(prefix)["disks"][0]
    frozen_root = _spec(prefix)["snapshots"]["s1"][0]["path"]
    assert _backing(root["path"], prefix) == frozen_root.replace(
        "$LAGO_PREFIX_PATH", str(prefix)
    )
    assert json.loads(lago("--out-format", "json", "snapshot", "-l").stdout) == {
        "vm01": ["s1"]
    }
    assert _status(lago)["snapshots"] == "s1"
    assert "snapshots: s1" in lago("status").stdout

    _sh(lago, "rm /root/keep; echo later > /root/later; sync")
    lago("revert", "s1", timeout=900)
    assert _status(lago)["status"] == "running"
    assert _sh(lago, "cat /root/keep") == "first\n"
    assert _sh(lago, "ls /root").split() == ["keep"]

    # a second snapshot over the reverted disk, then back to the first again
    _sh(lago, "echo second > /root/two")
    lago("snapshot", "s2", timeout=900)
    assert _status(lago)["snapshots"] == "s1, s2"
    lago("revert", "s1", timeout=900)
    assert _sh(lago, "ls /root").split() == ["keep"]
    lago("revert", "s2", timeout=900)
    assert _sh(lago, "cat /root/two") == "second\n"
    assert _sh(lago, "ls /root").split() == ["keep", "two"]


def test_stopped_snapshot_and_bad_input(lago: LagoRunner) -> None:
    prefix = _init(lago)
    lago("start", "--wait-for-ssh", timeout=900)
    _sh(lago, "echo first > /root/keep; sync")
    lago("shutdown", timeout=900)
    assert _status(lago)["status"] == "down"

    lago("snapshot", "cold", timeout=600)
    _check_disk_record(prefix, ["cold"])
    assert _status(lago)["status"] == "down"
    assert _status(lago)["snapshots"] == "cold"

    lago("start", "--wait-for-ssh", timeout=900)
    _sh(lago, "rm /root/keep; sync")
    lago("stop")
    lago("revert", "cold", timeout=600)
    # a stopped VM stays stopped
    assert _status(lago)["status"] == "down"
    lago("start", "--wait-for-ssh", timeout=900)
    assert _sh(lago, "cat /root/keep") == "first\n"

    before = _fingerprint(prefix)
    for args, message in [
        (["revert", "nope"], "No snapshot nope for vm01"),
        (["snapshot"], "No snapshot name provided"),
        (["snapshot", "cold"], "Snapshot cold already exists for vm01"),
        (["snapshot", "../x"], "Invalid snapshot name '../x'"),
    ]:
        proc = lago(*args, check=False)
        assert proc.returncode == 1, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, proc.stderr
        assert message in lines[0]
        assert _fingerprint(prefix) == before
    assert _status(lago)["status"] == "running"


DEBIAN12_REPO = Path(os.environ.get("LAGO_TEST_TEMPLATE_REPO", LOCAL_REPO.parent))


def _has_debian12() -> bool:
    try:
        metadata = json.loads((DEBIAN12_REPO / "repo.metadata").read_text())
    except (OSError, ValueError):
        return False
    return "debian12" in metadata.get("templates", {})


@pytest.mark.skipif(
    not _has_debian12(),
    reason=f"no debian12 template in {DEBIAN12_REPO} (build it with "
    "scripts/build-templates.sh --only debian12, set LAGO_TEST_TEMPLATE_REPO)",
)
def test_debian12_quiesced_snapshot(lago: LagoRunner) -> None:
    prefix = _init(lago, template="debian12", memory=512)
    lago("start", "--wait-for-ssh", timeout=1800)
    # the agent starts with the guest's virtio channel; wait until it answers
    _sh(
        lago,
        "for i in $(seq 120); do systemctl is-active -q qemu-guest-agent && break; sleep 1; done",
    )
    _sh(lago, "echo first > /root/keep")

    lago("snapshot", "s1", timeout=900)
    log = (prefix / "logs" / "lago.log").read_text()
    assert "Quiescing vm01 through its guest agent" in log
    _sh(lago, "rm /root/keep; sync")
    lago("revert", "s1", timeout=900)
    assert _status(lago)["status"] == "running"
    assert _sh(lago, "cat /root/keep") == "first\n"
    assert _status(lago)["snapshots"] == "s1"
