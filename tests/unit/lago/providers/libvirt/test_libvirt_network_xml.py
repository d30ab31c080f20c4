"""The network XML: golden files, one XPath assertion per rule, test driver."""

from __future__ import annotations

import copy
import os
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pytest

from lago.errors import InitFileError
from lago.providers.libvirt.network_xml import network_xml

GOLDEN = Path(__file__).parent / "golden"

MGMT = {
    "type": "nat",
    "dhcp": {"start": 100, "end": 254},
    "management": True,
    "name": "lago",
    "mapping": {
        "vm02": "192.168.200.3",
        "vm01": "192.168.200.2",
        "vm01-eth0": "192.168.200.2",
        "vm01-lago": "192.168.200.2",
        "vm01-lago-0": "192.168.200.2",
        "vm02-eth0": "192.168.200.3",
        "vm02-lago": "192.168.200.3",
        "vm02-lago-0": "192.168.200.3",
    },
    "dns_domain_name": "lago.local",
    "gw": "192.168.200.1",
    "dns_records": {
        "vm01": "192.168.200.2",
        "vm01-eth0": "192.168.200.2",
        "vm01-lago": "192.168.200.2",
        "vm01-eth1": "192.168.201.2",
        "vm01-data": "192.168.201.2",
        "vm02": "192.168.200.3",
    },
}
DATA = {
    "type": "nat",
    "dhcp": {"start": 100, "end": 254},
    "management": False,
    "mtu": 9000,
    "name": "data",
    "mapping": {
        "vm01-eth1": "192.168.201.2",
        "vm01-data": "192.168.201.2",
        "vm01-data-0": "192.168.201.2",
    },
    "gw": "192.168.201.1",
    "dns_forward": "192.168.200.1",
}
BRIDGE = {"type": "bridge", "name": "br", "mapping": {}}


def render(spec, **kwargs):
    kwargs.setdefault("libvirt_name", "0123-" + spec["name"])
    kwargs.setdefault("bridge_name", ("0123-" + spec["name"] + "-nic")[:12])
    kwargs.setdefault("libvirt_version", 9000000)
    return network_xml(spec, **kwargs)


def parse(spec, **kwargs) -> ET.Element:
    return ET.fromstring(render(spec, **kwargs))


