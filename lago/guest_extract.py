"""Copying paths out of a running VM: one tar stream over SSH per path.

The guest runs ``tar`` (GNU or busybox) and writes the archive on stdout; the
host unpacks it with :mod:`lago.safe_tar`, so a hostile guest cannot place
files outside the destination (the ``scp`` protocol's receiving side would
trust the names the guest sends). Symlinks are followed on the guest
(``tar -h``), as the artifacts are meant to be readable copies.

A directory ``/var/log`` lands as the directory ``host_path`` holding its
contents; a file lands as the file ``host_path``.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, cast

import paramiko

from lago._ssh_connect import Target, connect, resolve_tries, ssh_timeout
from lago.plugins.vm import ExtractPathError, ExtractPathNoPathError
from lago.safe_tar import UnsafeMemberError, extract_single_file, extract_tree, tarfile

LOGGER = logging.getLogger(__name__)

#: Exit code of the guest command when the path does not exist.
MISSING_RC = 44
#: Seconds one read of the stream may wait (a stalled guest ends the copy).
READ_TIMEOUT = 120.0
_KIND_DIR = b"D"
_KIND_FILE = b"F"


def remote_tar_command(guest_path: str) -> str:
    """The guest shell line: one kind byte (D or F), then the tar stream."""
    trimmed = guest_path.rstrip("/") or "/"
    path = shlex.quote(trimmed)
    parent = shlex.quote(posixpath.dirname(trimmed) or ".")
    base = shlex.quote(posixpath.basename(trimmed))
    return (
        f"if [ -d {path} ]; then printf D && exec tar -c -h -f - -C {path} .; "
        f"elif [ -e {path} ]; then printf F && exec tar -c -h -f - -C {parent} {base}; "
        f"else exit {MISSING_RC}; fi"
    )


def receive(kind: bytes, stream: IO[bytes], guest_path: str, host_path: Path) -> None:
    """Unpack the stream that followed the ``kind`` byte to ``host_path``."""
    if kind == _KIND_DIR:
        extract_tree(stream, host_path)
    elif kind == _KIND_FILE:
        name = posixpath.basename(guest_path.rstrip("/"))
        extract_single_file(stream, name, host_path)
    else:
        raise UnsafeMemberError(f"unexpected answer {kind!r} instead of a tar stream")


def _target(vm: Any) -> Target:
    auth = vm._ssh_auth()
    return Target(
        vm._require_ip(),
        vm.name(),
        username=auth["username"],
        password=auth["password"],
        ssh_key=auth["ssh_key"],
    )


def _copy_one(
    client: paramiko.SSHClient, vm_name: str, guest_path: str, host_path: Path
) -> bool:
    """Copy one path; False when it does not exist on the guest."""
    transport = client.get_transport()
    if transport is None:
        raise paramiko.SSHException("the SSH connection is closed")
    chan = transport.open_session()
    with contextlib.closing(chan):
        chan.settimeout(READ_TIMEOUT)
        chan.exec_command(remote_tar_command(guest_path))
        # paramiko's ChannelFile reads like a binary file
        stdout = cast("IO[bytes]", chan.makefile("rb"))
        kind = stdout.read(1)
        if not kind:
            code = chan.recv_exit_status()
            if code == MISSING_RC:
                return False
            err = chan.makefile_stderr("rb").read().decode(errors="replace")
            raise ExtractPathError(
                f"Failed to extract {guest_path} from {vm_name}: "
                f"status {code}: {err.strip()}"
            )
        try:
            receive(kind, stdout, guest_path, host_path)
        except (tarfile.TarError, UnsafeMemberError) as error:
            err = chan.makefile_stderr("rb").read().decode(errors="replace")
            reason = f"{error}; guest said: {err.strip()}" if err.strip() else error
            raise ExtractPathError(
                f"Failed to extract {guest_path} from {vm_name}: {reason}"
            ) from error
        while stdout.read(65536):  # the archive's padding, up to EOF
            pass
        code = chan.recv_exit_status()
        if code:
            err = chan.makefile_stderr("rb").read().decode(errors="replace")
            # tar goes on past unreadable or changing files: keep what came
            LOGGER.warning(
                "tar on %s ended with status %d copying %s: %s",
                vm_name, code, guest_path, err.strip(),
            )  # fmt: skip
    return True


def extract_paths_ssh(
    vm: Any, paths: Sequence[tuple[str, str]], ignore_nopath: bool
) -> None:
    """Copy each ``(guest_path, host_path)`` of ``paths`` from the running ``vm``.

    A missing guest path raises :class:`ExtractPathNoPathError` unless
    ``ignore_nopath``.
    """
    target = _target(vm)
    client = connect(target, resolve_tries(None), ssh_timeout())
    with contextlib.closing(client):
        for guest_path, host_path in paths:
            LOGGER.debug("Copying %s:%s to %s", vm.name(), guest_path, host_path)
            try:
                found = _copy_one(client, vm.name(), guest_path, Path(host_path))
            except (OSError, EOFError, paramiko.SSHException) as err:
                raise ExtractPathError(
                    f"Failed to extract {guest_path} from {vm.name()}: {err}"
                ) from err
            if found:
                continue
            if not ignore_nopath:
                raise ExtractPathNoPathError(
                    f"Failed to extract {guest_path} from {vm.name()}: "
                    "no such file or directory"
                )
            LOGGER.info("Skipped %s on %s: no such path", guest_path, vm.name())
