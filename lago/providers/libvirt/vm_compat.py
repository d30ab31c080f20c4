"""The original's read-only views of a libvirt VM (CPU, capabilities,
raw state), mixed into :class:`~lago.providers.libvirt.vm.LocalLibvirtVMProvider`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lago.errors import LagoException
from lago.plugins.vm import LagoVMDoesNotExistError
from lago.providers.libvirt.cpu import CPU


class LagoLocalLibvirtVMProviderException(LagoException):
    pass


class LibvirtVMViews:
    """Needs ``vm``, ``libvirt_con``, ``host_facts()``, ``defined()`` and
    ``_get_domain()`` from the provider it is mixed into."""

    if TYPE_CHECKING:  # provided by the provider this is mixed into
        vm: Any
        libvirt_con: Any

        def host_facts(self) -> Any: ...

        def defined(self, *args: Any, **kwargs: Any) -> bool: ...

        def _get_domain(self) -> Any: ...

    @property
    def cpu(self) -> CPU:
        """The ``<cpu>``/``<vcpu>`` the VM is defined with on this host."""
        return CPU(self.vm.spec, self.host_facts())

    @property
    def caps(self) -> str:
        """The host's libvirt capabilities XML."""
        return self.libvirt_con.getCapabilities()

    @property
    def libvirt_ver(self) -> int:
        """libvirt's version as one number (``major * 1e6 + minor * 1e3 + micro``)."""
        return int(self.libvirt_con.getLibVersion())

    def alive(self) -> bool:
        """Whether the domain exists (running or paused)."""
        return self.defined()

    def raw_state(self) -> list[int]:
        """libvirt's ``[state, reason]`` of the domain."""
        dom = self._get_domain()
        if dom is None:
            raise LagoVMDoesNotExistError(f"VM {self.vm.name()} does not exist")
        return list(dom.state())

    @property
    def cpu_model(self) -> str | None:
        return self.cpu.model

    @property
    def cpu_vendor(self) -> str | None:
        return self.cpu.vendor
