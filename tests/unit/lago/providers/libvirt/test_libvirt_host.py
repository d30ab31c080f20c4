"""Choosing the domain type and probing the libvirt host."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import libvirt
import pytest

from lago.errors import ConfigError
from lago.providers.libvirt import host as host_mod
from lago.providers.libvirt.host import (
    HostProbeError,
    choose_domain_type,
    device_usable,
    find_emulator,
    load_cpu_models_vendor,
    probe_host,
)

CPUINFO_PLAIN = (
    "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae hypervisor vmxfoo\n"
)
CPUINFO_VMX = (
    "processor\t: 0\nflags\t\t: fpu vme vmx pae\n\nprocessor\t: 1\nflags\t\t: fpu vmx\n"
)
CPUINFO_SVM = "processor\t: 0\nflags\t\t: fpu svm pae\n"

CAPS = """<capabilities>
  <host>
    <cpu>
      <arch>x86_64</arch>
      <model>Skylake-Client-IBRS</model>
      <vendor>Intel</vendor>
      <feature name='vmx'/>
      <feature name='ss'/>
    </cpu>
  </host>
  <guest>
    <os_type>hvm</os_type>
    <arch name='i686'>
      <emulator>/usr/bin/qemu-system-i386</emulator>
      <domain type='qemu'/>
    </arch>
  </guest>
  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'>
      <emulator>/usr/bin/qemu-system-x86_64</emulator>
      <domain type='qemu'/>
      {kvm}
    </arch>
  </guest>
