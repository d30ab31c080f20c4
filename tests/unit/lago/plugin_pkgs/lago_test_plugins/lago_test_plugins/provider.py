"""A VM provider that runs nothing: the model tests' stand-in for libvirt.

Every call is recorded in :data:`CALLS` as ``(vm name, method)``; whether a VM
"runs" is kept in :data:`RUNNING` (keyed by the VM's libvirt-style name, which
carries the environment's uuid), so that a prefix loaded again sees the same
state; ``PREFIX_PATHS_SEEN`` records the environment each ``start`` ran in.
A VM whose spec metadata says ``fail-bootstrap: true`` fails in
``bootstrap``, which makes ``init`` roll back.
"""

from __future__ import annotations

import os
from typing import Any

from lago.plugins.vm import VMError, VMProviderPlugin

CALLS: list[tuple[str, str]] = []
RUNNING: set[str] = set()
#: ``$LAGO_PREFIX_PATH`` as each ``start`` saw it
PREFIX_PATHS_SEEN: list[str | None] = []


class FakeProvider(VMProviderPlugin):
    def _key(self) -> str:
        return self.vm.virt_env.prefixed_name(self.vm.name())

    def _record(self, method: str) -> None:
        CALLS.append((self.vm.name(), method))

    def defined(self, *args: Any, **kwargs: Any) -> bool:
        return self._key() in RUNNING

    def start(self, *args: Any, **kwargs: Any) -> None:
        self._record("start")
        PREFIX_PATHS_SEEN.append(os.environ.get("LAGO_PREFIX_PATH"))
        RUNNING.add(self._key())

    def stop(self, *args: Any, **kwargs: Any) -> None:
        self._record("stop")
        RUNNING.discard(self._key())

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        self._record("shutdown")
        RUNNING.discard(self._key())

    def state(self, *args: Any, **kwargs: Any) -> str:
        return "running" if self.defined() else "down"

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        self._record("bootstrap")
        if self.vm.metadata.get("fail-bootstrap"):
            raise VMError(f"bootstrap of {self.vm.name()} failed on purpose")

    def create_snapshot(self, name: str, *args: Any, **kwargs: Any) -> None:
        raise VMError("the fake provider keeps no snapshots")

    def revert_snapshot(self, name: str, *args: Any, **kwargs: Any) -> None:
        raise VMError("the fake provider keeps no snapshots")
