"""The ``tiny`` template: Debian's cloud kernel, busybox and dropbear.

A 1 GiB (virtual) qcow2 disk with an MBR, one ext4 partition labelled
``lago-root`` and extlinux. The kernel boots a small initramfs that loads the
virtio/SCSI/ATA/net/ACPI/iso9660 modules and switches to the ext4 root, where
busybox init runs /etc/init.d/rcS: NoCloud seed, DHCP on every NIC, dropbear
on port 22 (root, key or password 123456), acpid, and the line
``lago-tiny: ready ...`` on ttyS0. No libguestfs is used; root is needed for a
loop mount (extlinux installs only into a mounted file system).
"""

from __future__ import annotations

import gzip
import logging
import os
import stat
import uuid
from pathlib import Path

from . import boot_extents, image, kernel_options, kmod
from .errors import TemplateBuildError
from .rootfs import install_binary, install_busybox, make_dirs, place, place_guest_file
from .util import require_files, require_root, require_tools, run

LOGGER = logging.getLogger(__name__)

NAME = "tiny"
VERSION = "v1"
HANDLE = f"{NAME}-{VERSION}.qcow2"
DISK_BYTES = 1 << 30
FS_LABEL = "lago-root"
DEFAULT_HOSTNAME = "lago-tiny"
ROOT_PASSWORD = "123456"
BUSYBOX = Path("/bin/busybox")
# host binary -> path in the guest
BINARIES = {
    Path("/usr/sbin/dropbear"): "/usr/sbin/dropbear",
    Path("/usr/bin/dropbearkey"): "/usr/bin/dropbearkey",
    Path("/usr/bin/scp"): "/usr/bin/scp",
}
PACKAGES = [
    "busybox-static",
    "dropbear-bin",
    "openssh-client",
    "libc6",
    "libcrypt1",
    "libtomcrypt1",
    "libtommath1",
    "libgmp10",
    "zlib1g",
    "extlinux",
    "syslinux-common",
    "e2fsprogs",
    "cpio",
    "qemu-utils",
    "mount",
]
TOOLS = [
    "mkfs.ext4",
    "debugfs",
    "extlinux",
    "losetup",
    "mount",
    "umount",
    "qemu-img",
    "cpio",
    "ldd",
]
# in load order; dependencies are added from modules.dep, built-ins skipped
MODULES = [
    "virtio_ring",
    "virtio",
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "virtio_blk",
    "scsi_mod",
    "sd_mod",
    "virtio_scsi",
    "libata",
    "ata_piix",
    "ata_generic",
    "ahci",
    "cdrom",
    "sr_mod",
    "failover",
    "net_failover",
    "virtio_net",
    "virtio_rng",
    "button",
    "evdev",
    "isofs",
    "fat",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "nls_utf8",
    "ext4",
]
REQUIRED_MODULES = ["virtio_pci", "virtio_blk", "virtio_net", "ext4"]
INITRAMFS_APPLETS = [
    "sh",
    "mount",
    "umount",
    "insmod",
    "findfs",
    "sleep",
    "cat",
    "switch_root",
    "mkdir",
    "echo",
]
EXCLUDE_FROM_KEY = ("debian.py", "files/debian/*")

ROOT_DIRS = [
    ("bin", 0o755),
    ("sbin", 0o755),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("usr/lib/lago", 0o755),
    ("lib", 0o755),
    ("etc/init.d", 0o755),
    ("etc/dropbear", 0o700),
    ("etc/udhcpc", 0o755),
    ("etc/acpi/PWRF", 0o755),
    ("boot/extlinux", 0o755),
    ("dev", 0o755),
    ("proc", 0o555),
    ("sys", 0o555),
    ("run", 0o755),
    ("tmp", 0o1777),
    ("mnt", 0o755),
    ("home", 0o755),
    ("root", 0o700),
    ("root/.ssh", 0o700),
    ("var/log", 0o755),
    ("var/lib/lago-seed", 0o755),
    ("var/spool", 0o755),
    ("var/tmp", 0o1777),
]


def preflight() -> None:
    """Fail early, with one line, if something the build needs is missing."""
    require_root("the tiny template")
    require_tools(TOOLS)
    require_files([BUSYBOX, image.MBR_BOOT_CODE, *BINARIES])


