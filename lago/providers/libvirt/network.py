"""Libvirt networks of an environment (always transient: created at start)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any

from lago import brctl
from lago.errors import LagoException, why
from lago.fileio import atomic_write
from lago.providers.libvirt import utils as lvutils
from lago.providers.libvirt.network_xml import network_xml

LOGGER = logging.getLogger(__name__)

DEFAULT_MTU = 1500


class LagoNetworkError(LagoException):
    pass


class Network:
    """One network of the environment, as saved in ``virt/net-<name>``."""

    def __init__(
        self, env: Any, spec: dict[str, Any], compat: str | None = None
    ) -> None:
        self._env = env
        self._spec = spec
        self._compat = compat or "1.0.0"
        self.compat = self._compat

    @property
    def libvirt_con(self) -> Any:
        return lvutils.configured_connection(self._env.uuid)

    @property
    def spec(self) -> dict[str, Any]:
        return self._spec

    def name(self) -> str:
        return self._spec["name"]

    def gw(self) -> str | None:
        return self._spec.get("gw")

    def is_management(self) -> bool:
        return bool(self._spec.get("management", False))

    def mapping(self) -> dict[str, str]:
        return self._spec.get("mapping", {})

    def resolve(self, name: str) -> str:
        """The address ``name`` (a VM or mapping name) has on this network."""
        return self.mapping()[name]

    def mtu(self) -> int:
        """The network's MTU (1500 unless the spec sets ``mtu``)."""
        return int(self._spec.get("mtu") or DEFAULT_MTU)

    def add_mappings(self, mappings: Iterable[tuple[str, str]]) -> None:
        """Add each ``(name, ip)`` to the mapping, then save the spec once."""
        for name, ip in mappings:
            self.add_mapping(name, ip, save=False)
        self.save()

    def add_mapping(self, name: str, ip: str, save: bool = True) -> None:
        """Map ``name`` to ``ip`` on this network (used by the DNS records
        and ``resolve``); saved at once unless ``save`` is false."""
        self._spec.setdefault("mapping", {})[name] = ip
        if save:
            self.save()

    def libvirt_name(self) -> str:
        return lvutils.net_libvirt_name(self._env.uuid, self.name())

    _libvirt_name = libvirt_name

    def _lookup(self) -> Any:
        return _or_gone(
            lambda: self.libvirt_con.networkLookupByName(self.libvirt_name())
        )

    def alive(self) -> bool:
        net = self._lookup()
        return net is not None and bool(_or_gone(net.isActive))

    def bridge_name(self) -> str:
        raise NotImplementedError

    def _libvirt_xml(self) -> str:
        return network_xml(
            self._spec,
            libvirt_name=self.libvirt_name(),
            bridge_name=self.bridge_name(),
            libvirt_version=self.libvirt_con.getLibVersion(),
            compat_version=self._compat,
        )

    def start(self, attempts: int = 5, timeout: float = 2) -> None:
        if self.alive():
            return
        import libvirt

        try:
            net = self.libvirt_con.networkCreateXML(self._libvirt_xml())
        except libvirt.libvirtError as err:
            LOGGER.debug("libvirt could not create network %s:\n%s", self.name(), err)
            raise LagoNetworkError(
                f"libvirt failed to create network {self.name()}: {why(str(err))}"
            ) from err
        for _ in range(attempts):
            if net.isActive():
                return
            time.sleep(timeout)
        raise LagoNetworkError(f"failed to verify network {self.name()} is active")

    def stop(self) -> None:
        net = self._lookup()
        if net is not None and _or_gone(net.isActive):
            _or_gone(net.destroy)

    def save(self, path: str | None = None) -> None:
        target = path or self._env.virt_path(f"net-{self.name()}")
        atomic_write(target, json.dumps(self._spec, indent=4))


def _or_gone(call: Any) -> Any:
    """``call()`` on a network object; None when the network is not there or
    vanished meanwhile (a transient network another client is destroying)."""
    import libvirt

    return lvutils.unless_gone(call, libvirt.VIR_ERR_NO_NETWORK)


class NATNetwork(Network):
    def bridge_name(self) -> str:
        return lvutils.nat_bridge_name(self.libvirt_name())


class BridgeNetwork(Network):
    """A network on a host bridge named like the libvirt network."""

    def bridge_name(self) -> str:
        return self.libvirt_name()

    def start(self, attempts: int = 5, timeout: float = 2) -> None:
        if self.alive():
            return
        bridge = self.bridge_name()
        made_bridge = not brctl.exists(bridge)
        if made_bridge:
            brctl.create(bridge)
        try:
            super().start(attempts, timeout)
        except Exception:
            if made_bridge:
                brctl.destroy(bridge)
            raise

    def stop(self) -> None:
        super().stop()
        bridge = self.bridge_name()
        if brctl.exists(bridge):
            brctl.destroy(bridge)


def network_class(spec: dict[str, Any]) -> type[Network]:
    return BridgeNetwork if spec.get("type") == "bridge" else NATNetwork
