"""Bootstrap many seedless disks in one libguestfs appliance.

Booting an appliance is the whole cost (tens of seconds under software
emulation), so every disk of an environment is added to one handle, each
guest's root is found and mounted in turn, and :mod:`lago.guest_prep` writes
its files. No full OS inspection: it reads every file system's fstab with
augeas and costs more than the appliance's boot, and clones of one template
share labels and UUIDs, which makes its mount points wrong for all but one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from lago import guest_prep
from lago.errors import LagoException
from lago.guest_prep import GuestSpec

LOGGER = logging.getLogger(__name__)

#: File systems a Linux root can be on.
LINUX_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "jfs", "reiserfs"})
#: Clones of one btrfs share its fsid, which the kernel takes for one file
#: system on many devices: such a root is only mounted in an appliance alone.
ALONE_FILESYSTEMS = frozenset({"btrfs"})
#: Disks per appliance; libguestfs allows more, but each costs appliance memory.
MAX_DISKS = 32
#: Appliance memory: enough for its kernel and page cache, plus a bit per disk.
BASE_MEMSIZE_MB = 384
MEMSIZE_PER_DISK_MB = 8


class BootstrapError(LagoException):
    pass


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _describe(guests: Sequence[GuestSpec]) -> str:
    return ", ".join(f"{guest.vm} ({guest.disk})" for guest in guests)


def default_handle_factory() -> Any:
    import guestfs

    return guestfs.GuestFS(python_return_dict=True, close_on_exit=False)


def memsize_for(disks: int) -> int:
    return BASE_MEMSIZE_MB + MEMSIZE_PER_DISK_MB * disks


def open_handle(
    factory: Callable[[], Any], guests: Sequence[GuestSpec], force_tcg: bool
) -> Any:
    """A launched appliance with every guest's disk added, in order."""
    g = factory()
    # set on the handle, so nothing leaks into the user's environment; a
    # backend the user chose (LIBGUESTFS_BACKEND) is kept, as virt-sysprep's
    g.set_backend(os.environ.get("LIBGUESTFS_BACKEND") or "direct")
    if force_tcg:
        # without it, an appliance on a host whose KVM cannot run guests hangs
        settings = list(g.get_backend_settings())
        if "force_tcg" not in settings:
            g.set_backend_settings([*settings, "force_tcg"])
    g.set_memsize(memsize_for(len(guests)))
    if LOGGER.isEnabledFor(logging.DEBUG):
        g.set_trace(True)
        _forward_events(g)
    for guest in guests:
        options = {"format": guest.disk_format} if guest.disk_format else {}
        g.add_drive_opts(guest.disk, **options)
    g.launch()
    return g


def _forward_events(g: Any) -> None:
    import guestfs

    def forward(event: int, handle: int, buf: Any, array: Any) -> None:
        text = buf.decode(errors="replace") if isinstance(buf, bytes) else str(buf)
        for line in text.splitlines():
            LOGGER.debug("libguestfs: %s", line)

    g.set_event_callback(forward, guestfs.EVENT_LIBRARY | guestfs.EVENT_TRACE)


def _partitions_by_device(g: Any) -> dict[str, list[str]]:
    parts: dict[str, list[str]] = {device: [] for device in g.list_devices()}
    for part in g.list_partitions():
        parts.setdefault(g.part_to_dev(part), []).append(part)
    return parts


def _root_fstab(g: Any) -> str | None:
    """The fstab of the file system at ``/`` if it is a Linux root, else None."""
    fstab = guest_prep.read_if_file(g, "/etc/fstab")
    if fstab is not None:
        return fstab
    return "" if g.is_file("/etc/os-release") else None


def mount_root(
    g: Any, candidates: Sequence[str], alone: bool = False
) -> tuple[str, str] | None:
    """Mount at ``/`` (read-write) the first candidate holding a Linux root.

    Mounted read-write straight away: each mount runs a program in the
    appliance, which costs under software emulation. Returns the device
    and its fstab.
    """
    kinds = LINUX_FILESYSTEMS | ALONE_FILESYSTEMS if alone else LINUX_FILESYSTEMS
    for device in candidates:
        try:
            if g.vfs_type(device) not in kinds:
                continue
            g.mount(device, "/")
        except RuntimeError as err:
            LOGGER.debug("not a root: %s: %s", device, err)
            continue
        fstab = _root_fstab(g)
        if fstab is not None:
            return device, fstab
        g.umount_all()
    return None


def fstab_device(fstab: str, mountpoint: str) -> str | None:
    for line in fstab.splitlines():
        fields = line.split()
        if (
            len(fields) >= 2
            and not fields[0].startswith("#")
            and fields[1] == mountpoint
        ):
            return fields[0]
    return None


