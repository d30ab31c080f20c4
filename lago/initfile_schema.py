"""The shape of a LagoInitFile: known keys and the values each may hold.

Every ``check_*`` function returns a normalized copy of its section (numbers
written as strings become integers, yes/no become booleans, a single group
becomes a list, a disk without ``name`` gets its ``dev``) or raises
:class:`~lago.initfile_values.FieldError`. Key order is kept, since saved
specs are written in it.

The known keys include those the original added when it saved a prefix
(``name``, ``mgmt_net``, ``snapshots``, nic ``mtu``, net ``mapping``...), so
that a saved or exported spec validates too.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from lago.initfile_disks import check_disks
from lago.initfile_values import (
    Checker,
    FieldError,
    as_bool,
    as_int,
    as_ipv4,
    as_list,
    as_mapping,
    as_mtu,
    as_str,
    as_str_list,
    as_text,
    at_most,
    check_keys,
    checked,
    child,
    fail,
    item,
    mapping,
    name_of,
    one_of,
    positive,
    require,
    string,
)

DOMAIN_TYPES = ("ova", "template")
NET_TYPES = ("nat", "bridge")


def _text(value: Any, path: str) -> str | None:
    return as_text(value, path, "a string")


def _groups(value: Any, path: str) -> list[str]:
    # a single group written as a scalar is one group, not one per letter
    if isinstance(value, str) and value:
        return [value]
    expected = "a group name or a list of group names"
    return as_str_list(value, path, expected, "a group name (string)")


def _scripts(value: Any, path: str) -> list[str]:
    return as_str_list(value, path, "a list of script paths", "a path (string)")


def _metadata(value: Any, path: str) -> dict[Any, Any]:
    """Free-form, except for the deploy-script lists Lago reads from it."""
    meta = dict(as_mapping(value, path, "a mapping"))
    for key in ("deploy-scripts", "ovirt-scripts"):
        if key in meta:
            meta[key] = _scripts(meta[key], child(path, key))
    return meta


def _ip_records(value: Any, path: str) -> dict[str, str]:
    records = as_mapping(value, path, "a mapping of host names to IPv4 addresses")
    for name, address in records.items():
        as_str(name, path, "host names (strings) as keys")
        as_ipv4(address, child(path, name))
    return records


def _optional_ipv4(value: Any, path: str) -> str | None:
    return None if value is None else as_ipv4(value, path)


def _ready(value: Any, path: str) -> str | list[str]:
    """A shell command run over SSH once the VM answers, or a list of them."""
    expected = "a command (string) or a list of commands"
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, str) or not isinstance(value, list) or not value:
        raise fail(path, expected, value)
    return as_str_list(value, path, expected, "a command (string)")


def _main_dns(value: Any, path: str) -> Any:
    if not isinstance(value, bool | str):
        raise fail(path, "true, false or a string", value)
    return value


NIC_VALUES: dict[str, Checker] = {
    "net": name_of("network"),
    "ip": as_ipv4,
    "mtu": as_mtu,
}

# beyond what any x86 machine type of qemu runs (255 CPUs on pc, 288 on q35;
# 16 TiB is past the guest's physical address space by default): a typo
MAX_VCPUS = 255
MAX_MEMORY_MIB = 16 * 2**20

DOMAIN_VALUES: dict[str, Checker] = {
    "memory": at_most(
        "a positive integer (MiB)", MAX_MEMORY_MIB, f"{MAX_MEMORY_MIB} MiB (16 TiB)"
    ),
    "vcpu": at_most(
        "a positive integer", MAX_VCPUS, f"{MAX_VCPUS}, the most CPUs qemu gives a VM"
    ),
    "cpu_model": string("a CPU model name (string), e.g. SandyBridge"),
    "cpu_custom": mapping("a mapping describing the libvirt <cpu> element"),
    "metadata": _metadata,
    "artifacts": lambda value, path: as_str_list(
        value, path, "a list of paths on the VM", "a path (string)"
    ),
    "groups": _groups,
    "bootstrap": as_bool,
    "vm-type": string("a VM type name (string)"),
    "vm-provider": string("a VM provider name (string)"),
    "ssh-user": _text,
    "ssh-password": _text,
    "root-password": _text,
    "distro": string("a distribution name (string), e.g. el7"),
    "boot_time_sec": positive("a positive integer (seconds)"),
    "ready": _ready,
    "service_provider": string("a service provider name, e.g. systemd"),
    "service_class": string("a service class name (string)"),
    "guest-agent": string("a guest agent service name (string)"),
    "skip-export": as_bool,
    "type": one_of(DOMAIN_TYPES),
    "url": string("a URL (string)"),
    "name": name_of("VM"),
    "mgmt_net": name_of("network"),
    "snapshots": mapping("a mapping of snapshot names to disk lists"),
}
#: Checked with context (declared networks, recursion) by :func:`check_domain`.
DOMAIN_KEYS = frozenset({*DOMAIN_VALUES, "nics", "disks", "based-on"})


def _octet(value: Any, path: str) -> int:
    return as_int(value, path, "an integer between 2 and 254 (the last octet)", 2, 254)


DHCP_VALUES: dict[str, Checker] = {"start": _octet, "end": _octet}

NET_VALUES: dict[str, Checker] = {
    "type": one_of(NET_TYPES),
    "gw": as_ipv4,
    "management": as_bool,
    "dns_domain_name": string("a DNS domain name (string)"),
    "dns_records": _ip_records,
    "main_dns": _main_dns,
    "mtu": as_mtu,
    "name": name_of("network"),
    "mapping": _ip_records,
    "dns_forward": _optional_ipv4,
}
NET_KEYS = frozenset({*NET_VALUES, "dhcp"})


def check_nics(value: Any, path: str, net_names: Collection[str]) -> list[dict]:
    expected = "a non-empty list of network interfaces like [{net: lago}]"
    if not as_list(value, path, expected):
        raise fail(path, expected, value)
    nics = []
    for index, nic in enumerate(value):
        where = item(path, index)
        as_mapping(nic, where, "a mapping like {net: <network name>}")
        check_keys(nic, NIC_VALUES, where)
        require(nic, "net", where, "the name of a network declared under 'nets'")
        checked_nic = checked(nic, NIC_VALUES, where)
        if checked_nic["net"] not in net_names:
            raise FieldError(
                child(where, "net"),
                f"unknown network {checked_nic['net']!r}, declared networks: "
                + ", ".join(sorted(net_names)),
            )
        nics.append(checked_nic)
    return nics


def merge_based_on(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with its ``based-on`` chain merged: each prototype's keys are
    copied when ``spec`` (or a nearer prototype) lacks them. ``spec`` is not
    changed; the values are shared, not copied."""
    merged = dict(spec)
    base = merged.pop("based-on", None)
    if base is not None:
        for key, value in merge_based_on(base).items():
            merged.setdefault(key, value)
    return merged


