"""Lago's configuration: defaults < INI files < environment < command line.

Files are read in the original's look-up order (``/etc/lago/lago.conf``, then
``lago/lago.conf`` under each ``$XDG_CONFIG_DIRS`` entry and under
``$XDG_CONFIG_HOME``). ``LAGO_<KEY>`` lands in ``[lago]``;
``LAGO__<SECTION>__<KEY>`` in ``[<section>]``.
"""

from __future__ import annotations

import argparse
import ast
import configparser
import contextlib
import io
import logging
import os
import textwrap
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from lago import constants, defaults
from lago.errors import ConfigError

LOGGER = logging.getLogger(__name__)

Sections = dict[str, dict[str, Any]]


def default_template_repo_path(template_repos: str = defaults.TEMPLATE_REPOS) -> str:
    """The embedded local repository once built, else the original's URL."""
    local = Path(template_repos) / constants.LOCAL_REPO_NAME / "repo.metadata"
    return str(local) if local.exists() else constants.ORIGINAL_TEMPLATE_REPO


def _default_config() -> Sections:
    return {
        "lago": dict(defaults.LAGO),
        "init": {
            "template_repo_path": default_template_repo_path(),
            "template_store": defaults.TEMPLATE_STORE,
            "template_repos": defaults.TEMPLATE_REPOS,
            "bootstrap_method": "guestfs",
        },
    }


def _origin(path: str) -> Callable[[str, str], str]:
    """Where a merged value came from: the file ``path``, for every key."""
    return lambda section, key: path


def _get_configs_path() -> list[str]:
    """Existing config files, least important first."""
    xdg_dirs = os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    xdg_home = os.environ.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    # XDG_CONFIG_DIRS lists the most important first
    dirs = [d for d in reversed(xdg_dirs.split(":")) if d] + [xdg_home]
    paths = [Path(p) for p in constants.CONFS_PATH]
    paths += [Path(d, "lago", "lago.conf") for d in dirs]
    return [str(path) for path in paths if path.exists()]


def get_env_dict(root_section: str) -> Sections:
    """Lago's variables from the environment, by section.

    ``LAGO_VARNAME`` lands in ``[lago]``, ``LAGO__SECTION__VARNAME`` in
    ``[section]`` (the section ends at the first ``__`` after it).
    """
    return {
        section: {key: value for key, (value, _) in values.items()}
        for section, values in _env_entries(root_section).items()
    }


def _env_entries(root_section: str) -> dict[str, dict[str, tuple[str, str]]]:
    """Like :func:`get_env_dict`, with the variable each value came from."""
    entries: dict[str, dict[str, tuple[str, str]]] = {}
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
            LOGGER.warning("empty environment variable definition:%s, ignoring.", var)
            continue
        entries.setdefault(section.lower(), {})[key.lower()] = (
            value,
            f"environment variable {var}",
        )
    return entries


def _parse_error(err: configparser.Error) -> str:
    """One line saying where in the file the problem is."""
    if isinstance(err, configparser.MissingSectionHeaderError):
        return f"line {err.lineno}: no [section] header before {err.line.strip()!r}"
    if isinstance(err, configparser.ParsingError) and err.errors:
        lineno, line = err.errors[0]
        with contextlib.suppress(ValueError, SyntaxError):
            line = ast.literal_eval(line)  # configparser stores repr(line)
        return f"line {lineno}: cannot parse {str(line).strip()!r}"
    if isinstance(err, configparser.DuplicateOptionError):
        return f"line {err.lineno}: [{err.section}] {err.option} given twice"
    if isinstance(err, configparser.DuplicateSectionError):
        return f"line {err.lineno}: section [{err.section}] repeated"
    first = str(err).strip().splitlines()[0]
    if isinstance(err, configparser.InterpolationError):
        return f"[{err.section}] {err.option}: {first}"
    return first


