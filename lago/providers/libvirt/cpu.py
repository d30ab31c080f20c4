"""The ``<cpu>`` and ``<vcpu>`` elements of a Lago domain.

Three ways, as the user docs describe: ``cpu_model`` (an exact model),
``cpu_custom`` (the ``<cpu>`` element written as a dict) or neither (the
host's CPU under KVM, the most TCG can emulate under ``qemu``).
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from typing import Any

import xmltodict

from lago.errors import InitFileError
from lago.providers.libvirt.cpu_map import LibvirtCPU, create_xml_map
from lago.providers.libvirt.host import GENERIC_VENDOR, HostFacts

LOGGER = logging.getLogger(__name__)

__all__ = ["CPU", "LibvirtCPU", "create_xml_map", "numa_cells", "numa_xml"]

DEFAULT_VCPU = 2
#: MiB, the original template's memory when the spec names none.
DEFAULT_MEMORY = 16384
#: ``<cpu mode='maximum'>`` exists since libvirt 7.1.0.
MAXIMUM_MODE_VERSION = 7001000
#: Only these vendors have a virtualization flag worth requiring.
VIRT_FLAGS = {"Intel": "vmx", "AMD": "svm"}


class CPU:
    """The CPU of one VM spec on one host; raises :class:`InitFileError`.

    ``host_cpu`` is what is known of the host (:class:`HostFacts`: its
    domain type, CPU vendor and features, libvirt's model list).
    """

    def __init__(self, spec: Mapping[str, Any], host_cpu: HostFacts) -> None:
        self.host_cpu = host_cpu
        self.host = host_cpu
        self.vcpu_set = spec.get("vcpu") is not None
        self.vcpu_explicit = self.vcpu_set
        self.vcpu_num = int(spec["vcpu"]) if self.vcpu_set else DEFAULT_VCPU
        # the original crashed in its NUMA code on a VM without memory
        self.memory = int(spec.get("memory") or DEFAULT_MEMORY)
        self.cpu_model: str | None = spec.get("cpu_model")
        self.cpu_custom: Any = spec.get("cpu_custom")
        self.validate()
        self._cpu_xml = self.generate_cpu_xml()
        self._vcpu_xml = self.generate_vcpu_xml(self.vcpu_num)

    def __iter__(self) -> Iterator[ET.Element]:
        return iter((self._cpu_xml, self._vcpu_xml))

    def validate(self) -> None:
        if self.cpu_model and self.cpu_custom:
            msg = "Defining both cpu_model and cpu_custom is not supported."
            raise InitFileError(msg)

    @property
    def cpu_xml(self) -> ET.Element:
        return self._cpu_xml

    @property
    def vcpu_xml(self) -> ET.Element:
        return self._vcpu_xml

    @property
    def model(self) -> str | None:
        """The named guest CPU model, if any (none for passthrough/maximum)."""
        return self._cpu_xml.findtext("model")

    @property
    def vendor(self) -> str | None:
        if self.model:
            return self.host.cpu_models_vendor.get(self.model, GENERIC_VENDOR)
        if self._cpu_xml.get("mode") == "host-passthrough":
            return self.host.cpu_vendor
        return None

    # -- the element builders (the original's public names) ----------------
    def generate_cpu_xml(self) -> ET.Element:
        if self.cpu_custom:
            return self.generate_custom(
                self.cpu_custom, self.vcpu_num, fill_topology=self.vcpu_set
            )
        if self.cpu_model:
            return self.generate_exact(self.cpu_model, self.vcpu_num, self.host_cpu)
        if self.host.domain_type == "kvm":
            return self.generate_host_passthrough(self.vcpu_num)
        if self.host.libvirt_version >= MAXIMUM_MODE_VERSION:
            # TCG has no host CPU to pass through: give it all it can emulate
            cpu = ET.Element("cpu", mode="maximum", migratable="on")
        else:
            # before libvirt 7.1 there is no 'maximum': a model every TCG runs
            cpu = ET.Element("cpu", mode="custom", match="exact")
            ET.SubElement(cpu, "model", fallback="allow").text = "qemu64"
        return self._with_layout(cpu, self.vcpu_num)

    def generate_vcpu_xml(self, vcpu_num: int) -> ET.Element:
        return self.generate_vcpu(vcpu_num)

    def generate_vcpu(self, vcpu_num: int) -> ET.Element:
        vcpu = ET.Element("vcpu")
        vcpu.text = str(vcpu_num)
        return vcpu

    def generate_host_passthrough(self, vcpu_num: int) -> ET.Element:
        cpu = ET.Element("cpu", mode="host-passthrough")
        return self._with_layout(cpu, vcpu_num)

    def _with_layout(self, cpu: ET.Element, vcpu_num: int) -> ET.Element:
        cpu.append(self.generate_topology(vcpu_num))
        if vcpu_num > 1:
            cpu.append(self.generate_numa(vcpu_num))
        return cpu

    def generate_topology(
        self, vcpu_num: int, cores: int = 1, threads: int = 1
    ) -> ET.Element:
        return ET.Element(
            "topology", sockets=str(vcpu_num), cores=str(cores), threads=str(threads)
        )

    def generate_numa(self, vcpu_num: int) -> ET.Element:
        return numa_xml(vcpu_num, self.memory)

    def generate_feature(self, name: str, policy: str = "require") -> ET.Element:
        return ET.Element("feature", policy=policy, name=name)

    def generate_exact(
        self, model: str, vcpu_num: int, host_cpu: HostFacts
    ) -> ET.Element:
        vendors = host_cpu.cpu_models_vendor
        if model not in vendors:
            msg = f"No such CPU family: {model}"
            raise InitFileError(msg)
        cpu = ET.Element("cpu", match="exact")
        ET.SubElement(cpu, "model").text = model
        cpu.append(self.generate_topology(vcpu_num))
        flag = VIRT_FLAGS.get(host_cpu.cpu_vendor or "")
        # TCG emulates no vmx, so requiring it there would only be refused
        if (
            host_cpu.domain_type == "kvm"
            and flag
            and vendors[model] == host_cpu.cpu_vendor
            and flag in host_cpu.cpu_features
        ):
            cpu.append(self.generate_feature(flag))
        return cpu

    def generate_custom(
        self, cpu: Any, vcpu_num: int, fill_topology: bool
    ) -> ET.Element:
        try:
            if not isinstance(cpu, Mapping):
                raise TypeError("cpu_custom is not a mapping")
            text = xmltodict.unparse({"cpu": dict(cpu)}, full_document=False)
            element = ET.fromstring(text)
        except (TypeError, ValueError, AttributeError, ET.ParseError) as err:
            msg = "conversion of 'cpu' to XML failed"
            hint = (
                "cpu_custom must be a mapping in xmltodict form ('@attr', '#text'): "
                f"{err}"
            )
            raise InitFileError(msg, hint=hint) from err
        if element.find("topology") is None and fill_topology:
            element.append(self.generate_topology(vcpu_num))
        return element


def numa_cells(vcpu_num: int) -> tuple[int, int]:
    """``(cells, cpus per cell)`` of the original's NUMA layout."""
    if vcpu_num == 2:
        return 2, 1
    if vcpu_num == 4:
        return 2, 2
    if vcpu_num % 4 == 0:
        return vcpu_num // 4, 4
    if vcpu_num % 4 == 2:
        return 2 * (vcpu_num // 4) + 1, 2
    return vcpu_num, 1


def numa_xml(vcpu_num: int, memory: int) -> ET.Element:
    """``<numa>`` with cells of consecutive CPUs sharing ``memory`` (MiB)."""
    cells, per_cell = numa_cells(vcpu_num)
    numa = ET.Element("numa")
    for cell_id in range(cells):
        first = cell_id * per_cell
        last = first + per_cell - 1
        ET.SubElement(
            numa,
            "cell",
            id=str(cell_id),
            cpus=str(first) if first == last else f"{first}-{last}",
            memory=str(memory // cells),
            unit="MiB",
        )
    return numa
