"""SSH access to the VMs: commands, scripts, interactive shells, SCP copies.

Every function connects to ``ip_addr`` with paramiko as ``username`` with the
private key file ``ssh_key`` and/or ``password``. With a prefix's key, the
VM's host key is recorded in that prefix's ``known_hosts`` at the first
connection and must not change after (:class:`LagoSSHHostKeyError`); with
any other key, unknown host keys are accepted, as the original did. Connection attempts are retried (config
``ssh_tries``, each bounded by ``ssh_timeout``) and start at least a second
apart. The ``port`` keyword (default 22) is our addition, for hosts and tests
that listen elsewhere.

Commands are argument lists joined by spaces and parsed by the remote shell,
as the original did, so ``ssh(ip, ['echo', '$HOME'])`` prints the remote home.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import paramiko

from lago import _ssh_reuse, interrupt
from lago._ssh_channel import (
    CALLER_STDERR,
    CALLER_STDOUT,
    drain_ssh_channel,
    interactive_ssh_channel,
)
from lago._ssh_connect import (
    ATTEMPT_SPACING,
    LagoSSHError,
    LagoSSHHostKeyError,
    LagoSSHSessionError,
    LagoSSHTimeoutError,
    PathLike,
    Target,
    connect,
    port_answers,
    resolve_tries,
    ssh_timeout,
)
from lago._ssh_copy import LagoSSHCopyError, copy_from, copy_to
from lago.process import CommandStatus

__all__ = [
    "LagoSSHCopyError",
    "LagoSSHError",
    "LagoSSHHostKeyError",
    "LagoSSHSessionError",
    "LagoSSHTimeoutError",
    "LagoSSHTimeoutException",
    "copy_from",
    "copy_to",
    "drain_ssh_channel",
    "get_ssh_client",
    "interactive_ssh",
    "interactive_ssh_channel",
    "probe_login",
    "probe_port",
    "ssh",
    "ssh_script",
    "wait_for_ssh",
]

LOGGER = logging.getLogger(__name__)

LagoSSHTimeoutException = LagoSSHTimeoutError  # the original's name
_PROBE_CONNECT_TIMEOUT = 2.0  # TCP connect bound while polling in wait_for_ssh
# a TCP connect costs next to nothing, so the port is polled often; the key
# exchange waits until it answers
_PORT_POLL_SPACING = 0.2
# a booting guest whose port answers may need long to greet (sshd starting on
# an emulated CPU); giving up and connecting again only adds sshd processes
_BOOTING_PATIENCE = 60.0
_SESSION_ERRORS = (OSError, EOFError, paramiko.SSHException)
# failures to reach a host; bad keys or commands are raised whatever the caller says
_UNREACHABLE = (LagoSSHTimeoutError, LagoSSHSessionError)


def _gen_ssh_command_id() -> str:
    """A short id tying a command's debug log lines together."""
    return uuid.uuid4().hex[:8]


def get_ssh_client(  # noqa: PLR0917 - the seeds' signature
    ip_addr: str,
    ssh_key: PathLike | None = None,
    host_name: str | None = None,
    ssh_tries: int | None = None,
    propagate_fail: bool = True,
    username: str = "root",
    password: str | None = "123456",
    port: int = 22,
) -> paramiko.SSHClient | None:
    """A connected :class:`paramiko.SSHClient` (the caller closes it).

    ``ssh_tries`` defaults to config ``ssh_tries``. When every attempt fails,
    raises :class:`LagoSSHTimeoutError` naming ``host_name`` (or
    ``ip_addr``), or returns ``None`` if ``propagate_fail`` is false.
    """
    target = Target(ip_addr, host_name, port, username, password, ssh_key)
    timeout = ssh_timeout()
    try:
        return connect(target, resolve_tries(ssh_tries), timeout)
    except LagoSSHTimeoutError as err:
        if propagate_fail:
            raise
        LOGGER.debug("%s", err)
        return None


def _command_line(command: str | Sequence[Any], host: str) -> str:
    if isinstance(command, str):
        line = command
    else:
        line = " ".join(os.fspath(arg) for arg in command)
    if not line.strip():
        raise LagoSSHError(f"Empty command given to run on {host} over ssh")
    return line


def _open_session(client: paramiko.SSHClient) -> paramiko.Channel:
    transport = client.get_transport()
    if transport is None:
        raise paramiko.SSHException("the SSH connection is closed")
    return transport.open_session()


