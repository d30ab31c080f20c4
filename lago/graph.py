"""A picture of an environment: its ``status`` report as a Graphviz graph.

Networks are ellipses (the management network drawn bold), VMs are boxes
coloured by state, and each NIC is an edge from its VM to its network,
labelled with the interface name, the IP and the MAC Lago gives it. The DOT
text is rendered to SVG, PNG or PDF by Graphviz's ``dot`` program.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lago.errors import LagoException, LagoUserException
from lago.naming import ipv4_to_mac

#: Output formats of :func:`render`, by file suffix; ``.dot`` is the DOT text.
FORMATS = ("svg", "png", "pdf", "dot")

_STATE_COLOURS = {
    "running": "palegreen",
    "down": "lightgrey",
    "shut off": "lightgrey",
    "paused": "khaki",
}


class GraphError(LagoException):
    """Graphviz is missing or could not draw the graph."""


class GraphFormatError(LagoUserException):
    """The requested picture format is not one Lago draws."""


def nic_mac(ip: str) -> str:
    """The MAC of a NIC with a static ``ip``, as the domain definitions give it."""
    return ipv4_to_mac(ip)


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n") + '"'


def _attrs(**attrs: str) -> str:
    return ", ".join(f"{key}={_quote(value)}" for key, value in attrs.items())


def _lines(*parts: Any) -> str:
    return "\n".join(str(part) for part in parts if part)


def _statement(subject: str, **attrs: str) -> str:
    return f"  {subject} [{_attrs(**attrs)}];"


def _net_node(name: str, net: Mapping[str, Any]) -> str:
    management = bool(net.get("management"))
    state = str(net.get("status", ""))
    return _statement(
        _quote("net:" + name),
        shape="ellipse",
        style="filled",
        fillcolor="lightblue" if state == "up" else "white",
        penwidth="3" if management else "1",
        label=_lines(
            name,
            net.get("gateway") and f"gateway {net['gateway']}",
            state + (" (management)" if management else ""),
        ),
    )


def _vm_node(name: str, vm: Mapping[str, Any]) -> str:
    state = str(vm.get("status", "unknown"))
    return _statement(
        _quote("vm:" + name),
        shape="box",
        style="rounded,filled",
        fillcolor=_STATE_COLOURS.get(state, "white"),
        label=_lines(name, state, vm.get("distro")),
    )


def _nic_edges(name: str, vm: Mapping[str, Any]) -> Iterable[str]:
    nics = vm.get("NICs") or {}
    for nic_name in sorted(nics):
        nic = nics[nic_name]
        ip = nic.get("ip")
        has_ip = bool(ip) and ip != "N/A"
        edge = f"{_quote('vm:' + name)} -- {_quote('net:' + str(nic['network']))}"
        yield _statement(
            edge,
            label=_lines(
                nic_name, ip if has_ip else "no static IP", has_ip and nic_mac(ip)
            ),
        )


def status_to_dot(status: Mapping[str, Any]) -> str:
    """DOT text of a ``status`` report (the ``{"Prefix": {...}}`` mapping)."""
    prefix = status.get("Prefix", status)
    nets = prefix.get("Networks") or {}
    vms = prefix.get("VMs") or {}
    title = f"Lago environment {prefix.get('UUID', '')}".strip()
    font = "sans-serif"
    lines = [
        "graph lago {",
        _statement("graph", label=title, labelloc="t", rankdir="LR", fontname=font),
        _statement("node", fontname=font),
        _statement("edge", fontname=font, fontsize="10"),
    ]
    lines += [_net_node(name, nets[name]) for name in sorted(nets)]
    lines += [_vm_node(name, vms[name]) for name in sorted(vms)]
    for name in sorted(vms):
        lines += _nic_edges(name, vms[name])
    lines.append("}")
    return "\n".join(lines) + "\n"


def format_of(path: str | Path) -> str:
    """The picture format a file name asks for, from its suffix."""
    suffix = Path(path).suffix.lstrip(".").lower()
    if suffix not in FORMATS:
        raise GraphFormatError(
            f"Unsupported graph format for {path}: "
            f"name a file ending in {', '.join('.' + fmt for fmt in FORMATS)}"
        )
    return suffix


def render(dot_text: str, fmt: str) -> bytes:
    """Draw ``dot_text`` as ``fmt`` (one of :data:`FORMATS`) with Graphviz."""
    if fmt == "dot":
        return dot_text.encode()
    if fmt not in FORMATS:
        raise GraphFormatError(f"Unsupported graph format: {fmt}")
    dot = shutil.which("dot")
    if dot is None:
        raise GraphError(
            "Graphviz's dot program is not installed",
            hint="Install the graphviz package",
        )
    proc = subprocess.run(
        [dot, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, check=False
    )
    if proc.returncode != 0:
        reason = proc.stderr.decode(errors="replace").strip()
        raise GraphError(f"dot failed to draw the graph: {reason}")
    return proc.stdout
