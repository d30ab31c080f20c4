"""What a VM spec gets when it leaves a setting out.

Read from the configuration once per environment (:class:`lago.virt.VirtEnv`
holds one) rather than by every VM object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lago import defaults
from lago.config import config


@dataclass(frozen=True)
class VMDefaults:
    vm_type: str = defaults.LAGO["default_vm_type"]
    vm_provider: str = defaults.LAGO["default_vm_provider"]
    ssh_user: str = defaults.LAGO["ssh_user"]
    #: the guest's root password when the spec names none
    ssh_password: str | None = defaults.LAGO["ssh_password"]

    @classmethod
    def from_config(cls) -> VMDefaults:
        """The configured values (``[lago]``), each falling back to the table."""
        return cls(
            vm_type=config.get("default_vm_type") or cls.vm_type,
            vm_provider=config.get("default_vm_provider") or cls.vm_provider,
            ssh_user=config.get("ssh_user") or cls.ssh_user,
            ssh_password=config.get("root_password") or config.get("ssh_password"),
        )

    def apply(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Fill the missing keys of ``spec`` in place; returns ``spec``."""
        spec.setdefault("snapshots", {})
        spec.setdefault("metadata", {})
        spec.setdefault("vm-type", self.vm_type)
        spec.setdefault("vm-provider", self.vm_provider)
        spec.setdefault("ssh-user", self.ssh_user)
        if "root-password" not in spec:
            spec["ssh-password"] = self.ssh_password
        return spec
