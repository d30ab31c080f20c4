"""Several prefixes in one workdir: list, set-current, cleanup, console, destroy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pytest

from .conftest import LagoRunner
from .initfiles import write_tiny_env


def _status(lago: LagoRunner, *args: str) -> dict:
    return json.loads(lago(*args, "-f", "json", "status").stdout)["Prefix"]


def test_prefixes_of_one_workdir(lago: LagoRunner) -> None:
    write_tiny_env(lago.cwd)
    lago("init")
    lago("-P", "second", "init")
    workdir = lago.cwd / ".lago"
    assert (workdir / "current").resolve() == workdir / "default"
    assert sorted(json.loads(lago("-f", "json", "list").stdout)) == [
        "default",
        "second",
    ]
    assert sorted(lago("list").stdout.split()) == ["default", "second"]

    init_again = lago("-P", "second", "init", check=False)
    assert init_again.returncode == 2
    assert (
        f"Prefix with name second already exists in workdir {workdir}."
        in init_again.stderr
    )

    lago("set-current", "second")
    assert (workdir / "current").is_symlink()
    assert str((workdir / "current").readlink()) == "second"  # a relative link
    assert _status(lago)["Base directory"] == str(workdir / "second")
    unknown = lago("set-current", "nope", check=False)
    assert unknown.returncode == 1
    assert f'Unable to find prefix "nope" in workdir {workdir}' in unknown.stderr

    lago("start")
    assert _status(lago)["VMs"]["vm01"]["status"] == "running"
    assert _status(lago, "-P", "default")["VMs"]["vm01"]["status"] == "down"
    lago("cleanup")
    assert not (workdir / "second" / "initialized").exists()
    assert (workdir / "second" / "virt" / "env").exists()  # other files stay

    lago("-P", "default", "destroy", "-y")
    assert not (workdir / "default").exists()
    # the current prefix was not the victim: it stays current
    assert (workdir / "current").resolve() == workdir / "second"
    lago("--workdir-path", str(workdir), "destroy", "-y", "--all-prefixes")
    assert not workdir.exists()


def test_destroy_asks_first(lago: LagoRunner) -> None:
    write_tiny_env(lago.cwd)
    lago("init")
    prefix = lago.cwd / ".lago" / "default"
    no = lago("destroy", input="n\n")
    assert f"Do you really want to destroy {prefix}? [Yn] " in no.stdout
    assert prefix.exists()
    lago("destroy", input="\n")
    assert not (lago.cwd / ".lago").exists()


@pytest.mark.skipif(not shutil.which("script"), reason="needs script(1) for a terminal")
def test_console(lago: LagoRunner) -> None:
    write_tiny_env(lago.cwd)
    lago("init")
    lago("start", "--wait-for-ssh", timeout=900)
    command = f"{sys.executable} -m lago.cmd console vm01"
    # script(1) gives virsh the terminal it needs; Ctrl-] (\x1d) detaches
    proc = subprocess.Popen(
        ["script", "-qec", command, "/dev/null"], cwd=lago.cwd, env=lago.env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    time.sleep(3)
    assert proc.stdin is not None
    proc.stdin.write(b"\n")
    proc.stdin.flush()
    time.sleep(2)
    proc.stdin.write(b"\x1d")
    proc.stdin.flush()
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert b"vm01 login:" in out
