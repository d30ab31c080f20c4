"""The built-in VM plugin (``default``) and the ``ssh`` provider."""

from __future__ import annotations

from typing import Any

from lago.plugins.vm import VMPlugin, VMProviderPlugin


class DefaultVM(VMPlugin):
    """A plain VM: everything comes from :class:`VMPlugin`."""


class SSHVMProvider(VMProviderPlugin):
    """A machine Lago does not run, only reaches over SSH.

    Its lifecycle and snapshots are no-ops; it is ``running`` when it is
    described at all, and reachable when one SSH attempt succeeds.
    """

    def start(self, *args: Any, **kwargs: Any) -> None:
        pass

    def stop(self, *args: Any, **kwargs: Any) -> None:
        pass

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        pass

    def reboot(self, *args: Any, **kwargs: Any) -> None:
        pass

    def defined(self, *args: Any, **kwargs: Any) -> bool:
        return True

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        pass

    def state(self, *args: Any, **kwargs: Any) -> str:
        return "running"

    def running(self, *args: Any, **kwargs: Any) -> bool:
        return self.vm.ssh_reachable(tries=1)

    def create_snapshot(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def revert_snapshot(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass
