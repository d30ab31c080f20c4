"""Helpers to populate a staging root file system tree."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from .errors import TemplateBuildError
from .util import run

LOGGER = logging.getLogger(__name__)

_LDD_ARROW = re.compile(r"^\s*\S+\s+=>\s+(/\S+)\s+\(0x[0-9a-f]+\)\s*$")
_LDD_PLAIN = re.compile(r"^\s*(/\S+)\s+\(0x[0-9a-f]+\)\s*$")


def guest_file(*parts: str) -> bytes:
    """The content of a guest-side file shipped under files/."""
    node = resources.files(__package__).joinpath("files", *parts)
    try:
        return node.read_bytes()
    except OSError as err:
        name = "/".join(parts)
        raise TemplateBuildError(f"builder file files/{name} missing") from err


def place(root: Path, dest: str, data: bytes | str, mode: int = 0o644) -> Path:
    """Write a file into the tree (dest is absolute inside the guest)."""
    target = root / dest.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data.encode() if isinstance(data, str) else data)
    os.chmod(target, mode)
    return target


def place_guest_file(root: Path, dest: str, *parts: str, mode: int = 0o644) -> Path:
    """Copy a shipped guest-side file into the tree."""
    return place(root, dest, guest_file(*parts), mode)


def make_dirs(root: Path, dirs: Iterable[tuple[str, int]]) -> None:
    """Create directories with explicit modes."""
    for name, mode in dirs:
        path = root / name.lstrip("/")
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)


def parse_ldd(output: str) -> list[str]:
    """Absolute library paths from ldd output (the vDSO is left out)."""
    libs = []
    for line in output.splitlines():
        if "not found" in line:
            raise TemplateBuildError(f"ldd: missing library: {line.strip()}")
        match = _LDD_ARROW.match(line) or _LDD_PLAIN.match(line)
        if match:
            libs.append(match.group(1))
    return libs


def shared_libraries(binary: Path) -> list[str]:
    """The shared libraries a dynamically linked binary needs."""
    try:
        out = subprocess.run(
            ["ldd", str(binary)], capture_output=True, text=True, check=False
        ).stdout
    except FileNotFoundError as err:
        raise TemplateBuildError("ldd not found (install libc-bin)") from err
    if "not a dynamic executable" in out:
        return []
    return parse_ldd(out)


def install_binary(root: Path, src: Path, dest: str | None = None) -> list[str]:
    """Copy a binary and the libraries it needs, at the same paths; return them."""
    target = dest or str(src)
    place(root, target, src.read_bytes(), 0o755)
    copied = [target]
    for lib in shared_libraries(src):
        lib_target = root / lib.lstrip("/")
        if not lib_target.exists():
            lib_target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(lib, lib_target)  # follows symlinks: the real file
            os.chmod(lib_target, 0o755)
        copied.append(lib)
    return copied


def busybox_applets(busybox: Path) -> list[str]:
    """Applet paths (e.g. ``bin/ash``) of a busybox binary."""
    out = run([busybox, "--list-full"])
    return [ln.strip() for ln in out.splitlines() if ln.strip() and "/" in ln]


def install_busybox(
    root: Path, busybox: Path, only: Iterable[str] | None = None
) -> None:
    """Copy busybox to /bin/busybox and link its applets (or only some)."""
    place(root, "/bin/busybox", busybox.read_bytes(), 0o755)
    wanted = set(only) if only is not None else None
    for applet in busybox_applets(busybox):
        if wanted is not None and applet.rsplit("/", 1)[-1] not in wanted:
            continue
        link = root / applet
        if link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")
