"""The uncompressed kernel (vmlinux) inside a bzImage, for a PVH boot.

A bzImage decompresses itself in the guest before the kernel runs: under TCG
that is about 0.3 CPU-seconds of every boot of the Debian cloud kernel (53 MB
from LZ4). qemu can instead load the uncompressed ELF kernel itself and jump
to its PVH entry point, which kernels built with CONFIG_PVH (Debian's are)
announce in an ELF note. The direct boot stores that vmlinux once, when the
template's kernel has one.
"""

from __future__ import annotations

import logging
import lzma
import shutil
import struct
import zlib
from pathlib import Path

from lago.process import run_command

LOGGER = logging.getLogger(__name__)

#: the Xen ELF note type that holds the 32-bit PVH entry point
PHYS32_ENTRY_NOTE = 18
PT_NOTE = 4
#: compression magic -> command that decompresses it from stdin (None: zlib/lzma)
MAGICS: dict[bytes, tuple[str, ...] | None] = {
    b"\x1f\x8b": None,  # gzip
    b"\xfd7zXZ\x00": None,  # xz
    b"\x02\x21\x4c\x18": ("lz4", "-dc"),  # lz4 legacy frame
    b"\x28\xb5\x2f\xfd": ("zstd", "-dcq"),  # zstd
}


def compressed_payload(bzimage: bytes) -> bytes | None:
    """The compressed kernel a bzImage carries, or None if it is not one."""
    if len(bzimage) < 0x250 or bzimage[0x202:0x206] != b"HdrS":
        return None
    (version,) = struct.unpack_from("<H", bzimage, 0x206)
    if version < 0x0208:  # payload fields exist since boot protocol 2.08
        return None
    setup_sects = bzimage[0x1F1] or 4
    offset, length = struct.unpack_from("<II", bzimage, 0x248)
    start = (setup_sects + 1) * 512 + offset
    payload = bzimage[start : start + length]
    return payload if len(payload) == length and length else None


def decompress(payload: bytes, dest: Path) -> bool:
    """Write the payload decompressed to ``dest``; False if it cannot be."""
    for magic, command in MAGICS.items():
        if not payload.startswith(magic):
            continue
        if command is None:
            dest.write_bytes(_decompress_here(payload))
            return True
        if shutil.which(command[0]) is None:
            LOGGER.debug("no %s on this host to decompress the kernel", command[0])
            return False
        # the build appends the decompressed size (4 bytes), which the tools
        # would take for a broken frame
        with dest.open("wb") as out:
            status = run_command(list(command), input_data=payload[:-4], out_pipe=out)
        if status.code:
            LOGGER.debug("%s failed: %s", command[0], status.err.strip())
        return status.code == 0
    return False


def _decompress_here(payload: bytes) -> bytes:
    if payload.startswith(b"\x1f\x8b"):
        return zlib.decompressobj(wbits=31).decompress(payload)
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)


def has_pvh_entry(elf: bytes) -> bool:
    """Whether a 64-bit ELF kernel has the PVH entry point note."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return False
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for index in range(phnum):
        base = phoff + index * phentsize
        (p_type,) = struct.unpack_from("<I", elf, base)
        if p_type != PT_NOTE:
            continue
        (offset,) = struct.unpack_from("<Q", elf, base + 8)
        (size,) = struct.unpack_from("<Q", elf, base + 32)
        if _notes_have(elf[offset : offset + size], b"Xen\x00", PHYS32_ENTRY_NOTE):
            return True
    return False


def _notes_have(notes: bytes, name: bytes, note_type: int) -> bool:
    pos = 0
    while pos + 12 <= len(notes):
        namesz, descsz, kind = struct.unpack_from("<III", notes, pos)
        pos += 12
        found = notes[pos : pos + namesz]
        pos += _align4(namesz) + _align4(descsz)
        if kind == note_type and found == name:
            return True
    return False


def _align4(size: int) -> int:
    return (size + 3) & ~3


def write_vmlinux(bzimage: bytes, dest: Path) -> bool:
    """Write the PVH-bootable ELF kernel inside ``bzimage`` to ``dest``.

    False (and no ``dest``) when it has none, or it cannot be decompressed.
    """
    payload = compressed_payload(bzimage)
    try:
        if payload and decompress(payload, dest) and has_pvh_entry(dest.read_bytes()):
            return True
    except (OSError, lzma.LZMAError, zlib.error, struct.error) as err:
        LOGGER.debug("no vmlinux out of the kernel: %s", err)
    dest.unlink(missing_ok=True)
    return False
