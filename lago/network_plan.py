"""The network topology of an init file: leases, addresses, names, DNS.

:func:`plan_networks` validates the ``domains`` and ``nets`` of a LagoInitFile,
leases a /24 for every NAT network and fills both dicts in place, in the keys
and key order that the original saved in ``virt/net-*`` and ``virt/vm-*``. No libvirt here: the network XML is built from the result.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from lago.errors import InitFileError
from lago.subnet_lease import SubnetStore

LOGGER = logging.getLogger(__name__)

Spec = dict[str, Any]
Fail = Callable[[str], NoReturn]

DEFAULT_MTU = 1500
DEFAULT_DNS_DOMAIN = "lago.local"
# The original gave a NAT net without a `dhcp` key no DHCP at all, while guests (our embedded template included) configure every NIC by DHCP
# and the README's init files leave `dhcp` out: such nets get this range.
# An explicit `dhcp: null` (or false) still means "no DHCP".
DEFAULT_DHCP = {"start": 100, "end": 254}
_RELATIVE = ipaddress.IPv4Network("0.0.0.0/24")  # `ip: 0.0.0.7` = host .7


class NetworkConfigError(InitFileError):
    """The networks or NICs of an init file cannot be planned."""


@dataclass
class NetworkPlan:
    """What planning took from the world: the subnets leased, in order."""

    store: SubnetStore = field(repr=False)
    subnets: list[str] = field(default_factory=list)
    management: str | None = None

    def release(self) -> None:
        """Give back every subnet leased for this plan."""
        if self.subnets:
            self.store.release(self.subnets)
        self.subnets = []


def check_networks(
    domains: dict[str, Spec], nets: dict[str, Spec], source: str = "LagoInitFile"
) -> str | None:
    """The checks of :func:`plan_networks` that need no lease (a dry run);
    returns the name of the management network.

    ``domains`` and ``nets`` are those of a loaded
    :class:`~lago.initfile.InitFile`, whose values are already checked.
    """

    def fail(message: str) -> NoReturn:
        raise NetworkConfigError(f"{source}: {message}")

    _check_gateways(nets, fail)
    mgmt = _management_net(nets, fail)
    _check_dns(nets, mgmt, fail)
    _check_domains(domains, nets, mgmt, fail)
    return mgmt


def plan_networks(
    domains: dict[str, Spec],
    nets: dict[str, Spec],
    store: SubnetStore,
    uuid_path: str,
    source: str = "LagoInitFile",
) -> NetworkPlan:
    """Validate, lease and fill ``domains`` and ``nets`` in place.

    On any error the subnets leased so far are released before raising.
    """

    def fail(message: str) -> NoReturn:
        raise NetworkConfigError(f"{source}: {message}")

    mgmt = check_networks(domains, nets, source)

    plan = NetworkPlan(store=store, management=mgmt)
    _init_nets(nets, mgmt)
    try:
        auto_gw = _lease_subnets(nets, plan, uuid_path)
        for spec in nets.values():
            if spec["type"] == "nat" and "dhcp" not in spec:
                spec["dhcp"] = dict(DEFAULT_DHCP)
        for spec in domains.values():
            spec["mgmt_net"] = mgmt
        _Addresses(domains, nets, auto_gw, fail, store).assign()
        _set_mtus(domains, nets)
        _add_dns(nets, mgmt)
    except BaseException:
        try:
            plan.release()
        except Exception:  # keep the planning error, which is the one to fix
            LOGGER.exception("Could not release subnets %s", plan.subnets)
        raise
    return plan


# -- semantic checks (before anything is leased or changed) ----------------
# The shape of each value (types, ranges, known networks) was checked when the
# init file was loaded (lago.initfile_schema); what is left are the rules that
# need the whole topology.
def _check_gateways(nets: dict[str, Spec], fail: Fail) -> None:
    for name, spec in nets.items():
        gw = spec.get("gw")
        nat = spec.get("type", "nat") == "nat"
        if gw is not None and nat and _last_octet(gw) in (0, 255):
            fail(f"Network {name}: gw {gw} is not a usable host address")


def _management_net(nets: dict[str, Spec], fail: Fail) -> str | None:
    """The one management network: marked `management: true`, else the first
    by name not marked false."""
    marked = sorted(name for name, spec in nets.items() if spec.get("management"))
    if len(marked) > 1:
        # the original kept several management nets (sorted); Lago treats
        # them as bad input: exactly one network carries the VMs' DNS
        verb = "both" if len(marked) == 2 else "all"
        fail(
            f"Networks {','.join(marked)} are {verb} marked as management; "
            "exactly one management network is supported"
        )
    if marked:
        return marked[0]
    # Unlike the original, an explicit `management: false` is never overridden.
    candidates = sorted(n for n, s in nets.items() if s.get("management") is None)
    return candidates[0] if candidates else None


def _check_dns(nets: dict[str, Spec], mgmt: str | None, fail: Fail) -> None:
    # as the original: only nets with no `management` key at all are checked
    misconfigured = [
        name
        for name, spec in nets.items()
        if name != mgmt
        and spec.get("management") is None
        and (spec.get("main_dns") or spec.get("dns_domain_name"))
    ]
    if misconfigured and len(nets) > 1:
        fail(
            f"Networks: {','.join(misconfigured)}, misconfigured, they are not "
            "marked as management, but have DNS attributes. DNS is supported "
            "only in management networks."
        )


def _check_domains(
    domains: dict[str, Spec], nets: dict[str, Spec], mgmt: str | None, fail: Fail
) -> None:
    for vm, spec in domains.items():
        on_mgmt = [nic["net"] for nic in spec["nics"] if nic["net"] == mgmt]
        if not on_mgmt:
            fail(f"VM {vm} has no management network, please connect it to one.")
        if len(on_mgmt) > 1:
            fail(
                f"VM {vm} has more than one management network: "
                f"{','.join(on_mgmt)}. It should have exactly one."
            )


# -- filling in ---------------------------------------------------------------
def _init_nets(nets: dict[str, Spec], mgmt: str | None) -> None:
    for name, spec in nets.items():
        spec["name"] = name
        spec["mapping"] = {}
        spec.setdefault("type", "nat")
        if name == mgmt:
            spec["management"] = True
            if spec.get("dns_domain_name") is None:
                spec["dns_domain_name"] = DEFAULT_DNS_DOMAIN


def _lease_subnets(
    nets: dict[str, Spec], plan: NetworkPlan, uuid_path: str
) -> set[str]:
    """Lease every NAT net's /24; returns the nets whose gw was chosen here."""
    auto_gw = set()
    for name, spec in nets.items():
        if spec["type"] != "nat":
            continue  # bridge nets are the user's own: no lease, gw optional
        subnet = plan.store.acquire(uuid_path, spec.get("gw"))
        plan.subnets.append(subnet)
        if spec.get("gw") is None:
            spec["gw"] = _host(subnet, 1)
            auto_gw.add(name)
    return auto_gw


