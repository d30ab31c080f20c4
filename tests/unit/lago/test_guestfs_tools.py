"""lago.guestfs_tools against a fake libguestfs handle."""

from __future__ import annotations

import io
import sys
import tarfile
import types
from pathlib import Path
from typing import Any

import pytest

from lago import guestfs_tools
from lago.plugins.vm import ExtractPathNoPathError


class FakeConn:
    """Just enough of a guestfs.GuestFS for the module."""

    def __init__(self, files: dict[str, bytes], dirs: dict[str, bytes]) -> None:
        self.files = files  # guest path -> content
        self.dirs = dirs  # guest path -> tar archive of its contents
        self.roots: list[str] = []
        self.filesystems = {"/dev/sda1": "ext4", "/dev/sda2": "swap"}
        self.labels = {"/dev/sda1": "lago-root"}
        self.calls: list[tuple[Any, ...]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))

    def inspect_os(self) -> list[str]:
        return self.roots

    def list_filesystems(self) -> dict[str, str]:
        return self.filesystems

    def vfs_label(self, device: str) -> str:
        return self.labels.get(device, "")

    def is_dir(self, path: str, followsymlinks: bool = False) -> bool:
        return path in self.dirs

    def is_file(self, path: str, followsymlinks: bool = False) -> bool:
        return path in self.files

    def download(self, path: str, host_path: str) -> None:
        Path(host_path).write_bytes(self.files[path])

    def tar_out(self, path: str, host_path: str) -> None:
        Path(host_path).write_bytes(self.dirs[path])


def _tar(*members: tuple[str, bytes]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as archive:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return data.getvalue()


@pytest.fixture
def conn(monkeypatch: pytest.MonkeyPatch) -> FakeConn:
    fake = FakeConn(
        files={"/etc/hostname": b"vm01\n"},
        dirs={"/var/log": _tar(("./messages", b"log\n"), ("../../../escape", b"x"))},
    )
    monkeypatch.setattr(guestfs_tools, "_handle", lambda force_tcg: fake)
    return fake


def test_find_rootfs_prefers_inspection_then_the_hint(conn: FakeConn) -> None:
    conn.roots = ["/dev/sdb3"]
    assert guestfs_tools.find_rootfs(conn, "root") == "/dev/sdb3"
    conn.roots = []
    assert guestfs_tools.find_rootfs(conn, "/dev/sda1") == "/dev/sda1"  # tiny's hint
    assert guestfs_tools.find_rootfs(conn, "lago-root") == "/dev/sda1"  # a label
    assert guestfs_tools.find_rootfs(conn, "root") == "/dev/sda1"  # the only one
    conn.filesystems["/dev/sda3"] = "xfs"
    with pytest.raises(guestfs_tools.GuestFSError, match="No root file system 'x'"):
        guestfs_tools.find_rootfs(conn, "x")


def test_extract_paths_copies_files_and_trees_safely(
    conn: FakeConn, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "vm01"
    out.mkdir(parents=True)
    guestfs_tools.extract_paths(
        "/images/vm01_root.qcow2",
        "/dev/sda1",
        [
            ("/etc/hostname", str(out / "_etc_hostname")),
            ("/var/log", str(out / "_var_log")),
            ("/nope", str(out / "_nope")),
        ],
        True,
        name="vm01",
    )
    assert (out / "_etc_hostname").read_text() == "vm01\n"
    assert (out / "_var_log" / "messages").read_text() == "log\n"
    assert sorted(p.name for p in out.iterdir()) == ["_etc_hostname", "_var_log"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "_etc_hostname", "_var_log", "messages", "out", "vm01",
    ]  # fmt: skip
    assert ("add_drive_opts", ("/images/vm01_root.qcow2",), {"readonly": True}) in (
        conn.calls
    )
    assert ("mount_ro", ("/dev/sda1", "/"), {}) in conn.calls


def test_a_missing_path_names_the_vm_unless_skipped(
    conn: FakeConn, tmp_path: Path
) -> None:
    with pytest.raises(ExtractPathNoPathError) as err:
        guestfs_tools.extract_paths(
            "/d.qcow2", "root", [("/nope", str(tmp_path / "_nope"))], False, name="vm01"
        )
    assert (
        str(err.value) == "Failed to extract /nope from vm01: no such file or directory"
    )


def test_the_handle_uses_the_direct_backend_and_tcg_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[Any] = []

    class GuestFS:
        def __init__(self, python_return_dict: bool) -> None:
            self.settings: list[Any] = []
            made.append(self)

        def set_backend(self, name: str) -> None:
            self.settings.append(("backend", name))

        def set_backend_settings(self, settings: list[str]) -> None:
            self.settings.append(("settings", settings))

    monkeypatch.setitem(sys.modules, "guestfs", types.SimpleNamespace(GuestFS=GuestFS))
    monkeypatch.delenv("LIBGUESTFS_BACKEND", raising=False)
    guestfs_tools._handle(True)
    guestfs_tools._handle(False)
    assert made[0].settings == [("backend", "direct"), ("settings", ["force_tcg"])]
    assert made[1].settings == [("backend", "direct")]
