"""libvirt's CPU map (``/usr/share/libvirt/cpu_map``) as one XML tree, and
the original's :class:`LibvirtCPU` lookups on it."""

from __future__ import annotations

import copy
import functools
import os
import xml.etree.ElementTree as ET

from lago.errors import LagoException
from lago.providers.libvirt.host import CPU_MAP_DIR, GENERIC_VENDOR


class CPUMapError(LagoException):
    """libvirt's CPU map has no such architecture or model."""


def create_xml_map(cpu_map_index_xml: str, cpu_map_dir: str) -> ET.Element:
    """One ``<cpus>`` tree from the split layout: every ``<include>`` of
    ``index.xml`` replaced by the children of the file it names."""
    root = ET.parse(cpu_map_index_xml).getroot()
    for arch in root.iter("arch"):
        for include in list(arch.findall("include")):
            path = os.path.join(cpu_map_dir, include.get("filename", ""))
            position = list(arch).index(include)
            arch.remove(include)
            for offset, child in enumerate(ET.parse(path).getroot()):
                arch.insert(position + offset, child)
    return root


@functools.cache
def _cpu_map(base: str = CPU_MAP_DIR) -> ET.Element:
    index = os.path.join(base, "cpu_map", "index.xml")
    if os.path.exists(index):
        return create_xml_map(index, os.path.dirname(index))
    return ET.parse(os.path.join(base, "cpu_map.xml")).getroot()


class LibvirtCPU:
    """Lookups in the host's libvirt CPU map."""

    @classmethod
    def get_cpus_by_arch(cls, arch: str) -> ET.Element:
        """The ``<arch>`` element of ``arch`` (e.g. ``x86``)."""
        found = _cpu_map().find(f"arch[@name='{arch}']")
        if found is None:
            raise CPUMapError(f"No CPUs of architecture {arch} in libvirt's CPU map")
        return found

    @classmethod
    def get_cpu_props(cls, family: str, arch: str = "x86") -> ET.Element:
        """A copy of the ``<model>`` element of CPU model ``family``."""
        model = cls.get_cpus_by_arch(arch).find(f"model[@name='{family}']")
        if model is None:
            raise CPUMapError(f"No such CPU family: {family}")
        return copy.deepcopy(model)

    @classmethod
    def get_cpu_vendor(cls, family: str, arch: str = "x86") -> str:
        """The vendor of ``family`` (``Intel``, ``AMD``, ... or ``generic``),
        following the model it is based on in the old single-file map."""
        model = cls.get_cpu_props(family, arch)
        vendor = model.find("vendor")
        if vendor is not None:
            return vendor.get("name", GENERIC_VENDOR)
        parent = model.find("model")
        if parent is not None and parent.get("name"):
            return cls.get_cpu_vendor(parent.get("name", ""), arch)
        return GENERIC_VENDOR
