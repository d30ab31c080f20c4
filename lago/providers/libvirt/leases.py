"""DHCP leases of a running domain, and why one may be missing.

libvirt's dnsmasq keeps its leases in ``/var/lib/libvirt/dnsmasq/<bridge>.status``;
libvirt reads them for us (``interfaceAddresses`` with the lease source), one
cheap call that the readiness wait may make every second. dnsmasq logs why it
refused a client only to syslog, which a sandboxed host often lacks, so the
reasons given here come from the network's own definition instead.
"""

from __future__ import annotations

import ipaddress
import logging
import xml.etree.ElementTree as ET
from typing import Any

LOGGER = logging.getLogger(__name__)


def leased_ips(dom: Any, mac: str | None = None) -> list[str]:
    """The IPv4 addresses libvirt's DHCP servers leased to ``dom`` (to ``mac`` only
    when given), or [] when none or the domain is gone."""
    import libvirt

    try:
        interfaces = dom.interfaceAddresses(
            libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE
        )
    except libvirt.libvirtError as err:
        LOGGER.debug("No leases of %s: %s", dom.name(), err)
        return []
    ips = []
    for iface in (interfaces or {}).values():
        if mac and (iface.get("hwaddr") or "").lower() != mac.lower():
            continue
        for addr in iface.get("addrs") or []:
            if addr.get("type") == libvirt.VIR_IP_ADDR_TYPE_IPV4 and addr.get("addr"):
                ips.append(addr["addr"])
    return ips


def _dhcp_hosts(net_xml: ET.Element) -> tuple[bool, dict[str, str]]:
    """Whether the IPv4 side serves DHCP, and its reservations (MAC -> IP)."""
    for ip in net_xml.iterfind("ip"):
        if ip.get("family", "ipv4") != "ipv4":
            continue
        dhcp = ip.find("dhcp")
        if dhcp is None:
            continue
        hosts = {
            (host.get("mac") or "").lower(): host.get("ip") or ""
            for host in dhcp.iterfind("host")
        }
        return True, hosts
    return False, {}


def missing_lease_reason(
    conn: Any, net_name: str, mac: str | None, ip: str | None
) -> str:
    """Why the NIC ``mac`` on libvirt network ``net_name`` may have no lease."""
    import libvirt

    try:
        net = conn.networkLookupByName(net_name)
        active = net.isActive()
        xml = ET.fromstring(net.XMLDesc(0))
    except libvirt.libvirtError as err:
        return f"network {net_name} cannot be read: {str(err).strip()}"
    if not active:
        return f"network {net_name} is not running"
    serves, hosts = _dhcp_hosts(xml)
    if not serves:
        return f"network {net_name} has no DHCP server (dhcp disabled)"
    if mac is None:
        return f"the NIC on network {net_name} has no fixed MAC to look up"
    reserved = hosts.get(mac.lower())
    if reserved is None:
        return f"network {net_name} has no DHCP reservation for MAC {mac}"
    if ip and ipaddress.ip_address(reserved) != ipaddress.ip_address(ip):
        return f"network {net_name} reserves {reserved} for MAC {mac}, not {ip}"
    return (
        f"network {net_name} reserves {reserved} for MAC {mac}, but gave no "
        "lease: the guest's DHCP client did not ask, or its request got no answer "
        "(dnsmasq tells why only to syslog)"
    )
