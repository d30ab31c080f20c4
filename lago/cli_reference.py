"""The command line reference (HTML page and ``lago(1)``) drawn from the parser.

The documentation lists Lago's own verbs and output formats: those that the
``lago`` distribution declares as entry points, not whatever other plugin
packages happen to be installed where the documentation is built. Defaults
are the built-in ones, before any ``lago.conf`` is applied.
"""

from __future__ import annotations

import argparse
import importlib.metadata
from collections.abc import Iterable
from typing import Any

from lago.cmd import create_parser
from lago.plugins import PLUGIN_ENTRY_POINTS

DISTRIBUTION = "lago"


def own_plugins(group: str) -> dict[str, Any]:
    """The plugins of entry-point ``group`` that the ``lago`` package declares."""
    plugins: dict[str, Any] = {}
    for entry_point in importlib.metadata.entry_points(group=group):
        dist = getattr(entry_point, "dist", None)
        if dist is None or dist.name != DISTRIBUTION or entry_point.name in plugins:
            continue
        plugin = entry_point.load()
        plugins[entry_point.name] = plugin() if isinstance(plugin, type) else plugin
    return plugins


def builtin_parser() -> argparse.ArgumentParser:
    """The ``lago`` parser with only Lago's own verbs and output formats."""
    return create_parser(
        own_plugins(PLUGIN_ENTRY_POINTS["cli"]), own_plugins(PLUGIN_ENTRY_POINTS["out"])
    )


def verb_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(sorted(action.choices.items()))
    return {}


def _verb_help(parser: argparse.ArgumentParser, verb: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == verb:
                    return choice.help or ""
    return ""


def documented_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments a reader needs: everything but ``--help`` and sub-parsers."""
    return [
        action
        for action in parser._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
        and action.help != argparse.SUPPRESS
    ]


def _literal(text: str) -> str:
    return f"``{text}``"


def _escape(text: str) -> str:
    """Help text as reST prose: no markup characters taken as markup."""
    for char in ("\\", "*", "`", "|", "_"):
        text = text.replace(char, "\\" + char)
    return text


def _metavar(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if action.metavar is not None:
        metavar = action.metavar
    elif action.choices is not None:
        metavar = "{" + ",".join(str(choice) for choice in action.choices) + "}"
    elif action.option_strings:
        metavar = action.dest.upper()
    else:
        metavar = action.dest
    text = metavar if isinstance(metavar, str) else " ".join(metavar)
    if action.nargs in ("*", "?"):
        return f"[{text}]"
    if action.nargs == "+":
        return f"{text} [{text} ...]"
    return text


def action_term(action: argparse.Action) -> str:
    """How the argument is written: ``-o FILE, --output FILE`` or ``HOST``."""
    metavar = _metavar(action)
    if not action.option_strings:
        return metavar or action.dest
    return ", ".join(f"{option} {metavar}".strip() for option in action.option_strings)


def _action_body(action: argparse.Action) -> str:
    body = _escape(action.help or "")
    default = action.default
    shows_default = (
        action.option_strings
        and action.nargs != 0
        and default not in (None, argparse.SUPPRESS, "")
    )
    if shows_default:
        body = f"{body} (default: {_literal(str(default))})".strip()
    return body or "\\ "


def _definitions(actions: Iterable[argparse.Action]) -> list[str]:
    lines: list[str] = []
    for action in actions:
        lines += [_literal(action_term(action)), f"   {_action_body(action)}", ""]
    return lines


def _heading(text: str, underline: str) -> list[str]:
    return [text, underline * len(text), ""]


def render_rst(parser: argparse.ArgumentParser | None = None) -> str:
    """reST of the global options and of every verb with its arguments."""
    parser = parser or builtin_parser()
    lines = _heading("Global options", "-")
    lines += ["These come before the verb.", ""]
    lines += _definitions(documented_actions(parser))
    lines += _heading("Verbs", "-")
    for verb, sub in verb_parsers(parser).items():
        lines += _heading(f"lago {verb}", "~")
        usage = " ".join(sub.format_usage().split()).removeprefix("usage: ")
        lines += [_escape(_verb_help(parser, verb)), "", "::", "", f"   {usage}", ""]
        actions = documented_actions(sub)
        lines += _definitions(actions) if actions else ["It takes no arguments.", ""]
    return "\n".join(lines) + "\n"
