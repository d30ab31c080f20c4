"""Where the NoCloud seed goes: the first free virtio disk name."""

from __future__ import annotations

from lago.providers.libvirt.vm import seed_dev


def test_seed_takes_the_first_free_vd_name() -> None:
    assert seed_dev([{"dev": "vda"}]) == "vdb"
    assert seed_dev([{"dev": "vda"}, {"dev": "vdb"}, {"dev": "sdc"}]) == "vdc"
    assert seed_dev([{"dev": "sda"}]) == "vdb"


def test_seed_falls_back_to_the_ide_cdrom() -> None:
    disks = [{"dev": f"vd{c}"} for c in "abcdefghijklmnopqrstuvwxyz"]
    assert seed_dev(disks) == "hdc"
