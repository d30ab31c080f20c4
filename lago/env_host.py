"""Which libvirt host an environment lives on, kept with its prefix.

An environment is made on the host that ``libvirt_url`` names at ``init``:
the configuration, ``--libvirt_url``, or the init file's top-level ``host``
section, which wins::

    host:
      libvirt_url: qemu+ssh://root@kvm.example/system?keyfile=/path/key
      ssh_jump_host: root@kvm.example     # optional, see lago._ssh_jump
      ssh_jump_key: /path/key             # optional

``init`` records these settings in the prefix (``host.json``); every later
verb on that prefix (and :func:`lago.sdk.load_env`) uses the recorded ones,
since the environment's VMs, networks and disks are there, unless the
command line names another (``--libvirt_url``). A prefix without
the file (made before it existed) uses the configuration as it is.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from lago.config import config
from lago.errors import InitFileError, LagoUserException
from lago.fileio import atomic_write

LOGGER = logging.getLogger(__name__)

HOST_KEYS = ("libvirt_url", "ssh_jump_host", "ssh_jump_key")
HOST_FILE = "host.json"


class HostRecordError(LagoUserException):
    """A prefix's record of its libvirt host cannot be read."""


def check_host_section(value: Any, source: str) -> dict[str, str]:
    """The init file's ``host`` section: known keys, non-empty strings."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InitFileError(
            f"{source}: host: expected a mapping with the keys "
            f"{', '.join(HOST_KEYS)}, got {type(value).__name__}"
        )
    checked = {}
    for key, item in value.items():
        if key not in HOST_KEYS:
            raise InitFileError(
                f"{source}: host: unknown key {key!r} (known: {', '.join(HOST_KEYS)})"
            )
        if not isinstance(item, str) or not item.strip():
            raise InitFileError(f"{source}: host: {key}: expected a non-empty string")
        checked[key] = item.strip()
    return checked


def apply(settings: Mapping[str, str]) -> None:
    """Make ``settings`` (keys of :data:`HOST_KEYS`) the configuration's."""
    for key, value in settings.items():
        if key in HOST_KEYS:
            config.set(key, value)


def current() -> dict[str, str]:
    """The configuration's host settings that are set."""
    return {key: str(config.get(key)) for key in HOST_KEYS if config.get(key)}


def _path(prefix_dir: str | os.PathLike[str]) -> str:
    return os.path.join(os.fspath(prefix_dir), HOST_FILE)


def record(prefix_dir: str | os.PathLike[str]) -> None:
    """Write the configuration's host settings into the prefix."""
    atomic_write(_path(prefix_dir), json.dumps(current(), indent=4))


def recorded(prefix_dir: str | os.PathLike[str]) -> dict[str, str] | None:
    """The prefix's host settings, or None when it has no record."""
    path = _path(prefix_dir)
    try:
        with open(path) as stream:
            data = json.load(stream)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise HostRecordError(f"Cannot read {path}: {err}") from err
    if not isinstance(data, dict):
        raise HostRecordError(f"Cannot read {path}: not a JSON object")
    return {key: str(data[key]) for key in HOST_KEYS if data.get(key)}


# the configuration's own values that the last restore replaced
_REPLACED: dict[str, Any] = {}
# settings the user gave on the command line: they win over a prefix's record
_PINNED: set[str] = set()


def pin_explicit(args: Mapping[str, Any]) -> None:
    """Note the host settings of parsed ``args`` that differ from the
    configuration (argparse's defaults are the configuration's values, so a
    difference means the user typed the option)."""
    _PINNED.clear()
    _PINNED.update(
        key
        for key in HOST_KEYS
        if args.get(key) not in (None, "") and args.get(key) != config.get(key)
    )


def restore(prefix_dir: str | os.PathLike[str]) -> None:
    """Use the libvirt host the prefix was made on, if it recorded one.

    Settings the record does not name keep the configuration's values (not
    those of a prefix restored before in this process).
    """
    settings = recorded(prefix_dir)
    for key, value in _REPLACED.items():
        config.set(key, value)
    _REPLACED.clear()
    if settings is None:
        return
    LOGGER.debug("environment on %s", settings.get("libvirt_url"))
    for key, value in settings.items():
        if key in _PINNED:
            LOGGER.debug("%s from the command line, not %s's record", key, prefix_dir)
            continue
        _REPLACED[key] = config.get(key)
        config.set(key, value)
