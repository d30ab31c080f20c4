"""Writing files safely, hashing them and moving old ones aside."""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

from lago.errors import FileWriteError


def atomic_write(
    path: str | os.PathLike[str], text: str, mode: int | None = None
) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    With ``mode`` the file never exists with wider permissions, even briefly.
    Any failure (``ENOSPC`` while writing has no file name of its own) raises
    :class:`~lago.errors.FileWriteError` naming ``path``; the temporary file
    is removed and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        if mode is None:
            tmp.write_text(text)
        else:
            tmp.unlink(missing_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "w") as stream:
                os.fchmod(stream.fileno(), mode)  # the umask may have narrowed it
                stream.write(text)
        tmp.replace(path)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise FileWriteError(str(path), err) from err


def copy_file(source: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """``shutil.copy``; a failure to write (``ENOSPC`` has no file name of
    its own) raises :class:`~lago.errors.FileWriteError` naming ``dest``."""
    try:
        shutil.copy(source, dest)
    except OSError as err:
        raise FileWriteError(os.fspath(dest), err) from err


def json_dump(obj: Any, f: IO[str]) -> None:
    """Write ``obj`` as the original did: 4-space indent, key order kept."""
    json.dump(obj, f, indent=4)


def get_hash(file_path: str | os.PathLike[str], checksum: str = "sha1") -> str:
    """Hex digest of a file's content."""
    digest = hashlib.new(checksum)
    with open(file_path, "rb") as stream:
        for block in iter(functools.partial(stream.read, 1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def add_timestamp_suffix(base_string: str) -> str:
    return f"{base_string}.{datetime.datetime.now():%Y-%m-%d_%H:%M:%S}"


def rotate_dir(base_dir: str) -> None:
    """Move an existing directory aside under a timestamped name."""
    if Path(base_dir).exists():
        shutil.move(base_dir, add_timestamp_suffix(base_dir))


class TemporaryDirectory:
    """A temporary directory for a ``with`` block: its path on entry,
    removed on exit (errors ignored when ``ignore_errors``)."""

    def __init__(self, ignore_errors: bool = True) -> None:
        self._ignore_errors = ignore_errors
        self._path: str | None = None

    def __enter__(self) -> str:
        self._path = tempfile.mkdtemp(prefix="lago-")
        return self._path

    def __exit__(self, *_: object) -> None:
        if self._path is not None:
            shutil.rmtree(self._path, ignore_errors=self._ignore_errors)
            self._path = None
