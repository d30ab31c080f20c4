"""The SSH host keys of an environment's VMs (private to lago.ssh).

Each prefix keeps a ``known_hosts`` file in OpenSSH's format, next to its
``id_rsa``. A VM's host key is recorded there at the first connection (trust
on first use: the guest makes its keys at its first boot); every later
connection must present the same key, and paramiko negotiates that key's type.
Plain ``ssh -o UserKnownHostsFile=<prefix>/known_hosts root@<ip>`` checks the
same file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import paramiko

from lago.locks import LockFile

LOGGER = logging.getLogger(__name__)

FILE_NAME = "known_hosts"
LOCK_SECONDS = 30.0  # other threads of this environment may be recording too

PathLike = str | os.PathLike[str]


class HostKeyChanged(Exception):
    """A VM presented another key than the one recorded for it."""

    def __init__(self, path: Path, host: str, offered: paramiko.PKey) -> None:
        super().__init__(f"{host}: {offered.get_name()} {offered.fingerprint}")
        self.path, self.host, self.offered = path, host, offered


def known_hosts_of(ssh_key: PathLike | None) -> Path | None:
    """The ``known_hosts`` of the prefix whose key is ``ssh_key``, or None
    when that key is not a prefix's (a caller's own key: nothing recorded)."""
    if ssh_key is None:
        return None
    directory = Path(ssh_key).parent
    if not (directory / "uuid").is_file():
        return None
    return directory / FILE_NAME


def _recorded(path: Path) -> paramiko.HostKeys:
    keys = paramiko.HostKeys()
    if path.is_file():
        keys.load(str(path))
    return keys


def load_into(client: paramiko.SSHClient, path: Path, host: str) -> None:
    """Give ``client`` the key recorded for ``host`` (an address), so that it
    asks for that key type and refuses any other key."""
    entry = _recorded(path).lookup(host)
    if entry is None:
        return
    for key_type, key in entry.items():
        client.get_host_keys().add(host, key_type, key)


class RecordPolicy(paramiko.MissingHostKeyPolicy):
    """Accept a VM's first key and append it, with the VM's name, to ``path``."""

    def __init__(self, path: Path, name: str | None) -> None:
        self.path, self.name = path, name

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        # another process (or thread) may have recorded it since we loaded
        self.path.touch(mode=0o644, exist_ok=True)
        with LockFile(self.path, timeout=LOCK_SECONDS):
            entry = _recorded(self.path).lookup(hostname)
            if entry is not None:
                if entry.get(key.get_name()) != key:
                    raise HostKeyChanged(self.path, hostname, key)
                return
            names = hostname if not self.name else f"{hostname},{self.name}"
            with self.path.open("a", encoding="ascii") as out:
                out.write(f"{names} {key.get_name()} {key.get_base64()}\n")
        LOGGER.debug(
            "Recorded the %s host key of %s in %s", key.get_name(), names, self.path
        )


def changed_message(err: HostKeyChanged, vm: str) -> str:
    """One line: which VM, what it offered, where the old key is, the fix."""
    return (
        f"VM {vm} ({err.host}) offered SSH host key {err.offered.get_name()} "
        f"{err.offered.fingerprint}, not the one recorded in {err.path}; "
        f"if the VM was re-created on purpose, forget the old key with: "
        f"ssh-keygen -R {err.host} -f {err.path}"
    )
