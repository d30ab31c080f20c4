"""The original's names of the libvirt provider: CPU builders, the CPU map,
the utils helpers and the provider's views, with libvirt faked."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from lago.errors import InitFileError
from lago.plugins.vm import LagoVMDoesNotExistError
from lago.providers.libvirt import utils
from lago.providers.libvirt.cpu import CPU
from lago.providers.libvirt.cpu_map import CPUMapError, LibvirtCPU, create_xml_map
from lago.providers.libvirt.host import HostFacts
from lago.providers.libvirt.vm import LocalLibvirtVMProvider

HOST = HostFacts(
    domain_type="kvm",
    emulator="/usr/bin/qemu-system-x86_64",
    libvirt_version=9000000,
    cpu_vendor="Intel",
    cpu_features=frozenset({"vmx"}),
    cpu_models_vendor={"Westmere": "Intel"},
)


def test_cpu_takes_the_original_keywords_and_builds_elements() -> None:
    cpu = CPU(spec={"vcpu": 4, "memory": 1024}, host_cpu=HOST)
    assert cpu.host_cpu is HOST and cpu.vcpu_set and cpu.vcpu_num == 4
    cpu_xml, vcpu_xml = cpu
    assert cpu_xml.get("mode") == "host-passthrough" and vcpu_xml.text == "4"
    topology = cpu.generate_topology(4, cores=2)
    assert topology.attrib == {"sockets": "4", "cores": "2", "threads": "1"}
    assert cpu.generate_feature("vmx").attrib == {"policy": "require", "name": "vmx"}
    assert cpu.generate_vcpu_xml(3).text == "3"
    assert len(cpu.generate_numa(4).findall("cell")) == 2
    exact = cpu.generate_exact("Westmere", 2, HOST)
    assert exact.findtext("model") == "Westmere"
    assert exact.find("feature[@name='vmx']") is not None
    custom = cpu.generate_custom({"@mode": "custom", "model": "Westmere"}, 2, True)
    assert custom.find("topology") is not None
    with pytest.raises(InitFileError, match="No such CPU family"):
        cpu.generate_exact("Nosuch", 2, HOST)
    with pytest.raises(InitFileError, match="both cpu_model and cpu_custom"):
        CPU({"cpu_model": "Westmere", "cpu_custom": {"@mode": "x"}}, HOST)


def test_create_xml_map_inlines_the_includes(tmp_path: Path) -> None:
    (tmp_path / "index.xml").write_text(
        "<cpus><arch name='x86'><include filename='x86_a.xml'/>"
        "<include filename='x86_b.xml'/></arch></cpus>"
    )
    (tmp_path / "x86_a.xml").write_text(
        "<cpus><model name='A'><vendor name='Intel'/></model></cpus>"
    )
    (tmp_path / "x86_b.xml").write_text(
        "<cpus><model name='B'><model name='A'/></model></cpus>"
    )
    root = create_xml_map(str(tmp_path / "index.xml"), str(tmp_path))
    arch = root.find("arch[@name='x86']")
    assert arch is not None
    assert [model.get("name") for model in arch] == ["A", "B"]
    assert root.find(".//include") is None


@pytest.mark.skipif(
    not Path("/usr/share/libvirt/cpu_map/index.xml").exists(),
    reason="libvirt's CPU map is not installed",
)
def test_libvirt_cpu_reads_the_host_map() -> None:
    assert LibvirtCPU.get_cpu_vendor("Westmere") == "Intel"
    assert LibvirtCPU.get_cpu_props("Westmere").get("name") == "Westmere"
    assert LibvirtCPU.get_cpus_by_arch("x86").find("model") is not None
    with pytest.raises(CPUMapError, match="No such CPU family: Nosuch"):
        LibvirtCPU.get_cpu_props("Nosuch")


def test_utils_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert utils.Domain.resolve_state(5) == "shut off"
    assert 1 in utils.DOMAIN_RUNNING_STATES
    xml = utils.dict_to_xml({"cpu": {"@mode": "custom", "model": "Westmere"}})
    assert ET.fromstring(xml).findtext("model") == "Westmere"
    assert "<network" in utils.get_template("net_template-nat.xml.j2")
    assert utils.libvirt_callback(None, None) is None
    seen: list[str] = []
    monkeypatch.setattr(utils, "configured_connection", seen.append)
    utils.get_libvirt_connection("caller")
    assert seen == ["caller"]


class FakeDomain:
    def state(self) -> list[int]:
        return [1, 1]


class FakeConnection:
    def __init__(self, domain: FakeDomain | None) -> None:
        self.domain = domain

    def getLibVersion(self) -> int:
        return 9000000

    def getCapabilities(self) -> str:
        return "<capabilities/>"


class FakeProvider(LocalLibvirtVMProvider):
    def __init__(self, domain: FakeDomain | None) -> None:
        self.conn = FakeConnection(domain)
        self.vm: Any = type(
            "VM", (), {"spec": {"vcpu": 1, "memory": 256}, "name": lambda self: "vm01"}
        )()

    @property
    def libvirt_con(self) -> Any:
        return self.conn

    def host_facts(self) -> HostFacts:
        return HOST

    def _get_domain(self) -> Any:
        return self.conn.domain


def test_provider_views() -> None:
    running = FakeProvider(FakeDomain())
    assert running.alive() and running.raw_state() == [1, 1]
    assert running.libvirt_ver == 9000000 and running.caps == "<capabilities/>"
    assert running.cpu.vcpu_num == 1 and running.cpu_model is None
    assert running.cpu_vendor == "Intel"  # host-passthrough under KVM
    gone = FakeProvider(None)
    assert not gone.alive()
    with pytest.raises(LagoVMDoesNotExistError, match="vm01"):
        gone.raw_state()
