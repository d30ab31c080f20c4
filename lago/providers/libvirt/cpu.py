"""The ``<cpu>`` and ``<vcpu>`` elements of a Lago domain.

Three ways, as the user docs describe: ``cpu_model`` (an exact model),
``cpu_custom`` (the ``<cpu>`` element written as a dict) or neither (the
host's CPU under KVM, the most TCG can emulate under ``qemu``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

import xmltodict

from lago.errors import InitFileError
from lago.providers.libvirt.host import GENERIC_VENDOR, HostFacts

DEFAULT_VCPU = 2
#: MiB, the original template's memory when the spec names none.
DEFAULT_MEMORY = 16384
#: ``<cpu mode='maximum'>`` exists since libvirt 7.1.0.
MAXIMUM_MODE_VERSION = 7001000
#: Only these vendors have a virtualization flag worth requiring.
VIRT_FLAGS = {"Intel": "vmx", "AMD": "svm"}


class CPU:
    """The CPU of one VM spec on one host; raises :class:`InitFileError`."""

    def __init__(self, spec: Mapping[str, Any], host: HostFacts) -> None:
        self.host = host
        self.vcpu_explicit = spec.get("vcpu") is not None
        self.vcpu_num = int(spec["vcpu"]) if self.vcpu_explicit else DEFAULT_VCPU
        # the original crashed in its NUMA code on a VM without memory
        self.memory = int(spec.get("memory") or DEFAULT_MEMORY)
        self.cpu_model: str | None = spec.get("cpu_model")
        self.cpu_custom: Any = spec.get("cpu_custom")
        if self.cpu_model and self.cpu_custom:
            msg = "Defining both cpu_model and cpu_custom is not supported."
            raise InitFileError(msg)
        if self.cpu_custom:
            self._cpu_xml = self._custom_xml()
        elif self.cpu_model:
            self._cpu_xml = self._model_xml(self.cpu_model)
        else:
            self._cpu_xml = self._default_xml()

    @property
    def cpu_xml(self) -> ET.Element:
        return self._cpu_xml

    @property
    def vcpu_xml(self) -> ET.Element:
        vcpu = ET.Element("vcpu")
        vcpu.text = str(self.vcpu_num)
        return vcpu

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

    def _topology(self) -> ET.Element:
        return ET.Element(
            "topology", sockets=str(self.vcpu_num), cores="1", threads="1"
        )

    def _default_xml(self) -> ET.Element:
        if self.host.domain_type == "kvm":
            cpu = ET.Element("cpu", mode="host-passthrough")
        elif self.host.libvirt_version >= MAXIMUM_MODE_VERSION:
            # TCG has no host CPU to pass through: give it all it can emulate
            cpu = ET.Element("cpu", mode="maximum", migratable="on")
        else:
            # before libvirt 7.1 there is no 'maximum': a model every TCG runs
            cpu = ET.Element("cpu", mode="custom", match="exact")
            ET.SubElement(cpu, "model", fallback="allow").text = "qemu64"
        cpu.append(self._topology())
        if self.vcpu_num > 1:
            cpu.append(numa_xml(self.vcpu_num, self.memory))
        return cpu

    def _model_xml(self, model: str) -> ET.Element:
        vendors = self.host.cpu_models_vendor
        if model not in vendors:
            msg = f"No such CPU family: {model}"
            raise InitFileError(msg)
        cpu = ET.Element("cpu", match="exact")
        ET.SubElement(cpu, "model").text = model
        cpu.append(self._topology())
        flag = VIRT_FLAGS.get(self.host.cpu_vendor or "")
        # TCG emulates no vmx, so requiring it there would only be refused
        if (
            self.host.domain_type == "kvm"
            and flag
            and vendors[model] == self.host.cpu_vendor
            and flag in self.host.cpu_features
        ):
            ET.SubElement(cpu, "feature", policy="require", name=flag)
        return cpu

    def _custom_xml(self) -> ET.Element:
        try:
            if not isinstance(self.cpu_custom, Mapping):
                raise TypeError("cpu_custom is not a mapping")
            text = xmltodict.unparse(
                {"cpu": dict(self.cpu_custom)}, full_document=False
            )
            cpu = ET.fromstring(text)
        except (TypeError, ValueError, AttributeError, ET.ParseError) as err:
            msg = "conversion of 'cpu' to XML failed"
            hint = (
                "cpu_custom must be a mapping in xmltodict form ('@attr', '#text'): "
                f"{err}"
            )
            raise InitFileError(msg, hint=hint) from err
        if cpu.find("topology") is None and self.vcpu_explicit:
            cpu.append(self._topology())
        return cpu


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
