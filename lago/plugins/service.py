"""Service plugins (``lago.plugins.vm_service``): managing services in a guest.

A service plugin knows one init system. ``is_supported(vm)`` tells whether
the guest runs it (its ``BIN_PATH`` exists there); ``state()`` reports a
:class:`ServiceState`; ``start()``/``stop()`` change it through
``_request_start()``/``_request_stop()``, which return whether the guest's
command succeeded.
"""

from __future__ import annotations

import abc
from enum import Enum
from typing import Any

from lago.errors import LagoException
from lago.plugins import Plugin


class ServiceState(Enum):
    #: The service does not exist in the guest.
    MISSING = 0
    INACTIVE = 1
    ACTIVE = 2


class ServiceError(LagoException):
    pass


class ServicePlugin(Plugin):
    @property
    @abc.abstractmethod
    def BIN_PATH(self) -> str:
        """The service manager's path in the guest (subclasses set it as a
        class attribute)."""

    def __init__(self, vm: Any, name: str) -> None:
        self._vm = vm
        self._name = name

    @abc.abstractmethod
    def state(self) -> ServiceState:
        """The current state of the service in the guest."""

    @abc.abstractmethod
    def _request_start(self) -> bool: ...

    @abc.abstractmethod
    def _request_stop(self) -> bool: ...

    def start(self) -> None:
        state = self.state()
        if state == ServiceState.MISSING:
            raise ServiceError(f"Service {self._name} not present")
        if state == ServiceState.ACTIVE:
            return
        if not self._request_start():
            raise ServiceError(f"Failed to start service {self._name}")

    def stop(self) -> None:
        state = self.state()
        if state == ServiceState.MISSING:
            raise ServiceError(f"Service {self._name} not present")
        if state == ServiceState.INACTIVE:
            return
        if not self._request_stop():
            raise ServiceError(f"Failed to stop service {self._name}")

    def alive(self) -> bool:
        return self.state() == ServiceState.ACTIVE

    def exists(self) -> bool:
        return self.state() != ServiceState.MISSING

    @classmethod
    def is_supported(cls, vm: Any) -> bool:
        return vm.ssh(["test", "-e", cls.BIN_PATH], show_output=False).code == 0
