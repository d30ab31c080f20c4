"""Temporary build directories that are always cleaned up safely.

A build directory may hold mounts (a chroot's /proc, a loop-mounted image) and
loop devices: they are undone before anything is deleted, and a directory
whose mounts cannot be undone is left alone (deleting through a mounted /dev
would be a disaster).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from .errors import TemplateBuildError

LOGGER = logging.getLogger(__name__)

PREFIX = ".build-"


def _unescape(field: str) -> str:
    """Undo the octal escapes of /proc/self/mounts."""
    return (
        field.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
    )


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below path, deepest first."""
    base = str(path.resolve())
    found = []
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) < 2:
                continue
            target = _unescape(fields[1])
            if target == base or target.startswith(base + "/"):
                found.append(target)
    return sorted(found, key=lambda m: m.count("/"), reverse=True)


def loops_under(path: Path) -> list[str]:
    """Loop devices whose backing file is below path."""
    base = str(path.resolve())
    proc = subprocess.run(
        ["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"],
        capture_output=True,
        text=True,
        check=False,
    )
    found = []
    for line in proc.stdout.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[1].strip().startswith(base + "/"):
            found.append(parts[0])
    return found


def release(path: Path) -> None:
    """Unmount everything below path and detach its loop devices."""
    for target in mounts_under(path):
        LOGGER.debug("unmounting %s", target)
        proc = subprocess.run(["umount", target], capture_output=True, check=False)
        if proc.returncode != 0:
            subprocess.run(
                ["umount", "--lazy", target], capture_output=True, check=False
            )
    for dev in loops_under(path):
        LOGGER.debug("detaching %s", dev)
        subprocess.run(["losetup", "--detach", dev], capture_output=True, check=False)


def remove(path: Path) -> None:
    """Delete a build directory after releasing its mounts and loops."""
    if not path.exists():
        return
    release(path)
    left = mounts_under(path)
    if left:
        raise TemplateBuildError(f"cannot clean {path}: still mounted: {left[0]}")
    shutil.rmtree(path, ignore_errors=True)


def remove_stale(repo_dir: Path) -> None:
    """Delete build directories left by interrupted builds (caller holds the lock)."""
    for path in repo_dir.glob(PREFIX + "*"):
        if path.is_dir():
            LOGGER.info("removing leftovers of an interrupted build: %s", path)
            remove(path)


@contextlib.contextmanager
def build_dir(repo_dir: Path, name: str) -> Iterator[Path]:
    """A fresh build directory inside the repository (same file system)."""
    path = repo_dir / f"{PREFIX}{name}-{os.getpid()}"
    remove(path)
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        remove(path)
