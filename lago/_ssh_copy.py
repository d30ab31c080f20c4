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


def _scp_client(client: paramiko.SSHClient) -> SCPClient:
    transport = client.get_transport()
    if transport is None:
        raise paramiko.SSHException("the SSH connection is closed")
    return SCPClient(transport, socket_timeout=ssh_timeout())


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
