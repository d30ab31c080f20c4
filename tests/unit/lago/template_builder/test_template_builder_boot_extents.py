"""Where the kernel and initrd lie in a built image."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from lago.boot_files import parse_extents
from lago.template_builder import boot_extents


def test_block_runs():
    assert boot_extents.block_runs([5, 6, 7, 10, 11, 3]) == [(5, 3), (10, 2), (3, 1)]
    assert boot_extents.block_runs([]) == []


@pytest.mark.skipif(shutil.which("debugfs") is None, reason="no debugfs")
def test_extents_of_files_in_an_ext4_image(tmp_path):
    tree = tmp_path / "tree"
    (tree / "boot").mkdir(parents=True)
    kernel = bytes(range(256)) * 70  # 17920 bytes: 5 blocks, the last partial
    (tree / "boot/vmlinuz").write_bytes(kernel)
    (tree / "boot/initrd.img").write_bytes(b"initrd" * 10)
    disk = tmp_path / "disk.raw"
    offset = 1 << 20
    disk.write_bytes(b"\0" * (9 << 20))
    subprocess.run(
        ["mkfs.ext4", "-F", "-q", "-b", "4096", "-d", str(tree), "-E",
         f"offset={offset}", str(disk), "8192k"],
        check=True,
    )  # fmt: skip
    meta = boot_extents.boot_metadata(
        disk,
        offset,
        tree,
        {"kernel": "/boot/vmlinuz", "initrd": "/boot/initrd.img"},
        "root=x",
    )
    extents = parse_extents(meta["boot-kernel"])
    assert sum(length for _, length in extents) == len(kernel)
    assert all(start >= offset for start, _ in extents)
    assert boot_extents.read_extents(disk, extents) == kernel
    assert meta["boot-cmdline"] == "root=x"
    assert len(meta["boot-initrd-sha256"]) == 64
