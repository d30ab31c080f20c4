"""Is a guest's TCP port open yet? Asked without waiting on lost SYNs.

A SYN sent while the guest has no address yet (after the DHCP offer, before
it configures the lease) is dropped, and the kernel resends it only a second
later. One probe therefore keeps its first connection attempt open for its
whole bound (a CPU-starved guest may answer late) but sends a new SYN every
``every`` seconds beside it: the port is seen open within that spacing of
the guest taking its address.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import time

#: errors that end the probe at once: the guest (or the route) answered
_FINAL = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH})


def port_open(host: str, port: int, bound: float, every: float = 0.2) -> None:
    """Return once a connection to ``host:port`` succeeds; raise OSError (the
    refusal, the unreachable route, or TimeoutError after ``bound`` seconds)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    )[0]
    deadline = time.monotonic() + bound
    pending: list[socket.socket] = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(errno.ETIMEDOUT, "timed out")
            _attempt(pending, family, kind, proto, address)
            _, ready, _ = select.select([], pending, [], min(every, left))
            for sock in ready:
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code == 0:
                    return
                pending.remove(sock)
                sock.close()
                if code in _FINAL:
                    raise OSError(code, os.strerror(code))
    finally:
        for sock in pending:
            sock.close()


def _attempt(
    pending: list[socket.socket], family: int, kind: int, proto: int, address: tuple
) -> None:
    """Start one more non-blocking connect and add it to ``pending``."""
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    code = sock.connect_ex(address)
    if code in (0, errno.EINPROGRESS):
        pending.append(sock)  # a connect done at once shows as writable
        return
    sock.close()
    raise OSError(code, os.strerror(code))