def _exec(
    client: paramiko.SSHClient, line: str, data: str | bytes | None, show_output: bool
) -> tuple[int, str, str]:
    if isinstance(data, str):
        data = data.encode("utf-8")
    chan = _open_session(client)
    try:
        chan.exec_command(line)
        return drain_ssh_channel(
            chan,
            stdin=io.BytesIO(data or b""),  # always EOF, so stdin readers end
            stdout=CALLER_STDOUT if show_output else None,
            stderr=CALLER_STDERR if show_output else None,
        )
    finally:
        chan.close()


def _run(
    target: Target,
    command: str | Sequence[Any],
    *,
    data: str | bytes | None,
    show_output: bool,
    tries: int,
    tcp_timeout: float,
    patience: float | None = None,
    keep_login: bool = False,
) -> CommandStatus:
    line = _command_line(command, target.host)
    cmd_id = _gen_ssh_command_id()
    client = connect(target, tries, tcp_timeout, patience)
    LOGGER.debug("Running %s on %s: %s", cmd_id, target.host, line)
    try:
        code, out, err = _exec(client, line, data, show_output)
    except _SESSION_ERRORS as error:
        client.close()
        msg = f"Lost the ssh connection to {target.host} running {line!r}: {error}"
        raise LagoSSHSessionError(msg) from error
    except BaseException:
        client.close()
        raise
    if keep_login and code == 0:
        _ssh_reuse.keep(target, client)
    else:
        client.close()
    LOGGER.debug("Command %s on %s returned with %d", cmd_id, target.host, code)
    if out:
        LOGGER.debug("Command %s output:\n %s", cmd_id, out)
    if err:
        LOGGER.debug("Command %s errors:\n %s", cmd_id, err)
    return CommandStatus(code, out, err)


def ssh(  # noqa: PLR0917 - the seeds' signature
    ip_addr: str,
    command: str | Sequence[Any],
    host_name: str | None = None,
    data: str | bytes | None = None,
    show_output: bool = True,
    propagate_fail: bool = True,
    tries: int | None = None,
    ssh_key: PathLike | None = None,
    username: str = "root",
    password: str | None = "123456",
    port: int = 22,
) -> CommandStatus:
    """Run ``command`` (arguments joined by spaces) and return its status.

    ``data`` is written to the command's stdin, then EOF. With
    ``show_output`` the remote stdout/stderr are copied to the local ones as
    they arrive; ``out``/``err`` always hold the whole text. A non-zero exit
    is returned, not raised. If ssh itself fails (``tries`` attempts, default
    config ``ssh_tries``), raises :class:`LagoSSHError`, or with
    ``propagate_fail=False`` returns code 255 with the reason in ``err``.
    """
    target = Target(ip_addr, host_name, port, username, password, ssh_key)
    timeout = ssh_timeout()
    try:
        return _run(
            target,
            command,
            data=data,
            show_output=show_output,
            tries=resolve_tries(tries),
            tcp_timeout=timeout,
        )
    except _UNREACHABLE as err:
        if propagate_fail:
            raise
        LOGGER.debug("%s", err)
        return CommandStatus(255, "", str(err))


def ssh_script(  # noqa: PLR0917 - the seeds' signature
    ip_addr: str,
    path: PathLike,
    host_name: str | None = None,
    show_output: bool = True,
    ssh_key: PathLike | None = None,
    username: str = "root",
    password: str | None = "123456",
    port: int = 22,
) -> CommandStatus:
    """Run the local script ``path`` remotely as ``bash -s`` (script on stdin)."""
    try:
        script = Path(path).read_bytes()
    except OSError as err:
        raise LagoSSHError(f"Cannot read script {path}: {err.strerror}") from err
    return ssh(
        ip_addr,
        ["bash", "-s"],
        host_name=host_name,
        data=script,
        show_output=show_output,
        ssh_key=ssh_key,
        username=username,
        password=password,
        port=port,
    )


def _port_answers(target: Target) -> bool:
    interrupt.check()  # every wait for a guest polls here: stop when interrupted
    try:
        port_answers(target, _PROBE_CONNECT_TIMEOUT)
    except OSError as err:
        LOGGER.debug("%s: port %d not open yet: %s", target.host, target.port, err)
        return False
    return True


