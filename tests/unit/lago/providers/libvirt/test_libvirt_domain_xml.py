"""The domain XML: golden files, one XPath assertion per rule, test driver."""

from __future__ import annotations

import os
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pytest

from lago.errors import InitFileError
from lago.providers.libvirt.domain_xml import domain_xml
from lago.providers.libvirt.host import HostFacts

GOLDEN = Path(__file__).parent / "golden"
NET_NAMES = {"lago": "0123-lago", "data": "0123-data"}
QEMU = "/usr/bin/qemu-system-x86_64"


def make_host(domain_type="qemu", version=9000000, vhost=False):
    return HostFacts(
        domain_type=domain_type,
        emulator=QEMU if domain_type == "qemu" else "/usr/libexec/qemu-kvm",
        libvirt_version=version,
        cpu_vendor="Intel",
        cpu_features=frozenset({"vmx"}),
        cpu_models_vendor={"Westmere": "Intel"},
        vhost_net=vhost,
    )


def vm_spec(**changes):
    spec = {
        "name": "vm01",
        "memory": 1024,
        "vcpu": 2,
        "disks": [
            {
                "name": "root",
                "dev": "vda",
                "format": "qcow2",
                "type": "template",
                "path": "/var/lib/lago/p/images/vm01_root.qcow2",
            },
            {
                "name": "data",
                "dev": "sdb",
                "format": "raw",
                "type": "empty",
                "path": "/var/lib/lago/p/images/vm01_data.raw",
            },
        ],
        "nics": [
            {"net": "lago", "ip": "192.168.200.2"},
            {"net": "data", "ip": "192.168.201.2", "mtu": 9000},
        ],
    }
    spec.update(changes)
    return spec


def render(spec=None, host=None, **kwargs):
    kwargs.setdefault("libvirt_name", "01234567-vm01")
    kwargs.setdefault("net_names", NET_NAMES)
    return domain_xml(spec or vm_spec(), host=host or make_host(), **kwargs)


