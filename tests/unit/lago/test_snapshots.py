"""The pure parts of snapshots: spec records and the qcow2 overlay chain."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lago import snapshots
from lago.qemu_img import get_qemu_info


def _spec(prefix: Path) -> dict[str, Any]:
    return {
        "name": "vm01",
        "disks": [
            {"name": "root", "dev": "vda", "format": "qcow2",
             "path": "$LAGO_PREFIX_PATH/images/vm01_root.qcow2"},
            {"name": "data", "dev": "vdb", "format": "raw",
             "path": str(prefix / "elsewhere" / "data.raw")},
            {"name": "lago-seed", "dev": "hdc", "format": "iso",
             "path": "$LAGO_PREFIX_PATH/images/vm01_seed.iso"},
        ],
        "snapshots": {},
    }  # fmt: skip


@pytest.mark.parametrize("name", ["s1", "before-upgrade", "v1.2", "A_b+c"])
def test_good_names(name: str) -> None:
    assert snapshots.check_name(name) == name


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "-x", "a b", "é"])
def test_bad_names(name: str) -> None:
    with pytest.raises(snapshots.SnapshotError, match="Invalid snapshot name"):
        snapshots.check_name(name)


def test_no_name() -> None:
    with pytest.raises(snapshots.SnapshotError, match=r"^No snapshot name provided$"):
        snapshots.check_name("")
    assert snapshots.SnapshotError.exit_code == 1


def test_plan_create_covers_writable_disks(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    layers = snapshots.plan_create(spec, "s1", str(tmp_path))
    assert [layer.dev for layer in layers] == ["vda", "vdb"]
    root, data = layers
    assert root.saved_path == "$LAGO_PREFIX_PATH/images/vm01_root.s1.qcow2"
    assert root.path == str(tmp_path / "images" / "vm01_root.s1.qcow2")
    assert root.backing == str(tmp_path / "images" / "vm01_root.qcow2")
    assert (root.backing_format, data.backing_format) == ("qcow2", "raw")
    # the overlay of an outside file still lives in the prefix
    assert data.path == str(tmp_path / "images" / "vm01_data.s1.qcow2")
    assert data.backing == str(tmp_path / "elsewhere" / "data.raw")


def test_record_create_moves_disks_and_keeps_frozen_ones(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    before = copy.deepcopy(spec)
    snapshots.record_create(spec, "s1", snapshots.plan_create(spec, "s1", "/p"))
    assert spec["snapshots"] == {"s1": before["disks"][:2]}
    assert spec["disks"][0]["path"] == "$LAGO_PREFIX_PATH/images/vm01_root.s1.qcow2"
    assert spec["disks"][1] == {
        **before["disks"][1],
        "format": "qcow2",
        "path": "$LAGO_PREFIX_PATH/images/vm01_data.s1.qcow2",
    }
    assert spec["disks"][2] == before["disks"][2]
    with pytest.raises(
        snapshots.SnapshotError, match=r"^Snapshot s1 already exists for vm01$"
    ):
        snapshots.plan_create(spec, "s1", "/p")


def test_checks_of_all_vms_before_any_change() -> None:
    disks = [{"name": "root", "dev": "vda", "format": "qcow2", "path": "/r"}]
    specs = [
        {"name": "vm01", "snapshots": {"s1": []}, "disks": disks},
        {"name": "vm02", "snapshots": {}, "disks": disks},
        {"name": "remote", "vm-provider": "ssh", "snapshots": {}},
    ]
    with pytest.raises(snapshots.SnapshotError, match=r"^No snapshot s1 for vm02$"):
        snapshots.check_revert_all(specs, "s1")
    with pytest.raises(snapshots.SnapshotError, match="already exists for vm01"):
        snapshots.check_create_all(specs, "s1")
    assert snapshots.check_create_all(specs, "s2") == "s2"
    # a VM with no disk of its own does not stop a revert
    assert snapshots.check_revert_all(specs[:1] + specs[2:], "s1") == "s1"


def test_plan_revert(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    with pytest.raises(snapshots.SnapshotError, match=r"^No snapshot s1 for vm01$"):
        snapshots.plan_revert(spec, "s1", str(tmp_path))
    snapshots.record_create(spec, "s1", snapshots.plan_create(spec, "s1", "/p"))
    layers = snapshots.plan_revert(spec, "s1", "/p")
    assert [(lay.path, lay.backing, lay.backing_format) for lay in layers] == [
        ("/p/images/vm01_root.s1.qcow2", "/p/images/vm01_root.qcow2", "qcow2"),
        ("/p/images/vm01_data.s1.qcow2", str(tmp_path / "elsewhere/data.raw"), "raw"),
    ]
    # a disk that is some snapshot's frozen file is never replaced
    spec["disks"][0]["path"] = spec["snapshots"]["s1"][0]["path"]
    with pytest.raises(snapshots.SnapshotError, match="is frozen by a snapshot"):
        snapshots.plan_revert(spec, "s1", "/p")


def _content(path: Path) -> bytes:
    """What the guest would read at the start of the disk."""
    raw = path.with_suffix(".raw-copy")
    subprocess.run(
        ["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(path), str(raw)],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        with open(raw, "rb") as stream:
            return stream.read(16)
    finally:
        raw.unlink()


def _write(path: Path, data: bytes) -> None:
    """Write into the image as a guest would (through its backing chain)."""
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c",
         f"write -P 0x{data[0]:02x} 0 16", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip


@pytest.mark.skipif(
    not (shutil.which("qemu-img") and shutil.which("qemu-io")),
    reason="qemu-img and qemu-io are needed",
)
def test_overlay_chain_many_times(tmp_path: Path) -> None:
    """snapshot s1, write, revert s1, snapshot s2, write, revert s1, revert s2."""
    images = tmp_path / "images"
    images.mkdir()
    base = images / "vm01_root.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(base), "1M"], check=True,
                   capture_output=True)  # fmt: skip
    spec = {
        "name": "vm01",
        "disks": [{"name": "root", "dev": "vda", "format": "qcow2",
                   "path": "$LAGO_PREFIX_PATH/images/vm01_root.qcow2"}],
        "snapshots": {},
    }  # fmt: skip
    prefix = str(tmp_path)

    def current() -> Path:
        return Path(snapshots.expand(spec["disks"][0]["path"], prefix))

    def take(name: str) -> None:
        layers = snapshots.plan_create(spec, name, prefix)
        snapshots.write_overlays(layers)
        snapshots.record_create(spec, name, layers)

    def revert(name: str) -> None:
        snapshots.write_overlays(snapshots.plan_revert(spec, name, prefix), True)

    _write(current(), b"\x01")
    take("s1")
    assert current() == images / "vm01_root.s1.qcow2"
    assert get_qemu_info(str(current()))["backing-filename"] == str(base)
    assert current().stat().st_mode & 0o777 == 0o600
    _write(current(), b"\x02")
    assert _content(current()) == b"\x02" * 16
    revert("s1")
    assert _content(current()) == b"\x01" * 16

    _write(current(), b"\x03")
    take("s2")
    assert current() == images / "vm01_root.s2.qcow2"
    _write(current(), b"\x04")
    revert("s1")
    assert _content(current()) == b"\x01" * 16
    revert("s2")
    assert _content(current()) == b"\x03" * 16
    # the frozen files were never written after being frozen
    assert _content(base) == b"\x01" * 16
    chain = get_qemu_info(str(current()), backing_chain=True)
    assert [Path(item["filename"]).name for item in chain] == [
        "vm01_root.s2.qcow2",
        "vm01_root.s1.qcow2",
        "vm01_root.qcow2",
    ]


def test_sdk_exposes_snapshots(tmp_path: Path) -> None:
    from lago.prefix import Prefix
    from lago.sdk_utils import SDKWrapper

    wrapper = SDKWrapper(Prefix(tmp_path))
    for name in ("create_snapshots", "revert_snapshots", "get_snapshots"):
        assert callable(getattr(wrapper, name))
    with pytest.raises(AttributeError):
        wrapper.wait_for_ssh  # noqa: B018 - a method the SDK does not expose


def test_debian12_has_a_guest_agent() -> None:
    # quiesced live snapshots need the agent in the guest and its channel
    from lago.template_builder import debian

    assert "qemu-guest-agent" in debian.INCLUDE
    template = Path(snapshots.__file__).parent / "providers/libvirt/templates"
    text = (template / "dom_template-base.xml.j2").read_text()
    assert "name='org.qemu.guest_agent.0'" in text
