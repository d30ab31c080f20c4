"""The template store checks an entry before a VM is layered on it."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from lago import _store_check
from lago._store_check import TemplateDamagedError
from lago.templates import resolve_template

ENTRY = "myrepo:el7:v1"


def _repo(tmp_path: Path) -> str:
    files = tmp_path / "files"
    files.mkdir()
    image = files / "el7-v1"
    with open(image, "wb") as stream:
        stream.write(b"lago-template" * 100)
        stream.seek(1024 * 1024 - 3)
        stream.write(b"end")
    (files / "el7-v1.hash").write_text(hashlib.sha1(image.read_bytes()).hexdigest())
    (files / "el7-v1.metadata").write_text("{}")
    repo = tmp_path / "repo.metadata"
    repo.write_text(
        json.dumps({
            "name": "myrepo",
            "sources": {"src": {"type": "file", "args": {"root": str(files)}}},
            "templates": {"el7": {"versions": {
                "v1": {"source": "src", "handle": "el7-v1", "timestamp": 1},
            }}},
        })
    )  # fmt: skip
    return str(repo)


@pytest.fixture
def stored(tmp_path: Path) -> tuple[str, Path]:
    """A repository and its store after the first fetch."""
    repo = _repo(tmp_path)
    path, _ = resolve_template(repo, str(tmp_path / "store"), "el7", None)
    return repo, Path(path)


def test_a_fetched_entry_is_recorded_and_read_only(stored: tuple[str, Path]) -> None:
    _, entry = stored
    check = json.loads(Path(f"{entry}.check").read_text())
    info = entry.stat()
    assert check == {
        "size": info.st_size,
        "mtime_ns": info.st_mtime_ns,
        "sha1": hashlib.sha1(entry.read_bytes()).hexdigest(),
    }
    assert stat.S_IMODE(info.st_mode) == 0o644


def test_a_truncated_entry_is_refused_with_the_repair(stored: tuple[str, Path]) -> None:
    repo, entry = stored
    os.truncate(entry, 4096)
    with pytest.raises(TemplateDamagedError) as err:
        resolve_template(repo, str(entry.parent), "el7", None)
    message = str(err.value)
    assert message.startswith(f"Template {ENTRY} in the store is damaged: {entry} ")
    assert "4096 bytes" in message and "\n" not in message
    assert err.value.hint == (
        f"remove {entry} and its .check, .hash and .metadata files, "
        "and the next init downloads it again"
    )


def test_a_modified_entry_of_the_same_size_is_refused(stored: tuple[str, Path]) -> None:
    repo, entry = stored
    with open(entry, "r+b") as stream:
        stream.write(b"X")
    with pytest.raises(TemplateDamagedError):
        resolve_template(repo, str(entry.parent), "el7", None)


def test_a_touched_entry_is_hashed_once_and_used(
    stored: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, entry = stored
    os.utime(entry, ns=(1, 1))
    hashed: list[str] = []
    real = _store_check.get_hash
    monkeypatch.setattr(_store_check, "get_hash", lambda p: hashed.append(p) or real(p))
    for _ in range(2):
        assert resolve_template(repo, str(entry.parent), "el7", None)[0] == str(entry)
    assert hashed == [str(entry)]
    assert json.loads(Path(f"{entry}.check").read_text())["mtime_ns"] == 1


def test_an_unchanged_entry_is_not_hashed(
    stored: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, entry = stored

    def no_hash(path: str) -> str:
        raise AssertionError(f"{path} was hashed")

    monkeypatch.setattr(_store_check, "get_hash", no_hash)
    assert resolve_template(repo, str(entry.parent), "el7", None)[0] == str(entry)


def test_an_entry_stored_without_a_record_is_recorded_then_checked(
    stored: tuple[str, Path],
) -> None:
    repo, entry = stored
    Path(f"{entry}.check").unlink()
    resolve_template(repo, str(entry.parent), "el7", None)
    assert Path(f"{entry}.check").is_file()
    os.truncate(entry, 512)
    with pytest.raises(TemplateDamagedError):
        resolve_template(repo, str(entry.parent), "el7", None)


def test_a_group_or_world_writable_entry_is_narrowed(stored: tuple[str, Path]) -> None:
    repo, entry = stored
    entry.chmod(0o666)
    resolve_template(repo, str(entry.parent), "el7", None)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o644
