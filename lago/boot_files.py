"""A template's kernel and initrd, read once out of its stored image.

Templates built by Lago record in their metadata where the kernel and initrd
lie in the disk image (``boot-kernel``/``boot-initrd``: ``offset+length``
byte ranges, with their sha256) and the kernel command line
(``boot-cmdline``). The first ``init`` using such a template copies both into
the store next to the image; the VMs then boot them directly, which skips
the firmware's disk boot and the boot loader (about a CPU-second of every
boot under TCG). Any other template, or a disk whose init-file metadata says
``direct-boot: no``, boots from its disk as before.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lago import pvh_kernel
from lago.errors import LagoException
from lago.locks import LockFile

LOGGER = logging.getLogger(__name__)

ROLES = ("kernel", "initrd")
#: keys added to a disk's metadata once the files are in the store
KERNEL_FILE = "boot-kernel-file"
INITRD_FILE = "boot-initrd-file"
CMDLINE = "boot-cmdline"
OPT_OUT = "direct-boot"


def without_store_files(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``metadata`` without the paths of this host's store (for exports)."""
    return {k: v for k, v in metadata.items() if k not in (KERNEL_FILE, INITRD_FILE)}


class BootFileError(LagoException):
    """The recorded extents do not hold the recorded file."""


def parse_extents(text: str) -> list[tuple[int, int]]:
    """``"off+len,off+len"`` -> [(off, len), ...]; ValueError if malformed."""
    extents = []
    for part in text.split(","):
        offset, length = (int(word) for word in part.split("+"))
        if offset < 0 or length <= 0:
            raise ValueError(part)
        extents.append((offset, length))
    return extents


def _extract(image: str, extents: list[tuple[int, int]], sha256: str) -> bytes:
    digest = hashlib.sha256()
    parts = []
    with open(image, "rb") as src:
        for offset, length in extents:
            src.seek(offset)
            data = src.read(length)
            digest.update(data)
            parts.append(data)
    if digest.hexdigest() != sha256:
        raise BootFileError(f"{image}: the bytes at the recorded extents differ")
    return b"".join(parts)


def _stored_file(image: str, role: str, extents: str, sha256: str) -> str:
    """The store's copy of one file, written under the image's lock if new.

    The kernel is stored as its PVH-bootable vmlinux when the bzImage holds
    one (qemu then skips the guest's own decompression), else as it is.
    """
    # the digest in the name: a file that exists was verified when written
    name = "direct-kernel" if role == "kernel" else role
    target = f"{image}.{name}-{sha256[:16]}"
    if os.path.isfile(target):
        return target
    with LockFile(f"{image}.boot.lock"):
        if not os.path.isfile(target):
            data = _extract(image, parse_extents(extents), sha256)
            tmp = Path(f"{target}.tmp{os.getpid()}")
            if role != "kernel" or not pvh_kernel.write_vmlinux(data, tmp):
                tmp.write_bytes(data)
            tmp.chmod(0o644)
            tmp.replace(target)
            if name != role:  # the bzImage an earlier version stored
                Path(f"{image}.{role}-{sha256[:16]}").unlink(missing_ok=True)
            LOGGER.debug("stored the %s of %s as %s", role, image, target)
    return target


def direct_boot_metadata(
    image: str,
    metadata: Mapping[str, Any],
    user_metadata: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Metadata keys naming the stored kernel and initrd of ``image``.

    Empty when the template records no boot files, the user opted out, or
    the files cannot be read as recorded (logged; the VM boots from disk).
    """
    if str((user_metadata or {}).get(OPT_OUT, "yes")).lower() in ("no", "false"):
        return {}
    keys = [f"boot-{role}" for role in ROLES]
    keys += [f"{key}-sha256" for key in keys] + [CMDLINE]
    if not all(isinstance(metadata.get(key), str) for key in keys):
        return {}
    try:
        files = {
            role: _stored_file(
                image,
                role,
                metadata[f"boot-{role}"],
                metadata[f"boot-{role}-sha256"],
            )
            for role in ROLES
        }
    except (OSError, ValueError, BootFileError) as err:
        LOGGER.warning("%s boots from its disk: no direct kernel boot (%s)", image, err)
        return {}
    return {KERNEL_FILE: files["kernel"], INITRD_FILE: files["initrd"]}
