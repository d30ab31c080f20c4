"""The ``debian12`` template: a real Debian 12 (bookworm) made with debootstrap.

``debootstrap --variant=minbase`` with systemd, udev, OpenSSH (root login by
key or password 123456), python3, the cloud kernel, systemd-networkd (DHCP on
every NIC) with systemd-resolved, and qemu-guest-agent; serial console on
ttyS0; extlinux on an MBR disk with one ext4 partition; compressed qcow2.
``lago-seed.service`` applies the same NoCloud seed subset as tiny before the
network and sshd start (and makes the VM's own SSH host keys), and
``lago-ready.service`` writes ``lago-debian12: ready ...`` to ttyS0. What
the image skips at boot (fsck, units, generators, most of the initramfs) is
in ``debian_boot``.
Downloads go through the host's Debian mirror and are cached in
/var/cache/lago/debootstrap. Takes minutes; only built when asked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

from . import boot_extents, debian_boot, image, kernel_options, workspace
from .errors import TemplateBuildError
from .rootfs import place, place_guest_file
from .util import require_files, require_root, require_tools, run

LOGGER = logging.getLogger(__name__)

NAME = "debian12"
VERSION = "v1"
HANDLE = f"{NAME}-{VERSION}.qcow2"
SUITE = "bookworm"
DISK_BYTES = 4 << 30
FS_LABEL = "lago-root"
DEFAULT_HOSTNAME = "lago-debian12"
ROOT_PASSWORD = "123456"
CACHE_DIR = Path("/var/cache/lago/debootstrap")
INCLUDE = [
    "systemd-sysv",
    "udev",
    "dbus",
    "kmod",
    "iproute2",
    "iputils-ping",
    "procps",
    "openssh-server",
    "openssh-sftp-server",
    "python3",
    "linux-image-cloud-amd64",
    "initramfs-tools",
    "systemd-resolved",
    "qemu-guest-agent",
    "less",
    "lz4",
]
HOST_PACKAGES = [
    "debootstrap",
    "extlinux",
    "syslinux-common",
    "e2fsprogs",
    "qemu-utils",
    "debian-archive-keyring",
]
TOOLS = [
    "debootstrap",
    "chroot",
    "mkfs.ext4",
    "debugfs",
    "extlinux",
    "losetup",
    "mount",
    "umount",
    "qemu-img",
]
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
EXCLUDE_FROM_KEY = ("tiny.py", "files/tiny/*")
CHROOT_ENV = {
    "DEBIAN_FRONTEND": "noninteractive",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
}


def cache_inputs() -> tuple[list[str], dict[str, str]]:
    """Packages and parameters that enter the cache key."""
    params = {
        "suite": SUITE,
        "include": ",".join(INCLUDE),
        "disk_bytes": str(DISK_BYTES),
    }
    return list(HOST_PACKAGES), params


def _source_uris(texts: list[str], suite: str) -> Iterator[str]:
    """The http(s) URIs of apt sources serving ``suite``, in file order.

    Reads both one-line ``deb URI SUITE COMPONENTS`` entries and deb822
    stanzas (``URIs:``/``Suites:``).
    """
    for text in texts:
        for line in text.splitlines():
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 3 and fields[0] == "deb":
                rest = [f for f in fields[1:] if not f.startswith("[")]
                if len(rest) >= 2 and rest[1] == suite and _http(rest[0]):
                    yield rest[0].rstrip("/")
        for stanza in re.split(r"\n\s*\n", text):
            values = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ")):
                    key, _, value = line.partition(":")
                    values[key.strip().lower()] = value.split()
            types, suites = values.get("types", []), values.get("suites", [])
            if "deb" not in types or suite not in suites:
                continue
            for uri in values.get("uris", []):
                if _http(uri):
                    yield uri.rstrip("/")


def _http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def mirror_from_sources(texts: list[str], suite: str = SUITE) -> str | None:
    """The first plain (not security) Debian mirror serving ``suite``."""
    plain = (uri for uri in _source_uris(texts, suite) if "security" not in uri)
    return next(plain, None)


def security_from_sources(texts: list[str], suite: str = SUITE) -> str | None:
    """The first source of ``<suite>-security`` updates, if the host has one."""
    return next(_source_uris(texts, f"{suite}-security"), None)


def _host_sources() -> list[str]:
    texts = []
    for path in [
        Path("/etc/apt/sources.list"),
        *sorted(Path("/etc/apt/sources.list.d").glob("*.list")),
        *sorted(Path("/etc/apt/sources.list.d").glob("*.sources")),
    ]:
        with contextlib.suppress(OSError):
            texts.append(path.read_text())
    return texts


def host_mirror() -> str:
    """``$LAGO_DEBIAN_MIRROR``, else the host's apt mirror of the suite.

    No mirror host is built in: without either, the build stops here.
    """
    override = os.environ.get("LAGO_DEBIAN_MIRROR")
    if override:
        return override.rstrip("/")
    mirror = mirror_from_sources(_host_sources())
    if mirror is None:
        raise TemplateBuildError(
            f"no Debian mirror for {SUITE}: set LAGO_DEBIAN_MIRROR or add the "
            "suite to the host's apt sources"
        )
    return mirror


def host_security_mirror() -> str | None:
    """``$LAGO_DEBIAN_SECURITY_MIRROR``, else the host's security source."""
    override = os.environ.get("LAGO_DEBIAN_SECURITY_MIRROR")
    if override:
        return override.rstrip("/")
    return security_from_sources(_host_sources())


