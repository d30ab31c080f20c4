"""``type: file`` disks with a ``url``: nothing outside the prefix is lost."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lago import disks
from lago.disk_download import DiskDownloadError
from lago.paths import Paths
from lago.rollback import RollbackContext


def _ctx(
    tmp_path: Path, rollback: RollbackContext, done: list[Callable[[], None]]
) -> disks.DiskContext:
    prefix = tmp_path / "prefix"
    (prefix / "images").mkdir(parents=True, exist_ok=True)
    return disks.DiskContext(
        vm_name="vm01",
        paths=Paths(prefix),
        resolve_template=lambda *_: ("", {}),
        undo=rollback.prependDefer,
        commit=done.append,
    )


def _disk(url: Path, path: Path | None = None, **extra: Any) -> dict[str, Any]:
    disk = {"type": "file", "name": "data", "dev": "vdb", "format": "raw"}
    disk["url"] = url.as_uri()
    if path is not None:
        disk["path"] = str(path)
    return {**disk, **extra}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.img"
    path.write_bytes(b"new image")
    path.chmod(0o600)
    return path


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_an_existing_file_outside_the_prefix_is_not_overwritten(
    tmp_path: Path, source: Path
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    precious = host / "precious.img"
    precious.write_bytes(b"user data")
    with RollbackContext() as rollback, pytest.raises(DiskDownloadError) as err:
        disks.create_disk(_ctx(tmp_path, rollback, []), _disk(source, precious))
    assert str(err.value) == (
        f"VM vm01: disk file {precious} exists already, refusing to overwrite it "
        f"with {source.as_uri()} (add 'overwrite: true' to the disk to replace it)"
    )
    assert precious.read_bytes() == b"user data"
    assert _files(host) == ["precious.img"]


def test_overwrite_replaces_it_and_a_failed_init_puts_it_back(
    tmp_path: Path, source: Path
) -> None:
    precious = tmp_path / "precious.img"
    precious.write_bytes(b"user data")
    precious.chmod(0o640)
    with pytest.raises(RuntimeError), RollbackContext() as rollback:
        made = disks.create_disk(
            _ctx(tmp_path, rollback, []), _disk(source, precious, overwrite=True)
        )
        assert made["path"] == str(precious)
        assert precious.read_bytes() == b"new image"
        assert stat.S_IMODE(precious.stat().st_mode) == 0o640
        raise RuntimeError("a later step of init failed")
    assert precious.read_bytes() == b"user data"
    assert not list(tmp_path.glob("precious.img.*"))


def test_overwrite_that_succeeds_leaves_nothing_aside(
    tmp_path: Path, source: Path
) -> None:
    precious = tmp_path / "precious.img"
    precious.write_bytes(b"user data")
    done: list[Callable[[], None]] = []
    with RollbackContext() as rollback:
        disks.create_disk(
            _ctx(tmp_path, rollback, done), _disk(source, precious, overwrite=True)
        )
        rollback.clear()
    for step in done:
        step()
    assert precious.read_bytes() == b"new image"
    assert not list(tmp_path.glob("precious.img.*"))


def test_a_file_made_outside_the_prefix_is_removed_when_init_fails(
    tmp_path: Path, source: Path
) -> None:
    fresh = tmp_path / "fresh.img"
    with pytest.raises(RuntimeError), RollbackContext() as rollback:
        disks.create_disk(_ctx(tmp_path, rollback, []), _disk(source, fresh))
        assert fresh.read_bytes() == b"new image"
        raise RuntimeError("a later step of init failed")
    assert not fresh.exists()


def test_url_only_lands_in_the_prefix_with_the_source_mode(
    tmp_path: Path, source: Path
) -> None:
    with RollbackContext() as rollback:
        made = disks.create_disk(_ctx(tmp_path, rollback, []), _disk(source))
    image = tmp_path / "prefix" / "images" / "source.img"
    assert made["path"] == str(image)
    assert image.read_bytes() == b"new image"
    assert stat.S_IMODE(image.stat().st_mode) == 0o600


def test_a_failed_download_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "fresh.img"
    missing = _disk(tmp_path / "missing", target)
    with (
        RollbackContext() as rollback,
        pytest.raises(DiskDownloadError, match="Failed to download disk from"),
    ):
        disks.create_disk(_ctx(tmp_path, rollback, []), missing)
    assert not list(tmp_path.glob("fresh.img*"))


def test_a_copied_file_disk_is_private_to_its_owner(tmp_path: Path) -> None:
    image = tmp_path / "shared.raw"
    image.write_bytes(b"\0" * 4096)
    image.chmod(0o666)
    disk = {"type": "file", "name": "d", "dev": "vdb", "format": "raw"}
    with RollbackContext() as rollback:
        made = disks.create_disk(
            _ctx(tmp_path, rollback, []),
            {**disk, "path": str(image), "make_a_copy": True},
        )
    assert stat.S_IMODE(Path(made["path"]).stat().st_mode) == 0o600
