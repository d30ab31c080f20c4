from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from lago.errors import InitFileError
from lago.initfile import load_init_file, validate
from lago.network_plan import NetworkConfigError, NetworkPlan, plan_networks
from lago.subnet_lease import LagoSubnetLeaseTakenException, SubnetStore

UUID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def store(tmp_path: Path) -> SubnetStore:
    return SubnetStore(tmp_path / "subnets")


@pytest.fixture
def uuid_path(tmp_path: Path) -> str:
    (tmp_path / "uuid").write_text(UUID)
    return str(tmp_path / "uuid")


def store_files(store: SubnetStore) -> list[str]:
    return sorted(p.name for p in store.path.iterdir())


def plan(domains: dict, nets: dict, store: SubnetStore, uuid_path: str) -> NetworkPlan:
    return plan_networks(domains, nets, store, uuid_path, source="/src/LagoInitFile")


def test_two_vms_two_nets_filled_literally(store: SubnetStore, uuid_path: str) -> None:
    nets = {
        "lago": {"management": True},
        "data": {"type": "nat", "dhcp": {"start": 10, "end": 20}, "mtu": 9000},
    }
    domains = {
        "vm0": {
            "name": "vm0",
            "nics": [{"net": "lago"}, {"net": "data", "ip": "192.168.230.15"}],
        },
        "vm1": {
            "name": "vm1",
            "nics": [
                {"net": "lago", "ip": "192.168.200.7"},
                {"net": "data"},
                {"net": "data"},
            ],
        },
    }

    result = plan(domains, nets, store, uuid_path)

    lago_mapping = {
        # static addresses are registered first, then the dynamic ones
        "vm1-eth0": "192.168.200.7",
        "vm1": "192.168.200.7",
        "vm1-lago": "192.168.200.7",
        "vm1-lago-0": "192.168.200.7",
        "vm0-eth0": "192.168.200.100",
        "vm0": "192.168.200.100",
        "vm0-lago": "192.168.200.100",
        "vm0-lago-0": "192.168.200.100",
    }
    data_mapping = {
        "vm0-eth1": "192.168.201.15",
        "vm0-data": "192.168.201.15",
        "vm0-data-0": "192.168.201.15",
        "vm1-eth1": "192.168.201.10",
        "vm1-data": "192.168.201.10",
        "vm1-data-0": "192.168.201.10",
        "vm1-eth2": "192.168.201.11",
        "vm1-data-1": "192.168.201.11",
    }
    expected_nets = {
        "lago": {
            "management": True,
            "name": "lago",
            "mapping": lago_mapping,
            "type": "nat",
            "dns_domain_name": "lago.local",
            "gw": "192.168.200.1",
            "dhcp": {"start": 100, "end": 254},
            "dns_records": {**lago_mapping, **data_mapping},
        },
        "data": {
            "type": "nat",
            "dhcp": {"start": 10, "end": 20},
            "mtu": 9000,
            "name": "data",
            "mapping": data_mapping,
            "gw": "192.168.201.1",
            "dns_forward": "192.168.200.1",
        },
    }
    expected_domains = {
        "vm0": {
            "name": "vm0",
            "nics": [
                {"net": "lago", "ip": "192.168.200.100"},
                {"net": "data", "ip": "192.168.201.15", "mtu": 9000},
            ],
            "mgmt_net": "lago",
        },
        "vm1": {
            "name": "vm1",
            "nics": [
                {"net": "lago", "ip": "192.168.200.7"},
                {"net": "data", "ip": "192.168.201.10", "mtu": 9000},
                {"net": "data", "ip": "192.168.201.11", "mtu": 9000},
            ],
            "mgmt_net": "lago",
        },
    }
    assert json.dumps(nets, indent=4) == json.dumps(expected_nets, indent=4)
    assert json.dumps(domains, indent=4) == json.dumps(expected_domains, indent=4)
    assert result.subnets == ["192.168.200.0", "192.168.201.0"]
    assert result.management == "lago"
    assert [(lease.subnet, lease.uuid_path) for lease in store.list_leases()] == [
        ("192.168.200.0", uuid_path),
        ("192.168.201.0", uuid_path),
    ]

    result.release()
    assert store_files(store) == ["subnet-lease.lock"]


