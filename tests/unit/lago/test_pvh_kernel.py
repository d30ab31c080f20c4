import gzip
import lzma
import shutil
import subprocess

import pytest

from lago import pvh_kernel
from tests.unit.lago.kernel_images import PLAIN_ELF, PVH_ELF, bzimage, sized


def test_the_pvh_note_is_found_among_others():
    assert pvh_kernel.has_pvh_entry(PVH_ELF)
    assert not pvh_kernel.has_pvh_entry(PLAIN_ELF)
    assert not pvh_kernel.has_pvh_entry(b"MZ" + PVH_ELF[2:])


@pytest.mark.parametrize(
    "compress",
    [gzip.compress, lambda data: sized(data, lzma.compress(data, lzma.FORMAT_XZ))],
    ids=["gzip", "xz"],
)
def test_vmlinux_is_written_from_a_bzimage(tmp_path, compress):
    dest = tmp_path / "vmlinux"
    assert pvh_kernel.write_vmlinux(bzimage(compress(PVH_ELF)), dest)
    assert dest.read_bytes() == PVH_ELF


@pytest.mark.skipif(shutil.which("lz4") is None, reason="no lz4 tool")
def test_lz4_payload_goes_through_the_tool(tmp_path):
    legacy = subprocess.run(
        ["lz4", "-l", "-c"], input=PVH_ELF, capture_output=True, check=True
    ).stdout
    dest = tmp_path / "vmlinux"
    assert pvh_kernel.write_vmlinux(bzimage(sized(PVH_ELF, legacy)), dest)
    assert dest.read_bytes() == PVH_ELF


@pytest.mark.parametrize(
    "image",
    [
        bzimage(gzip.compress(PLAIN_ELF)),  # no PVH entry
        bzimage(b"BZh9" + b"\0" * 40),  # a compression it does not know
        bzimage(b"\x1f\x8b" + b"\0" * 40),  # broken gzip
        b"\0" * 4096,  # not a bzImage at all
    ],
    ids=["no-pvh-note", "unknown-compression", "broken-gzip", "not-bzimage"],
)
def test_no_vmlinux_leaves_no_file(tmp_path, image):
    dest = tmp_path / "vmlinux"
    assert not pvh_kernel.write_vmlinux(image, dest)
    assert not dest.exists()


def test_a_missing_tool_means_no_vmlinux(tmp_path, monkeypatch):
    monkeypatch.setattr(pvh_kernel.shutil, "which", lambda name: None)
    dest = tmp_path / "vmlinux"
    payload = sized(PVH_ELF, b"\x28\xb5\x2f\xfd" + b"\0" * 16)
    assert not pvh_kernel.write_vmlinux(bzimage(payload), dest)
    assert not dest.exists()