def _read_ini(path: str) -> Sections:
    parser = configparser.ConfigParser()
    try:
        data = Path(path).read_bytes()
        parser.read_string(data.decode("utf-8"), source=path)
        # interpolation happens here, so its errors are reported like syntax ones
        return {name: dict(parser.items(name)) for name in parser.sections()}
    except OSError as err:
        raise ConfigError(
            f"Cannot read config file {path}: {err.strerror or err}"
        ) from err
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        msg = f"Cannot read config file {path}: line {line} is not UTF-8 text"
        raise ConfigError(msg) from err
    except configparser.Error as err:
        raise ConfigError(f"Malformed config file {path}: {_parse_error(err)}") from err


def _sub_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


_SKIPPED_ACTIONS = (
    argparse._HelpAction,
    argparse._VersionAction,
    argparse._SubParsersAction,
)
_BOOL_ACTIONS = (argparse._StoreTrueAction, argparse._StoreFalseAction)


def _option_actions(parser: argparse.ArgumentParser) -> Iterable[argparse.Action]:
    for action in parser._actions:
        if (
            not isinstance(action, _SKIPPED_ACTIONS)
            and action.dest != argparse.SUPPRESS
        ):
            yield action


def _takes_list(action: argparse.Action) -> bool:
    many = action.nargs in ("*", "+") or (
        isinstance(action.nargs, int) and action.nargs > 1
    )
    return many or isinstance(action, argparse._AppendAction)


class _BadValue(ValueError):
    pass


def _bool_of(value: Any) -> bool:
    if not isinstance(value, str):
        return bool(value)
    try:
        return configparser.ConfigParser.BOOLEAN_STATES[value.strip().lower()]
    except KeyError:
        raise _BadValue("expected true/false, yes/no, on/off or 1/0") from None


def _list_of(value: str) -> list[Any]:
    """``['a', 'b']`` (as generate-config writes lists) or ``a b``."""
    text = value.strip()
    if not text.startswith("["):
        return text.split()
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise _BadValue("expected a list such as ['a', 'b']") from None
    if not isinstance(parsed, list):
        raise _BadValue("expected a list such as ['a', 'b']")
    return parsed


def _coerce(action: argparse.Action, value: Any) -> Any:
    """A config value as the option's default; :class:`_BadValue` if unusable."""
    if isinstance(action, _BOOL_ACTIONS):
        return _bool_of(value)
    if isinstance(value, str) and _takes_list(action):
        value = _list_of(value)
    items = value if isinstance(value, list) else [value]
    if action.type in (int, float):
        try:
            items = [
                action.type(item) if isinstance(item, str) else item for item in items
            ]
        except ValueError:
            raise _BadValue(
                f"expected {'an integer' if action.type is int else 'a number'}"
            ) from None
        value = items if isinstance(value, list) else items[0]
    if action.choices is not None and value is not None:
        for item in items:
            if item not in action.choices:
                choices = ", ".join(str(choice) for choice in action.choices)
                raise _BadValue(f"expected one of {choices}")
    return value


