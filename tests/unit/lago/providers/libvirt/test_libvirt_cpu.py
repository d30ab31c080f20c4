"""The <cpu> and <vcpu> elements."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from lago.errors import InitFileError
from lago.providers.libvirt.cpu import CPU, numa_cells
from lago.providers.libvirt.host import HostFacts

VENDORS = {"Westmere": "Intel", "EPYC": "AMD", "qemu64": "generic"}


def make_host(domain_type="kvm", vendor="Intel", features=("vmx",), version=9000000):
    return HostFacts(
        domain_type=domain_type,
        emulator="/usr/bin/qemu-system-x86_64",
        libvirt_version=version,
        cpu_vendor=vendor,
        cpu_features=frozenset(features),
        cpu_models_vendor=VENDORS,
    )


def text(element: ET.Element) -> str:
    return ET.tostring(element, encoding="unicode")


def cells(cpu: CPU) -> list[tuple[str, str, str, str]]:
    return [
        (c.get("id"), c.get("cpus"), c.get("memory"), c.get("unit"))
        for c in cpu.cpu_xml.findall("numa/cell")
    ]


def test_kvm_default_is_host_passthrough():
    cpu = CPU({"vcpu": 2, "memory": 4096}, make_host("kvm"))
    assert text(cpu.cpu_xml) == (
        '<cpu mode="host-passthrough">'
        '<topology sockets="2" cores="1" threads="1" />'
        '<numa><cell id="0" cpus="0" memory="2048" unit="MiB" />'
        '<cell id="1" cpus="1" memory="2048" unit="MiB" /></numa></cpu>'
    )
    assert text(cpu.vcpu_xml) == "<vcpu>2</vcpu>"
    assert cpu.model is None
    assert cpu.vendor == "Intel"


def test_tcg_default_is_maximum_on_libvirt_7_1_and_later():
    cpu = CPU({"vcpu": 1, "memory": 512}, make_host("qemu", version=7001000))
    assert text(cpu.cpu_xml) == (
        '<cpu mode="maximum" migratable="on">'
        '<topology sockets="1" cores="1" threads="1" /></cpu>'
    )
    assert cpu.cpu_xml.find("numa") is None
    assert cpu.vendor is None


def test_tcg_default_before_libvirt_7_1_is_qemu64():
    cpu = CPU({"vcpu": 2, "memory": 512}, make_host("qemu", version=7000000))
    root = cpu.cpu_xml
    assert root.attrib == {"mode": "custom", "match": "exact"}
    assert root.find("model").attrib == {"fallback": "allow"}
    assert cpu.model == "qemu64"
    assert cpu.vendor == "generic"
    assert len(root.findall("numa/cell")) == 2


@pytest.mark.parametrize(
    ("vcpu", "expected"),
    [
        (2, [("0", "0"), ("1", "1")]),
        (4, [("0", "0-1"), ("1", "2-3")]),
        (6, [("0", "0-1"), ("1", "2-3"), ("2", "4-5")]),
        (8, [("0", "0-3"), ("1", "4-7")]),
        (3, [("0", "0"), ("1", "1"), ("2", "2")]),
        (10, [("0", "0-1"), ("1", "2-3"), ("2", "4-5"), ("3", "6-7"), ("4", "8-9")]),
        (12, [("0", "0-3"), ("1", "4-7"), ("2", "8-11")]),
    ],
)
@pytest.mark.parametrize("domain_type", ["kvm", "qemu"])
def test_numa_cells(vcpu, expected, domain_type):
    cpu = CPU({"vcpu": vcpu, "memory": 6000}, make_host(domain_type))
    per_cell = str(6000 // len(expected))
    assert cells(cpu) == [(i, cpus, per_cell, "MiB") for i, cpus in expected]
    assert cpu.cpu_xml.find("topology").attrib == {
        "sockets": str(vcpu),
        "cores": "1",
        "threads": "1",
    }


def test_numa_cells_function():
    assert [numa_cells(n) for n in (1, 2, 3, 4, 5, 6, 8)] == [
        (1, 1),
        (2, 1),
        (3, 1),
        (2, 2),
        (5, 1),
        (3, 2),
        (2, 4),
    ]


def test_single_vcpu_has_no_numa():
    assert CPU({"vcpu": 1}, make_host()).cpu_xml.find("numa") is None


def test_missing_memory_uses_the_default_16384():
    # the original crashed on int(None) here
    cpu = CPU({"vcpu": 4}, make_host())
    assert [c[2] for c in cells(cpu)] == ["8192", "8192"]
    assert cpu.memory == 16384


def test_vcpu_defaults_to_2():
    cpu = CPU({}, make_host())
    assert text(cpu.vcpu_xml) == "<vcpu>2</vcpu>"
    assert cpu.cpu_xml.find("topology").get("sockets") == "2"


def test_cpu_model_on_intel_kvm_host_requires_vmx():
    cpu = CPU({"vcpu": 3, "cpu_model": "Westmere"}, make_host())
    assert text(cpu.cpu_xml) == (
        '<cpu match="exact"><model>Westmere</model>'
        '<topology sockets="3" cores="1" threads="1" />'
        '<feature policy="require" name="vmx" /></cpu>'
    )
    assert cpu.model == "Westmere"
    assert cpu.vendor == "Intel"


def test_cpu_model_on_amd_host_requires_svm():
    cpu = CPU({"cpu_model": "EPYC"}, make_host(vendor="AMD", features=("svm",)))
    assert cpu.cpu_xml.find("feature").attrib == {"policy": "require", "name": "svm"}
    assert cpu.cpu_xml.find("numa") is None


@pytest.mark.parametrize(
    ("model", "host"),
    [
        ("EPYC", make_host(vendor="Intel")),  # vendor differs
        ("Westmere", make_host(features=())),  # host lacks vmx
        ("qemu64", make_host()),  # generic model
        ("Westmere", make_host(vendor=None)),
        ("Westmere", make_host("qemu")),  # TCG emulates no vmx
    ],
)
def test_cpu_model_without_feature(model, host):
    cpu = CPU({"cpu_model": model}, host)
    assert cpu.cpu_xml.find("feature") is None
    assert cpu.cpu_xml.find("model").text == model


def test_unknown_cpu_model():
    with pytest.raises(InitFileError) as err:
        CPU({"cpu_model": "Pentium9000"}, make_host())
    assert str(err.value) == "No such CPU family: Pentium9000"


def test_both_cpu_keys():
    spec = {"cpu_model": "Westmere", "cpu_custom": {"@mode": "custom"}}
    with pytest.raises(InitFileError) as err:
        CPU(spec, make_host())
    assert str(err.value) == "Defining both cpu_model and cpu_custom is not supported."


SEED_CUSTOM = {
    "@mode": "custom",
    "@match": "exact",
    "model": {"@fallback": "allow", "#text": "Westmere"},
    "feature": {"@policy": "optional", "@name": "vmx"},
    "numa": {
        "cell": [
            {"@id": 0, "@cpus": 0, "@memory": 2048, "@unit": "MiB"},
            {"@id": 1, "@cpus": 1, "@memory": 2048, "@unit": "MiB"},
        ]
    },
}


def test_cpu_custom_as_in_the_user_docs():
    cpu = CPU({"vcpu": 2, "cpu_custom": SEED_CUSTOM}, make_host())
    assert text(cpu.cpu_xml) == (
        '<cpu mode="custom" match="exact">'
        '<model fallback="allow">Westmere</model>'
        '<feature policy="optional" name="vmx" />'
        '<numa><cell id="0" cpus="0" memory="2048" unit="MiB" />'
        '<cell id="1" cpus="1" memory="2048" unit="MiB" /></numa>'
        '<topology sockets="2" cores="1" threads="1" /></cpu>'
    )
    assert cpu.model == "Westmere"
    assert text(cpu.vcpu_xml) == "<vcpu>2</vcpu>"


def test_cpu_custom_topology_only_added_when_vcpu_explicit_and_missing():
    assert (
        CPU({"cpu_custom": {"@mode": "host-model"}}, make_host()).cpu_xml.find(
            "topology"
        )
        is None
    )
    custom = {
        "@mode": "host-model",
        "topology": {"@sockets": 1, "@cores": 2, "@threads": 1},
    }
    cpu = CPU({"vcpu": 2, "cpu_custom": custom}, make_host())
    assert [t.attrib for t in cpu.cpu_xml.findall("topology")] == [
        {"sockets": "1", "cores": "2", "threads": "1"}
    ]


def test_cpu_custom_escapes_values():
    cpu = CPU({"cpu_custom": {"model": "<&'\">"}}, make_host())
    assert cpu.cpu_xml.find("model").text == "<&'\">"


@pytest.mark.parametrize(
    "custom",
    [
        "host-model",
        ["a", "b"],
        {"bad key": 1},
        {"@1bad": "x"},
        {"model": {"<": 1}},
    ],
)
def test_broken_cpu_custom(custom):
    with pytest.raises(InitFileError) as err:
        CPU({"cpu_custom": custom}, make_host())
    assert str(err.value) == "conversion of 'cpu' to XML failed"
    assert err.value.hint.startswith("cpu_custom must be a mapping in xmltodict form")
