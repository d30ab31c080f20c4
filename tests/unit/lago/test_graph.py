"""The environment picture: DOT text from a status report, drawn by Graphviz."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import pytest

from lago import graph
from lago.plugins.output import DotOutFormatPlugin

STATUS = {
    "Prefix": {
        "Base directory": "/w/.lago/default",
        "UUID": "b338c730e60b11f1befe02fc00000001",
        "Networks": {
            "mgmt": {"gateway": "192.168.200.1", "status": "up", "management": True},
            "storage": {
                "gateway": "192.168.201.1",
                "status": "down",
                "management": False,
            },
        },
        "VMs": {
            "web": {
                "status": "running",
                "distro": "tiny",
                "NICs": {
                    "eth0": {"network": "mgmt", "ip": "192.168.200.2"},
                    "eth1": {"network": "storage", "ip": "N/A"},
                },
            },
            'db "primary"': {
                "status": "down",
                "NICs": {"eth0": {"network": "storage", "ip": "192.168.201.3"}},
            },
        },
    }
}


def test_nic_mac_is_derived_from_the_ip() -> None:
    assert graph.nic_mac("192.168.200.2") == "54:52:c0:a8:c8:02"


def test_dot_text_names_every_network_vm_and_nic() -> None:
    dot = graph.status_to_dot(STATUS)
    assert dot.startswith("graph lago {")
    for text in ("mgmt", "storage", "web", "running", "192.168.200.2",
                 "54:52:c0:a8:c8:02", "192.168.201.3", "(management)", "no static IP"):  # fmt: skip
        assert text in dot, text
    assert '"vm:db \\"primary\\"" -- "net:storage"' in dot
    assert "False" not in dot and "None" not in dot
    assert DotOutFormatPlugin().format(STATUS) == dot.rstrip("\n")


@pytest.mark.parametrize("name", ["picture.jpeg", "picture", "a.svg.txt"])
def test_unknown_formats_are_refused(name: str) -> None:
    with pytest.raises(graph.GraphFormatError, match="Unsupported graph format"):
        graph.format_of(name)


@pytest.mark.parametrize(
    "name,fmt", [("a.svg", "svg"), ("b.PNG", "png"), ("c.dot", "dot")]
)
def test_formats_from_the_suffix(name: str, fmt: str) -> None:
    assert graph.format_of(name) == fmt


@pytest.mark.skipif(not shutil.which("dot"), reason="graphviz is not installed")
def test_svg_holds_every_label() -> None:
    svg = graph.render(graph.status_to_dot(STATUS), "svg")
    root = ET.fromstring(svg)
    texts = {node.text for node in root.iter("{http://www.w3.org/2000/svg}text")}
    for text in (
        "mgmt",
        "storage",
        "web",
        'db "primary"',
        "192.168.200.2",
        "192.168.201.3",
    ):
        assert text in texts, text
    assert graph.render(graph.status_to_dot(STATUS), "png").startswith(b"\x89PNG")


def test_missing_graphviz_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    with pytest.raises(graph.GraphError, match="dot program is not installed"):
        graph.render("graph g {}", "svg")