def test_first_net_by_name_becomes_management(
    store: SubnetStore, uuid_path: str
) -> None:
    nets: dict[str, Any] = {"b": {}, "a": {"type": "nat"}}
    domains = {"vm": {"nics": [{"net": "b"}, {"net": "a"}]}}

    plan(domains, nets, store, uuid_path)

    assert list(nets["a"]) == [
        "type", "name", "mapping", "management", "dns_domain_name", "gw", "dhcp",
        "dns_records",
    ]  # fmt: skip
    assert nets["a"]["management"] is True
    assert list(nets["b"]) == ["name", "mapping", "type", "gw", "dhcp", "dns_forward"]
    assert domains["vm"]["mgmt_net"] == "a"
    # nets are leased in file order
    assert nets["b"]["gw"] == "192.168.200.1"
    assert nets["b"]["dns_forward"] == nets["a"]["gw"] == "192.168.201.1"


def test_explicit_management_false_is_respected(
    store: SubnetStore, uuid_path: str
) -> None:
    nets: dict[str, Any] = {"a": {"management": False}, "b": {}}
    domains = {"vm": {"nics": [{"net": "a"}, {"net": "b"}]}}
    assert plan(domains, nets, store, uuid_path).management == "b"
    assert nets["a"]["management"] is False
    assert "dns_forward" in nets["a"]


def test_static_ips_with_a_given_gateway_are_kept(
    store: SubnetStore, uuid_path: str
) -> None:
    nets: dict[str, Any] = {"lago": {"gw": "192.168.210.1"}}
    domains = {
        "vm0": {"nics": [{"net": "lago", "ip": "192.168.210.7"}]},
        "vm1": {"nics": [{"net": "lago", "ip": "0.0.0.9"}]},  # last octet only
        "vm2": {"nics": [{"net": "lago"}]},
    }
    result = plan(domains, nets, store, uuid_path)
    assert [d["nics"][0]["ip"] for d in domains.values()] == [
        "192.168.210.7",
        "192.168.210.9",
        "192.168.210.100",
    ]
    assert result.subnets == ["192.168.210.0"]
    assert store_files(store) == ["210.lease", "subnet-lease.lock"]


def test_static_ips_move_into_the_leased_subnet(
    store: SubnetStore, uuid_path: str
) -> None:
    nets: dict[str, Any] = {"lago": {}}
    # as the original: an address of the leasable range keeps its last octet
    domains = {"vm0": {"nics": [{"net": "lago", "ip": "192.168.220.45"}]}}
    plan(domains, nets, store, uuid_path)
    assert domains["vm0"]["nics"][0]["ip"] == "192.168.200.45"


def test_dynamic_ips_skip_a_custom_gateway(store: SubnetStore, uuid_path: str) -> None:
    nets: dict[str, Any] = {"lago": {"gw": "192.168.220.100"}}
    domains = {f"vm{i}": {"nics": [{"net": "lago"}]} for i in range(2)}
    plan(domains, nets, store, uuid_path)
    assert [d["nics"][0]["ip"] for d in domains.values()] == [
        "192.168.220.101",
        "192.168.220.102",
    ]


def test_without_dhcp_dynamic_ips_start_at_2(
    store: SubnetStore, uuid_path: str
) -> None:
    nets: dict[str, Any] = {"lago": {"gw": "192.168.220.2", "dhcp": None}}
    domains = {f"vm{i}": {"nics": [{"net": "lago"}]} for i in range(2)}
    plan(domains, nets, store, uuid_path)
    assert nets["lago"]["dhcp"] is None
    assert [d["nics"][0]["ip"] for d in domains.values()] == [
        "192.168.220.3",
        "192.168.220.4",
    ]


def test_an_init_file_asking_for_no_dhcp_gets_none(
    tmp_path: Path, store: SubnetStore, uuid_path: str
) -> None:
    # the checked file goes to the planner as it is: `dhcp: null` stays off
    # instead of getting the default range a net without the key gets
    path = tmp_path / "LagoInitFile"
    path.write_text(
        "domains:\n  vm0: {nics: [{net: quiet}, {net: served}]}\n"
        "nets:\n  quiet: {management: true, dhcp: null}\n  served: {}\n"
    )
    init = load_init_file(path)
    plan(init.domains, init.nets, store, uuid_path)
    assert init.nets["quiet"]["dhcp"] is None
    assert init.nets["served"]["dhcp"] == {"start": 100, "end": 254}
    ips = [nic["ip"] for nic in init.domains["vm0"]["nics"]]
    gws = [init.nets[net]["gw"] for net in ("quiet", "served")]
    # without DHCP the address comes from .2 up, past the gateway
    assert [ip.rsplit(".", 1)[1] for ip in ips] == ["2", "100"], (ips, gws)