def _answers(target: Target, patience: float) -> bool:
    interrupt.check()
    try:
        status = _run(
            target,
            ["true"],
            data=None,
            show_output=False,
            tries=1,
            tcp_timeout=_PROBE_CONNECT_TIMEOUT,
            patience=patience,
            keep_login=True,  # for the command the caller runs next
        )
    except _UNREACHABLE as err:
        LOGGER.debug("%s not ready yet: %s", target.host, err)
        return False
    return status.code == 0


def probe_port(ip_addr: str, port: int = 22) -> bool:
    """Whether a TCP connect to ``ip_addr:port`` succeeds now (no key work)."""
    return _port_answers(Target(ip_addr, None, port, "root", None, None))


def probe_login(
    ip_addr: str,
    host_name: str | None = None,
    patience: float = _BOOTING_PATIENCE,
    *,
    ssh_key: PathLike | None = None,
    username: str = "root",
    password: str | None = "123456",
    port: int = 22,
) -> bool:
    """Whether ``true`` runs over one login, waiting up to ``patience`` s for a
    slow sshd to greet; the login is kept for the caller's next command."""
    target = Target(ip_addr, host_name, port, username, password, ssh_key)
    return _answers(target, max(0.0, min(_BOOTING_PATIENCE, patience)))


def wait_for_ssh(  # noqa: PLR0917 - the seeds' signature
    ip_addr: str,
    host_name: str | None = None,
    connect_timeout: float = 600,
    ssh_key: PathLike | None = None,
    username: str = "root",
    password: str | None = "123456",
    port: int = 22,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Wait until ``true`` runs over ssh, for about ``connect_timeout`` s.

    Polls the TCP port a few times a second and logs in only once it
    answers (at most once a second); after the deadline makes one last
    attempt, then raises :class:`LagoSSHTimeoutError`. (The original's last
    attempt used every configured try, ``ssh_tries`` x ``ssh_timeout``, which
    turned a short ``boot_time_sec`` into minutes.)
    ``alive``, when given, is asked before each attempt: a machine that
    stopped running will never answer, so waiting ends with an error.
    """
    target = Target(ip_addr, host_name, port, username, password, ssh_key)
    deadline = time.monotonic() + connect_timeout
    asked = float("-inf")
    while time.monotonic() < deadline:
        interrupt.check()  # the verb was interrupted: stop waiting
        began = time.monotonic()
        # asking the hypervisor costs more than a TCP connect: once a second
        if alive is not None and began - asked >= ATTEMPT_SPACING:
            asked = began
            if not alive():
                raise LagoSSHTimeoutError(
                    f"Failed to connect remote shell to {target.host}: "
                    "it is not running"
                )
        port_open = _port_answers(target)
        patience = min(_BOOTING_PATIENCE, deadline - time.monotonic())
        if port_open and _answers(target, patience):
            return
        # a login that failed waits a second before the next; a closed port less
        spacing = ATTEMPT_SPACING if port_open else _PORT_POLL_SPACING
        interrupt.sleep(max(0.0, min(began + spacing, deadline) - time.monotonic()))
    status = ssh(
        ip_addr,
        ["true"],
        host_name=host_name,
        show_output=False,
        propagate_fail=False,
        tries=1,
        ssh_key=ssh_key,
        username=username,
        password=password,
        port=port,
    )
    if status.code != 0:
        raise LagoSSHTimeoutError(f"Failed to connect remote shell to {target.host}")


def interactive_ssh(  # noqa: PLR0917 - the seeds' signature
    ip_addr: str,
    command: str | Sequence[Any] | None = None,
    host_name: str | None = None,
    ssh_key: PathLike | None = None,
    username: str = "root",
    password: str | None = "123456",
    port: int = 22,
) -> CommandStatus:
    """Attach the local terminal to ``command`` (or a login shell) on the VM.

    See :func:`interactive_ssh_channel`; returns the remote exit code.
    """
    target = Target(ip_addr, host_name, port, username, password, ssh_key)
    line = None if command is None else _command_line(command, target.host)
    client = connect(target, resolve_tries(None), ssh_timeout())
    try:
        with contextlib.closing(client):
            chan = _open_session(client)
            try:
                return interactive_ssh_channel(chan, line)
            finally:
                chan.close()
    except _SESSION_ERRORS as error:
        msg = f"Lost the ssh connection to {target.host}: {error}"
        raise LagoSSHSessionError(msg) from error