def cache_inputs() -> tuple[list[str], dict[str, str]]:
    """Packages and parameters that enter the cache key."""
    kernel = kmod.find_cloud_kernel()
    params = {"kernel": kernel.release, "disk_bytes": str(DISK_BYTES)}
    return [*PACKAGES, kernel.package], params


def password_hash(password: str) -> str:
    """A SHA-512 crypt(3) hash, made by busybox's mkpasswd."""
    out = run(
        [BUSYBOX, "mkpasswd", "-m", "sha512"], input_bytes=f"{password}\n".encode()
    )
    hashed = out.strip()
    if not hashed.startswith("$6$"):
        raise TemplateBuildError("busybox mkpasswd gave no SHA-512 hash")
    return hashed


def etc_files(hostname: str, root_hash: str) -> dict[str, tuple[str, int]]:
    """Text files of /etc: path -> (content, mode)."""
    return {
        "/etc/passwd": (
            "root:x:0:0:root:/root:/bin/sh\n"
            "daemon:x:1:1:daemon:/usr/sbin:/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n",
            0o644,
        ),
        "/etc/group": ("root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n", 0o644),
        "/etc/shadow": (
            f"root:{root_hash}:19700:0:99999:7:::\n"
            "daemon:*:19700:0:99999:7:::\nnobody:*:19700:0:99999:7:::\n",
            0o600,
        ),
        "/etc/shells": ("/bin/sh\n/bin/ash\n/bin/bash\n", 0o644),
        "/etc/securetty": ("console\nttyS0\ntty1\n", 0o644),
        "/etc/hostname": (f"{hostname}\n", 0o644),
        "/etc/hosts": (
            f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost\n",
            0o644,
        ),
        "/etc/fstab": (
            f"LABEL={FS_LABEL}\t/\text4\tdefaults\t0\t1\n"
            "proc\t/proc\tproc\tdefaults\t0\t0\n",
            0o644,
        ),
        "/etc/nsswitch.conf": (
            "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n",
            0o644,
        ),
        "/etc/resolv.conf": ("", 0o644),
        "/etc/os-release": (
            'PRETTY_NAME="Lago tiny 1 (busybox on Debian 12)"\nNAME="Lago tiny"\n'
            'VERSION_ID="1"\nVERSION="1"\nID=lago-tiny\nID_LIKE=debian\n',
            0o644,
        ),
        "/etc/issue": ("Lago tiny \\n \\l\n\n", 0o644),
    }


def stage_rootfs(root: Path, kernel: kmod.Kernel) -> None:
    """Populate the root file system tree (without /boot's initramfs)."""
    make_dirs(root, ROOT_DIRS)
    install_busybox(root, BUSYBOX)
    for src, dest in BINARIES.items():
        install_binary(root, src, dest)
    etc = etc_files(DEFAULT_HOSTNAME, password_hash(ROOT_PASSWORD))
    for path, (text, mode) in etc.items():
        place(root, path, text, mode)
    shipped = {
        "/etc/inittab": ("tiny/inittab", 0o644),
        "/etc/init.d/rcS": ("tiny/rcS", 0o755),
        "/etc/init.d/rcK": ("tiny/rcK", 0o755),
        "/etc/profile": ("tiny/profile", 0o644),
        "/etc/udhcpc/default.script": ("tiny/udhcpc.script", 0o755),
        "/etc/acpi/PWRF/00000080": ("tiny/acpi-power", 0o755),
        "/sbin/lago-getty": ("tiny/lago-getty", 0o755),
        "/bin/bash": ("tiny/bash", 0o755),
        "/usr/lib/lago/lago-apply-seed": ("common/lago-apply-seed", 0o755),
        "/usr/lib/lago/lago-seed.awk": ("common/lago-seed.awk", 0o644),
    }
    for dest, (shipped_file, mode) in shipped.items():
        place_guest_file(root, dest, *shipped_file.split("/"), mode=mode)
    (root / "var/run").symlink_to("../run")
    place(root, "/var/log/boot.log", "", 0o644)
    place(root, "/boot/vmlinuz", kernel.vmlinuz.read_bytes(), 0o644)