def test_bridge_nets_need_no_gateway_and_no_lease(
    store: SubnetStore, uuid_path: str
) -> None:
    nets: dict[str, Any] = {
        "lago": {"management": True},
        "br": {"type": "bridge"},
        "br-gw": {"type": "bridge", "gw": "10.1.2.1"},
    }
    domains = {
        "vm0": {
            "nics": [
                {"net": "lago"},
                {"net": "br"},
                {"net": "br", "ip": "10.9.9.9"},
                {"net": "br-gw", "ip": "10.1.2.5"},
            ]
        }
    }
    result = plan(domains, nets, store, uuid_path)

    assert result.subnets == ["192.168.200.0"]
    assert domains["vm0"]["nics"][1:] == [
        {"net": "br"},
        {"net": "br", "ip": "10.9.9.9"},
        {"net": "br-gw", "ip": "10.1.2.5"},
    ]
    assert nets["br"] == {
        "type": "bridge",
        "name": "br",
        "mapping": {"vm0-eth2": "10.9.9.9", "vm0-br-1": "10.9.9.9"},
        "dns_forward": "192.168.200.1",
    }
    assert "gw" not in nets["br"]
    assert nets["br-gw"]["mapping"]["vm0-br-gw"] == "10.1.2.5"


def test_given_dns_records_are_merged(store: SubnetStore, uuid_path: str) -> None:
    nets: dict[str, Any] = {
        "lago": {"dns_records": {"ext": "192.168.1.1"}, "dns_domain_name": "x.test"}
    }
    domains = {"vm": {"nics": [{"net": "lago"}]}}
    plan(domains, nets, store, uuid_path)
    assert list(nets["lago"]) == [
        "dns_records", "dns_domain_name", "name", "mapping", "type", "management",
        "gw", "dhcp",
    ]  # fmt: skip
    assert nets["lago"]["dns_records"] == {
        "ext": "192.168.1.1",
        "vm-eth0": "192.168.200.100",
        "vm": "192.168.200.100",
        "vm-lago": "192.168.200.100",
        "vm-lago-0": "192.168.200.100",
    }
    assert nets["lago"]["dns_domain_name"] == "x.test"


def test_single_net_may_carry_dns_attributes_without_management_key(
    store: SubnetStore, uuid_path: str
) -> None:
    nets: dict[str, Any] = {"lago": {"main_dns": "x", "dns_domain_name": "y.test"}}
    plan({"vm": {"nics": [{"net": "lago"}]}}, nets, store, uuid_path)
    assert nets["lago"]["dns_domain_name"] == "y.test"


def test_default_source_name(store: SubnetStore, uuid_path: str) -> None:
    with pytest.raises(NetworkConfigError) as err:
        plan_networks({"vm": nics("b")}, {"a": {}, "b": {}}, store, uuid_path)
    assert str(err.value) == (
        "LagoInitFile: VM vm has no management network, please connect it to one."
    )
    assert isinstance(err.value, InitFileError)


def nics(*nets: str) -> dict[str, Any]:
    return {"nics": [{"net": net} for net in nets]}


# errors of the topology, found before anything is leased or changed
BEFORE_LEASING = [
    (
        {"vm0": nics("a")},
        {
            "a": {"management": True},
            "b": {"dns_domain_name": "x"},
            "c": {"main_dns": "y"},
        },
        "Networks: b,c, misconfigured, they are not marked as management, but have "
        "DNS attributes. DNS is supported only in management networks.",
    ),
    (
        {"vm0": nics("b")},
        {"a": {"management": True}, "b": {}},
        "VM vm0 has no management network, please connect it to one.",
    ),
    (
        {"vm0": nics("a", "b", "a")},
        {"a": {"management": True}, "b": {}},
        "VM vm0 has more than one management network: a,a. It should have exactly one.",
    ),
    (
        {"vm0": nics("a")},
        {"b": {"management": True}, "a": {"management": True}},
        "Networks a,b are both marked as management; exactly one management "
        "network is supported",
    ),
    (
        {"vm0": nics("a")},
        {
            "a": {"management": True},
            "b": {"management": True},
            "c": {"management": True},
        },
        "Networks a,b,c are all marked as management; exactly one management "
        "network is supported",
    ),
    (
        {"vm0": nics("a")},
        {"a": {"gw": "192.168.200.0"}},
        "Network a: gw 192.168.200.0 is not a usable host address",
    ),
]

