"""Where the NoCloud seed goes: the virtio disk name after every other."""

from __future__ import annotations

from lago.providers.libvirt.vm import seed_dev


def test_seed_comes_after_every_virtio_disk() -> None:
    assert seed_dev([{"dev": "vda"}]) == "vdb"
    assert seed_dev([{"dev": "vda"}, {"dev": "vdb"}, {"dev": "sdc"}]) == "vdc"
    # a guest names virtio disks in order: the seed must not come first
    assert seed_dev([{"dev": "sda"}, {"dev": "vdc"}]) == "vdd"
    assert seed_dev([{"dev": "sda"}]) == "vda"


def test_seed_falls_back_to_the_ide_cdrom() -> None:
    disks = [{"dev": f"vd{c}"} for c in "abcdefghijklmnopqrstuvwxyz"]
    assert seed_dev(disks) == "hdc"
