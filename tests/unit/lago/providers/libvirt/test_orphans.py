"""Finding what crashed runs left behind, with libvirt faked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from lago.providers.libvirt import orphans
from lago.providers.libvirt.orphans import Orphan, find_orphans, unknown_objects


@dataclass
class FakeObject:
    _name: str
    xml: str

    def name(self) -> str:
        return self._name

    def XMLDesc(self, _flags: int = 0) -> str:
        return self.xml


@dataclass
class FakeConn:
    domains: list[FakeObject]
    networks: list[FakeObject]

    def listAllDomains(self) -> list[FakeObject]:
        return self.domains

    def listAllNetworks(self) -> list[FakeObject]:
        return self.networks


def domain(name: str, disk: Path) -> FakeObject:
    return FakeObject(
        name,
        f"<domain><name>{name}</name><devices><disk><source file='{disk}'/></disk>"
        "</devices></domain>",
    )


def network(name: str, gw: str | None) -> FakeObject:
    ip = f"<ip address='{gw}' netmask='255.255.255.0'/>" if gw else ""
    return FakeObject(
        name, f"<network><name>{name}</name><bridge name='{name}-nic'/>{ip}</network>"
    )


def prefix(tmp_path: Path, name: str, uuid: str) -> Path:
    path = tmp_path / name
    (path / "images").mkdir(parents=True)
    (path / "uuid").write_text(uuid)
    return path


@pytest.fixture(autouse=True)
def no_host_bridges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orphans, "_host_bridges", lambda: ["virbr0", "dead-lago-ni"])


def test_only_the_dead_environment_is_reported(tmp_path: Path) -> None:
    live_uuid, dead_uuid = "aaaa1111" + "0" * 24, "bbbb2222" + "0" * 24
    live = prefix(tmp_path, "live", live_uuid)
    dead = tmp_path / "dead"  # deleted by hand
    leases = tmp_path / "leases"
    leases.mkdir()
    (leases / "200.lease").write_text(json.dumps([str(live / "uuid"), live_uuid]))
    (leases / "201.lease").write_text(json.dumps([str(dead / "uuid"), dead_uuid]))
    conn = FakeConn(
        domains=[
            domain("aaaa1111-vm01", live / "images" / "vm01_root.qcow2"),
            domain("bbbb2222-vm01", dead / "images" / "vm01_root.qcow2"),
            domain("someone-else", Path("/srv/disk.qcow2")),
        ],
        networks=[
            network("aaaa-lago", "192.168.200.1"),
            network("bbbb-lago", "192.168.201.1"),
            network("bbbb-bridged", None),
            network("default", "192.168.122.1"),
        ],
    )
    found = find_orphans(conn, leases)
    assert found == [
        Orphan("domain", "bbbb2222-vm01", f"its prefix {dead} is gone"),
        Orphan(
            "network",
            "bbbb-lago",
            f"the lease of its subnet 192.168.201.0/24 is stale ({dead}/uuid is gone)",
        ),
        Orphan("network", "bbbb-bridged", "its environment's domains are orphans"),
        Orphan("bridge", "dead-lago-ni", "no libvirt network uses it"),
        Orphan("lease", "192.168.201.0/24", f"its owner {dead}/uuid is gone"),
    ]


def test_a_network_without_lease_or_with_another_owner(tmp_path: Path) -> None:
    owner = prefix(tmp_path, "p", "cccc3333" + "0" * 24)
    leases = tmp_path / "leases"
    leases.mkdir()
    (leases / "210.lease").write_text(json.dumps([str(owner / "uuid"), "cccc3333" + "0" * 24]))  # fmt: skip
    conn = FakeConn(
        domains=[],
        networks=[
            network("dddd-a", "192.168.210.1"),
            network("eeee-b", "192.168.211.1"),
        ],
    )
    reasons = {o.name: o.reason for o in find_orphans(conn, leases)}
    assert reasons["dddd-a"].startswith(
        "its subnet 192.168.210.0/24 is leased by another"
    )
    assert reasons["eeee-b"] == "no lease holds its subnet 192.168.211.0/24"


def test_a_reused_prefix_directory_does_not_own_old_domains(tmp_path: Path) -> None:
    reused = prefix(tmp_path, "p", "ffff0000" + "0" * 24)
    conn = FakeConn(domains=[domain("12345678-vm", reused / "images" / "d.qcow2")], networks=[])  # fmt: skip
    (found,) = [
        o for o in find_orphans(conn, tmp_path / "leases") if o.kind == "domain"
    ]
    assert found.reason == f"its prefix {reused} now belongs to environment ffff0000"


def test_unknown_objects_of_a_prefix() -> None:
    uuid = "abcd1234" + "0" * 24
    conn = FakeConn(
        domains=[domain("abcd1234-vm01", Path("/x")), domain("abcd1234-extra", Path("/x"))],
        networks=[network("abcd-lago", None), network("abcd-old", None), network("ffff-x", None)],
    )  # fmt: skip
    found = unknown_objects(conn, uuid, ["abcd1234-vm01"], ["abcd-lago"])
    assert found == ["abcd1234-extra", "abcd-old"]
