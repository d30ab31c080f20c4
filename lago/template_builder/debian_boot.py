"""What the ``debian12`` template does not do at boot, to reach sshd sooner.

A test VM runs under software emulation with one vCPU: every unit that runs
before sshd takes CPU from it, so the image skips work nobody needs there.

- the root file system is not checked at boot (fstab pass 0): the disk is a
  throw-away overlay of a freshly built image;
- units masked (``systemctl unmask`` brings one back): the scrub of LVM
  snapshots, debugfs/tracefs, binfmt_misc, hugetlbfs and mqueue mounts, the
  early loads of drm and efi_pstore and the pstore import (a BIOS VM has no
  EFI variables nor pstore backend);
- generators that find nothing to do on this image skipped (each is a
  program systemd runs at every boot and reload): encrypted, integrity and
  verity volumes, hibernation resume, GPT auto-mounts (the disk is MBR);
- a small initramfs: only the drivers of the buses a Lago disk can be on
  (virtio, virtio-scsi, IDE, SATA), lz4 (cheaper to unpack than zstd).
"""

from __future__ import annotations

from pathlib import Path

from .rootfs import place

MASKED_UNITS = [
    "e2scrub_reap.service",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "dev-hugepages.mount",
    "dev-mqueue.mount",
    "modprobe@drm.service",
    "modprobe@efi_pstore.service",
    "systemd-pstore.service",
]
#: a link to /dev/null in /etc/systemd/system-generators masks one
MASKED_GENERATORS = [
    "systemd-cryptsetup-generator",
    "systemd-integritysetup-generator",
    "systemd-veritysetup-generator",
    "systemd-hibernate-resume-generator",
    "systemd-gpt-auto-generator",
]
GENERATOR_DIR = "etc/systemd/system-generators"
#: the root disk's drivers on every bus Lago puts a disk on (ext4 is built in)
INITRAMFS_MODULES = [
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "sd_mod",
    "ata_piix",
    "ata_generic",
    "ahci",
]
INITRAMFS_CONF = "/etc/initramfs-tools/conf.d/lago.conf"
INITRAMFS_LIST = "/etc/initramfs-tools/modules"


def fstab(fs_uuid: str) -> str:
    """The root by UUID, never checked at boot (pass 0)."""
    return f"UUID={fs_uuid}\t/\text4\terrors=remount-ro\t0\t0\n"


def initramfs_conf() -> str:
    return "# Lago: only the listed drivers, lz4\nMODULES=list\nCOMPRESS=lz4\n"


def initramfs_modules() -> str:
    return "# Lago: the root disk's drivers, any bus\n" + "".join(
        f"{name}\n" for name in INITRAMFS_MODULES
    )


def place_initramfs_config(root: Path) -> None:
    """Configure initramfs-tools; the image is made again afterwards."""
    place(root, INITRAMFS_CONF, initramfs_conf())
    place(root, INITRAMFS_LIST, initramfs_modules())


def mask_generators(root: Path) -> None:
    """Link each of ``MASKED_GENERATORS`` to /dev/null under /etc."""
    target = root / GENERATOR_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name in MASKED_GENERATORS:
        link = target / name
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