</capabilities>"""
KVM_DOMAIN = "<domain type='kvm'><emulator>/usr/libexec/qemu-kvm</emulator></domain>"


class FakeConn:
    def __init__(self, caps: str, uri: str = "qemu:///fake", version: int = 9000000):
        self.caps, self.uri, self.version = caps, uri, version
        self.calls = 0

    def getURI(self):
        return self.uri

    def getCapabilities(self):
        self.calls += 1
        return self.caps

    def getLibVersion(self):
        return self.version


@pytest.fixture(autouse=True)
def _fresh_cache():
    host_mod.clear_cache()
    yield
    host_mod.clear_cache()


@pytest.fixture
def machine(tmp_path: Path):
    """A fake /dev/kvm (usable), cpuinfo with vmx, and a small cpu map."""
    kvm = tmp_path / "kvm"
    kvm.write_text("")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO_VMX)
    cpu_map = tmp_path / "share" / "cpu_map"
    cpu_map.mkdir(parents=True)
    (cpu_map / "index.xml").write_text(
        "<cpus><arch name='x86'><include filename='x86_vendors.xml'/>"
        "<include filename='x86_Westmere.xml'/><include filename='x86_qemu64.xml'/>"
        "<include filename='x86_EPYC.xml'/></arch>"
        "<arch name='ppc64'><include filename='ppc64_POWER9.xml'/></arch></cpus>"
    )
    (cpu_map / "x86_vendors.xml").write_text(
        "<cpus><vendor name='Intel' string='x'/></cpus>"
    )
    (cpu_map / "x86_Westmere.xml").write_text(
        "<cpus><model name='Westmere'><vendor name='Intel'/>"
        "<feature name='aes'/></model></cpus>"
    )
    (cpu_map / "x86_qemu64.xml").write_text(
        "<cpus><model name='qemu64'><feature name='lm'/></model></cpus>"
    )
    (cpu_map / "x86_EPYC.xml").write_text(
        "<cpus><model name='EPYC'><vendor name='AMD'/></model></cpus>"
    )
    (cpu_map / "ppc64_POWER9.xml").write_text(
        "<cpus><model name='POWER9'><vendor name='IBM'/></model></cpus>"
    )
    return {
        "kvm_device": str(kvm),
        "vhost_device": str(tmp_path / "no-vhost-net"),
        "cpuinfo": str(cpuinfo),
        "cpu_map_dir": str(tmp_path / "share"),
    }


@pytest.mark.parametrize(
    ("configured", "usable", "cpuinfo", "offered"),
    list(
        itertools.product(
            ["auto", "kvm", "qemu"],
            [True, False],
            [CPUINFO_PLAIN, CPUINFO_VMX, CPUINFO_SVM, ""],
            [True, False],
        )
    ),
)
def test_choose_domain_type_every_combination(configured, usable, cpuinfo, offered):
    result = choose_domain_type(configured, usable, cpuinfo, kvm_offered=offered)
    if configured != "auto":
        assert result == configured
    elif usable and offered and cpuinfo in (CPUINFO_VMX, CPUINFO_SVM):
        assert result == "kvm"
    else:
        assert result == "qemu"


def test_choose_domain_type_ignores_case_and_spaces():
    assert choose_domain_type(" KVM ", False, "") == "kvm"
    assert choose_domain_type("Auto", True, CPUINFO_VMX) == "kvm"


@pytest.mark.parametrize("value", ["xen", "", "tcg", "kvm,qemu"])
def test_choose_domain_type_rejects_other_values(value):
    with pytest.raises(ConfigError) as err:
        choose_domain_type(value, True, CPUINFO_VMX)
    assert str(err.value) == (
        f"Invalid value for domain_type: {value!r} (allowed: auto, kvm, qemu)"
    )


def test_device_usable(tmp_path):
    assert device_usable(str(tmp_path / "missing")) is False
    present = tmp_path / "dev"
    present.write_text("")
    assert device_usable(str(present)) is True
    present.chmod(0o400)
    # root may open anything; others may not write a read-only node
    assert device_usable(str(present)) is (Path("/proc/self").stat().st_uid == 0)


def test_probe_kvm_host(machine, caplog):
    caplog.set_level(logging.INFO, logger="lago.providers.libvirt.host")
    conn = FakeConn(CAPS.format(kvm=KVM_DOMAIN))
    facts = probe_host(conn, "auto", **machine)
    assert facts.domain_type == "kvm"
    assert facts.emulator == "/usr/libexec/qemu-kvm"
    assert facts.libvirt_version == 9000000
    assert facts.cpu_vendor == "Intel"
    assert facts.cpu_model == "Skylake-Client-IBRS"
    assert facts.cpu_features == frozenset({"vmx", "ss"})
    assert dict(facts.cpu_models_vendor) == {
        "Westmere": "Intel",
        "qemu64": "generic",
        "EPYC": "AMD",
    }
    assert facts.vhost_net is False
    assert [r.getMessage() for r in caplog.records] == [
        "libvirt at qemu:///fake: domain type kvm (hardware virtualization)"
    ]


def test_probe_is_cached_per_uri_and_logged_once(machine, caplog):
    caplog.set_level(logging.INFO, logger="lago.providers.libvirt.host")
    conn = FakeConn(CAPS.format(kvm=""))
    first = probe_host(conn, **machine)
    assert probe_host(conn, **machine) is first
    assert conn.calls == 1
    assert first.domain_type == "qemu"
    assert first.emulator == "/usr/bin/qemu-system-x86_64"
    assert [r.getMessage() for r in caplog.records] == [
        "libvirt at qemu:///fake: domain type qemu "
        "(software emulation: /dev/kvm unusable or no vmx/svm CPU flag)"
    ]
    other = probe_host(FakeConn(CAPS.format(kvm=""), uri="qemu:///other"), **machine)
    assert other is not first


def test_probe_without_cpu_flag_chooses_qemu(machine, tmp_path):
    Path(machine["cpuinfo"]).write_text(CPUINFO_PLAIN)
    facts = probe_host(FakeConn(CAPS.format(kvm=KVM_DOMAIN)), **machine)
    assert facts.domain_type == "qemu"
    assert facts.emulator == "/usr/bin/qemu-system-x86_64"


def test_probe_forced_qemu_logs_why(machine, caplog):
    caplog.set_level(logging.INFO, logger="lago.providers.libvirt.host")
    facts = probe_host(FakeConn(CAPS.format(kvm=KVM_DOMAIN)), "qemu", **machine)
    assert facts.domain_type == "qemu"
    assert (
        caplog.records[0].getMessage().endswith("(software emulation, as configured)")
    )


def test_probe_vhost_net(machine, tmp_path):
    vhost = tmp_path / "vhost-net"
    vhost.write_text("")
    facts = probe_host(
        FakeConn(CAPS.format(kvm="")), **{**machine, "vhost_device": str(vhost)}
    )
    assert facts.vhost_net is True


def test_forced_kvm_without_kvm_domain_falls_back_with_warning(machine, caplog):
    facts = probe_host(FakeConn(CAPS.format(kvm="")), "kvm", **machine)
    assert facts.domain_type == "kvm"
    assert facts.emulator == "/usr/bin/qemu-system-x86_64"
    assert "hardware acceleration not available" in caplog.text


def test_bad_domain_type_in_probe(machine):
    with pytest.raises(ConfigError, match=r"^Invalid value for domain_type: 'vmware'"):
        probe_host(FakeConn(CAPS.format(kvm="")), "vmware", **machine)


def test_no_emulator_is_an_error(machine):
    import xml.etree.ElementTree as ET

    caps = ET.fromstring("<capabilities><host/></capabilities>")
    with pytest.raises(HostProbeError) as err:
        find_emulator(caps, "qemu")
    assert (
        str(err.value)
        == "qemu executable not found: libvirt offers no x86_64 hvm emulator"
    )


def test_probe_of_the_test_driver_finds_no_x86_64_emulator(machine):
    conn = libvirt.open("test:///default")
    with pytest.raises(HostProbeError, match=r"^qemu executable not found"):
        probe_host(conn, "qemu", **machine)


def test_old_single_file_cpu_map_with_inheritance(tmp_path):
    (tmp_path / "cpu_map.xml").write_text(
        "<cpus><arch name='x86'>"
        "<model name='486'><feature name='fpu'/></model>"
        "<model name='Conroe'><vendor name='Intel'/></model>"
        "<model name='Penryn'><model name='Conroe'/></model>"
        "<model name='Nehalem'><model name='Penryn'/></model>"
        "<model name='Opteron_G1'><vendor name='AMD'/></model>"
        "</arch><arch name='ppc64'>"
        "<model name='POWER7'><vendor name='IBM'/></model></arch></cpus>"
    )
    assert load_cpu_models_vendor(str(tmp_path)) == {
        "486": "generic",
        "Conroe": "Intel",
        "Penryn": "Intel",
        "Nehalem": "Intel",
        "Opteron_G1": "AMD",
    }


def test_missing_or_broken_cpu_map(tmp_path, caplog):
    assert load_cpu_models_vendor(str(tmp_path)) == {}
    (tmp_path / "cpu_map.xml").write_text("<cpus>")
    assert load_cpu_models_vendor(str(tmp_path)) == {}
    assert "Cannot read libvirt's CPU map" in caplog.text


@pytest.mark.skipif(
    not Path("/usr/share/libvirt/cpu_map/index.xml").exists(),
    reason="no libvirt cpu map",
)
def test_system_cpu_map():
    vendors = load_cpu_models_vendor()
    assert vendors["Westmere"] == "Intel"
    assert vendors["EPYC"] == "AMD"
    assert vendors["qemu64"] == "generic"
    assert "POWER9" not in vendors
