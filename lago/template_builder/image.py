"""Partitioned disk helpers: MBR math, ext4 at an offset, extlinux, qcow2.

The disks made here have one primary partition starting at 1 MiB and running
to the end of the disk, an MBR with syslinux's boot code, and an ext4 file
system made with ``mkfs.ext4 -d`` straight into the partition's byte range
(``-E offset=``), so no partition device nodes (which need udev) are used.
``extlinux --install`` needs the file system mounted: it is mounted through a
loop device with an offset.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lago import qemu_img

from .errors import TemplateBuildError
from .util import run

LOGGER = logging.getLogger(__name__)

SECTOR = 512
MIB = 1 << 20
MBR_BOOT_CODE = Path("/usr/lib/EXTLINUX/mbr.bin")
BOOT_CODE_SIZE = 440
HEADS = 255
SECTORS_PER_TRACK = 63
LINUX_PARTITION = 0x83
# syslinux 6.04 reads ext4 but not every new feature: keep the classic layout
EXT4_FEATURES = "^64bit,^metadata_csum_seed,^orphan_file"


@dataclass(frozen=True)
class Layout:
    """A disk with one partition from start_sector to the end of the disk."""

    disk_bytes: int
    start_sector: int = 2048

    def __post_init__(self) -> None:
        if self.disk_bytes % SECTOR:
            raise ValueError("disk size must be a multiple of 512")
        if self.disk_bytes // SECTOR <= self.start_sector:
            raise ValueError("disk too small for its partition")

    @property
    def total_sectors(self) -> int:
        return self.disk_bytes // SECTOR

    @property
    def part_sectors(self) -> int:
        return self.total_sectors - self.start_sector

    @property
    def part_offset(self) -> int:
        """Byte offset of the partition."""
        return self.start_sector * SECTOR

    @property
    def part_bytes(self) -> int:
        return self.part_sectors * SECTOR


def chs(lba: int) -> bytes:
    """The 3-byte CHS address of an LBA (255 heads, 63 sectors/track).

    Addresses past cylinder 1023 are given as the customary FE FF FF.
    """
    cylinder = lba // (HEADS * SECTORS_PER_TRACK)
    if cylinder > 1023:
        return bytes((0xFE, 0xFF, 0xFF))
    head = (lba // SECTORS_PER_TRACK) % HEADS
    sector = lba % SECTORS_PER_TRACK + 1
    return bytes((head, sector | ((cylinder >> 2) & 0xC0), cylinder & 0xFF))


def partition_entry(
    start: int, sectors: int, bootable: bool = True, part_type: int = LINUX_PARTITION
) -> bytes:
    """One 16-byte MBR partition entry."""
    return (
        bytes((0x80 if bootable else 0x00,))
        + chs(start)
        + bytes((part_type,))
        + chs(start + sectors - 1)
        + struct.pack("<II", start, sectors)
    )


def mbr_tail(layout: Layout, disk_signature: int) -> bytes:
    """Bytes 440..511 of the MBR: signature, partition table, 0x55AA."""
    entries = partition_entry(layout.start_sector, layout.part_sectors)
    entries += bytes(16 * 3)
    tail = struct.pack("<IH", disk_signature & 0xFFFFFFFF, 0) + entries + b"\x55\xaa"
    assert len(tail) == SECTOR - BOOT_CODE_SIZE
    return tail


def create_disk(
    path: Path, layout: Layout, disk_signature: int, boot_code: Path = MBR_BOOT_CODE
) -> None:
    """A sparse raw disk with syslinux's MBR and one bootable partition."""
    code = boot_code.read_bytes()
    if len(code) > BOOT_CODE_SIZE:
        raise TemplateBuildError(f"{boot_code} is larger than {BOOT_CODE_SIZE} bytes")
    with path.open("wb") as disk:
        disk.truncate(layout.disk_bytes)
        disk.seek(0)
        disk.write(code.ljust(BOOT_CODE_SIZE, b"\0"))
        disk.write(mbr_tail(layout, disk_signature))


def make_ext4(
    disk: Path,
    layout: Layout,
    source: Path,
    *,
    label: str,
    fs_uuid: str,
    extra: Sequence[str] = (),
) -> None:
    """mkfs.ext4 into the partition, populated from a directory tree."""
    run(
        [
            "mkfs.ext4",
            "-F",
            "-q",
            "-t",
            "ext4",
            "-L",
            label,
            "-U",
            fs_uuid,
            "-O",
            EXT4_FEATURES,
            "-m",
            "1",
            "-d",
            source,
            "-E",
            f"offset={layout.part_offset}",
            *extra,
            disk,
            f"{layout.part_bytes // 1024}k",
        ]
    )


@contextlib.contextmanager
def loop_device(disk: Path, offset: int, size: int) -> Iterator[str]:
    """Attach a byte range of a file to a free loop device."""
    dev = run(
        [
            "losetup",
            "--find",
            "--show",
            "--offset",
            str(offset),
            "--sizelimit",
            str(size),
            disk,
        ]
    ).strip()
    if not dev.startswith("/dev/loop"):
        raise TemplateBuildError(f"losetup gave an unexpected device: {dev!r}")
    try:
        yield dev
    finally:
        run(["losetup", "--detach", dev])


@contextlib.contextmanager
def mounted(dev: str, mountpoint: Path, fstype: str = "ext4") -> Iterator[Path]:
    """Mount a device for the duration of the block."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    run(["mount", "-t", fstype, dev, mountpoint])
    try:
        yield mountpoint
    finally:
        run(["sync", "-f", mountpoint])
        run(["umount", mountpoint])


@contextlib.contextmanager
def mounted_partition(disk: Path, layout: Layout, mountpoint: Path) -> Iterator[Path]:
    """Mount the disk's partition through a loop device with an offset."""
    with (
        loop_device(disk, layout.part_offset, layout.part_bytes) as dev,
        mounted(dev, mountpoint) as mnt,
    ):
        yield mnt


def install_extlinux(
    disk: Path, layout: Layout, mountpoint: Path, boot_dir: str = "boot/extlinux"
) -> None:
    """Install extlinux's ldlinux.sys into the partition's boot_dir."""
    with mounted_partition(disk, layout, mountpoint) as mnt:
        target = mnt / boot_dir
        if not (target / "extlinux.conf").is_file():
            raise TemplateBuildError(f"no {boot_dir}/extlinux.conf in the image")
        run(["extlinux", "--install", target])


def convert_to_qcow2(raw: Path, out: Path, compress: bool = True) -> None:
    """Convert a raw disk to (compressed) qcow2."""
    run(
        qemu_img.convert_command(
            raw,
            out,
            "raw",
            "qcow2",
            options=["compat=1.1"],
            compress=compress,
            quiet=True,
        )
    )
