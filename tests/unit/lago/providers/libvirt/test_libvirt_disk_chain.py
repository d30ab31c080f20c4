"""Backing files are spelled out in the domain XML; shared readable ones are
not relabelled, so libvirt never hands a store image to the qemu user."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from lago.providers.libvirt.disk_chain import BackingLayer, backing_layers
from lago.providers.libvirt.domain_xml import disk_records, template_env


def _qcow2(path: Path, backing: Path, backing_format: str) -> None:
    cmd = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", backing_format]
    subprocess.run([*cmd, "-b", str(backing), str(path)], check=True)


def _chain(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    store.mkdir()
    base = store / "repo:tiny:v1"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(base), "1M"], check=True)  # fmt: skip
    base.chmod(0o644)
    images = tmp_path / "images"
    images.mkdir()
    middle, top = images / "vm_root.qcow2", images / "vm_root.s1.qcow2"
    _qcow2(middle, base, "raw")
    middle.chmod(0o600)
    _qcow2(top, middle, "qcow2")
    return top


def test_backing_layers_top_first_readable_ones_left_alone(tmp_path: Path) -> None:
    top = _chain(tmp_path)
    assert backing_layers(str(top)) == (
        BackingLayer(str(tmp_path / "images/vm_root.qcow2"), "qcow2", relabel=True),
        BackingLayer(str(tmp_path / "store/repo:tiny:v1"), "raw", relabel=False),
    )


def test_an_image_without_backing_or_missing_has_no_layers(tmp_path: Path) -> None:
    alone = tmp_path / "alone.raw"
    alone.write_bytes(b"\0" * 512)
    assert backing_layers(str(alone)) == ()
    assert backing_layers(str(tmp_path / "missing.qcow2")) == ()


def test_the_disk_element_names_the_chain(tmp_path: Path) -> None:
    top = str(_chain(tmp_path))
    disk = {"path": top, "dev": "vda", "format": "qcow2"}
    records = disk_records([disk], 1, {top: backing_layers(top)})
    text = template_env().get_template("_devices.xml.j2").render(disks=records, nics=[])
    element = ET.fromstring(text)
    middle = element.find("backingStore")
    assert middle is not None
    assert middle.find("source").get("file") == str(tmp_path / "images/vm_root.qcow2")
    assert middle.find("format").get("type") == "qcow2"
    assert middle.find("source/seclabel") is None
    base = middle.find("backingStore")
    assert base.find("source").get("file") == str(tmp_path / "store/repo:tiny:v1")
    assert base.find("source/seclabel").attrib == {"model": "dac", "relabel": "no"}
    end = base.find("backingStore")
    assert end is not None and len(end) == 0


def test_no_chain_renders_as_before(tmp_path: Path) -> None:
    disk = {"path": "/x/vm_root.qcow2", "dev": "vda", "format": "qcow2"}
    text = (
        template_env()
        .get_template("_devices.xml.j2")
        .render(disks=disk_records([disk], 1), nics=[])
    )
    assert "backingStore" not in text