def check_mirror(mirror: str, timeout: float = 20) -> None:
    """Fail with one line unless the mirror serves the suite's Release file."""
    url = f"{mirror}/dists/{SUITE}/Release"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            reply.read(64)
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise TemplateBuildError(
            f"Debian mirror not reachable: {url} ({reason})"
        ) from err


def preflight() -> None:
    require_root("the debian12 template")
    require_tools(TOOLS)
    require_files([image.MBR_BOOT_CODE, KEYRING])


def chroot(root: Path, *args: str, input_text: str | None = None) -> str:
    """Run a command inside the chroot."""
    return run(
        ["chroot", root, *args],
        env=CHROOT_ENV,
        input_bytes=input_text.encode() if input_text is not None else None,
    )


@contextlib.contextmanager
def chroot_mounts(root: Path) -> Iterator[None]:
    """/proc, /sys, /dev and /dev/pts of the host inside the chroot."""
    try:
        for fstype, src, target, opts in (
            ("proc", "proc", "proc", None),
            ("sysfs", "sysfs", "sys", None),
            (None, "/dev", "dev", "bind"),
            ("devpts", "devpts", "dev/pts", "gid=5,mode=620,newinstance"),
        ):
            args: list[str | os.PathLike[str]] = ["mount"]
            if opts == "bind":
                args += ["--bind", src, root / target]
            else:
                args += ["-t", str(fstype)]
                if opts:
                    args += ["-o", opts]
                args += [src, root / target]
            (root / target).mkdir(parents=True, exist_ok=True)
            run(args)
        yield
    finally:
        for target in ("dev/pts", "dev", "sys", "proc"):
            workspace.release(root / target)


def debootstrap(root: Path, mirror: str) -> None:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    LOGGER.info("debian12: debootstrap %s from %s (minutes)", SUITE, mirror)
    run(
        [
            "debootstrap",
            "--variant=minbase",
            "--merged-usr",
            f"--keyring={KEYRING}",
            f"--include={','.join(INCLUDE)}",
            f"--cache-dir={CACHE_DIR}",
            SUITE,
            root,
            mirror,
        ],
        timeout=3600,
    )


def kernel_release(root: Path) -> str:
    found = sorted((root / "boot").glob("vmlinuz-*"))
    if not found:
        raise TemplateBuildError("debootstrap installed no kernel in /boot")
    release = found[-1].name.removeprefix("vmlinuz-")
    if not (root / "boot" / f"initrd.img-{release}").is_file():
        raise TemplateBuildError(f"no initramfs for kernel {release}")
    return release


