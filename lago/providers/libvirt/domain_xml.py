"""The libvirt domain XML of a Lago VM spec: records in, text out.

Values reach the XML only through Jinja2 autoescaping (or ElementTree for
the ``<cpu>`` element), so a name with ``<`` or ``&`` cannot break it.
"""

from __future__ import annotations

import functools
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup

from lago.boot_files import CMDLINE, INITRD_FILE, KERNEL_FILE
from lago.errors import InitFileError
from lago.naming import ipv4_to_mac
from lago.providers.libvirt.cpu import CPU, DEFAULT_MEMORY, DEFAULT_VCPU
from lago.providers.libvirt.disk_chain import BackingLayer
from lago.providers.libvirt.host import HostFacts

#: ``/dev/urandom`` as rng backend is accepted since libvirt 2.2.1.
URANDOM_VERSION = 2002001
#: ``<mtu>`` on interfaces and networks exists after libvirt 3.1.1.
MTU_VERSION = 3001001
DEFAULT_MTU = "1500"
#: ``<rom enabled='no'/>`` (no option ROM loaded at all) since libvirt 4.3.0.
ROM_ENABLED_VERSION = 4003000
TEMPLATE = "dom_template-{}.xml.j2"


@dataclass(frozen=True)
class DiskXML:
    """One ``<disk>`` as the templates render it."""

    device: str
    driver: tuple[tuple[str, str], ...]
    serial: int
    source: str
    dev: str
    bus: str
    #: set on the first scsi disk: the virtio-scsi controller goes before it
    scsi_queues: int | None = None
    readonly: bool = False
    #: the backing files, top first, each a ``<backingStore>``; none: libvirt
    #: probes the chain itself
    backing: tuple[BackingLayer, ...] = ()


@dataclass(frozen=True)
class NicXML:
    """One ``<interface>`` as the templates render it."""

    network: str
    mac: str | None
    mtu: str | None
    vhost: bool
    #: how the NIC's boot ROM is turned off: VMs boot from disk, and the
    #: firmware would spend a second of emulated CPU setting up iPXE
    rom_off: tuple[str, str] = ("enabled", "no")


