"""Subclasses of Lago's core classes, each override leaving a trace that
the ``envcheck`` verb reports."""

from __future__ import annotations

from typing import Any

from lago.paths import Paths
from lago.prefix import Prefix
from lago.virt import VirtEnv
from lago.vm import DefaultVM
from lago.workdir import Workdir

EXTRA_ARTIFACT = "/etc/hostname"


class EnvPaths(Paths):
    def plugin_file(self) -> str:
        return self.prefixed("env-plugin.json")


class EnvVM(DefaultVM):
    """A VM type of its own: collects one more file than its spec lists."""

    def _artifact_paths(self) -> list[str]:
        return [*super()._artifact_paths(), EXTRA_ARTIFACT]


class EnvVirtEnv(VirtEnv):
    def __init__(self, prefix: Any, vm_specs: dict, net_specs: dict) -> None:
        self.created_by_hook: list[str] = []
        super().__init__(prefix, vm_specs, net_specs)

    def _create_vm(self, vm_spec: dict[str, Any]) -> Any:
        vm = super()._create_vm(vm_spec)
        self.created_by_hook.append(vm.name())
        return vm


class EnvPrefix(Prefix):
    VIRT_ENV_CLASS = EnvVirtEnv

    def __init__(self, prefix: str) -> None:
        super().__init__(prefix)
        self.paths = EnvPaths(self._prefix)
        self.loaded_by_hook = False

    def _create_virt_env(self) -> EnvVirtEnv:
        self.loaded_by_hook = True
        return self.VIRT_ENV_CLASS.from_prefix(self)


class EnvWorkdir(Workdir):
    pass
