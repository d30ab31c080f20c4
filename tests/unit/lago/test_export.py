"""Export without VMs: init-file generation, disk managers on small images,
and the checks and rollback of an environment's export (fake VMs)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lago import export_env
from lago.export import (
    HANDLERS,
    DiskExportManager,
    FileExportManager,
    LagoExportError,
    TemplateExportManager,
    VMExportManager,
)
from lago.export_init import (
    EXPORT_FILTERS,
    exported_init_spec,
    filtered_spec,
    render_init,
    write_init,
)
from lago.plugins.output import (
    DefaultOutFormatPlugin,
    JSONOutFormatPlugin,
    YAMLOutFormatPlugin,
)

ENV_SPEC: dict[str, Any] = {
    "domains": {
        "vm01": {
            "name": "vm01",
            "memory": 256,
            "snapshots": {"s1": []},
            "metadata": {"deploy-scripts": ["$LAGO_PREFIX_PATH/scripts/a.sh"], "k": 1},
            "disks": [
                {
                    "type": "template",
                    "name": "root",
                    "dev": "vda",
                    "format": "qcow2",
                    "template_name": "tiny",
                    "path": "$LAGO_PREFIX_PATH/images/vm01_root.qcow2",
                    "metadata": {"distro": "tiny"},
                },
                {
                    "type": "empty",
                    "name": "scratch",
                    "dev": "vdb",
                    "format": "raw",
                    "size": "1G",
                    "path": "$LAGO_PREFIX_PATH/images/vm01_scratch.raw",
                },
                {
                    "type": "file",
                    "name": "lago-seed",
                    "dev": "hdc",
                    "format": "iso",
                    "path": "$LAGO_PREFIX_PATH/images/vm01_seed.iso",
                    "skip-export": True,
                },
            ],
        },
        "vm02": {"name": "vm02", "disks": []},
    },
    "nets": {
        "lago": {
            "name": "lago",
            "gw": "192.168.200.1",
            "mapping": {"vm01": "192.168.200.2"},
            "dns_records": {"vm01": "192.168.200.2"},
        }
    },
}


def _exported() -> dict[str, Any]:
    return exported_init_spec(filtered_spec(ENV_SPEC, EXPORT_FILTERS), ["vm01"])


def test_init_spec_drops_what_belongs_to_the_old_prefix() -> None:
    spec = _exported()
    vm = spec["domains"]["vm01"]
    assert list(spec["domains"]) == ["vm01"]
    assert "name" not in vm and "snapshots" not in vm
    assert vm["metadata"] == {"k": 1}
    assert all("metadata" not in disk for disk in vm["disks"])
    assert spec["nets"]["lago"] == {"name": "lago", "gw": "192.168.200.1"}
    # the source is untouched
    assert ENV_SPEC["nets"]["lago"]["mapping"]
    assert ENV_SPEC["domains"]["vm01"]["disks"][0]["metadata"]


def test_init_spec_rewrites_disks_for_the_exported_images() -> None:
    disks = _exported()["domains"]["vm01"]["disks"]
    assert [disk["name"] for disk in disks] == ["root", "scratch"]
    root, scratch = disks
    assert root["path"] == "$LAGO_INITFILE_PATH/vm01_root.qcow2"
    assert root["template_type"] == "qcow2" and root["type"] == "template"
    assert scratch["path"] == "$LAGO_INITFILE_PATH/vm01_scratch.raw"
    assert scratch["type"] == "file" and scratch["make_a_copy"] == "True"


def test_init_is_yaml_without_aliases_unless_another_format_is_chosen() -> None:
    shared = {"a": 1}
    spec = {"domains": {"x": {"m": shared}, "y": {"m": shared}}}
    for out_format in (None, DefaultOutFormatPlugin(), YAMLOutFormatPlugin()):
        text = render_init(spec, out_format)
        assert "&" not in text and "*" not in text
        assert yaml.safe_load(text) == spec
    assert json.loads(render_init(spec, JSONOutFormatPlugin())) == spec


def test_write_init_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "LagoInitFile"
    target.write_text("mine")
    with pytest.raises(FileExistsError):
        write_init(str(target), ENV_SPEC, ["vm01"], None)
    assert target.read_text() == "mine"


# -- disk managers on real (small) images ------------------------------------


def _qemu_img(*args: str) -> str:
    return subprocess.run(
        ["qemu-img", *args], check=True, capture_output=True, text=True
    ).stdout


def _info(path: Path) -> dict[str, Any]:
    return json.loads(_qemu_img("info", "-U", "--output=json", str(path)))


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    """A store entry ``repo:tiny:v1`` (raw) and a qcow2 layer on it."""
    (tmp_path / "src").mkdir()
    base = tmp_path / "src" / "repo:tiny:v1"
    _qemu_img("create", "-f", "raw", str(base), "8M")
    layer = tmp_path / "src" / "vm01_root.qcow2"
    _qemu_img("create", "-f", "qcow2", "-F", "raw", "-b", str(base), str(layer))
    subprocess.run(
        ["qemu-io", "-c", "write -P 0x5a 1M 64k", str(layer)],
        check=True, capture_output=True,
    )  # fmt: skip
    (tmp_path / "out").mkdir()
    return layer


def _template_disk(layer: Path) -> dict[str, Any]:
    return {
        "type": "template",
        "format": "qcow2",
        "path": str(layer),
        "metadata": {"distro": "tiny"},
    }


def test_handlers_pick_a_manager_per_disk_type(chain: Path) -> None:
    assert HANDLERS["empty"] is FileExportManager
    manager = DiskExportManager.get_instance_by_type(
        str(chain.parent), _template_disk(chain), False, standalone=False
    )
    assert isinstance(manager, TemplateExportManager)
    with pytest.raises(LagoExportError, match="Unknown disk type"):
        DiskExportManager.get_instance_by_type(
            "/x", {"type": "cdrom", "path": "/a"}, False
        )


def test_layered_export_points_at_the_template_beside_it(chain: Path) -> None:
    out = chain.parent.parent / "out"
    TemplateExportManager(str(out), "template", _template_disk(chain), False, standalone=False).export()  # fmt: skip
    image = out / "vm01_root.qcow2"
    info = _info(image)
    assert info["backing-filename"] == "./tiny:v1"
    assert info["backing-filename-format"] == "raw"
    assert (out / "vm01_root.qcow2.hash").read_text() == _sha1(image)
    metadata = json.loads((out / "vm01_root.qcow2.metadata").read_text())
    assert metadata["sha1"] == _sha1(image)
    assert metadata["distro"] == "tiny"
    assert metadata["base"] == "vm01_root.qcow2"
    assert metadata["name"] == "vm01_root.qcow2"
    assert metadata["size"] == image.stat().st_size
    assert " " not in (out / "vm01_root.qcow2.metadata").read_text()


def test_standalone_export_has_the_data_and_no_backing_file(chain: Path) -> None:
    out = chain.parent.parent / "out"
    TemplateExportManager(str(out), "template", _template_disk(chain), False, standalone=True).export()  # fmt: skip
    image = out / "vm01_root.qcow2"
    assert "backing-filename" not in _info(image)
    _qemu_img("compare", "-f", "qcow2", "-F", "qcow2", str(chain), str(image))
    metadata = json.loads((out / "vm01_root.qcow2.metadata").read_text())
    assert metadata["base"] == "None"


def test_two_layers_are_refused_before_anything_is_written(chain: Path) -> None:
    top = chain.parent / "vm01_top.qcow2"
    _qemu_img("create", "-f", "qcow2", "-F", "qcow2", "-b", str(chain), str(top))
    out = chain.parent.parent / "out"
    disk = _template_disk(top)
    with pytest.raises(LagoExportError, match="one layer only"):
        VMExportManager([disk], str(out), False, standalone=False).export()
    assert list(out.iterdir()) == []


def test_compressed_export_replaces_the_image_by_xz(tmp_path: Path) -> None:
    image = tmp_path / "data.raw"
    image.write_bytes(b"lago" * 4096)
    out = tmp_path / "out"
    out.mkdir()
    disk = {"type": "file", "format": "raw", "path": str(image)}
    paths = VMExportManager([disk], str(out), True, with_threads=False).export()
    assert paths == [str(out / "data.raw")]
    assert sorted(p.name for p in out.iterdir()) == [
        "data.raw.hash",
        "data.raw.metadata",
        "data.raw.xz",
    ]
    subprocess.run(["xz", "--decompress", str(out / "data.raw.xz")], check=True)
    assert (out / "data.raw").read_bytes() == image.read_bytes()
    assert (out / "data.raw.hash").read_text() == _sha1(image)


def test_a_failed_disk_leaves_none_of_its_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    disk = {"type": "file", "format": "raw", "path": str(tmp_path / "gone.raw")}
    with pytest.raises(Exception, match=r"gone\.raw"):
        FileExportManager(str(out), "file", disk, False).export()
    assert list(out.iterdir()) == []


# -- the environment's export, with fake VMs ----------------------------------


class FakeVM:
    def __init__(self, name: str, running: bool = False, fail: bool = False,
                 spec: dict[str, Any] | None = None, image: Path | None = None) -> None:  # fmt: skip
        self._name, self._running, self._fail = name, running, fail
        self.spec = spec or {}
        self.image = image

    def name(self) -> str:
        return self._name

    def defined(self) -> bool:
        return self._running

    def export_disks(self, standalone: bool = True, dst_dir: str | None = None,
                     compress: bool = False, collect_only: bool = False,
                     with_threads: bool = True) -> list[str]:  # fmt: skip
        assert self.image is not None and dst_dir is not None
        if collect_only:
            return [str(self.image)]
        target = Path(dst_dir) / self.image.name
        target.write_bytes(self.image.read_bytes())
        if self._fail:
            raise LagoExportError(f"disk of {self._name} failed")
        return [str(target)]


class FakeEnv:
    def __init__(self, *vms: FakeVM) -> None:
        self.vms = {vm.name(): vm for vm in vms}
        self.inits: list[str] = []

    def get_vms(self) -> dict[str, FakeVM]:
        return dict(self.vms)

    def generate_init(self, dst: str, out_format: Any, vms: list[FakeVM]) -> None:
        self.inits.append(dst)
        Path(dst).write_text("domains: {}\n")


def _image(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(b"x")
    return path


def _request(dst: Path, **kwargs: Any) -> export_env.ExportRequest:
    return export_env.ExportRequest(dst_dir=str(dst), **kwargs)


def test_unknown_running_and_skipped_vms(tmp_path: Path) -> None:
    env = FakeEnv(
        FakeVM("a", image=_image(tmp_path, "a.raw")),
        FakeVM("b", running=True),
        FakeVM("c", spec={"skip-export": True}),
    )
    dst = tmp_path / "out"
    with pytest.raises(LagoExportError, match=r"^Entity nope does not exist$"):
        export_env.export_vms(env, _request(dst, vms_names=["a", "nope"]))
    with pytest.raises(LagoExportError, match=r"must be off:\nb$"):
        export_env.export_vms(env, _request(dst))
    assert not dst.exists()
    found = export_env.export_vms(env, _request(dst, vms_names=["a", "c"], collect_only=True))  # fmt: skip
    assert found == {"a": [str(tmp_path / "a.raw")]}
    assert list(dst.iterdir()) == []


def test_a_destination_holding_the_files_is_left_as_it_was(tmp_path: Path) -> None:
    env = FakeEnv(FakeVM("a", image=_image(tmp_path, "a.raw")))
    dst = tmp_path / "out"
    dst.mkdir()
    (dst / "a.raw.hash").write_text("old")
    with pytest.raises(LagoExportError, match=r"already holds .*a\.raw\.hash"):
        export_env.export_vms(env, _request(dst))
    assert [p.name for p in dst.iterdir()] == ["a.raw.hash"]
    (dst / "a.raw.hash").unlink()
    (dst / "LagoInitFile").write_text("old")
    with pytest.raises(LagoExportError, match=r"already holds .*LagoInitFile"):
        export_env.export_vms(env, _request(dst))
    assert [p.name for p in dst.iterdir()] == ["LagoInitFile"]


def test_a_failed_export_removes_everything_it_wrote(tmp_path: Path) -> None:
    env = FakeEnv(
        FakeVM("a", image=_image(tmp_path, "a.raw")),
        FakeVM("b", image=_image(tmp_path, "b.raw"), fail=True),
    )
    dst = tmp_path / "new"
    with pytest.raises(LagoExportError, match="disk of b failed"):
        export_env.export_vms(env, _request(dst, with_threads=False))
    assert not dst.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep").write_text("")
    with pytest.raises(LagoExportError):
        export_env.export_vms(env, _request(existing))
    assert [p.name for p in existing.iterdir()] == ["keep"]


def test_a_good_export_writes_disks_then_the_init_file(tmp_path: Path) -> None:
    env = FakeEnv(FakeVM("a", image=_image(tmp_path, "a.raw")))
    dst = tmp_path / "out"
    assert export_env.export_vms(env, _request(dst, init_file_name="Init")) is None
    assert sorted(p.name for p in dst.iterdir()) == ["Init", "a.raw"]
    assert env.inits == [str(dst / "Init")]


def test_a_failed_init_file_takes_the_exported_disks_with_it(tmp_path: Path) -> None:
    class BrokenInit(FakeEnv):
        def generate_init(self, dst: str, out_format: Any, vms: list[FakeVM]) -> None:
            Path(dst).write_text("half")
            raise OSError("disk full")

    env = BrokenInit(FakeVM("a", image=_image(tmp_path, "a.raw")))
    dst = tmp_path / "existing"
    dst.mkdir()
    (dst / "LagoInitFile.hash").write_text("not ours")
    with pytest.raises(OSError, match="disk full"):
        export_env.export_vms(env, _request(dst))
    assert [p.name for p in dst.iterdir()] == ["LagoInitFile.hash"]


# -- init from an export: the metadata beside each image ----------------------


def _disk_context(tmp_path: Path) -> Any:
    from lago.disks import DiskContext
    from lago.paths import Paths

    prefix = tmp_path / "prefix"
    (prefix / "images").mkdir(parents=True)

    def no_template(name: str, version: str | None) -> tuple[str, dict[str, Any]]:
        raise AssertionError(f"template {name} looked up")

    return DiskContext(vm_name="vm01", paths=Paths(str(prefix)), resolve_template=no_template)  # fmt: skip


def test_init_takes_disk_metadata_from_beside_an_exported_image(tmp_path: Path) -> None:
    from lago.disks import create_disk

    image = tmp_path / "vm01_root.qcow2"
    _qemu_img("create", "-f", "qcow2", str(image), "8M")
    (tmp_path / "vm01_root.qcow2.metadata").write_text(
        json.dumps({"seed": "nocloud", "distro": "tiny", "sha1": "x"})
    )
    disk = {"type": "template", "template_type": "qcow2", "name": "root",
            "dev": "vda", "format": "qcow2", "path": str(image),
            "metadata": {"distro": "mine"}}  # fmt: skip
    made = create_disk(_disk_context(tmp_path), disk)
    assert made["metadata"] == {"seed": "nocloud", "distro": "mine", "sha1": "x"}
    assert made["path"] == "$LAGO_PREFIX_PATH/images/vm01_root.qcow2"
    copied = create_disk(
        _disk_context(tmp_path / "other"),
        {"type": "file", "name": "root", "dev": "vda", "format": "qcow2",
         "path": str(image), "make_a_copy": True},
    )  # fmt: skip
    assert copied["metadata"]["seed"] == "nocloud"


def test_init_of_a_plain_file_disk_gets_no_metadata(tmp_path: Path) -> None:
    from lago.disks import create_disk

    image = tmp_path / "data.raw"
    image.write_bytes(b"")
    made = create_disk(
        _disk_context(tmp_path),
        {"type": "file", "name": "data", "dev": "vdb", "format": "raw", "path": str(image)},
    )  # fmt: skip
    assert "metadata" not in made
