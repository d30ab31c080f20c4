"""Checking a template store entry before a VM is layered on it.

When an image enters the store, ``<entry>.check`` records its size, mtime
and sha1. Every use compares size and mtime (a ``stat``, cheap for any
size); only when they differ is the image hashed again, and a changed hash
means the entry is damaged (truncated, modified): it is refused with the
way to repair it. Entries stored before this record existed (by the
original or an older Lago) are hashed once, on their first use, and
recorded.

An entry is also given back to the store's owner, read-only to others, if
something (libvirt's dynamic ownership, for one) handed it to another user.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from lago._template_providers import TemplateError
from lago.fileio import atomic_write, get_hash

LOGGER = logging.getLogger(__name__)

#: Store images: written by their owner only, readable by qemu (any user).
STORE_IMAGE_MODE = 0o644
CHECK_SUFFIX = ".check"


class TemplateDamagedError(TemplateError):
    """A store entry is not what was stored."""


@dataclass(frozen=True)
class Stamp:
    size: int
    mtime_ns: int
    sha1: str


def _stat_of(path: str) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError as err:
        msg = f"Unable to read template store entry {path}: {err.strerror}"
        raise TemplateError(msg) from err


def _read_stamp(path: str) -> Stamp | None:
    try:
        data = json.loads(Path(path + CHECK_SUFFIX).read_text())
        return Stamp(int(data["size"]), int(data["mtime_ns"]), str(data["sha1"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:
        LOGGER.warning("Ignoring unreadable %s%s: %s", path, CHECK_SUFFIX, err)
        return None


def _write_stamp(path: str, stamp: Stamp) -> None:
    atomic_write(path + CHECK_SUFFIX, json.dumps(asdict(stamp)), mode=0o644)


def _stamp_now(path: str, sha1: str | None = None) -> Stamp:
    info = _stat_of(path)
    return Stamp(info.st_size, info.st_mtime_ns, sha1 or get_hash(path))


def record(path: str) -> None:
    """Make ``path`` a store image (mode, then size/mtime/sha1 recorded)."""
    os.chmod(path, STORE_IMAGE_MODE)
    _write_stamp(path, _stamp_now(path))


def _give_back(path: str, info: os.stat_result) -> None:
    """The store owner's again, and not writable by anyone else."""
    owner = os.stat(os.path.dirname(path))
    if (info.st_uid, info.st_gid) != (owner.st_uid, owner.st_gid):
        with contextlib.suppress(PermissionError):
            os.chown(path, owner.st_uid, owner.st_gid)
            LOGGER.debug("%s given back to %d:%d", path, owner.st_uid, owner.st_gid)
    if stat.S_IMODE(info.st_mode) & 0o022:
        with contextlib.suppress(PermissionError):
            os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o022)


def verify(name: str, path: str) -> None:
    """Refuse a damaged entry; size and mtime first, the hash if they moved."""
    info = _stat_of(path)
    _give_back(path, info)
    stamp = _read_stamp(path)
    if stamp is None:
        LOGGER.info("Recording the size and hash of template %s", name)
        _write_stamp(path, _stamp_now(path))
        return
    if (info.st_size, info.st_mtime_ns) == (stamp.size, stamp.mtime_ns):
        return
    LOGGER.info("Template %s changed on disk since it was stored: hashing it", name)
    actual = get_hash(path)
    if actual != stamp.sha1:
        raise TemplateDamagedError(
            f"Template {name} in the store is damaged: {path} has "
            f"{info.st_size} bytes and sha1 {actual}, it was stored with "
            f"{stamp.size} bytes and sha1 {stamp.sha1}",
            hint=f"remove {path} and its {CHECK_SUFFIX}, .hash and .metadata "
            "files, and the next init downloads it again",
        )
    _write_stamp(path, _stamp_now(path, actual))
