"""The backing chain of a VM's disk, as the domain XML spells it out.

libvirt gives every file of a disk's chain to the qemu user when the VM
starts, and never gives a backing file back (it may be shared with another
VM). The template store's images are shared by every VM layered on them: left
to libvirt they would end up owned, and writable, by the qemu user. Lago
therefore names each backing file in the domain XML and tells libvirt not to
relabel those that qemu can read already (world-readable ones, such as the
store's 0644 images), so they stay read-only to qemu.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass

from lago import qemu_img

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackingLayer:
    """One backing file below a disk's top image."""

    path: str
    format: str
    #: whether libvirt may hand the file to the qemu user (False: left alone)
    relabel: bool


def _world_readable(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & stat.S_IROTH)
    except OSError:
        return False


def backing_layers(path: str) -> tuple[BackingLayer, ...]:
    """The backing files of image ``path``, top first (``()`` when it has
    none or cannot be read: libvirt then probes the chain itself and reports
    what is wrong with it)."""
    # qemu-img names backing files relative to how the top was named
    path = os.path.abspath(path)
    chain = qemu_img.get_qemu_info(path, backing_chain=True, fail_on_error=False)
    if not isinstance(chain, list):
        return ()
    layers = []
    for image in chain[1:]:
        filename = image.get("filename")
        if not isinstance(filename, str) or "://" in filename:
            LOGGER.debug("%s: backing %r is not a local file", path, filename)
            return ()
        filename = os.path.abspath(filename)
        layers.append(
            BackingLayer(
                path=filename,
                format=str(image.get("format", "raw")),
                relabel=not _world_readable(filename),
            )
        )
    return tuple(layers)
