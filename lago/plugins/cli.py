"""CLI plugins: each one is a ``lago`` verb.

A package adds a verb by declaring an entry point in ``lago.plugins.cli``
that names either a :class:`CLIPlugin` subclass or a function decorated with
:func:`cli_plugin` / :func:`cli_plugin_add_argument`::

    @cli_plugin_add_argument('--dummy-flag', action='store_true')
    @cli_plugin(help='dummy help string')
    def noop(dummy_flag, **kwargs):
        ...

Decorated functions receive every parsed argument as keywords (globals
included), so they must accept ``**kwargs``.
"""

from __future__ import annotations

import abc
import argparse
from collections.abc import Callable
from typing import Any

from lago.plugins import Plugin


class CLIPlugin(Plugin):
    """A verb: it declares its arguments and runs with the parsed ones."""

    @property
    @abc.abstractmethod
    def init_args(self) -> dict[str, Any]:
        """Keyword arguments for the verb's sub-parser (e.g. ``help``)."""

    @abc.abstractmethod
    def populate_parser(self, parser: argparse.ArgumentParser) -> None:
        """Add the verb's arguments to ``parser``."""

    @abc.abstractmethod
    def do_run(self, args: argparse.Namespace) -> Any:
        """Run the verb; the return value is ignored, exceptions reach the CLI."""


class CLIPluginFuncWrapper(CLIPlugin):
    """A :class:`CLIPlugin` made from a decorated function."""

    def __init__(
        self,
        do_run: Callable[..., Any] | None = None,
        init_args: dict[str, Any] | None = None,
    ) -> None:
        self._do_run = do_run
        self._init_args = dict(init_args or {})
        self._parser_args: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        if do_run is not None and do_run.__doc__ and "help" not in self._init_args:
            self._init_args["help"] = do_run.__doc__.strip()
        self.__doc__ = getattr(do_run, "__doc__", None)
        self.__name__ = getattr(do_run, "__name__", type(self).__name__)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Keep the original function callable as before."""
        if self._do_run is None:
            raise TypeError("this CLI plugin wraps no function")
        return self._do_run(*args, **kwargs)

    @property
    def init_args(self) -> dict[str, Any]:
        return self._init_args

    @property
    def help(self) -> str | None:
        return self._init_args.get("help")

    def add_argument(self, *argument_args: Any, **argument_kwargs: Any) -> None:
        self._parser_args.append((argument_args, argument_kwargs))

    def set_help(self, help: str | None = None) -> None:
        self._init_args["help"] = help

    def set_init_args(self, init_args: dict[str, Any]) -> None:
        self._init_args = dict(init_args)

    def populate_parser(self, parser: argparse.ArgumentParser) -> None:
        # decorators apply bottom-up: reverse so the top one comes first
        for argument_args, argument_kwargs in reversed(self._parser_args):
            parser.add_argument(*argument_args, **argument_kwargs)

    def do_run(self, args: argparse.Namespace) -> Any:
        return self(**vars(args))


def _wrapper_of(func: Any) -> CLIPluginFuncWrapper:
    if isinstance(func, CLIPluginFuncWrapper):
        return func
    return CLIPluginFuncWrapper(do_run=func)


def cli_plugin(func: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """Wrap ``func`` in a :class:`CLIPlugin`; ``kwargs`` go to the sub-parser.

    Works bare (``@cli_plugin``) or called (``@cli_plugin(help='...')``).
    """

    def decorate(target: Callable[..., Any]) -> CLIPluginFuncWrapper:
        wrapper = _wrapper_of(target)
        wrapper._init_args.update(kwargs)
        return wrapper

    if func is None:
        return decorate
    return decorate(func)


def cli_plugin_add_argument(
    *args: Any, **kwargs: Any
) -> Callable[[Any], CLIPluginFuncWrapper]:
    """Add an ``argparse`` argument to the verb of the decorated function."""

    def decorate(func: Any) -> CLIPluginFuncWrapper:
        wrapper = _wrapper_of(func)
        wrapper.add_argument(*args, **kwargs)
        return wrapper

    return decorate


def cli_plugin_add_help(help: str) -> Callable[[Any], CLIPluginFuncWrapper]:
    """Set the help text of the verb of the decorated function."""

    def decorate(func: Any) -> CLIPluginFuncWrapper:
        wrapper = _wrapper_of(func)
        wrapper.set_help(help)
        return wrapper

    return decorate
