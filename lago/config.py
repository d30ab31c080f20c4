"""Lago's configuration: defaults < INI files < environment < command line.

Files are read in the original's look-up order (``/etc/lago/lago.conf``, then
``lago/lago.conf`` under each ``$XDG_CONFIG_DIRS`` entry and under
``$XDG_CONFIG_HOME``). ``LAGO_<KEY>`` lands in ``[lago]``;
``LAGO__<SECTION>__<KEY>`` in ``[<section>]``.
"""

from __future__ import annotations

import argparse
import configparser
import logging
import os
import textwrap
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lago import constants
from lago.errors import ConfigError

LOGGER = logging.getLogger(__name__)

Sections = dict[str, dict[str, Any]]


def default_template_repo_path(template_repos: str = "/var/lib/lago/repos") -> str:
    """The embedded local repository once built, else the original's URL."""
    local = Path(template_repos) / constants.LOCAL_REPO_NAME / "repo.metadata"
    return str(local) if local.exists() else constants.ORIGINAL_TEMPLATE_REPO


def _default_config() -> Sections:
    return {
        "lago": {
            "logdepth": 3,
            "loglevel": "info",
            "ssh_user": "root",
            "ssh_password": "123456",
            "ssh_tries": 100,
            "ssh_timeout": 10,
            "libvirt_url": "qemu:///system",
            "default_vm_type": "default",
            "default_vm_provider": "local-libvirt",
            "lease_dir": "/var/lib/lago/subnets",
            "prefix_name": "current",
            "reposync_dir": "/var/lib/lago",
        },
        "init": {
            "template_repo_path": default_template_repo_path(),
            "template_store": "/var/lib/lago/store",
            "template_repos": "/var/lib/lago/repos",
        },
    }


def _get_configs_path() -> list[str]:
    """Existing config files, least important first."""
    paths = list(constants.CONFS_PATH)
    xdg_dirs = os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    # XDG_CONFIG_DIRS lists the most important first
    paths += [os.path.join(d, "lago", "lago.conf") for d in reversed(xdg_dirs.split(":")) if d]
    xdg_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(
        os.path.expanduser("~"), ".config"
    )
    paths.append(os.path.join(xdg_home, "lago", "lago.conf"))
    return [path for path in paths if os.path.exists(path)]


def get_env_dict(root_section: str) -> Sections:
    """Lago's variables from the environment, by section."""
    env_lago: Sections = {}
    prefix = root_section.upper() + "_"
    for var, value in os.environ.items():
        if not var.startswith(prefix) or len(var) <= len(prefix):
            continue
        rest = var[len(prefix) :]
        if rest.startswith("_"):
            section, sep, key = rest[1:].partition("__")
            if not sep or not section or not key:
                continue
        else:
            section, key = root_section, rest
        if not value:
            warnings.warn(
                f"empty environment variable definition:{var}, ignoring.",
                UserWarning,
                stacklevel=2,
            )
            continue
        env_lago.setdefault(section.lower(), {})[key.lower()] = value
    return env_lago


def _read_ini(path: str) -> Sections:
    parser = configparser.ConfigParser()
    try:
        with open(path, encoding="utf-8") as stream:
            parser.read_file(stream)
        return {name: dict(parser.items(name)) for name in parser.sections()}
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise ConfigError(f"Cannot read config file {path}: {reason}") from err
    except configparser.Error as err:
        first = str(err).splitlines()[0]
        raise ConfigError(f"Malformed config file {path}: {first}") from err


def _merge(base: Sections, update: Sections) -> None:
    for section, values in update.items():
        base.setdefault(section, {}).update(values)


def _bool_of(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y")
    return bool(value)


def _sub_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


_SKIPPED_ACTIONS = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)
_FLAG_ACTIONS = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._StoreConstAction)


def _option_actions(parser: argparse.ArgumentParser) -> Iterable[argparse.Action]:
    for action in parser._actions:
        if not isinstance(action, _SKIPPED_ACTIONS) and action.dest != argparse.SUPPRESS:
            yield action


