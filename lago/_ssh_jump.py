"""SSH to guests through the libvirt host (private to lago.ssh).

When ``libvirt_url`` names another host, the guests' addresses live on that
host's bridges and are not routable from here. Every connection to a guest
then goes through one SSH connection to the libvirt host: a ``direct-tcpip``
channel to the guest's port stands in for the TCP socket. The connection to
the host is made once per process and shared by every guest and thread.

Where the jump goes comes from the URL (``qemu+ssh://user@host:port/...``
with its ``keyfile=`` and ``no_verify=`` parameters; for ``qemu+tcp://`` and
``qemu+tls://`` the host on port 22) or from the configuration:
``ssh_jump_host`` (``[user@]host[:port]``) and ``ssh_jump_key``.
"""

from __future__ import annotations

import atexit
import getpass
import logging
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import paramiko

from lago._ssh_keys import load_private_key
from lago.config import config
from lago.errors import ConfigError, LagoUserException

LOGGER = logging.getLogger(__name__)

SSH_PORT = 22
_KEEPALIVE = 30  # seconds; a jump idle behind a NAT or firewall stays open
# URL transports that reach the daemon on this machine, whatever the host part
_LOCAL_TRANSPORTS = frozenset({"unix", "ext"})


class LagoSSHJumpError(LagoUserException):
    """The libvirt host could not be reached, or refused us, over SSH."""

    __module__ = "lago.ssh"


@dataclass(frozen=True)
class JumpHost:
    """The SSH server that guest connections go through."""

    host: str
    port: int = SSH_PORT
    username: str | None = None  # None: the local user, as ssh does
    key: str | None = None  # None: the user's own keys and agent
    verify: bool = True  # False: accept an unknown or changed host key

    @property
    def user(self) -> str:
        return self.username or getpass.getuser()

    def __str__(self) -> str:
        port = "" if self.port == SSH_PORT else f":{self.port}"
        return f"{self.user}@{self.host}{port}"


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return (query.get(name) or ["0"])[-1] not in {"", "0"}


def jump_from_url(url: str) -> JumpHost | None:
    """The jump host a libvirt URL implies; None for a daemon on this machine."""
    parts = urlsplit(url)
    transport = parts.scheme.partition("+")[2]
    host = parts.hostname
    if not host or transport in _LOCAL_TRANSPORTS:
        return None
    query = parse_qs(parts.query)
    if transport in {"ssh", "libssh", "libssh2"}:
        # the URL's own port is the SSH port; keyfile= its key
        return JumpHost(
            host=host,
            port=parts.port or SSH_PORT,
            username=parts.username,
            key=(query.get("keyfile") or [""])[-1] or None,
            verify=not _flag(query, "no_verify"),
        )
    # tcp/tls: the URL's port is libvirtd's, SSH is on the usual one
    return JumpHost(host=host, username=parts.username)


def parse_jump_host(value: str, key: str | None) -> JumpHost:
    """``[user@]host[:port]`` (config ``ssh_jump_host``) as a JumpHost."""
    parts = urlsplit(f"ssh://{value.strip()}")
    try:
        port = parts.port or SSH_PORT
    except ValueError as err:
        raise ConfigError(f"Invalid ssh_jump_host {value!r}: bad port") from err
    if not parts.hostname or parts.path:
        raise ConfigError(
            f"Invalid ssh_jump_host {value!r} (expected [user@]host[:port])"
        )
    return JumpHost(parts.hostname, port, parts.username, key)


def configured_jump(libvirt_url: str | None = None) -> JumpHost | None:
    """The jump for the configuration's (or the given) libvirt URL, if any.

    ``ssh_jump_host`` wins over the URL's host; ``ssh_jump_key`` over its
    ``keyfile=``. A local URL without ``ssh_jump_host`` means no jump.
    """
    url = libvirt_url or str(config.get("libvirt_url") or "")
    explicit = config.get("ssh_jump_host")
    key = config.get("ssh_jump_key") or None
    jump: JumpHost | None
    if explicit:
        jump = parse_jump_host(str(explicit), None)
        if jump.key is None and key is None:
            implied = jump_from_url(url)
            key = implied.key if implied and implied.host == jump.host else None
    else:
        jump = jump_from_url(url)
        if jump is None:
            return None
    if key:
        jump = JumpHost(jump.host, jump.port, jump.username, str(key), jump.verify)
    return jump


