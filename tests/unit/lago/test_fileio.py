"""lago.fileio.atomic_write when the disk is full."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from lago.errors import FileWriteError, LagoException
from lago.fileio import atomic_write, copy_file


def test_writes_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "spec"
    atomic_write(target, "one")
    atomic_write(target, "two", mode=0o600)
    assert target.read_text() == "two"
    assert target.stat().st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["spec"]


def test_no_space_names_the_file_and_leaves_it_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "virt" / "vm-vm01"
    target.parent.mkdir()
    target.write_text("old")
    real_write = Path.write_text

    def full_disk(self: Path, text: str, *args: Any, **kwargs: Any) -> int:
        real_write(self, text[:1])  # part of it made it to the disk
        # as write(2) reports it: no file name in the error
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(FileWriteError) as err:
        atomic_write(target, "new")
    assert str(err.value) == f"No space left on device: {target}"
    assert isinstance(err.value, LagoException)
    assert isinstance(err.value, OSError) and err.value.errno == errno.ENOSPC
    assert target.read_text() == "old"
    assert os.listdir(target.parent) == ["vm-vm01"]  # no temporary file left


def test_an_unwritable_directory_names_the_file(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "env"
    with pytest.raises(FileWriteError) as err:
        atomic_write(target, "{}")
    assert str(err.value) == f"No such file or directory: {target}"


def test_a_copy_that_fails_to_write_names_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "deploy.sh"
    source.write_text("echo hi\n")
    dest = tmp_path / "scripts" / "deploy.sh"
    dest.parent.mkdir()

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("shutil.copyfile", full_disk)
    with pytest.raises(FileWriteError) as err:
        copy_file(source, dest)
    assert str(err.value) == f"No space left on device: {dest}"
