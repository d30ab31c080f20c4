"""A tiny SSH server on 127.0.0.1 for the lago.ssh tests.

Built on paramiko's ``ServerInterface``: one authorized public key and/or a
password, commands run locally with ``/bin/sh -c`` (so ``scp -t``/``scp -f``
reach the local ``scp`` binary and real SCP transfers work), stdin, stdout,
stderr and the exit status carried over the channel. Pty and window-change
requests are accepted and recorded (commands still run on pipes). Test-only:
it listens on loopback and trusts whoever holds the key or password.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Any

import paramiko

LOGGER = logging.getLogger(__name__)

_CHUNK = 32768
_TRANSPORT_LOG = "sshd_fixture.transport"
logging.getLogger(_TRANSPORT_LOG).setLevel(logging.CRITICAL)


def free_port() -> int:
    """A loopback TCP port that nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerLog:
    """What clients did, for the tests to assert on."""

    auths: list[tuple[str, str]] = field(default_factory=list)  # (user, method)
    commands: list[str] = field(default_factory=list)
    ptys: list[tuple[str, int, int]] = field(default_factory=list)
    resizes: list[tuple[int, int]] = field(default_factory=list)
    forwards: list[tuple[str, int]] = field(default_factory=list)  # direct-tcpip asked


def _pump_out(source: Any, send: Any) -> None:
    try:
        while data := os.read(source.fileno(), _CHUNK):
            send(data)
    except (OSError, EOFError, paramiko.SSHException) as err:
        LOGGER.debug("output pump stopped: %s", err)
    finally:
        source.close()


def _pump_in(chan: paramiko.Channel, sink: Any) -> None:
    try:
        while data := chan.recv(_CHUNK):
            sink.write(data)
            sink.flush()
    except (OSError, EOFError, paramiko.SSHException) as err:
        LOGGER.debug("input pump stopped: %s", err)
    finally:
        with contextlib.suppress(OSError):
            sink.close()


_CHANNEL_ERRORS = (OSError, EOFError, paramiko.SSHException)


def _run_piped(chan: paramiko.Channel, argv: list[str]) -> None:
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    feeder = threading.Thread(target=_pump_in, args=(chan, proc.stdin), daemon=True)
    outs = [
        threading.Thread(target=_pump_out, args=(proc.stdout, chan.sendall)),
        threading.Thread(target=_pump_out, args=(proc.stderr, chan.sendall_stderr)),
    ]
    for thread in [feeder, *outs]:
        thread.start()
    for thread in outs:
        thread.join()
    code = proc.wait()
    try:
        chan.send_exit_status(code)
        chan.shutdown_write()
    finally:
        chan.close()
        feeder.join(timeout=5)


def _serve_command(chan: paramiko.Channel, argv: list[str]) -> None:
    """Run ``argv`` with its stdio wired to ``chan``; send its exit status."""
    # the client may hang up at any moment: that ends the command, quietly
    try:
        _run_piped(chan, argv)
    except _CHANNEL_ERRORS as err:
        LOGGER.debug("command %s ended with the connection: %s", argv, err)


def _pump_socket(source: Any, sink: Any) -> None:
    """Bytes from ``source`` to ``sink`` (a socket or a channel) until EOF."""
    try:
        while data := source.recv(_CHUNK):
            sink.sendall(data)
    except _CHANNEL_ERRORS as err:
        LOGGER.debug("forward pump stopped: %s", err)
    finally:
        with contextlib.suppress(*_CHANNEL_ERRORS):
            sink.close()


class _Handler(paramiko.ServerInterface):
    def __init__(self, server: SSHServer) -> None:
        self.server = server

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password" if self.server.password else "publickey"

    def check_auth_password(self, username: str, password: str) -> int:
        if self.server.password is not None and password == self.server.password:
            self.server.log.auths.append((username, "password"))
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if self.server.key is not None and key == self.server.key:
            self.server.log.auths.append((username, "publickey"))
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def _start(self, chan: paramiko.Channel, argv: list[str]) -> bool:
        thread = threading.Thread(target=_serve_command, args=(chan, argv), daemon=True)
        thread.start()
        self.server.threads.append(thread)
        return True

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple[str, int], destination: tuple[str, int]
    ) -> int:
        wanted = (str(destination[0]), int(destination[1]))
        self.server.log.forwards.append(wanted)
        address = self.server.forwards.get(wanted)
        if address is None:
            return paramiko.OPEN_FAILED_CONNECT_FAILED
        try:
            sock = socket.create_connection(address, 5)
        except OSError:
            return paramiko.OPEN_FAILED_CONNECT_FAILED
        self.server.pending[chanid] = sock
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(
        self, channel: paramiko.Channel, command: bytes
    ) -> bool:
        line = command.decode("utf-8", "replace")
        self.server.log.commands.append(line)
        return self._start(channel, ["/bin/sh", "-c", line])

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        self.server.log.commands.append("<shell>")
        return self._start(channel, ["/bin/sh"])

    def check_channel_pty_request(
        self, channel: Any, term: bytes, width: int, height: int, *_: Any
    ) -> bool:
        term_name = term.decode() if isinstance(term, bytes) else term
        self.server.log.ptys.append((term_name, width, height))
        return True

    def check_channel_window_change_request(
        self, channel: Any, width: int, height: int, *_: Any
    ) -> bool:
        self.server.log.resizes.append((width, height))
        return True


class SSHServer:
    """Serves SSH on ``127.0.0.1:port`` (a free port when 0) from a thread.

    ``key`` is the one accepted public key; ``password`` (``None``: none)
    the accepted password. ``forwards`` makes it a jump host: a
    ``direct-tcpip`` channel to a name in it is joined to the address it
    maps to (any other destination is refused). Use as a context manager or
    start()/stop().
    """

    def __init__(
        self,
        key: paramiko.PKey | None,
        password: str | None = "123456",
        port: int = 0,
        forwards: dict[tuple[str, int], tuple[str, int]] | None = None,
    ) -> None:
        self.key, self.password = key, password
        self.forwards = dict(forwards or {})
        self.pending: dict[int, socket.socket] = {}
        self.host_key = paramiko.ECDSAKey.generate()
        self.log = ServerLog()
        self.threads: list[threading.Thread] = []
        self._transports: list[paramiko.Transport] = []
        self._stopping = threading.Event()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._requested_port = port
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self.port = 0

    def start(self) -> SSHServer:
        self._sock.bind(("127.0.0.1", self._requested_port))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._acceptor.start()
        return self

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        # clients hanging up make the server side log resets: not our concern
        transport.set_log_channel(_TRANSPORT_LOG)
        self._transports.append(transport)
        transport.add_server_key(self.host_key)
        try:
            transport.start_server(server=_Handler(self))
        except (paramiko.SSHException, EOFError, OSError) as err:
            LOGGER.debug("ssh negotiation failed: %s", err)
            transport.close()
            return
        # sessions are served from their requests; forwarded channels here
        while transport.is_active() and not self._stopping.is_set():
            chan = transport.accept(0.1)
            sock = self.pending.pop(chan.get_id(), None) if chan else None
            if chan is None or sock is None:
                continue
            for source, sink in ((chan, sock), (sock, chan)):
                pump = threading.Thread(target=_pump_socket, args=(source, sink))
                pump.daemon = True
                pump.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._acceptor.is_alive():
            self._acceptor.join()
        self._sock.close()
        for transport in self._transports:
            transport.close()
        for thread in self.threads:
            thread.join(timeout=5)

    def __enter__(self) -> SSHServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
