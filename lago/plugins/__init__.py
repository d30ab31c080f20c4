"""Plugin discovery: setuptools entry points loaded with stevedore.

Built-in verbs, output formats, VM types, providers and service managers are
registered through the same entry-point groups a third-party package uses
(see :data:`PLUGIN_ENTRY_POINTS`). A plugin that fails to load is reported in
one line naming it and its distribution; the others still load.
"""

from __future__ import annotations

import abc
import logging
from typing import Any

from lago.constants import PLUGIN_NAMESPACES

LOGGER = logging.getLogger(__name__)

#: Map of plugin kind -> entry-point group.
PLUGIN_ENTRY_POINTS = dict(PLUGIN_NAMESPACES)


class PluginError(Exception):
    pass


class NoSuchPluginError(PluginError):
    pass


class Plugin(abc.ABC):  # noqa: B024 - a marker base; subclasses declare the contract
    """Base class of every plugin kind."""


def _describe(entrypoint: Any) -> str:
    dist = getattr(entrypoint, "dist", None)
    origin = f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"
    return f"{entrypoint.name} ({origin}, {entrypoint.value})"


def _on_load_failure(manager: Any, entrypoint: Any, exception: BaseException) -> None:
    LOGGER.warning(
        "Failed to load plugin %s from group %s: %s: %s",
        _describe(entrypoint),
        manager.namespace,
        type(exception).__name__,
        exception,
    )


def load_plugins(namespace: str, instantiate: bool = True) -> dict[str, Any]:
    """Load every plugin of an entry-point group.

    :param namespace: the entry-point group, e.g. ``lago.plugins.cli``
    :param instantiate: call classes to get instances (objects that already
        are :class:`Plugin` instances are returned as they are)
    :returns: plugin name -> plugin
    """
    from stevedore import ExtensionManager

    manager = ExtensionManager(
        namespace=namespace,
        invoke_on_load=False,
        on_load_failure_callback=_on_load_failure,
    )
    plugins: dict[str, Any] = {}
    for ext in manager:
        plugin = ext.plugin
        if instantiate and isinstance(plugin, type):
            try:
                plugin = plugin()
            except Exception as err:  # noqa: BLE001 - one bad plugin must not stop the rest
                _on_load_failure(manager, ext.entry_point, err)
                continue
        plugins[ext.name] = plugin
    return plugins
