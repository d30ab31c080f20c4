"""A workdir: a directory of prefixes with a ``current`` link to one of them."""

from __future__ import annotations

import functools
import logging
import os
import shutil
from collections.abc import Callable
from typing import Any, TypeVar

from lago import env_host
from lago.errors import LagoLookupError, LagoUserException
from lago.prefix import Prefix

LOGGER = logging.getLogger(__name__)


class WorkdirError(LagoUserException, RuntimeError):
    """A workdir problem (also a ``RuntimeError``, the original's base)."""


class MalformedWorkdir(WorkdirError):
    pass


class PrefixNotFound(LagoLookupError, WorkdirError):
    pass


class PrefixAlreadyExists(WorkdirError):
    """A prefix of that name is already in the workdir."""


_F = TypeVar("_F", bound=Callable[..., Any])


def workdir_loaded(func: _F) -> _F:
    """Decorate a :class:`Workdir` method so that it loads the workdir first."""

    @functools.wraps(func)
    def wrapper(self: Workdir, *args: Any, **kwargs: Any) -> Any:
        if not self.loaded:
            self.load()
        return func(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def check_prefix_name(name: str) -> None:
    """A prefix is a directory of the workdir: its name is one path component."""
    if not name or name in (".", "..", "current") or "/" in name or "\0" in name:
        raise WorkdirError(
            f"Invalid prefix name {name!r}: it names a directory inside the "
            "workdir, so it cannot be empty, '.', '..' or 'current', nor contain '/'"
        )


class LagoPrefixAlreadyExistsError(PrefixAlreadyExists):
    def __init__(self, prefix_name: str, workdir_path: str) -> None:
        super().__init__(
            f"Prefix with name {prefix_name} already exists in workdir {workdir_path}.",
            hint="Use --prefix-name to pick another name, or destroy the existing prefix.",
        )


class Workdir:
    def __init__(
        self, path: str | os.PathLike[str], prefix_class: type[Prefix] = Prefix
    ) -> None:
        self.path = os.fspath(path)
        self.prefix_class = prefix_class
        self.prefixes: dict[str, Prefix] = {}
        self.current: str | None = None
        self.loaded = False

    def join(self, *args: str) -> str:
        return os.path.join(self.path, *args)

    # -- what a workdir is -------------------------------------------------
    @classmethod
    def is_workdir(cls, path: str | os.PathLike[str]) -> bool:
        current = os.path.join(os.fspath(path), "current")
        return os.path.islink(current) and os.path.isdir(current)

    @staticmethod
    def is_possible_workdir(path: str | os.PathLike[str]) -> bool:
        """A directory holding a ``current`` prefix, directly or under ``.lago``."""
        for base in (os.fspath(path), os.path.join(os.fspath(path), ".lago")):
            current = os.path.join(base, "current")
            if all(
                os.path.exists(os.path.join(current, name))
                for name in ("initialized", "uuid")
            ):
                return True
        return False

    @classmethod
    def resolve_workdir_path(
        cls, start_path: str | os.PathLike[str] = os.curdir
    ) -> str:
        start = os.path.abspath(start_path)
        if cls.is_workdir(start):
            return start
        current = start
        while True:
            candidate = os.path.join(current, ".lago")
            if cls.is_workdir(candidate):
                return candidate
            parent = os.path.dirname(current)
            if parent in (current, "/"):
                break
            current = parent
        message = f"Unable to find workdir in {start}"
        cwd = os.getcwd()
        possible = sorted(
            entry for entry in os.listdir(cwd)
            if os.path.isdir(os.path.join(cwd, entry)) and cls.is_possible_workdir(os.path.join(cwd, entry))
        ) if os.path.isdir(cwd) else []  # fmt: skip
        if possible:
            message += f"\nFound possible workdirs in: {', '.join(possible)}"
        raise MalformedWorkdir(message)

    # -- loading -------------------------------------------------------------
    def load(self) -> None:
        if self.loaded:
            return
        if not self.is_workdir(self.path):
            raise MalformedWorkdir(f"{self.path} is not a Lago workdir")
        self.current = os.path.basename(os.readlink(self.join("current")).rstrip("/"))
        self.prefixes = {
            name: self.prefix_class(self.join(name))
            for name in os.listdir(self.path)
            if name != "current" and os.path.isdir(self.join(name))
        }
        self.loaded = True

    def get_prefix(self, name: str) -> Prefix:
        self.load()
        if name == "current":
            name = self.current or ""
        if name not in self.prefixes:
            raise PrefixNotFound(
                f'Unable to find prefix "{name}" in workdir {self.path}'
            )
        return self.prefixes[name]

    # -- changes --------------------------------------------------------------
    def set_current(self, new_current: str) -> None:
        link = self.join("current")
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(new_current, link)
        self.current = new_current

    def _update_current(self) -> None:
        """Re-point ``current`` at ``default``, else the last prefix by name."""
        names = sorted(name for name in self.prefixes if os.path.isdir(self.join(name)))
        if not names:
            link = self.join("current")
            if os.path.lexists(link):
                os.unlink(link)
            self.current = None
            return
        self.set_current("default" if "default" in names else names[-1])

    def add_prefix(self, name: str, *args: Any, **kwargs: Any) -> Prefix:
        check_prefix_name(name)
        if os.path.lexists(self.join(name)):
            raise LagoPrefixAlreadyExistsError(name, self.path)
        prefix = self.prefix_class(self.join(name))
        self.prefixes[name] = prefix
        if not self.current:
            # before the directory is filled: a run killed halfway leaves a
            # workdir that `destroy` finds, not a prefix nothing points to
            self.set_current(name)
        prefix.initialize(*args, **kwargs)
        return prefix

    def initialize(
        self, prefix_name: str = "default", *args: Any, **kwargs: Any
    ) -> Prefix:
        check_prefix_name(prefix_name)
        os.makedirs(self.path, exist_ok=True)
        self.loaded = True
        prefix = self.add_prefix(prefix_name, *args, **kwargs)
        self.set_current(prefix_name)
        return prefix

    def cleanup(self) -> None:
        """Re-point a dangling ``current``; remove the workdir once empty."""
        link = self.join("current")
        if os.path.lexists(link) and not os.path.exists(link):
            self.prefixes = {
                name: prefix
                for name, prefix in self.prefixes.items()
                if os.path.isdir(self.join(name))
            }
            self._update_current()
        if os.path.isdir(self.path) and not os.listdir(self.path):
            os.rmdir(self.path)

    def remove_prefix(self, name: str) -> None:
        """Forget a prefix whose directory is gone; fix ``current``; drop an empty workdir."""
        self.prefixes.pop(name, None)
        link = self.join("current")
        if self.current == name or (os.path.lexists(link) and not os.path.exists(link)):
            self._update_current()
        if os.path.isdir(self.path) and not os.listdir(self.path):
            os.rmdir(self.path)

    def destroy(self, prefix_names: list[str] | None = None) -> None:
        self.load()
        names = list(self.prefixes) if prefix_names is None else prefix_names
        for name in names:
            prefix = self.get_prefix(name)
            real = self.join(name)
            if os.path.islink(real):
                os.unlink(real)
            else:
                # each prefix on the libvirt host it was made on
                env_host.restore(prefix.paths.prefix_path())
                prefix.destroy()
            self.remove_prefix(name)
        if prefix_names is None and os.path.isdir(self.path):
            shutil.rmtree(self.path, ignore_errors=True)


def set_current(prefix_name: str, parent_workdir: Workdir, **kwargs: Any) -> None:
    """Make ``prefix_name`` the workdir's current prefix (the set-current verb)."""
    del kwargs  # the verb's other parsed arguments
    parent_workdir.set_current(prefix_name)
