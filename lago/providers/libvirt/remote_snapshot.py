"""Snapshots of VMs whose disks are volumes in a pool of a remote host.

The bookkeeping is :mod:`lago.snapshots`' (the spec records the frozen
disks), only the overlays differ: a stopped VM's new layers are qcow2
volumes made by the host's libvirt over the frozen volumes; a running VM
gets a disk-only external snapshot whose files qemu writes into the pool's
directory on the host, which the pool then picks up. Reverting deletes the
current layer's volume and makes it again over the frozen one.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from lago import snapshots
from lago.plugins.vm import VMError
from lago.providers.libvirt import pool as lvpool
from lago.providers.libvirt import snapshot as lvsnapshot
from lago.providers.libvirt.remote_disks import PrefixStorage

LOGGER = logging.getLogger(__name__)


def plan_create(
    spec: dict[str, Any], name: str, storage: PrefixStorage
) -> list[snapshots.DiskLayer]:
    """The new layers of snapshot ``name``: volumes of the prefix's pool."""
    snapshots.check_create_all([spec], name)
    pool = storage.pool()
    pool_dir = lvpool.pool_path(pool)
    layers = []
    for index, disk in snapshots.snapshot_disks(spec):
        label = disk.get("name") or disk.get("dev") or "disk"
        volume = f"{spec['name']}_{label}.{name}.qcow2"
        if lvpool.lookup_volume(pool, volume) is not None:
            raise snapshots.SnapshotError(
                f"Snapshot {name} of {spec['name']} would overwrite volume {volume}"
            )
        path = os.path.join(pool_dir, volume)
        layers.append(
            snapshots.DiskLayer(
                index=index,
                dev=disk.get("dev", ""),
                saved_path=path,
                path=path,
                backing=disk["path"],
                backing_format=disk.get("format") or "qcow2",
            )
        )
    return layers


def _make_volumes(storage: PrefixStorage, layers: list[snapshots.DiskLayer]) -> None:
    """Each layer as a new qcow2 volume over its backing volume."""
    pool = storage.pool()
    for layer in layers:
        capacity = int(lvpool.volume_by_path(storage.conn, layer.backing).info()[1])
        xml = lvpool.volume_xml(
            os.path.basename(layer.path),
            capacity,
            "qcow2",
            backing=(layer.backing, layer.backing_format),
        )
        lvpool.create_volume(pool, xml, storage.host)


def _discard(storage: PrefixStorage, layers: list[snapshots.DiskLayer]) -> None:
    pool = storage.pool()
    lvpool.refresh(pool)
    for layer in layers:
        vol = lvpool.lookup_volume(pool, os.path.basename(layer.path))
        if vol is not None:
            lvpool.delete_volume(vol)


def _record(vm: Any, name: str, layers: list[snapshots.DiskLayer]) -> None:
    snapshots.record_create(vm.spec, name, layers)
    for layer in layers:
        vm.spec["disks"][layer.index]["volume"] = os.path.basename(layer.path)
    vm.save()


def create(provider: Any, storage: PrefixStorage, name: str) -> None:
    """Snapshot ``name`` of the provider's VM, running or not."""
    import libvirt

    vm = provider.vm
    layers = plan_create(vm.spec, name, storage)
    dom = provider._get_domain()
    try:
        if dom is None:
            _make_volumes(storage, layers)
        else:
            flags = lvsnapshot.snapshot_flags(lvsnapshot.flush_guest(vm, dom))
            xml = lvsnapshot.snapshot_xml(name, layers, vm.spec["disks"])
            try:
                dom.snapshotCreateXML(xml, flags)
            except libvirt.libvirtError as err:
                msg = f"Failed to take snapshot {name} of {vm.name()}: {lvpool.reason(err)}"
                raise VMError(msg) from err
            lvpool.refresh(storage.pool())  # the files qemu made become volumes
    except BaseException:
        _discard(storage, layers)
        raise
    _record(vm, name, layers)


def revert(provider: Any, storage: PrefixStorage, name: str) -> None:
    """The VM's disks back to snapshot ``name``; a running VM is powered off
    for it and started again."""
    vm = provider.vm
    layers = snapshots.plan_revert(vm.spec, name, "/")
    was_running = provider.defined()
    if was_running:
        provider.stop()
    pool = storage.pool()
    for layer in layers:
        old = lvpool.lookup_volume(pool, os.path.basename(layer.path))
        if old is not None:
            lvpool.delete_volume(old)
    _make_volumes(storage, layers)
    if was_running:
        provider.start()
