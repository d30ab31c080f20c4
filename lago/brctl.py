"""Host bridges for ``bridge`` networks, managed with iproute2.

The original called ``brctl`` (bridge-utils), which today's distributions no
longer install; ``ip link`` does the same.
"""

from __future__ import annotations

from lago.errors import LagoException
from lago.process import run_command


class BridgeError(LagoException):
    pass


def _ip(*args: str) -> None:
    result = run_command(["ip", *args])
    if result.code:
        raise BridgeError(f"ip {' '.join(args)} failed: {result.err.strip()}")


def exists(name: str) -> bool:
    result = run_command(["ip", "-o", "link", "show", "type", "bridge"])
    return any(
        line.split(":")[1].strip() == name
        for line in result.out.splitlines()
        if ":" in line
    )


def create(name: str, stp: bool = True) -> None:
    _ip("link", "add", "name", name, "type", "bridge")
    if stp:
        _ip("link", "set", "dev", name, "type", "bridge", "stp_state", "1")
    _ip("link", "set", "dev", name, "up")


def destroy(name: str) -> None:
    _ip("link", "set", "dev", name, "down")
    _ip("link", "delete", name, "type", "bridge")
