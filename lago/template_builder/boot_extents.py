"""Where a template's kernel and initrd lie inside its disk image.

Under TCG the firmware and the boot loader cost about a CPU-second per boot
(BIOS disk reads of the kernel and initrd). Lago can instead hand the kernel
and initrd to qemu directly; for that it reads them once out of the stored
raw image, at the byte ranges recorded here in the template's metadata. The
disk keeps its boot loader, so the image still boots on its own.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import TemplateBuildError
from .util import run

BLOCK_SIZE = 4096  # mkfs.ext4 picks 4 KiB blocks for the template sizes


def block_runs(blocks: list[int]) -> list[tuple[int, int]]:
    """Consecutive block numbers as (first block, count) runs."""
    runs: list[tuple[int, int]] = []
    for block in blocks:
        if runs and runs[-1][0] + runs[-1][1] == block:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((block, 1))
    return runs


def file_extents(
    disk: Path, part_offset: int, path: str, size: int
) -> list[tuple[int, int]]:
    """(byte offset in the disk, length) of each piece of an ext4 file."""
    out = run(["debugfs", "-R", f"blocks {path}", f"{disk}?offset={part_offset}"])
    try:
        blocks = [int(word) for word in out.split()]
    except ValueError as err:
        raise TemplateBuildError(f"debugfs: cannot list the blocks of {path}") from err
    extents: list[tuple[int, int]] = []
    left = size
    for first, count in block_runs(blocks):
        length = min(count * BLOCK_SIZE, left)
        extents.append((part_offset + first * BLOCK_SIZE, length))
        left -= length
    if left or not extents:
        raise TemplateBuildError(f"debugfs: the blocks of {path} do not hold its data")
    return extents


def read_extents(disk: Path, extents: list[tuple[int, int]]) -> bytes:
    with disk.open("rb") as src:
        parts = []
        for offset, length in extents:
            src.seek(offset)
            parts.append(src.read(length))
    return b"".join(parts)


def format_extents(extents: list[tuple[int, int]]) -> str:
    return ",".join(f"{offset}+{length}" for offset, length in extents)


def boot_metadata(
    disk: Path, part_offset: int, root: Path, files: dict[str, str], cmdline: str
) -> dict[str, str]:
    """Metadata keys for a direct kernel boot of ``disk``.

    ``files`` maps ``kernel``/``initrd`` to their path in the guest; ``root``
    is the staged tree the file system was made from, whose copies are
    compared with what the extents hold.
    """
    meta = {"boot-cmdline": cmdline}
    for role, guest_path in files.items():
        staged = root / guest_path.lstrip("/")
        data = staged.read_bytes()
        extents = file_extents(disk, part_offset, guest_path, len(data))
        if read_extents(disk, extents) != data:
            raise TemplateBuildError(f"the extents of {guest_path} do not match it")
        meta[f"boot-{role}"] = format_extents(extents)
        meta[f"boot-{role}-sha256"] = hashlib.sha256(data).hexdigest()
    return meta
