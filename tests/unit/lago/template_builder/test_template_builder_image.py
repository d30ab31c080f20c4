"""MBR layout and partition offsets."""

import struct

import pytest

from lago.template_builder import image


def test_layout_offsets():
    layout = image.Layout(1 << 30)
    assert layout.part_offset == 1 << 20
    assert layout.total_sectors == 2097152
    assert layout.part_sectors == 2097152 - 2048
    assert layout.part_bytes == (1 << 30) - (1 << 20)


@pytest.mark.parametrize("size", [1000, 2048 * 512])
def test_bad_layouts(size):
    with pytest.raises(ValueError):
        image.Layout(size)


@pytest.mark.parametrize(
    ("lba", "expected"),
    [
        (0, bytes((0, 1, 0))),  # C0 H0 S1
        (2048, bytes((32, 33, 0))),  # the usual first partition
        (63, bytes((1, 1, 0))),
        (255 * 63, bytes((0, 1, 1))),  # cylinder 1
        (1023 * 255 * 63, bytes((0, 1 | 0xC0, 0xFF))),
        (1024 * 255 * 63, bytes((0xFE, 0xFF, 0xFF))),
    ],
)
def test_chs(lba, expected):
    assert image.chs(lba) == expected


def test_mbr_tail():
    layout = image.Layout(1 << 30)
    tail = image.mbr_tail(layout, 0x12345678)
    assert len(tail) == 72
    assert struct.unpack_from("<I", tail, 0)[0] == 0x12345678
    entry = tail[6:22]
    assert entry[0] == 0x80 and entry[4] == 0x83
    start, count = struct.unpack_from("<II", entry, 8)
    assert (start, count) == (2048, layout.part_sectors)
    assert tail[22:70] == bytes(48)
    assert tail[-2:] == b"\x55\xaa"


def test_create_disk(tmp_path):
    boot = tmp_path / "mbr.bin"
    boot.write_bytes(b"\xeb" * 440)
    disk = tmp_path / "disk.raw"
    layout = image.Layout(64 << 20)
    image.create_disk(disk, layout, 1, boot_code=boot)
    data = disk.read_bytes()
    assert len(data) == 64 << 20
    assert data[:440] == b"\xeb" * 440
    assert data[510:512] == b"\x55\xaa"
    assert struct.unpack_from("<I", data, 446 + 8)[0] == 2048