# the shape of the values is checked once, when the init file is loaded: the
# planner relies on it, so each of these must be rejected there
CHECKED_AT_LOAD = [
    ({}, {}, "No networks configured."),
    (
        {"vm0": nics("a", "nope")},
        {"a": {}, "b": {}},
        "Unrecognized network in vm0: nope, available: a,b",
    ),
    (
        {"vm0": {"nics": [{"net": "a", "ip": "192.168.200"}]}},
        {"a": {}},
        "vm0:nic0's IP [192.168.200] is not an IPv4 address",
    ),
    (
        {"vm0": {"nics": [{"net": "a"}, {"net": "a", "ip": 5}]}},
        {"a": {}},
        "vm0:nic1's IP [5] is not an IPv4 address",
    ),
    (
        {"vm0": nics("a")},
        {"a": {"dhcp": {"start": 1, "end": 254}}},
        "Network a: dhcp range start=1 end=254 is invalid, "
        "expected 2 <= start <= end <= 254",
    ),
    (
        {"vm0": nics("a")},
        {"a": {"dhcp": {"start": 100, "end": 255}}},
        "Network a: dhcp range start=100 end=255 is invalid, "
        "expected 2 <= start <= end <= 254",
    ),
    (
        {"vm0": nics("a")},
        {"a": {"dhcp": {"start": 50, "end": 40}}},
        "Network a: dhcp range start=50 end=40 is invalid, "
        "expected 2 <= start <= end <= 254",
    ),
    (
        {"vm0": nics("a")},
        {"a": {"dhcp": {"start": "100"}}},
        "Network a: dhcp range start=100 end=None is invalid, "
        "expected 2 <= start <= end <= 254",
    ),
    (
        {"vm0": nics("a")},
        {"a": {"dhcp": "yes"}},
        "Network a: dhcp must be a mapping with start and end",
    ),
    (
        {"vm0": nics("a")},
        {"a": {"type": "vlan"}},
        "Network a: unknown type 'vlan', expected nat or bridge",
    ),
    (
        {"vm0": nics("a")},
        {"a": {"management": "maybe"}},
        "Network a: management must be true or false",
    ),
    (
        {"vm0": nics("a")},
        {"a": {"gw": "192.168.200.300"}},
        "Network a: gw '192.168.200.300' is not an IPv4 address",
    ),
    (
        {"vm0": nics("a")},
        {"a": {"mtu": "jumbo"}},
        "Network a: mtu must be an integer in 68..65535, not 'jumbo'",
    ),
    (
        {"vm0": nics("a")},
        {"a": None},
        "Network a: its spec must be a mapping, not None",
    ),
    (
        {"vm0": nics("a")},
        {"a": {"dns_records": ["x"]}},
        "Network a: dns_records must be a mapping of names to IPs",
    ),
    (None, {"a": {}}, "domains must be a mapping of VM names to VM specs"),
    (
        {"vm0": {"nics": "a"}},
        {"a": {}},
        "VM vm0: nics must be a list of {net: <name>, ip: <optional>}",
    ),
    (
        {"vm0": {"nics": [{"ip": "192.168.200.5"}]}},
        {"a": {}},
        "VM vm0: nic0 must be a mapping with a net key",
    ),
]


@pytest.mark.parametrize(("domains", "nets", "message"), CHECKED_AT_LOAD)
def test_shape_errors_are_rejected_when_loading(
    domains: dict, nets: dict, message: str
) -> None:
    with pytest.raises(InitFileError) as err:
        validate({"domains": domains, "nets": nets}, "/src/LagoInitFile")
    assert str(err.value).startswith("/src/LagoInitFile: ")
    assert not isinstance(err.value, NetworkConfigError)


