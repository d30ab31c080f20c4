"""Plugin discovery: setuptools entry points loaded with stevedore.

Built-in verbs, output formats, VM types, providers and service managers are
registered through the same entry-point groups a third-party package uses
(see :data:`PLUGIN_ENTRY_POINTS`). A plugin that fails to load is reported in
one line naming it and its distribution; the others still load.
"""

from __future__ import annotations

import abc
import importlib.metadata
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


def _distribution_of(entrypoint: Any) -> str:
    """``name version`` of the package declaring ``entrypoint``.

    stevedore rebuilds entry points from its cache without their
    distribution, so look it up among the installed ones.
    """
    dist = getattr(entrypoint, "dist", None)
    if dist is None:
        dist = next(
            (
                candidate
                for candidate in importlib.metadata.distributions()
                if any(
                    (ep.name, ep.value, ep.group)
                    == (entrypoint.name, entrypoint.value, entrypoint.group)
                    for ep in candidate.entry_points
                )
            ),
            None,
        )
    if dist is None:
        return "unknown distribution"
    return f"{dist.metadata['Name']} {dist.version}"


def _describe(entrypoint: Any) -> str:
    return f"{entrypoint.name} ({_distribution_of(entrypoint)}, {entrypoint.value})"


def _first_line(exception: BaseException) -> str:
    lines = str(exception).strip().splitlines()
    return lines[0] if lines else ""


#: the warning logged when an entry point fails to load
STEVEDORE_WARN_MSG = "Failed to load plugin %s from group %s: %s: %s"


def _on_load_failure(manager: Any, entrypoint: Any, exception: BaseException) -> None:
    LOGGER.warning(
        STEVEDORE_WARN_MSG,
        _describe(entrypoint),
        manager.namespace,
        type(exception).__name__,
        _first_line(exception),
    )


def _expected_base(namespace: str) -> type | None:
    """The class every plugin of ``namespace`` must be (or make) an instance of.

    Imported here, not at the top: the kinds' modules import this one.
    """
    from lago.plugins.cli import CLIPlugin
    from lago.plugins.output import OutFormatPlugin
    from lago.plugins.service import ServicePlugin
    from lago.plugins.vm import VMPlugin, VMProviderPlugin

    bases: dict[str, type] = {
        PLUGIN_NAMESPACES["cli"]: CLIPlugin,
        PLUGIN_NAMESPACES["out"]: OutFormatPlugin,
        PLUGIN_NAMESPACES["vm"]: VMPlugin,
        PLUGIN_NAMESPACES["vm-provider"]: VMProviderPlugin,
        PLUGIN_NAMESPACES["vm-service"]: ServicePlugin,
    }
    return bases.get(namespace)


def _check_kind(namespace: str, plugin: Any) -> None:
    expected = _expected_base(namespace)
    if expected is None:
        return
    kind = plugin if isinstance(plugin, type) else type(plugin)
    if not issubclass(kind, expected):
        msg = f"{kind.__module__}.{kind.__qualname__} is not a {expected.__name__}"
        raise PluginError(msg)


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
        try:
            _check_kind(namespace, plugin)
            if instantiate and isinstance(plugin, type):
                plugin = plugin()
        except Exception as err:
            _on_load_failure(manager, ext.entry_point, err)
            continue
        plugins[ext.name] = plugin
    return plugins