def check_domain(
    value: Any, path: str, net_names: Collection[str], partial: bool = False
) -> dict[str, Any]:
    """One VM spec; ``partial`` for a ``based-on`` prototype (no required keys)."""
    spec = as_mapping(value, path, "a mapping of VM settings")
    check_keys(spec, DOMAIN_KEYS, path)
    domain = checked(spec, DOMAIN_VALUES, path)
    if "based-on" in domain:
        where = child(path, "based-on")
        expected = "a mapping of VM settings (a YAML alias such as *base)"
        as_mapping(domain["based-on"], where, expected)
        domain["based-on"] = check_domain(domain["based-on"], where, net_names, True)
    if "nics" in domain:
        domain["nics"] = check_nics(domain["nics"], child(path, "nics"), net_names)
    if "disks" in domain:
        domain["disks"] = check_disks(domain["disks"], child(path, "disks"))
    if partial:
        return domain
    merged = merge_based_on(domain)
    meaning = "a list of network interfaces, e.g. [{net: lago}]"
    require(merged, "nics", path, meaning)
    if merged.get("cpu_model") and merged.get("cpu_custom") is not None:
        raise FieldError(
            path, "Defining both cpu_model and cpu_custom is not supported."
        )
    if merged.get("type") == "ova":
        meaning = "where to download the OVA of a 'type: ova' VM"
        require(merged, "url", path, meaning)
    return domain


def check_dhcp(value: Any, path: str) -> dict[str, Any] | Literal[False] | None:
    # null (or false) is how a NAT network asks for no DHCP server at all,
    # since leaving the key out gives it the default range
    if value is None or value is False:
        return value
    expected = "a mapping like {start: 100, end: 254}, or null for no DHCP"
    spec = as_mapping(value, path, expected)
    check_keys(spec, DHCP_VALUES, path)
    for key in DHCP_VALUES:
        require(spec, key, path, "the last octet of the DHCP range, 2..254")
    dhcp = checked(spec, DHCP_VALUES, path)
    if dhcp["start"] > dhcp["end"]:
        raise FieldError(
            path, f"start {dhcp['start']} is greater than end {dhcp['end']}"
        )
    return dhcp


def check_net(value: Any, path: str) -> dict[str, Any]:
    expected = "a mapping of network settings (use {} for the defaults)"
    spec = as_mapping(value, path, expected)
    check_keys(spec, NET_KEYS, path)
    net = checked(spec, NET_VALUES, path)
    if "dhcp" in net:
        net["dhcp"] = check_dhcp(net["dhcp"], child(path, "dhcp"))
    return net
