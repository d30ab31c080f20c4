"""Disk snapshots of a VM: the spec bookkeeping and the qcow2 overlay chain.

A snapshot freezes every writable disk of a VM: the file the VM wrote so far
becomes a read-only backing file, and the VM goes on writing to a new qcow2
overlay on top of it. The VM spec keeps the record, as the original did::

    "disks": [{"name": "root", "path": "<overlay>", "format": "qcow2", ...}],
    "snapshots": {"s1": [{"name": "root", "path": "<frozen file>", ...}]}

Reverting replaces the current overlay with a fresh, empty one over the
frozen file, so the same snapshot can be reverted to any number of times.
Nothing here talks to libvirt: the provider decides how the overlay comes to
be (``qemu-img`` for a stopped VM, a libvirt external snapshot for a live one).
"""

from __future__ import annotations

import copy
import logging
import os
import re
from dataclasses import dataclass
from typing import Any

from lago.errors import LagoUserException
from lago.qemu_img import create_overlay

LOGGER = logging.getLogger(__name__)

PREFIX_VAR = "$LAGO_PREFIX_PATH"
#: a snapshot name becomes part of a file name
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


class SnapshotError(LagoUserException):
    """A snapshot cannot be taken or reverted as asked."""

    exit_code = 1


@dataclass(frozen=True)
class DiskLayer:
    """One disk of a snapshot: where the VM writes and what it is frozen on."""

    index: int
    dev: str
    #: the overlay the VM writes to, as saved in the spec and expanded
    saved_path: str
    path: str
    #: the read-only file below it, expanded, and its format
    backing: str
    backing_format: str


def check_name(name: str | None) -> str:
    if not name:
        raise SnapshotError("No snapshot name provided")
    if not NAME_RE.match(name):
        raise SnapshotError(
            f"Invalid snapshot name {name!r}: use letters, digits and . _ + - "
            "(not first: . + -)"
        )
    return name


def check_create_all(specs: list[dict[str, Any]], name: str | None) -> str:
    """Refuse, before any VM is touched, a snapshot that some VM cannot take."""
    name = check_name(name)
    for spec in specs:
        if name in (spec.get("snapshots") or {}):
            raise SnapshotError(f"Snapshot {name} already exists for {spec['name']}")
    return name


def check_revert_all(specs: list[dict[str, Any]], name: str | None) -> str:
    """Refuse, before any VM is touched, a snapshot some VM does not have
    (VMs with no disk of their own, such as ``ssh`` ones, keep none)."""
    if not name:
        raise SnapshotError("No snapshot name provided")
    for spec in specs:
        if snapshot_disks(spec) and name not in (spec.get("snapshots") or {}):
            raise SnapshotError(f"No snapshot {name} for {spec['name']}")
    return name


