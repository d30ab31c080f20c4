"""Defects found by a hostile probe, each reproduced through the CLI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from .conftest import LagoRunner, _leases_of
from .initfiles import write_tiny_env

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _lines(stderr: str) -> list[str]:
    return [line for line in ANSI.sub("", stderr).splitlines() if line.strip()]


def _init(lago: LagoRunner, name: str = "env") -> tuple[Path, str]:
    base = lago.cwd / name
    base.mkdir()
    write_tiny_env(base)
    workdir = base / ".lago"
    lago("init", str(workdir), str(base / "LagoInitFile"))
    return workdir, (workdir / "default" / "uuid").read_text()


@pytest.mark.parametrize("name", ["../../x", "a/b", ".."])
def test_prefix_name_with_a_path_is_refused(lago: LagoRunner, name: str) -> None:
    write_tiny_env(lago.cwd)
    proc = lago("--prefix-name", name, "init", check=False)
    assert proc.returncode == 2
    lines = _lines(proc.stderr)
    assert lines[0].startswith(f"Invalid prefix name {name!r}:"), lines
    assert len(lines) == 1
    assert sorted(p.name for p in lago.cwd.iterdir()) == ["LagoInitFile"]
    assert not (lago.cwd.parent / "x").exists()


def test_destroy_all_prefixes_through_a_linked_workdir_removes_the_link(lago: LagoRunner) -> None:  # fmt: skip
    workdir, _ = _init(lago)
    link = lago.cwd / "link"
    link.symlink_to(workdir)
    lago("--workdir-path", str(link), "destroy", "--yes", "--all-prefixes")
    assert not link.exists() and not link.is_symlink()
    assert (workdir / "default" / "uuid").is_file()
    status = json.loads(
        lago("--workdir-path", str(workdir), "-f", "json", "status").stdout
    )
    assert status["Prefix"]["UUID"] == (workdir / "default" / "uuid").read_text()


def test_destroy_refuses_while_libvirt_is_unreachable(lago: LagoRunner) -> None:
    lease_dir = Path(lago.env["LAGO_LEASE_DIR"])
    workdir, uuid = _init(lago)
    dead = f"qemu+unix:///system?socket={lago.cwd}/no-daemon.sock"
    proc = lago("--libvirt_url", dead, "--workdir-path", str(workdir), "destroy", "-y", check=False)  # fmt: skip
    assert proc.returncode == 2
    lines = _lines(proc.stderr)
    assert lines[0].startswith(f"Cannot connect to libvirt at {dead}")
    assert lines[0].endswith(
        "nothing was destroyed, as the VMs and networks may still run"
    )
    assert lines[1] == "start libvirt again, or add --force to delete the prefix anyway"
    assert (workdir / "default" / "uuid").is_file()
    assert _leases_of(lease_dir, [uuid])

    proc = lago("--libvirt_url", dead, "--workdir-path", str(workdir), "destroy", "-y", "--force")  # fmt: skip
    assert not workdir.exists()
    assert f"left behind ({uuid[:8]}-vm01, {uuid[:4]}-lago)" in ANSI.sub(
        "", proc.stderr
    )


def test_destroying_a_copy_keeps_the_original_lease(lago: LagoRunner) -> None:
    lease_dir = Path(lago.env["LAGO_LEASE_DIR"])
    workdir, uuid = _init(lago, "original")
    copy = lago.cwd / "copy" / ".lago"
    shutil.copytree(workdir, copy, symlinks=True)
    lago("--workdir-path", str(copy), "destroy", "-y")
    assert not (copy / "default").exists()
    (lease,) = _leases_of(lease_dir, [uuid])
    assert json.loads(lease.read_text())[0] == str(workdir / "default" / "uuid")
    lago("--workdir-path", str(workdir), "destroy", "-y")
    assert not _leases_of(lease_dir, [uuid])
