"""Libvirt 9 itself accepts our XML: define (never start) on the sandbox daemon.

Runs only inside the project's namespace with libvirtd answering:
``bash scripts/sandbox.sh exec .venv/bin/python -m pytest -m functional ...``.
"""

from __future__ import annotations

import os
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lago.providers.libvirt import host as host_mod
from lago.providers.libvirt.domain_xml import domain_xml
from lago.providers.libvirt.network_xml import network_xml
from lago.providers.libvirt.utils import (
    LibvirtConnectionError,
    get_libvirt_connection,
    nat_bridge_name,
)

NAMESPACE = Path("/run/netns/lago-sandbox")
URL = "qemu:///system"


def _in_sandbox() -> bool:
    try:
        return os.stat("/proc/self/ns/net").st_ino == NAMESPACE.stat().st_ino
    except OSError:
        return False


@pytest.fixture
def conn():
    if not _in_sandbox():
        pytest.skip("not running inside the lago-sandbox network namespace")
    try:
        return get_libvirt_connection("functional-test", URL)
    except LibvirtConnectionError as err:
        pytest.skip(str(err))


@pytest.fixture
def cleanup():
    objects = []
    yield objects.append
    for obj in reversed(objects):
        obj.undefine()


@pytest.mark.functional
@pytest.mark.parametrize("distro", [None, "el6"])
def test_daemon_defines_domain_and_networks(conn, cleanup, tmp_path, distro):
    host_mod.clear_cache()
    host = host_mod.probe_host(conn, "auto")
    tag = uuid.uuid4().hex[:4]
    nets = {"lago": f"{tag}-lago", "data": f"{tag}-data"}
    mgmt = {
        "type": "nat",
        "dhcp": {"start": 100, "end": 254},
        "management": True,
        "name": "lago",
        "mapping": {"vm01": "192.168.200.2", "vm01-eth0": "192.168.200.2"},
        "dns_domain_name": "lago.local",
        "gw": "192.168.200.1",
        "dns_records": {"vm01": "192.168.200.2", "vm01-eth1": "192.168.201.2"},
    }
    data = {
        "type": "nat",
        "dhcp": {"start": 100, "end": 254},
        "name": "data",
        "mtu": 9000,
        "mapping": {"vm01-eth1": "192.168.201.2"},
        "gw": "192.168.201.1",
        "dns_forward": "192.168.200.1",
    }
    for spec in (mgmt, data):
        name = nets[spec["name"]]
        xml = network_xml(
            spec,
            libvirt_name=name,
            bridge_name=nat_bridge_name(name),
            libvirt_version=host.libvirt_version,
        )
        cleanup(conn.networkDefineXML(xml))
    bridge = f"{tag}-br"
    cleanup(
        conn.networkDefineXML(
            network_xml(
                {"type": "bridge", "name": "br"},
                libvirt_name=bridge,
                bridge_name=bridge,
                libvirt_version=host.libvirt_version,
            )
        )
    )

    spec = {
        "name": "vm01",
        "memory": 256,
        "vcpu": 2,
        "disks": [
            {"dev": "vda", "format": "qcow2", "path": str(tmp_path / "root.qcow2")},
            {"dev": "sdb", "format": "raw", "path": str(tmp_path / "data.raw")},
            {"dev": "hdc", "format": "iso", "path": str(tmp_path / "cd.iso")},
        ],
        "nics": [
            {"net": "lago", "ip": "192.168.200.2"},
            {"net": "data", "ip": "192.168.201.2", "mtu": 9000},
        ],
    }
    name = f"lagotest-{tag}-vm01<&>"
    dom = conn.defineXML(
        domain_xml(
            spec,
            libvirt_name=name,
            net_names=nets,
            host=host,
            serial_log=str(tmp_path / "serial.log"),
            distro=distro,
        )
    )
    cleanup(dom)
    assert dom.name() == name
    assert not dom.isActive()
    defined = ET.fromstring(dom.XMLDesc())
    assert defined.get("type") == host.domain_type
    assert defined.find("devices/serial/log").get("file") == str(
        tmp_path / "serial.log"
    )
    assert [
        i.find("mtu") is not None for i in defined.findall("devices/interface")
    ] == [False, True]
    expected_mode = "host-passthrough" if host.domain_type == "kvm" else "maximum"
    assert defined.find("cpu").get("mode") == expected_mode
