"""A workdir on a file system that fills up while `init` saves the prefix."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import LagoRunner
from .initfiles import write_tiny_env

ANSI = re.compile(r"\x1b\[[0-9;]*m")


pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs")


@contextmanager
def _tmpfs(path: Path, inodes: int) -> Iterator[Path]:
    path.mkdir()
    options = f"size=64m,nr_inodes={inodes},mode=0755"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)  # fmt: skip
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
        path.rmdir()


def _inodes_used(path: Path) -> int:
    info = os.statvfs(path)
    return info.f_files - info.f_ffree


def test_no_space_while_saving_the_prefix_names_the_file(lago: LagoRunner) -> None:
    write_tiny_env(lago.cwd)
    # how many files a whole init makes; the prefix is saved last
    with _tmpfs(lago.cwd / "roomy", 10_000) as roomy:
        lago("init", str(roomy / "w"), str(lago.cwd / "LagoInitFile"))
        needed = _inodes_used(roomy)
        lago("--workdir-path", str(roomy / "w"), "destroy", "-y")
    # one file short: the last file of the saved prefix cannot be made
    with _tmpfs(lago.cwd / "small", needed - 1) as small:
        proc = lago("init", str(small / "w"), str(lago.cwd / "LagoInitFile"), check=False)  # fmt: skip
        left = sorted(p.name for p in small.iterdir())
    assert proc.returncode == 2
    lines = [x for x in ANSI.sub("", proc.stderr).splitlines() if x.strip()]
    # the file meant, not its temporary name (the last file init writes)
    assert (
        lines[-1] == f"No space left on device: {small / 'w' / 'default' / 'metadata'}"
    )
    assert "Error occured" not in proc.stderr
    # the failed init was rolled back: nothing made is left
    assert left == []
