"""SCP copies to and from a VM (private to lago.ssh, which exports them)."""

from __future__ import annotations

import contextlib
import os

import paramiko
from scp import SCPClient, SCPException

from lago._ssh_connect import (
    LagoSSHError,
    PathLike,
    Target,
    connect,
    resolve_tries,
    ssh_timeout,
)

_COPY_ERRORS = (SCPException, OSError, EOFError, paramiko.SSHException)


class LagoSSHCopyError(LagoSSHError):
    """An SCP copy to or from a VM failed."""

    __module__ = "lago.ssh"


def _reason(err: BaseException) -> str:
    if isinstance(err, SCPException) and err.args:
        return str(err.args[0]).strip()
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        return f"{err.strerror}: {os.fsdecode(err.filename)}"
    return str(err).strip()


# what a received file or directory may keep of the mode the guest sends:
# no set-uid/set-gid/sticky bits, nothing writable by group or others
_MODE_MASK = 0o755


class _GuardedSCPClient(SCPClient):
    """The scp library's receive side, refusing records that leave the target.

    A guest (or whatever answers on its SSH port) names each file and
    directory it sends. The library joins those names to the local
    directory as they come, so ``D0755 0 ..`` climbs out of it and later
    records write anywhere. Each name must be one plain path component
    here, and each mode is masked.
    """

    def _guard(self, cmd: bytes, kind: str) -> bytes:
        parts = cmd.split(b" ", 2)
        if len(parts) != 3:
            return cmd  # malformed: the library refuses it
        mode, size, name = parts
        if not self._rename:
            if name.endswith(b"\n"):
                name = name[:-1]
            if name in (b"", b".", b"..") or b"/" in name or b"\0" in name:
                self.channel.send(b"\x01refused\n")
                shown = name.decode(errors="replace")
                raise SCPException(f"the guest sent a {kind} named {shown!r}")
        try:
            masked = int(mode, 8) & _MODE_MASK
        except ValueError:
            return cmd
        return b" ".join([f"{masked:04o}".encode(), size, parts[2]])

    def _recv_file(self, cmd: bytes) -> None:
        super()._recv_file(self._guard(cmd, "file"))

    def _recv_pushd(self, cmd: bytes) -> None:
        super()._recv_pushd(self._guard(cmd, "directory"))


def _scp_client(client: paramiko.SSHClient) -> SCPClient:
    transport = client.get_transport()
    if transport is None:
        raise paramiko.SSHException("the SSH connection is closed")
    return _GuardedSCPClient(transport, socket_timeout=ssh_timeout())


def _connected(target: Target) -> paramiko.SSHClient:
    return connect(target, resolve_tries(None), ssh_timeout())


def copy_to(  # noqa: PLR0917 - the seeds' signature
    ip_addr: str,
    local_path: PathLike,
    remote_path: PathLike,
    recursive: bool = True,
    host_name: str | None = None,
    ssh_key: PathLike | None = None,
    username: str = "root",
    password: str | None = "123456",
    port: int = 22,
) -> None:
    """Copy ``local_path`` (a file, or a tree when ``recursive``) to the VM.

    Raises :class:`LagoSSHCopyError` (``Failed to copy files/directory
    <local>`` and the reason on a second line).
    """
    client = _connected(Target(ip_addr, host_name, port, username, password, ssh_key))
    try:
        with contextlib.closing(client), _scp_client(client) as scp:
            scp.put(os.fspath(local_path), os.fspath(remote_path), recursive=recursive)
    except _COPY_ERRORS as err:
        msg = f"Failed to copy files/directory {local_path}\n{_reason(err)}"
        raise LagoSSHCopyError(msg) from err


def copy_from(  # noqa: PLR0917 - the seeds' signature
    ip_addr: str,
    remote_path: PathLike,
    local_path: PathLike,
    recursive: bool = True,
    host_name: str | None = None,
    ssh_key: PathLike | None = None,
    username: str = "root",
    password: str | None = "123456",
    port: int = 22,
) -> None:
    """Copy ``remote_path`` (a file, or a tree when ``recursive``) from the VM.

    Raises :class:`LagoSSHCopyError`: ``Failed to extract files: <reason>``
    when the remote path does not exist, else ``Failed to copy
    files/directory from <remote> to <local>`` and the reason.
    """
    client = _connected(Target(ip_addr, host_name, port, username, password, ssh_key))
    try:
        with contextlib.closing(client), _scp_client(client) as scp:
            scp.get(os.fspath(remote_path), os.fspath(local_path), recursive=recursive)
    except _COPY_ERRORS as err:
        reason = _reason(err)
        if isinstance(err, SCPException) and "No such file or directory" in reason:
            raise LagoSSHCopyError(f"Failed to extract files: {reason}") from err
        where = f"from {remote_path} to {local_path}"
        msg = f"Failed to copy files/directory {where}\n{reason}"
        raise LagoSSHCopyError(msg) from err