def configure(
    root: Path, mirror: str, fs_uuid: str, security: str | None = None
) -> str:
    """Configure the installed system; return its kernel release."""
    hostname = DEFAULT_HOSTNAME
    place(root, "/etc/hostname", f"{hostname}\n")
    place(
        root,
        "/etc/hosts",
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n",
    )
    place(root, "/etc/fstab", debian_boot.fstab(fs_uuid))
    place(
        root,
        "/etc/apt/sources.list",
        f"deb {mirror} {SUITE} main\ndeb {mirror} {SUITE}-updates main\n"
        + (f"deb {security} {SUITE}-security main\n" if security else ""),
    )
    shipped = {
        "/etc/ssh/sshd_config.d/50-lago.conf": ("50-lago-sshd.conf", 0o644),
        "/etc/systemd/system/ssh.service.d/50-lago.conf": (
            "50-lago-ssh-service.conf",
            0o644,
        ),
        "/etc/systemd/network/50-lago-dhcp.network": ("50-lago-dhcp.network", 0o644),
        "/etc/systemd/system/lago-seed.service": ("lago-seed.service", 0o644),
        "/etc/systemd/system/lago-ready.service": ("lago-ready.service", 0o644),
        "/usr/lib/lago/lago-ready": ("lago-ready", 0o755),
        "/usr/lib/lago/lago-host-keys": ("lago-host-keys", 0o755),
        "/etc/systemd/system/lago-host-key-rsa.service": (
            "lago-host-key-rsa.service",
            0o644,
        ),
    }
    for dest, (src, mode) in shipped.items():
        place_guest_file(root, dest, "debian", src, mode=mode)
    place_guest_file(
        root, "/usr/lib/lago/lago-apply-seed", "common", "lago-apply-seed", mode=0o755
    )
    place_guest_file(root, "/usr/lib/lago/lago-seed.awk", "common", "lago-seed.awk")
    with chroot_mounts(root):
        chroot(root, "chpasswd", input_text=f"root:{ROOT_PASSWORD}\n")
        chroot(
            root,
            "systemctl",
            "enable",
            "systemd-networkd",
            "systemd-resolved",
            "lago-seed.service",
            "lago-ready.service",
            "lago-host-key-rsa.service",
            "ssh.service",
        )
        chroot(
            root,
            "systemctl",
            "mask",
            "systemd-networkd-wait-online.service",
            "systemd-firstboot.service",
            *debian_boot.MASKED_UNITS,
        )
        debian_boot.mask_generators(root)
        debian_boot.place_initramfs_config(root)
        chroot(root, "update-initramfs", "-u", "-k", "all")
    release = kernel_release(root)
    place(root, "/boot/extlinux/extlinux.conf", extlinux_conf(release, fs_uuid))
    scrub(root)
    return release


def scrub(root: Path) -> None:
    """Remove what must not be shared by every VM made from the image."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    place(root, "/etc/machine-id", "")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    for pattern in (
        "var/cache/apt/archives/*.deb",
        "var/cache/apt/*.bin",
        "var/lib/apt/lists/*_*",
        "var/log/*.log",
        "tmp/*",
    ):
        for path in root.glob(pattern):
            if path.is_file() or path.is_symlink():
                path.unlink()
    resolv = root / "etc/resolv.conf"
    if not resolv.is_symlink():
        resolv.unlink(missing_ok=True)
        resolv.symlink_to("../run/systemd/resolve/stub-resolv.conf")


def kernel_cmdline(fs_uuid: str) -> str:
    """The kernel command line, for the boot loader and a direct boot."""
    return (
        f"root=UUID={fs_uuid} ro console=tty0 console=ttyS0,115200n8 "
        f"{kernel_options.FAST_BOOT}"
    )


def extlinux_conf(release: str, fs_uuid: str) -> str:
    return (
        "DEFAULT debian\nPROMPT 0\nTIMEOUT 1\nSERIAL 0 115200\n\n"
        "LABEL debian\n"
        f"    LINUX /boot/vmlinuz-{release}\n"
        f"    INITRD /boot/initrd.img-{release}\n"
        f"    APPEND {kernel_cmdline(fs_uuid)}\n"
    )


def metadata(release: str) -> dict[str, str]:
    return {
        "distro": "debian",
        "root-password": ROOT_PASSWORD,
        "root-partition": "/dev/sda1",
        "seed": "nocloud",
        "os-release-id": "debian",
        "kernel": release,
        "ssh-user": "root",
        "ready-line": "lago-debian12: ready",
    }


def build(workdir: Path) -> tuple[Path, dict[str, str]]:
    """Build the image in workdir; return the qcow2 and its metadata."""
    preflight()
    mirror = host_mirror()
    check_mirror(mirror)
    root = workdir / "root"
    root.mkdir()
    debootstrap(root, mirror)
    fs_uuid = str(uuid.uuid4())
    release = configure(root, mirror, fs_uuid, host_security_mirror())
    if workspace.mounts_under(root):
        raise TemplateBuildError(f"{root} still has mounts after configuration")
    layout = image.Layout(DISK_BYTES)
    raw = workdir / "disk.raw"
    image.create_disk(raw, layout, disk_signature=uuid.UUID(fs_uuid).int & 0xFFFFFFFF)
    LOGGER.info("debian12: making the file system")
    image.make_ext4(raw, layout, root, label=FS_LABEL, fs_uuid=fs_uuid)
    image.install_extlinux(raw, layout, workdir / "mnt")
    boot = boot_extents.boot_metadata(
        raw,
        layout.part_offset,
        root,
        {"kernel": f"/boot/vmlinuz-{release}", "initrd": f"/boot/initrd.img-{release}"},
        kernel_cmdline(fs_uuid),
    )
    out = workdir / HANDLE
    LOGGER.info("debian12: compressing the image")
    image.convert_to_qcow2(raw, out)
    raw.unlink()
    return out, {**metadata(release), **boot}
