"""A ``type: file`` disk with a ``url``: downloading it without harm.

The image lands in the prefix, or at the disk's ``path`` when one is given.
An existing file outside the prefix is never replaced unless the disk says
``overwrite: true``; then the old file is kept aside (a hard link) until
``init`` succeeds, and put back if it fails. A file ``init`` made is removed
again if it fails. The image gets the mode of what it replaces, else of a
``file://`` source, else the mode of a VM's own images.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from lago._template_providers import TemplateDownloadError, download
from lago.errors import LagoUserException

LOGGER = logging.getLogger(__name__)

#: Registers a step to run if ``init`` fails (or, for ``commit``, succeeds).
Step = Callable[[Callable[[], None]], None]


class DiskDownloadError(LagoUserException):
    pass


@dataclass
class Download:
    """One file disk's download, and where it may write."""

    vm_name: str
    url: str
    target: str
    prefix_dir: str
    overwrite: bool = False
    default_mode: int = 0o600


def _inside(path: str, directory: str) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(directory)
    return os.path.commonpath([real, base]) == base


def _source_mode(url: str) -> int | None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "file":
        return None
    try:
        return stat.S_IMODE(os.stat(urllib.request.url2pathname(parts.path)).st_mode)
    except OSError:
        return None


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def fetch(job: Download, undo: Step | None = None, commit: Step | None = None) -> str:
    """Download ``job.url`` to ``job.target``; returns the absolute path."""
    target = os.path.abspath(job.target)
    replaced = os.path.lexists(target)
    if replaced and not _inside(target, job.prefix_dir) and not job.overwrite:
        raise DiskDownloadError(
            f"VM {job.vm_name}: disk file {target} exists already, refusing to "
            f"overwrite it with {job.url} (add 'overwrite: true' to the disk to "
            "replace it)"
        )
    staging = f"{target}.lago-download"
    try:
        download(job.url, staging)
    except TemplateDownloadError as err:
        raise DiskDownloadError(
            f"Failed to download disk from {job.url}: {err.reason}"
        ) from err
    try:
        old_mode = stat.S_IMODE(os.stat(target).st_mode) if replaced else None
        os.chmod(staging, old_mode or _source_mode(job.url) or job.default_mode)
        backup = _keep_aside(target) if replaced else None
        os.replace(staging, target)
    except BaseException:
        _unlink(staging)
        raise
    if undo is not None and (backup is not None or not replaced):
        undo(lambda: _restore(target, backup))
    if commit is not None and backup is not None:
        commit(lambda: _unlink(backup))
    return target


def _keep_aside(target: str) -> str | None:
    """A hard link to the file about to be replaced (``None`` if impossible)."""
    backup = f"{target}.lago-replaced"
    _unlink(backup)
    try:
        os.link(target, backup)
    except OSError as err:
        LOGGER.warning("%s cannot be kept aside (%s): a failed init loses it", target, err)  # fmt: skip
        return None
    return backup


def _restore(target: str, backup: str | None) -> None:
    """Put the replaced file back, or remove the one ``init`` made."""
    if backup is None:
        _unlink(target)
    else:
        os.replace(backup, target)
