"""Unpacking tar streams that come from a guest, which Lago does not trust.

A guest (or whatever answers on its SSH port, or a crafted disk image) writes
the member names, link targets and modes of the archive. Extraction goes
through tarfile's ``data`` filter: absolute names, ``..`` escapes, links that
point outside the destination, device files and set-uid bits are refused, so
nothing lands outside the destination directory. A refused member is skipped
with a warning rather than aborting the copy: a real guest's ``/var/log`` may
hold a symlink into ``/usr``, and the rest of the tree is still wanted.

The filters arrived in Python 3.11.4; older interpreters use the
``backports.tarfile`` package (the same module, from a newer Python).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

LOGGER = logging.getLogger(__name__)


def _tarfile_module() -> Any:
    import tarfile

    if hasattr(tarfile, "data_filter"):
        return tarfile
    from backports import tarfile as backport

    return backport


tarfile = _tarfile_module()


class UnsafeMemberError(Exception):
    """The archive did not hold what the sender promised."""


def _skipping_data_filter(member: Any, dest_path: str) -> Any:
    try:
        return tarfile.data_filter(member, dest_path)
    except tarfile.FilterError as err:
        LOGGER.warning("Skipped %r from a guest archive: %s", member.name, err)
        return None


def extract_tree(stream: IO[bytes], dest: Path) -> None:
    """Unpack the tar ``stream`` (read once, front to back) under ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=stream, mode="r|*") as archive:
        archive.extractall(dest, filter=_skipping_data_filter)


def extract_single_file(stream: IO[bytes], name: str, dest: Path) -> None:
    """Unpack the regular file ``name`` of the tar ``stream`` to ``dest``.

    The archive is unpacked into a scratch directory beside ``dest`` (so the
    final rename stays on one file system); anything but a regular file
    called ``name`` there is an :class:`UnsafeMemberError`.
    """
    scratch = Path(tempfile.mkdtemp(prefix=".lago-extract-", dir=dest.parent))
    try:
        extract_tree(stream, scratch)
        found = scratch / name
        if os.sep in name or not found.is_file() or found.is_symlink():
            raise UnsafeMemberError(f"the archive holds no regular file {name!r}")
        os.replace(found, dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
