"""What the debian12 image skips at boot: fsck, units, a big initramfs."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from lago.template_builder import debian, debian_boot

#: what a user of a Debian VM relies on, and what sshd needs
KEPT = [
    "systemd-journald.service",
    "systemd-logind.service",
    "systemd-networkd.service",
    "systemd-resolved.service",
    "systemd-udevd.service",
    "dbus.service",
    "ssh.service",
    "serial-getty@ttyS0.service",
    "getty@tty1.service",
    "kmod-static-nodes.service",
    "modprobe@fuse.service",
    "modprobe@configfs.service",
]
#: generators that do work on this image (fstab, the serial getty, sysv scripts)
KEPT_GENERATORS = [
    "systemd-fstab-generator",
    "systemd-getty-generator",
    "systemd-sysv-generator",
]


def test_the_root_is_not_checked_at_boot() -> None:
    fields = debian_boot.fstab("1234-abcd").split()
    assert fields == ["UUID=1234-abcd", "/", "ext4", "errors=remount-ro", "0", "0"]


@pytest.mark.parametrize("unit", KEPT)
def test_what_users_rely_on_is_not_masked(unit: str) -> None:
    assert unit not in debian_boot.MASKED_UNITS


@pytest.mark.parametrize("generator", KEPT_GENERATORS)
def test_generators_with_work_here_run(generator: str) -> None:
    assert generator not in debian_boot.MASKED_GENERATORS


def test_the_initramfs_lists_every_bus_a_disk_can_be_on() -> None:
    conf = debian_boot.initramfs_conf().splitlines()
    assert "MODULES=list" in conf and "COMPRESS=lz4" in conf
    listed = debian_boot.initramfs_modules().splitlines()
    for driver in ("virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "ata_piix"):
        assert driver in listed
    assert "lz4" in debian.INCLUDE


def test_configure_masks_the_units_and_remakes_the_initramfs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    (root / "boot").mkdir(parents=True)
    (root / "boot/vmlinuz-6.1.0-9-cloud-amd64").write_bytes(b"k")
    (root / "boot/initrd.img-6.1.0-9-cloud-amd64").write_bytes(b"i")
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(
        debian, "chroot", lambda _root, *args, **_kw: calls.append(args)
    )
    monkeypatch.setattr(debian, "chroot_mounts", lambda _root: contextlib.nullcontext())

    release = debian.configure(root, "http://mirror.example/debian", "u-u-i-d")

    assert release == "6.1.0-9-cloud-amd64"
    mask = next(c for c in calls if c[:2] == ("systemctl", "mask"))
    assert set(debian_boot.MASKED_UNITS) <= set(mask[2:])
    remake = calls.index(("update-initramfs", "-u", "-k", "all"))
    assert remake > calls.index(mask)
    assert (root / "etc/fstab").read_text() == debian_boot.fstab("u-u-i-d")
    generators = root / debian_boot.GENERATOR_DIR
    for name in debian_boot.MASKED_GENERATORS:
        assert os.readlink(generators / name) == "/dev/null"
    dropin = (root / "etc/systemd/system/ssh.service.d/50-lago.conf").read_text()
    lines = dropin.splitlines()
    # the config test is reset away, and sshd serves connections without re-exec
    assert "ExecStartPre=" in lines
    assert "ExecStart=/usr/sbin/sshd -D -r $SSHD_OPTS" in lines
    conf = root / debian_boot.INITRAMFS_CONF.lstrip("/")
    assert conf.read_text() == debian_boot.initramfs_conf()