class ConfigLoad:
    """Merges defaults, INI files, the environment and argparse.

    Call :meth:`load`, then :meth:`update_parser` with the CLI parser, then
    :meth:`update_args` with the parsed arguments.
    """

    def __init__(self, root_section: str = "lago", defaults: Sections | None = None) -> None:
        self.root_section = root_section
        self._defaults = defaults if defaults is not None else {}
        self._config: Sections = {}
        self._parser: argparse.ArgumentParser | None = None
        self._loaded = False

    def load(self) -> Sections:
        config: Sections = {}
        _merge(config, self._defaults)
        for path in _get_configs_path():
            _merge(config, _read_ini(path))
        _merge(config, get_env_dict(self.root_section))
        self._config = config
        self._loaded = True
        return config

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self.load()

    def update_parser(self, parser: argparse.ArgumentParser) -> None:
        """Make config values the parser's defaults, and record its defaults."""
        self._ensure_loaded()
        self._parser = parser
        self._sync_section(parser, self.root_section)
        for verb, sub in _sub_parsers(parser).items():
            self._sync_section(sub, verb)

    def _sync_section(self, parser: argparse.ArgumentParser, section: str) -> None:
        values = self._config.setdefault(section, {})
        for action in _option_actions(parser):
            if action.dest in values:
                value = values[action.dest]
                if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
                    value = _bool_of(value)
                action.default = value
                parser.set_defaults(**{action.dest: value})
            else:
                values[action.dest] = action.default

    def update_args(self, args: argparse.Namespace) -> None:
        """Let explicit global arguments override ``[lago]`` values."""
        self._ensure_loaded()
        root = self._config.setdefault(self.root_section, {})
        for key, value in vars(args).items():
            if key in root and root[key] and value is not None:
                root[key] = value

    def get(self, *args: Any) -> Any:
        """``dict.get`` on the root section."""
        self._ensure_loaded()
        return self._config.get(self.root_section, {}).get(*args)

    def __getitem__(self, key: str) -> Any:
        self._ensure_loaded()
        return self._config[self.root_section][key]

    def get_section(self, *args: Any) -> dict[str, Any] | None:
        """``dict.get`` on the sections: ``get_section('init')``."""
        self._ensure_loaded()
        return self._config.get(*args)

    def set(self, key: str, value: Any, section: str | None = None) -> None:
        """Override one value (the SDK and tests use it)."""
        self._ensure_loaded()
        self._config.setdefault(section or self.root_section, {})[key] = value

    def get_ini(self, incl_unset: bool = False) -> str:
        """The effective configuration as an INI file, one section per verb."""
        self._ensure_loaded()
        if self._parser is None:
            raise ConfigError("the configuration has no command-line parser to describe")
        lines = [f"# Lago configuration file, generated: {time.strftime('%c')}"]
        sections = [(self.root_section, self._parser)]
        sections += list(_sub_parsers(self._parser).items())
        for section, parser in sections:
            body = self._ini_section(section, parser, incl_unset)
            if body:
                lines.append(f"[{section}]")
                lines.extend(body)
                lines.append("")
        return "\n".join(lines) + "\n"

    def _ini_section(self, section: str, parser: argparse.ArgumentParser, incl_unset: bool) -> list[str]:
        values = self._config.get(section, {})
        body: list[str] = []
        for action in _option_actions(parser):
            if isinstance(action, _FLAG_ACTIONS) or action.dest == "help":
                continue
            value = values.get(action.dest, action.default)
            if value is None or value == argparse.SUPPRESS:
                if incl_unset:
                    body.extend(_help_lines(action))
                    body.append(f"#{action.dest} = None")
                continue
            if not value:
                continue
            body.extend(_help_lines(action))
            body.append(f"{action.dest} = {value}")
        return body


def _help_lines(action: argparse.Action) -> list[str]:
    if not action.help or action.help == argparse.SUPPRESS:
        return []
    # configparser lower-cased these comment "keys" in the original output
    return ["# " + line.lower() for line in textwrap.wrap(action.help, 70)]


#: The process-wide configuration, loaded on first use.
config = ConfigLoad(defaults=_default_config())