def _resolve(g: Any, spec: str, partitions: Sequence[str]) -> str | None:
    """The partition of this disk that an fstab device names.

    Clones share UUIDs and labels, so only this disk's partitions are
    looked at; a ``/dev/xdaN`` name maps to partition N of this disk.
    """
    for key, getter in (("UUID=", g.vfs_uuid), ("LABEL=", g.vfs_label)):
        if spec.startswith(key):
            wanted = spec[len(key) :].strip('"')
            return next((p for p in partitions if getter(p) == wanted), None)
    for key, getter in (
        ("/dev/disk/by-uuid/", g.vfs_uuid),
        ("/dev/disk/by-label/", g.vfs_label),
    ):
        if spec.startswith(key):
            wanted = spec[len(key) :]
            return next((p for p in partitions if getter(p) == wanted), None)
    number = spec.rstrip("/").rsplit("/", 1)[-1].lstrip("abcdefghijklmnopqrstuvwxyz")
    if spec.startswith("/dev/") and number.isdigit():
        return next(
            (p for p in partitions if g.part_to_partnum(p) == int(number)), None
        )
    return None


def mount_boot(g: Any, root: str, fstab: str, partitions: Sequence[str]) -> None:
    """Mount the guest's own ``/boot`` if fstab has it on another partition."""
    boot = fstab_device(fstab, "/boot")
    if boot:
        device = _resolve(g, boot, partitions)
        if device and device != root:
            g.mount(device, "/boot")


def prepare_guests(g: Any, guests: Sequence[GuestSpec], alone: bool) -> list[GuestSpec]:
    """Apply every guest's steps; return those whose root was not found.

    Logical volumes are only looked at when the disk is alone: clones of
    one template carry the same volume group, which the appliance can
    activate from one disk only.
    """
    devices = _partitions_by_device(g)
    missing: list[GuestSpec] = []
    for guest, device in zip(guests, list(devices)):
        partitions = devices[device]
        candidates = [*partitions] or [device]
        if alone:
            candidates += list(g.lvs())
        found = mount_root(g, candidates, alone)
        if found is None:
            missing.append(guest)
            continue
        root, fstab = found
        LOGGER.debug("%s: root of %s is %s", guest.vm, guest.disk, root)
        try:
            mount_boot(g, root, fstab, partitions)
            guest_prep.apply(g, guest, _password_hash(guest))
            g.umount_all()
        except (RuntimeError, LagoException) as err:
            LOGGER.debug("bootstrap of %s failed", guest.vm, exc_info=True)
            raise BootstrapError(
                f"Failed to bootstrap VM {guest.vm} disk {guest.disk}: {_first_line(err)}"
            ) from err
    return missing


def _password_hash(guest: GuestSpec) -> str | None:
    return (
        guest_prep.hash_password(guest.root_password) if guest.root_password else None
    )


@contextmanager
def appliance(
    guests: Sequence[GuestSpec], force_tcg: bool, factory: Callable[[], Any]
) -> Iterator[Any]:
    """A launched handle for ``guests``; shut down (flushing writes) on exit."""
    try:
        g = open_handle(factory, guests, force_tcg)
    except RuntimeError as err:
        LOGGER.debug("libguestfs launch failed", exc_info=True)
        raise BootstrapError(
            f"Failed to bootstrap {_describe(guests)}: libguestfs: {_first_line(err)}"
        ) from err
    try:
        yield g
        try:
            g.shutdown()
        except RuntimeError as err:
            raise BootstrapError(
                f"Failed to bootstrap {_describe(guests)}: writing the disks back: "
                f"{_first_line(err)}"
            ) from err
    finally:
        g.close()


def bootstrap_batch(
    guests: Sequence[GuestSpec], force_tcg: bool, factory: Callable[[], Any]
) -> list[GuestSpec]:
    """One appliance for ``guests``; returns those whose root it did not find."""
    with appliance(guests, force_tcg, factory) as g:
        return prepare_guests(g, guests, alone=len(guests) == 1)


def bootstrap_guests(
    guests: Sequence[GuestSpec],
    force_tcg: bool = False,
    factory: Callable[[], Any] | None = None,
) -> None:
    """Bootstrap every guest, :data:`MAX_DISKS` per appliance.

    A disk whose root a shared appliance did not find (a root on LVM, or
    none at all) gets an appliance of its own before giving up on it.
    """
    factory = factory or default_handle_factory
    missing: list[GuestSpec] = []
    for start in range(0, len(guests), MAX_DISKS):
        missing += bootstrap_batch(
            guests[start : start + MAX_DISKS], force_tcg, factory
        )
    for guest in missing:
        if len(guests) > 1 and not bootstrap_batch([guest], force_tcg, factory):
            continue
        raise BootstrapError(
            f"Failed to bootstrap VM {guest.vm} disk {guest.disk}: "
            "no Linux root file system found on it"
        )
