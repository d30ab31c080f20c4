"""Libvirt objects, bridges and leases whose Lago environment is gone.

A crashed or killed run, or a prefix deleted by hand, can leave transient
domains and networks running and subnet leases taken. Their owner is found
from what they carry, so objects made by any Lago version are recognised:

- a domain named ``<uuid[:8]>-<vm>`` belongs to the prefix that holds its
  disks (``<prefix>/images/...``); it is an orphan when that prefix's
  ``uuid`` file is gone or names another environment;
- a NAT network named ``<uuid part>-<net>`` owns the lease of its /24; it is
  an orphan when that lease is missing, stale or another prefix's;
- a bridge network is an orphan with the orphan domains of its uuid;
- a Linux bridge with Lago's naming that no libvirt network uses any more;
- a lease whose uuid file is gone or changed.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lago.process import run_command
from lago.subnet_lease import SubnetStore

LOGGER = logging.getLogger(__name__)

_DOMAIN_NAME = re.compile(r"^([0-9a-f]{8})-.+")
_NET_NAME = re.compile(r"^([0-9a-f]{8}|[0-9a-f]{4})-.+")
_LEASE_RANGE = ipaddress.IPv4Network("192.168.0.0/16")


@dataclass(frozen=True)
class Orphan:
    """One thing left behind, and why it is taken for an orphan."""

    kind: str  # domain, network, bridge or lease
    name: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "reason": self.reason}


def _xml(obj: Any) -> ET.Element | None:
    """The live XML of ``obj``, or None if it vanished since it was listed."""
    import libvirt

    try:
        return ET.fromstring(obj.XMLDesc(0))
    except libvirt.libvirtError:
        return None


def _prefix_of_disks(xml: ET.Element) -> Path | None:
    for source in xml.iterfind("devices/disk/source"):
        path = Path(source.get("file") or "")
        if path.parent.name == "images":
            return path.parent.parent
    return None


def _owner_problem(prefix: Path, tag: str) -> str | None:
    """Why ``prefix`` does not own objects tagged ``tag``, or None if it does."""
    try:
        uuid = (prefix / "uuid").read_text().strip()
    except OSError:
        return f"its prefix {prefix} is gone"
    if not uuid.startswith(tag):
        return f"its prefix {prefix} now belongs to environment {uuid[:8]}"
    return None


def _domain_orphans(conn: Any) -> list[Orphan]:
    orphans = []
    for dom in conn.listAllDomains():
        match = _DOMAIN_NAME.match(dom.name())
        if not match:
            continue
        xml = _xml(dom)
        prefix = _prefix_of_disks(xml) if xml is not None else None
        if prefix is None:
            continue
        problem = _owner_problem(prefix, match.group(1))
        if problem:
            orphans.append(Orphan("domain", dom.name(), problem))
    return orphans


def _net_subnet(xml: ET.Element) -> ipaddress.IPv4Network | None:
    for ip in xml.iterfind("ip"):
        address = ip.get("address") or ""
        if ip.get("family", "ipv4") != "ipv4" or not address:
            continue
        network = ipaddress.IPv4Network(f"{address}/24", strict=False)
        if network.subnet_of(_LEASE_RANGE):
            return network
    return None


def _lease_problem(store: SubnetStore, subnet: ipaddress.IPv4Network, tag: str) -> str | None:  # fmt: skip
    octet = int(str(subnet.network_address).split(".")[2])
    if not store.min_third_octet <= octet <= store.max_third_octet:
        return None
    lease = next(
        (lease for lease in store.list_leases() if lease.subnet == str(subnet.network_address)),
        None,
    )  # fmt: skip
    if lease is None:
        return f"no lease holds its subnet {subnet}"
    if not lease.valid:
        return f"the lease of its subnet {subnet} is stale ({lease.uuid_path} is gone)"
    if not lease.uuid.startswith(tag):
        return (
            f"its subnet {subnet} is leased by another environment ({lease.uuid_path})"
        )
    return None


def _network_orphans(conn: Any, store: SubnetStore, orphan_tags: set[str]) -> list[Orphan]:  # fmt: skip
    orphans = []
    for net in conn.listAllNetworks():
        match = _NET_NAME.match(net.name())
        if not match:
            continue
        tag = match.group(1)
        xml = _xml(net)
        if xml is None:
            continue
        subnet = _net_subnet(xml)
        if subnet is not None:
            problem = _lease_problem(store, subnet, tag)
        elif any(t.startswith(tag) for t in orphan_tags):
            problem = "its environment's domains are orphans"
        else:
            problem = None
        if problem:
            orphans.append(Orphan("network", net.name(), problem))
    return orphans


def _host_bridges() -> list[str]:
    result = run_command(["ip", "-o", "link", "show", "type", "bridge"])
    if result.code != 0:
        return []
    names = []
    for line in result.out.splitlines():
        fields = line.split(":")
        if len(fields) > 1:
            names.append(fields[1].strip().split("@")[0])
    return names


def _bridge_orphans(conn: Any) -> list[Orphan]:
    # an orphan network's bridge goes with it: only bridges no network uses
    used = set()
    for net in conn.listAllNetworks():
        xml = _xml(net)
        bridge = xml.find("bridge") if xml is not None else None
        if bridge is not None and bridge.get("name"):
            used.add(bridge.get("name"))
    return [
        Orphan("bridge", name, "no libvirt network uses it")
        for name in _host_bridges()
        if _NET_NAME.match(name) and name not in used
    ]


def _lease_orphans(store: SubnetStore) -> list[Orphan]:
    return [
        Orphan(
            "lease", f"{lease.subnet}/24", f"its owner {lease.uuid_path or '?'} is gone"
        )
        for lease in store.list_leases()
        if not lease.valid
    ]


def find_orphans(conn: Any, lease_dir: str | Path) -> list[Orphan]:
    """Everything Lago left behind on ``conn``'s host and in ``lease_dir``."""
    store = SubnetStore(str(lease_dir))
    domains = _domain_orphans(conn)
    tags = {_DOMAIN_NAME.match(o.name).group(1) for o in domains}  # type: ignore[union-attr]
    networks = _network_orphans(conn, store, tags)
    bridges = _bridge_orphans(conn)
    return [*domains, *networks, *bridges, *_lease_orphans(store)]


