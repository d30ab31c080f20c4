"""Facts about the libvirt host, probed once per connection URI.

The domain type (``kvm`` or ``qemu``/TCG) is chosen here: a machine may have
``/dev/kvm`` yet no ``vmx``/``svm`` CPU flag, where a KVM guest never boots.
"""

from __future__ import annotations

import logging
import os
import threading
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from lago.errors import ConfigError, LagoUserException

LOGGER = logging.getLogger(__name__)

DOMAIN_TYPES = ("auto", "kvm", "qemu")
KVM_DEVICE = "/dev/kvm"
VHOST_NET_DEVICE = "/dev/vhost-net"
CPUINFO = "/proc/cpuinfo"
CPU_MAP_DIR = "/usr/share/libvirt"
#: Model vendor when the cpu map names none (qemu64, pentium, ...).
GENERIC_VENDOR = "generic"


class HostProbeError(LagoUserException):
    """The libvirt host cannot run Lago's x86_64 guests."""


@dataclass(frozen=True)
class HostFacts:
    """What the XML builders need to know about the libvirt host."""

    domain_type: str
    emulator: str
    libvirt_version: int
    cpu_vendor: str | None = None
    cpu_features: frozenset[str] = frozenset()
    #: CPU model name -> vendor (``Intel``, ``AMD``, ... or ``generic``).
    cpu_models_vendor: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False
    )
    vhost_net: bool = False
    cpu_model: str | None = None


def choose_domain_type(
    configured: str,
    kvm_device_usable: bool,
    cpuinfo_text: str,
    *,
    kvm_offered: bool = True,
) -> str:
    """``kvm`` or ``qemu`` for the config value ``domain_type``.

    ``auto`` means KVM only when the device is usable, the CPU shows ``vmx``
    or ``svm`` and libvirt offers a kvm domain; ``kvm``/``qemu`` are forced.
    """
    value = str(configured).strip().lower()
    if value not in DOMAIN_TYPES:
        allowed = ", ".join(DOMAIN_TYPES)
        msg = f"Invalid value for domain_type: {configured!r} (allowed: {allowed})"
        raise ConfigError(msg)
    if value != "auto":
        return value
    flags = _cpu_flags(cpuinfo_text)
    return (
        "kvm"
        if kvm_device_usable and flags & {"vmx", "svm"} and kvm_offered
        else "qemu"
    )


def _cpu_flags(cpuinfo_text: str) -> set[str]:
    flags: set[str] = set()
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    return flags


def device_usable(path: str) -> bool:
    """Whether we may open the character device ``path`` read-write."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _models_of(root: ET.Element, vendors: dict[str, str]) -> None:
    parents: dict[str, str] = {}
    for model in root.findall("model"):
        name = model.get("name")
        vendor, base = model.find("vendor"), model.find("model")
        if not name:
            continue
        if vendor is not None:
            vendors[name] = vendor.get("name", GENERIC_VENDOR)
        elif base is not None:
            # the old single-file map lets a model inherit from another
            parents[name] = base.get("name", "")
        else:
            vendors[name] = GENERIC_VENDOR
    for name, parent in parents.items():
        vendors[name] = vendors.get(parent, GENERIC_VENDOR)


def load_cpu_models_vendor(cpu_map_dir: str = CPU_MAP_DIR) -> dict[str, str]:
    """x86 CPU model -> vendor, from libvirt's ``cpu_map`` (new or old layout)."""
    vendors: dict[str, str] = {}
    base = Path(cpu_map_dir)
    try:
        index = base / "cpu_map" / "index.xml"
        if index.exists():
            for arch in ET.parse(index).getroot().iter("arch"):
                if arch.get("name") != "x86":
                    continue
                for include in arch.iter("include"):
                    path = index.parent / include.get("filename", "")
                    _models_of(ET.parse(path).getroot(), vendors)
        elif (base / "cpu_map.xml").exists():
            for arch in ET.parse(base / "cpu_map.xml").getroot().iter("arch"):
                if arch.get("name") == "x86":
                    _models_of(arch, vendors)
    except (OSError, ET.ParseError) as err:
        LOGGER.warning("Cannot read libvirt's CPU map under %s: %s", cpu_map_dir, err)
    return vendors


def find_emulator(caps: ET.Element, domain_type: str) -> str:
    """The x86_64 hvm emulator for ``domain_type`` in capabilities XML."""
    for guest in caps.iter("guest"):
        if guest.findtext("os_type") != "hvm":
            continue
        arch = guest.find("arch[@name='x86_64']")
        if arch is None:
            continue
        specific = arch.findtext(f"domain[@type='{domain_type}']/emulator")
        if specific:
            return specific
        generic = arch.findtext("emulator")
        if generic:
            if domain_type == "kvm":
                LOGGER.warning("hardware acceleration not available")
            return generic
    msg = f"{domain_type} executable not found: libvirt offers no x86_64 hvm emulator"
    raise HostProbeError(msg)


def _kvm_offered(caps: ET.Element) -> bool:
    return any(
        guest.findtext("os_type") == "hvm"
        and guest.find("arch[@name='x86_64']/domain[@type='kvm']") is not None
        for guest in caps.iter("guest")
    )


_CACHE: dict[tuple[str, str], HostFacts] = {}
_CACHE_LOCK = threading.Lock()


def probe_host(
    conn: Any,
    configured: str = "auto",
    *,
    kvm_device: str = KVM_DEVICE,
    vhost_device: str = VHOST_NET_DEVICE,
    cpuinfo: str = CPUINFO,
    cpu_map_dir: str = CPU_MAP_DIR,
) -> HostFacts:
    """The :class:`HostFacts` of ``conn``'s host, computed once per URI.

    The device and cpuinfo checks look at this machine: right for the local
    ``qemu:///system``, the only kind of URL the original supported.
    """
    key = (conn.getURI(), str(configured))
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        caps = ET.fromstring(conn.getCapabilities())
        domain_type = choose_domain_type(
            configured,
            device_usable(kvm_device),
            _read_text(cpuinfo),
            kvm_offered=_kvm_offered(caps),
        )
        host_cpu = caps.find("host/cpu")
        facts = HostFacts(
            domain_type=domain_type,
            emulator=find_emulator(caps, domain_type),
            libvirt_version=int(conn.getLibVersion()),
            cpu_vendor=host_cpu.findtext("vendor") if host_cpu is not None else None,
            cpu_features=frozenset(
                feature.get("name", "")
                for feature in (
                    host_cpu.iter("feature") if host_cpu is not None else ()
                )
            ),
            cpu_models_vendor=MappingProxyType(load_cpu_models_vendor(cpu_map_dir)),
            vhost_net=device_usable(vhost_device),
            cpu_model=host_cpu.findtext("model") if host_cpu is not None else None,
        )
        _log_choice(key[0], configured, facts)
        _CACHE[key] = facts
        return facts


def _log_choice(uri: str, configured: str, facts: HostFacts) -> None:
    if facts.domain_type == "kvm":
        why = "hardware virtualization"
    elif str(configured).strip().lower() == "qemu":
        why = "software emulation, as configured"
    else:
        why = "software emulation: /dev/kvm unusable or no vmx/svm CPU flag"
    LOGGER.info("libvirt at %s: domain type %s (%s)", uri, facts.domain_type, why)


def clear_cache() -> None:
    """Forget probed hosts (tests, or after the daemon changed)."""
    with _CACHE_LOCK:
        _CACHE.clear()
