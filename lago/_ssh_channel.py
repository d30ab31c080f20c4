"""Moving bytes between an open SSH channel and local streams.

Private helpers of :mod:`lago.ssh`, which re-exports the public names
(:func:`drain_ssh_channel`, :func:`interactive_ssh_channel`).
"""

from __future__ import annotations

import codecs
import contextlib
import io
import logging
import os
import select
import signal
import sys
import termios
import threading
import tty
from typing import IO, Any

import paramiko

from lago.process import CommandStatus

LOGGER = logging.getLogger(__name__)

_CHUNK = 32768


class _CallerStream:
    """Default of a stream argument: ``sys.stdout``/``sys.stdin`` at call time.

    Binding ``sys.stdout`` at import time would miss later redirections
    (pytest's capture, ``contextlib.redirect_stdout``).
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"sys.{self.name}"

    def resolve(self) -> Any:
        return getattr(sys, self.name)


CALLER_STDIN = _CallerStream("stdin")
CALLER_STDOUT = _CallerStream("stdout")
CALLER_STDERR = _CallerStream("stderr")


def _resolve(stream: Any) -> Any:
    return stream.resolve() if isinstance(stream, _CallerStream) else stream


class _Echo:
    """Writes received bytes to a local stream as they arrive (or nowhere)."""

    def __init__(self, stream: IO[Any] | None) -> None:
        self.stream = stream
        self.binary = getattr(stream, "buffer", None)
        if (
            stream is not None
            and self.binary is None
            and isinstance(stream, io.RawIOBase | io.BufferedIOBase)
        ):
            self.binary = stream
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def write(self, data: bytes) -> None:
        if self.stream is None or not data:
            return
        if self.binary is not None:
            if self.binary is not self.stream:
                self.stream.flush()  # keep order with text already written
            self.binary.write(data)
            self.binary.flush()
            return
        self.stream.write(self.decoder.decode(data))
        self.stream.flush()


def _read_chunk(source: Any) -> bytes:
    """Whatever ``source`` has now (up to a chunk), as bytes; b'' at EOF."""
    reader = getattr(source, "buffer", source)
    read = getattr(reader, "read1", None) or reader.read
    data = read(_CHUNK)
    return data.encode("utf-8") if isinstance(data, str) else data


def _feed_stdin(chan: paramiko.Channel, source: Any) -> None:
    """Send ``source`` to the remote stdin, then EOF."""
    try:
        while data := _read_chunk(source):
            chan.sendall(data)
        chan.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException) as err:
        # the remote side closed before reading everything: not our failure
        LOGGER.debug("stopped sending stdin: %s", err)


def start_stdin_feeder(chan: paramiko.Channel, source: Any) -> threading.Thread:
    """Feed ``source`` from a thread, so a chatty command cannot deadlock us."""
    feeder = threading.Thread(
        target=_feed_stdin, args=(chan, source), name="ssh-stdin", daemon=True
    )
    feeder.start()
    return feeder


def _drained(chan: paramiko.Channel) -> bool:
    return bool(chan.eof_received or chan.closed) and not (
        chan.recv_ready() or chan.recv_stderr_ready()
    )


def drain_ssh_channel(
    chan: paramiko.Channel,
    stdin: Any = None,
    stdout: Any = CALLER_STDOUT,
    stderr: Any = CALLER_STDERR,
) -> tuple[int, str, str]:
    """Collect a running command's output until it ends.

    ``stdin`` (a file object, or ``None``) is sent to the remote stdin
    followed by EOF. Output is copied to ``stdout``/``stderr`` as it arrives
    (``None`` shows nothing; the defaults are ``sys.stdout``/``sys.stderr``
    at call time) and also captured. Returns ``(exit code, out, err)``;
    the code is -1 if the server closed without sending one.
    """
    feeder = start_stdin_feeder(chan, stdin) if stdin is not None else None
    echo_out, echo_err = _Echo(_resolve(stdout)), _Echo(_resolve(stderr))
    out, err = bytearray(), bytearray()
    while True:
        select.select([chan], [], [], 1.0)
        while chan.recv_ready():
            data = chan.recv(_CHUNK)
            out += data
            echo_out.write(data)
        while chan.recv_stderr_ready():
            data = chan.recv_stderr(_CHUNK)
            err += data
            echo_err.write(data)
        if _drained(chan):
            break
    code = chan.recv_exit_status()
    if feeder is not None:
        feeder.join(timeout=1)
    return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def start_command(chan: paramiko.Channel, command: str | None) -> None:
    """Run ``command`` on ``chan``, or a login shell when it is ``None``."""
    if command is None:
        chan.invoke_shell()
    else:
        chan.exec_command(command)


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _terminal_size(fd: int) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return 80, 24
    return size.columns, size.lines


class _WindowForwarder:
    """Forwards local terminal resizes (SIGWINCH) to the remote pty.

    The handler only pokes a pipe; the resize is sent from the I/O loop, so no
    SSH traffic happens inside a signal handler.
    """

    def __init__(self, chan: paramiko.Channel, fd: int) -> None:
        self.chan, self.fd = chan, fd
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        self.previous: Any = None
        self.installed = threading.current_thread() is threading.main_thread()
        if self.installed:
            self.previous = signal.signal(signal.SIGWINCH, self._on_signal)

    def _on_signal(self, *_: Any) -> None:
        with contextlib.suppress(OSError):
            os.write(self.wake_w, b"w")

    def forward(self) -> None:
        os.read(self.wake_r, 512)
        width, height = _terminal_size(self.fd)
        self.chan.resize_pty(width=width, height=height)

    def close(self) -> None:
        if self.installed:
            signal.signal(signal.SIGWINCH, self.previous)
        os.close(self.wake_r)
        os.close(self.wake_w)


def _tty_loop(chan: paramiko.Channel, fd: int, resize: _WindowForwarder) -> None:
    echo = _Echo(sys.stdout)
    local_open = True
    while True:
        watched: list[Any] = [chan, resize.wake_r] + ([fd] if local_open else [])
        ready, _, _ = select.select(watched, [], [], 1.0)
        if resize.wake_r in ready:
            resize.forward()
        while chan.recv_ready():
            echo.write(chan.recv(_CHUNK))
        while chan.recv_stderr_ready():
            echo.write(chan.recv_stderr(_CHUNK))
        if _drained(chan):
            return
        if fd in ready:
            data = os.read(fd, 4096)
            if data:
                chan.sendall(data)
            else:
                local_open = False
                chan.shutdown_write()


def _interactive_tty(chan: paramiko.Channel, command: str | None, stdin: Any) -> int:
    fd = stdin.fileno()
    width, height = _terminal_size(fd)
    chan.get_pty(term=os.environ.get("TERM", "vt100"), width=width, height=height)
    start_command(chan, command)
    saved = termios.tcgetattr(fd)
    resize = _WindowForwarder(chan, fd)
    try:
        tty.setraw(fd)
        _tty_loop(chan, fd, resize)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        resize.close()
    return chan.recv_exit_status()


def interactive_ssh_channel(
    chan: paramiko.Channel, command: str | None = None, stdin: Any = CALLER_STDIN
) -> CommandStatus:
    """Attach the local terminal (or streams) to ``command`` on ``chan``.

    With a tty on ``stdin`` a remote pty is requested (``$TERM`` and the
    window size, resizes forwarded) and the local terminal is put in raw mode
    until the command ends. Otherwise ``stdin`` is streamed to the command and
    its output to ``sys.stdout``/``sys.stderr``. ``command=None`` starts the
    remote login shell. Returns the remote exit code, with no captured text.
    """
    stdin = _resolve(stdin)
    if _is_tty(stdin):
        return CommandStatus(_interactive_tty(chan, command, stdin), "", "")
    start_command(chan, command)
    code, _, _ = drain_ssh_channel(chan, stdin=stdin)
    return CommandStatus(code, "", "")