class ConfigLoad:
    """Merges defaults, INI files, the environment and argparse.

    Call :meth:`load`, then :meth:`update_parser` with the CLI parser, then
    :meth:`update_args` with the parsed arguments.
    """

    def __init__(
        self, root_section: str = "lago", defaults: Sections | None = None
    ) -> None:
        self.root_section = root_section
        self._defaults = defaults if defaults is not None else {}
        self._config: Sections = {}
        self._origins: dict[tuple[str, str], str] = {}
        self._parser: argparse.ArgumentParser | None = None
        self._loaded = False

    def load(self) -> Sections:
        """Defaults, then config files (least important first), then the environment."""
        config: Sections = {}
        self._origins = {}
        self._merge(config, self._defaults, lambda section, key: "defaults")
        for path in _get_configs_path():
            self._merge(config, _read_ini(path), _origin(path))
        env = _env_entries(self.root_section)
        values = {
            section: {k: v for k, (v, _) in items.items()}
            for section, items in env.items()
        }
        self._merge(config, values, lambda section, key: env[section][key][1])
        self._config = config
        self._loaded = True
        return config

    def _merge(
        self, base: Sections, update: Sections, origin: Callable[[str, str], str]
    ) -> None:
        for section, values in update.items():
            base.setdefault(section, {}).update(values)
            for key in values:
                self._origins[(section, key)] = origin(section, key)

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self.load()

    def update_parser(self, parser: argparse.ArgumentParser) -> None:
        """Make config values the parser's defaults, and record its defaults.

        :raises ConfigError: a value does not suit its option (not a
            boolean for a flag, not a number, not one of the choices)
        """
        self._ensure_loaded()
        self._parser = parser
        self._sync_section(parser, self.root_section)
        for verb, sub in _sub_parsers(parser).items():
            self._sync_section(sub, verb)

    def _sync_section(self, parser: argparse.ArgumentParser, section: str) -> None:
        values = self._config.setdefault(section, {})
        for action in _option_actions(parser):
            if action.dest not in values:
                values[action.dest] = action.default
                continue
            try:
                value = _coerce(action, values[action.dest])
            except _BadValue as err:
                origin = self._origins.get((section, action.dest), "configuration")
                msg = (
                    f"Invalid value {values[action.dest]!r} for {action.dest} in "
                    f"[{section}] (from {origin}): {err}"
                )
                raise ConfigError(msg) from None
            values[action.dest] = value
            action.default = value
            parser.set_defaults(**{action.dest: value})

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
        """The effective configuration as an INI file.

        With a parser (after :meth:`update_parser`): one commented section per
        verb, as ``lago generate-config`` prints it. Without one: every
        section and value as they are.
        """
        self._ensure_loaded()
        if self._parser is None:
            return _plain_ini(self._config)
        return argparse_to_ini(
            self._parser, self.root_section, incl_unset, self._config
        )


def _plain_ini(sections: Sections) -> str:
    writer = configparser.ConfigParser(allow_no_value=True, interpolation=None)
    writer.read_dict(
        {
            name: {key: _ini_value(value) for key, value in values.items()}
            for name, values in sections.items()
        }
    )
    stream = io.StringIO()
    writer.write(stream)
    return stream.getvalue()


def _ini_value(value: Any) -> str | None:
    return None if value is None else str(value)


def argparse_to_ini(
    parser: argparse.ArgumentParser,
    root_section: str = "lago",
    incl_unset: bool = False,
    values: Sections | None = None,
) -> str:
    """The parser's options and their values as a commented INI file.

    One section for the root parser, one per sub-command; values come from
    ``values`` (section -> key -> value), else from the options' defaults.
    """
    values = values or {}
    lines = [f"# Lago configuration file, generated: {time.strftime('%c')}"]
    sections = [(root_section, parser), *_sub_parsers(parser).items()]
    for section, sub in sections:
        body = _ini_section(sub, values.get(section, {}), incl_unset)
        if body:
            lines += [f"[{section}]", *body, ""]
    return "\n".join(lines) + "\n"


def _ini_section(
    parser: argparse.ArgumentParser, values: dict[str, Any], incl_unset: bool
) -> list[str]:
    body: list[str] = []
    for action in _option_actions(parser):
        value = values.get(action.dest, action.default)
        if value is None and incl_unset:
            body += [*_help_lines(action, value), f"#{action.dest} = None"]
        elif value and value != argparse.SUPPRESS:
            # as the original: only truthy values, so unset flags are left out
            body += [*_help_lines(action, value), f"{action.dest} = {value}"]
    return body


def _help_lines(action: argparse.Action, value: Any) -> list[str]:
    if not action.help or action.help == argparse.SUPPRESS:
        return []
    try:
        text = action.help % {**vars(action), "default": value}
    except (KeyError, ValueError, TypeError):
        text = action.help
    # configparser lower-cased these comment "keys" in the original output
    return ["# " + line.lower() for line in textwrap.wrap(text, 70)]


#: The process-wide configuration, loaded on first use.
config = ConfigLoad(defaults=_default_config())