_LOCK = threading.Lock()
_CLIENTS: dict[JumpHost, paramiko.SSHClient] = {}


class _WarnUnknownHost(paramiko.MissingHostKeyPolicy):
    """Accept a host that known_hosts does not list, saying so in the log."""

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        LOGGER.warning(
            "SSH jump: %s is not in your known_hosts; accepting its %s key %s",
            hostname,
            key.get_name(),
            key.get_fingerprint().hex(),
        )


def _login(jump: JumpHost, timeout: float) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    if jump.verify:
        client.load_system_host_keys()  # a known host whose key changed is refused
        client.set_missing_host_key_policy(_WarnUnknownHost())
    else:
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        pkey = load_private_key(jump.key) if jump.key else None
        client.connect(
            jump.host,
            port=jump.port,
            username=jump.user,
            pkey=pkey,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            # the user's own host: without a named key, use theirs, like ssh
            allow_agent=pkey is None,
            look_for_keys=pkey is None,
        )
    except paramiko.BadHostKeyException as err:
        client.close()
        raise LagoSSHJumpError(
            f"The libvirt host {jump} has another SSH host key than the one in "
            "your known_hosts: refusing the jump to the VMs",
            hint="check the host, then fix its known_hosts entry",
        ) from err
    except paramiko.AuthenticationException as err:
        client.close()
        which = f"key {jump.key}" if jump.key else "your SSH keys"
        raise LagoSSHJumpError(
            f"The libvirt host {jump} refused {which} for the SSH jump to the VMs",
            hint="set ssh_jump_key (or keyfile= in libvirt_url) to a key it accepts",
        ) from err
    except (OSError, EOFError, ValueError, paramiko.SSHException) as err:
        client.close()
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        raise LagoSSHJumpError(
            f"Cannot reach the libvirt host {jump} over SSH for the jump to the VMs: "
            f"{reason}"
        ) from err
    transport = client.get_transport()
    if transport is not None:
        transport.set_keepalive(_KEEPALIVE)
    LOGGER.debug("SSH jump to the guests through %s", jump)
    return client


def _transport(jump: JumpHost, timeout: float) -> paramiko.Transport:
    """The process's open connection to ``jump``, made (again) when needed."""
    with _LOCK:
        client = _CLIENTS.get(jump)
        transport = client.get_transport() if client is not None else None
        if transport is None or not transport.is_active():
            if client is not None:
                client.close()
            client = _login(jump, timeout)
            _CLIENTS[jump] = client
            transport = client.get_transport()
        assert transport is not None  # connect() leaves an open transport
        return transport


def open_channel(
    jump: JumpHost, address: str, port: int, timeout: float
) -> paramiko.Channel:
    """A channel to ``address:port`` as seen from the jump host.

    A guest port that is not open (yet) raises ``ConnectionRefusedError``,
    as a direct connection would; an unreachable jump host raises
    :class:`LagoSSHJumpError`.
    """
    transport = _transport(jump, timeout)
    try:
        return transport.open_channel(
            "direct-tcpip", (address, port), ("127.0.0.1", 0), timeout=timeout
        )
    except paramiko.ChannelException as err:
        raise ConnectionRefusedError(
            f"{jump} cannot open {address}:{port}: {err.text or err.code}"
        ) from err
    except (EOFError, paramiko.SSHException) as err:
        # the jump broke (host gone, timeout): the next attempt logs in anew
        raise ConnectionResetError(
            f"the SSH jump through {jump} failed: {err}"
        ) from err


@atexit.register
def close_all() -> None:
    """Close every jump connection of this process."""
    with _LOCK:
        clients = list(_CLIENTS.values())
        _CLIENTS.clear()
    for client in clients:
        client.close()