@functools.cache
def template_env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("lago.providers.libvirt", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _template(distro: str | None) -> jinja2.Template:
    env = template_env()
    if distro:
        try:
            return env.get_template(TEMPLATE.format(distro))
        except jinja2.TemplateNotFound:
            pass
    return env.get_template(TEMPLATE.format("base"))


def disk_records(
    disks: list[Mapping[str, Any]],
    vcpu: int,
    backing: Mapping[str, Sequence[BackingLayer]] | None = None,
) -> list[DiskXML]:
    """Bus, driver and controller of each disk, in spec order; ``backing``
    maps a disk's path to its backing chain."""
    records: list[DiskXML] = []
    scsi_seen = False
    for index, disk in enumerate(disks):
        fmt = str(disk.get("format", "qcow2"))
        dev = str(disk["dev"])
        # an ISO named vd* is a read-only virtio disk (the NoCloud seed): no
        # IDE/ATAPI probing by firmware and kernel, which is slow under TCG
        readonly = fmt == "iso" and dev.startswith("vd")
        if readonly:
            device, bus, fmt = "disk", "virtio", "raw"
        elif fmt == "iso":
            device, bus, fmt = "cdrom", "ide", "raw"
        else:
            device, bus = "disk", "virtio"
        if dev.startswith("sd"):
            bus = "scsi"
        driver: tuple[tuple[str, str], ...] = (("name", "qemu"), ("type", fmt))
        if bus == "virtio" and not readonly:
            driver += (
                ("discard", "unmap"),
                ("cache", "writeback"),
                ("iothread", "1"),
                ("queues", "1"),
            )
        elif bus == "scsi":
            driver += (("discard", "unmap"), ("cache", "writeback"))
        first_scsi = bus == "scsi" and not scsi_seen
        scsi_seen = scsi_seen or bus == "scsi"
        records.append(
            DiskXML(
                device=device,
                driver=driver,
                serial=index + 1,
                source=str(disk["path"]),
                dev=dev,
                bus=bus,
                scsi_queues=vcpu if first_scsi else None,
                readonly=readonly,
                backing=tuple((backing or {}).get(str(disk["path"]), ())),
            )
        )
    return records


def nic_records(
    vm_name: str,
    nics: list[Mapping[str, Any]],
    net_names: Mapping[str, str],
    host: HostFacts,
) -> list[NicXML]:
    """Network, MAC and MTU of each NIC, in spec order."""
    records: list[NicXML] = []
    for index, nic in enumerate(nics):
        net = nic.get("net")
        if net not in net_names:
            msg = f"VM {vm_name}: nic {index} names unknown network {net!r}"
            raise InitFileError(msg)
        mtu = str(nic.get("mtu", DEFAULT_MTU))
        records.append(
            NicXML(
                network=net_names[str(net)],
                mac=ipv4_to_mac(nic["ip"]) if nic.get("ip") else None,
                mtu=mtu
                if host.libvirt_version > MTU_VERSION and mtu != DEFAULT_MTU
                else None,
                vhost=host.vhost_net,
                rom_off=("enabled", "no")
                if host.libvirt_version >= ROM_ENABLED_VERSION
                else ("bar", "off"),
            )
        )
    return records


@dataclass(frozen=True)
class DirectBoot:
    """The kernel, initrd and command line qemu boots instead of the disk."""

    kernel: str
    initrd: str
    cmdline: str


def direct_boot(disks: list[Mapping[str, Any]]) -> DirectBoot | None:
    """A direct kernel boot of the boot disk's template, if it has one.

    Only when both files are still in the template store: a pruned store or
    any other image boots from its disk (firmware and boot loader).
    """
    meta = (disks[0].get("metadata") or {}) if disks else {}
    kernel, initrd = meta.get(KERNEL_FILE), meta.get(INITRD_FILE)
    cmdline = meta.get(CMDLINE)
    if not (kernel and initrd and isinstance(cmdline, str)):
        return None
    if not (os.path.isfile(kernel) and os.path.isfile(initrd)):
        return None
    return DirectBoot(str(kernel), str(initrd), cmdline)


def _element_text(element: ET.Element) -> Markup:
    """``element`` serialized (escaped by ElementTree), indented one level."""
    ET.indent(element, space="  ", level=1)
    return Markup(ET.tostring(element, encoding="unicode"))


def domain_xml(
    vm_spec: Mapping[str, Any],
    *,
    libvirt_name: str,
    net_names: Mapping[str, str],
    host: HostFacts,
    serial_log: str | None = None,
    distro: str | None = None,
    backing: Mapping[str, Sequence[BackingLayer]] | None = None,
) -> str:
    """The domain XML of ``vm_spec`` (the saved VM format, paths expanded).

    ``net_names`` maps each Lago network name to its libvirt name;
    ``serial_log`` is where libvirt appends the guest's serial console;
    ``backing`` maps disk paths to their backing chains.
    Raises :class:`InitFileError` for CPU keys or NICs it cannot render.
    """
    cpu = CPU(vm_spec, host)
    vcpu = int(vm_spec.get("vcpu") or DEFAULT_VCPU)
    name = str(vm_spec.get("name", libvirt_name))
    disks = list(vm_spec.get("disks", []))
    return _template(distro).render(
        direct_boot=direct_boot(disks),
        domain_type=host.domain_type,
        name=libvirt_name,
        memory=int(vm_spec.get("memory") or DEFAULT_MEMORY),
        emulator=host.emulator,
        rng_backend="/dev/urandom"
        if host.libvirt_version >= URANDOM_VERSION
        else "/dev/random",
        serial_log=serial_log,
        disks=disk_records(disks, vcpu, backing),
        nics=nic_records(name, list(vm_spec.get("nics", [])), net_names, host),
        cpu=_element_text(cpu.cpu_xml),
        vcpu=_element_text(cpu.vcpu_xml),
    )
