"""``export`` of disks that live in pools of a remote libvirt host.

Each volume is downloaded (sparse) into a local staging directory, a layer's
template volume beside it, and the layer pointed at that local copy; the
usual export then runs on the local files and the staging directory goes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

from lago import qemu_img
from lago.providers.libvirt import pool as lvpool
from lago.providers.libvirt import volume_stream

LOGGER = logging.getLogger(__name__)


def _backing_path(vol: Any) -> tuple[str, str] | None:
    """(host path, format) of the volume under ``vol``, if it is a layer."""
    store = ET.fromstring(vol.XMLDesc(0)).find("backingStore")
    if store is None or not store.findtext("path"):
        return None
    fmt = store.find("format")
    return str(store.findtext("path")), fmt.get(
        "type", "raw"
    ) if fmt is not None else "raw"


def _base_name(disk: dict[str, Any], fallback: str) -> str:
    """``<repo>:<template>:<version>`` as a local store entry is named, so that
    a layered export names its template as it does locally."""
    metadata = disk.get("metadata") or {}
    if metadata.get("template") and metadata.get("version"):
        return f"remote:{metadata['template']}:{metadata['version']}"
    return fallback


def _stage(conn: Any, disk: dict[str, Any], staging: str) -> dict[str, Any]:
    """Download the disk's volume and every volume below it (snapshot
    layers, the template), each layer pointed at the copy below it."""
    vol = lvpool.volume_by_path(conn, disk["path"])
    local = os.path.join(staging, os.path.basename(disk["path"]))
    volume_stream.download(conn, vol, local)
    upper = local
    backing = _backing_path(vol)
    while backing is not None:
        below = lvpool.volume_by_path(conn, backing[0])
        under = _backing_path(below)
        name = below.name() if under is not None else _base_name(disk, below.name())
        copy = os.path.join(staging, name)
        if not os.path.exists(copy):
            volume_stream.download(conn, below, copy)
        qemu_img.qemu_rebase(upper, copy, safe=False, backing_format=backing[1])
        upper, backing = copy, under
    return {**disk, "path": local}


@contextlib.contextmanager
def staged_disks(
    conn: Any, disks: list[dict[str, Any]], parent: str
) -> Iterator[list[dict[str, Any]]]:
    """``disks`` with each exported volume downloaded under ``parent``."""
    staging = tempfile.mkdtemp(prefix=".remote-export-", dir=parent)
    try:
        yield [
            disk
            if disk.get("skip-export") or "volume" not in disk
            else _stage(conn, disk, staging)
            for disk in disks
        ]
    finally:
        shutil.rmtree(staging, ignore_errors=True)
