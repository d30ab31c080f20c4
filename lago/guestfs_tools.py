"""Reading a stopped VM's disk with libguestfs (read-only).

Used to collect artifacts from VMs that do not run or do not answer SSH. The
disk is opened read-only, its root file system found by inspection (else by
the template's ``root-partition`` hint) and mounted read-only. Directories
come out as a tar stream unpacked by :mod:`lago.safe_tar`, since the image
belongs to the guest and may be crafted.

libguestfs boots a small appliance VM; on a host whose KVM cannot run guests
it must use software emulation (``force_tcg``), or it hangs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from lago.config import config
from lago.errors import LagoException
from lago.plugins.vm import ExtractPathError, ExtractPathNoPathError
from lago.safe_tar import extract_tree, tarfile
from lago.sysprep import libguestfs_env

LOGGER = logging.getLogger(__name__)

#: libguestfs file system types that cannot hold a root file system.
_NOT_ROOT = {"swap", "unknown", "iso9660", "vfat"}


class GuestFSError(LagoException):
    pass


def host_needs_tcg() -> bool:
    """Whether libguestfs must emulate: the libvirt provider's choice of
    domain type, made from this host's KVM device and CPU flags."""
    from lago.providers.libvirt import host

    try:
        cpuinfo = Path(host.CPUINFO).read_text(errors="replace")
    except OSError:
        cpuinfo = ""
    configured = str(config.get("domain_type") or "auto")
    usable = host.device_usable(host.KVM_DEVICE)
    return host.choose_domain_type(configured, usable, cpuinfo) == "qemu"


def _handle(force_tcg: bool | None) -> Any:
    if force_tcg is None:
        force_tcg = host_needs_tcg()
    try:
        import guestfs
    except ImportError as err:
        raise GuestFSError(
            "The libguestfs Python module (python3-guestfs) is not installed"
        ) from err
    conn = guestfs.GuestFS(python_return_dict=True)
    settings = libguestfs_env(force_tcg)
    conn.set_backend(settings["LIBGUESTFS_BACKEND"])
    if "LIBGUESTFS_BACKEND_SETTINGS" in settings:
        conn.set_backend_settings([settings["LIBGUESTFS_BACKEND_SETTINGS"]])
    return conn


@contextlib.contextmanager
def guestfs_conn_ro(
    disk: str, *, force_tcg: bool | None = None, disk_format: str | None = None
) -> Iterator[Any]:
    """A launched libguestfs handle with ``disk`` attached read-only.

    ``force_tcg`` None: decided from this host (:func:`host_needs_tcg`).
    """
    conn = _handle(force_tcg)
    try:
        options: dict[str, Any] = {"readonly": True}
        if disk_format:
            options["format"] = disk_format
        try:
            conn.add_drive_opts(disk, **options)
            conn.launch()
        except RuntimeError as err:
            raise GuestFSError(f"Failed to open {disk} with libguestfs: {err}") from err
        yield conn
    finally:
        with contextlib.suppress(RuntimeError):
            conn.shutdown()
        conn.close()


def find_rootfs(conn: Any, disk_root: str) -> str:
    """The device of the root file system.

    The operating system's root found by inspection; else the file system
    whose device name or label is ``disk_root`` (or contains it); else the
    only file system that could be a root.
    """
    roots = conn.inspect_os()
    if len(roots) == 1:
        return roots[0]
    filesystems = conn.list_filesystems()
    if disk_root in filesystems:
        return disk_root
    labels = {}
    for device in filesystems:
        with contextlib.suppress(RuntimeError):
            labels[device] = conn.vfs_label(device)
    matches = [
        device
        for device in filesystems
        if disk_root in device or disk_root == labels.get(device)
    ]
    if not matches:
        matches = [dev for dev, kind in filesystems.items() if kind not in _NOT_ROOT]
    if len(matches) != 1:
        raise GuestFSError(
            f"No root file system {disk_root!r} could be found among "
            f"{sorted(filesystems)}"
        )
    return matches[0]


@contextlib.contextmanager
def guestfs_conn_mount_ro(
    disk_path: str,
    disk_root: str,
    retries: int = 5,
    wait: float = 1,
    *,
    force_tcg: bool | None = None,
    disk_format: str | None = None,
) -> Iterator[Any]:
    """:func:`guestfs_conn_ro` with the root file system mounted read-only on /."""
    with guestfs_conn_ro(
        disk_path, force_tcg=force_tcg, disk_format=disk_format
    ) as conn:
        rootfs = find_rootfs(conn, disk_root)
        for attempt in range(1, retries + 1):
            try:
                conn.mount_ro(rootfs, "/")
                break
            except RuntimeError as err:
                if attempt == retries:
                    raise GuestFSError(
                        f"Failed to mount {rootfs} of {disk_path}: {err}"
                    ) from err
                LOGGER.debug("Mounting %s failed (%s), retrying", rootfs, err)
                time.sleep(wait)
        try:
            yield conn
        finally:
            with contextlib.suppress(RuntimeError):
                conn.umount_all()


def _copy_path(conn: Any, guest_path: str, host_path: str) -> None:
    """Copy a file, or a directory's contents, from the mounted guest."""
    if conn.is_dir(guest_path, followsymlinks=True):
        with tempfile.TemporaryDirectory(prefix="lago-guestfs-") as scratch:
            archive = os.path.join(scratch, "tree.tar")
            conn.tar_out(guest_path, archive)
            with open(archive, "rb") as stream:
                extract_tree(stream, Path(host_path))
    elif conn.is_file(guest_path, followsymlinks=True):
        # libguestfs resolves the path inside the guest's file system and
        # writes only the file's bytes to the host path we chose
        conn.download(guest_path, host_path)
    else:
        raise ExtractPathNoPathError(
            f"Failed to extract {guest_path}: no such file or directory"
        )


def extract_paths(
    disk_path: str,
    disk_root: str,
    paths: Sequence[tuple[str, str]],
    ignore_nopath: bool,
    *,
    force_tcg: bool | None = None,
    disk_format: str | None = None,
    name: str | None = None,
) -> None:
    """Copy each ``(guest_path, host_path)`` out of the disk image.

    A missing guest path raises :class:`ExtractPathNoPathError` unless
    ``ignore_nopath``. Messages name the disk by ``name`` (e.g. its VM's).
    """
    source = name or disk_path
    with guestfs_conn_mount_ro(
        disk_path, disk_root, force_tcg=force_tcg, disk_format=disk_format
    ) as conn:
        for guest_path, host_path in paths:
            LOGGER.debug("Copying %s from %s to %s", guest_path, disk_path, host_path)
            try:
                _copy_path(conn, guest_path, host_path)
            except ExtractPathNoPathError as err:
                if not ignore_nopath:
                    raise ExtractPathNoPathError(
                        f"Failed to extract {guest_path} from {source}: "
                        "no such file or directory"
                    ) from err
                LOGGER.info("Skipped %s of %s: no such path", guest_path, source)
            except (RuntimeError, OSError, tarfile.TarError) as err:
                raise ExtractPathError(
                    f"Failed to extract {guest_path} from {source}: {err}"
                ) from err
