"""Fake kernel images: a small ELF with notes, and a bzImage around a payload."""

import struct

from lago import pvh_kernel


def elf_with_notes(notes: bytes) -> bytes:
    """A 64-bit ELF with one PT_NOTE program header and nothing else."""
    header = bytearray(64)
    header[:5] = b"\x7fELF\x02"
    struct.pack_into("<Q", header, 0x20, 64)  # e_phoff
    struct.pack_into("<HH", header, 0x36, 56, 1)  # e_phentsize, e_phnum
    phdr = bytearray(56)
    struct.pack_into("<I", phdr, 0, pvh_kernel.PT_NOTE)
    struct.pack_into("<Q", phdr, 8, 120)  # p_offset
    struct.pack_into("<Q", phdr, 32, len(notes))  # p_filesz
    return bytes(header + phdr) + notes


def note(name: bytes, kind: int, desc: bytes = b"\0\0\0\0") -> bytes:
    pad = b"\0" * (-len(name) % 4)
    return struct.pack("<III", len(name), len(desc), kind) + name + pad + desc


PVH_ELF = elf_with_notes(note(b"GNU\x00", 3, b"12345678") + note(b"Xen\x00", 18))
PLAIN_ELF = elf_with_notes(note(b"Xen\x00", 5) + note(b"Linux\x00", 18))


def bzimage(payload: bytes) -> bytes:
    """A bzImage header (protocol 2.15, one setup sector) and its payload."""
    setup = bytearray(1024)
    setup[0x1F1] = 1
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x020F)
    struct.pack_into("<II", setup, 0x248, 0, len(payload))
    return bytes(setup) + payload


def sized(data: bytes, compressed: bytes) -> bytes:
    # the kernel's build appends the decompressed size to the payload
    return compressed + struct.pack("<I", len(data))