class _Addresses:
    """Static IPs first (all VMs), then dynamic ones; each with its DNS names."""

    def __init__(
        self,
        domains: dict[str, Spec],
        nets: dict[str, Spec],
        auto_gw: set[str],
        fail: Fail,
        store: SubnetStore,
    ) -> None:
        self.domains, self.nets, self.auto_gw, self.fail = domains, nets, auto_gw, fail
        self.store = store
        self.owners: dict[str, dict[str, str]] = {name: {} for name in nets}

    def assign(self) -> None:
        for vm, i, nic in self._nics():
            if nic.get("ip") is not None:
                self._take(vm, i, nic, self._static_ip(vm, i, nic))
        for vm, i, nic in self._nics():
            if nic.get("ip") is None and self.nets[nic["net"]]["type"] == "nat":
                self._take(vm, i, nic, self._dynamic_ip(vm, i, nic["net"]))

    def _nics(self) -> list[tuple[str, int, Spec]]:
        return [
            (vm, i, nic)
            for vm, spec in self.domains.items()
            for i, nic in enumerate(spec["nics"])
        ]

    def _static_ip(self, vm: str, i: int, nic: Spec) -> str:
        name, given = nic["net"], str(nic["ip"])
        ip, gw = _ipv4(given), self.nets[name].get("gw")
        if gw is None:
            if ip in _RELATIVE:
                self.fail(
                    f"{vm}:nic{i}'s IP [{given}] is relative, but {name} has no gw"
                )
            return str(ip)
        # A NAT net without a gw gets its /24 at lease time: an address in the
        # leasable range (or `0.0.0.<n>`) keeps its last octet and moves into
        # the leased subnet; any other address cannot be meant for this net.
        auto = name in self.auto_gw and ip not in _RELATIVE
        if auto and not self.store.is_leasable_subnet(str(ip)):
            self.fail(
                f"{vm}:nic{i}'s IP [{given}] is outside the subnet of network "
                f"{name} [{self.store.get_allowed_range()}, one /24 leased at "
                "init]; give an address in that range, 0.0.0.<n>, or a gw"
            )
        if ip in _RELATIVE or name in self.auto_gw:
            ip = _ipv4(_host(gw, _last_octet(str(ip))))
        elif _host(str(ip), 0) != _host(gw, 0):
            self.fail(f"{vm}:nic{i}'s IP [{given}] is outside the subnet [{gw}]")
        if str(ip) == gw:
            self.fail(f"{vm}:nic{i}'s IP [{ip}] is the gateway of network {name}")
        if self.nets[name]["type"] == "nat" and _last_octet(str(ip)) in (0, 255):
            self.fail(f"{vm}:nic{i}'s IP [{ip}] is not a usable host address")
        return str(ip)

    def _dynamic_ip(self, vm: str, i: int, name: str) -> str:
        spec = self.nets[name]
        dhcp = spec.get("dhcp") or {"start": 2, "end": 254}
        taken = {_last_octet(ip) for ip in self.owners[name]}
        taken.add(_last_octet(spec["gw"]))
        for octet in range(dhcp["start"], dhcp["end"] + 1):
            if octet not in taken:
                return _host(spec["gw"], octet)
        self.fail(
            f"No free IP left in network {name} for {vm}:nic{i} "
            f"(range .{dhcp['start']} - .{dhcp['end']})"
        )

    def _take(self, vm: str, i: int, nic: Spec, ip: str) -> None:
        name = nic["net"]
        owner = self.owners[name].get(ip)
        if owner is not None:
            self.fail(
                f"IP {ip} on network {name} is given to both {owner} and "
                f"{vm}:nic{i}; each NIC needs its own address"
            )
        self.owners[name][ip] = f"{vm}:nic{i}"
        nic["ip"] = ip
        self._add_names(vm, i, nic)

    def _add_names(self, vm: str, i: int, nic: Spec) -> None:
        """``vm-eth<i>``, ``vm`` (management NIC), ``vm-<net>``, ``vm-<net>-<k>``."""
        name, ip, dom = nic["net"], nic["ip"], self.domains[vm]
        mapping = self.nets[name]["mapping"]
        mapping[f"{vm}-eth{i}"] = ip
        if name == dom["mgmt_net"]:
            mapping[vm] = ip
        k = sum(1 for other in dom["nics"][:i] if other["net"] == name)
        if k == 0:
            mapping[f"{vm}-{name}"] = ip
        mapping[f"{vm}-{name}-{k}"] = ip


def _set_mtus(domains: dict[str, Spec], nets: dict[str, Spec]) -> None:
    for spec in domains.values():
        for nic in spec["nics"]:
            mtu = nets[nic["net"]].get("mtu", DEFAULT_MTU)
            if mtu != DEFAULT_MTU:
                nic["mtu"] = mtu


def _add_dns(nets: dict[str, Spec], mgmt: str | None) -> None:
    """The management net resolves every name; the others forward to it."""
    forward = nets[mgmt].get("gw") if mgmt else None
    records: dict[str, str] = {}
    for name, spec in nets.items():
        records.update(spec["mapping"])
        if name != mgmt:
            spec["dns_forward"] = forward
    if mgmt:
        given = nets[mgmt].get("dns_records")
        if given:
            given.update(records)
        else:
            nets[mgmt]["dns_records"] = records


# -- address helpers ------------------------------------------------------------
def _ipv4(value: Any) -> ipaddress.IPv4Address | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        return None


def _last_octet(ip: str) -> int:
    return int(ip.rsplit(".", 1)[1])


def _host(ip: str, octet: int) -> str:
    """``ip``'s /24 with last octet ``octet``."""
    return f"{ip.rsplit('.', 1)[0]}.{octet}"