@pytest.mark.parametrize(("domains", "nets", "message"), BEFORE_LEASING)
def test_validation_errors(
    store: SubnetStore, uuid_path: str, domains: dict, nets: dict, message: str
) -> None:
    before = copy.deepcopy((domains, nets))
    with pytest.raises(NetworkConfigError) as err:
        plan(domains, nets, store, uuid_path)
    assert str(err.value) == f"/src/LagoInitFile: {message}"
    assert (domains, nets) == before  # nothing was filled in
    assert store_files(store) == []


# errors found once the subnets are leased: the leases must be given back
AUTO_SUBNET = (
    "is outside the subnet of network a [192.168.200.0/24 - 192.168.255.0/24, "
    "one /24 leased at init]; give an address in that range, 0.0.0.<n>, or a gw"
)
AFTER_LEASING = [
    (
        {"vm0": {"nics": [{"net": "a", "ip": "10.0.0.5"}]}},
        {"a": {}},
        f"vm0:nic0's IP [10.0.0.5] {AUTO_SUBNET}",
    ),
    (
        {"vm0": {"nics": [{"net": "a", "ip": "192.168.123.45"}]}},
        {"a": {}},
        f"vm0:nic0's IP [192.168.123.45] {AUTO_SUBNET}",
    ),
    (
        {"vm0": {"nics": [{"net": "a", "ip": "192.168.211.5"}]}},
        {"a": {"gw": "192.168.210.1"}},
        "vm0:nic0's IP [192.168.211.5] is outside the subnet [192.168.210.1]",
    ),
    (
        {"vm0": {"nics": [{"net": "a"}, {"net": "b", "ip": "10.0.1.5"}]}},
        {"a": {}, "b": {"type": "bridge", "gw": "10.0.0.1"}},
        "vm0:nic1's IP [10.0.1.5] is outside the subnet [10.0.0.1]",
    ),
    (
        {
            "vm0": {"nics": [{"net": "a", "ip": "192.168.220.5"}]},
            "vm1": {"nics": [{"net": "b"}, {"net": "a", "ip": "192.168.221.5"}]},
        },
        {"a": {"management": True}, "b": {}},
        "IP 192.168.200.5 on network a is given to both vm0:nic0 and vm1:nic1; "
        "each NIC needs its own address",
    ),
    (
        {"vm0": {"nics": [{"net": "a", "ip": "192.168.210.1"}]}},
        {"a": {"gw": "192.168.210.1"}},
        "vm0:nic0's IP [192.168.210.1] is the gateway of network a",
    ),
    (
        {"vm0": {"nics": [{"net": "a", "ip": "192.168.210.255"}]}},
        {"a": {"gw": "192.168.210.1"}},
        "vm0:nic0's IP [192.168.210.255] is not a usable host address",
    ),
    (
        {"vm0": {"nics": [{"net": "a"}, {"net": "b", "ip": "0.0.0.4"}]}},
        {"a": {}, "b": {"type": "bridge"}},
        "vm0:nic1's IP [0.0.0.4] is relative, but b has no gw",
    ),
    (
        {"vm0": nics("a"), "vm1": nics("a"), "vm2": nics("a")},
        {"a": {"dhcp": {"start": 10, "end": 11}}},
        "No free IP left in network a for vm2:nic0 (range .10 - .11)",
    ),
]


@pytest.mark.parametrize(("domains", "nets", "message"), AFTER_LEASING)
def test_failure_midway_releases_the_leases(
    store: SubnetStore, uuid_path: str, domains: dict, nets: dict, message: str
) -> None:
    with pytest.raises(NetworkConfigError) as err:
        plan(domains, nets, store, uuid_path)
    assert str(err.value) == f"/src/LagoInitFile: {message}"
    assert store_files(store) == ["subnet-lease.lock"]


def test_lease_failure_releases_earlier_leases(
    store: SubnetStore, uuid_path: str, tmp_path: Path
) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "uuid").write_text("f" * 32)
    store.acquire(str(tmp_path / "other" / "uuid"), "192.168.230.1")
    nets: dict[str, Any] = {"a": {}, "b": {"gw": "192.168.230.1"}}

    with pytest.raises(LagoSubnetLeaseTakenException):
        plan({"vm0": nics("a", "b")}, nets, store, uuid_path)
    # the other prefix's lease stays, ours (192.168.200.0) is gone
    assert store_files(store) == ["230.lease", "subnet-lease.lock"]
