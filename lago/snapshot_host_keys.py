"""The VMs' recorded SSH host keys, kept with each snapshot of an environment.

A revert gives the VMs the disks of the snapshot back, and with them the host
keys they had then (none at all for a VM snapshotted before its first boot):
the prefix's ``known_hosts`` goes back to what it was when the snapshot was
taken, so that the next connection neither refuses the restored key nor trusts
one the disks never had.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lago.fileio import atomic_write
from lago.paths import Paths

LOGGER = logging.getLogger(__name__)


def _kept(paths: Paths, name: str) -> Path:
    # snapshot names are one plain file name (lago.snapshots.check_name)
    return Path(paths.virt(f"known_hosts.{name}"))


def save(paths: Paths, name: str) -> None:
    """Keep the host keys recorded now with snapshot ``name``."""
    known = Path(paths.known_hosts())
    atomic_write(_kept(paths, name), known.read_text() if known.is_file() else "")


def restore(paths: Paths, name: str) -> None:
    """The host keys recorded when snapshot ``name`` was taken, back in
    ``known_hosts``; a snapshot that kept none (made by an older Lago)
    leaves the file as it is."""
    kept = _kept(paths, name)
    if not kept.is_file():
        LOGGER.debug("snapshot %s kept no host keys; %s unchanged", name, kept)
        return
    atomic_write(paths.known_hosts(), kept.read_text())
