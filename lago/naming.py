"""Derived names and orderings: a NIC's MAC from its address, version order."""

from __future__ import annotations

import re


def ipv4_to_mac(ip: str) -> str:
    """The MAC Lago gives a NIC with address ``ip``: ``54:52`` + the octets."""
    octets = [int(octet) for octet in ip.split(".")]
    return "54:52:" + ":".join(f"{octet:02x}" for octet in octets)


def _version_key(version: str) -> list[tuple[int, int | str]]:
    # numbers compare as numbers, and a letter part sorts before any number
    return [
        (1, int(part)) if part.isdigit() else (0, part)
        for part in re.findall(r"\d+|[a-z]+", version.lower())
    ]


def ver_cmp(ver1: str, ver2: str) -> int:
    """Negative, zero or positive as ``ver1`` is older, equal or newer."""
    key1, key2 = _version_key(str(ver1)), _version_key(str(ver2))
    return (key1 > key2) - (key1 < key2)
