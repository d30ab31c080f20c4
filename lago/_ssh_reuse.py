"""The login of a readiness check, kept for the command that follows it.

``lago shell VM cmd`` first waits until ``true`` runs over SSH, then runs the
command: two key exchanges with a guest that may have just started its sshd.
The connection that ran ``true`` is kept for a few seconds and handed to the
next connection to the same target in this process (private to lago.ssh).
"""

from __future__ import annotations

import atexit
import threading
import time
from typing import TYPE_CHECKING

import paramiko

if TYPE_CHECKING:
    from lago._ssh_connect import Target

KEEP_SECONDS = 5.0  # a kept login older than this is closed, not reused

_LOCK = threading.Lock()
_KEPT: dict[Target, tuple[float, paramiko.SSHClient]] = {}


def _usable(client: paramiko.SSHClient) -> bool:
    transport = client.get_transport()
    return transport is not None and transport.is_active()


def keep(target: Target, client: paramiko.SSHClient) -> None:
    """Hold ``client`` for the next :func:`take` of ``target``."""
    with _LOCK:
        old = _KEPT.pop(target, None)
        _KEPT[target] = (time.monotonic(), client)
    if old is not None:
        old[1].close()


def take(target: Target) -> paramiko.SSHClient | None:
    """The kept, still open login to ``target`` (the caller owns it), if any."""
    with _LOCK:
        kept = _KEPT.pop(target, None)
    if kept is None:
        return None
    since, client = kept
    if time.monotonic() - since <= KEEP_SECONDS and _usable(client):
        return client
    client.close()
    return None


@atexit.register
def close_all() -> None:
    """Close every kept login (at exit, or when a caller wants none left)."""
    with _LOCK:
        kept = list(_KEPT.values())
        _KEPT.clear()
    for _, client in kept:
        client.close()
