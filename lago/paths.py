"""Where each file of a prefix lives."""

from __future__ import annotations

import os


class Paths:
    """Paths inside one prefix directory."""

    def __init__(self, prefix_path: str | os.PathLike[str]) -> None:
        # both names are the original's attributes, read by its subclasses
        self.prefix = os.fspath(prefix_path)
        self._prefix_path = self.prefix

    def prefixed(self, *args: str) -> str:
        return os.path.join(self.prefix, *args)

    def prefix_path(self) -> str:
        return self.prefix

    def uuid(self) -> str:
        return self.prefixed("uuid")

    def ssh_id_rsa(self) -> str:
        return self.prefixed("id_rsa")

    def ssh_id_rsa_pub(self) -> str:
        return self.prefixed("id_rsa.pub")

    def known_hosts(self) -> str:
        """The VMs' SSH host keys, recorded at each VM's first connection."""
        return self.prefixed("known_hosts")

    def images(self, *path: str) -> str:
        return self.prefixed("images", *path)

    def virt(self, *path: str) -> str:
        return self.prefixed("virt", *path)

    def logs(self) -> str:
        return self.prefixed("logs")

    def metadata(self) -> str:
        return self.prefixed("metadata")

    def prefix_lagofile(self) -> str:
        """The marker file of an initialized prefix."""
        return self.prefixed("initialized")

    def scripts(self, *args: str) -> str:
        return self.prefixed("scripts", *args)
