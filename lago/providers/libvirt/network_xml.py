"""The libvirt network XML of a saved Lago network spec.

NAT networks get IPv4 and IPv6 ranges, a DHCP host entry per VM address and,
on management networks, DNS records for every VM name and the DNS domain as
the DHCP domain and search list. Values are escaped by Jinja2 autoescaping.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lago.dns_names import is_dns_name
from lago.errors import InitFileError
from lago.naming import ipv4_to_mac, ver_cmp
from lago.providers.libvirt.domain_xml import DEFAULT_MTU, MTU_VERSION, template_env

#: Prefixes made before this Lago version used the old DNS layout.
DNS_COMPAT_VERSION = "0.36.11"
#: From libvirt 2.2.0 a non-management net can simply have DNS disabled.
DNS_DISABLE_VERSION = 2002000
#: From libvirt 5.6.0 a network may pass its own options to dnsmasq.
DNSMASQ_OPTIONS_VERSION = 5006000
V6_PREFIX = "fd8f:1391:3a82:{}::"


@dataclass(frozen=True)
class DhcpHost:
    mac: str
    ip: str
    name: str


@dataclass(frozen=True)
class Dhcp:
    start: str
    end: str
    hosts: tuple[DhcpHost, ...]


@dataclass(frozen=True)
class DnsHost:
    ip: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Dns:
    attrs: tuple[tuple[str, str], ...]
    hosts: tuple[DnsHost, ...] = ()
    forwarder: str | None = None


def _ip_key(net: str, ip: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(ip)
    except ValueError as err:
        msg = f"Network {net}: {ip!r} is not an IPv4 address"
        raise InitFileError(msg) from err


def names_by_ip(net: str, mapping: Mapping[str, str]) -> list[tuple[str, list[str]]]:
    """Each distinct address of ``mapping`` (ascending) with its sorted names."""
    grouped: dict[str, list[str]] = {}
    for name, ip in mapping.items():
        grouped.setdefault(str(ip), []).append(str(name))
    return [
        (ip, sorted(grouped[ip]))
        for ip in sorted(grouped, key=lambda ip: _ip_key(net, ip))
    ]


def dhcp_record(net_spec: Mapping[str, Any], gw: str) -> Dhcp | None:
    """The DHCP range and one host per address; ``None`` without ``dhcp``."""
    dhcp = net_spec.get("dhcp")
    if not dhcp:
        return None
    subnet = gw.rsplit(".", 1)[0]
    hosts = tuple(
        # the alphabetically first name is the bare VM name on its mgmt net
        DhcpHost(mac=ipv4_to_mac(ip), ip=ip, name=names[0])
        for ip, names in names_by_ip(
            net_spec.get("name", ""), net_spec.get("mapping") or {}
        )
    )
    return Dhcp(
        start=f"{subnet}.{dhcp['start']}", end=f"{subnet}.{dhcp['end']}", hosts=hosts
    )


def dns_record(
    net_spec: Mapping[str, Any],
    v6_prefix: str,
    libvirt_version: int,
    compat_version: str,
) -> tuple[str | None, Dns]:
    """The ``<domain>`` name (or ``None``) and the ``<dns>`` element."""
    net = net_spec.get("name", "")
    management = bool(net_spec.get("management"))
    if ver_cmp(compat_version, DNS_COMPAT_VERSION) < 0:
        if not management:
            return None, Dns(attrs=(("forwardPlainNames", "yes"), ("enable", "yes")))
        hosts = tuple(
            DnsHost(ip, tuple(names))
            for ip, names in names_by_ip(net, net_spec.get("mapping") or {})
        )
        return net_spec.get("dns_domain_name"), Dns(
            attrs=(("forwardPlainNames", "yes"),), hosts=hosts
        )
    if management:
        records: list[DnsHost] = []
        for ip, names in names_by_ip(net, net_spec.get("dns_records") or {}):
            records += [
                DnsHost(ip, tuple(names)),
                DnsHost(v6_prefix + ip, tuple(names)),
            ]
        return net_spec.get("dns_domain_name"), Dns(
            attrs=(("forwardPlainNames", "no"),), hosts=tuple(records)
        )
    if libvirt_version < DNS_DISABLE_VERSION:
        return None, Dns(
            attrs=(("forwardPlainNames", "yes"),), forwarder=net_spec.get("dns_forward")
        )
    return None, Dns(attrs=(("enable", "no"),))


def dhcp_search_domain(domain: str | None, libvirt_version: int) -> str | None:
    """The domain to send as DHCP option 119 (search list), if any.

    dnsmasq sends the ``<domain>`` as option 15 only; clients that build
    their search list from option 119 need it there too. Only plain DNS
    names are passed on, as the value lands in dnsmasq's configuration.
    """
    if libvirt_version < DNSMASQ_OPTIONS_VERSION or not domain:
        return None
    return domain if is_dns_name(domain) else None


def _nat_xml(
    net_spec: Mapping[str, Any],
    libvirt_name: str,
    bridge_name: str,
    libvirt_version: int,
    compat_version: str,
) -> str:
    gw = net_spec.get("gw")
    if not gw:
        msg = f"Network {net_spec.get('name', libvirt_name)}: a NAT network needs a gw"
        raise InitFileError(msg)
    gw = str(gw)
    v6_prefix = V6_PREFIX.format(gw.split(".")[2])
    mtu = str(net_spec.get("mtu", DEFAULT_MTU))
    domain, dns = dns_record(net_spec, v6_prefix, libvirt_version, compat_version)
    return (
        template_env()
        .get_template("net_template-nat.xml.j2")
        .render(
            name=libvirt_name,
            bridge=bridge_name,
            gw=gw,
            v6_prefix=v6_prefix,
            dhcp=dhcp_record(net_spec, gw),
            mtu=mtu if libvirt_version > MTU_VERSION and mtu != DEFAULT_MTU else None,
            domain=domain,
            search_domain=dhcp_search_domain(domain, libvirt_version),
            dns=dns,
        )
    )


def network_xml(
    net_spec: Mapping[str, Any],
    *,
    libvirt_name: str,
    bridge_name: str,
    libvirt_version: int,
    compat_version: str = "1.0.0",
) -> str:
    """The network XML of ``net_spec`` (the saved ``virt/net-<name>`` format).

    ``compat_version`` is the Lago version that made the prefix: prefixes
    older than 0.36.11 keep their old DNS layout.
    """
    net_type = net_spec.get("type", "nat")
    if net_type == "bridge":
        return (
            template_env()
            .get_template("net_template-bridge.xml.j2")
            .render(name=libvirt_name, bridge=bridge_name)
        )
    if net_type != "nat":
        net = net_spec.get("name", libvirt_name)
        msg = f"Network {net}: unknown type {net_type!r} (allowed: nat, bridge)"
        raise InitFileError(msg)
    return _nat_xml(
        net_spec, libvirt_name, bridge_name, libvirt_version, compat_version
    )
