"""Snapshots of local-libvirt VMs, running or stopped.

Lago's domains are transient, so libvirt cannot keep snapshot metadata for
them: a running VM gets a disk-only *external* snapshot without metadata
(libvirt makes the overlays and moves the live disks onto them), a stopped
VM gets its overlays from ``qemu-img``. Either way the record lives in the VM
spec (see :mod:`lago.snapshots`), and reverting never needs libvirt's help.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from typing import Any

from lago import snapshots
from lago.plugins.vm import VMError

LOGGER = logging.getLogger(__name__)

#: seconds a guest agent gets to answer a ping
AGENT_TIMEOUT = 10


def snapshot_xml(
    name: str, layers: list[snapshots.DiskLayer], disks: list[dict[str, Any]]
) -> str:
    """A ``<domainsnapshot>`` naming every disk: the covered ones get their new
    overlay file, the others (CD-ROMs) are left out explicitly."""
    root = ET.Element("domainsnapshot")
    ET.SubElement(root, "name").text = name
    ET.SubElement(root, "description").text = f"Lago snapshot {name}"
    disks_el = ET.SubElement(root, "disks")
    covered = {layer.index: layer for layer in layers}
    for index, disk in enumerate(disks):
        layer = covered.get(index)
        if layer is None:
            ET.SubElement(disks_el, "disk", name=disk["dev"], snapshot="no")
            continue
        disk_el = ET.SubElement(
            disks_el, "disk", name=layer.dev, snapshot="external", type="file"
        )
        ET.SubElement(disk_el, "driver", type="qcow2")
        ET.SubElement(disk_el, "source", file=layer.path)
    return ET.tostring(root, encoding="unicode")


def agent_answers(dom: Any) -> bool:
    """Whether the guest agent inside the domain answers a ping."""
    import libvirt
    import libvirt_qemu

    try:
        libvirt_qemu.qemuAgentCommand(
            dom, json.dumps({"execute": "guest-ping"}), AGENT_TIMEOUT, 0
        )
    except libvirt.libvirtError as err:
        LOGGER.debug("No guest agent in %s: %s", dom.name(), err)
        return False
    return True


def flush_guest(vm: Any, dom: Any) -> bool:
    """Make the guest's writes reach its disks; True if the snapshot can
    quiesce (freeze the filesystems) through the guest agent."""
    if agent_answers(dom):
        LOGGER.info("Quiescing %s through its guest agent", vm.name())
        return True
    LOGGER.info("%s has no guest agent: flushing its disks with sync", vm.name())
    vm.wait_for_ssh()
    vm.ssh(["sync"], show_output=False)
    return False


def snapshot_flags(quiesce: bool) -> int:
    """A disk-only external snapshot, atomic, that libvirt keeps no record of
    (the domains are transient); quiesced through the agent if it answers."""
    import libvirt

    flags = (
        libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
        | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
        | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
    )
    if quiesce:
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE
    return flags


def create_live(provider: Any, name: str) -> None:
    """Snapshot ``name`` of a running VM: flush, then an external snapshot."""
    import libvirt

    vm = provider.vm
    layers = snapshots.plan_create(vm.spec, name, provider.prefix_path())
    dom = provider._get_domain()
    if dom is None:
        raise VMError(f"VM {vm.name()} is not running, cannot take snapshot {name}")
    flags = snapshot_flags(quiesce=flush_guest(vm, dom))
    xml = snapshot_xml(name, layers, vm.spec["disks"])
    LOGGER.debug("Snapshot XML of %s: %s", vm.name(), xml)
    try:
        dom.snapshotCreateXML(xml, flags)
    except libvirt.libvirtError as err:
        snapshots.discard_overlays(layers)
        message = str(err).strip().splitlines()[0]
        raise VMError(
            f"Failed to take snapshot {name} of {vm.name()}: {message}"
        ) from err
    for layer in layers:
        snapshots.reclaim(layer.path)
    _record(vm, name, layers)


def create_dead(provider: Any, name: str) -> None:
    """Snapshot ``name`` of a stopped VM: its overlays come from qemu-img."""
    vm = provider.vm
    layers = snapshots.plan_create(vm.spec, name, provider.prefix_path())
    try:
        snapshots.write_overlays(layers)
    except BaseException:
        snapshots.discard_overlays(layers)
        raise
    _record(vm, name, layers)


def _record(vm: Any, name: str, layers: list[snapshots.DiskLayer]) -> None:
    snapshots.record_create(vm.spec, name, layers)
    vm.save()


def create(provider: Any, name: str) -> None:
    """Snapshot ``name`` of the provider's VM, live or not; the spec is saved."""
    if provider.defined():
        create_live(provider, name)
    else:
        create_dead(provider, name)


def revert(provider: Any, name: str) -> None:
    """Bring the VM's disks back to snapshot ``name``; a running VM is
    powered off for it and started again."""
    vm = provider.vm
    layers = snapshots.plan_revert(vm.spec, name, provider.prefix_path())
    was_running = provider.defined()
    if was_running:
        provider.stop()
    snapshots.write_overlays(layers, replace=True)
    if was_running:
        provider.start()
