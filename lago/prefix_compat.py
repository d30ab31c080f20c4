"""Small helpers behind :class:`lago.prefix.Prefix` methods kept for the
original's callers (``fetch_url``, ``resolve_parent``)."""

from __future__ import annotations

import os
import urllib.request
from typing import Any

from lago.errors import LagoUserException
from lago.qemu_img import get_qemu_info


class FetchError(LagoUserException):
    """An init file URL could not be read."""


def fetch_text(url: str, timeout: float = 60) -> str:
    """The text at ``url`` (``http(s)://`` or ``file://``)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read().decode()
    except (OSError, ValueError) as err:
        raise FetchError(f"Cannot fetch {url}: {err}") from err


def backing_of(
    disk_path: str, template_store: Any = None, template_repo: Any = None
) -> tuple[str | None, str | None]:
    """``(backing file, its name in the template store)`` of a qcow2 disk.

    ``(None, None)`` for a disk without a backing file; the store name is
    None when the backing file is not in ``template_store``.
    """
    del template_repo  # the disk names its backing file itself
    info = get_qemu_info(disk_path)
    parent = info.get("full-backing-filename") or info.get("backing-filename")
    if not parent:
        return None, None
    parent = os.path.realpath(
        parent
        if os.path.isabs(parent)
        else os.path.join(os.path.dirname(disk_path), parent)
    )
    store_root = getattr(template_store, "_root", None) or getattr(
        template_store, "path", None
    )
    if store_root and os.path.dirname(parent) == os.path.realpath(str(store_root)):
        return parent, os.path.basename(parent)
    return parent, None
