"""collect and deploy on real tiny VMs.

One environment of two VMs: deploy scripts run in order, a failing script
fails the verb naming it, and collect copies the artifacts home, first over
SSH from the running VMs, then with libguestfs from the stopped ones.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from .conftest import LagoRunner
from .initfiles import MANAGEMENT_NET, tiny_root, tiny_vm, write_tiny_env

pytestmark = pytest.mark.slow

ANSI = re.compile(r"\x1b\[[0-9;]*m")
TASK_LINE = re.compile(r"^\s*[@#*-] ")

VMS = {
    "vm01": tiny_vm(
        # `device`, the original's other spelling of `dev`
        disks=[{("device" if k == "dev" else k): v for k, v in tiny_root().items()}],
        extra={
            "metadata": {"deploy-scripts": ["scripts/first.sh", "scripts/second.sh"]},
            "artifacts": ["/root/art", "/root/order", "/nonexistent"],
        },
    ),
    "vm02": tiny_vm(
        extra={
            "metadata": {
                "deploy-scripts": ["scripts/maybe-fail.sh", "scripts/after.sh"]
            },
            "artifacts": ["/root/ran"],
        },
    ),
}

SCRIPTS = {
    "first.sh": "echo 1 >> /root/order\n",
    "second.sh": "echo 2 >> /root/order\n",
    "maybe-fail.sh": (
        "if [ -e /root/fail-now ]; then echo broken-on-purpose >&2; exit 3; fi\n"
        "echo ran >> /root/ran\n"
    ),
    "after.sh": "echo after >> /root/ran\n",
}


def _lines(stderr: str) -> list[str]:
    return [line for line in ANSI.sub("", stderr).splitlines() if line.strip()]


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one error line: everything else on stderr is a task line."""
    assert "Traceback" not in proc.stderr
    errors = [line for line in _lines(proc.stderr) if not TASK_LINE.match(line)]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def _prefix_state(prefix: Path) -> dict[str, str]:
    """The prefix's files with a hash of their content, but for the logs
    and the disks of running VMs (which the guests write to)."""
    return {
        str(path.relative_to(prefix)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(prefix.rglob("*"))
        if path.is_file()
        and not path.is_symlink()
        and path.parent.name not in ("logs", "images")
    }


def _make_env(lago: LagoRunner) -> Path:
    scripts = lago.cwd / "scripts"
    scripts.mkdir()
    for name, text in SCRIPTS.items():
        (scripts / name).write_text(text)
    write_tiny_env(lago.cwd, VMS, MANAGEMENT_NET)
    lago("init", timeout=900)
    return lago.cwd / ".lago" / "default"


def _check_layout(out: Path, order: str, ran: str) -> None:
    assert sorted(p.name for p in out.iterdir()) == ["vm01", "vm02"]
    vm01 = out / "vm01"
    assert sorted(p.name for p in vm01.iterdir()) == ["_root_art", "_root_order"]
    assert (vm01 / "_root_order").read_text() == order
    art = vm01 / "_root_art"
    assert (art / "a.txt").read_text() == "alpha\n"
    assert (art / "sub" / "b.txt").read_text() == "beta\n"
    assert (art / "link").read_text() == "alpha\n"
    assert sorted(p.name for p in (out / "vm02").iterdir()) == ["_root_ran"]
    assert (out / "vm02" / "_root_ran").read_text() == ran


def test_deploy_and_collect(lago: LagoRunner) -> None:
    prefix = _make_env(lago)
    spec = (prefix / "virt" / "vm-vm01").read_text()
    assert (
        '"dev": "vda"' in spec and '"device"' not in spec
    )  # the alias is saved as dev

    # bad output place, before anything runs: a file stands where a directory must be
    blocker = lago.cwd / "blocker"
    blocker.write_text("")
    before = _prefix_state(prefix)
    proc = lago("collect", "--output", str(blocker / "out"), check=False)
    assert proc.returncode == 2
    assert _error_line(proc) == (
        f"Cannot create the output directory {blocker / 'out'}: Not a directory"
    )
    assert _prefix_state(prefix) == before

    lago("start", "--wait-for-ssh", timeout=900)
    lago(
        "shell", "vm01",
        "mkdir -p /root/art/sub && echo alpha > /root/art/a.txt && "
        "echo beta > /root/art/sub/b.txt && ln -s a.txt /root/art/link",
    )  # fmt: skip

    # a passing deploy: every script, in order
    lago("deploy", timeout=900)
    # a failing one: the script, its VM, its status and its stderr; after.sh is not run
    lago("shell", "vm02", "touch /root/fail-now")
    proc = lago("deploy", check=False, timeout=900)
    assert proc.returncode == 2
    line = _error_line(proc)
    assert re.fullmatch(
        r"\S+/scripts/\S*maybe-fail\.sh failed with status 3 on vm02: broken-on-purpose",
        line,
    ), line

    # a script gone from the prefix: one line, nothing run (the order file
    # collected below shows two runs of vm01's scripts), nothing changed
    gone = next((prefix / "scripts").glob("*after.sh"))
    gone.unlink()
    before = _prefix_state(prefix)
    proc = lago("deploy", check=False, timeout=900)
    assert proc.returncode == 2
    assert _error_line(proc) == f"Script {gone} of VM vm02 does not exist"
    assert _prefix_state(prefix) == before

    # collect from running VMs, over SSH; the missing path is skipped
    out = lago.cwd / "out"
    lago("collect", "--output", str(out), timeout=900)
    _check_layout(out, order="1\n2\n1\n2\n", ran="ran\nafter\n")

    # --no-skip: the missing path fails the verb; the earlier DIR is kept aside
    proc = lago("collect", "--output", str(out), "--no-skip", check=False, timeout=900)
    assert proc.returncode == 2
    assert _error_line(proc) == (
        "Failed to extract /nonexistent from vm01: no such file or directory"
    )
    kept = [p for p in lago.cwd.iterdir() if p.name.startswith("out.")]
    assert len(kept) == 1
    assert re.fullmatch(r"out\.\d{4}-\d\d-\d\d_\d\d:\d\d:\d\d", kept[0].name)
    _check_layout(kept[0], order="1\n2\n1\n2\n", ran="ran\nafter\n")

    # collect from stopped VMs, through libguestfs (read-only)
    lago("shell", "vm01", "sync")
    lago("shell", "vm02", "sync")
    lago("stop")
    disks = {path: path.stat().st_mtime_ns for path in (prefix / "images").iterdir()}
    dead = lago.cwd / "dead"
    lago("collect", "--output", str(dead), timeout=1800)
    _check_layout(dead, order="1\n2\n1\n2\n", ran="ran\nafter\n")
    proc = lago(
        "collect", "--output", str(dead), "--no-skip", check=False, timeout=1800
    )
    assert proc.returncode == 2
    assert _error_line(proc) == (
        "Failed to extract /nonexistent from vm01: no such file or directory"
    )
    assert {p: p.stat().st_mtime_ns for p in (prefix / "images").iterdir()} == disks