def _destroy(lookup: Any, name: str) -> None:
    import libvirt

    try:
        obj = lookup(name)
        if obj.isActive():
            obj.destroy()
        if obj.isPersistent():
            obj.undefine()
    except libvirt.libvirtError as err:
        # gone meanwhile: what we wanted
        if err.get_error_code() not in (
            libvirt.VIR_ERR_NO_DOMAIN,
            libvirt.VIR_ERR_NO_NETWORK,
        ):
            raise


def remove_orphans(conn: Any, orphans: Iterable[Orphan], lease_dir: str | Path) -> None:  # fmt: skip
    """Remove what :func:`find_orphans` reported: domains first, leases last."""
    store = SubnetStore(str(lease_dir))
    order = {"domain": 0, "network": 1, "bridge": 2, "lease": 3}
    for orphan in sorted(orphans, key=lambda o: order[o.kind]):
        LOGGER.info(
            "Removing orphan %s %s (%s)", orphan.kind, orphan.name, orphan.reason
        )
        if orphan.kind == "domain":
            _destroy(conn.lookupByName, orphan.name)
        elif orphan.kind == "network":
            _destroy(conn.networkLookupByName, orphan.name)
        elif orphan.kind == "bridge":
            run_command(["ip", "link", "delete", orphan.name, "type", "bridge"])
        else:
            store.release_stale(orphan.name)


def unknown_objects(conn: Any, uuid: str, vm_names: Iterable[str], net_names: Iterable[str]) -> list[str]:  # fmt: skip
    """Libvirt objects named after ``uuid`` that the prefix does not know."""
    known = set(vm_names) | set(net_names)
    found = []
    for dom in conn.listAllDomains():
        if dom.name().startswith(f"{uuid[:8]}-") and dom.name() not in known:
            found.append(dom.name())
    for net in conn.listAllNetworks():
        match = _NET_NAME.match(net.name())
        if match and uuid.startswith(match.group(1)) and net.name() not in known:
            found.append(net.name())
    return found