def parse(spec=None, host=None, **kwargs) -> ET.Element:
    return ET.fromstring(render(spec, host, **kwargs))


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("LAGO_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_golden_base():
    check_golden(
        "domain-base.xml", render(serial_log="/var/lib/lago/p/logs/vm01.serial.log")
    )


def test_golden_el6_kvm():
    check_golden(
        "domain-el6-kvm.xml", render(host=make_host("kvm", vhost=True), distro="el6")
    )


@pytest.mark.parametrize("domain_type", ["kvm", "qemu"])
def test_domain_type_and_emulator(domain_type):
    root = parse(host=make_host(domain_type))
    assert root.get("type") == domain_type
    emulator = QEMU if domain_type == "qemu" else "/usr/libexec/qemu-kvm"
    assert root.findtext("devices/emulator") == emulator


@pytest.mark.parametrize(
    ("domain_type", "mode"), [("kvm", "host-passthrough"), ("qemu", "maximum")]
)
def test_cpu_mode_follows_domain_type(domain_type, mode):
    root = parse(host=make_host(domain_type))
    assert root.find("cpu").get("mode") == mode
    assert root.findtext("vcpu") == "2"
    assert [child.tag for child in root][-2:] == ["cpu", "vcpu"]


def test_memory_and_its_default():
    assert parse().find("memory").attrib == {"unit": "MiB"}
    assert parse().findtext("memory") == "1024"
    spec = vm_spec()
    del spec["memory"]
    root = parse(spec)
    assert root.findtext("memory") == "16384"
    assert [c.get("memory") for c in root.findall("cpu/numa/cell")] == ["8192", "8192"]


def test_disk_bus_by_dev():
    spec = vm_spec(
        disks=[
            {"dev": "vda", "format": "qcow2", "path": "/i/a.qcow2"},
            {"dev": "sdb", "format": "qcow2", "path": "/i/b.qcow2"},
            {"dev": "hdc", "format": "iso", "path": "/i/c.iso"},
            {"dev": "sdd", "format": "iso", "path": "/i/d.iso"},
        ]
    )
    disks = parse(spec).findall("devices/disk")
    assert [
        (d.get("device"), d.find("target").get("dev"), d.find("target").get("bus"))
        for d in disks
    ] == [
        ("disk", "vda", "virtio"),
        ("disk", "sdb", "scsi"),
        ("cdrom", "hdc", "ide"),
        ("cdrom", "sdd", "scsi"),
    ]
    assert [d.find("driver").attrib for d in disks] == [
        {
            "name": "qemu",
            "type": "qcow2",
            "discard": "unmap",
            "cache": "writeback",
            "iothread": "1",
            "queues": "1",
        },
        {"name": "qemu", "type": "qcow2", "discard": "unmap", "cache": "writeback"},
        {"name": "qemu", "type": "raw"},
        {"name": "qemu", "type": "raw", "discard": "unmap", "cache": "writeback"},
    ]
    assert [d.findtext("serial") for d in disks] == ["1", "2", "3", "4"]
    assert [d.find("source").get("file") for d in disks] == [
        "/i/a.qcow2",
        "/i/b.qcow2",
        "/i/c.iso",
        "/i/d.iso",
    ]


def test_one_scsi_controller_before_the_first_scsi_disk():
    spec = vm_spec(
        vcpu=3,
        disks=[
            {"dev": "vda", "format": "qcow2", "path": "/i/a"},
            {"dev": "sdb", "format": "raw", "path": "/i/b"},
            {"dev": "sdc", "format": "raw", "path": "/i/c"},
        ],
    )
    devices = list(parse(spec).find("devices"))
    scsi = [
        i
        for i, d in enumerate(devices)
        if d.tag == "controller" and d.get("type") == "scsi"
    ]
    assert len(scsi) == 1
    controller = devices[scsi[0]]
    assert controller.attrib == {"type": "scsi", "index": "0", "model": "virtio-scsi"}
    assert controller.find("driver").attrib == {"queues": "3", "iothread": "1"}
    following = devices[scsi[0] + 1]
    assert following.find("target").get("dev") == "sdb"


def test_no_scsi_controller_without_scsi_disks():
    spec = vm_spec(disks=[{"dev": "vda", "format": "qcow2", "path": "/i/a"}])
    assert parse(spec).find("devices/controller[@type='scsi']") is None


def test_scsi_queues_default_to_2_vcpus():
    spec = vm_spec()
    del spec["vcpu"]
    assert (
        parse(spec).find("devices/controller[@type='scsi']/driver").get("queues") == "2"
    )


def test_nics_network_mac_and_mtu():
    nics = parse().findall("devices/interface")
    assert [n.get("type") for n in nics] == ["network", "network"]
    assert [n.find("source").get("network") for n in nics] == ["0123-lago", "0123-data"]
    assert [n.find("model").get("type") for n in nics] == ["virtio", "virtio"]
    assert [n.find("mac").get("address") for n in nics] == [
        "54:52:c0:a8:c8:02",
        "54:52:c0:a8:c9:02",
    ]
    assert nics[0].find("mtu") is None
    assert nics[1].find("mtu").get("size") == "9000"


def test_mac_only_with_an_ip():
    spec = vm_spec(nics=[{"net": "lago"}, {"net": "data", "ip": ""}])
    assert parse(spec).findall("devices/interface/mac") == []


@pytest.mark.parametrize(
    ("mtu", "version", "expected"),
    [
        (9000, 9000000, "9000"),
        ("9000", 3001002, "9000"),
        (9000, 3001001, None),
        (1500, 9000000, None),
        ("1500", 9000000, None),
        (None, 9000000, None),
    ],
)
def test_mtu_rule(mtu, version, expected):
    nic = {"net": "lago", "ip": "192.168.200.2"}
    if mtu is not None:
        nic["mtu"] = mtu
    root = parse(vm_spec(nics=[nic]), make_host(version=version))
    element = root.find("devices/interface/mtu")
    assert (element.get("size") if element is not None else None) == expected


@pytest.mark.parametrize("vhost", [True, False])
def test_vhost_driver_only_when_usable(vhost):
    drivers = parse(host=make_host(vhost=vhost)).findall("devices/interface/driver")
    if vhost:
        assert [d.attrib for d in drivers] == [{"name": "vhost", "queues": "2"}] * 2
    else:
        assert drivers == []


@pytest.mark.parametrize(
    ("version", "rom"),
    [(4003000, {"enabled": "no"}), (4002000, {"bar": "off"})],
)
def test_nic_boot_rom_is_off(version, rom):
    roms = parse(host=make_host(version=version)).findall("devices/interface/rom")
    assert [r.attrib for r in roms] == [rom] * 2


def test_an_iso_named_vd_is_a_readonly_virtio_disk():
    spec = vm_spec(
        disks=[
            {"dev": "vda", "format": "qcow2", "path": "/i/a.qcow2"},
            {"dev": "vdb", "format": "iso", "path": "/i/seed.iso"},
            {"dev": "hdc", "format": "iso", "path": "/i/c.iso"},
        ]
    )
    disks = parse(spec).findall("devices/disk")
    assert [
        (d.get("device"), d.find("target").get("bus"), d.find("readonly") is not None)
        for d in disks
    ] == [("disk", "virtio", False), ("disk", "virtio", True), ("cdrom", "ide", False)]
    assert disks[1].find("driver").attrib == {"name": "qemu", "type": "raw"}


def test_unknown_network_of_a_nic():
    with pytest.raises(InitFileError) as err:
        render(vm_spec(nics=[{"net": "lago"}, {"net": "other"}]))
    assert str(err.value) == "VM vm01: nic 1 names unknown network 'other'"


@pytest.mark.parametrize(
    ("version", "backend"), [(2002001, "/dev/urandom"), (2002000, "/dev/random")]
)
def test_rng_backend_by_version(version, backend):
    assert (
        parse(host=make_host(version=version)).findtext("devices/rng/backend")
        == backend
    )
    el6 = parse(host=make_host(version=version), distro="el6")
    assert el6.findtext("devices/rng/backend") == "/dev/random"


def test_serial_port_and_its_log():
    root = parse(serial_log="/p/logs/vm01.serial.log")
    serial = root.findall("devices/serial")
    assert len(serial) == 1
    assert serial[0].get("type") == "pty"
    assert serial[0].find("log").attrib == {
        "file": "/p/logs/vm01.serial.log",
        "append": "on",
    }
    assert serial[0].find("target").get("port") == "0"
    assert parse().find("devices/serial/log") is None
    assert root.find("devices/console/target").attrib == {"type": "virtio", "port": "0"}


def test_no_graphics():
    assert parse().find("devices/graphics") is None


def test_base_template_details():
    root = parse()
    assert root.find("os/type").attrib == {"arch": "x86_64", "machine": "pc"}
    assert root.find("os/bios").get("useserial") == "no"
    assert [e.get("enabled") for e in root.find("pm")] == ["no", "no"]
    assert [f.tag for f in root.find("features")] == ["acpi", "apic", "pae", "vmport"]
    assert root.find("devices/memballoon").get("model") == "none"
    assert root.find("devices/controller[@type='usb']").get("model") == "none"
    assert root.find("devices/channel/target").get("name") == "org.qemu.guest_agent.0"
    assert root.find("devices/video/model").attrib == {
        "type": "cirrus",
        "vram": "16384",
        "heads": "1",
    }
    assert root.findtext("iothreads") == "1"
    assert root.find("clock/timer").get("name") == "kvmclock"


def test_el6_template_and_fallback():
    el6 = parse(distro="el6", serial_log="/p/log")
    assert el6.find("pm") is None
    assert el6.find("os/bios") is None
    assert el6.find("devices/console/target").attrib == {"type": "serial", "port": "0"}
    assert el6.find("devices/serial/log").get("file") == "/p/log"
    for distro in ("fc30", "debian", "../el6", None):
        assert parse(distro=distro).find("pm") is not None


def test_names_and_paths_are_escaped():
    odd = "vm<&'\">"
    spec = vm_spec(
        disks=[{"dev": "vda", "format": "qcow2", "path": f"/i/{odd}.qcow2"}],
        nics=[{"net": odd}],
    )
    root = parse(
        spec,
        libvirt_name=f"0123-{odd}",
        net_names={odd: f"0123-{odd}"},
        serial_log=f"/l/{odd}",
    )
    assert root.findtext("name") == f"0123-{odd}"
    assert root.find("devices/disk/source").get("file") == f"/i/{odd}.qcow2"
    assert root.find("devices/interface/source").get("network") == f"0123-{odd}"
    assert root.find("devices/serial/log").get("file") == f"/l/{odd}"


def test_cpu_errors_reach_the_caller():
    with pytest.raises(InitFileError, match=r"^Defining both cpu_model and cpu_custom"):
        render(vm_spec(cpu_model="Westmere", cpu_custom={"@mode": "x"}))
    with pytest.raises(InitFileError, match=r"^No such CPU family: Foo$"):
        render(vm_spec(cpu_model="Foo"))


def test_cpu_model_with_intel_kvm_host_adds_vmx():
    root = parse(vm_spec(cpu_model="Westmere"), make_host("kvm"))
    assert root.find("cpu/feature").attrib == {"policy": "require", "name": "vmx"}


@pytest.fixture
def test_conn():
    conn = libvirt.open("test:///default")
    yield conn
    conn.close()


@pytest.mark.parametrize("distro", [None, "el6"])
@pytest.mark.parametrize("domain_type", ["kvm", "qemu"])
def test_test_driver_defines_the_xml_as_is(test_conn, domain_type, distro):
    # the test driver takes type='kvm'/'qemu' unchanged: no substitution needed
    name = f"lago-{uuid.uuid4().hex[:8]}-<&'\">"
    xml = render(
        host=make_host(domain_type, vhost=True),
        libvirt_name=name,
        distro=distro,
        serial_log="/p/logs/vm.log",
    )
    dom = test_conn.defineXML(xml)
    try:
        assert dom.name() == name
        defined = ET.fromstring(dom.XMLDesc())
        assert defined.get("type") == domain_type
        assert [
            d.find("target").get("bus") for d in defined.findall("devices/disk")
        ] == ["virtio", "scsi"]
        assert len(defined.findall("cpu/numa/cell")) == 2
        # libvirt adds the compat console for the serial port as console[0]
        assert defined.find("devices/console/target").get("type") == "serial"
    finally:
        dom.undefine()


def _with_boot_files(tmp_path, present=True):
    kernel, initrd = tmp_path / "t.kernel-1", tmp_path / "t.initrd-1"
    if present:
        kernel.write_bytes(b"k")
        initrd.write_bytes(b"i")
    spec = vm_spec()
    spec["disks"][0]["metadata"] = {
        "boot-kernel-file": str(kernel),
        "boot-initrd-file": str(initrd),
        "boot-cmdline": "root=UUID=abc console=ttyS0,115200n8 quiet",
    }
    return spec, kernel, initrd


def test_direct_kernel_boot_from_the_store(tmp_path):
    spec, kernel, initrd = _with_boot_files(tmp_path)
    os_el = parse(spec).find("os")
    assert os_el.findtext("kernel") == str(kernel)
    assert os_el.findtext("initrd") == str(initrd)
    assert os_el.findtext("cmdline") == "root=UUID=abc console=ttyS0,115200n8 quiet"
    # the serial console the kernel writes to is still there
    assert parse(spec).find("devices/serial/target").get("port") == "0"


def test_boot_from_disk_when_the_stored_files_are_gone(tmp_path):
    spec, _, _ = _with_boot_files(tmp_path, present=False)
    assert parse(spec).find("os/kernel") is None


def test_boot_from_disk_without_boot_files():
    os_el = parse().find("os")
    assert os_el.find("kernel") is None and os_el.find("cmdline") is None