def snapshot_disks(spec: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """The disks a snapshot covers, with their index: every writable image
    (CD-ROM images, such as the seed ISO, are read-only and stay as they are)."""
    return [
        (index, disk)
        for index, disk in enumerate(spec.get("disks") or [])
        if disk.get("format") != "iso" and disk.get("path")
    ]


def overlay_saved_path(vm_name: str, disk: dict[str, Any], name: str) -> str:
    """Where the layer written after snapshot ``name`` lives (spec form)."""
    label = disk.get("name") or disk.get("dev") or "disk"
    return f"{PREFIX_VAR}/images/{vm_name}_{label}.{name}.qcow2"


def expand(path: str, prefix_path: str) -> str:
    for form in ("${LAGO_PREFIX_PATH}", PREFIX_VAR):
        path = path.replace(form, prefix_path)
    return os.path.abspath(os.path.expandvars(path))


def plan_create(spec: dict[str, Any], name: str, prefix_path: str) -> list[DiskLayer]:
    """The new layers of snapshot ``name``; raises if the name is taken."""
    check_name(name)
    if name in (spec.get("snapshots") or {}):
        raise SnapshotError(f"Snapshot {name} already exists for {spec['name']}")
    taken = _frozen_paths(spec, prefix_path) | {
        expand(disk["path"], prefix_path) for _, disk in snapshot_disks(spec)
    }
    layers = []
    for index, disk in snapshot_disks(spec):
        saved = overlay_saved_path(spec["name"], disk, name)
        if expand(saved, prefix_path) in taken:
            raise SnapshotError(
                f"Snapshot {name} of {spec['name']} would overwrite disk {saved}"
            )
        layers.append(
            DiskLayer(
                index=index,
                dev=disk.get("dev", ""),
                saved_path=saved,
                path=expand(saved, prefix_path),
                backing=expand(disk["path"], prefix_path),
                backing_format=disk.get("format") or "qcow2",
            )
        )
    return layers


def record_create(spec: dict[str, Any], name: str, layers: list[DiskLayer]) -> None:
    """Write snapshot ``name`` into the spec: the frozen disks under
    ``snapshots``, and each disk moved onto its new overlay."""
    frozen = []
    for layer in layers:
        disk = spec["disks"][layer.index]
        frozen.append(copy.deepcopy(disk))
        disk["path"] = layer.saved_path
        disk["format"] = "qcow2"
    spec.setdefault("snapshots", {})[name] = frozen


def _frozen_paths(spec: dict[str, Any], prefix_path: str) -> set[str]:
    return {
        expand(disk["path"], prefix_path)
        for disks in (spec.get("snapshots") or {}).values()
        for disk in disks
    }


def _current_disk(spec: dict[str, Any], frozen: dict[str, Any]) -> int:
    for index, disk in enumerate(spec.get("disks") or []):
        if (disk.get("name"), disk.get("dev")) == (
            frozen.get("name"),
            frozen.get("dev"),
        ):
            return index
    raise SnapshotError(
        f"Snapshot of {spec['name']} names disk {frozen.get('name') or frozen.get('dev')}, "
        "which the VM no longer has"
    )


def plan_revert(spec: dict[str, Any], name: str, prefix_path: str) -> list[DiskLayer]:
    """The fresh layers that bring the VM back to snapshot ``name``."""
    snapshots = spec.get("snapshots") or {}
    if name not in snapshots:
        raise SnapshotError(f"No snapshot {name} for {spec['name']}")
    frozen_files = _frozen_paths(spec, prefix_path)
    layers = []
    for frozen in snapshots[name]:
        index = _current_disk(spec, frozen)
        current = spec["disks"][index]
        layer = DiskLayer(
            index=index,
            dev=current.get("dev", ""),
            saved_path=current["path"],
            path=expand(current["path"], prefix_path),
            backing=expand(frozen["path"], prefix_path),
            backing_format=frozen.get("format") or "qcow2",
        )
        # the file replaced must be a layer of ours, never one a snapshot needs
        if layer.path in frozen_files:
            raise SnapshotError(
                f"Disk {layer.path} of {spec['name']} is frozen by a snapshot, "
                "it cannot be replaced"
            )
        layers.append(layer)
    return layers


def write_overlays(layers: list[DiskLayer], replace: bool = False) -> None:
    """Make each layer's overlay file; ``replace`` drops the old one first."""
    for layer in layers:
        if replace and os.path.lexists(layer.path):
            os.unlink(layer.path)
        create_overlay(layer.path, layer.backing, layer.backing_format)
        reclaim(layer.path)


def discard_overlays(layers: list[DiskLayer]) -> None:
    """Remove overlays made for a snapshot that then failed."""
    for layer in layers:
        try:
            os.unlink(layer.path)
        except FileNotFoundError:
            pass


def reclaim(path: str) -> None:
    """Owner-only, as every image of a VM: libvirt's dynamic ownership gives
    it to the qemu user while the VM runs."""
    try:
        os.chmod(path, 0o600)
    except OSError as err:
        LOGGER.debug("Could not chmod %s: %s", path, err)