def changed(spec, **changes):
    new = copy.deepcopy(spec)
    new.update(changes)
    return {k: v for k, v in new.items() if v is not None}


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("LAGO_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_golden_management_net():
    check_golden("net-nat-management.xml", render(MGMT))


def test_golden_data_net():
    check_golden("net-nat-data.xml", render(DATA))


def test_golden_bridge_net():
    check_golden("net-bridge.xml", render(BRIDGE, bridge_name="0123-br"))


def test_nat_basics():
    root = parse(MGMT)
    assert root.findtext("name") == "0123-lago"
    assert root.find("forward").get("mode") == "nat"
    assert root.find("forward/nat/port").attrib == {"start": "1024", "end": "65535"}
    # STP off: the original's stp='on' held every new VM port in the
    # listening and learning states for 2 x 2 s, dropping the guest's
    # first DHCP requests
    assert root.find("bridge").attrib == {
        "name": "0123-lago-ni",
        "stp": "off",
        "delay": "0",
    }
    v4, v6 = root.findall("ip")
    assert v4.attrib == {"address": "192.168.200.1", "netmask": "255.255.255.0"}
    assert v6.attrib == {
        "family": "ipv6",
        "address": "fd8f:1391:3a82:200::1",
        "prefix": "64",
    }


def test_dhcp_ranges_and_one_host_per_address():
    root = parse(MGMT)
    assert root.find("ip[1]/dhcp/range").attrib == {
        "start": "192.168.200.100",
        "end": "192.168.200.254",
    }
    assert [h.attrib for h in root.findall("ip[1]/dhcp/host")] == [
        {"mac": "54:52:c0:a8:c8:02", "ip": "192.168.200.2", "name": "vm01"},
        {"mac": "54:52:c0:a8:c8:03", "ip": "192.168.200.3", "name": "vm02"},
    ]
    v6 = root.find("ip[@family='ipv6']/dhcp")
    assert v6.find("range").attrib == {
        "start": "fd8f:1391:3a82:200::192.168.200.100",
        "end": "fd8f:1391:3a82:200::192.168.200.254",
    }
    assert [h.attrib for h in v6.findall("host")] == [
        {
            "id": "0:3:0:1:54:52:c0:a8:c8:02",
            "ip": "fd8f:1391:3a82:200::192.168.200.2",
            "name": "vm01",
        },
        {
            "id": "0:3:0:1:54:52:c0:a8:c8:03",
            "ip": "fd8f:1391:3a82:200::192.168.200.3",
            "name": "vm02",
        },
    ]


def test_dhcp_host_name_is_the_alphabetically_first_key():
    hosts = parse(DATA).findall("ip[1]/dhcp/host")
    assert [h.get("name") for h in hosts] == ["vm01-data"]


def test_no_dhcp_key_means_no_dhcp_section():
    root = parse(changed(DATA, dhcp=None))
    assert root.findall(".//dhcp") == []
    assert len(root.findall("ip")) == 2


@pytest.mark.parametrize(
    ("mtu", "version", "expected"),
    [
        (9000, 9000000, "9000"),
        (9000, 3001001, None),
        ("1500", 9000000, None),
        (None, 9000000, None),
    ],
)
def test_network_mtu_rule(mtu, version, expected):
    root = parse(changed(DATA, mtu=mtu), libvirt_version=version)
    element = root.find("mtu")
    assert (element.get("size") if element is not None else None) == expected


def test_management_dns():
    root = parse(MGMT)
    assert root.find("domain").attrib == {"name": "lago.local", "localOnly": "yes"}
    dns = root.find("dns")
    assert dns.attrib == {"forwardPlainNames": "no"}
    assert [(h.get("ip"), [n.text for n in h]) for h in dns.findall("host")] == [
        ("192.168.200.2", ["vm01", "vm01-eth0", "vm01-lago"]),
        ("fd8f:1391:3a82:200::192.168.200.2", ["vm01", "vm01-eth0", "vm01-lago"]),
        ("192.168.200.3", ["vm02"]),
        ("fd8f:1391:3a82:200::192.168.200.3", ["vm02"]),
        ("192.168.201.2", ["vm01-data", "vm01-eth1"]),
        ("fd8f:1391:3a82:200::192.168.201.2", ["vm01-data", "vm01-eth1"]),
    ]


def test_non_management_dns_by_libvirt_version():
    assert parse(DATA).find("dns").attrib == {"enable": "no"}
    assert parse(DATA).find("domain") is None
    old = parse(DATA, libvirt_version=2001000).find("dns")
    assert old.attrib == {"forwardPlainNames": "yes"}
    assert old.find("forwarder").attrib == {"addr": "192.168.200.1"}


@pytest.mark.parametrize("compat", ["0.36.0", "0.36.10"])
def test_old_prefix_dns(compat):
    root = parse(MGMT, compat_version=compat)
    assert root.find("domain").get("name") == "lago.local"
    dns = root.find("dns")
    assert dns.attrib == {"forwardPlainNames": "yes"}
    assert [(h.get("ip"), [n.text for n in h]) for h in dns.findall("host")] == [
        ("192.168.200.2", ["vm01", "vm01-eth0", "vm01-lago", "vm01-lago-0"]),
        ("192.168.200.3", ["vm02", "vm02-eth0", "vm02-lago", "vm02-lago-0"]),
    ]
    assert (
        parse(changed(MGMT, dns_domain_name=None), compat_version=compat).find("domain")
        is None
    )
    assert parse(DATA, compat_version=compat).find("dns").attrib == {
        "forwardPlainNames": "yes",
        "enable": "yes",
    }


def test_new_layout_from_0_36_11():
    assert (
        parse(MGMT, compat_version="0.36.11").find("dns").get("forwardPlainNames")
        == "no"
    )


def test_bridge_network():
    root = parse(BRIDGE, libvirt_name="0123-br", bridge_name="0123-br")
    assert [child.tag for child in root] == ["name", "forward", "bridge"]
    assert root.find("forward").attrib == {"mode": "bridge"}
    assert root.find("bridge").attrib == {"name": "0123-br"}


def test_escaping():
    odd = "n<&'\">"
    spec = changed(
        MGMT,
        dns_domain_name=odd,
        mapping={odd: "192.168.200.2"},
        dns_records={odd: "192.168.200.2"},
    )
    root = parse(spec, libvirt_name=odd)
    assert root.findtext("name") == odd
    assert root.find("domain").get("name") == odd
    assert root.find("ip[1]/dhcp/host").get("name") == odd
    assert root.findtext("dns/host/hostname") == odd


def test_bad_specs():
    with pytest.raises(InitFileError) as err:
        render(changed(DATA, type="macvtap"))
    assert (
        str(err.value) == "Network data: unknown type 'macvtap' (allowed: nat, bridge)"
    )
    with pytest.raises(InitFileError) as err:
        render(changed(DATA, gw=None))
    assert str(err.value) == "Network data: a NAT network needs a gw"
    with pytest.raises(InitFileError) as err:
        render(changed(DATA, mapping={"vm01": "192.168.201.300"}))
    assert str(err.value) == "Network data: '192.168.201.300' is not an IPv4 address"


@pytest.mark.parametrize("spec", [MGMT, DATA, BRIDGE, changed(DATA, dhcp=None)])
@pytest.mark.parametrize("compat", ["1.0.0", "0.36.0"])
def test_test_driver_defines_the_xml_as_is(spec, compat):
    conn = libvirt.open("test:///default")
    name = f"lago-{uuid.uuid4().hex[:8]}"
    net = conn.networkDefineXML(render(spec, libvirt_name=name, compat_version=compat))
    try:
        assert net.name() == name
        defined = ET.fromstring(net.XMLDesc())
        assert defined.find("forward").get("mode") == spec["type"]
    finally:
        net.undefine()
        conn.close()


DNSMASQ = {"dnsmasq": "http://libvirt.org/schemas/network/dnsmasq/1.0"}


def dnsmasq_options(root: ET.Element) -> list[str]:
    return [
        option.get("value")
        for option in root.findall("dnsmasq:options/dnsmasq:option", DNSMASQ)
    ]


def test_management_domain_is_also_the_dhcp_search_list():
    root = parse(MGMT)
    assert root.find("domain").get("name") == "lago.local"
    assert dnsmasq_options(root) == ["dhcp-option=option:domain-search,lago.local"]
    other = parse(changed(MGMT, dns_domain_name="corp.example"))
    assert dnsmasq_options(other) == ["dhcp-option=option:domain-search,corp.example"]


@pytest.mark.parametrize(
    ("spec", "version"),
    [
        (DATA, 9000000),
        (changed(MGMT, dns_domain_name=None), 9000000),
        (changed(MGMT, dns_domain_name="bad,domain\nport=53"), 9000000),
        (MGMT, 5005000),
        (BRIDGE, 9000000),
    ],
    ids=["not-management", "no-domain", "not-a-dns-name", "old-libvirt", "bridge"],
)
def test_no_search_list_option(spec, version):
    root = parse(spec, libvirt_version=version)
    assert root.findall("dnsmasq:options", DNSMASQ) == []
