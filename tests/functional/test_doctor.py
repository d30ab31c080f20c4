"""``lago doctor`` on this host, and where it must fail."""

from __future__ import annotations

import json
from pathlib import Path

from tests.functional.conftest import LagoRunner
from tests.functional.initfiles import tiny_vm, write_tiny_env


def test_doctor_passes_on_this_host(lago: LagoRunner) -> None:
    proc = lago("doctor")
    lines = proc.stdout.splitlines()
    names = [
        line.split(":")[0].split(None, 1)[1]
        for line in lines
        if not line.startswith(" ")
    ]
    assert names == [
        "libvirt", "virtualization", "qemu access", "libguestfs", "disk space",
        "subnet leases", "network tools", "templates",
    ]  # fmt: skip
    assert not [line for line in lines if line.startswith("FAIL")], proc.stdout
    assert any(line.startswith("ok    templates: lago-local at") for line in lines)


def test_doctor_json_parses(lago: LagoRunner) -> None:
    proc = lago("-f", "json", "doctor")
    checks = json.loads(proc.stdout)["checks"]
    assert {c["name"]: c["status"] for c in checks}["libvirt"] == "ok"
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in checks)


def test_doctor_fails_for_a_workdir_qemu_cannot_reach(lago: LagoRunner) -> None:
    private = Path(lago.cwd, "private")
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    proc = lago("--workdir-path", str(private / "wd"), "doctor", check=False)
    assert proc.returncode == 2
    assert (
        f"FAIL  qemu access: workdir: the qemu user 'libvirt-qemu' cannot enter {private} (mode 0700)"
        in proc.stdout
    )
    assert "1 of 8 host checks failed: qemu access" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_doctor_fails_when_libvirt_is_unreachable(lago: LagoRunner) -> None:
    url = f"qemu+unix:///system?socket={lago.cwd}/no-daemon.sock"
    proc = lago("--libvirt_url", url, "doctor", check=False)
    assert proc.returncode == 2
    assert f"FAIL  libvirt: Cannot connect to libvirt at {url}" in proc.stdout
    assert "host checks failed: libvirt" in proc.stderr


def test_init_refuses_a_workdir_qemu_cannot_reach(lago: LagoRunner) -> None:
    private = Path(lago.cwd, "private")
    private.mkdir()
    private.chmod(0o700)
    init = write_tiny_env(lago.cwd, {"vm01": tiny_vm(memory=None, vcpu=None)})
    proc = lago("init", str(private / "wd"), str(init), check=False)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert (
        f"The qemu user 'libvirt-qemu' cannot enter {private} (mode 0700)" in lines[0]
    )
    assert "chmod o+x" in lines[-1] and len(lines) == 2
    assert list(private.iterdir()) == []
