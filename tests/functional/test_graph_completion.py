"""``lago graph``, ``status -f dot`` and shell completion on real environments."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, LagoRunner
from .initfiles import MANAGEMENT_NET, write_tiny_env

TWO_NETS = REPO_ROOT / "docs/examples/two-nets.yaml"
SVG_TEXT = "{http://www.w3.org/2000/svg}text"
# `make docs-graph` sets this to refresh the picture shown in the docs
DOCS_SVG = os.environ.get("LAGO_DOCS_GRAPH_SVG")


def complete(lago: LagoRunner, line: str) -> list[str]:
    """What bash's argcomplete script gets from ``lago`` for ``line``."""
    out = lago.cwd / "completions"
    env = dict(lago.env)
    env.update(
        _ARGCOMPLETE="1",
        _ARGCOMPLETE_IFS="\n",
        COMP_LINE=line,
        COMP_POINT=str(len(line)),
        _ARGCOMPLETE_STDOUT_FILENAME=str(out),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "lago.cmd"],
        cwd=lago.cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    words = [word.strip() for word in out.read_text().split("\n") if word.strip()]
    out.unlink()
    return words


def svg_texts(path: Path) -> set[str]:
    root = ET.parse(path).getroot()
    return {node.text for node in root.iter(SVG_TEXT) if node.text}


@pytest.mark.skipif(not shutil.which("dot"), reason="graphviz is not installed")
def test_graph_of_two_networks(lago: LagoRunner) -> None:
    shutil.copy(TWO_NETS, lago.cwd / "LagoInitFile")
    lago("init")
    lago("start", timeout=900)
    status = json.loads(lago("-f", "json", "status").stdout)["Prefix"]
    assert set(status["Networks"]) == {"lago", "storage"}

    picture = lago.cwd / "env.svg"
    lago("graph", "-o", str(picture))
    texts = svg_texts(picture)
    for net in status["Networks"]:
        assert net in texts, net
    ips = []
    for name, vm in status["VMs"].items():
        assert name in texts, name
        assert vm["status"] in texts
        for nic in vm["NICs"].values():
            ips.append(nic["ip"])
            assert nic["ip"] in texts, nic["ip"]
            mac = "54:52:" + ":".join(f"{int(o):02x}" for o in nic["ip"].split("."))
            assert mac in texts, mac
    assert len(ips) == 4 and len(set(ips)) == 4
    if DOCS_SVG:
        shutil.copy(picture, DOCS_SVG)

    # the same graph as an output format, and a PNG by the file's suffix
    dot = lago("-f", "dot", "status").stdout
    assert dot.startswith("graph lago {")
    assert all(ip in dot for ip in ips)
    png = lago.cwd / "env.png"
    lago("graph", "-o", str(png))
    assert png.read_bytes().startswith(b"\x89PNG")
    assert lago("graph").stdout.lstrip().startswith(("<?xml", "<svg"))

    # completion offers the VMs of this real prefix
    assert sorted(complete(lago, "lago shell ")) == ["db", "web"]
    assert complete(lago, "lago copy-to-vm w") == ["web"]
    assert complete(lago, "lago set-current ") == ["default"]


def test_graph_refuses_an_unknown_format(lago: LagoRunner) -> None:
    write_tiny_env(lago.cwd, net=MANAGEMENT_NET)
    lago("init")
    target = lago.cwd / "env.jpeg"
    result = lago("graph", "-o", str(target), check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "Unsupported graph format" in result.stderr
    assert not target.exists()
    missing_dir = lago.cwd / "nowhere/env.svg"
    result = lago("graph", "-o", str(missing_dir), check=False)
    assert result.returncode == 2
    assert "its directory does not exist" in result.stderr
    assert not missing_dir.parent.exists()


def _has_snapshot_verb(lago: LagoRunner) -> bool:
    return lago("snapshot", "--help", check=False).returncode == 0


def test_revert_completes_snapshot_names(lago: LagoRunner) -> None:
    if not _has_snapshot_verb(lago):
        pytest.skip("the snapshot verb does not exist in this build yet")
    write_tiny_env(lago.cwd, net=MANAGEMENT_NET)
    lago("init")
    lago("start", "--wait-for-ssh", timeout=900)
    assert complete(lago, "lago revert ") == []
    lago("snapshot", "s1", timeout=900)
    assert complete(lago, "lago revert ") == ["s1"]
    lago("revert", "s1", timeout=900)
    lago("snapshot", "after-revert", timeout=900)
    assert sorted(complete(lago, "lago revert ")) == ["after-revert", "s1"]
    assert complete(lago, "lago revert a") == ["after-revert"]
