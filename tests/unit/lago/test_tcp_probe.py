"""The port probe: new SYNs beside a pending one, real loopback sockets."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from lago import _tcp_probe
from tests.unit.lago.sshd_fixture import free_port


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock
    sock.close()


def test_an_open_port_answers(listener: socket.socket) -> None:
    _tcp_probe.port_open("127.0.0.1", listener.getsockname()[1], bound=2.0)


def test_a_closed_port_is_refused_at_once() -> None:
    # a refusal ends the probe: it is not taken for a lost SYN and waited out
    with pytest.raises(ConnectionRefusedError):
        _tcp_probe.port_open("127.0.0.1", free_port(), bound=30.0)


def test_new_syns_go_out_while_one_is_unanswered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A listener whose accept queue is full drops SYNs, as a guest without
    its address does: the probe keeps sending new ones, then times out."""
    attempts = []
    real_attempt = _tcp_probe._attempt

    def counted(*args):  # type: ignore[no-untyped-def]
        attempts.append(args)
        real_attempt(*args)

    monkeypatch.setattr(_tcp_probe, "_attempt", counted)
    with socket.socket() as full, socket.socket() as queued:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        queued.connect(full.getsockname())  # fills the accept queue
        with pytest.raises(TimeoutError):
            _tcp_probe.port_open("127.0.0.1", full.getsockname()[1], 0.6, every=0.1)
    assert len(attempts) >= 3
