"""Opening an SSH connection to a VM, with retries (private to lago.ssh)."""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from lago import _ssh_host_keys, _ssh_jump, _ssh_reuse, _tcp_probe
from lago._ssh_keys import load_private_key
from lago.config import config
from lago.errors import ConfigError, LagoUserException

LOGGER = logging.getLogger(__name__)

ATTEMPT_SPACING = 1.0  # seconds between the starts of two connection attempts
_CONFIG_DEFAULTS = {"ssh_tries": 100, "ssh_timeout": 10}
# socket errors (refused, reset, no route, timeout) are OSError
_RETRIED = (OSError, EOFError, paramiko.SSHException)

PathLike = str | os.PathLike[str]


class LagoSSHError(LagoUserException):
    """A VM could not be reached or used over SSH."""

    __module__ = "lago.ssh"


class LagoSSHTimeoutError(LagoSSHError):
    """Every connection attempt to a VM failed."""

    __module__ = "lago.ssh"


class LagoSSHHostKeyError(LagoSSHError):
    """A VM presented another SSH host key than the one recorded for it."""

    __module__ = "lago.ssh"


class LagoSSHSessionError(LagoSSHError):
    """The connection to a VM broke while it was in use."""

    __module__ = "lago.ssh"


@dataclass(frozen=True)
class Target:
    """Where and as whom to connect."""

    ip_addr: str
    host_name: str | None = None
    port: int = 22
    username: str = "root"
    password: str | None = "123456"
    ssh_key: PathLike | None = None

    @property
    def host(self) -> str:
        return self.host_name or self.ip_addr


def config_number(key: str, kind: type[int] | type[float]) -> Any:
    """``[lago] key`` as a number; a non-number is a ConfigError."""
    value = config.get(key)
    if value is None:
        value = _CONFIG_DEFAULTS[key]
    try:
        return kind(value)
    except (TypeError, ValueError) as err:
        msg = f"Invalid value for {key} in [lago]: {value!r} (expected a number)"
        raise ConfigError(msg) from err


def ssh_timeout() -> float:
    return config_number("ssh_timeout", float)


def resolve_tries(explicit: int | None) -> int:
    """``explicit``, else config ``ssh_tries``; at least one attempt."""
    tries = config_number("ssh_tries", int) if explicit is None else int(explicit)
    return max(1, tries)


def _load_key(path: PathLike | None) -> paramiko.PKey | None:
    if path is None:
        return None
    try:
        return load_private_key(path)
    except (OSError, ValueError, paramiko.SSHException) as err:
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        raise LagoSSHError(f"Cannot use SSH key {path}: {reason}") from err


def port_answers(target: Target, bound: float) -> None:
    """Return if the SSH port accepts a connection; raise OSError if not."""
    if _ssh_jump.configured_jump() is not None:
        open_port(target, bound).close()
    else:
        _tcp_probe.port_open(target.ip_addr, target.port, bound)


def open_port(target: Target, tcp_timeout: float) -> socket.socket | paramiko.Channel:
    """A TCP connection to the SSH port: the cheap test before any key work.

    With a remote libvirt host, the guest's address is only reachable from
    that host: the connection is a channel through the SSH jump to it.
    """
    jump = _ssh_jump.configured_jump()
    if jump is not None:
        return _ssh_jump.open_channel(jump, target.ip_addr, target.port, tcp_timeout)
    return socket.create_connection((target.ip_addr, target.port), tcp_timeout)


def _check_host_keys(client: paramiko.SSHClient, target: Target) -> Path | None:
    """Make ``client`` check the host key against the prefix's known_hosts
    (recording it at the first connection); returns that file, if any."""
    known = _ssh_host_keys.known_hosts_of(target.ssh_key)
    if known is None:
        # not a prefix's key: nowhere to record, as the original
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        return None
    _ssh_host_keys.load_into(client, known, _key_name(target))
    client.set_missing_host_key_policy(
        _ssh_host_keys.RecordPolicy(known, target.host_name)
    )
    return known


def _key_name(target: Target) -> str:
    """The name the host key is known by, as OpenSSH writes it."""
    if target.port == 22:
        return target.ip_addr
    return f"[{target.ip_addr}]:{target.port}"


def _attempt(target: Target, tcp_timeout: float, timeout: float) -> paramiko.SSHClient:
    sock = open_port(target, tcp_timeout)
    client = paramiko.SSHClient()
    try:
        known = _check_host_keys(client, target)
    except BaseException:
        sock.close()
        raise
    try:
        return _login(client, sock, target, timeout)
    except paramiko.BadHostKeyException as err:
        if known is None:  # only a recorded key can be "bad"
            raise
        changed = _ssh_host_keys.HostKeyChanged(known, _key_name(target), err.key)
        raise LagoSSHHostKeyError(
            _ssh_host_keys.changed_message(changed, target.host)
        ) from None
    except _ssh_host_keys.HostKeyChanged as err:
        raise LagoSSHHostKeyError(
            _ssh_host_keys.changed_message(err, target.host)
        ) from None


def _login(
    client: paramiko.SSHClient,
    sock: socket.socket | paramiko.Channel,
    target: Target,
    timeout: float,
) -> paramiko.SSHClient:
    try:
        # the port answers: now the key is worth loading (once per process)
        pkey = _load_key(target.ssh_key)
        client.connect(
            target.ip_addr,
            port=target.port,
            username=target.username,
            password=target.password,
            pkey=pkey,
            sock=sock,
            # the TCP connect is done: this bounds the key exchange, which a
            # guest booting on an emulated CPU may need long for
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            channel_timeout=timeout,
            # never offer the user's own keys or agent to throw-away VMs
            allow_agent=False,
            look_for_keys=False,
        )
    except BaseException:
        client.close()
        sock.close()
        raise
    return client


def connect(
    target: Target, tries: int, tcp_timeout: float, patience: float | None = None
) -> paramiko.SSHClient:
    """A connected client, or :class:`LagoSSHTimeoutError` after ``tries``.

    Attempts start at least :data:`ATTEMPT_SPACING` apart, and a failed last
    attempt also takes that long, as in the original.
    """
    # how long an open port may take to greet and log us in; config ssh_timeout
    # unless the caller knows the guest is still booting
    timeout = max(ssh_timeout(), patience or 0.0)
    kept = _ssh_reuse.take(target)
    if kept is not None:
        LOGGER.debug("ssh to %s: reusing the login of the readiness check", target.host)
        return kept
    LOGGER.debug(
        "ssh to %s (%s:%d) as %s, key %s, %s",
        target.host,
        target.ip_addr,
        target.port,
        target.username,
        target.ssh_key,
        "with a password" if target.password else "no password",
    )
    start = time.monotonic()
    for attempt in range(1, tries + 1):
        began = time.monotonic()
        try:
            return _attempt(target, min(tcp_timeout, timeout), timeout)
        except _RETRIED as err:
            LOGGER.debug(
                "ssh attempt %d/%d to %s failed: %s", attempt, tries, target.host, err
            )
        time.sleep(max(0.0, began + ATTEMPT_SPACING - time.monotonic()))
    elapsed = round(time.monotonic() - start)
    raise LagoSSHTimeoutError(
        f"Timed out (in {elapsed} s) trying to ssh to {target.host}"
    )
