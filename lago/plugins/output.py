"""Output format plugins: how verbs such as ``status`` print their results.

A package adds a format (an ``--out-format`` choice) through an entry point
in ``lago.plugins.output`` naming an :class:`OutFormatPlugin` subclass.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping
from typing import Any

import yaml

from lago.plugins import Plugin


class OutFormatPlugin(Plugin):
    @abc.abstractmethod
    def format(self, info_dict: Any) -> str:
        """Render ``info_dict`` (nested dicts, lists and scalars) as text."""


class DefaultOutFormatPlugin(OutFormatPlugin):
    """Indented ``[key]:`` blocks, keys sorted, empty values left out."""

    indent_unit = "    "

    def format(self, info_obj: Any, indent: str = "") -> str:
        return "\n".join(self._lines(info_obj, indent))

    def _lines(self, info_obj: Any, indent: str) -> list[str]:
        if isinstance(info_obj, Mapping):
            return self._mapping_lines(info_obj, indent)
        if isinstance(info_obj, (list, tuple)):
            lines: list[str] = []
            for item in info_obj:
                lines.extend(self._lines(item, indent))
            return lines
        return [f"{indent}{info_obj}"]

    def _mapping_lines(self, info_obj: Mapping[str, Any], indent: str) -> list[str]:
        lines: list[str] = []
        deeper = indent + self.indent_unit
        for key in sorted(info_obj, key=str):
            value = info_obj[key]
            if isinstance(value, Mapping):
                if value:
                    lines.append(f"{indent}[{key}]:")
                    lines.extend(self._mapping_lines(value, deeper))
            elif value is None or (isinstance(value, str) and value == ""):
                continue
            elif isinstance(value, (list, tuple)):
                lines.append(f"{indent}{key}: ")
                for item in value:
                    lines.extend(self._lines(item, deeper))
            else:
                lines.append(f"{indent}{key}: {value}")
        return lines


class FlatOutFormatPlugin(OutFormatPlugin):
    """One ``path/to/key: value`` line per leaf."""

    def format(self, info_dict: Any, delimiter: str = "/") -> str:
        if isinstance(info_dict, Mapping) and "Prefix" in info_dict:
            info_dict = info_dict["Prefix"]
        lines: list[str] = []
        self._walk(info_dict, [], delimiter, lines)
        return "\n".join(lines)

    def _walk(
        self, node: Any, path: list[str], delimiter: str, lines: list[str]
    ) -> None:
        if isinstance(node, Mapping):
            for key in sorted(node, key=str):
                self._walk(node[key], [*path, str(key)], delimiter, lines)
        elif isinstance(node, (list, tuple)):
            for item in node:
                self._walk(item, path, delimiter, lines)
        elif path:
            lines.append(f"{delimiter.join(path)}: {node}")
        else:
            lines.append(str(node))


class JSONOutFormatPlugin(OutFormatPlugin):
    def format(self, info_dict: Any) -> str:
        return json.dumps(info_dict, sort_keys=True, indent=4)


class YAMLOutFormatPlugin(OutFormatPlugin):
    def format(self, info_dict: Any) -> str:
        return yaml.safe_dump(info_dict, default_flow_style=False, allow_unicode=True)


class DotOutFormatPlugin(OutFormatPlugin):
    """Graphviz DOT text of a ``status`` report (``lago graph`` draws it)."""

    def format(self, info_dict: Any) -> str:
        from lago.graph import status_to_dot

        return status_to_dot(info_dict).rstrip("\n")
