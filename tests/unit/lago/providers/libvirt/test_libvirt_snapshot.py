"""Snapshots of local-libvirt VMs with libvirt faked: which path is taken,
what libvirt is asked, and what the spec records."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libvirt
import pytest

from lago import snapshots
from lago.plugins.vm import VMError
from lago.providers.libvirt import snapshot as lvsnapshot


@dataclass
class FakeVM:
    spec: dict[str, Any]
    calls: list[Any] = field(default_factory=list)

    def name(self) -> str:
        return self.spec["name"]

    def save(self) -> None:
        self.calls.append("save")

    def wait_for_ssh(self) -> None:
        self.calls.append("wait_for_ssh")

    def ssh(self, command: list[str], **kwargs: Any) -> None:
        self.calls.append(("ssh", command))


@dataclass
class FakeDomain:
    fail: bool = False
    snapshots: list[tuple[str, int]] = field(default_factory=list)

    def name(self) -> str:
        return "abcd1234-vm01"

    def snapshotCreateXML(self, xml: str, flags: int) -> None:
        if self.fail:
            raise libvirt.libvirtError("unsupported configuration: nope")
        self.snapshots.append((xml, flags))
        # libvirt makes the overlays of an external snapshot
        for source in ET.fromstring(xml).iter("source"):
            Path(source.get("file")).write_bytes(b"")


@dataclass
class FakeProvider:
    vm: FakeVM
    prefix: Path
    dom: FakeDomain | None = None
    calls: list[str] = field(default_factory=list)

    def prefix_path(self) -> str:
        return str(self.prefix)

    def defined(self) -> bool:
        return self.dom is not None

    def _get_domain(self) -> FakeDomain | None:
        return self.dom

    def stop(self) -> None:
        self.calls.append("stop")

    def start(self) -> None:
        self.calls.append("start")


def _provider(tmp_path: Path, running: bool) -> FakeProvider:
    images = tmp_path / "images"
    images.mkdir()
    subprocess.run(
        ["qemu-img", "create", "-f", "qcow2", str(images / "vm01_root.qcow2"), "1M"],
        check=True, capture_output=True,
    )  # fmt: skip
    (images / "vm01_seed.iso").write_bytes(b"")
    spec = {
        "name": "vm01",
        "disks": [
            {"name": "root", "dev": "vda", "format": "qcow2",
             "path": "$LAGO_PREFIX_PATH/images/vm01_root.qcow2"},
            {"name": "lago-seed", "dev": "hdc", "format": "iso",
             "path": "$LAGO_PREFIX_PATH/images/vm01_seed.iso"},
        ],
        "snapshots": {},
    }  # fmt: skip
    return FakeProvider(FakeVM(spec), tmp_path, FakeDomain() if running else None)


def test_snapshot_xml_names_every_disk(tmp_path: Path) -> None:
    spec = _provider(tmp_path, running=False).vm.spec
    layers = snapshots.plan_create(spec, "s1", str(tmp_path))
    root = ET.fromstring(lvsnapshot.snapshot_xml("s1", layers, spec["disks"]))
    assert root.findtext("name") == "s1"
    vda, hdc = root.find("disks")
    assert vda.attrib == {"name": "vda", "snapshot": "external", "type": "file"}
    assert vda.find("source").get("file") == layers[0].path
    assert vda.find("driver").get("type") == "qcow2"
    assert hdc.attrib == {"name": "hdc", "snapshot": "no"}


def test_live_snapshot_with_agent_quiesces(tmp_path: Path, monkeypatch) -> None:
    provider = _provider(tmp_path, running=True)
    monkeypatch.setattr(lvsnapshot, "agent_answers", lambda dom: True)
    lvsnapshot.create(provider, "s1")
    ((_, flags),) = provider.dom.snapshots
    assert flags & libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
    assert flags & libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
    assert flags & libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE
    # the agent froze the guest: no SSH needed
    assert provider.vm.calls == ["save"]
    assert provider.vm.spec["disks"][0]["path"].endswith("vm01_root.s1.qcow2")
    assert list(provider.vm.spec["snapshots"]) == ["s1"]


def test_live_snapshot_without_agent_syncs(tmp_path: Path, monkeypatch) -> None:
    provider = _provider(tmp_path, running=True)
    monkeypatch.setattr(lvsnapshot, "agent_answers", lambda dom: False)
    lvsnapshot.create(provider, "s1")
    ((_, flags),) = provider.dom.snapshots
    assert not flags & libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE
    assert provider.vm.calls == ["wait_for_ssh", ("ssh", ["sync"]), "save"]


def test_failed_live_snapshot_changes_nothing(tmp_path: Path, monkeypatch) -> None:
    provider = _provider(tmp_path, running=True)
    provider.dom.fail = True
    monkeypatch.setattr(lvsnapshot, "agent_answers", lambda dom: True)
    before = sorted(p.name for p in (tmp_path / "images").iterdir())
    with pytest.raises(VMError, match="Failed to take snapshot s1 of vm01: unsup"):
        lvsnapshot.create(provider, "s1")
    assert provider.vm.spec["snapshots"] == {}
    assert "save" not in provider.vm.calls
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == before


def test_dead_snapshot_uses_qemu_img(tmp_path: Path) -> None:
    provider = _provider(tmp_path, running=False)
    lvsnapshot.create(provider, "s1")
    overlay = tmp_path / "images" / "vm01_root.s1.qcow2"
    assert overlay.exists()
    assert provider.vm.calls == ["save"]
    assert provider.vm.spec["snapshots"]["s1"][0]["path"].endswith("vm01_root.qcow2")


@pytest.mark.parametrize("running", [True, False])
def test_revert_restores_the_run_state(
    tmp_path: Path, monkeypatch, running: bool
) -> None:
    provider = _provider(tmp_path, running=False)
    lvsnapshot.create(provider, "s1")
    if running:
        provider.dom = FakeDomain()
    overlay = tmp_path / "images" / "vm01_root.s1.qcow2"
    overlay.write_bytes(b"written by the guest")
    lvsnapshot.revert(provider, "s1")
    assert provider.calls == (["stop", "start"] if running else [])
    assert overlay.read_bytes() != b"written by the guest"
    with pytest.raises(snapshots.SnapshotError, match=r"^No snapshot s2 for vm01$"):
        lvsnapshot.revert(provider, "s2")
