"""Ansible inventories of an environment (``lago ansible_hosts``, the SDK)."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from typing import IO, Any

LOGGER = logging.getLogger(__name__)

DEFAULT_KEYS = ["vm-type", "groups", "vm-provider"]


class LagoAnsible:
    """Builds inventories whose groups come from keys of the VM specs."""

    def __init__(self, prefix: Any) -> None:
        self.prefix = prefix

    def _generate_entry(self, vm: Any) -> str:
        return (
            f"{vm.name()} ansible_host={vm.ip()} "
            f"ansible_ssh_private_key_file={self.prefix.paths.ssh_id_rsa()}"
        )

    @staticmethod
    def get_key(key: str, data_structure: Any) -> Any:
        """The value at a ``/``-separated path; numeric parts index lists."""
        if key == "/":
            return data_structure
        node = data_structure
        for part in key.lstrip("/").split("/"):
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return None
        return node

    def get_inventory(self, keys: list[str] | None = None) -> dict[str, list[str]]:
        inventory: dict[str, list[str]] = {}
        plain_groups: dict[str, list[str]] = {}
        for vm in self.prefix.virt_env.get_vms().values():
            entry = self._generate_entry(vm)
            for key in keys or DEFAULT_KEYS:
                value = self.get_key(key, vm.spec)
                if value is None:
                    continue
                for item in value if isinstance(value, list) else [value]:
                    inventory.setdefault(f"{key}={item}", []).append(entry)
            for group in vm.groups:
                plain_groups.setdefault(group, []).append(entry)
        for group, entries in plain_groups.items():
            inventory.setdefault(group, []).extend(entries)
        return {group: sorted(entries) for group, entries in inventory.items()}

    def get_inventory_str(self, keys: list[str] | None = None) -> str:
        lines: list[str] = []
        for group, entries in self.get_inventory(keys).items():
            lines.append(f"[{group}]")
            lines.extend(entries)
        return "\n".join(lines)

    @contextlib.contextmanager
    def get_inventory_temp_file(
        self, keys: list[str] | None = None
    ) -> Iterator[IO[str]]:
        with tempfile.NamedTemporaryFile(
            "w", prefix="lago-inventory-", suffix=".ini"
        ) as inventory:
            inventory.write(self.get_inventory_str(keys))
            inventory.flush()
            yield inventory