def stage_initramfs(tree: Path, kernel: kmod.Kernel) -> None:
    """Populate the initramfs tree: busybox, /init and the modules."""
    make_dirs(
        tree,
        [
            ("bin", 0o755),
            ("dev", 0o755),
            ("proc", 0o555),
            ("sys", 0o555),
            ("newroot", 0o755),
            ("lib/modules", 0o755),
        ],
    )
    place(tree, "/bin/busybox", BUSYBOX.read_bytes(), 0o755)
    for applet in INITRAMFS_APPLETS:
        (tree / "bin" / applet).symlink_to("busybox")
    place_guest_file(tree, "/init", "tiny", "init", mode=0o755)
    os.mknod(tree / "dev/console", 0o600 | stat.S_IFCHR, os.makedev(5, 1))
    plan = kmod.load_module_plan(kernel, MODULES, REQUIRED_MODULES)
    names = [kmod.copy_module(kernel, rel, tree / "lib/modules") for rel in plan]
    place(tree, "/lib/modules/load.order", "\n".join(names) + "\n")
    LOGGER.debug("initramfs modules: %s", " ".join(names))


def pack_initramfs(tree: Path, out: Path) -> None:
    """A gzip-compressed newc cpio archive of a tree."""
    entries = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
    listing = ("\n".join(entries) + "\n").encode()
    raw = tree.with_name(tree.name + ".cpio")
    run(
        ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"],
        cwd=tree,
        input_bytes=listing,
        stdout_path=raw,
    )
    with (
        raw.open("rb") as src,
        out.open("wb") as sink,
        gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=9, mtime=0) as dst,
    ):
        dst.write(src.read())
    raw.unlink()


def kernel_cmdline(fs_uuid: str) -> str:
    """The kernel command line, for the boot loader and a direct boot."""
    return (
        f"root=UUID={fs_uuid} rootfstype=ext4 console=tty0 "
        f"console=ttyS0,115200n8 panic=10 {kernel_options.FAST_BOOT} "
        f"{kernel_options.INTERRUPT_LINES}"
    )


def extlinux_conf(fs_uuid: str) -> str:
    """The boot loader's configuration."""
    return (
        "DEFAULT lago\nPROMPT 0\nTIMEOUT 1\nSERIAL 0 115200\n\n"
        "LABEL lago\n"
        "    LINUX /boot/vmlinuz\n"
        "    INITRD /boot/initrd.img\n"
        f"    APPEND {kernel_cmdline(fs_uuid)}\n"
    )


def metadata(kernel: kmod.Kernel) -> dict[str, str]:
    """The template's <handle>.metadata."""
    return {
        "distro": "tiny",
        "root-password": ROOT_PASSWORD,
        "root-partition": "/dev/sda1",
        "seed": "nocloud",
        "os-release-id": "lago-tiny",
        "kernel": kernel.release,
        "ssh-user": "root",
        "ready-line": "lago-tiny: ready",
    }


def build(workdir: Path) -> tuple[Path, dict[str, str]]:
    """Build the image in workdir; return the qcow2 and its metadata."""
    preflight()
    kernel = kmod.find_cloud_kernel()
    LOGGER.info("tiny: kernel %s", kernel.release)
    root = workdir / "root"
    initramfs = workdir / "initramfs"
    root.mkdir()
    initramfs.mkdir()
    stage_rootfs(root, kernel)
    stage_initramfs(initramfs, kernel)
    pack_initramfs(initramfs, root / "boot/initrd.img")
    fs_uuid = str(uuid.uuid4())
    place(root, "/boot/extlinux/extlinux.conf", extlinux_conf(fs_uuid))
    layout = image.Layout(DISK_BYTES)
    raw = workdir / "disk.raw"
    image.create_disk(raw, layout, disk_signature=uuid.UUID(fs_uuid).int & 0xFFFFFFFF)
    image.make_ext4(raw, layout, root, label=FS_LABEL, fs_uuid=fs_uuid)
    image.install_extlinux(raw, layout, workdir / "mnt")
    boot = boot_extents.boot_metadata(
        raw,
        layout.part_offset,
        root,
        {"kernel": "/boot/vmlinuz", "initrd": "/boot/initrd.img"},
        kernel_cmdline(fs_uuid),
    )
    out = workdir / HANDLE
    image.convert_to_qcow2(raw, out)
    raw.unlink()
    return out, {**metadata(kernel), **boot}
